"""The data the benchmarks train on: synthetic CIFAR-shaped images (no download) and the
keep-matrix of K models, each on its own half of the pool."""
from __future__ import annotations

import numpy as np
import torch

N_TRAIN, N_TEST = 50_000, 10_000


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n)


def half_keep(k: int, n: int, seed: int = 0) -> torch.Tensor:
    """(k, n) keep-matrix: each model keeps its own random half of the pool (as in LiRA)."""
    g = torch.Generator().manual_seed(seed)
    keep = torch.zeros(k, n, dtype=torch.bool)
    for row in keep:
        row[torch.randperm(n, generator=g)[: n // 2]] = True
    return keep
