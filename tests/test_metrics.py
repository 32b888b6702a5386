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
    assert got["tpr_at_0.1pct_fpr"] == 1.0
    cm = metrics.thresholded(is_member, loss < 1.5)
    assert cm["precision"] == cm["recall"] == 1.0
    assert cm["confusion_matrix"] == [[50, 0], [0, 50]]


def test_tpr_at_fpr_without_any_point_below_target():
    assert metrics.tpr_at_fpr(np.array([0.5, 1.0]), np.array([0.7, 1.0]), 0.01) == 0.0


def test_mean_std_uses_sample_std():
    assert metrics.mean_std([1.0, 3.0]) == {"mean": 2.0, "std": pytest.approx(np.sqrt(2))}
    assert metrics.mean_std([5.0]) == {"mean": 5.0, "std": 0.0}
