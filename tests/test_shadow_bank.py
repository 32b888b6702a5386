"""Study 001's setting: shadow models on the attacker's own data (``[bank] population =
"attacker"``), Shokri's classifier trained there (``shokri/population``), and the disjoint
evaluation (``disjoint.evaluate_disjoint``)."""
import json

import numpy as np
import pytest

from conftest import write_experiment
from mia import config, keep
from mia.attacks import TargetView
from mia.attacks.shadow import MlLeaks, Shokri
from mia.errors import UserError
from mia.evaluation import disjoint


# ---------------------------------------------------------------- the keep-matrix
def test_no_shadow_model_trains_on_a_target_member_or_an_evaluated_nonmember():
    """Population: 300 members, 100 test images, then 500 attacker images (indices 400..899).
    Each pair draws 2 x 150 of the attacker's images: the halves are disjoint, every kept
    image is the attacker's, and the draw is the seed's."""
    attacker = range(400, 900)
    k = keep.attacker_keep(6, 900, attacker, 150, seed=3)
    assert k.shape == (6, 900) and not k[:, :400].any()
    assert (k.sum(1) == 150).all() and not (k[0::2] & k[1::2]).any()
    assert not np.array_equal(k[0], k[2])  # each round draws anew
    assert np.array_equal(k, keep.attacker_keep(6, 900, attacker, 150, seed=3))
    assert not np.array_equal(k, keep.attacker_keep(6, 900, attacker, 150, seed=4))
    keep.check_attacker_keep(k, 6, 900, attacker, 150, "k")  # passes
    leaky = k.copy()
    leaky[1, 5] = True  # a target member
    with pytest.raises(UserError, match="keeps sample 5, which is not the attacker's"):
        keep.check_attacker_keep(leaky, 6, 900, attacker, 150, "k")
    shared = k.copy()
    shared[1] = k[0]
    with pytest.raises(UserError, match="share a sample"):
        keep.check_attacker_keep(shared, 6, 900, attacker, 150, "k")


def test_the_shadow_size_is_the_targets_unless_the_attacker_has_too_few_images():
    assert keep.shadow_size(6_000, 54_000) == 6_000
    assert keep.shadow_size(30_000, 30_000) == 15_000
    with pytest.raises(UserError, match="too few images"):
        keep.attacker_keep(2, 10, range(5, 10), 3, seed=0)
    with pytest.raises(UserError, match="positive even number"):
        keep.attacker_keep(3, 10, range(0, 10), 2, seed=0)


