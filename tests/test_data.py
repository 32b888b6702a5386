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


# ---------------------------------------------------------------- MNIST
def _mnist_npz(path, n_train=50, n_test=20, **overrides):
    """MNIST's layout: (N, 28, 28) uint8 images without a channel axis, uint8 labels."""
    rng = np.random.default_rng(1)
    arrays = {"x_train": rng.integers(0, 256, (n_train, 28, 28)).astype(np.uint8),
              "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
              "x_test": rng.integers(0, 256, (n_test, 28, 28)).astype(np.uint8),
              "y_test": rng.integers(0, 10, n_test).astype(np.uint8), **overrides}
    np.savez(path, **arrays)
    return path, arrays


def test_mnist_loads_without_a_channel_axis_and_is_keyed_by_its_pixels(tmp_path):
    path, arrays = _mnist_npz(tmp_path / "mnist.npz")
    ds = data.load("mnist", path)
    assert ds.x_train.shape == (50, 28, 28, 1) and ds.spec.input_shape == (1, 28, 28)
    assert np.array_equal(ds.x_train[..., 0], arrays["x_train"])
    assert ds.y_train.dtype == np.int64 and ds.source["exact_pixels"]
    # the pixels, not the file, stand for the data: another file of the same arrays shares it
    again, _ = _mnist_npz(tmp_path / "again.npz")
    assert data.load("mnist", again).key == ds.key == {"arrays_sha256": ds.key["arrays_sha256"]}


def test_another_dataset_s_copy_stands_for_its_folder(tmp_path):
    """MIA_DATA_DIR=.../cifar10.npz for a run that also needs MNIST: mnist.npz beside it."""
    make_npz(tmp_path / "cifar10.npz")
    _mnist_npz(tmp_path / "mnist.npz")
    assert data.load("mnist", tmp_path / "cifar10.npz").x_train.shape == (50, 28, 28, 1)
    assert data.load("cifar10", tmp_path / "cifar10.npz").x_train.shape == (600, 32, 32, 3)
    (tmp_path / "mnist.npz").unlink()
    with pytest.raises(UserError, match=r"no MNIST at .*expected an \.npz file"):
        data.load("mnist", tmp_path / "cifar10.npz")


@pytest.mark.parametrize("override, message", [
    ({"x_train": np.zeros((50, 32, 32), np.uint8)}, r"x_train must have shape \(N, 28, 28, 1\), got \(50, 32, 32, 1\)"),
    ({"x_test": np.zeros((20, 28, 28, 3), np.uint8)}, r"x_test must have shape \(N, 28, 28, 1\), got \(20, 28, 28, 3\)"),
    ({"y_test": np.full(20, 10, np.uint8)}, "y_test has label 10 outside 0..9"),
])
def test_bad_mnist_is_one_clear_error(tmp_path, override, message):
    path, _ = _mnist_npz(tmp_path / "bad.npz", **override)
    with pytest.raises(UserError, match=message):
        data.load("mnist", path)


def test_mnist_torchvision_layout_is_recognised(tmp_path):
    from mia.datasets import mnist
    assert mnist.torchvision_root(tmp_path) is None
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    assert mnist.torchvision_root(tmp_path) == tmp_path
    assert mnist.torchvision_root(tmp_path / "MNIST") == tmp_path


SHARED_MNIST = SHARED_CIFAR.parent / "mnist.npz"


@pytest.mark.skipif(not SHARED_MNIST.exists(), reason="needs ../shared/data/mnist.npz")
def test_shared_mnist_is_the_exact_copy():
    from mia.datasets import mnist
    ds = data.load("mnist", SHARED_MNIST)
    assert ds.x_train.shape == (60_000, 28, 28, 1) and ds.x_test.shape == (10_000, 28, 28, 1)
    assert ds.source["notes"].startswith("exact original pixels")
    assert ds.source["sha256"]["mnist.npz"] == mnist.EXACT_NPZ_SHA256
    assert np.bincount(ds.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# ---------------------------------------------------------------- [data] classes, train_fraction
def test_restrict_keeps_the_first_classes_and_the_first_share_of_training_images(tiny_npz):
    full = data.load("cifar10", tiny_npz)
    four = full.restrict(classes=4)
    assert set(np.unique(four.y_train)) <= {0, 1, 2, 3} and set(np.unique(four.y_test)) <= {0, 1, 2, 3}
    assert len(four.y_train) == int((full.y_train < 4).sum()) and four.spec.num_classes == 4
    assert np.array_equal(four.x_train, full.x_train[full.y_train < 4])
    assert four.spec.classes == full.spec.classes[:4] and full.spec.num_classes == 10
    half = full.restrict(train_fraction=0.5)
    assert np.array_equal(half.x_train, full.x_train[:300]) and len(half.y_test) == 200
    assert half.source["train_fraction"] == 0.5
    with pytest.raises(UserError, match=r"train_fraction = 0.001 leaves 1 training images of 600"):
        full.restrict(train_fraction=0.001)


@pytest.mark.parametrize("bad, message", [
    ({"classes": 1}, r"\[data\] classes must be 0 \(every class\) or between 2 and 10 \(CIFAR-10 has 10 classes\), got 1"),
    ({"classes": 11}, r"between 2 and 10 .*got 11"),
    ({"classes": -1}, r"got -1"),
    ({"train_fraction": 0.0}, r"\[data\] train_fraction must be in \(0, 1\], got 0.0"),
    ({"train_fraction": 1.5}, r"train_fraction must be in \(0, 1\], got 1.5"),
    ({"train_fraction": float("nan")}, r"train_fraction must be in \(0, 1\], got nan"),
])
def test_bad_data_settings_are_one_line(bad, message):
    from mia import config
    with pytest.raises(UserError, match=message):
        config.from_dict({"data": bad}, "x")


def test_the_data_settings_at_their_defaults_change_no_key():
    """The hash rule: classes = 0 and train_fraction = 1 enter no key; other values do."""
    from mia import config
    plain = config.from_dict({}, "x")
    same = config.from_dict({"data": {"classes": 0, "train_fraction": 1.0}}, "x")
    assert plain.training_key() == same.training_key() and plain.hash() == same.hash()
    assert "classes" not in plain.training_key()["data"]
    four = config.from_dict({"data": {"classes": 4}}, "x")
    assert four.training_key()["data"]["classes"] == 4 and four.training_key() != plain.training_key()


def test_experiment_sizes_follow_the_data_settings():
    from mia import config, pipeline
    cfg = config.from_dict({"data": {"classes": 4, "train_fraction": 0.5}}, "x")
    assert pipeline.experiment_sizes(cfg, 50_000, 10_000, 10) == (10_000, 4_000)
