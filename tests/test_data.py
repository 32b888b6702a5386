import os

import numpy as np
import pytest

from conftest import SHARED_CIFAR, make_npz
from mia import datasets as data
from mia.datasets import cifar10
from mia.errors import UserError


def test_npz_loads_and_records_checksum(tiny_npz):
    ds = data.load("cifar10", tiny_npz)
    assert ds.x_train.shape == (600, 32, 32, 3) and ds.y_test.dtype == np.int64
    import hashlib
    assert ds.source["sha256"]["tiny.npz"] == hashlib.sha256(tiny_npz.read_bytes()).hexdigest()
    assert ds.source["kind"] == "npz" and ds.source["exact_pixels"]
    with np.load(tiny_npz) as f:  # the arrays as stored, train and test apart
        assert np.array_equal(ds.x_train, f["x_train"]) and np.array_equal(ds.x_test, f["x_test"])
        assert np.array_equal(ds.y_train, f["y_train"]) and np.array_equal(ds.y_test, f["y_test"])


def test_environment_variable_points_at_the_data(tiny_npz, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(tiny_npz))
    assert data.load("cifar10").x_test.shape[0] == 200


@pytest.mark.parametrize("override, message", [
    ({"x_train": np.zeros((10, 28, 28), np.uint8)}, r"x_train must have shape \(N, 32, 32, 3\), got \(10, 28, 28\)"),
    ({"x_test": np.zeros((200, 32, 32, 3), np.float32)}, "x_test must be uint8, got float32"),
    ({"y_train": np.zeros(5, np.uint8)}, r"y_train must have shape \(600,\), got \(5,\)"),
    ({"y_test": np.full(200, 10, np.uint8)}, "y_test has label 10 outside 0..9"),
])
def test_bad_npz_is_one_clear_error(tmp_path, override, message):
    path = make_npz(tmp_path / "bad.npz", **override)
    with pytest.raises(UserError, match=message):
        data.load("cifar10", path)


def test_missing_array_and_garbage_file(tmp_path):
    np.savez(tmp_path / "partial.npz", x_train=np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(UserError, match="missing arrays"):
        data.load("cifar10", tmp_path / "partial.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(UserError, match="not a readable .npz"):
        data.load("cifar10", tmp_path / "junk.npz")


def test_missing_data_says_where_it_looked(tmp_path):
    with pytest.raises(UserError, match=f"no CIFAR-10 at {tmp_path / 'nowhere'}"):
        data.load("cifar10", tmp_path / "nowhere")


def test_subset_keeps_the_first_images(tiny_npz):
    full = data.load("cifar10", tiny_npz)
    ds = full.subset(100, 50)
    assert np.array_equal(ds.x_train, full.x_train[:100]) and np.array_equal(ds.y_train, full.y_train[:100])
    assert np.array_equal(ds.x_test, full.x_test[:50]) and np.array_equal(ds.y_test, full.y_test[:50])
    assert len(full.subset(0, 0).y_test) == 200  # 0 keeps all


def test_shared_cifar10_through_the_offline_path():
    if not SHARED_CIFAR.exists():
        if os.environ.get("MIA_REQUIRE_SHARED_DATA"):
            pytest.fail(f"{SHARED_CIFAR} is required (MIA_REQUIRE_SHARED_DATA is set)")
        pytest.skip(f"{SHARED_CIFAR} not present on this machine")
    ds = data.load("cifar10", SHARED_CIFAR.parent)  # the folder holding cifar10.npz
    assert ds.x_train.shape == (50000, 32, 32, 3) and ds.x_test.shape == (10000, 32, 32, 3)
    assert np.bincount(ds.y_train).tolist() == [5000] * 10
    assert ds.y_train[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert ds.source["sha256"]["cifar10.npz"] == cifar10.JPEG_DECODED_NPZ_SHA256
    assert not ds.source["exact_pixels"] and "JPEG" in ds.source["notes"]


def test_offline_without_a_local_copy_says_how_to_point_at_one(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEFAULT_CACHE", tmp_path / "cache")

    def offline(root, download):
        raise OSError("Temporary failure in name resolution")
    monkeypatch.setattr(cifar10, "load_torchvision", offline)
    with pytest.raises(UserError, match=r"not in .*cache and could not be downloaded .*--data-dir"):
        data.load("cifar10")


def test_torchvision_layout_folder_is_recognised(tmp_path, monkeypatch):
    (tmp_path / "cifar-10-batches-py").mkdir()
    seen = {}
    monkeypatch.setattr(cifar10, "load_torchvision",
                        lambda root, download: seen.update(root=root, download=download))
    data.load("cifar10", tmp_path)
    assert seen == {"root": tmp_path, "download": False}
    data.load("cifar10", tmp_path / "cifar-10-batches-py")
    assert seen == {"root": tmp_path, "download": False}
