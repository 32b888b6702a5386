"""The comparison of two arms trained with several seeds (mia.evaluation.arms, study 004), on
synthetic scores with known answers."""
import numpy as np
import pytest

from mia.evaluation import arms

RNG = np.random.default_rng(0)
TRUTH = np.r_[np.ones(600, bool), np.zeros(400, bool)]


def noise(seed):
    return np.random.default_rng(seed).normal(size=len(TRUTH))


def shifted(shift, seed):
    """Members' scores shifted up by ``shift`` standard deviations: AUC = Phi(shift / sqrt 2)."""
    return noise(seed) + shift * TRUTH


def test_a_perfect_arm_against_a_random_one_is_a_real_difference():
    a = arms.Arm("random", TRUTH, tuple(noise(s) for s in range(3)))
    b = arms.Arm("perfect", TRUTH, tuple(TRUTH + 0.01 * noise(s) for s in range(3)))
    out = arms.compare(a, b, seed=0, same_samples=True, bootstrap=200)
    auc = out["metrics"]["auc"]
    assert auc["b"]["per_seed"] == [1.0, 1.0, 1.0] and auc["b"]["mean"] == 1.0
    assert abs(auc["a"]["mean"] - 0.5) < 0.05
    assert auc["difference"] == pytest.approx(1.0 - auc["a"]["mean"])
    lo, hi = auc["difference_ci95"]
    assert 0.4 < lo < auc["difference"] < hi < 0.6 and auc["excludes_zero"] is True
    assert out["metrics"]["tpr_at_1pct_fpr"]["b"]["mean"] == 1.0


def test_the_same_arm_twice_differs_by_exactly_zero_when_paired():
    scores = tuple(shifted(0.5, s) for s in range(3))
    out = arms.compare(arms.Arm("x", TRUTH, scores), arms.Arm("y", TRUTH, scores), seed=1,
                       same_samples=True, bootstrap=100)
    for key in ("auc", "tpr_at_1pct_fpr"):  # 400 non-members: no TPR at 0.1% FPR
        m = out["metrics"][key]
        assert m["difference"] == 0.0 and m["difference_ci95"] == [0.0, 0.0]
        assert m["excludes_zero"] is False
    # unpaired (independent sample draws), the same arms get an interval around zero
    unpaired = arms.compare(arms.Arm("x", TRUTH, scores), arms.Arm("y", TRUTH, scores), seed=1,
                            same_samples=False, bootstrap=100)["metrics"]["auc"]
    lo, hi = unpaired["difference_ci95"]
    assert lo < 0 < hi and unpaired["excludes_zero"] is False


def test_the_interval_covers_the_seed_spread():
    """Three seeds whose AUCs differ far more than sampling explains (shifts 0, 0.5, 1.5): the
    arm's interval reaches toward the extreme seeds, wider than any one seed's sampling
    interval, and stays inside the range the seed means can take."""
    spread = arms.Arm("spread", TRUTH, (shifted(0.0, 0), shifted(0.5, 1), shifted(1.5, 2)))
    steady = arms.Arm("steady", TRUTH, tuple(shifted(0.5, s) for s in range(3)))
    out = arms.compare(steady, spread, seed=2, same_samples=True, bootstrap=400)["metrics"]["auc"]
    per = out["b"]["per_seed"]
    lo, hi = out["b"]["ci95"]
    assert min(per) - 0.03 < lo < np.mean(per) < hi < max(per) + 0.03
    assert hi - lo > 0.15  # the seeds' spread, not the samples' (about 0.07 for one seed)
    steady_lo, steady_hi = out["a"]["ci95"]
    assert steady_hi - steady_lo < 0.1


def test_the_result_is_a_function_of_the_seed():
    a = arms.Arm("a", TRUTH, tuple(shifted(0.2, s) for s in range(2)))
    b = arms.Arm("b", TRUTH, tuple(shifted(0.4, s + 5) for s in range(2)))
    one = arms.compare(a, b, seed=3, same_samples=True, bootstrap=50)
    assert one == arms.compare(a, b, seed=3, same_samples=True, bootstrap=50)
    assert one != arms.compare(a, b, seed=4, same_samples=True, bootstrap=50)


def test_bad_arms_are_refused():
    a = arms.Arm("a", TRUTH, (noise(0), noise(1)))
    with pytest.raises(ValueError, match="have 2 and 1 seeds"):
        arms.compare(a, arms.Arm("b", TRUTH, (noise(2),)), seed=0, same_samples=True)
    with pytest.raises(ValueError, match="not evaluated on the same samples"):
        arms.compare(a, arms.Arm("b", ~TRUTH, (noise(2), noise(3))), seed=0, same_samples=True)
    with pytest.raises(ValueError, match="no seeds"):
        arms.Arm("c", TRUTH, ())
    with pytest.raises(ValueError, match="cover its 1,000 samples"):
        arms.Arm("c", TRUTH, (noise(0)[:10],))


def test_a_rate_that_cannot_be_read_is_none_not_a_number():
    """TPR at 0.1% FPR needs 1,000 non-members: with 400 it is None, and so is its difference."""
    a = arms.Arm("a", TRUTH, (noise(0),))
    out = arms.compare(a, arms.Arm("b", TRUTH, (noise(1),)), seed=0, same_samples=True,
                       bootstrap=20)["metrics"]["tpr_at_0.1pct_fpr"]
    assert out["a"]["mean"] is None and out["difference"] is None and out["excludes_zero"] is None


def test_per_seed_numbers_are_compared_over_the_seeds():
    """Test accuracies 0.50, 0.52, 0.54 against 0.60, 0.61, 0.62: means 0.52 and 0.61, the
    difference 0.09 whose interval (seeds only) lies within the paired differences' range."""
    a = arms.Arm("a", TRUTH, tuple(noise(s) for s in range(3)))
    b = arms.Arm("b", TRUTH, tuple(noise(s + 3) for s in range(3)))
    out = arms.compare(a, b, seed=0, same_samples=True, bootstrap=300,
                       per_seed={"test_accuracy": ([0.50, 0.52, 0.54], [0.60, 0.61, 0.62])})
    m = out["metrics"]["test_accuracy"]
    assert m["a"]["mean"] == pytest.approx(0.52) and m["b"]["per_seed"] == [0.60, 0.61, 0.62]
    assert m["difference"] == pytest.approx(0.09)
    lo, hi = m["difference_ci95"]
    assert 0.08 - 1e-12 <= lo <= 0.09 <= hi <= 0.10 + 1e-12 and m["excludes_zero"] is True
    with pytest.raises(ValueError, match="one value per seed"):
        arms.compare(a, b, seed=0, same_samples=True, per_seed={"x": ([1.0], [1.0, 2.0, 3.0])})
