"""Paired comparisons (mia.evaluation.paired): the bootstrap of a difference against its exact
distribution, why pairing matters, image resampling, and Holm's adjustment."""
import numpy as np
import pytest

from mia.evaluation import paired
from mia.evaluation.roc import score_metrics

TRUTH = np.array([True, True, False, False])
PERFECT = np.array([0.9, 0.8, 0.5, 0.1])   # every member above every non-member: AUC 1
ONE_SWAP = np.array([0.9, 0.4, 0.5, 0.1])  # member 1 below non-member 0: AUC 3/4


def test_the_paired_bootstrap_matches_the_exact_distribution_of_the_difference():
    """Two members and two non-members, each pair resampled by a multinomial(2, 1/2): member 1
    is drawn w1 = 0, 1, 2 times and non-member 0 w0 = 0, 1, 2 times, with probabilities 1/4,
    1/2, 1/4. The AUC difference is w1 * w0 / 4 (the weight of the swapped pair over the 2 * 2
    weight of all pairs):
        0 with probability 1 - (3/4)(3/4) = 7/16,  1/4 with (1/2)(1/2) = 4/16,
        1/2 with 2 (1/2)(1/4) = 4/16,               1 with (1/4)(1/4) = 1/16.
    So: difference on all samples 1/4; 2.5th percentile 0; 97.5th 1 (15/16 of the mass lies
    at or below 1/2); two-sided p = 2 P(d <= 0) = 14/16."""
    got = paired.paired_differences(TRUTH, {"a": PERFECT, "b": ONE_SWAP}, "a", "auc",
                                    bootstrap=20_000, seed=0)["b"]
    assert got["difference"] == 0.25
    assert got["ci95"] == [0.0, 1.0]
    assert got["p"] == pytest.approx(14 / 16, abs=0.02)  # Monte Carlo sd 0.007


def test_a_difference_marginal_intervals_hide_is_found_paired():
    """b is a's score plus noise: on every resample b is a little worse than a, although
    their marginal intervals overlap almost entirely."""
    rng = np.random.default_rng(1)
    n = 3000
    truth = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    a = rng.normal(0, 1, 2 * n) + 0.4 * truth
    b = a + rng.normal(0, 0.6, 2 * n)
    ma, mb = score_metrics(truth, a, 300, 0), score_metrics(truth, b, 300, 0)
    assert ma["auc"] > mb["auc"] and ma["ci95"]["auc"][0] < mb["ci95"]["auc"][1]  # overlap
    d = paired.paired_differences(truth, {"a": a, "b": b}, "a", "auc", bootstrap=300, seed=0)["b"]
    assert d["ci95"][0] > 0 and d["p"] < 0.01


def test_resampling_whole_images_widens_the_interval_when_images_repeat_across_targets():
    """Leave-one-out pools one row per (target, image), each image a member of half the
    targets; an image's difficulty and how much training on it raises its score are the same
    under every target, so its rows are not independent. Resampling rows treats 10 rows of an
    image as 10 independent samples and gives too narrow an interval (here about half)."""
    rng = np.random.default_rng(2)
    images, targets = 400, 10
    difficulty = np.repeat(rng.normal(0, 1, images), targets)
    vulnerability = np.repeat(rng.exponential(3, images), targets)
    member = np.concatenate([rng.permutation(np.arange(targets) < targets // 2)
                             for _ in range(images)])
    score = difficulty + vulnerability * member + rng.normal(0, 0.2, images * targets)
    image = np.repeat(np.arange(images), targets)
    rows = paired.metric_interval(member, score, "auc", bootstrap=300, seed=0)
    whole = paired.metric_interval(member, score, "auc", bootstrap=300, seed=0, groups=image)
    assert (whole[1] - whole[0]) > 1.5 * (rows[1] - rows[0])
    # with one row per image the two resamplings agree in width (within Monte Carlo noise)
    one = np.arange(images) * targets
    rows1 = paired.metric_interval(member[one], score[one], "auc", bootstrap=300, seed=0)
    whole1 = paired.metric_interval(member[one], score[one], "auc", bootstrap=300, seed=0,
                                    groups=image[one])
    assert (whole1[1] - whole1[0]) == pytest.approx(rows1[1] - rows1[0], rel=0.3)


def test_holm_multiplies_the_ith_smallest_p_by_m_minus_i_and_keeps_the_order():
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> 0.06 (monotone)
    got = paired.holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005})
    assert got == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06, "d": 0.02})
    assert paired.holm({"a": 0.6, "b": 0.5}) == {"a": 1.0, "b": 1.0}


