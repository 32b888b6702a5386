"""The target's training as a job another machine can do (``--executor ray``).

Run here, the target trains in its run folder, resuming from the checkpoint it leaves there
after every epoch (``stages.train_stage``). Sent to a cluster, the same ``train_stage`` runs on
a worker in a folder of its own that starts as a copy of the run folder's files (its
checkpoint, so the job resumes where this machine left it; an early-stopped run's best
weights) and comes back whole: every file it holds returns as bytes and is written into the
run folder here, each atomically, as if it had been trained here. A job whose worker dies
starts again from the checkpoint it was sent with: the epochs that worker trained are lost,
nothing committed is.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import ExperimentConfig
from ..datasets import Dataset
from ..io import write_bytes
from ..training.jobs import TrainingJob, Work, images_memory
from .stages import train_stage


@dataclass(frozen=True)
class TargetInputs:
    """What the target's job reads: ``Work.shared``."""

    config: ExperimentConfig
    trained: Dataset         # its training images (and the test images it reports on)
    held_out: tuple[np.ndarray, np.ndarray] | None  # early stopping's images
    device: str


def train_target(shared: TargetInputs, batch: list[TrainingJob], files: dict[str, bytes]
                 ) -> tuple[dict[str, bytes], list[str]]:
    """``Work.compute`` of a target: ``train_stage`` in a folder holding ``files``; returns the
    folder's files and the lines it logged."""
    (job,) = batch
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mia-target-") as tmp:
        folder = Path(tmp)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        train_stage(shared.config, shared.trained, folder, torch.device(shared.device),
                    progress=False, log=lines.append, held_out=shared.held_out)
        return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}, lines


def remote_work(config: ExperimentConfig, trained: Dataset, run_dir: Path, device: torch.device,
                held_out, log) -> Work:
    """The target's ``Work`` for an executor that runs it elsewhere: the run folder's files go
    with the job, and what comes back is written there."""
    def files(batch: list[TrainingJob]) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir())
                if p.is_file() and not p.name.endswith(".lock")}

    def commit(batch: list[TrainingJob], result) -> None:
        returned, lines = result
        for line in lines:
            log(line)
        # model.pt last: a run folder with a model is a trained one (the pipeline's test)
        for name in sorted(returned, key=lambda n: n == "model.pt"):
            write_bytes(run_dir / name, returned[name])

    return Work(compute=train_target, commit=commit, inputs=files, label=f"[{config.name}] train",
                shared=TargetInputs(config, trained, held_out, device.type),
                memory=images_memory(trained.x_train) + images_memory(trained.x_test))
