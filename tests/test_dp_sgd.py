"""DP-SGD through Opacus (``[train] recipe = "dp_adam"``, ``mia.recipes.dp_adam``,
``mia.training.private``): its settings and their bad values, the noise calibrated to the
target epsilon and both accountants' epsilon recorded, Poisson batches, a resumed run equal to
an uninterrupted one, and a private experiment end to end (target and bank)."""
import json
import warnings

import numpy as np
import pytest
import torch

from conftest import write_experiment
from mia import config, recipes
from mia.errors import UserError
from mia.recipes.dp_adam import epsilon, sample_rate, steps_per_epoch
from mia.training import private

warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")


def dp(**train):
    return config.from_dict({"train": {"recipe": "dp_adam", "dp_epsilon": 4.0, **train}}, "dp").train


@pytest.mark.parametrize("train, message", [
    ({"dp_epsilon": 0.0}, r"dp_epsilon must be a finite number > 0, got 0.0"),
    ({"dp_epsilon": -1.0}, r"dp_epsilon must be a finite number > 0, got -1.0"),
    ({"dp_epsilon": float("inf")}, r"dp_epsilon must be a finite number > 0, got inf"),
    ({"dp_delta": 0.0}, r"dp_delta must be in \(0, 1\), got 0.0"),
    ({"dp_delta": 1.0}, r"dp_delta must be in \(0, 1\), got 1.0"),
    ({"dp_max_grad_norm": 0.0}, r"dp_max_grad_norm \(the clipping norm\) must be a finite number > 0, got 0.0"),
    ({"dp_max_grad_norm": -2.0}, r"got -2.0"),
    ({"dp_accountant": "gdp"}, r"dp_accountant must be one of rdp, prv, got 'gdp'"),
])
def test_bad_dp_settings_are_one_line(train, message):
    with pytest.raises(UserError, match=message):
        dp(**train)


def test_dp_settings_on_a_recipe_that_is_not_private_are_refused():
    with pytest.raises(UserError, match="dp_epsilon = 2.0 applies to a differentially private "
                                        "recipe, and recipe 'adam' is not one"):
        config.from_dict({"train": {"dp_epsilon": 2.0}}, "x")
    with pytest.raises(UserError, match="dp_epsilon must be a finite number > 0, got 0.0"):
        config.from_dict({"train": {"recipe": "dp_adam"}}, "x")  # a DP recipe needs its epsilon
    assert recipes.get("adam").privacy(config.TrainConfig(), 100) is None


def test_a_private_recipe_left_at_defaults_changes_no_committed_key():
    """The new settings are off their defaults only in a private experiment."""
    plain = config.from_dict({}, "x")
    assert "dp_epsilon" not in plain.training_key()["train"]
    assert dp().dp_epsilon == 4.0


@pytest.mark.parametrize("target", [1.0, 2.0, 4.0, 8.0])
def test_the_noise_reaches_the_target_epsilon_and_both_accountants_are_recorded(target):
    """sigma is calibrated with RDP to within Opacus's 0.01; PRV, the tighter accountant,
    reports no more than RDP (and both are recorded in the manifest's ``privacy``)."""
    cfg = dp(dp_epsilon=target, epochs=30, batch_size=512)
    privacy = recipes.get("dp_adam").privacy(cfg, 49_500)
    assert privacy["target_epsilon"] == target and privacy["delta"] == 1e-5
    eps = privacy["epsilon"]
    assert target - 0.02 <= eps["rdp"] <= target + 1e-9
    assert eps["prv"] <= eps["rdp"] + 0.02
    assert privacy["steps"] == 30 * round(49_500 / 512) and privacy["noise_multiplier"] > 0
    # more noise, less epsilon: the accountant is monotone, so the calibration is not vacuous
    q, steps = privacy["sample_rate"], privacy["steps"]
    assert epsilon("rdp", 2 * privacy["noise_multiplier"], q, steps, 1e-5) < eps["rdp"] / 1.5