def test_strongest_needs_every_adjusted_comparison_and_names_the_ties():
    rng = np.random.default_rng(3)
    n = 2000
    truth = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    base = rng.normal(0, 1, 2 * n)
    strong = base + 1.0 * truth
    weak = base + 0.2 * truth
    twin = strong + rng.normal(0, 0.01, 2 * n)  # indistinguishable from strong
    clear = paired.strongest(truth, {"strong": strong, "weak": weak}, "auc", bootstrap=200, seed=0)
    assert clear["strongest"] == "strong" and clear["tied_with_top"] == []
    assert clear["comparisons"]["weak"]["p_holm"] < 0.05
    tie = paired.strongest(truth, {"strong": strong, "weak": weak, "twin": twin}, "auc",
                           bootstrap=200, seed=0)
    assert tie["strongest"] is None and tie["top"] in ("strong", "twin")
    assert tie["tied_with_top"] == [{"strong": "twin", "twin": "strong"}[tie["top"]]]
    assert "Holm over the 2 comparisons" in tie["policy"]


def test_versus_baseline_adjusts_every_row_against_the_baseline_by_holm():
    """Differences row minus baseline, with intervals and p-values from the same resamples:
    a clearly better row is "above", a row equal to the baseline plus noise is not."""
    rng = np.random.default_rng(4)
    n = 2000
    truth = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    base = rng.normal(0, 1, 2 * n)
    scores = {"loss": base + 0.3 * truth, "better": base + 1.0 * truth,
              "same": base + 0.3 * truth + rng.normal(0, 0.05, 2 * n)}
    points = {k: paired.Curve(truth, s).metric("auc") for k, s in scores.items()}
    reps = {k: r["auc"] for k, r in paired.replicates(truth, scores, 300, 0).items()}
    got = paired.versus(points, reps, "loss", 300)
    assert set(got["rows"]) == {"better", "same"}
    better = got["rows"]["better"]
    assert better["difference"] == pytest.approx(points["better"] - points["loss"])
    assert better["ci95"][0] > 0 and better["above"] and better["p_holm"] == pytest.approx(2 * better["p"])
    assert not got["rows"]["same"]["above"]
    assert "Holm over the 2 comparisons" in got["policy"]


# ---------------------------------------------------------------- exact answers, by hand
def test_the_interval_is_the_2_5th_and_97_5th_percentile():
    assert paired.interval(np.arange(1001.0)) == [25.0, 975.0]
    assert paired.interval(None) is None


def test_the_p_value_counts_zero_differences_on_both_sides_and_is_capped_at_one():
    """Ten resamples of a minus b: 1, 1, 0 and seven -1. At or below 0: 8; at or above 0: 3;
    k = 3, p = 2 (3 + 1) / 11 = 8/11. Five +1 and five -1: k = 5, 2 * 6 / 11 > 1, so 1."""
    d = np.array([1, 1, 0, -1, -1, -1, -1, -1, -1, -1], float)
    got = paired.differences({"a": 0.4, "b": 0.5}, {"a": d, "b": np.zeros(10)}, "a")
    assert got == {"b": {"difference": pytest.approx(-0.1), "ci95": paired.interval(d),
                         "p": pytest.approx(8 / 11)}}
    even = np.r_[np.ones(5), -np.ones(5)]
    assert paired.differences({"a": 0.0, "b": 0.0}, {"a": even, "b": np.zeros(10)}, "a")["b"]["p"] == 1.0
    one_sided = np.ones(10)  # k = 0: p = 2 / 11
    assert paired.differences({"a": 1.0, "b": 0.0}, {"a": one_sided, "b": np.zeros(10)},
                              "a")["b"]["p"] == pytest.approx(2 / 11)


def test_holm_caps_each_adjusted_p_at_one():
    assert paired.holm({"a": 0.7, "b": 0.8}) == {"a": 1.0, "b": 1.0}


