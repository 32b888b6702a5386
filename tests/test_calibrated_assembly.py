"""The calibrated evaluation assembled from its parts: each protocol's output is what its
documented recipe gives when the parts (views, rows, pooling, tables, power curve) are called
by hand here, on a tiny fake bank; and each part's own answer, exactly. Bootstraps are shrunk:
these tests check the assembly, not the resampling (tests/test_paired.py does). Fast:
mutation testing runs this file."""
import json

import numpy as np
import pytest

from mia import keep as keep_mod
from mia.attacks import TargetView, build
from mia.config import CalibratedConfig
from mia.evaluation import calibrated, paired, power
from mia.evaluation.roc import roc_points, score_metrics

ROWS = (("loss", {}, 1), ("gap", {}, 1), ("lira_online", {"variance": "global"}, 1),
        ("lira_online", {"variance": "global"}, 2), ("rmia_offline", {"a": "0.3"}, 1))
POWER_ROWS = (("lira_offline", {"variance": "global"}, 1),)
SMALL = {"study": 60, "leave_one_out": 50, "matched": 40, "leak_check": 30}


@pytest.fixture(autouse=True)
def small_bootstraps(monkeypatch):
    monkeypatch.setattr(calibrated, "BOOTSTRAP", dict(SMALL))
    monkeypatch.setattr(power, "BOOTSTRAP", 20)


def fake_bank(k=6, n=240, c=3, seed=0, folds=2):
    rng = np.random.default_rng(seed)
    keep = keep_mod.fold_keep(k, n, folds, seed)
    labels = rng.integers(0, c, n)
    logits = rng.normal(0, 1, (k, 2, n, c)) + 2.0 * keep[:, None, :, None] * np.eye(c)[labels]
    return keep, labels, logits.astype(np.float32)


def same(a, b) -> bool:
    """Equal as JSON (arrays as lists, floats exactly)."""
    def plain(o):
        return o.tolist() if hasattr(o, "tolist") else str(o)
    return json.dumps(a, sort_keys=True, default=plain) == json.dumps(b, sort_keys=True, default=plain)


# --- the parts ---------------------------------------------------------------------------------

def test_the_study_split_is_seeded_disjoint_and_refuses_a_population_out_of_range():
    a = calibrated.study_split(100, 40, 10, seed=3)
    assert np.array_equal(a.population, calibrated.study_split(100, 40, 10, seed=3).population)
    assert not np.array_equal(a.population, calibrated.study_split(100, 40, 10, seed=4).population)
    assert len(a.population) == 10 and len(a.eval_nonmembers) == 30 and len(a.eval_members) == 30
    assert set(a.population) | set(a.eval_nonmembers) == set(range(100, 140))
    assert not set(a.population) & set(a.eval_nonmembers)
    assert len(set(a.eval_members)) == 30 and a.eval_members.max() < 100
    assert len(calibrated.study_split(100, 40, 1, seed=0).population) == 1
    for bad in (0, 40):
        with pytest.raises(ValueError, match=rf"^population must be between 1 and 39 test images, got {bad}$"):
            calibrated.study_split(100, 40, bad, seed=0)


def test_the_study_view_attacks_members_then_non_members_with_a_boolean_truth():
    keep, labels, logits = fake_bank()
    split = calibrated.study_split(180, 60, 15, 0)
    view, truth = calibrated.study_view(logits[0], labels, logits[1:], keep[1:], split)
    assert truth.dtype == bool and truth.tolist() == [True] * 45 + [False] * 45
    attacked = np.r_[split.eval_members, split.eval_nonmembers]
    assert np.array_equal(view.labels, labels[attacked])
    assert np.array_equal(view.population_labels, labels[split.population])
    assert np.array_equal(view.ref_keep, keep[1:, attacked])


def test_the_leave_one_out_population_is_seeded():
    a = calibrated.loo_population(240, 20, seed=2)
    assert len(set(a.tolist())) == 20 and list(a) == sorted(a)
    assert np.array_equal(a, calibrated.loo_population(240, 20, seed=2))
    assert not np.array_equal(a, calibrated.loo_population(240, 20, seed=3))


