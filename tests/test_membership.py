"""The roles of an experiment's training images (``mia.membership``): the one-run audit's
canaries ([data] canaries) and early stopping's held-out images ([train]
early_stopping_holdout): which images they are, what the target trains on, what the
evaluation leaves out, and that the bank does not see them."""
import dataclasses
import json

import numpy as np
import torch
import pytest

from conftest import write_experiment
from mia import config, membership as canaries
from mia.errors import UserError
from mia.training import bank as bank_mod


def experiment(**data):
    return config.from_dict({"data": {"canaries": 100, **data}, "bank": {"models": 4}}, "c")


def test_the_canaries_are_the_canary_seeds_alone_and_each_kept_by_a_fair_coin():
    drawn = canaries.draw_canaries(experiment(), 1000)
    assert drawn.m == 100 and len(set(drawn.index.tolist())) == 100
    assert np.all(np.diff(drawn.index) > 0) and drawn.index.max() < 1000
    # another training seed or recipe: the same canaries (the settings are paired)
    other = dataclasses.replace(experiment(), seed=7)
    assert np.array_equal(canaries.draw_canaries(other, 1000).index, drawn.index)
    assert np.array_equal(canaries.draw_canaries(other, 1000).included, drawn.included)
    moved = canaries.draw_canaries(experiment(canary_seed=1), 1000)
    assert not np.array_equal(moved.index, drawn.index)
    # fair coins: over 20 canary seeds of 100 canaries, about half kept
    kept = [canaries.draw_canaries(experiment(canary_seed=s), 1000).included.mean() for s in range(20)]
    assert 0.45 < np.mean(kept) < 0.55 and min(kept) > 0.3
    assert canaries.draw_canaries(config.from_dict({}, "none"), 1000) is None


def toy_data():
    from mia.datasets import Dataset, DatasetSpec
    spec = DatasetSpec("toy", "Toy", (1, 1, 1), ("a", "b"), (0.0,), (1.0,), (10, 4), "toy.npz")
    ids = np.arange(10)
    return Dataset(ids.reshape(10, 1, 1, 1).astype(np.uint8), ids % 2, np.zeros((4, 1, 1, 1), np.uint8),
                   np.zeros(4, np.int64), {"sha256": {}}, spec)


def test_the_target_trains_on_the_kept_canaries_and_the_evaluation_has_none():
    data = toy_data()
    drawn = canaries.Membership(10, canaries.Canaries(np.array([2, 5, 7]), np.array([True, False, True])))
    trained = canaries.trained(data, drawn)
    assert trained.x_train.ravel().tolist() == [0, 1, 2, 3, 4, 6, 7, 8, 9]  # 5 was left out
    assert trained.y_train.tolist() == [0, 1, 0, 1, 0, 0, 1, 0, 1]
    assert canaries.evaluated(data, drawn).x_train.ravel().tolist() == [0, 1, 3, 4, 6, 8, 9]
    assert drawn.n_trained == 9
    columns = canaries.evaluated_columns(drawn, 14)
    assert np.flatnonzero(~columns).tolist() == [2, 5, 7]
    plain = canaries.Membership(10)
    assert canaries.trained(data, plain) is data and canaries.evaluated(data, plain) is data


def test_held_out_images_are_neither_trained_on_nor_evaluated_nor_canaries():
    data = toy_data()
    both = canaries.Membership(10, canaries.Canaries(np.array([2, 5]), np.array([True, False])),
                               holdout=np.array([0, 9]))
    assert canaries.trained(data, both).x_train.ravel().tolist() == [1, 2, 3, 4, 6, 7, 8]
    assert canaries.evaluated(data, both).x_train.ravel().tolist() == [1, 3, 4, 6, 7, 8]
    assert canaries.held_out(data, both)[0].ravel().tolist() == [0, 9]
    assert np.flatnonzero(~canaries.evaluated_columns(both, 14)).tolist() == [0, 2, 5, 9]
    # drawn: a share of the images that are not canaries, from the experiment's seed
    cfg = config.from_dict({"data": {"canaries": 100}, "train": {"early_stopping_holdout": 0.1,
                                                                 "early_stopping_patience": 3}}, "e")
    m = canaries.membership_of(cfg, 1000)
    assert len(m.holdout) == 90 and not set(m.holdout.tolist()) & set(m.canaries.index.tolist())
    again = canaries.membership_of(cfg, 1000)
    assert np.array_equal(again.holdout, m.holdout)
    import dataclasses
    other = canaries.membership_of(dataclasses.replace(cfg, seed=1), 1000)
    assert not np.array_equal(other.holdout, m.holdout)
    assert np.array_equal(other.canaries.index, m.canaries.index)  # canaries: the canary seed's