def _reps(n_resamples: int, below: dict[str, int]) -> tuple[dict, dict]:
    """Points and resamples where the top row "top" beats row r on all but below[r] resamples
    (on those the difference is -1: k = below[r])."""
    top = np.zeros(n_resamples)
    reps, points = {"top": top}, {"top": 1.0}
    for r, k in below.items():
        row = np.full(n_resamples, -1.0)
        row[:k] = 1.0
        reps[r], points[r] = row, 0.5
    return points, reps


def test_strongest_ties_a_row_whose_adjusted_p_is_exactly_alpha():
    """B = 119: one row never above the top (k = 0, p = 2/120, Holm x 2 = 1/30), one above it
    on 2 resamples (k = 2, p = 6/120 = 0.05, Holm x 1 = 0.05): a tie, as p >= alpha."""
    points, reps = _reps(119, {"never": 0, "twice": 2})
    points["none"], reps["none"] = None, None  # no metric: takes no part
    got = paired.strongest_of(points, reps, "m", 119)
    assert got["top"] == "top" and got["strongest"] is None and got["tied_with_top"] == ["twice"]
    assert got["comparisons"]["never"]["p_holm"] == pytest.approx(1 / 30)
    assert got["comparisons"]["twice"]["p_holm"] == 0.05
    assert got["metric"] == "m" and set(got["comparisons"]) == {"never", "twice"}
    assert got["policy"] == ("paired bootstrap (119 resamples, members and non-members "
                             "separately) of the top row minus each other row; Holm over the 2 "
                             "comparisons at alpha = 0.05; strongest only if every adjusted "
                             "p-value is below alpha")
    points, reps = _reps(119, {"never": 0, "once": 0})
    won = paired.strongest_of(points, reps, "m", 119, groups=True)
    assert won["strongest"] == "top" and won["tied_with_top"] == []
    assert "(119 resamples, whole images with all their rows)" in won["policy"]


def test_strongest_is_unresolved_when_the_bootstrap_cannot_reach_alpha():
    """One comparison, B = 39: the smallest p is 2/40 = 0.05, not below alpha."""
    points, reps = _reps(39, {"never": 0})
    assert paired.strongest_of(points, reps, "m", 39) == {
        "metric": "m", "top": "top", "strongest": None, "tied_with_top": [], "comparisons": {},
        "unresolved": "39 resamples cannot resolve 1 comparisons at alpha = 0.05: the smallest "
                      "Holm-adjusted p-value they can give is 0.05"}
    assert paired.strongest_of({"top": 1.0, "x": None}, {"top": np.zeros(3), "x": None}, "m", 3) == {
        "metric": "m", "top": "top", "strongest": None, "tied_with_top": [], "comparisons": {},
        "unresolved": "fewer than two attacks have m on this evaluation set"}
    assert paired.strongest_of({"x": None}, {"x": None}, "m", 3)["top"] is None


def test_versus_negates_the_difference_and_its_interval_and_needs_a_positive_difference():
    """Rows minus the baseline. "up": above on every resample; "flat": difference 0 (never
    "above", whatever p); "edge": above with Holm p exactly alpha (not "above"). B = 239:
    "up" k = 0, p = 2/240, x 3; "edge" k = 2, p = 6/240, x 2 = 0.05; "flat" p = 1."""
    n = 239
    base = np.zeros(n)
    up = np.ones(n)
    flat = np.r_[np.ones(120), -np.ones(119)]
    edge = np.ones(n)
    edge[:2] = -1.0  # baseline minus edge >= 0 on 2 resamples: k = 2
    points = {"loss": 0.0, "up": 0.2, "flat": 0.0, "edge": 0.1, "none": None}
    reps = {"loss": base, "up": up, "flat": flat, "edge": edge, "none": None}
    got = paired.versus(points, reps, "loss", n)
    assert got["baseline"] == "loss" and set(got["rows"]) == {"up", "flat", "edge"}
    lo, hi = paired.interval(base - edge)
    assert got["rows"]["edge"]["difference"] == pytest.approx(0.1)
    assert got["rows"]["edge"]["ci95"] == [-hi, -lo]
    assert got["rows"]["up"]["above"] and not got["rows"]["flat"]["above"]
    assert got["rows"]["edge"]["p_holm"] == 0.05 and not got["rows"]["edge"]["above"]
    assert got["policy"] == ("paired bootstrap (239 resamples, members and non-members separately) "
                             "of each row minus loss; Holm over the 3 comparisons at alpha = 0.05")
    assert "(239 resamples, whole images)" in paired.versus(points, reps, "loss", n, True)["policy"]


