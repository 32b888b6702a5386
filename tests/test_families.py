"""Adding a member to a family touches one file: a module dropped into the family's package is
found by name, with nothing else edited. Each test writes a new member into a folder added to
the package's search path, as if it were a new file in mia/<family>/, and uses it."""
import textwrap

import numpy as np
import pytest
import torch

from mia import architectures, attacks, datasets, recipes


def _add_member(package, tmp_path, monkeypatch, name: str, source: str):
    folder = tmp_path / package.__name__.replace(".", "_")
    folder.mkdir()
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])
    monkeypatch.delitem(__import__("sys").modules, f"{package.__name__}.{name}", raising=False)
    return package.discover()


def test_a_new_architecture_is_one_file(tmp_path, monkeypatch):
    found = _add_member(architectures, tmp_path, monkeypatch, "tiny_mlp", """
        from torch import nn
        from .base import Architecture

        def build(input_shape, num_classes, width=8):
            c, h, w = input_shape
            return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, width), nn.ReLU(),
                                 nn.Linear(width, num_classes))

        ARCHITECTURE = Architecture("tiny_mlp", build)
    """)
    assert "tiny_mlp" in found and "lenet5" in found
    model = found["tiny_mlp"].build((1, 28, 28), 10, width=4)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_a_new_dataset_is_one_file(tmp_path, monkeypatch):
    found = _add_member(datasets, tmp_path, monkeypatch, "digits", """
        from .base import DatasetSpec

        SPEC = DatasetSpec(name="digits", title="Digits", image_shape=(28, 28, 1),
                           classes=tuple("0123456789"), mean=(0.1307,), std=(0.3081,),
                           sizes=(60_000, 10_000), npz_name="digits.npz")

        def load_torchvision(root, download):
            raise OSError("offline")

        def torchvision_root(path):
            return None
    """)
    assert set(found) == {*datasets.MEMBERS, "digits"}  # the members, and the new one
    spec = found["digits"].SPEC
    assert spec.input_shape == (1, 28, 28) and spec.num_classes == 10 and spec.key == "arrays"


def test_the_same_pixels_from_two_files_have_one_data_key(tmp_path):
    """``key = "arrays"`` (every dataset but CIFAR-10): the decoded arrays, not the file, so the
    same pixels from torchvision and from a local copy share their trained models."""
    import dataclasses

    from mia.datasets.base import load_npz

    spec = dataclasses.replace(datasets.CIFAR10, name="x", key="arrays")
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8),
              "y_train": np.arange(4), "x_test": rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8),
              "y_test": np.arange(2)}
    np.savez(tmp_path / "a.npz", **arrays)
    np.savez_compressed(tmp_path / "b.npz", **arrays)
    a, b = load_npz(tmp_path / "a.npz", spec), load_npz(tmp_path / "b.npz", spec)
    assert a.source["sha256"] != b.source["sha256"] and a.key == b.key
    arrays["x_test"][0, 0, 0, 0] ^= 1
    np.savez(tmp_path / "c.npz", **arrays)
    assert load_npz(tmp_path / "c.npz", spec).key != a.key
    # CIFAR-10 keeps the files' sha256, the key its committed models were trained under
    assert load_npz(tmp_path / "a.npz", datasets.CIFAR10).key == a.source["sha256"]


def test_a_new_recipe_is_one_file(tmp_path, monkeypatch):
    found = _add_member(recipes, tmp_path, monkeypatch, "sgd", """
        import torch
        from .base import Recipe

        class Sgd(Recipe):
            name = "sgd"

            def optimizer(self, params, cfg, device, capturable=False):
                return torch.optim.SGD(params, lr=cfg.learning_rate)

            def epoch_batches(self, seed, epoch, n, batch_size, device):
                g = torch.Generator().manual_seed(seed + epoch)
                return list(torch.randperm(n, generator=g).split(batch_size))
    """)
    assert set(found) == {"adam", "dp_adam", "sgd"}
    batches = found["sgd"]().epoch_batches(0, 1, 10, 4, torch.device("cpu"))
    assert [len(b) for b in batches] == [4, 4, 2]