def test_the_bank_of_a_recipe_is_the_same_with_and_without_canaries():
    with_canaries = experiment()
    without = config.from_dict({"bank": {"models": 4}}, "c")
    assert bank_mod.bank_hash(canaries.bank_config(with_canaries), "k", 100) == \
        bank_mod.bank_hash(without, "k", 100)
    # the target's training key does see them: another target
    assert with_canaries.training_key() != without.training_key()


@pytest.mark.parametrize("raw, message", [
    ({"data": {"canaries": -1}}, r"\[data\] canaries must be between 0 and"),
    ({"data": {"canary_seed": -2}}, r"\[data\] canary_seed must be between 0 and"),
    ({"calibrated": {"audit_attack": "guess"}}, r"\[calibrated\] audit_attack: unknown attack 'guess'"),
    ({"train": {"early_stopping_holdout": 0.5}}, r"early_stopping_holdout must be a share in \[0, 0.5\), got 0.5"),
    ({"train": {"early_stopping_holdout": -0.1}}, r"got -0.1"),
    ({"train": {"early_stopping_patience": -1}}, r"early_stopping_patience must be >= 0"),
    ({"train": {"early_stopping_patience": 5}}, r"early_stopping_patience = 5 needs held-out images"),
    ({"train": {"early_stopping_holdout": 0.1, "recipe": "dp_adam", "dp_epsilon": 1.0}},
     r"early stopping is not accounted for by a private recipe"),
    ({"calibrated": {"per_sample": ["loss"]}}, r"per_sample .* needs a bank"),
])
def test_bad_canary_settings_are_one_line(raw, message):
    with pytest.raises(UserError, match=message):
        config.from_dict(raw, "c")


def test_too_many_canaries_and_a_shadow_bank_are_refused():
    with pytest.raises(UserError, match="more than half of the experiment.s 199 training images"):
        canaries.draw_canaries(experiment(), 199)  # 100 of 199 is more than half
    with pytest.raises(UserError, match="a shadow bank"):
        config.from_dict({"data": {"canaries": 10, "train_fraction": 0.5},
                          "bank": {"models": 2, "population": "attacker"}}, "c")


