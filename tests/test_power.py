"""The power curve (mia.evaluation.power) against answers computed here another way: each
point is the mean over the subsets ``power_subsets`` draws for the seed, with the spread and
interval that definition gives; the sizes, the rows' keys, the missing metrics and the paired
comparisons, exactly. Fast: mutation testing runs this file."""
from math import comb

import numpy as np
import pytest

from mia import keep as keep_mod
from mia.attacks import build
from mia.evaluation import calibrated, paired, power
from mia.evaluation.roc import score_metrics

ROWS = (("lira_offline", {"variance": "global"}, 1), ("lira_online", {"variance": "global"}, 2),
        ("rmia_offline", {}, 1))


def _study(k: int, folds: int = 2, n: int = 700, seed: int = 0):
    """A study view of a fake bank of k models in rounds of ``folds`` (two augmentations) and
    its truth: 160 members and 160 non-members attacked, 40 population samples."""
    rng = np.random.default_rng(seed)
    keep = keep_mod.fold_keep(k, n, folds, seed)
    labels = rng.integers(0, 3, n)
    logits = rng.normal(0, 1, (k + 1, 2, n, 3))
    logits[:k] += 2.0 * keep[:, None, :, None] * np.eye(3)[labels]
    split = calibrated.study_split(500, 200, 40, seed)
    return calibrated.study_view(logits[k], labels, logits[:k], keep, split)


@pytest.mark.parametrize("k, folds, sizes", [(16, 2, ["2", "4", "8", "16"]), (12, 2, ["2", "4", "8", "12"]),
                                             (4, 2, ["2", "4"]), (8, 4, ["4", "8"])])
