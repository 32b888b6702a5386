"""CIFAR-10 as four in-memory arrays, from torchvision or from a local ``.npz``.

Where the data comes from, in order:
1. ``data_dir`` (``--data-dir``) or the ``MIA_DATA_DIR`` environment variable: an ``.npz``
   file with ``x_train (N,32,32,3) uint8, y_train (N,), x_test (M,32,32,3) uint8, y_test (M,)``;
   a folder holding ``cifar10.npz``; or a torchvision-layout folder (holding
   ``cifar-10-batches-py/``, or being it).
2. Otherwise torchvision downloads CIFAR-10 into ``.cache/data`` (needs internet).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UserError
from .io import sha256_file

DEFAULT_CACHE = Path(os.environ.get("MIA_CACHE_DIR", Path(__file__).resolve().parent.parent / ".cache")) / "data"
ENV_VAR = "MIA_DATA_DIR"
NUM_CLASSES = 10
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# Per-channel mean and std of the canonical CIFAR-10 training set (pixels / 255).
CHANNEL_MEAN = (0.4914, 0.4822, 0.4465)
CHANNEL_STD = (0.2470, 0.2435, 0.2616)
# sha256 of ../shared/data/cifar10.npz, the copy decoded from JPEG (see its README).
JPEG_DECODED_NPZ_SHA256 = "61040feefc0f145d17cb154db606f9d3a602b461f4328a3cf10bd8eab431944e"
# Training and test images of each dataset: what an experiment's sizes are checked against
# before its data is loaded (tests/test_experiment_files.py).
FULL_SIZES = {"cifar10": (50_000, 10_000)}
_TORCHVISION_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


@dataclass
class Dataset:
    """Images as uint8 ``(N, 32, 32, 3)`` HWC RGB, labels as int64 ``(N,)``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: dict  # kind, path, sha256 per file, notes: goes into the manifest

    @property
    def key(self):
        """What stands for the data in the training and bank hashes: ``source["key"]`` when the
        loader set one, else the sha256 of the files it read (CIFAR-10's key: its models and
        banks were committed under it)."""
        return self.source.get("key", self.source["sha256"])

    def subset(self, max_train: int, max_test: int) -> "Dataset":
        """The first ``max_train`` / ``max_test`` images (0 keeps all)."""
        tr = slice(None, max_train or None)
        te = slice(None, max_test or None)
        source = dict(self.source, max_train=max_train, max_test=max_test)
        return Dataset(self.x_train[tr], self.y_train[tr], self.x_test[te], self.y_test[te], source)


def validate(x: np.ndarray, y: np.ndarray, split: str, where: str) -> None:
    if x.ndim != 4 or x.shape[1:] != (32, 32, 3):
        raise UserError(f"{where}: x_{split} must have shape (N, 32, 32, 3), got {x.shape}")
    if x.dtype != np.uint8:
        raise UserError(f"{where}: x_{split} must be uint8, got {x.dtype}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise UserError(f"{where}: y_{split} must have shape ({x.shape[0]},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise UserError(f"{where}: y_{split} must be integer labels, got {y.dtype}")
    if x.shape[0] < 2:
        raise UserError(f"{where}: x_{split} has {x.shape[0]} images; need at least 2")
    if y.size and (y.min() < 0 or y.max() >= NUM_CLASSES):
        bad = y[(y < 0) | (y >= NUM_CLASSES)][0]
        raise UserError(f"{where}: y_{split} has label {int(bad)} outside 0..{NUM_CLASSES - 1}")


def load_npz(path: Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
            if missing:
                raise UserError(f"{path}: missing arrays {missing} (has {f.files})")
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except UserError:
        raise
    except Exception as e:  # zip / format errors: one line, not a traceback
        raise UserError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from None
    for split in ("train", "test"):
        validate(arrays[f"x_{split}"], arrays[f"y_{split}"], split, str(path))
    digest = sha256_file(path)
    notes = ""
    if digest == JPEG_DECODED_NPZ_SHA256:
        notes = ("LOSSY copy: CIFAR-10 decoded from JPEG (quality 75, 4:2:0), not the exact "
                 "original pixels; mean absolute error 5.8/255 per pixel")
    return Dataset(
        arrays["x_train"], arrays["y_train"].astype(np.int64),
        arrays["x_test"], arrays["y_test"].astype(np.int64),
        {"kind": "npz", "path": str(path), "sha256": {path.name: digest},
         "exact_pixels": digest != JPEG_DECODED_NPZ_SHA256, "notes": notes},
    )


def load_torchvision(root: Path, download: bool) -> Dataset:
    from torchvision.datasets import CIFAR10

    train = CIFAR10(str(root), train=True, download=download)
    test = CIFAR10(str(root), train=False, download=download)
    folder = root / CIFAR10.base_folder
    sha = {name: sha256_file(folder / name) for name in _TORCHVISION_FILES}
    x_train, y_train = np.asarray(train.data), np.asarray(train.targets, dtype=np.int64)
    x_test, y_test = np.asarray(test.data), np.asarray(test.targets, dtype=np.int64)
    validate(x_train, y_train, "train", str(folder))
    validate(x_test, y_test, "test", str(folder))
    return Dataset(x_train, y_train, x_test, y_test,
                   {"kind": "torchvision", "path": str(folder), "sha256": sha,
                    "exact_pixels": True, "notes": ""})


def _torchvision_root(path: Path) -> Path | None:
    if (path / "cifar-10-batches-py").is_dir():
        return path
    if path.name == "cifar-10-batches-py" and path.is_dir():
        return path.parent
    return None


def load_cifar10(data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load CIFAR-10 from ``data_dir``, ``$MIA_DATA_DIR``, or a torchvision download."""
    given = data_dir or os.environ.get(ENV_VAR)
    if given:
        path = Path(given).expanduser()
        if path.is_file():
            return load_npz(path)
        if path.is_dir():
            if (path / "cifar10.npz").is_file():
                return load_npz(path / "cifar10.npz")
            root = _torchvision_root(path)
            if root is not None:
                return load_torchvision(root, download=False)
        raise UserError(
            f"no CIFAR-10 at {path} (from --data-dir or ${ENV_VAR}): expected an .npz file, a "
            f"folder holding cifar10.npz, or a torchvision folder holding cifar-10-batches-py/")
    root = DEFAULT_CACHE
    if _torchvision_root(root) is not None:
        return load_torchvision(root, download=False)
    try:
        return load_torchvision(root, download=True)
    except UserError:
        raise
    except Exception as e:
        raise UserError(
            f"CIFAR-10 is not in {root} and could not be downloaded ({type(e).__name__}); "
            f"point --data-dir or ${ENV_VAR} at a local copy (.npz or torchvision folder)") from None