def test_an_experiment_with_canaries_runs_end_to_end(tmp_path, tiny_npz, monkeypatch):
    """The tiny dataset (600 training, 200 test images) with 100 canaries: the target trains on
    500 + the kept canaries, the scores and the calibrated evaluation hold 500 members and no
    canary, the manifest records them, and the bank is the one an experiment without canaries
    of the same recipe trains (one folder in the cache)."""
    from mia import pipeline
    body = """
figures = false
[train]
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
per_sample = ["rmia_offline", "loss"]
"""
    write_experiment(tmp_path / "exp", "with", 'description = "c"\n' + body.replace(
        "[train]", "[data]\ncanaries = 100\n[train]"))
    write_experiment(tmp_path / "exp", "without", 'description = "c"\n' + body)
    results, cache = tmp_path / "results", tmp_path / "cache"
    from mia.evaluation import calibrated as calibrated_mod
    evaluated, evaluate = [], calibrated_mod.evaluate

    def recording(target_logits, labels, n_train, bank_logits, keep, *args, **kwargs):
        evaluated.append((target_logits.shape[1], len(labels), n_train, bank_logits.shape[2],
                          keep.shape[1]))
        return evaluate(target_logits, labels, n_train, bank_logits, keep, *args, **kwargs)
    monkeypatch.setattr(calibrated_mod, "evaluate", recording)
    pipeline.run(["with", "without"], data_dir=str(tiny_npz), device="cpu", quick=False,
                 results_root=results, cache_root=cache, progress=False, log=lambda *_: None,
                 experiments_dir=tmp_path / "exp", studies_dir=tmp_path / "none")
    drawn = canaries.draw_canaries(config.load(tmp_path / "exp" / "with.toml"), 600)
    kept = int(drawn.included.sum())
    history = json.loads((results / "with" / "manifest.json").read_text())
    assert history["canaries"] == {"m": 100, "included": kept, "canary_seed": 0}
    with np.load(results / "with" / "scores.npz") as f:
        assert f["is_member"].sum() == 500 and len(f["is_member"]) == 700
    target = json.loads((results / "with" / "metrics.json").read_text())["target"]
    assert target["n_train"] == 500
    # the calibrated evaluation: 500 members and 200 non-members with canaries, 600 + 200 without
    assert evaluated == [(700, 700, 500, 700, 700), (800, 800, 600, 800, 800)]
    assert len([d for d in (cache / "banks").iterdir() if d.is_dir()]) == 1  # one bank for both
    # the one-run audit of the target on its canaries, in the results and their manifest
    audit = json.loads((results / "with" / "audit.json").read_text())
    assert audit["m"] == 100 and audit["included"] == kept and audit["attack"] == "rmia_online"
    assert audit["references"] == 2 and audit["delta"] == 1e-5 and audit["epsilon_lower_bound"] >= 0
    assert [g["k_plus"] for g in audit["guesses"]] == [1, 2, 5, 10, 20, 50]
    assert "audit.json" in history["files"] and "audit" in history["wall_seconds"]
    assert not (results / "without" / "audit.json").exists()
    # the per-sample scores: the samples and AUC of calibrated.json's study protocol, no canary
    from sklearn.metrics import roc_auc_score
    study = json.loads((results / "with" / "calibrated.json").read_text())["protocols"]["study"]
    with np.load(results / "with" / "attack_scores.npz") as f:
        assert set(f.files) == {"population_index", "is_member", "label", "correct", "cross_entropy",
                                "rmia_offline", "loss"}
        assert f["is_member"].sum() == study["n_members"] and (~f["is_member"]).sum() == study["n_nonmembers"]
        assert not set(f["population_index"].tolist()) & set(drawn.index.tolist())
        assert roc_auc_score(f["is_member"], f["rmia_offline"]) == pytest.approx(
            study["rows"]["rmia_offline"]["auc"], abs=1e-9)
        members = f["population_index"][f["is_member"]]
        assert members.max() < 600 and f["population_index"][~f["is_member"]].min() >= 600
    assert "attack_scores.npz" in history["files"] and "exposed.npz" in history["files"]
    # the gallery: the 12 members the first row scores highest, then the 12 lowest, with images
    with np.load(results / "with" / "exposed.npz") as g, np.load(results / "with" / "attack_scores.npz") as f:
        members = f["rmia_offline"][f["is_member"]]
        assert g["image"].shape == (24, 32, 32, 3) and g["most"].sum() == 12
        assert np.allclose(np.sort(g["score"][:12])[::-1], np.sort(members)[::-1][:12])
        assert np.allclose(np.sort(g["score"][12:]), np.sort(members)[:12])
        assert str(g["attack"]) == "rmia_offline" and (g["population_index"] < 600).all()
    # the verdict judges it: a rerun within STEP_SAMPLES correct guesses (its bound following)
    # reproduces; one further off, or a changed bound, does not
    import shutil
    from mia import privacy_audit, verify
    assert verify.compare(results / "with", results / "with").reproduced
    for shift, bound_moves, reproduced in ((1, False, True), (5, False, False), (0, True, False)):
        copy = tmp_path / f"copy{shift}{bound_moves}"
        shutil.copytree(results / "with", copy)
        moved = json.loads((copy / "audit.json").read_text())
        guess = moved["guesses"][2]
        guess["correct"] = min(2 * guess["k_plus"], guess["correct"] + shift)
        guess["epsilon_lower_bound"] = privacy_audit.epsilon_lower_bound(
            100, 2 * guess["k_plus"], guess["correct"], 1e-5, 1 - 0.05 / 6) + (1.0 if bound_moves else 0)
        (copy / "audit.json").write_text(json.dumps(moved))
        verdict = verify.compare(results / "with", copy)
        assert verdict.reproduced is reproduced, (shift, bound_moves, verdict.summary())


