"""Invariants the field relies on, checked on generated data (Hypothesis).

Scores are drawn from a few integer levels, so that ties are common: the tie rule
(``metrics`` module doc) must hold for them too.
"""
import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mia import metrics, scores

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def labelled_scores(draw, max_size=60, levels=8):
    n = draw(st.integers(4, max_size))
    y = draw(arrays(bool, n))
    if y.all() or not y.any():  # both classes present
        y[0], y[1] = True, False
    s = draw(arrays(np.int64, n, elements=st.integers(0, levels))).astype(float)
    return y, s


@given(labelled_scores(), st.sampled_from(["affine", "exp", "arctan", "cube"]))
@SETTINGS
def test_curve_metrics_are_invariant_to_increasing_transforms(data, name):
    y, s = data
    f = {"affine": lambda x: 3 * x - 7, "exp": np.exp, "arctan": np.arctan,
         "cube": lambda x: x ** 3}[name]
    a, b = metrics.threshold_free(y, s), metrics.threshold_free(y, f(s))
    for k in ("auc", "advantage", "best_accuracy", "tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr"):
        assert (a[k] is None and b[k] is None) or np.isclose(a[k], b[k], rtol=1e-12, atol=1e-12), k
    from sklearn.metrics import roc_curve
    fa, ta, _ = roc_curve(y, s, drop_intermediate=False)
    fb, tb, _ = roc_curve(y, f(s), drop_intermediate=False)
    for target in (0.01, 0.1, 0.3):
        assert np.isclose(metrics.tpr_at_fpr(fa, ta, target), metrics.tpr_at_fpr(fb, tb, target))


@given(labelled_scores())
@SETTINGS
def test_swapping_members_and_non_members_gives_one_minus_auc(data):
    y, s = data
    assert np.isclose(metrics.threshold_free(~y, s)["auc"], 1 - metrics.threshold_free(y, s)["auc"])


@given(labelled_scores(), st.floats(0, 1), st.floats(0, 1))
@SETTINGS
def test_tpr_at_fpr_is_monotone_in_the_target(data, f1, f2):
    from sklearn.metrics import roc_curve
    y, s = data
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    lo, hi = sorted((f1, f2))
    assert metrics.tpr_at_fpr(fpr, tpr, lo) <= metrics.tpr_at_fpr(fpr, tpr, hi) + 1e-15


@given(labelled_scores())
@SETTINGS
def test_ties_are_the_same_straight_segment_in_auc_and_in_tpr_at_fpr(data):
    """AUC (a tied pair counts 1/2) is the area under exactly the curve that ``tpr_at_fpr``
    reads: integrating TPR-at-FPR over FPR, piece by piece between ROC vertices, gives AUC."""
    from sklearn.metrics import roc_curve
    y, s = data
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    xs = np.unique(fpr)
    # On each piece the curve is straight: its integral is the mean of its ends (read just
    # inside each end, so a vertical jump at a vertex is not averaged in).
    area = 0.0
    for a, b in zip(xs[:-1], xs[1:]):
        left = metrics.tpr_at_fpr(fpr, tpr, a)
        right = metrics.tpr_at_fpr(fpr, tpr, np.nextafter(b, -np.inf))
        area += (b - a) * (left + right) / 2
    assert np.isclose(area, metrics.threshold_free(y, s)["auc"], atol=1e-9)


@given(labelled_scores(), st.data())
@SETTINGS
def test_tpr_at_fpr_is_the_expected_point_of_admitting_a_random_part_of_a_tied_block(data, pick):
    """Admit every sample scoring above a tied block, and k of the block's K samples chosen at
    random: in expectation that admits k/K of its a members and b non-members. That point,
    computed from counts alone, is where TPR-at-FPR must read."""
    y, s = data
    level = pick.draw(st.sampled_from(sorted(set(s))))
    block = s == level
    k_of = int(block.sum())
    k = pick.draw(st.integers(0, k_of))
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    above = s > level
    e_tp = (y & above).sum() + k / k_of * (y & block).sum()
    e_fp = (~y & above).sum() + k / k_of * (~y & block).sum()
    from sklearn.metrics import roc_curve
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    got = metrics.tpr_at_fpr(fpr, tpr, e_fp / n_neg)
    if 0 < k < k_of and (~y & block).sum() > 0:  # strictly inside the block's sloped segment
        assert np.isclose(got, e_tp / n_pos, atol=1e-12)
    else:  # at a vertex, members-only steps at the same FPR may add to it, never take away
        assert got >= e_tp / n_pos - 1e-12


@given(arrays(np.float64, (12, 5), elements=st.floats(-30, 30)), st.integers(0, 4))
@SETTINGS
def test_cross_entropy_and_probability_loss_rank_samples_alike(logits, label):
    """1 - p_y = 1 - exp(-CE) is increasing in CE: wherever cross-entropy orders two samples
    strictly, probability loss never orders them the other way (it may tie them where 1 - p_y
    rounds to 1). Ranks are compared, not values: the code keeps precision the formula loses."""
    z, y = torch.from_numpy(logits), torch.full((12,), label)
    ce = scores.cross_entropy(z, y).numpy()
    pl = scores.probability_loss(z, y).numpy()
    i, j = np.nonzero(ce[:, None] < ce[None, :])
    assert (pl[i] <= pl[j]).all()
    assert np.allclose(pl, -np.expm1(-ce), rtol=1e-12, atol=1e-300)
