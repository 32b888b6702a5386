"""What Ray costs: one bank trained through this machine's executor and through Ray's local
instance, from an empty folder each time, on the same synthetic data, in one run.

For each bank size: ``local`` (``LocalExecutor``, one model per worker thread), ``ray_cold``
(the first bank after Ray started: its workers start and import the project) and ``ray_warm``
(the same bank again, its workers running). Ray's start (``ray.init``, once per command) is
timed on its own. The weights are compared too: a Ray bank that differs from the local one is
reported, not timed.

A small local bank is trained first, untimed: the first bank in a process pays PyTorch's
one-time set-up (about 2 s on 2 cores, measured), which would otherwise be charged to
``local``, the first timed run.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from ..config import from_dict
from ..datasets import CIFAR10, Dataset
from ..training import bank, bank_training
from ..training.ray_executor import RayExecutor, connect
from .synthetic import synthetic

# (models, images per model): a small bank, and the study's (16 models of 30,000 images: half
# of CIFAR-10's 60,000), each model trained for one epoch
BANKS = "4x500,16x30000"


def parse_banks(text: str) -> list[tuple[int, int]]:
    """'4x500,16x30000' -> [(4, 500), (16, 30000)]."""
    return [tuple(int(n) for n in bank.split("x")) for bank in text.split(",")]


def _dataset(per_model: int) -> Dataset:
    """Synthetic, 2 x ``per_model`` images (the bank's halves), a sixth of them "test"."""
    n = 2 * per_model
    images, labels = synthetic(n)
    test = n // 6
    return Dataset(images[:n - test], labels[:n - test], images[n - test:], labels[n - test:],
                   {"sha256": f"synthetic-{n}"}, CIFAR10)


def _bank_config(models: int, epochs: int):
    return from_dict({"train": {"epochs": epochs, "batch_size": 128}, "bank": {"models": models}},
                     "bench")


def _timed_bank(config, dataset, folder: Path, device, executor) -> float:
    t0 = time.perf_counter()
    bank_training.train_bank(config, dataset, folder, device, progress=False,
                             log=lambda _: None, executor=executor)
    return time.perf_counter() - t0


def bench_executors(device, banks: str = BANKS, epochs: int = 1) -> dict:
    """Each bank of ``banks`` through both executors (the module's docstring). Ray's local
    instance is started here, and stopped at the end if it was."""
    import ray

    started_here = not ray.is_initialized()
    t0 = time.perf_counter()
    connect(None, log=lambda _: None)
    try:
        return _bench(device, banks, epochs, round(time.perf_counter() - t0, 3), RayExecutor(
            gpus=1 if device.type == "cuda" else 0, log=lambda _: None))
    finally:
        if started_here:
            ray.shutdown()


def _bench(device, banks: str, epochs: int, start_seconds: float, ray_executor) -> dict:
    out = {"ray_start_seconds": start_seconds, "banks": []}
    with tempfile.TemporaryDirectory() as tmp:  # PyTorch's one-time set-up, untimed
        _timed_bank(_bank_config(2, 1), _dataset(200), Path(tmp), device, None)
    for models, per_model in parse_banks(banks):
        config = _bank_config(models, epochs)
        dataset = _dataset(per_model)
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            row = {"models": models, "images_per_model": per_model, "epochs": epochs,
                   "local_seconds": _timed_bank(config, dataset, root / "local", device, None),
                   "ray_cold_seconds": _timed_bank(config, dataset, root / "cold", device, ray_executor),
                   "ray_warm_seconds": _timed_bank(config, dataset, root / "warm", device, ray_executor)}
            same = all(bank.model_path(root / "local", m).read_bytes()
                       == bank.model_path(root / run, m).read_bytes()
                       for m in range(models) for run in ("cold", "warm"))
        row["same_weights"] = same
        for run in ("cold", "warm"):
            row[f"ray_{run}_overhead_seconds"] = row[f"ray_{run}_seconds"] - row["local_seconds"]
            row[f"ray_{run}_over_local"] = row[f"ray_{run}_seconds"] / row["local_seconds"]
        # microseconds: with the warm-up, a small bank's local time is hundredths of a second,
        # and milliseconds would put its ratios a few percent off the seconds they come from
        out["banks"].append({k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()})
    return out


def executors_line(r: dict) -> str:
    """One line per bank for the table and docs/performance.md."""
    if "error" in r:
        return f"Ray executor: failed: {r['error']}"
    parts = [f"{b['models']} models x {b['epochs']} epoch of {b['images_per_model']:,} images: "
             f"local {b['local_seconds']:.1f} s, Ray {b['ray_cold_seconds']:.1f} s with its workers "
             f"starting ({b['ray_cold_over_local']:.2f}x), {b['ray_warm_seconds']:.1f} s warm "
             f"({b['ray_warm_over_local']:.2f}x)"
             + ("" if b["same_weights"] else "; WEIGHTS DIFFER from the local bank")
             for b in r["banks"]]
    return (f"Ray executor (its local instance; Ray started in {r['ray_start_seconds']:.1f} s, "
            f"once per command): " + "; ".join(parts))
