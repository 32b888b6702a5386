import numpy as np
import pytest

from mia.attacks import SignalView, kde_threshold
from mia.evaluation import threshold
from mia.errors import UserError


def test_kde_threshold_lands_on_the_analytic_crossing():
    """Members ~ N(0, 1), non-members ~ N(2, 1): the densities cross at 1."""
    rng = np.random.default_rng(0)
    attack = kde_threshold.KDEThreshold().fit(SignalView(rng.normal(0, 1, 20000), rng.normal(2, 1, 20000)))
    assert attack.method == "kde_crossing_between_modes"
    assert attack.threshold == pytest.approx(1.0, abs=0.05)


def test_kde_threshold_unequal_variances_picks_the_crossing_between_the_modes():
    """N(0, 1) vs N(3, 2): two crossings; the one between the modes solves
    -x^2/2 = -log 2 - (x-3)^2/8, i.e. 3x^2 + 6x - 9 - 8 log 2 = 0."""
    rng = np.random.default_rng(1)
    attack = kde_threshold.KDEThreshold().fit(SignalView(rng.normal(0, 1, 40000), rng.normal(3, 2, 40000)))
    a, b, c = 3.0, 6.0, -9 - 8 * np.log(2)
    expected = (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)
    assert 0 < expected < 3
    assert attack.threshold == pytest.approx(expected, abs=0.08)


def _attacked(losses) -> SignalView:
    return SignalView(np.zeros(0), np.zeros(0), np.asarray(losses, float))


def test_prediction_is_member_below_threshold_and_the_score_is_higher_for_members():
    attack = kde_threshold.KDEThreshold(threshold=1.0)
    assert attack.predict(_attacked([0.5, 1.0, 1.5])).tolist() == [True, False, False]
    assert attack.score(_attacked([0.5, 1.0, 1.5])).tolist() == [-0.5, -1.0, -1.5]
    assert attack.fitted_values() == {"threshold": 1.0, "threshold_method": ""}


def test_degenerate_sample_falls_back_to_best_threshold_on_attacker_sample():
    attack = kde_threshold.KDEThreshold().fit(SignalView(np.zeros(10), np.ones(10)))
    assert attack.method == "best_on_attacker_sample"
    assert attack.predict(_attacked([0]))[0] and not attack.predict(_attacked([1]))[0]


def test_sampling_is_balanced_and_disjoint():
    rng = np.random.default_rng(0)
    split = threshold.sample_split(50000, 10000, 16, rng)
    assert len(split.attacker_members) == 8000 and len(split.attacker_nonmembers) == 1600
    assert len(split.eval_members) == len(split.eval_nonmembers) == 10000 - 1600
    assert not set(split.attacker_members) & set(split.eval_members)
    assert not set(split.attacker_nonmembers) & set(split.eval_nonmembers)
    for part in (split.attacker_members, split.eval_members):
        assert len(np.unique(part)) == len(part) and part.max() < 50000
    assert split.eval_nonmembers.max() < 10000


def test_sampling_is_seeded_and_differs_between_repeats():
    def draw(r):
        return threshold.sample_split(1000, 500, 10,
                                    np.random.default_rng(threshold.split_seed(0, 10, r)))
    assert np.array_equal(draw(0).attacker_members, draw(0).attacker_members)
    assert not np.array_equal(draw(0).attacker_members, draw(1).attacker_members)


def test_too_small_a_sample_is_an_error():
    with pytest.raises(UserError, match="sampling percentage 0.1"):
        threshold.sample_split(1000, 500, 0.1, np.random.default_rng(0))


def test_equal_balanced_accuracy_ties_go_to_the_smallest_threshold():
    """Thresholds 1.5 and 3.5 both classify 3 of 4 correctly: the smaller one wins."""
    members, nonmembers = np.array([1.0, 3.0]), np.array([2.0, 4.0])
    assert kde_threshold.best_candidate(members, nonmembers, np.array([3.5, 1.5])) == 1.5
    assert kde_threshold.best_candidate(members, nonmembers, np.array([3.5, 1.5, 2.5])) == 1.5


