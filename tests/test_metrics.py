import numpy as np
import pytest
from sklearn import metrics as sk

from mia import metrics


def test_thresholded_metrics_equal_sklearn():
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.5
    pred = rng.random(500) < 0.4
    got = metrics.thresholded(y, pred)
    assert got["accuracy"] == sk.accuracy_score(y, pred)
    assert got["precision"] == sk.precision_score(y, pred)
    assert got["recall"] == sk.recall_score(y, pred)
    assert got["f1"] == sk.f1_score(y, pred)
    assert got["confusion_matrix"] == sk.confusion_matrix(y, pred).tolist()
    (tn, fp), (fn, tp) = got["confusion_matrix"]
    assert tp == np.sum(y & pred) and tn == np.sum(~y & ~pred)


def test_threshold_free_metrics_equal_sklearn():
    rng = np.random.default_rng(1)
    y = np.r_[np.ones(1000, bool), np.zeros(1000, bool)]
    s = rng.normal(size=2000) + y
    got = metrics.threshold_free(y, s)
    fpr, tpr, _ = sk.roc_curve(y, s)
    assert got["auc"] == pytest.approx(sk.roc_auc_score(y, s))
    assert got["advantage"] == pytest.approx(np.max(tpr - fpr))
    assert got["tpr_at_1pct_fpr"] == pytest.approx(tpr[fpr <= 0.01].max())
    # The best threshold's accuracy on a balanced set is (1 + advantage) / 2 ...
    assert got["best_accuracy"] == pytest.approx((1 + got["advantage"]) / 2)
    # ... and it is what predicting "member iff score >= best_threshold" achieves.
    assert sk.accuracy_score(y, s >= got["best_threshold"]) == pytest.approx(got["best_accuracy"])


def test_members_are_the_positive_class():
    """A perfectly separating loss (members low) must give AUC 1, not 0."""
    loss = np.r_[np.linspace(0, 1, 50), np.linspace(2, 3, 50)]
    is_member = np.r_[np.ones(50, bool), np.zeros(50, bool)]
    got = metrics.threshold_free(is_member, -loss)
    assert got["auc"] == 1.0
    assert got["advantage"] == 1.0
    assert got["tpr_at_0.1pct_fpr"] is None  # 50 non-members cannot resolve 0.1%
    cm = metrics.thresholded(is_member, loss < 1.5)
    assert cm["precision"] == cm["recall"] == 1.0
    assert cm["confusion_matrix"] == [[50, 0], [0, 50]]


def test_tpr_at_fpr_without_any_point_below_target():
    assert metrics.tpr_at_fpr(np.array([0.5, 1.0]), np.array([0.7, 1.0]), 0.01) == 0.0


def test_mean_std_uses_sample_std():
    assert metrics.mean_std([1.0, 3.0]) == {"mean": 2.0, "std": pytest.approx(np.sqrt(2))}
    assert metrics.mean_std([5.0]) == {"mean": 5.0, "std": 0.0}


def test_tied_scores_count_as_broken_at_random_in_tpr_at_fpr():
    """4 members and 100 non-members; 2 members and 50 non-members tie at the top score.

    Any threshold takes the tied block whole (TPR 0.5 at FPR 0.5) or not at all (0, 0).
    Broken at random, admitting a fraction q of it gives TPR 0.5q at FPR 0.5q: at FPR 1%,
    TPR 1%. AUC counts tied pairs as 1/2, the same straight segment."""
    y = np.r_[np.ones(4, bool), np.zeros(100, bool)]
    s = np.r_[1.0, 1.0, 0.5, 0.5, np.ones(50), np.zeros(50)]
    got = metrics.threshold_free(y, s)
    assert got["tpr_at_1pct_fpr"] == pytest.approx(0.01)
    assert got["tpr_at_0.1pct_fpr"] is None  # 100 non-members do not resolve 0.1%
    from sklearn.metrics import roc_curve
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    assert metrics.tpr_at_fpr(fpr, tpr, 0.001) == pytest.approx(0.001)
    assert got["auc"] == pytest.approx(sk.roc_auc_score(y, s))


