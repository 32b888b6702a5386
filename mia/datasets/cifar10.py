"""CIFAR-10: 50,000 training and 10,000 test images, 32x32 RGB, 10 classes."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import sha256_file
from .base import Dataset, DatasetSpec, make

# sha256 of ../shared/data/cifar10.npz, the copy decoded from JPEG (see its README).
JPEG_DECODED_NPZ_SHA256 = "61040feefc0f145d17cb154db606f9d3a602b461f4328a3cf10bd8eab431944e"

SPEC = DatasetSpec(
    name="cifar10", title="CIFAR-10", image_shape=(32, 32, 3),
    classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"),
    # Per-channel mean and std of the canonical CIFAR-10 training set (pixels / 255).
    mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
    sizes=(50_000, 10_000), npz_name="cifar10.npz",
    # The files' sha256: the key every committed CIFAR-10 model and bank was trained under.
    key="files",
    test_time_augmentations=("hflip",),
    known_copies=((JPEG_DECODED_NPZ_SHA256,
                   "LOSSY copy: CIFAR-10 decoded from JPEG (quality 75, 4:2:0), not the exact "
                   "original pixels; mean absolute error 5.8/255 per pixel"),),
)
_TORCHVISION_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def load_torchvision(root: Path, download: bool) -> Dataset:
    from torchvision.datasets import CIFAR10  # optional: only this path needs torchvision

    train = CIFAR10(str(root), train=True, download=download)
    test = CIFAR10(str(root), train=False, download=download)
    folder = root / CIFAR10.base_folder
    sha = {name: sha256_file(folder / name) for name in _TORCHVISION_FILES}
    arrays = {"x_train": np.asarray(train.data), "y_train": np.asarray(train.targets),
              "x_test": np.asarray(test.data), "y_test": np.asarray(test.targets)}
    return make(SPEC, arrays, {"kind": "torchvision", "path": str(folder), "sha256": sha,
                               "exact_pixels": True, "notes": ""}, str(folder))


def torchvision_root(path: Path) -> Path | None:
    if (path / "cifar-10-batches-py").is_dir():
        return path
    if path.name == "cifar-10-batches-py" and path.is_dir():
        return path.parent
    return None
