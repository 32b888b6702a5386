"""The rebuild of the JPEG-decoded CIFAR-10 copy (mia/jpeg_copy.py): the canonical order, the
pinned checksums, and nothing written unless the result is the committed results' copy. The
full rebuild needs the three public sources (downloaded by `invoke data --jpeg-copy`); it was
measured to give the committed sha256 (README, "Data")."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mia import jpeg_copy
from mia.datasets import cifar10
from mia.errors import UserError
from mia.io import sha256_file


def test_the_hash_it_checks_is_the_datasets_own():
    assert jpeg_copy.NPZ_SHA256 == cifar10.JPEG_DECODED_NPZ_SHA256
    assert jpeg_copy.CLASSES == cifar10.SPEC.classes


def _sources(tmp_path, labels: np.ndarray, split="train"):
    """Solid-colour JPEGs, the k-th file of class c coloured (c, k, 0) x 20."""
    images = tmp_path / jpeg_copy.IMAGES_DIR
    for c, name in enumerate(jpeg_copy.CLASSES):
        folder = images / split / name
        folder.mkdir(parents=True)
        for k in range(int((labels == c).sum())):
            Image.new("RGB", (32, 32), (20 * c, 20 * k, 0)).save(folder / f"{k:04d}.jpg", quality=95)
    return images


def test_the_kth_file_of_a_class_is_its_kth_image_in_canonical_order(tmp_path):
    labels = np.array([3, 1, 3, 0, 1, 3], dtype=np.uint8)
    x = jpeg_copy.decode(_sources(tmp_path, labels), "train", labels)
    red, green = x[:, 16, 16, 0].astype(int), x[:, 16, 16, 1].astype(int)
    assert np.abs(red - 20 * labels).max() <= 3          # class c at every index labelled c
    assert np.abs(green - [0, 0, 20, 0, 20, 40]).max() <= 3  # and in the order of the files


def test_a_class_with_the_wrong_number_of_files_is_one_line(tmp_path):
    labels = np.array([0, 0, 1], dtype=np.uint8)
    images = _sources(tmp_path, labels)
    (images / "train" / "airplane" / "0001.jpg").unlink()
    with pytest.raises(UserError, match="has 1 images; the canonical labels have 2 of class 'airplane'"):
        jpeg_copy.decode(images, "train", labels)


def test_a_label_file_that_is_not_the_pinned_one_is_refused(tmp_path):
    (tmp_path / jpeg_copy.DOWNLOADS[1].name).write_text("var labels=[1, 2, 3];")
    with pytest.raises(UserError, match="not the pinned f8e4cced"):
        jpeg_copy.canonical_labels(tmp_path)


def test_nothing_is_written_unless_the_copy_is_the_committed_one(tmp_path, monkeypatch):
    labels = np.array([2, 0, 2, 1], dtype=np.uint8)
    _sources(tmp_path, labels)
    _sources(tmp_path, labels[:2], split="test")
    monkeypatch.setattr(jpeg_copy, "canonical_labels", lambda s: {"train": labels, "test": labels[:2]})
    dest = tmp_path / "out" / "cifar10.npz"
    with pytest.raises(UserError, match="not the committed results' 61040fee.*Nothing written"):
        jpeg_copy.build(tmp_path, dest, log=lambda *_: None)
    assert not dest.exists() and not list(dest.parent.iterdir())


def test_the_build_is_deterministic(tmp_path, monkeypatch):
    """Two builds of the same sources give the same bytes (the check relies on it)."""
    labels = np.array([1, 0], dtype=np.uint8)
    _sources(tmp_path, labels)
    _sources(tmp_path, labels, split="test")
    monkeypatch.setattr(jpeg_copy, "canonical_labels", lambda s: {"train": labels, "test": labels})
    hashes = []
    for name in ("a", "b"):
        try:
            jpeg_copy.build(tmp_path, tmp_path / name / "c.npz", log=lambda *_: None)
        except UserError as e:
            hashes.append(str(e).split("sha256 ")[1].split(",")[0])
    assert len(hashes) == 2 and hashes[0] == hashes[1]
    monkeypatch.setattr(jpeg_copy, "NPZ_SHA256", hashes[0])
    out = jpeg_copy.build(tmp_path, tmp_path / "c" / "c.npz", log=lambda *_: None)
    assert sha256_file(out) == hashes[0]
    with np.load(out) as f:
        assert list(f.files) == ["x_train", "y_train", "x_test", "y_test", "classes"]
        assert f["x_train"].shape == (2, 32, 32, 3) and list(f["classes"]) == list(jpeg_copy.CLASSES)


def test_two_label_sources_that_disagree_are_refused(tmp_path, monkeypatch):
    """convnetjs's file ends with the first 1,000 test labels: they must be cleanlab's."""
    train = np.zeros(jpeg_copy.SIZES["train"], dtype=int)
    test = np.arange(jpeg_copy.SIZES["test"]) % 10
    js = tmp_path / jpeg_copy.DOWNLOADS[1].name
    js.write_text("var labels=[" + ", ".join(map(str, [*train, *((test[:1000] + 1) % 10)])) + "];")
    np.save(tmp_path / jpeg_copy.DOWNLOADS[2].name, test)
    monkeypatch.setattr(jpeg_copy, "DOWNLOADS", tuple(
        jpeg_copy.Download(d.name, d.url, None) for d in jpeg_copy.DOWNLOADS))
    with pytest.raises(UserError, match="disagree on the first test images"):
        jpeg_copy.canonical_labels(tmp_path)
    js.write_text("var labels=[" + ", ".join(map(str, [*train, *test[:1000]])) + "];")
    assert jpeg_copy.canonical_labels(tmp_path)["test"].tolist() == test.tolist()
