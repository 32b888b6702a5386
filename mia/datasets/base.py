"""The interface of a dataset: what it is (``DatasetSpec``), the arrays it loads into
(``Dataset``), and the loading every member shares (an ``.npz`` file, checked).

A member module (``cifar10.py``) defines

    SPEC: DatasetSpec                                 its shape, classes, normalisation, sizes
    load_torchvision(root: Path, download: bool) -> Dataset
    torchvision_root(path: Path) -> Path | None       the torchvision folder at or under path

The data's key (``Dataset.key``) is what stands for it in the training and bank hashes:
``SPEC.key = "files"`` hashes the files read (CIFAR-10, whose models were committed under that
key), ``"arrays"`` the decoded arrays, so that the same pixels from torchvision and from a
local copy share their trained models.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io import sha256_file

ARRAYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class DatasetSpec:
    name: str                           # how experiments name it ([data] dataset)
    title: str                          # how people name it ("CIFAR-10")
    image_shape: tuple[int, int, int]   # (H, W, C) of the uint8 images as stored
    classes: tuple[str, ...]
    mean: tuple[float, ...]             # per channel, of pixels / 255: inputs are (x - mean) / std
    std: tuple[float, ...]
    sizes: tuple[int, int]              # training and test images of the full set
    npz_name: str                       # a local copy's file name ("cifar10.npz")
    key: str = "arrays"                 # "files" or "arrays" (module docstring)
    # Test-time augmentations that keep an image's class: "hflip" (left-right) for natural
    # images, none for digits.
    test_time_augmentations: tuple[str, ...] = ()
    # sha256 of known local copies -> a note for the manifest (e.g. a lossy copy)
    known_copies: tuple[tuple[str, str], ...] = ()

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W): the shape a model sees."""
        h, w, c = self.image_shape
        return (c, h, w)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass
class Dataset:
    """Images as uint8 ``(N, H, W, C)``, labels as int64 ``(N,)``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: dict  # kind, path, sha256 per file, notes: goes into the manifest
    spec: DatasetSpec  # what the images are: shape, classes, normalisation, augmentations
    # The training images outside the members ([data] train_fraction < 1), in order, (x, y):
    # in no role of the target, they are the attacker's own data of a disjoint shadow bank
    # ([bank] population = "attacker"). None: every training image is a member.
    rest: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def key(self):
        """What stands for the data in the training and bank hashes: ``source["key"]`` when the
        loader set one (``SPEC.key = "arrays"``), else the sha256 of the files it read."""
        return self.source.get("key", self.source["sha256"])

    def restrict(self, classes: int = 0, train_fraction: float = 1.0) -> "Dataset":
        """Only the first ``classes`` classes' images (0: all), with a spec of that many
        classes; then the first round(train_fraction x N) training images."""
        x_train, y_train, x_test, y_test, spec = (self.x_train, self.y_train, self.x_test,
                                                  self.y_test, self.spec)
        if classes:
            train, test = y_train < classes, y_test < classes
            x_train, y_train, x_test, y_test = x_train[train], y_train[train], x_test[test], y_test[test]
            spec = dataclasses.replace(spec, classes=spec.classes[:classes])
        keep = int(round(train_fraction * len(y_train)))
        if keep < 2:
            raise UserError(f"[data] train_fraction = {train_fraction:g} leaves {keep} training "
                            f"images of {len(y_train)}; need at least 2")
        source = dict(self.source, classes=classes, train_fraction=train_fraction)
        rest = (x_train[keep:], y_train[keep:]) if keep < len(y_train) else None
        return Dataset(x_train[:keep], y_train[:keep], x_test, y_test, source, spec, rest)

    def subset(self, max_train: int, max_test: int) -> "Dataset":
        """The first ``max_train`` / ``max_test`` images (0 keeps all)."""
        tr = slice(None, max_train or None)
        te = slice(None, max_test or None)
        source = dict(self.source, max_train=max_train, max_test=max_test)
        return Dataset(self.x_train[tr], self.y_train[tr], self.x_test[te], self.y_test[te], source,
                       self.spec, self.rest)


def validate(spec: DatasetSpec, x: np.ndarray, y: np.ndarray, split: str, where: str) -> None:
    shape = spec.image_shape
    if x.ndim != 4 or x.shape[1:] != shape:
        raise UserError(f"{where}: x_{split} must have shape (N, {', '.join(map(str, shape))}), "
                        f"got {x.shape}")
    if x.dtype != np.uint8:
        raise UserError(f"{where}: x_{split} must be uint8, got {x.dtype}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise UserError(f"{where}: y_{split} must have shape ({x.shape[0]},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise UserError(f"{where}: y_{split} must be integer labels, got {y.dtype}")
    if x.shape[0] < 2:
        raise UserError(f"{where}: x_{split} has {x.shape[0]} images; need at least 2")
    k = spec.num_classes
    if y.size and (y.min() < 0 or y.max() >= k):
        bad = y[(y < 0) | (y >= k)][0]
        raise UserError(f"{where}: y_{split} has label {int(bad)} outside 0..{k - 1}")


def arrays_sha256(arrays: dict[str, np.ndarray]) -> str:
    """sha256 of the decoded arrays (their dtype, shape and bytes, in ``ARRAYS`` order)."""
    h = hashlib.sha256()
    for name in ARRAYS:
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def make(spec: DatasetSpec, arrays: dict[str, np.ndarray], source: dict, where: str) -> Dataset:
    """A checked ``Dataset`` from the four arrays, its key set by ``spec.key``. Images of one
    channel may come without their channel axis, (N, H, W), as MNIST's files hold them."""
    if spec.image_shape[2] == 1:
        arrays = {k: (v[..., None] if k.startswith("x_") and v.ndim == 3 else v)
                  for k, v in arrays.items()}
    for split in ("train", "test"):
        validate(spec, arrays[f"x_{split}"], arrays[f"y_{split}"], split, where)
    arrays = dict(arrays, y_train=arrays["y_train"].astype(np.int64),
                  y_test=arrays["y_test"].astype(np.int64))
    if spec.key == "arrays":
        source = dict(source, key={"arrays_sha256": arrays_sha256(arrays)})
    return Dataset(*(arrays[a] for a in ARRAYS), source, spec)


def load_npz(path: Path, spec: DatasetSpec) -> Dataset:
    """``x_train (N, H, W, C) uint8, y_train (N,), x_test (M, H, W, C) uint8, y_test (M,)``."""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ARRAYS if k not in f.files]
            if missing:
                raise UserError(f"{path}: missing arrays {missing} (has {f.files})")
            arrays = {k: f[k] for k in ARRAYS}
    except UserError:
        raise
    except Exception as e:  # zip / format errors: one line, not a traceback
        raise UserError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from None
    digest = sha256_file(path)
    notes = dict(spec.known_copies).get(digest, "")
    return make(spec, arrays, {"kind": "npz", "path": str(path), "sha256": {path.name: digest},
                               "exact_pixels": not notes.startswith("LOSSY"), "notes": notes},
                str(path))