def test_equal_balanced_accuracies_tie_exactly_not_by_float_rounding():
    """Members [3, 10], non-members [1, 2, 4, 5, 6, 20]: thresholds 3.5 (TP 1, TN 4) and
    10.5 (TP 2, TN 1) have the same balanced accuracy, exactly 7/12 both
    ((1/2 + 4/6) / 2 = (2/2 + 1/6) / 2). In floats the second rounds higher, so a float
    argmax would take 10.5; the exact rule keeps the smaller, 3.5."""
    members, nonmembers = np.array([3.0, 10.0]), np.array([1.0, 2.0, 4.0, 5.0, 6.0, 20.0])
    assert (1 / 2 + 4 / 6) / 2 < (2 / 2 + 1 / 6) / 2  # the rounding this test is about
    assert kde_threshold.best_candidate(members, nonmembers, np.array([10.5, 3.5])) == 3.5


def test_two_attacker_samples_per_class_are_enough_and_one_is_not():
    assert threshold.attacker_counts(20, 20, 10) == (2, 2)
    with pytest.raises(UserError, match="gives the attacker 1 samples"):
        threshold.attacker_counts(20, 20, 5)


def test_the_evaluation_set_is_as_large_as_the_smaller_remainder():
    rng = np.random.default_rng(0)
    split = threshold.sample_split(100, 1000, 10, rng)  # fewer members than non-members
    assert len(split.eval_members) == len(split.eval_nonmembers) == 90
    one = threshold.sample_split(3, 3, 66.67, rng)  # 2 known of each, 1 left to evaluate
    assert len(one.eval_members) == len(one.eval_nonmembers) == 1
    with pytest.raises(UserError, match="sampling percentage 99 leaves no samples to evaluate on"):
        threshold.sample_split(2, 2, 99, rng)


def test_split_seeds_are_pinned():
    """The committed results were drawn from these seeds: (seed, round(1000 p), repeat)."""
    assert threshold.split_seed(0, 16, 3) == [0, 16000, 3]
    assert threshold.split_seed(5, 0.5, 0) == [5, 500, 0]


# ---------------------------------------------------------------- the global threshold (000)
def test_global_threshold_is_the_best_observed_loss_on_the_attacker_sample():
    """Members 0.1, 0.2, 0.6; non-members 0.3, 0.5, 0.9. Member iff loss < t: t = 0.3 admits
    0.1 and 0.2 (TP 2 of 3, TN 3 of 3: balanced accuracy 5/6); t = 0.9 admits all but 0.9
    (TP 3, TN 1: 4/6); 0.6 admits 0.1, 0.2, 0.3, 0.5 (TP 2, TN 1: 3/6). The best is 0.3."""
    from mia.attacks import global_threshold
    view = SignalView(np.array([0.1, 0.2, 0.6]), np.array([0.3, 0.5, 0.9]),
                      np.array([0.05, 0.3, 0.29, 1.0]))
    attack = global_threshold.GlobalThreshold().fit(view)
    assert attack.threshold == 0.3
    assert attack.fitted_values() == {"threshold": 0.3, "threshold_method": "best_on_attacker_sample"}
    assert attack.predict(view).tolist() == [True, False, True, False]
    assert np.array_equal(attack.score(view), -view.signal)


def test_global_threshold_accuracy_curve_peaks_at_the_oracle_on_separable_losses():
    """Members' losses all below non-members': the fitted threshold separates the attacker's
    sample exactly, and on a disjoint sample inside the two ranges the accuracy is 1 too; the
    oracle (best threshold on the evaluation set, metrics.loss_metrics) is also 1."""
    from mia import metrics
    from mia.attacks import global_threshold
    rng = np.random.default_rng(0)
    known = SignalView(rng.uniform(0, 1, 50), rng.uniform(2, 3, 50))
    attack = global_threshold.GlobalThreshold().fit(known)
    assert attack.threshold == known.known_nonmembers.min()  # the first perfect candidate
    members, nonmembers = rng.uniform(0, 1, 40), rng.uniform(2.5, 3, 40)
    truth = np.r_[np.ones(40, bool), np.zeros(40, bool)]
    evaluation = SignalView(known.known_members, known.known_nonmembers, np.r_[members, nonmembers])
    assert metrics.thresholded(truth, attack.predict(evaluation))["accuracy"] == 1.0
    assert metrics.loss_metrics(truth, evaluation.signal)["best_accuracy"] == 1.0


