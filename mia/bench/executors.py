"""What Ray costs: one bank trained through this machine's executor and through Ray's local
instance, from an empty folder each time, on the same synthetic data, in one run.

For each bank size: ``local`` (``LocalExecutor``, one model per worker thread), ``ray_cold``
(the first bank after Ray started: its workers start and import the project) and ``ray_warm``
(the same bank again, its workers running). Ray's start (``ray.init``, once per command) is
timed on its own. The weights are compared too: a Ray bank that differs from the local one is
reported, not timed.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from ..config import from_dict
from ..datasets import CIFAR10, Dataset
from ..training import bank, bank_training

# (models, images per model, epochs): a small bank, and one of the study's size per model
# (30,000 images: half of CIFAR-10's 60,000) cut to one epoch
BANKS = ((4, 2_000, 1), (16, 30_000, 1))


def _dataset(images: np.ndarray, labels: np.ndarray, per_model: int) -> Dataset:
    """A population of 2 x ``per_model`` images (the bank's halves), 1/6 of them "test"."""
    n = 2 * per_model
    test = n // 6
    return Dataset(images[:n - test], labels[:n - test], images[n - test:n], labels[n - test:n],
                   {"sha256": f"synthetic-{n}"}, CIFAR10)


def _timed_bank(config, dataset, folder: Path, device, executor) -> float:
    t0 = time.perf_counter()
    bank_training.train_bank(config, dataset, folder, device, progress=False,
                             log=lambda _: None, executor=executor)
    return time.perf_counter() - t0


def bench_executors(images: np.ndarray, labels: np.ndarray, device, banks=BANKS) -> dict:
    from ..training.ray_executor import RayExecutor, connect

    t0 = time.perf_counter()
    connect(None, log=lambda _: None)
    out = {"ray_start_seconds": round(time.perf_counter() - t0, 3), "banks": []}
    ray_executor = RayExecutor(gpus=1 if device.type == "cuda" else 0, log=lambda _: None)
    for models, per_model, epochs in banks:
        if 2 * per_model > len(labels):
            continue
        config = from_dict({"train": {"epochs": epochs, "batch_size": 128},
                            "bank": {"models": models}}, "bench")
        dataset = _dataset(images, labels, per_model)
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
        out["banks"].append({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})
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
