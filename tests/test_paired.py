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
    ma, mb = score_metrics(truth, a, bootstrap=300), score_metrics(truth, b, bootstrap=300)
    assert ma["auc"] > mb["auc"] and ma["ci95"]["auc"][0] < mb["ci95"]["auc"][1]  # overlap
    d = paired.paired_differences(truth, {"a": a, "b": b}, "a", "auc", bootstrap=300)["b"]
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
    clear = paired.strongest(truth, {"strong": strong, "weak": weak}, "auc", bootstrap=200)
    assert clear["strongest"] == "strong" and clear["tied_with_top"] == []
    assert clear["comparisons"]["weak"]["p_holm"] < 0.05
    tie = paired.strongest(truth, {"strong": strong, "weak": weak, "twin": twin}, "auc",
                           bootstrap=200)
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