def test_replicates_are_seeded_shared_and_follow_the_resampling():
    rng = np.random.default_rng(7)
    truth = np.r_[np.ones(30, bool), np.zeros(30, bool)]
    scores = {"a": rng.normal(size=60) + truth, "b": rng.normal(size=60)}
    groups = np.arange(60) % 20
    one = paired.replicates(truth, scores, 4, 3)
    assert all(np.array_equal(one[r]["auc"], paired.replicates(truth, scores, 4, 3)[r]["auc"])
               for r in scores)
    assert not np.array_equal(one["a"]["auc"], paired.replicates(truth, scores, 4, 4)["a"]["auc"])
    # each value is the metric under the i-th weights of resample_weights, as documented
    weights = list(paired.resample_weights(truth, 4, 3))
    curve = paired.Curve(truth, scores["a"])
    assert one["a"]["auc"].tolist() == [curve.metric("auc", w) for w in weights]
    grouped = paired.replicates(truth, scores, 4, 3, groups)
    gweights = list(paired.resample_weights(truth, 4, 3, groups))
    assert grouped["a"]["auc"].tolist() == [curve.metric("auc", w) for w in gweights]
    assert one["a"]["tpr_at_0.1pct_fpr"] is None  # 30 non-members cannot resolve 0.1%
    single = paired.replicates(truth, scores, 1, 0)
    assert single["a"]["auc"].shape == (1,)
    assert paired.metric_interval(truth, scores["a"], "auc", 4, 3, groups) == paired.interval(
        grouped["a"]["auc"])
    pd = paired.paired_differences(truth, scores, "a", "auc", 4, 3, groups)["b"]
    assert pd["ci95"] == paired.interval(grouped["a"]["auc"] - grouped["b"]["auc"])
    st = paired.strongest(truth, scores, "auc", 40, 3, groups, alpha=0.1)
    points = {r: paired.Curve(truth, s).metric("auc") for r, s in scores.items()}
    assert st == paired.strongest_of(points, {r: grouped40[r]["auc"] for r, grouped40 in
                                              [(r, paired.replicates(truth, scores, 40, 3, groups))
                                               for r in scores]}, "auc", 40, True, 0.1)
    assert st["metric"] == "auc" and "alpha = 0.1" in st["policy"] and "whole images" in st["policy"]


def test_integer_truth_is_read_as_membership():
    from mia.evaluation import roc
    rng = np.random.default_rng(8)
    truth = np.r_[np.ones(20, int), np.zeros(30, int)]
    score = rng.normal(size=50) + truth
    assert roc.score_metrics(truth, score, 3, 1) == roc.score_metrics(truth.astype(bool), score, 3, 1)
    for a, b in zip(roc.resample_weights(truth, 3, 1), roc.resample_weights(truth.astype(bool), 3, 1)):
        assert np.array_equal(a, b) and a[truth == 1].sum() == 20 and a[truth == 0].sum() == 30


def test_roc_points_with_one_non_member():
    from mia.evaluation import roc
    pts = roc.roc_points(np.array([True, True, False]), np.array([3.0, 1.0, 2.0]), max_points=4)
    assert pts["fpr"] == [0.0, 1.0] and pts["tpr"] == [0.5, 1.0]


def test_rows_without_resamples_take_no_part_and_alpha_reaches_the_policy():
    points, reps = _reps(239, {"never": 0})
    points["ghost"], reps["ghost"] = 0.9, None   # a point without resamples: left out
    got = paired.strongest_of(points, reps, "m", 239, alpha=0.1)
    assert got["top"] == "top" and set(got["comparisons"]) == {"never"}
    assert "alpha = 0.1" in got["policy"]
    vs = paired.versus(points, reps, "top", 239, alpha=0.1)
    assert set(vs["rows"]) == {"never"} and "alpha = 0.1" in vs["policy"]