def test_poisson_batches_are_seeded_and_have_the_expected_size():
    recipe = recipes.get("dp_adam")
    batches = recipe.epoch_batches(3, 1, 10_000, 200, torch.device("cpu"))
    assert len(batches) == steps_per_epoch(200, 10_000) == 50
    sizes = np.array([len(b) for b in batches])
    assert abs(sizes.mean() - 200) < 10 and sizes.std() > 3  # Poisson: not a fixed size
    again = recipe.epoch_batches(3, 1, 10_000, 200, torch.device("cpu"))
    assert all(torch.equal(a, b) for a, b in zip(batches, again))
    other = recipe.epoch_batches(3, 2, 10_000, 200, torch.device("cpu"))
    assert not torch.equal(batches[0], other[0])
    assert sample_rate(200, 10_000) == 0.02


def data():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(320, 3, 32, 32, generator=g), torch.randint(0, 10, (320,), generator=g)
    return x[:256], y[:256], x[256:], y[256:]


def test_a_resumed_private_run_equals_an_uninterrupted_one_and_records_its_epsilon(tmp_path):
    """Two epochs at once, and a run stopped after epoch 1 then resumed from its checkpoint
    (the accountant's history and the update's state in it): the same weights, bitwise, and
    the same epsilon after each epoch."""
    cfg = dp(epochs=2, batch_size=32, dp_epsilon=8.0)
    whole, history = private.train(cfg, 5, *data(), tmp_path / "whole", progress=False)
    state = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)
    assert [h["epoch"] for h in state["history"]] == [1, 2] and state["accountant"]["history"]
    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        private.train(cfg, 5, *data(), killed, progress=False, on_epoch_end=lambda e: _stop(e == 1))
    resumed, resumed_history = private.train(cfg, 5, *data(), killed, progress=False)
    for k, v in whole.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    assert [h["epsilon"] for h in resumed_history] == [h["epsilon"] for h in history]
    assert history[-1]["epsilon"] <= 8.0 + 1e-9 and history[0]["epsilon"] < history[1]["epsilon"]


def _stop(now: bool) -> None:
    if now:
        raise KeyboardInterrupt


def test_a_private_experiment_runs_end_to_end_with_its_bank(tmp_path, tiny_npz):
    """The tiny dataset: a DP target and a bank of 2 DP models; the manifest records the
    accountants' epsilon for the images the target trained on."""
    from mia import pipeline
    write_experiment(tmp_path / "exp", "private", """
description = "dp"
figures = false
[train]
recipe = "dp_adam"
dp_epsilon = 8.0
epochs = 1
batch_size = 64
[attack]
sampling_percentages = [50]
repeats = 1
kde_grid_points = 64
[bank]
models = 2
[calibrated]
attacks = ["loss", "rmia_offline"]
power_attacks = ["rmia_offline"]
""")
    results = tmp_path / "results"
    pipeline.run(["private"], data_dir=str(tiny_npz), device="cpu", quick=False,
                 results_root=results, cache_root=tmp_path / "cache", progress=False,
                 log=lambda *_: None, experiments_dir=tmp_path / "exp",
                 studies_dir=tmp_path / "none")
    manifest = json.loads((results / "private" / "manifest.json").read_text())
    privacy = manifest["privacy"]
    assert privacy["n"] == 600 and privacy["target_epsilon"] == 8.0
    assert privacy["epsilon"]["rdp"] <= 8.0 + 1e-9 and privacy["epsilon"]["prv"] > 0
    assert manifest["wall_seconds"]["train"]["engine"] == "opacus"
    history = json.loads((results / "private" / "history.json").read_text())
    assert history[-1]["epsilon"] == pytest.approx(privacy["epsilon"]["rdp"], rel=1e-6)
    assert (results / "private" / "bank" / "model-001.pt").exists()