def test_the_curve_runs_from_one_round_doubling_to_the_whole_bank(k, folds, sizes):
    view, truth = _study(k, folds)
    curve, _ = power.power_curve(view, truth, k, seed=0, repeats=2, folds=folds, rows=ROWS[:1])
    assert list(curve) == sizes
    rounds = k // folds
    for size in sizes:  # every subset of rounds where there are at most 2, else 2
        want = min(comb(rounds, int(size) // folds), 2)
        assert curve[size]["lira_offline/global"]["subsets"] == want, size


@pytest.mark.parametrize("k, folds", [(2, 2), (3, 2), (6, 6)])
def test_a_bank_of_one_round_has_no_curve(k, folds):
    view, truth = _study(4)  # never read: nothing to subset
    assert power.power_curve(view, truth, k, seed=0, folds=folds, rows=ROWS[:1]) == ({}, {})


def test_each_point_is_the_mean_over_the_subsets_drawn_for_its_seed():
    """Size 4 of 8 models: 3 of the 6 pairs of pairs, drawn from the seed; each attack fitted
    and scored on each subset (the flip row with both augmentations, the others without)."""
    view, truth = _study(8)
    seed = 5
    curve, tests = power.power_curve(view, truth, 8, seed=seed, folds=2, repeats=3, rows=ROWS)
    keys = {calibrated.row_key(*row) for row in ROWS}
    assert set(curve["4"]) == keys and set(tests["steps"]) == keys  # "/flip" kept in both
    subsets = power.power_subsets(8, [2, 4, 8], 3, seed)
    other = power.power_subsets(8, [2, 4, 8], 3, seed + 1)[4]
    assert [s.tolist() for s in other] != [s.tolist() for s in subsets[4]]  # the seed matters
    for name, options, aug in ROWS:
        key = calibrated.row_key(name, options, aug)
        assert key.endswith("/flip") == (aug == 2)
        for size in (2, 4):
            point = [score_metrics(truth, build(name, **options).fit(v).score(v))
                     for v in (view.references_subset(idx).augmentations(aug) for idx in subsets[size])]
            cell = curve[str(size)][key]
            assert cell["subsets"] == 3 and cell["reference_models"] == size
            for metric in ("auc", "tpr_at_1pct_fpr"):
                values = [m[metric] for m in point]
                assert cell[metric]["mean"] == pytest.approx(np.mean(values), abs=1e-15), (key, size)
                assert cell[metric]["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-15)
                assert (cell[metric]["min"], cell[metric]["max"]) == (min(values), max(values))
                lo, hi = cell[metric]["ci95"]
                assert lo <= cell[metric]["mean"] <= hi


def test_the_whole_bank_is_one_subset_with_the_interval_of_its_score():
    view, truth = _study(4)
    curve, _ = power.power_curve(view, truth, 4, seed=3, folds=2, rows=ROWS[:1])
    whole = curve["4"]["lira_offline/global"]
    score = build("lira_offline", variance="global").fit(view.augmentations(1)).score(view.augmentations(1))
    assert whole["subsets"] == 1 and whole["auc"]["std"] == 0.0
    assert whole["auc"]["ci95"] == paired.metric_interval(truth, score, "auc", power.BOOTSTRAP, 3)
    pairs = curve["2"]["lira_offline/global"]  # both pairs: 2 subsets, a sample std
    assert pairs["subsets"] == 2 and pairs["auc"]["std"] > 0
    again, _ = power.power_curve(view, truth, 4, seed=3, folds=2, rows=ROWS[:1])
    assert again == curve  # seeded, intervals included


def test_a_cell_holds_what_was_measured_and_nothing_else():
    """160 non-members: TPR at 0.1% and 0.01% FPR cannot be read (fewer than 1 false positive
    allowed): they are recorded as missing, and the metrics around them are still there."""
    view, truth = _study(4)
    seconds = np.array([1.0, 2.0, 4.0, 8.0])
    curve, _ = power.power_curve(view, truth, 4, seed=0, folds=2, rows=ROWS, model_seconds=seconds)
    for key in ("lira_offline/global", "lira_online/global/flip", "rmia_offline"):
        cell = curve["2"][key]
        assert cell["tpr_at_0.1pct_fpr"] == {"mean": None, "std": None}
        assert cell["tpr_at_0.01pct_fpr"] == {"mean": None, "std": None}
        assert set(cell["tpr_at_1pct_fpr"]) == {"mean", "std", "min", "max", "ci95"}
        extra = {"variance"} if key.startswith("lira") else {"a"}
        assert set(cell) == {"auc", "tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr", "tpr_at_0.01pct_fpr",
                             "training_seconds", "subsets", "reference_models"} | extra, key
    assert curve["2"]["lira_offline/global"]["training_seconds"] == (1 + 2 + 4 + 8) / 2
    assert curve["2"]["lira_offline/global"]["variance"] == ["global"]
    assert len(curve["2"]["rmia_offline"]["a"]) == 2
    bare, _ = power.power_curve(view, truth, 4, seed=0, folds=2, rows=(("rmia_offline", {"a": "0.3"}, 1),))
    assert "training_seconds" not in bare["2"]["rmia_offline/0.3"]
    assert "a" not in bare["2"]["rmia_offline/0.3"] and "variance" not in bare["2"]["rmia_offline/0.3"]


def _resampled(point: float, shift: float) -> tuple[float, np.ndarray]:
    return point, point + shift * np.linspace(-1, 1, 199)


def test_paired_comparisons_take_each_step_and_tuned_minus_fixed_where_both_were_measured():
    """Steps: larger minus smaller where both sizes have the metric (TPR@0.1% is missing at 2);
    tuned minus each fixed a at every size where both rows have it."""
    means = {("rmia_offline", 2, "auc"): _resampled(0.60, 0.01),
             ("rmia_offline", 4, "auc"): _resampled(0.65, 0.01),
             ("rmia_offline", 8, "auc"): _resampled(0.66, 0.01),
             ("rmia_offline", 4, "tpr_at_0.1pct_fpr"): _resampled(0.010, 0.001),
             ("rmia_offline", 8, "tpr_at_0.1pct_fpr"): _resampled(0.020, 0.001),
             ("rmia_offline/0.3", 2, "auc"): _resampled(0.62, 0.01),
             ("rmia_offline/0.3", 8, "auc"): _resampled(0.63, 0.01),
             ("rmia_offline/0.3", 8, "tpr_at_0.1pct_fpr"): _resampled(0.015, 0.001),
             ("rmia_offline/0.3", 8, "tpr_at_1pct_fpr"): _resampled(0.05, 0.001)}  # not compared
    tests = power.power_comparisons(means, [2, 4, 8])
    assert tests["description"] == power.COMPARISONS
    steps = tests["steps"]
    assert set(steps) == {"rmia_offline"}
    assert set(steps["rmia_offline"]) == {"auc", "tpr_at_0.1pct_fpr"}
    assert set(steps["rmia_offline"]["auc"]) == {"4-2", "8-4"}
    assert set(steps["rmia_offline"]["tpr_at_0.1pct_fpr"]) == {"8-4"}
    assert steps["rmia_offline"]["auc"]["4-2"]["difference"] == pytest.approx(0.05)
    # the fixed row: 2 and 8 are not consecutive sizes, and one size is no step
    assert "rmia_offline/0.3" not in steps
    tuned = tests["tuned_minus_fixed"]
    assert set(tuned) == {"rmia_offline/0.3"}
    assert set(tuned["rmia_offline/0.3"]["auc"]) == {"2", "8"}
    assert set(tuned["rmia_offline/0.3"]["tpr_at_0.1pct_fpr"]) == {"8"}
    assert tuned["rmia_offline/0.3"]["auc"]["2"]["difference"] == pytest.approx(-0.02)
    for compared in tuned["rmia_offline/0.3"].values():
        for c in compared.values():
            assert c["p_holm"] >= c["p"]


def test_distinct_subsets_refuse_an_empty_subset_and_draw_distinct_sorted_ones():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"^a subset of 0 of 5 items$"):
        power.distinct_subsets(5, 0, 3, rng)
    drawn = power.distinct_subsets(4, 3, 3, rng)   # 4 subsets of 3 > 3 draws: drawn at random
    assert len(set(drawn)) == 3
    for c in drawn:
        assert list(c) == sorted(set(c)) and len(c) == 3 and set(c) <= {0, 1, 2, 3}


@pytest.mark.parametrize("sizes", [[3], [2, 18]])
def test_power_subsets_refuse_a_size_that_is_not_whole_rounds_of_the_bank(sizes):
    with pytest.raises(ValueError, match=rf"^subset sizes must be multiples of 2, between 2 and 16, "
                                         rf"got {sizes[-1]}$"):
        power.power_subsets(16, sizes, 10, 0)
