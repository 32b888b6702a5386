"""Training jobs as data, and the executor that runs the pending ones.

A ``TrainingJob`` is everything that determines one trained model, small and serialisable
(``to_dict``/``from_dict``): the recipe and data settings with the seed (``training``, as
``ExperimentConfig.training_key`` gives them under the hash rule), the data's key (the
checksum of what it was loaded from, ``Dataset.key``), which images it trains on (``subset``:
the target's training images, or a row of a bank's keep-matrix) and the artifact it writes.
Its ``key()`` is the hash of all that; a target's is the training hash its cache folder and
manifest carry.

A stage lists its jobs, keeps those whose artifact is not cached (or does not load), and hands
them to an executor with ``work(jobs)``, which trains a batch of them and writes their
artifacts. ``LocalExecutor`` runs them on this machine in batches (a bank: one model per CPU
worker); a cluster executor (the Ray issue) goes behind the same ``run``. Nothing about a job's
result depends on which executor ran it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Protocol

from ..config import ExperimentConfig
from ..io import sha256_json
from ..recipes import RECIPES

TRAINING_IMAGES = "training images"


@dataclass(frozen=True)
class TrainingJob:
    training: dict           # {"seed", "data", "train"}: ExperimentConfig.training_key()
    data_key: Any            # Dataset.key: what the data was loaded from
    subset: str | dict = TRAINING_IMAGES  # or {"bank": <bank hash>, "row": k}
    artifact: str = "model.pt"  # the file it writes, relative to its stage's folder

    @classmethod
    def target(cls, config: ExperimentConfig, data_key) -> "TrainingJob":
        """The experiment's target: its recipe and seed on its training images."""
        return cls(config.training_key(), data_key)

    @classmethod
    def reference(cls, config: ExperimentConfig, data_key, seed: int, bank_hash: str, row: int,
                  artifact: str) -> "TrainingJob":
        """Model ``row`` of a bank: the recipe with the model's own seed, on the images its
        row of the keep-matrix keeps."""
        return cls(config.training_key(seed=seed), data_key, {"bank": bank_hash, "row": row},
                   artifact)

    def key(self) -> str:
        """The hash of everything that determines the weights. A target's is the training
        hash (its cache folder and manifest), unchanged from before jobs were data."""
        if self.subset == TRAINING_IMAGES:
            return sha256_json({"training": self.training, "data_sha256": self.data_key})
        return sha256_json({"training": self.training, "data_sha256": self.data_key,
                            "subset": self.subset})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainingJob":
        return cls(**d)


class Executor(Protocol):
    def run(self, jobs: list[TrainingJob], work: Callable[[list[TrainingJob]], None],
            on_batch: Callable[[list[TrainingJob]], None] | None = None) -> None:
        """Run ``work`` over ``jobs`` (the pending ones: a stage skips what is cached) until
        every job's artifact is written; ``on_batch`` after each batch (progress, bookkeeping)."""


@dataclass(frozen=True)
class LocalExecutor:
    """The jobs, in order, in batches of ``batch``, on this machine."""

    batch: int = 1

    def run(self, jobs, work, on_batch=None) -> None:
        for i in range(0, len(jobs), self.batch):
            chunk = list(jobs[i:i + self.batch])
            work(chunk)
            if on_batch is not None:
                on_batch(chunk)


def training_hash(config: ExperimentConfig, data_key) -> str:
    """The key of the target's trained weights (its job's key): ``config.training_key()``
    under the hash rule, and the data's key (``Dataset.key``)."""
    return TrainingJob.target(config, data_key).key()


def trajectory_hash(config: ExperimentConfig, data_key) -> str:
    """The key of a training run regardless of its length: the training key without ``epochs``,
    for a recipe whose shorter runs are prefixes of its longer ones (``epochs_are_prefixes``:
    Adam, whose batches depend only on (seed, epoch) and which has no schedule; the snapshot
    and resume tests check it bitwise). Any other recipe keeps ``epochs``: no run starts from
    another's snapshot."""
    key = config.training_key()
    if RECIPES[config.train.recipe].epochs_are_prefixes:
        key = dict(key, train={k: v for k, v in key["train"].items() if k != "epochs"})
    return sha256_json({"training": key, "data_sha256": data_key, "trajectory": True})