# ---------------------------------------------------------------- the attack
def view_where_in_means_confident(seed=0, n=200, m=400, r=4, c=3):
    """Shadows' outputs on the attacker's data: a sample a shadow kept gets a confident true
    class (logit 6), one it left out a weak one (logit 1). The attacked samples: the target's
    members confident, its non-members weak; every shadow left every attacked sample out."""
    rng = np.random.default_rng(seed)
    pop_labels = rng.integers(0, c, m)
    pop_keep = np.zeros((r, m), bool)
    for j in range(r):
        pop_keep[j, rng.permutation(m)[: m // 2]] = True
    pop_refs = rng.normal(0, 0.3, (r, 1, m, c))
    pop_refs[:, 0, np.arange(m), pop_labels] += np.where(pop_keep, 6.0, 1.0)
    labels = rng.integers(0, c, n)
    truth = np.arange(n) < n // 2
    target = rng.normal(0, 0.3, (1, n, c))
    target[0, np.arange(n), labels] += np.where(truth, 6.0, 1.0)
    refs = rng.normal(0, 0.3, (r, 1, n, c))
    refs[:, 0, np.arange(n), labels] += 1.0
    view = TargetView(target, labels, refs, np.zeros((r, n), bool), target[:, :0], labels[:0],
                      pop_refs, pop_keep)
    return view, truth, pop_labels


@pytest.mark.parametrize("cls", [Shokri, MlLeaks])
def test_the_classifier_learns_from_the_attackers_data_and_finds_the_members(cls):
    view, truth, pop_labels = view_where_in_means_confident()
    view = TargetView(view.target_logits, view.labels, view.ref_logits, view.ref_keep,
                      view.population_refs[0], pop_labels, view.population_refs,
                      view.population_keep)
    score = cls(train_on="population").fit(view).score(view)
    assert (score[truth] > 0.5).mean() > 0.95 and (score[~truth] < 0.5).mean() > 0.95
    # trained on the attacked samples instead, every row is OUT: nothing to learn, all 0.5
    assert np.all(cls().fit(view).score(view) == 0.5)


def test_train_on_is_checked():
    with pytest.raises(ValueError, match="train_on must be one of attacked, population"):
        Shokri(train_on="shadows")


# ---------------------------------------------------------------- the evaluation
def test_evaluate_disjoint_reports_the_studys_table_with_intervals():
    """Population: 100 members, 60 test images, 200 attacker images; 4 shadows of 40 images.
    The evaluated set is balanced: 60 members and the 60 test images."""
    rng = np.random.default_rng(1)
    n_m, n_t, n_a, c = 100, 60, 200, 3
    n = n_m + n_t + n_a
    labels = rng.integers(0, c, n)
    k = keep.attacker_keep(4, n, range(n_m + n_t, n), 40, seed=0)
    member = np.zeros(n, bool)
    member[:n_m] = True
    target = rng.normal(0, 0.3, (1, n, c))
    target[0, np.arange(n), labels] += np.where(member, 6.0, 1.0)
    bank = rng.normal(0, 0.3, (4, 1, n, c))
    bank[:, 0, np.arange(n), labels] += np.where(k, 6.0, 1.0)
    out = disjoint.evaluate_disjoint(target, labels, n_m, n_t, bank, k, seed=0,
                                       rows=(("loss", {}, 1), ("shokri", {"train_on": "population"}, 1)))
    study = out["protocols"]["study"]
    assert (study["n_members"], study["n_nonmembers"], study["population_z"]) == (60, 60, 200)
    row = study["rows"]["shokri/population"]
    assert row["auc"] > 0.95 and row["at_decision"]["accuracy"] > 0.9
    assert set(row["at_decision"]) == {"accuracy", "precision", "recall", "f1"}
    assert row["attack_seconds"] >= 0 and "ci95" in row
    assert "at_decision" not in study["rows"]["loss"]
    assert set(out["not_computed"]) == {"leave_one_out", "power_vs_references"}
    leaky = k.copy()
    leaky[0, 3] = True
    with pytest.raises(ValueError, match="trained on a target member"):
        disjoint.evaluate_disjoint(target, labels, n_m, n_t, bank, leaky, seed=0)


# ---------------------------------------------------------------- settings
BASE = 'description = "x"\n[data]\ntrain_fraction = 0.5\n[bank]\nmodels = 2\npopulation = "attacker"\n'


@pytest.mark.parametrize("text, message", [
    (BASE.replace('"attacker"', '"shadows"'), r"population must be one of all, attacker, got 'shadows'"),
    (BASE.replace("train_fraction = 0.5", "train_fraction = 1.0"), "needs attacker data"),
    (BASE.replace("models = 2", "models = 6\nfolds = 3"), "folds must be 2, got 3"),
    (BASE + '[calibrated]\nattacks = ["shokri"]\n', r"use an offline attack, or a classifier on the attacker's data \(\"shokri/population\"\)"),
    (BASE + '[calibrated]\nattacks = ["lira_online"]\n', "needs references that trained on the attacked samples"),
    (BASE + '[calibrated]\npower_attacks = ["lira_offline"]\n', "power_attacks and leave_one_out_references need"),
])
def test_bad_shadow_bank_settings_are_one_line(tmp_path, text, message):
    write_experiment(tmp_path, "e", text)
    with pytest.raises(UserError, match=message):
        config.load_named("e", tmp_path)


def test_a_shadow_bank_runs_end_to_end_and_keeps_away_from_the_targets_data(tmp_path, tiny_npz):
    """The tiny dataset (600 training, 200 test images): the target keeps half the training
    images (300); the shadows draw from the other 300 (150 each, the attacker's images) and
    never from the members or the test images."""
    from mia import pipeline
    from mia.training import bank as bank_mod

    write_experiment(tmp_path / "exp", "shadow", """
description = "shadow bank"
seed = 2
figures = false
[data]
train_fraction = 0.5
[train]
epochs = 1
batch_size = 64
[attack]
sampling_percentages = [50]
repeats = 1
kde_grid_points = 64
[bank]
models = 2
population = "attacker"
""")
    results = tmp_path / "results"
    pipeline.run(["shadow"], data_dir=str(tiny_npz), device="cpu", quick=False, results_root=results,
                 cache_root=tmp_path / "cache", progress=False, log=lambda *_: None,
                 experiments_dir=tmp_path / "exp", studies_dir=tmp_path / "none")
    info = json.loads((results / "shadow" / "bank" / "bank.json").read_text())
    assert info["keeps"] == 150 and info["population"] == 300 + 200 + 300  # members, test, attacker
    k = bank_mod.read_keep(results / "shadow" / "bank" / "keep.npz")[0]
    assert k.shape == (2, 800) and not k[:, :500].any() and (k.sum(1) == 150).all()
    cal = json.loads((results / "shadow" / "calibrated.json").read_text())
    study = cal["protocols"]["study"]
    assert study["n_members"] == study["n_nonmembers"] == 200 and study["population_z"] == 300
    assert "at_decision" in study["rows"]["shokri/population"]
    assert "shokri/population" in (results / "shadow" / "calibrated.md").read_text()
    # figures = false: the numbers only, and a manifest that lists no figure
    assert not (results / "shadow" / "figures").exists()
    manifest = json.loads((results / "shadow" / "manifest.json").read_text())
    assert not [f for f in manifest["files"] if f.startswith("figures/")]
    assert {"model.pt", "scores.npz", "metrics.json", "calibrated.json"} <= set(manifest["files"])