def test_versus_interval_is_the_negated_interval_and_a_zero_difference_is_never_above():
    n = 239
    base = np.zeros(n)
    spread = np.linspace(0.5, 2.0, n)        # row minus baseline from 0.5 to 2
    points = {"loss": 0.0, "spread": 1.0, "zero": 0.0}
    reps = {"loss": base, "spread": spread, "zero": np.ones(n)}  # "zero": 0 on all samples, > 0 resampled
    got = paired.versus(points, reps, "loss", n)
    assert got["rows"]["spread"]["ci95"] == pytest.approx([float(np.percentile(spread, 2.5)),
                                                          float(np.percentile(spread, 97.5))])
    assert got["rows"]["zero"]["p_holm"] < 0.05 and not got["rows"]["zero"]["above"]
    assert got["rows"]["spread"]["above"]


def test_roc_metrics_by_hand_with_unequal_classes_integer_truth_and_weights():
    """Scores 4, 3, 3, 1, 0 with truth 1, 1, 0, 0, 0 (integers): two members, three
    non-members. ROC blocks: {4: member}, {3: member, non-member}, {1}, {0}. Unweighted AUC:
    pairs (member above non-member) 2 x 3 = 6, of which member 4 beats all 3, member 3 beats
    2 and ties 1 (half): 5.5 / 6. Weights 1, 0, 1, 1, 1 (the second member dropped): 1 member,
    beating all 3: AUC 1."""
    from mia.evaluation import roc
    truth = np.array([1, 1, 0, 0, 0])
    score = np.array([4.0, 3.0, 3.0, 1.0, 0.0])
    curve = roc.Curve(truth, score)
    assert (curve.n_pos, curve.n_neg) == (2, 3)
    assert curve.metric("auc") == pytest.approx(5.5 / 6)
    assert curve.metric("auc", np.array([1.0, 0.0, 1.0, 1.0, 1.0])) == pytest.approx(1.0)
    m = roc.score_metrics(truth, score, bootstrap=0)
    assert (m["n_members"], m["n_nonmembers"], m["members_at_zero_fp"]) == (2, 3, 1)
    assert "ci95" not in m and "bootstrap" not in m


def test_a_rate_is_resolved_from_exactly_one_over_fpr_non_members():
    from mia.evaluation import roc
    for n_neg, resolved in ((1000, True), (999, False)):
        truth = np.r_[np.ones(10, bool), np.zeros(n_neg, bool)]
        m = roc.score_metrics(truth, np.arange(10 + n_neg, 0, -1.0), bootstrap=0)
        assert (m["tpr_at_0.1pct_fpr"] is not None) == resolved, n_neg
        assert m["tpr_at_0.01pct_fpr"] is None


def test_score_metrics_intervals_are_percentiles_of_its_seeded_resamples():
    from mia.evaluation import roc
    rng = np.random.default_rng(2)
    truth = np.r_[np.ones(40, bool), np.zeros(60, bool)]
    score = rng.normal(size=100) + truth
    m = roc.score_metrics(truth, score, bootstrap=5, seed=9)
    curve = roc.Curve(truth, score)
    aucs = [curve.metrics(w)["auc"] for w in roc.resample_weights(curve.truth, 5, 9)]
    assert m["ci95"]["auc"] == [float(np.percentile(aucs, 2.5)), float(np.percentile(aucs, 97.5))]
    assert m["ci95"]["tpr_at_0.1pct_fpr"] is None and m["bootstrap"] == 5
    one = roc.score_metrics(truth, score, bootstrap=1, seed=9)
    assert one["ci95"]["auc"][0] == one["ci95"]["auc"][1]
    assert m == roc.score_metrics(truth, score, bootstrap=5, seed=9)
    assert m["ci95"] != roc.score_metrics(truth, score, bootstrap=5, seed=10)["ci95"]


def test_roc_points_start_at_zero_and_are_log_spaced_from_one_over_n_neg():
    from mia.evaluation import roc
    truth = np.r_[np.ones(3, bool), np.zeros(4, bool)]
    score = np.array([7.0, 6, 2, 5, 4, 3, 1])
    pts = roc.roc_points(truth, score, max_points=3)
    assert pts["fpr"] == [0.0, 0.25, 0.5, 1.0]
    # members 7, 6 before any non-member; 2 after three of four non-members
    assert pts["tpr"] == [pytest.approx(2 / 3), pytest.approx(2 / 3), pytest.approx(2 / 3), 1.0]