def test_tpr_at_fpr_without_ties_is_the_step_value():
    y = np.r_[np.ones(3, bool), np.zeros(200, bool)]
    s = np.r_[5.0, 4.0, -1.0, 4.5, np.linspace(-3, 3, 199)]
    got = metrics.threshold_free(y, s)
    assert got["tpr_at_1pct_fpr"] == pytest.approx(2 / 3)  # FPR 0.5% after the 2nd member
    from sklearn.metrics import roc_curve
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    assert metrics.tpr_at_fpr(fpr, tpr, 0.001) == pytest.approx(1 / 3)


def test_loss_metrics_threshold_is_on_the_loss_scale():
    loss = np.array([0.1, 0.2, 0.3, 0.9, 0.8, 0.25])
    y = np.array([1, 1, 1, 0, 0, 0], bool)
    got = metrics.loss_metrics(y, loss)
    # Admitting {0.1, 0.2} or {0.1, 0.2, 0.25, 0.3} both reach 5/6: the strictest wins, and
    # the threshold sits halfway between 0.2 and the next loss, 0.25.
    assert got["best_threshold"] == pytest.approx((0.2 + 0.25) / 2)
    assert got["best_accuracy"] == pytest.approx(5 / 6)
    pred = loss < got["best_threshold"]
    assert (pred == y).mean() == pytest.approx(got["best_accuracy"])


def test_loss_metrics_when_no_threshold_beats_chance():
    """Members have the higher losses: the best is to flag nobody, below the smallest loss."""
    loss = np.array([0.1, 0.2, 0.8, 0.9])
    y = np.array([0, 0, 1, 1], bool)
    got = metrics.loss_metrics(y, loss)
    assert got["best_threshold"] == 0.1 and got["best_accuracy"] == 0.5
    assert not (loss < got["best_threshold"]).any()


def test_loss_metrics_threshold_separates_adjacent_floats():
    a = 1.0
    loss = np.array([a, np.nextafter(a, 2.0)])
    got = metrics.loss_metrics(np.array([True, False]), loss)
    assert got["best_accuracy"] == 1.0
    assert ((loss < got["best_threshold"]) == [True, False]).all()


def test_best_threshold_is_the_strictest_of_equal_gaps():
    """Scores 4, 3, 2, 1 with truth M, N, M, N: admitting {4} or {4, 3, 2} both give
    TPR - FPR = 0.5; the strictest (score >= 4) is chosen."""
    got = metrics.threshold_free(np.array([1, 0, 1, 0], bool), np.array([4.0, 3.0, 2.0, 1.0]))
    assert got["advantage"] == 0.5 and got["best_threshold"] == 4.0


def test_undefined_precision_recall_f1_are_zero_without_warnings():
    """No predicted members: precision (0/0) is 0; no members at all: recall (0/0) is 0."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        none_predicted = metrics.thresholded(np.array([1, 1, 0, 0], bool), np.zeros(4, bool))
        no_members = metrics.thresholded(np.zeros(4, bool), np.zeros(4, bool))
    assert none_predicted["precision"] == 0.0 and none_predicted["f1"] == 0.0
    assert none_predicted["recall"] == 0.0
    assert no_members["recall"] == 0.0 and no_members["f1"] == 0.0
    assert no_members["confusion_matrix"] == [[4, 0], [0, 0]]  # always 2x2


def test_an_fpr_target_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="got 1.5"):
        metrics.tpr_at_fpr(np.array([0.0, 1.0]), np.array([0.0, 1.0]), 1.5)
    assert metrics.tpr_at_fpr(np.array([0.0, 0.5, 1.0]), np.array([0.0, 1.0, 1.0]), 1.0) == 1.0