def test_a_new_attack_is_one_file(tmp_path, monkeypatch):
    found = _add_member(attacks, tmp_path, monkeypatch, "max_confidence", """
        import numpy as np
        from scipy.special import softmax
        from .base import Attack

        class MaxConfidence(Attack):
            name = "max_confidence"

            def score(self, view):
                return softmax(view.target_logits[0], axis=-1).max(axis=-1)
    """)
    assert "max_confidence" in found and "rmia_online" in found
    view = attacks.TargetView(np.array([[[5.0, 0.0], [0.0, 0.1]]]), np.array([0, 1]),
                              np.zeros((1, 1, 2, 2)), np.ones((1, 2), bool), np.zeros((1, 1, 2)),
                              np.array([0]), np.zeros((1, 1, 1, 2)), np.ones((1, 1), bool))
    score = found["max_confidence"]().fit(view).score(view)
    assert score[0] > score[1]
    # registered as it would be at import: [calibrated] attacks can name it, and it is scored
    from mia.evaluation import calibrated

    monkeypatch.setattr(attacks, "ATTACKS", found)
    assert attacks.parse_row("max_confidence") == ("max_confidence", {}, 1, False)
    rows = calibrated.score_rows(view, rows=[attacks.parse_row("max_confidence")[:3]])
    assert np.array_equal(rows["max_confidence"]["score"], score)


def test_two_members_with_one_name_are_an_error_naming_both_modules(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"two members of mia.recipes are named 'adam': in "
                                         r"mia.recipes.adam and mia.recipes.adam_again"):
        _add_member(recipes, tmp_path, monkeypatch, "adam_again", """
            from .adam import Adam

            class AdamAgain(Adam):
                name = "adam"
        """)


def test_the_adam_recipe_is_todays_batches_and_optimizer():
    """The study's recipe: each epoch a seeded permutation cut into batches; Adam with its
    coupled L2 penalty. A recipe left at its default enters no hash (tests/test_hash_rule.py)."""
    from mia.config import TrainConfig
    from mia.recipes.adam import epoch_permutation

    adam = recipes.get("adam")
    perm = epoch_permutation(3, 2, 10, torch.device("cpu"))
    assert [b.tolist() for b in adam.epoch_batches(3, 2, 10, 4, torch.device("cpu"))] == \
        [perm[:4].tolist(), perm[4:8].tolist(), perm[8:].tolist()]
    opt = adam.optimizer([torch.nn.Parameter(torch.zeros(2))], TrainConfig(weight_decay=0.01),
                         torch.device("cpu"))
    assert isinstance(opt, torch.optim.Adam) and opt.defaults["weight_decay"] == 0.01
    assert adam.privacy(TrainConfig(), 100) is None and adam.fixed_batch_size


def test_an_unknown_recipe_is_one_line():
    from mia import config
    from mia.errors import UserError

    with pytest.raises(UserError, match="unknown recipe 'sgd' \\(known: adam, dp_adam\\)"):
        config.from_dict({"train": {"recipe": "sgd"}}, "x")


def test_dropout_is_an_architecture_option_that_changes_nothing_at_zero():
    """At 0 (the default) no dropout module is added: the same parameter names and the same
    initial weights from the same seed, so no committed model is touched."""
    torch.manual_seed(0)
    plain = architectures.build("lenet5")
    torch.manual_seed(0)
    zero = architectures.build("lenet5", dropout=0.0)
    assert plain.state_dict().keys() == zero.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(),
                                                 zero.state_dict().values()))
    dropped = architectures.build("lenet5", dropout=0.5)
    assert sum(isinstance(m, torch.nn.Dropout) for m in dropped.modules()) == 2
    assert dropped.eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize("bad, message", [
    ({"dropout": 1.0}, r"\[train\] dropout must be in \[0, 1\), got 1.0"),
    ({"dropout": -0.1}, r"\[train\] dropout must be in \[0, 1\), got -0.1"),
])
def test_bad_dropout_is_one_line(bad, message):
    from mia import config
    from mia.errors import UserError

    with pytest.raises(UserError, match=message):
        config.from_dict({"train": bad}, "x")
    config.from_dict({"train": {"dropout": 0.3, "cpu_shards": 1}}, "x")  # valid
    config.from_dict({"train": {"dropout": 0.3}}, "x")  # and sharded: masks per shard