def test_grouped_resampling_draws_whole_images_seeded():
    from mia.evaluation import roc
    truth = np.array([True, False] * 6)
    groups = np.repeat(np.arange(4), 3)  # 4 images of 3 rows
    draws = list(roc.resample_weights(truth, 6, 5, groups))
    assert len(draws) == 6
    for w in draws:
        assert w.sum() == 12 and all(len(set(w[groups == g])) == 1 for g in range(4))
    again = list(roc.resample_weights(truth, 6, 5, groups))
    assert all(np.array_equal(a, b) for a, b in zip(draws, again))
    assert not all(np.array_equal(a, b) for a, b in zip(draws, roc.resample_weights(truth, 6, 6, groups)))
    rows, counts = roc.group_counts(groups, 2, 5)
    assert rows.tolist() == groups.tolist()
    assert [c.tolist() for c in counts] == [w[::3].tolist() for w in draws[:2]]
    strat = list(roc.resample_weights(truth, 3, 5))
    assert all(w[truth].sum() == 6 and w[~truth].sum() == 6 for w in strat)
    assert not all(np.array_equal(a, b) for a, b in zip(strat, roc.resample_weights(truth, 3, 6)))


def test_score_metrics_resamples_only_when_asked_and_then_needs_a_seed():
    from mia.evaluation import roc
    truth = np.r_[np.ones(5, bool), np.zeros(5, bool)]
    score = np.arange(10.0)
    plain = roc.score_metrics(truth, score)
    assert "ci95" not in plain and plain == roc.score_metrics(truth, score, 0)
    with pytest.raises(ValueError, match="^a bootstrap needs a seed$"):
        roc.score_metrics(truth, score, 3)


def test_the_figures_roc_has_400_log_spaced_points_and_zero():
    from mia.evaluation import roc
    truth = np.r_[np.ones(100, bool), np.zeros(20_000, bool)]
    pts = roc.roc_points(truth, np.arange(20_100.0))
    assert len(pts["fpr"]) == 401 and pts["fpr"][0] == 0.0 and pts["fpr"][1] == pytest.approx(1 / 20_000)


# ---------------------------------------------------------------- the bootstrap's speed-ups
def _two_sum_roc(truth_sorted, group_end, w):
    """The ROC as it was computed before the packed sum: two float cumulative sums."""
    pos, neg = truth_sorted * w, (~truth_sorted) * w
    tp, fp = np.cumsum(pos)[group_end], np.cumsum(neg)[group_end]
    return np.r_[0.0, fp / fp[-1]], np.r_[0.0, tp / tp[-1]]


def test_the_packed_roc_equals_two_separate_sums_bit_for_bit_with_ties_and_counts():
    """Members' counts in the high 32 bits and non-members' in the low 32 of one cumulative
    sum read the same running totals as two sums; the metrics computed in a curve's kept
    arrays (RocWork, its trapezoid included) are np.trapezoid's and tpr_at_fpr's exactly."""
    from mia import metrics
    from mia.evaluation import roc
    rng = np.random.default_rng(7)
    for trial in range(40):
        n = int(rng.integers(2, 4000))
        truth = rng.random(n) < rng.uniform(0.05, 0.95)
        truth[:2] = [True, False]
        score = np.round(rng.normal(size=n) + truth, int(rng.integers(0, 3)))  # ties
        curve = roc.Curve(truth, score)
        for w in [None, *roc.resample_weights(curve.truth, 3, trial)]:
            ones = np.ones(n) if w is None else w
            want_fpr, want_tpr = _two_sum_roc(curve.truth, curve.group_end, ones.astype(float))
            fpr, tpr = curve.roc(w)
            assert np.array_equal(fpr, want_fpr) and np.array_equal(tpr, want_tpr)
            got = curve.metrics(w)
            assert got["auc"] == float(np.trapezoid(want_tpr, want_fpr))
            for key, f in roc.FPRS.items():
                want = metrics.tpr_at_fpr(want_fpr, want_tpr, f) if curve.n_neg * f >= 1 else None
                assert got[key] == want


def test_the_roc_is_the_same_with_and_without_ties_in_its_blocks():
    """Without ties each block is one sample and the running sums are read directly."""
    from mia.evaluation import roc
    truth = np.array([1, 0, 1, 0, 0], bool)
    distinct, tied = roc.Curve(truth, np.array([5.0, 4, 3, 2, 1])), roc.Curve(truth, np.array([5.0, 4, 4, 2, 1]))
    assert distinct.blocks is None and tied.blocks is not None
    assert np.array_equal(distinct.roc()[1], [0, 0.5, 0.5, 1, 1, 1])
    assert np.array_equal(tied.roc()[1], [0, 0.5, 1, 1, 1])  # 4 and 4: one block


