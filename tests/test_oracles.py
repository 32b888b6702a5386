"""Known answers, computed by hand, for every number the metrics layer publishes.

Each case is small enough to check on paper; the comments give the arithmetic. Members are
the positive class; a loss below the threshold means "member".
"""
import csv
import json

import numpy as np
import pytest
import torch

from mia import config, metrics, report, scores
from mia.attacks import SignalView, kde_threshold
from mia.evaluation import threshold

# ---------------------------------------------------------------- one repeat: run_once
# Attacker: members at losses 0.1-0.2, non-members at 0.6-0.95, so the two densities cross
# somewhere in (0.3, 0.6); the evaluation losses avoid that interval, so every prediction
# is known without knowing the exact threshold.
ATTACKER_M = np.array([0.10, 0.12, 0.15, 0.18, 0.20])
ATTACKER_N = np.array([0.60, 0.70, 0.80, 0.85, 0.95])
EVAL_M = np.array([0.10, 0.20, 0.80, 0.25])   # predicted member, member, NOT, member
EVAL_N = np.array([0.90, 0.15, 0.85, 0.95])   # predicted NOT, member, NOT, NOT


@pytest.fixture  # per test: mutation testing attributes a module fixture to one test only
def one_run():
    return threshold.run_once("kde_threshold", {"grid_points": 512}, ATTACKER_M, ATTACKER_N,
                            EVAL_M, EVAL_N)


def test_run_once_threshold_lies_between_the_classes(one_run):
    assert 0.3 < one_run["threshold"] < 0.6
    # the options reach the attack: the threshold of a 512-point grid, not of the default
    fit = kde_threshold.KDEThreshold(grid_points=512).fit(SignalView(ATTACKER_M, ATTACKER_N))
    assert one_run["threshold"] == fit.threshold and one_run["threshold_method"] == fit.method


def test_run_once_thresholded_metrics(one_run):
    # TP = 3 (0.10, 0.20, 0.25), FN = 1 (0.80); FP = 1 (0.15), TN = 3.
    assert one_run["confusion_matrix"] == [[3, 1], [1, 3]]
    assert one_run["accuracy"] == 6 / 8
    assert one_run["precision"] == 3 / 4 and one_run["recall"] == 3 / 4
    assert one_run["f1"] == pytest.approx(3 / 4)


def test_run_once_threshold_free_metrics(one_run):
    """Losses in order: 0.10 M, 0.15 N, 0.20 M, 0.25 M, 0.80 M, 0.85 N, 0.90 N, 0.95 N.

    AUC = P(member loss < non-member loss) over the 16 pairs: 0.10 beats 4, 0.20, 0.25 and
    0.80 beat 3 each: 13/16. The best threshold admits the first five (TPR 1, FPR 1/4):
    advantage 3/4, balanced accuracy 7/8, threshold halfway between 0.80 and 0.85. Four
    non-members cannot resolve an FPR of 1% (one false positive is already 25%): TPR there
    is null, with the reason."""
    assert one_run["auc"] == 13 / 16
    assert one_run["advantage"] == 3 / 4
    assert one_run["best_accuracy"] == 7 / 8
    assert one_run["best_threshold"] == pytest.approx(0.825)
    assert one_run["tpr_at_1pct_fpr"] is None and one_run["tpr_at_0.1pct_fpr"] is None
    assert one_run["unresolved"]["tpr_at_1pct_fpr"] == \
        "needs at least 100 non-members, the evaluation has 4"


def test_tpr_at_one_and_at_a_tenth_of_a_percent_differ_where_they_should():
    """100 members, 1,000 non-members. Membership scores: 10 members at 10, one non-member at
    9.5, four at 9, then 90 members at 0 and 995 non-members at -1. At FPR 0.1% (one false
    positive) TPR is 10/100; at FPR 1% (ten) the four at 9 and all members fit: TPR 1."""
    y = np.r_[np.ones(100, bool), np.zeros(1000, bool)]
    s = np.r_[np.full(10, 10.0), np.zeros(90), 9.5, np.full(4, 9.0), np.full(995, -1.0)]
    got = metrics.threshold_free(y, s)
    assert got["tpr_at_0.1pct_fpr"] == pytest.approx(0.1)
    assert got["tpr_at_1pct_fpr"] == pytest.approx(1.0)
    assert got["auc"] == pytest.approx((10 * 1000 + 90 * 995) / (100 * 1000))


# ---------------------------------------------------------------- aggregation over repeats
RUNS = [
    {"repeat": 0, "accuracy": 0.5, "confusion_matrix": [[5, 3], [0, 2]]},
    {"repeat": 1, "accuracy": 0.7, "confusion_matrix": [[7, 1], [2, 4]]},
    {"repeat": 2, "accuracy": 0.9, "confusion_matrix": [[6, 2], [1, 3]]},
]