# ---------------------------------------------------------------- study 003's rule
def test_nonmember_mean_threshold_is_the_known_nonmembers_mean_and_admits_below_it():
    """Members 0.1, 0.2, 0.6 (mean 0.3); non-members 0.3, 0.5, 0.9 (mean 17/30): member iff
    loss < 17/30, so 0.05 and 0.3 are members, 0.6 and 1.0 are not. Nothing is tuned: moving a
    member's loss changes the recorded members' mean but not the threshold."""
    from mia.attacks import nonmember_mean_threshold as rule
    view = SignalView(np.array([0.1, 0.2, 0.6]), np.array([0.3, 0.5, 0.9]),
                      np.array([0.05, 0.3, 0.6, 1.0]))
    attack = rule.NonmemberMeanThreshold().fit(view)
    assert attack.threshold == pytest.approx(17 / 30, rel=1e-15)
    assert attack.fitted_values() == {"threshold": attack.threshold,
                                      "threshold_method": "mean_of_known_nonmembers",
                                      "known_member_mean": pytest.approx(0.3, rel=1e-15)}
    assert attack.predict(view).tolist() == [True, True, False, False]
    assert np.array_equal(attack.score(view), -view.signal)
    moved = rule.NonmemberMeanThreshold().fit(SignalView(np.array([0.1, 0.2, 5.0]),
                                                         view.known_nonmembers))
    assert moved.threshold == attack.threshold and moved.member_mean != attack.member_mean


def test_nonmember_mean_threshold_runs_in_the_sampling_protocol():
    """Through the threshold stage's one repeat: fitted on the attacker's sample, judged on the
    evaluation set: the attacker's non-members' losses lie in 1..2 (mean near 1.5), the
    evaluated members' in 0..1 and non-members' in 1.9..2, so the rule is right on every one."""
    rng = np.random.default_rng(1)
    run = threshold.run_once("nonmember_mean_threshold", {}, rng.uniform(0, 1, 30),
                             rng.uniform(1, 2, 30), rng.uniform(0, 1, 20), rng.uniform(1.9, 2, 20))
    assert run["threshold_method"] == "mean_of_known_nonmembers"
    assert 1.3 < run["threshold"] < 1.7
    assert run["recall"] == 1.0 and run["precision"] == 1.0 and run["auc"] == 1.0


def test_accuracy_curve_by_hand_and_its_peak_is_the_oracle():
    """Members 0.1, 0.2, 0.6; non-members 0.3, 0.5, 0.9 (the global threshold's example):
    t = 0.1 admits nobody (1/2), 0.2 admits 0.1 (TPR 1/3: 2/3), 0.3 admits both small members
    (5/6), 0.5 admits 0.3 too (TNR 2/3: 2/3), 0.6 (1/2), 0.9 (TPR 1, TNR 1/3: 2/3), above 0.9
    everyone (1/2). Its peak is metrics.loss_metrics' best accuracy on the same samples."""
    from mia import metrics
    m, n = np.array([0.6, 0.1, 0.2]), np.array([0.9, 0.3, 0.5])
    t, acc = threshold.accuracy_curve(m, n)
    assert t[:-1].tolist() == [0.1, 0.2, 0.3, 0.5, 0.6, 0.9] and t[-1] == np.nextafter(0.9, 1)
    np.testing.assert_allclose(acc, [1 / 2, 2 / 3, 5 / 6, 2 / 3, 1 / 2, 2 / 3, 1 / 2])
    truth = np.r_[np.ones(3, bool), np.zeros(3, bool)]
    assert acc.max() == pytest.approx(metrics.loss_metrics(truth, np.r_[m, n])["best_accuracy"])
    rng = np.random.default_rng(2)
    m, n = rng.normal(0, 1, 300), rng.normal(0.5, 1, 200)
    truth = np.r_[np.ones(300, bool), np.zeros(200, bool)]
    assert threshold.accuracy_curve(m, n)[1].max() == pytest.approx(
        metrics.loss_metrics(truth, np.r_[m, n])["best_accuracy"])


def test_when_no_threshold_beats_chance_the_global_threshold_admits_nobody():
    """Members' losses all above the non-members': every threshold is at or below chance;
    admitting nobody (the smallest loss) and everyone tie at 1/2, and the smallest wins."""
    from mia.attacks import global_threshold
    view = SignalView(np.array([5.0, 6.0, 7.0]), np.array([1.0, 2.0, 3.0]), np.array([0.5, 9.0]))
    attack = global_threshold.GlobalThreshold().fit(view)
    assert attack.threshold == 1.0
    assert attack.predict(view).tolist() == [True, False]  # only a loss below every one seen