def test_roc_weights_are_counts():
    from mia.evaluation import roc
    curve = roc.Curve(np.array([1, 0, 1, 0], bool), np.array([4.0, 3, 2, 1]))
    assert curve.metrics(np.array([1.0, 2.0, 0.0, 1.0]))["auc"] == curve.metrics(
        np.array([1, 2, 0, 1]))["auc"]  # counts stored as floats are read as integers
    with pytest.raises(ValueError, match=r"^ROC weights are counts \(how often each sample was "
                                         r"drawn\), got 0\.5$"):
        curve.metrics(np.array([1.0, 0.5, 1.0, 1.0]))


def test_replicates_do_not_depend_on_threads_or_chunks(monkeypatch):
    """One thread or two, resamples handed over one chunk at a time or in chunks of 3 of 10:
    the same values, stratified and whole-image resampling alike."""
    rng = np.random.default_rng(3)
    truth = rng.random(600) < 0.5
    scores = {name: rng.normal(size=600) + truth * shift
              for name, shift in (("a", 0.1), ("b", 0.5), ("c", 1.0))}
    groups = np.tile(np.arange(200), 3)
    runs = []
    for threads, chunk in ((1, 64), (2, 64), (2, 3), (3, 1)):
        monkeypatch.setattr(paired, "available_cpus", lambda threads=threads: threads)
        monkeypatch.setattr(paired, "CHUNK", chunk)
        runs.append([paired.replicates(truth, scores, 10, 4, g) for g in (None, groups)])
    for run in runs[1:]:
        for got, want in zip(run, runs[0]):
            for name in scores:
                for k, v in want[name].items():
                    assert (v is None and got[name][k] is None) or np.array_equal(got[name][k], v)
    assert len(runs[0][0]["a"]["auc"]) == 10


def test_replicates_read_resamples_drawn_ahead_as_their_own():
    from mia.evaluation import roc
    rng = np.random.default_rng(5)
    truth = rng.random(300) < 0.4
    scores = {"a": rng.normal(size=300) + truth, "b": rng.normal(size=300)}
    ahead = [w.astype(np.int32) for w in roc.resample_weights(truth, 8, 2)]
    got, want = paired.replicates(truth, scores, 8, 2, weights=ahead), paired.replicates(truth, scores, 8, 2)
    assert all(np.array_equal(got[n]["auc"], want[n]["auc"]) for n in scores)
    with pytest.raises(ValueError, match=r"^weights drawn ahead are for members and non-members "
                                         r"resampled separately, not for whole images \(groups\)$"):
        paired.replicates(truth, scores, 8, 2, np.arange(300), weights=ahead)
    # the weights given are the ones read: all ones, every resample is the whole sample
    ones = [np.ones(300, np.int64)] * 3
    given = paired.replicates(truth, scores, 3, 2, weights=ones)
    for name, score in scores.items():
        assert np.all(given[name]["auc"] == roc.Curve(truth, score).metric("auc"))


def test_a_thread_s_error_is_raised_by_replicates(monkeypatch):
    from mia.evaluation import roc

    def broken(self, sorted_weights=None):
        raise RuntimeError("broken row")
    monkeypatch.setattr(roc.Curve, "metrics", broken)
    with pytest.raises(RuntimeError, match="broken row"):
        paired.replicates(TRUTH, {"a": PERFECT, "b": ONE_SWAP}, 5, 0)


def test_a_roc_of_2_to_the_31_samples_is_refused_before_any_work():
    """The packed counts hold fewer than 2**31 samples: at 2**31 the curve refuses in one line,
    before sorting (the scores are a broadcast view, so the test uses no memory)."""
    from mia.evaluation import roc
    huge = np.broadcast_to(np.float64(0.0), (2**31,))
    with pytest.raises(ValueError, match=r"^a ROC of 2,147,483,648 samples is beyond the packed "
                                         r"counts \(fewer than 2\*\*31\)$"):
        roc.Curve(np.broadcast_to(True, (2**31,)), huge)