def test_a_single_repeat_has_std_zero():
    got = metrics.summarize_repeats(RUNS[:1])
    assert got["summary"]["accuracy"] == {"mean": 0.5, "std": 0.0}
    assert got["confusion_matrix"]["mean_normalized"] == [[5 / 8, 3 / 8], [0.0, 1.0]]


def test_summary_is_mean_and_sample_std_over_every_repeat():
    got = metrics.summarize_repeats(RUNS)
    assert got["summary"]["accuracy"]["mean"] == pytest.approx(0.7)
    assert got["summary"]["accuracy"]["std"] == pytest.approx(0.2)  # ddof = 1
    assert set(got["summary"]) == {"accuracy"}  # integers (the repeat index) are not averaged


def test_confusion_matrix_mean_and_row_normalisation():
    """Mean counts [[6, 2], [1, 3]]; each row over its own sum (rows are the truth):
    [[6/8, 2/8], [1/4, 3/4]]. Over columns it would be [[6/7, 2/5], [1/7, 3/5]]."""
    got = metrics.summarize_repeats(RUNS)["confusion_matrix"]
    assert got["mean_counts"] == [[6.0, 2.0], [1.0, 3.0]]
    assert got["mean_normalized"] == [[0.75, 0.25], [0.25, 0.75]]


# ---------------------------------------------------------------- the attack stage
def _scores(n_m=400, n_n=200, seed=0):
    rng = np.random.default_rng(seed)
    loss = np.r_[rng.exponential(0.5, n_m), rng.exponential(1.5, n_n)]
    return {"cross_entropy": loss, "probability_loss": loss.copy(),
            "normalized_probability_loss": 1 - np.exp(-loss),
            "is_member": np.r_[np.ones(n_m, bool), np.zeros(n_n, bool)]}


def _config(**attack):
    return config.from_dict({"attack": {"sampling_percentages": [10, 50], "repeats": 3,
                                        "kde_grid_points": 256, **attack}}, "oracle")


def test_every_score_is_attacked_on_the_same_attacker_samples():
    """Two scores with identical values must give identical results, repeat by repeat: each
    (percentage, repeat) draws one sample for all scores."""
    s = _scores()
    got = threshold.attack_stage(_config(), s, progress=False)["results"]
    assert got["cross_entropy"] == got["probability_loss"]


def test_attack_stage_cells_agree_with_run_once_on_the_drawn_split():
    s = _scores()
    cfg = _config()
    got = threshold.attack_stage(cfg, s, progress=False)["results"]["cross_entropy"]["10"]
    m, n = s["cross_entropy"][s["is_member"]], s["cross_entropy"][~s["is_member"]]
    for r in range(3):
        split = threshold.sample_split(len(m), len(n), 10,
                                     np.random.default_rng(threshold.split_seed(cfg.seed, 10, r)))
        expected = threshold.run_once("kde_threshold", {"grid_points": 256}, m[split.attacker_members],
                                    n[split.attacker_nonmembers], m[split.eval_members],
                                    n[split.eval_nonmembers])
        assert got["repeats"][r] == {"repeat": r, **expected}
    assert got["n_attacker_members"] == 40 and got["n_attacker_nonmembers"] == 20
    assert got["n_eval_per_class"] == 180  # all 180 remaining non-members, as many members
    accuracies = [run["accuracy"] for run in got["repeats"]]
    assert got["summary"]["accuracy"]["mean"] == pytest.approx(np.mean(accuracies))
    assert got["summary"]["accuracy"]["std"] == pytest.approx(np.std(accuracies, ddof=1))


def test_attack_stage_header_and_cells_as_metrics_json_records_them():
    """The keys and values the verdict and the deck read: the attack's name, the repeats, which
    class is positive and how a prediction is made, and each cell's percentage."""
    got = threshold.attack_stage(_config(), _scores(), progress=False)
    assert {k: v for k, v in got.items() if k != "results"} == {
        "name": "kde_threshold", "repeats": 3, "positive_class": "member",
        "prediction": "member when score < threshold",
        "confusion_matrix_labels": ["non-member", "member"]}
    assert list(got["results"]) == ["cross_entropy", "probability_loss",
                                    "normalized_probability_loss"]
    for cells in got["results"].values():
        assert list(cells) == ["10", "50"]
        assert [c["sampling_percentage"] for c in cells.values()] == [10.0, 50.0]
        assert list(cells["50"])[:4] == ["sampling_percentage", "n_attacker_members",
                                          "n_attacker_nonmembers", "n_eval_per_class"]
        assert (cells["50"]["n_attacker_members"], cells["50"]["n_eval_per_class"]) == (200, 100)