def test_a_flip_row_on_a_dataset_without_a_flip_is_one_line_before_any_work():
    """Test-time augmentations are the dataset's: a calibrated row the experiment names that
    flips needs its flip; the default rows leave the flipped ones out where it has none."""
    import dataclasses

    from mia import config
    from mia.errors import UserError
    from mia.evaluation import calibrated
    from mia.pipeline.experiment import check_augmentations

    from mia.pipeline.stages import experiment_rows

    cfg = config.from_dict({"bank": {"models": 2}}, "x")  # the default rows include /flip
    check_augmentations(cfg, datasets.CIFAR10)
    digits = dataclasses.replace(datasets.CIFAR10, title="Digits", test_time_augmentations=())
    # the defaults on a dataset without a flip: the plain rows, the flipped ones left out
    check_augmentations(cfg, digits)
    rows, power = experiment_rows(cfg, digits)
    assert rows and all(views == 1 for *_, views in rows + power)
    assert experiment_rows(cfg, datasets.CIFAR10) == calibrated.configured_rows(cfg.calibrated)
    assert len(experiment_rows(cfg, datasets.CIFAR10)[0]) > len(rows)
    named = config.from_dict({"bank": {"models": 2},
                              "calibrated": {"attacks": ["loss", "lira_online/global/flip"]}}, "x")
    with pytest.raises(UserError, match="'lira_online/global/flip' flips the images, but Digits"):
        check_augmentations(named, digits)
    plain = config.from_dict({"bank": {"models": 2}, "calibrated": {"attacks": ["loss", "rmia_online"],
                                                                    "power_attacks": ["rmia_online"]}}, "x")
    check_augmentations(plain, digits)
    # a shadow bank's default rows flip nothing, and it draws no power curve
    shadow = config.from_dict({"data": {"train_fraction": 0.5},
                               "bank": {"models": 2, "population": "attacker"}}, "x")
    check_augmentations(shadow, digits)


# ---------------------------------------------------------------- dense and convolutional (004)
@pytest.mark.parametrize("depth, width", [(4, 128), (7, 128), (2, 16)])
def test_the_dense_network_has_depth_linear_layers_and_the_stated_parameters(depth, width):
    model = architectures.build("mlp", (3, 32, 32), 10, depth=depth, width=width)
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linear) == depth
    expected = 3073 * width + (depth - 2) * (width + 1) * width + (width + 1) * 10
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("depth", [2, 4, 7])
def test_the_convolutional_network_has_the_same_depth_in_weight_layers(depth):
    model = architectures.build("cnn", (1, 28, 28), 4, depth=depth, width=8)
    weighted = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(weighted) == depth and isinstance(weighted[-1], torch.nn.Linear)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 4)


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_depth_and_width_out_of_range_are_one_line(name):
    with pytest.raises(ValueError, match="depth >= 2"):
        architectures.build(name, depth=1)
    with pytest.raises(ValueError, match="width >= 1"):
        architectures.build(name, width=0)


@pytest.mark.parametrize("train, message", [
    ({"architecture": "transformer"}, r"unknown architecture 'transformer' \(known: .*mlp"),
    ({"architecture": "lenet5", "depth": 4}, r"\[train\] depth = 4: architecture 'lenet5' takes no depth"),
    ({"architecture": "mlp", "width": -1}, r"\[train\] width must be >= 0 .*got -1"),
])
def test_bad_architecture_settings_are_one_line(train, message):
    from mia import config
    from mia.errors import UserError

    with pytest.raises(UserError, match=message):
        config.from_dict({"train": train}, "x")
    config.from_dict({"train": {"architecture": "mlp", "depth": 7, "width": 64, "dropout": 0.2}}, "x")


def test_depth_and_width_at_their_defaults_change_no_key():
    from mia import config
    plain, same = config.from_dict({}, "x"), config.from_dict({"train": {"depth": 0, "width": 0}}, "x")
    assert plain.training_key() == same.training_key() and plain.train.model_options() == {}
    deep = config.from_dict({"train": {"architecture": "mlp", "depth": 7}}, "x")
    assert deep.train.model_options() == {"depth": 7} and deep.training_key()["train"]["depth"] == 7