def _view(keep):
    keep = np.asarray(keep, bool)
    r, n = keep.shape
    return TargetView(np.zeros((1, n, 2)), np.zeros(n, np.int64), np.zeros((r, 1, n, 2)), keep,
                      np.zeros((1, 2, 2)), np.zeros(2, np.int64), np.zeros((r, 1, 2, 2)),
                      np.zeros((r, 2), bool))


def test_out_references_count_the_references_that_left_each_sample_out():
    view = _view([[True, False, False], [True, True, False], [True, False, False]])
    assert calibrated.out_references(view) == {"mean": (0 + 2 + 3) / 3, "min": 0}
    probe = calibrated.in_count_probe(view)
    assert probe.dtype == np.float64 and probe.tolist() == [-3.0, -1.0, -0.0]


def test_a_row_that_cannot_be_computed_says_why_and_the_rows_after_it_are_computed():
    keep, labels, logits = fake_bank()
    split = calibrated.study_split(180, 60, 15, 0)
    view, _ = calibrated.study_view(logits[0], labels, logits[4:], keep[4:], split)  # one pair
    rows = calibrated.score_rows(view, (("lira_online", {"variance": "per_sample"}, 2),
                                        ("loss", {}, 1)))
    assert rows["lira_online/per_sample/flip"] == {
        "not_computed": "per-sample variance needs >= 2 models per side; sample 0 has 1"}
    assert set(rows["loss"]) == {"score"}


def test_pooling_concatenates_scores_and_merges_what_each_target_resolved():
    per_target = {
        "lira_offline/auto": [
            {"score": np.array([1.0, 2.0]), "out_references": {"mean": 2.0, "min": 1}, "variance": "global"},
            {"score": np.array([3.0]), "out_references": {"mean": 3.0, "min": 2}, "variance": "per_sample"},
            {"score": np.array([4.0]), "out_references": {"mean": 4.0, "min": 3}, "variance": "global"}],
        "rmia_offline": [{"score": np.array([0.1]), "a": 0.3}, {"score": np.array([0.2]), "a": 0.3}],
        "lira_online/per_sample": [{"score": np.array([5.0])}, {"not_computed": "too few"}],
        "alone": [{"score": np.array([7.0]), "out_references": {"mean": 1.5, "min": 1}}],
        "loss": [{"score": np.array([0.5])}, {"score": np.array([0.6])}],
    }
    pooled = calibrated._pool(per_target)
    assert list(pooled) == list(per_target)  # a failed row does not end the pooling
    assert same(pooled["lira_offline/auto"], {"score": [1.0, 2.0, 3.0, 4.0],
                                              "out_references": {"mean": 3.0, "min": 1},
                                              "variance": ["global", "per_sample"]})
    assert same(pooled["rmia_offline"], {"score": [0.1, 0.2], "a": [0.3, 0.3]})  # a per target
    assert pooled["lira_online/per_sample"] == {"not_computed": "too few"}
    assert same(pooled["alone"], {"score": [7.0], "out_references": {"mean": 1.5, "min": 1}})
    assert same(pooled["loss"], {"score": [0.5, 0.6]})


# --- one table ---------------------------------------------------------------------------------