def test_run_once_fits_on_the_attackers_sample_and_predicts_the_evaluation_set():
    """The threshold comes from the attacker's losses only: the same evaluation set with
    another attacker sample gives another threshold, another evaluation set the same one."""
    a = threshold.run_once("kde_threshold", {"grid_points": 512}, ATTACKER_M, ATTACKER_N,
                           EVAL_M, EVAL_N)
    b = threshold.run_once("kde_threshold", {"grid_points": 512}, ATTACKER_M, ATTACKER_N,
                           EVAL_M + 10, EVAL_N + 10)
    c = threshold.run_once("kde_threshold", {"grid_points": 512}, ATTACKER_M + 0.5, ATTACKER_N,
                           EVAL_M, EVAL_N)
    assert a["threshold"] == b["threshold"] != c["threshold"]


def test_all_samples_metrics_by_hand():
    """All members vs all non-members, the run_once evaluation set as the whole data."""
    s = {"cross_entropy": np.r_[EVAL_M, EVAL_N], "is_member": np.r_[np.ones(4, bool), np.zeros(4, bool)]}
    got = threshold.full_roc_stage(_config(scores=["cross_entropy"]), s)["cross_entropy"]
    assert got["auc"] == 13 / 16 and got["advantage"] == 3 / 4 and got["best_accuracy"] == 7 / 8
    assert got["best_threshold"] == pytest.approx(0.825)  # on the loss scale, like the repeats


# ---------------------------------------------------------------- summary.csv and summary.md
def _metrics_for_tables():
    cell = {"sampling_percentage": 10, "n_attacker_members": 40, "n_attacker_nonmembers": 20,
            "n_eval_per_class": 180,
            "summary": {m: {"mean": 0.5 + i / 100, "std": i / 1000}
                        for i, m in enumerate(report.SUMMARY_METRICS)}}
    return {"experiment": "oracle", "description": "tables", "data_notes": "",
            "target": {"train_accuracy": 0.9, "test_accuracy": 0.6,
                       "reference": {"train_accuracy": 0.9284, "test_accuracy": 0.5152,
                                     "source": "the original deck"}},
            "attack": {"name": "kde_threshold", "repeats": 3, "results": {"cross_entropy": {"10": cell}}}}


def test_summary_csv_and_markdown_values(tmp_path):
    report.write_summary(_metrics_for_tables(), tmp_path)
    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert len(rows) == 1
    row = rows[0]
    assert row["score"] == "cross_entropy" and float(row["sampling_percentage"]) == 10
    assert (int(row["n_attacker_members"]), int(row["n_attacker_nonmembers"]),
            int(row["n_eval_per_class"])) == (40, 20, 180)
    for i, m in enumerate(report.SUMMARY_METRICS):
        assert float(row[f"{m}_mean"]) == pytest.approx(0.5 + i / 100)
        assert float(row[f"{m}_std"]) == pytest.approx(i / 1000)
    assert b"\r" not in (tmp_path / "summary.csv").read_bytes()  # one newline per row, on any OS
    assert (tmp_path / "summary.md").read_text() == SUMMARY_MD


# The whole table, as a reader sees it: accuracy is SUMMARY_METRICS[0], f1 [3], auc [4],
# tpr_at_1pct_fpr [6], best_accuracy [8].
SUMMARY_MD = """# oracle: tables

Target: train accuracy 90.00%, test accuracy 60.00% (original study: 92.84% / 51.52%, the original deck).
Data: exact original pixels.

Attack `kde_threshold`, members are the positive class, balanced evaluation, mean ± std over 3 repeats.
`best_accuracy` is the best threshold's accuracy on the evaluation set (an oracle).

| score | p (%) | accuracy | f1 | auc | tpr_at_1pct_fpr | best_accuracy |
|---|---:|---:|---:|---:|---:|---:|
| cross_entropy | 10 | 0.5000 ± 0.0000 | 0.5300 ± 0.0030 | 0.5400 ± 0.0040 | 0.5600 ± 0.0060 | 0.5800 ± 0.0080 |
"""


def test_summary_names_the_data_and_an_uncited_reference(tmp_path):
    m = _metrics_for_tables()
    m["data_notes"] = "LOSSY copy"
    del m["target"]["reference"]["source"]
    report.write_summary(m, tmp_path)
    md = (tmp_path / "summary.md").read_text()
    assert "Data: LOSSY copy." in md and "51.52%, not cited)" in md