def test_early_stopping_keeps_the_best_held_out_epoch_and_its_references_stop_too(tmp_path, tiny_npz):
    """The tiny dataset, 10% held out, patience 2 over at most 8 epochs: model.pt is the epoch of
    best held-out accuracy (the first of equals), training stopped 2 epochs after it or at the
    end, the evaluation has none of the held-out images, and the bank's models hold out and
    stop as well (they differ from the same recipe without stopping)."""
    from mia import pipeline
    from mia.training import early_stopping
    body = """description = "es"
seed = 4
figures = false
[train]
epochs = 8
batch_size = 64
early_stopping_holdout = 0.1
early_stopping_patience = 2
[attack]
sampling_percentages = [50]
repeats = 1
kde_grid_points = 64
[bank]
models = 2
[calibrated]
attacks = ["loss", "rmia_offline"]
power_attacks = ["rmia_offline"]
"""
    write_experiment(tmp_path / "exp", "stop", body)
    write_experiment(tmp_path / "exp", "matched", body.replace("early_stopping_patience = 2\n", ""))
    results, cache = tmp_path / "results", tmp_path / "cache"
    pipeline.run(["stop", "matched"], data_dir=str(tiny_npz), device="cpu", quick=False,
                 results_root=results, cache_root=cache, progress=False, log=lambda *_: None,
                 experiments_dir=tmp_path / "exp", studies_dir=tmp_path / "none")
    history = json.loads((results / "stop" / "history.json").read_text())
    accuracies = [h["held_out_acc"] for h in history]
    best = int(np.argmax(accuracies)) + 1  # the first of equals
    assert [h["epoch"] for h in history if h.get("kept")] == [best]
    assert len(history) == min(8, best + 2)
    run = next(d for d in (cache / "runs").iterdir() if d.name.startswith("stop-"))
    best_weights = torch.load(run / early_stopping.BEST, weights_only=True)
    model = torch.load(results / "stop" / "model.pt", weights_only=True)
    assert all(torch.equal(best_weights[k], model[k]) for k in model)
    manifest = json.loads((results / "stop" / "manifest.json").read_text())
    assert manifest["held_out"] == 60  # 10% of 600
    assert json.loads((results / "stop" / "metrics.json").read_text())["target"]["n_train"] == 540
    # the matched run: the same images held out, every epoch trained, the last one kept
    matched = json.loads((results / "matched" / "history.json").read_text())
    assert len(matched) == 8 and "held_out_acc" not in matched[0]
    assert json.loads((results / "matched" / "metrics.json").read_text())["target"]["n_train"] == 540
    # the banks: two recipes, two banks, each model on 90% of its half
    banks = sorted(d for d in (cache / "banks").iterdir() if d.is_dir())
    assert len(banks) == 2
    a, b = (torch.load(d / "model-000.pt", weights_only=True) for d in banks)
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_a_reference_holds_out_a_seeded_share_of_its_own_images():
    from mia.training import early_stopping
    subset = torch.arange(100, 400)
    trained, held = early_stopping.holdout_split(subset, 0.1, seed=5)
    assert len(held) == 30 and len(trained) == 270
    assert sorted(trained.tolist() + held.tolist()) == subset.tolist()
    again = early_stopping.holdout_split(subset, 0.1, seed=5)[1]
    assert torch.equal(again, held) and not torch.equal(early_stopping.holdout_split(subset, 0.1, 6)[1], held)