def _scored(n=400, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.r_[np.ones(n // 2, bool), np.zeros(n // 2, bool)]
    base = truth * 1.0 + rng.normal(0, 1, n)
    return truth, {
        "loss": {"score": base},
        "gap": {"score": (base > 0.5) * 1.0},
        "lira_online/global": {"score": base + rng.normal(0, 0.5, n), "variance": "global"},
        "lira_online/global/flip": {"score": base + rng.normal(0, 0.3, n), "variance": "global"},
        "rmia_online/flip": {"score": base + rng.normal(0, 0.3, n)},  # no plain row
        "lira_online/per_sample": {"not_computed": "too few"},
    }


@pytest.mark.parametrize("grouped", [False, True])
def test_a_table_is_each_rows_metrics_intervals_and_paired_comparisons_on_one_bootstrap(grouped):
    truth, scored = _scored(n=2000)
    groups = np.arange(len(truth)) % 500 if grouped else None
    rows, best = calibrated.table(truth, scored, 200, 7, groups)
    scores = {k: e["score"] for k, e in scored.items() if "score" in e}
    reps = paired.replicates(truth, scores, 200, 7, groups)
    assert rows["lira_online/per_sample"] == {"not_computed": "too few"}
    for key, score in scores.items():
        want = score_metrics(truth, score)
        want["ci95"] = {k: paired.interval(reps[key][k]) for k in calibrated.INTERVAL_METRICS}
        want["bootstrap"] = 200
        want.update({k: v for k, v in scored[key].items() if k != "score"})
        want["roc"] = roc_points(truth, score)
        if key == "lira_online/global/flip":
            plain = "lira_online/global"
            want["vs_plain"] = {
                m: paired.differences({key: want[m], plain: rows[plain][m]},
                                      {key: reps[key][m], plain: reps[plain][m]}, key)[plain]
                for m in calibrated.STRONGEST_METRICS if want[m] is not None}
        assert same(rows[key], want), key
    assert set(best) == set(calibrated.STRONGEST_METRICS)
    for metric in calibrated.STRONGEST_METRICS:
        ranked = [k for k in scores if metric == "auc" or k != "gap"]
        points = {k: rows[k][metric] for k in ranked}
        values = {k: reps[k][metric] for k in ranked}
        want = paired.strongest_of(points, values, metric, 200, grouped)
        assert "policy" in want  # 200 resamples resolve 4 comparisons: the policy is stated
        if points["loss"] is not None:
            want["versus_baseline"] = paired.versus(points, values, "loss", 200, grouped)
        assert same(best[metric], want), metric
    assert "versus_baseline" in best["tpr_at_0.1pct_fpr"]  # 1,000 non-members: measured


def test_a_table_without_a_bootstrap_has_point_metrics_only():
    truth, scored = _scored()
    rows, best = calibrated.table(truth, scored, 0, 7, curves=False)
    assert best == {}
    assert same(rows["lira_online/global/flip"],
                {**score_metrics(truth, scored["lira_online/global/flip"]["score"]), "variance": "global"})
    rows, best = calibrated.table(truth, scored, 50, 7)  # curves by default
    assert "roc" in rows["loss"] and "vs_plain" in rows["lira_online/global/flip"]


def test_the_loss_comparison_is_left_out_where_the_loss_row_is_missing_or_unmeasured():
    truth, scored = _scored(n=200)  # 100 non-members: TPR at 0.1% FPR is not measured
    _, best = calibrated.table(truth, scored, 50, 7)
    assert best["tpr_at_0.1pct_fpr"].get("versus_baseline") is None
    assert "versus_baseline" in best["auc"]
    del scored["loss"]
    _, best = calibrated.table(truth, scored, 50, 7)
    assert "versus_baseline" not in best["auc"]


# --- the protocols -----------------------------------------------------------------------------

def _leave_one_out_by_hand(logits, keep, labels, seed, folds, rows):
    n, k = len(labels), len(keep)
    z_pool = calibrated.loo_population(n, n // calibrated.LOO_POPULATION_FRACTION, seed)
    attacked = np.setdiff1d(np.arange(n), z_pool)
    pooled, probes, truths = {}, {}, []
    for t in range(k):
        v, tr, refs = calibrated.loo_view(t, logits, keep, labels, z_pool, folds)
        assert not set(keep_mod.round_of(t, folds)) & set(refs.tolist())
        truths.append(tr)
        for key, entry in calibrated.score_rows(v, rows).items():
            pooled.setdefault(key, []).append(entry)
        leaky, _, _ = calibrated.loo_view(t, logits, keep, labels, z_pool, 1)  # only t dropped
        for name, view in (("round_dropped", v.augmentations(1)), ("round_kept", leaky.augmentations(1))):
            probes.setdefault(f"in_count/{name}", []).append({"score": calibrated.in_count_probe(view)})
            probes.setdefault(f"rmia_online/{name}", []).append(
                {"score": build("rmia_online").fit(view).score(view)})
    truth, groups = np.concatenate(truths), np.tile(attacked, k)
    return z_pool, attacked, truth, groups, pooled, probes


@pytest.mark.parametrize("k, folds", [(6, 2), (8, 4)])
def test_leave_one_out_pools_every_target_with_the_other_rounds_as_references(k, folds):
    """Pairs, and rounds of 4 (each model keeps 3/4: as many members as non-members no more)."""
    keep, labels, logits = fake_bank(k, folds=folds)
    out = calibrated.leave_one_out(logits, keep, labels, seed=1, folds=folds, rows=ROWS, progress=False)
    z_pool, attacked, truth, groups, pooled, probes = _leave_one_out_by_hand(logits, keep, labels, 1, folds, ROWS)
    rows, best = calibrated.table(truth, calibrated._pool(pooled), SMALL["leave_one_out"], 1, groups)
    leak, _ = calibrated.table(truth, calibrated._pool(probes), SMALL["leak_check"], 1, groups,
                               curves=False)
    assert same(out["rows"], rows) and same(out["strongest"], best)
    assert same(out["leak_check"], {"description": calibrated.LEAK_CHECK_DESCRIPTION, "rows": leak})
    assert "roc" not in out["leak_check"]["rows"]["in_count/round_kept"]
    assert {k: v for k, v in out.items() if k not in ("rows", "strongest", "leak_check")} == {
        "description": calibrated.LOO_DESCRIPTION, "targets": k, "references_per_target": k - folds,
        "folds": folds, "population_z_pool": len(z_pool), "n_members": int(truth.sum()),
        "n_nonmembers": int((~truth).sum()), "n_images": len(attacked),
        "resampled": calibrated.RESAMPLED["leave_one_out"]}
    assert 0 < truth.sum() < len(truth)


@pytest.mark.parametrize("k, folds, refs, draws", [(8, 2, 2, 3), (12, 2, 4, 5), (12, 4, 4, 2)])
def test_matched_leave_one_out_draws_subsets_of_the_other_rounds_per_target(k, folds, refs, draws):
    """8 models in pairs: 1 of the 3 other pairs, every one; 12: 2 of the 4 other pairs, 5 of
    the 6 drawn from the seed; 12 in rounds of 4: 1 of the 2 other rounds, each keeping 3/4."""
    keep, labels, logits = fake_bank(k=k, folds=folds)
    seed = 2
    out = calibrated.matched_leave_one_out(logits, keep, labels, seed, folds, refs, progress=False)
    n = len(labels)
    z_pool = calibrated.loo_population(n, n // calibrated.LOO_POPULATION_FRACTION, seed)
    attacked = np.setdiff1d(np.arange(n), z_pool)
    rng = np.random.default_rng(np.random.SeedSequence([seed, calibrated.MATCHED_STREAM, refs]))
    pooled, truths = {}, []
    for t in range(k):
        v, tr, other = calibrated.loo_view(t, logits, keep, labels, z_pool, folds)
        subsets = power.distinct_subsets(len(other) // folds, refs // folds, calibrated.MATCHED_DRAWS, rng)
        assert len(subsets) == draws
        for c in subsets:
            idx = np.concatenate([np.arange(folds * j, folds * (j + 1)) for j in c])
            truths.append(tr)
            for key, entry in calibrated.score_rows(v.references_subset(idx), calibrated.MATCHED_ROWS).items():
                pooled.setdefault(key, []).append(entry)
    truth = np.concatenate(truths)
    rows, best = calibrated.table(truth, calibrated._pool(pooled), SMALL["matched"], seed,
                                  np.tile(attacked, k * draws), curves=False)
    assert same(out["rows"], rows) and same(out["strongest"], best)
    assert {k: v for k, v in out.items() if k not in ("rows", "strongest")} == {
        "description": f"leave-one-out with {refs} references per target: distinct subsets of "
                       f"the other rounds per target, pooled",
        "references_per_target": refs, "targets": k, "subsets_per_target": [draws],
        "n_members": int(truth.sum()), "n_nonmembers": int((~truth).sum()),
        "n_images": len(attacked), "resampled": calibrated.RESAMPLED["matched"]}


@pytest.mark.parametrize("refs", [0, 3, 6])
def test_matched_leave_one_out_refuses_a_count_that_is_not_whole_rounds_of_the_others(refs):
    keep, labels, logits = fake_bank(k=8)
    with pytest.raises(ValueError, match=rf"^leave-one-out references must be a multiple of 2 "
                                         rf"between 2 and 4 for a bank of 8, got {refs}$"):
        calibrated.matched_leave_one_out(logits, keep, labels, 0, 2, refs, progress=False)


def test_evaluate_runs_both_protocols_and_the_power_curve_from_one_seed():
    keep, labels, logits = fake_bank(k=6, n=240)
    target, n_train, seed = logits[0] + 0.1, 180, 4
    seconds = np.arange(1.0, 7.0)
    out = calibrated.evaluate(target, labels, n_train, logits, keep, seed, folds=2, rows=ROWS,
                              power_rows=POWER_ROWS, progress=False, model_seconds=seconds,
                              loo_references=(2,))
    split = calibrated.study_split(n_train, 60, 60 // calibrated.STUDY_POPULATION_FRACTION, seed)
    view, truth = calibrated.study_view(target, labels, logits, keep, split)
    rows, best = calibrated.table(truth, calibrated.score_rows(view, ROWS), SMALL["study"], seed)
    curve, tests = power.power_curve(view, truth, 6, seed, 2, rows=POWER_ROWS,
                                     model_seconds=seconds)
    study = out["protocols"]["study"]
    assert same(study, {"description": calibrated.STUDY_DESCRIPTION, "references": 6, "folds": 2,
                        "population_z": 15, "n_members": 45, "n_nonmembers": 45,
                        "resampled": calibrated.RESAMPLED["study"], "rows": rows, "strongest": best,
                        "power_vs_references": curve, "power_comparisons": tests})
    assert out["rows"] == [calibrated.row_key(*r) for r in ROWS]
    assert out["fprs"] == calibrated.FPRS and out["not_computed"] == {}
    loo = out["protocols"]["leave_one_out"]
    assert same(loo, calibrated.leave_one_out(logits, keep, labels, seed, 2, ROWS, progress=False,
                                              loo_references=(2,)))
    assert set(loo["matched"]) == {"2"}


def test_a_bank_of_two_rounds_has_leave_one_out():
    keep, labels, logits = fake_bank(k=4, n=240)
    out = calibrated.evaluate(logits[0], labels, 180, logits, keep, 0, 2, rows=ROWS[:1],
                              power_rows=POWER_ROWS, progress=False)
    assert set(out["protocols"]) == {"study", "leave_one_out"} and out["not_computed"] == {}
    assert out["protocols"]["leave_one_out"]["references_per_target"] == 2


def test_a_bank_of_one_round_has_no_leave_one_out_and_says_why():
    keep, labels, logits = fake_bank(k=2, n=240)
    out = calibrated.evaluate(logits[0], labels, 180, logits, keep, 0, 2, rows=ROWS[:1],
                              power_rows=POWER_ROWS, progress=False)
    assert set(out["protocols"]) == {"study"}
    assert out["not_computed"] == {"leave_one_out": "the bank is one round of 2 models: leaving "
                                                    "out a target's round leaves no references"}


def test_the_settings_record_everything_that_determines_the_output():
    got = calibrated.settings(ROWS, POWER_ROWS, folds=4, loo_references=(2, 4))
    assert got == {
        "version": calibrated.VERSION, "rows": [list(r) for r in ROWS],
        "power": [list(r) for r in POWER_ROWS], "folds": 4, "fprs": calibrated.FPRS,
        "bootstrap": SMALL, "power_bootstrap": 20, "power_repeats": power.POWER_REPEATS,
        "study_population_fraction": 4, "loo_population_fraction": 12,
        "strongest_metrics": calibrated.STRONGEST_METRICS, "alpha": paired.ALPHA,
        "baseline_row": "loss", "segment_only": ("gap",),
        "matched": {"references": [2, 4], "rows": [list(r) for r in calibrated.MATCHED_ROWS],
                    "draws": calibrated.MATCHED_DRAWS}}
    default = calibrated.settings()
    assert default["rows"] == [list(r) for r in calibrated.DEFAULT_ROWS]
    assert default["power"] == [list(r) for r in power.DEFAULT_POWER]
    assert default["folds"] == 2 and default["matched"]["references"] == []


def test_configured_rows_read_the_config_or_fall_back_to_the_defaults():
    assert calibrated.configured_rows(CalibratedConfig()) == (calibrated.DEFAULT_ROWS, power.DEFAULT_POWER)
    rows, power_rows = calibrated.configured_rows(CalibratedConfig(
        attacks=("loss", "lira_online/global/flip"), power_attacks=("rmia_offline/0.3",)))
    assert rows == (("loss", {}, 1), ("lira_online", {"variance": "global"}, 2))
    assert power_rows == (("rmia_offline", {"a": "0.3"}, 1),)