def test_summary_claims_no_comparison_where_the_original_published_none(tmp_path):
    """MNIST's study (000) gave no accuracy: its target has no reference, and says so."""
    m = _metrics_for_tables()
    del m["target"]["reference"]
    report.write_summary(m, tmp_path)
    md = (tmp_path / "summary.md").read_text()
    assert "test accuracy 60.00% (the original study published no accuracy)." in md
    assert "92.84%" not in md


def test_only_the_cifar10_study_has_a_reference_accuracy():
    from mia.pipeline.results import REFERENCE_ACCURACY
    assert set(REFERENCE_ACCURACY) == {"cifar10"}
    assert REFERENCE_ACCURACY["cifar10"]["test_accuracy"] == 0.5152


# ---------------------------------------------------------------- scores through the registry
def test_registry_names_compute_their_own_formula():
    p = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], dtype=torch.float64)
    y = torch.tensor([0, 2])
    got = scores.compute(list(scores.SCORES), torch.log(p), y)
    np.testing.assert_allclose(got["cross_entropy"], [-np.log(0.7), -np.log(0.6)], rtol=1e-12)
    np.testing.assert_allclose(got["probability_loss"], [0.3, 0.4], rtol=1e-12)
    np.testing.assert_allclose(got["normalized_probability_loss"], [0.0, 0.0], atol=1e-12)


# ---------------------------------------------------------------- the KDE threshold, branch by branch
def _crossings_and_merit(attack, m, n):
    """Independently: every sign change of f_m - f_n on the attack's grid, and the balanced
    accuracy of each as a threshold on the attacker's sample."""
    from scipy.stats import gaussian_kde
    grid = attack.grid
    diff = gaussian_kde(m)(grid) - gaussian_kde(n)(grid)
    idx = np.nonzero(np.sign(diff[:-1]) != np.sign(diff[1:]))[0]
    xs = grid[idx] - diff[idx] * (grid[idx + 1] - grid[idx]) / (diff[idx + 1] - diff[idx])
    merit = [(np.mean(m < x) + np.mean(n >= x)) / 2 for x in xs]
    return xs, np.array(merit)


def test_several_crossings_between_the_modes_take_the_best_not_the_first_or_the_worst():
    """Members: a tall peak at 0 and a bump at 2.5; non-members: a small bump at 1.2 and a
    broad mode at 5. Between the modes (0 and 5) the densities cross three times, near 0.8,
    1.9 and 3.1; on the attacker's own sample the last is the best (balanced accuracy 0.94)
    and the middle one the worst (0.86)."""
    m = np.r_[np.linspace(-0.3, 0.3, 300), np.linspace(2.2, 2.8, 60)]
    n = np.r_[np.linspace(0.9, 1.5, 40), np.linspace(3.5, 6.5, 300)]
    attack = kde_threshold.KDEThreshold(grid_points=4096).fit(SignalView(m, n))
    xs, merit = _crossings_and_merit(attack, m, n)
    between = (xs > 0) & (xs < 5)
    assert between.sum() == 3
    xs, merit = xs[between], merit[between]
    assert attack.method == "kde_crossing_between_modes"
    assert attack.threshold == pytest.approx(xs[np.argmax(merit)], abs=1e-9)
    assert np.argmax(merit) != 0 and np.argmax(merit) != np.argmin(merit)


def test_a_crossing_only_outside_the_modes():
    """Members N(0, 1), non-members N(0.2, 3): their modes are close and the densities do not
    cross between them; they cross twice outside, near -2.6 and +2.6, and the rule takes
    the better one of those."""
    rng = np.random.default_rng(3)
    m, n = rng.normal(0, 1, 4000), rng.normal(0.2, 3, 4000)
    attack = kde_threshold.KDEThreshold(grid_points=4096).fit(SignalView(m, n))
    assert attack.method == "kde_crossing"
    xs, merit = _crossings_and_merit(attack, m, n)
    assert attack.threshold == pytest.approx(xs[np.argmax(merit)], abs=1e-9)


def test_no_crossing_falls_back_to_the_best_observed_score(monkeypatch):
    """With no crossing (forced here), every observed score is a candidate: members
    [1, 2, 6], non-members [3, 4, 5]; "member iff score < 3" gets 2 of 3 members and all
    non-members right (5/6), better than any other candidate."""
    monkeypatch.setattr(kde_threshold, "_crossings", lambda *a: np.array([]))
    attack = kde_threshold.KDEThreshold(grid_points=64).fit(SignalView(np.array([1.0, 2.0, 6.0]),
                                                       np.array([3.0, 4.0, 5.0])))
    assert attack.method == "best_on_attacker_sample"
    assert attack.threshold == 3.0


