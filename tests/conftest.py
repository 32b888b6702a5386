import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_CIFAR = ROOT.parent / "shared" / "data" / "cifar10.npz"
# The end-to-end tests run this fixed set, not experiments/ (tests/experiments/README.md)
TEST_EXPERIMENTS = ROOT / "tests" / "experiments"


def make_npz(path: Path, n_train: int = 600, n_test: int = 200, seed: int = 0, **overrides) -> Path:
    """A small CIFAR-shaped dataset whose labels depend on the images (so it is learnable)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 256, (n, 32, 32, 3)).astype(np.uint8)
        x[:, :4, :4, :] = (y * 25)[:, None, None, None]  # a label-dependent corner
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y.astype(np.uint8)
    arrays.update(overrides)
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory) -> Path:
    return make_npz(tmp_path_factory.mktemp("data") / "tiny.npz")


@pytest.fixture(scope="session")
def quick_results(tmp_path_factory, tiny_npz) -> Path:
    """Results of ``--quick`` on the tiny dataset, shared by the tests that only read them."""
    from mia import pipeline, studies

    root = tmp_path_factory.mktemp("quick")
    pipeline.run(None, data_dir=str(tiny_npz), device="cpu", quick=True, results_root=root / "results",
                 cache_root=root / "cache", progress=False, log=lambda *_: None,
                 experiments_dir=TEST_EXPERIMENTS, studies_dir=studies.STUDIES_DIR)
    return root / "results"


def write_experiment(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_text(text)
    return path


TINY_EXPERIMENT = """
description = "tiny test experiment"
seed = 3
[train]
epochs = 2
batch_size = 64
[attack]
sampling_percentages = [10, 50]
repeats = 2
kde_grid_points = 128
"""


def invoke(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``invoke`` as a user would, from the repository root."""
    full_env = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    full_env.pop("MIA_DATA_DIR", None) if env is None or "MIA_DATA_DIR" not in env else None
    exe = shutil.which("invoke", path=str(Path(sys.executable).parent)) or "invoke"
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, env=full_env,
                          timeout=600)