def test_a_degenerate_sample_has_exactly_one_optimal_threshold():
    """All members at 0, all non-members at 1: no density exists; of the candidates 0, 1 and
    just above 1, only 1 separates the classes."""
    attack = kde_threshold.KDEThreshold().fit(SignalView(np.zeros(10), np.ones(10)))
    assert attack.method == "best_on_attacker_sample"
    assert attack.threshold == 1.0


def test_result_json_has_no_unexpected_keys(one_run):
    assert set(one_run) == {"threshold", "threshold_method", "accuracy", "precision", "recall",
                            "f1", "confusion_matrix", "auc", "advantage", "tpr_at_1pct_fpr",
                            "tpr_at_0.1pct_fpr", "best_threshold", "best_accuracy", "unresolved"}
    json.dumps(one_run, allow_nan=False)


# ---------------------------------------------------------------- the KDE threshold: details
def test_the_grid_has_the_requested_points_and_a_failed_fit_no_densities():
    m, n = np.r_[ATTACKER_M, 0.3], np.r_[ATTACKER_N, 0.7]
    assert len(kde_threshold.KDEThreshold(grid_points=100).fit(SignalView(m, n)).grid) == 100
    degenerate = kde_threshold.KDEThreshold().fit(SignalView(np.zeros(5), np.ones(5)))
    assert degenerate.member_density is None and degenerate.nonmember_density is None


def test_crossings_by_hand():
    """grid 0..4, diff [1, 0, 0, -2, 1]: zeros at 1 and 2 (counted as they are), a sign change
    between 3 and 4 at 3 + 2/3; the interval 0..1 ends on a zero, counted at 1, not twice."""
    import warnings
    grid, diff = np.arange(5.0), np.array([1.0, 0.0, 0.0, -2.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 0/0 at the double zero must stay silent
        got = kde_threshold._crossings(grid, diff, 0, 4)
    np.testing.assert_allclose(got, [1.0, 2.0, 3 + 2 / 3])
    np.testing.assert_allclose(kde_threshold._crossings(grid, diff, 2, 4), [2.0, 3 + 2 / 3])
    # by default the whole grid, its first and last intervals included
    np.testing.assert_allclose(kde_threshold._crossings(grid, np.array([1.0, -1.0, -1.0, -1.0, 3.0])),
                               [0.5, 3.25])


def test_unresolved_rates_stay_null_through_the_summary_and_the_tables(tmp_path):
    runs = [{"repeat": r, "accuracy": 0.5 + r / 10, "tpr_at_0.1pct_fpr": None, "note": None,
             "confusion_matrix": [[1, 1], [1, 1]]} for r in range(2)]
    summary = metrics.summarize_repeats(runs)["summary"]
    assert summary["tpr_at_0.1pct_fpr"] == {"mean": None, "std": None}
    assert set(summary) == {"accuracy", "tpr_at_0.1pct_fpr"}  # other nulls are not metrics
    assert metrics.mean_std([0.5, None]) == {"mean": None, "std": None}
    m = _metrics_for_tables()
    m["attack"]["results"]["cross_entropy"]["10"]["summary"]["tpr_at_1pct_fpr"] = \
        {"mean": None, "std": None}
    report.write_summary(m, tmp_path)
    assert ("| cross_entropy | 10 | 0.5000 ± 0.0000 | 0.5300 ± 0.0030 | 0.5400 ± 0.0040 | "
            "n/a (too few non-members) | 0.5800 ± 0.0080 |") in (tmp_path / "summary.md").read_text()


# ---------------------------------------------------------------- calibrated.md, by hand
def test_calibrated_markdown_has_every_cell_as_written_by_hand():
    row = {"auc": 0.71234, "best_balanced_accuracy": 0.65, "tpr_at_1pct_fpr": 0.0525,
           "tpr_at_0.1pct_fpr": 0.0104, "tpr_at_0.01pct_fpr": None, "members_at_zero_fp": 7,
           "ci95": {"auc": [0.7, 0.72], "tpr_at_1pct_fpr": [0.05, 0.055],
                    "tpr_at_0.1pct_fpr": [0.0061, 0.0159]}}
    offline = {**row, "out_references": {"mean": 7.5, "min": 6}}
    tie = {"auc": 0.5, "tpr_at_0.1pct_fpr": 0.001}
    power = {"rmia_offline": {"tpr_at_0.1pct_fpr": {"mean": 0.002, "std": 0.0005, "min": 0.001,
                                                    "max": 0.003, "ci95": [0.0015, 0.0025]},
                              "auc": {"mean": 0.6, "std": 0.01, "min": 0.59, "max": 0.61,
                                      "ci95": [0.595, 0.605]},
                              "subsets": 8, "reference_models": 2, "training_seconds": 1600.4,
                              "a": [1.0, 0.5]}}
    cal = {"protocols": {
        "study": {"description": "the target", "n_members": 7500, "n_nonmembers": 7500,
                  "resampled": "members and non-members separately",
                  "rows": {"x": {"not_computed": "too few"}, "lira": row, "rmia_offline": offline},
                  "strongest": {"tpr_at_0.1pct_fpr": {
                      "metric": "tpr_at_0.1pct_fpr", "top": "lira", "strongest": "lira",
                      "tied_with_top": [], "policy": "paired, Holm",
                      "comparisons": {"rmia_offline": {"difference": 0.0021, "ci95": [0.0004, 0.004],
                                                       "p": 0.01, "p_holm": 0.01}}}},
                  "power_vs_references": {"2": power},
                  "power_comparisons": {
                      "description": "paired",
                      "steps": {"rmia_offline": {"auc": {"4-2": {
                          "difference": 0.012, "ci95": [0.004, 0.02], "p": 0.01, "p_holm": 0.02}}}},
                      "tuned_minus_fixed": {"rmia_offline/1": {"tpr_at_0.1pct_fpr": {"2": {
                          "difference": -0.001, "ci95": [-0.002, -0.0005], "p": 0.02,
                          "p_holm": 0.06}}}}}},
        "leave_one_out": {"description": "pooled", "n_members": 100, "n_nonmembers": 90,
                          "resampled": "whole images", "rows": {"lira": row},
                          "strongest": {"auc": {
                              "metric": "auc", "top": "lira", "strongest": None,
                              "tied_with_top": ["a"], "policy": "paired",
                              "comparisons": {"a": {"difference": 0.001, "ci95": [-0.001, 0.003],
                                                    "p": 0.3, "p_holm": 0.3}}}},
                          "matched": {"6": {"description": "six", "subsets_per_target": [3, 5],
                                            "n_members": 500, "n_nonmembers": 450,
                                            "n_images": 19, "rows": {"lira": row},
                                            "strongest": {}}},
                          "leak_check": {"description": "probes", "rows": {"in_count/kept": tie}}},
        "unresolved": {"description": "d3", "n_members": 1, "n_nonmembers": 1, "rows": {},
                       "strongest": {"m": {"top": None, "unresolved": "no attack resolves m"}}},
        "silent": {"description": "d4", "n_members": 1, "n_nonmembers": 1, "rows": {},
                   "strongest": {}}},
        "not_computed": {"other": "one round"}}
    cells = ("0.7123 [0.7000, 0.7200] | 0.6500 | 5.25% [5%, 5.5%] | 1.04% [0.61%, 1.59%] | n/a | 7")
    header = ["| attack | auc | best_balanced_accuracy | tpr_at_1pct_fpr | tpr_at_0.1pct_fpr | "
              "tpr_at_0.01pct_fpr | members_at_zero_fp | OUT references (mean / min) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    strongest = ["", "### which attack is strongest", ""]
    assert report.calibrated_markdown(cal, "exp").splitlines() == [
        "# exp: attacks with reference models", "",
        "Members are the positive class. Intervals: 95% percentile bootstrap, every row of a "
        "protocol on the same resamples (study: members and non-members resampled "
        "separately; leave-one-out: whole images, each with its rows under every target). "
        "`best_balanced_accuracy` is at the best threshold on the evaluation set itself (an "
        "upper bound). TPR at an FPR is n/a when fewer than 1/FPR non-members are evaluated. "
        "Rows: attack / variance (LiRA) or a (RMIA offline) / `flip` = test-time "
        "horizontal-flip augmentation. pp: percentage points.", "",
        "## study: the target", "",
        "7,500 members and 7,500 non-members evaluated; resampled: members and non-members "
        "separately.", "", *header,
        "| x | not computed: too few | | | | | | |",
        f"| lira | {cells} | |",
        f"| rmia_offline | {cells} | 7.5 / 6 |", *strongest,
        "**tpr_at_0.1pct_fpr**: strongest: lira. Policy: paired, Holm.", "",
        "| lira minus | difference [95% CI] | p | p (Holm) |", "|---|---:|---:|---:|",
        "| rmia_offline | +0.21 pp [+0.04 pp, +0.4 pp] | 0.01 | 0.01 |", "",
        "### attack power against the number of references", "",
        "At each size: distinct subsets of whole rounds of the bank (every one where there are "
        "few); mean over subsets [95% interval of that mean from resampling the samples, "
        "subsets held fixed] (min to max over subsets). Cost: the subset's reference models' "
        "training seconds (bank.json), mean over subsets. a: RMIA offline's a, tuned for AUC "
        "on the references of each subset.", "",
        "| references | attack | subsets | TPR@0.1% FPR | AUC | training seconds | a |",
        "|---:|---|---:|---:|---:|---:|---|",
        "| 2 | rmia_offline | 8 | 0.2% [0.15%, 0.25%] (0.1% to 0.3%) | "
        "0.6000 [0.5950, 0.6050] (0.5900 to 0.6100) | 1,600 | 1, 0.5 |", "",
        "### paired comparisons on the power curve", "", "paired.", "",
        "| row | metric | comparison | difference [95% CI] | p | p (Holm) |",
        "|---|---|---|---:|---:|---:|",
        "| rmia_offline | auc | 4 references minus 2 | +0.0120 [+0.0040, +0.0200] | 0.01 | 0.02 |",
        "| rmia_offline/1 | tpr_at_0.1pct_fpr | a tuned minus fixed, 2 references | "
        "-0.1 pp [-0.2 pp, -0.05 pp] | 0.02 | 0.06 |", "",
        "## leave_one_out: pooled", "",
        "100 members and 90 non-members evaluated; resampled: whole images.", "", *header,
        f"| lira | {cells} | |", *strongest,
        "**auc**: highest: lira, tied with a. Policy: paired.", "",
        "| lira minus | difference [95% CI] | p | p (Holm) |", "|---|---:|---:|---:|",
        "| a | +0.0010 [-0.0010, +0.0030] | 0.3 | 0.3 |", "",
        "### leave-one-out with 6 references per target", "",
        "six (3, 5 per target); 500 member rows and 450 non-member rows of 19 images.", "", *header,
        f"| lira | {cells} | |", "",
        "### leak check", "", "probes.", "",
        "| score / target's round | auc | tpr_at_0.1pct_fpr |", "|---|---:|---:|",
        "| in_count/kept | 0.5000 | 0.1% |", "",
        "## unresolved: d3", "",
        "1 members and 1 non-members evaluated; resampled: members and non-members separately.",
        "", *header, *strongest, "**m**: no attack resolves m.", "",
        "## silent: d4", "",
        "1 members and 1 non-members evaluated; resampled: members and non-members separately.",
        "", *header, *strongest,
        "## other: not computed", "", "one round."]
    del cal["not_computed"]  # calibrated.json written before the field existed
    assert report.calibrated_markdown(cal, "exp").endswith("\n".join(header) + "\n" + "\n".join(strongest))


# ---------------------------------------------------------------- the gap attack beside the threshold
def test_the_gap_attack_on_all_samples_by_hand():
    """Members right 3 of 4, non-members right 1 of 4: balanced accuracy (3/4 + 3/4) / 2; AUC
    of the two-valued score: 9 pairs won, 3 + 3 tied, of 16 -> 12/16."""
    s = {"cross_entropy": np.r_[EVAL_M, EVAL_N], "is_member": np.r_[np.ones(4, bool), np.zeros(4, bool)],
         "correct": np.array([True, True, True, False, True, False, False, False])}
    got = threshold.full_roc_stage(_config(scores=["cross_entropy"]), s)
    assert list(got) == ["cross_entropy", threshold.GAP]
    assert got["gap"]["best_accuracy"] == 0.75 and got["gap"]["auc"] == 0.75
    assert got["gap"]["best_threshold"] == 0.5  # on the loss 1 - correct: between 0 and 1
    assert "gap" not in threshold.full_roc_stage(_config(scores=["cross_entropy"]),
                                                 {k: v for k, v in s.items() if k != "correct"})


def test_the_gap_attack_is_scored_on_each_repeats_evaluation_set():
    s = _scores()
    rng = np.random.default_rng(5)
    s["correct"] = np.r_[rng.random(400) < 0.9, rng.random(200) < 0.6]
    cfg = _config()
    got = threshold.attack_stage(cfg, s, progress=False)
    m, n = s["correct"][s["is_member"]], s["correct"][~s["is_member"]]
    for p in (10, 50):
        accuracy = []
        for r in range(3):
            split = threshold.sample_split(400, 200, p, np.random.default_rng(threshold.split_seed(cfg.seed, p, r)))
            accuracy.append((m[split.eval_members].mean() + 1 - n[split.eval_nonmembers].mean()) / 2)
        assert got["gap"][str(p)]["repeats"] == pytest.approx(accuracy, abs=1e-15)
        assert got["gap"][str(p)]["accuracy"]["mean"] == pytest.approx(np.mean(accuracy), abs=1e-15)
    assert "gap" not in threshold.attack_stage(cfg, _scores(), progress=False)


def test_the_summary_sets_the_gap_attack_beside_the_thresholds(tmp_path):
    m = _metrics_for_tables()
    m["attack"]["gap"] = {"10": {"accuracy": {"mean": 0.67331, "std": 0.00412}},
                          "50": {"accuracy": {"mean": 0.6701, "std": 0.0033}}}
    report.write_summary(m, tmp_path)
    lines = (tmp_path / "summary.md").read_text().splitlines()
    without = tmp_path / "plain"
    without.mkdir()
    report.write_summary(_metrics_for_tables(), without)
    plain = (without / "summary.md").read_text().splitlines()
    assert lines[:len(plain)] == plain
    assert lines[len(plain):] == [
        "", "Reference: the gap attack (member if and only if the target classifies the sample "
        "correctly) needs no attacker samples. Its balanced accuracy on each repeat's evaluation "
        "set, mean ± std over repeats:", "",
        "| p (%) | gap attack accuracy |", "|---:|---:|",
        "| 10 | 0.6733 ± 0.0041 |", "| 50 | 0.6701 ± 0.0033 |"]


def _comparison(difference, p_holm):
    return {"difference": difference, "ci95": [difference - 0.001, difference + 0.001], "p": p_holm / 2,
            "p_holm": p_holm}


def test_the_strongest_lines_keep_every_metric_in_order_and_sort_comparisons_by_holm():
    lines = report._strongest_lines({
        "auc": {"top": "a", "strongest": None, "tied_with_top": ["b", "c"], "policy": "P",
                "comparisons": {"b": _comparison(0.01, 0.4), "c": _comparison(0.02, 0.2)}},
        "tpr_at_1pct_fpr": {"top": "a", "comparisons": {}},
        "tpr_at_0.1pct_fpr": {"top": None, "comparisons": {"b": _comparison(0.01, 0.4)},
                              "unresolved": "no attack resolves it"},
        "tpr_at_0.01pct_fpr": {"top": "a", "strongest": "a", "tied_with_top": [], "policy": "P",
                               "comparisons": {"b": _comparison(0.001, 0.01)}}})
    assert lines == [
        "**auc**: highest: a, tied with b, c. Policy: P.", "",
        "| a minus | difference [95% CI] | p | p (Holm) |", "|---|---:|---:|---:|",
        "| c | +0.0200 [+0.0190, +0.0210] | 0.1 | 0.2 |",
        "| b | +0.0100 [+0.0090, +0.0110] | 0.2 | 0.4 |", "",
        "**tpr_at_1pct_fpr**: no comparison.", "",
        "**tpr_at_0.1pct_fpr**: no attack resolves it.", "",
        "**tpr_at_0.01pct_fpr**: strongest: a. Policy: P.", "",
        "| a minus | difference [95% CI] | p | p (Holm) |", "|---|---:|---:|---:|",
        "| b | +0.1 pp [+0 pp, +0.2 pp] | 0.005 | 0.01 |", ""]


def test_the_power_table_sorts_sizes_as_numbers_and_leaves_missing_cells_blank():
    cell = {"mean": 0.5, "ci95": [0.4, 0.6], "min": 0.3, "max": 0.7}
    power = {size: {"lira": {"tpr_at_0.1pct_fpr": {"mean": None, "std": None}, "auc": cell,
                             "subsets": 1}} for size in ("16", "2", "4")}
    lines = report._power_lines(power)
    rows = [line for line in lines if line.startswith("| ") and line[2].isdigit()]
    assert rows == [f"| {size} | lira | 1 | n/a | 0.5000 [0.4000, 0.6000] (0.3000 to 0.7000) |  |  |"
                    for size in ("2", "4", "16")]


def test_the_power_comparisons_table_reads_whichever_kinds_are_there():
    lines = report._power_test_lines({"description": "d", "steps": {"r": {"auc": {"16-8": _comparison(0.01, 0.2)}}}})
    assert lines[-2:] == ["| r | auc | 16 references minus 8 | +0.0100 [+0.0090, +0.0110] | 0.1 | 0.2 |", ""]
    lines = report._power_test_lines({"description": "d", "tuned_minus_fixed": {
        "r/1": {"tpr_at_0.1pct_fpr": {"16": _comparison(-0.002, 0.2)}}}})
    assert lines[-2] == "| r/1 | tpr_at_0.1pct_fpr | a tuned minus fixed, 16 references | -0.2 pp [-0.3 pp, -0.1 pp] | 0.1 | 0.2 |"
