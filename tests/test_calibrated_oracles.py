"""Known answers for the reference-model attacks on a hand-made bank, the arithmetic written out.

Two classes and logits (phi, 0) for label 0, so that LiRA's signal log(p_y / (1 - p_y)) is
phi itself, and p_y = sigmoid(phi). Four references; reference r trained on sample i where
``KEEP[r, i]``: sample 0 was IN for references 0 and 1, sample 1 for references 2 and 3.
"""
import math

import numpy as np
import pytest

from mia.attacks import TargetView, build

KEEP = np.array([[True, False], [True, False], [False, True], [False, True]])
LABELS = np.array([0, 0])


def _logits(phi) -> np.ndarray:
    """(..., 2) logits whose class-0 log-odds are ``phi``."""
    phi = np.asarray(phi, dtype=np.float64)
    return np.stack([phi, np.zeros_like(phi)], axis=-1)


def _log_odds(p) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    return np.log(p) - np.log1p(-p)


def _view(target_phi, ref_phi, z_target_phi=(0.0,), z_ref_phi=((0.0,),) * 4, z_keep=None):
    """A TargetView: the target's and the references' signals on the two attacked samples and
    on the population z (one augmentation)."""
    z_ref_phi = np.asarray(z_ref_phi, dtype=np.float64)
    z_keep = np.zeros(z_ref_phi.shape, bool) if z_keep is None else z_keep
    return TargetView(_logits([target_phi]), LABELS, _logits(np.asarray(ref_phi)[:, None]), KEEP,
                      _logits([z_target_phi]), np.zeros(z_ref_phi.shape[1], int),
                      _logits(z_ref_phi[:, None]), z_keep)


# References' signals: sample 0 IN (refs 0, 1): 2, 4; OUT (refs 2, 3): 0, 1.
#                      sample 1 IN (refs 2, 3): 3, 5; OUT (refs 0, 1): -1, 1.
REF_PHI = np.array([[2.0, -1.0], [4.0, 1.0], [0.0, 3.0], [1.0, 5.0]])
TARGET_PHI = [3.0, 0.0]


def _log_normal(x, mu, s):
    return -0.5 * math.log(2 * math.pi) - math.log(s) - (x - mu) ** 2 / (2 * s * s)


def test_lira_online_per_sample_variance():
    # sample 0: IN median (2+4)/2 = 3, std 1; OUT median 0.5, std 0.5; phi_t = 3
    # sample 1: IN median 4, std 1; OUT median 0, std 1; phi_t = 0
    want = [_log_normal(3, 3, 1) - _log_normal(3, 0.5, 0.5),      # = log 0.5 + 12.5
            _log_normal(0, 4, 1) - _log_normal(0, 0, 1)]          # = -8
    assert want[0] == pytest.approx(math.log(0.5) + 12.5) and want[1] == pytest.approx(-8)
    got = build("lira_online", variance="per_sample").fit(_view(TARGET_PHI, REF_PHI))
    np.testing.assert_allclose(got.score(_view(TARGET_PHI, REF_PHI)), want, rtol=1e-12)


def test_lira_online_global_variance_pools_the_within_sample_variances():
    # OUT: within-sample variances 0.25 (0, 1) and 1 (-1, 1): s_out^2 = 0.625; IN: 1 and 1
    s_out = math.sqrt(0.625)
    want = [_log_normal(3, 3, 1) - _log_normal(3, 0.5, s_out),    # = 0.5 log 0.625 + 5
            _log_normal(0, 4, 1) - _log_normal(0, 0, s_out)]
    assert want[0] == pytest.approx(0.5 * math.log(0.625) + 5)
    view = _view(TARGET_PHI, REF_PHI)
    attack = build("lira_online", variance="global").fit(view)
    np.testing.assert_allclose(attack.score(view), want, rtol=1e-12)
    assert attack.fitted_values() == {"variance": "global"}


def test_lira_online_fixed_variance_is_the_spread_of_every_in_signal_for_both_sides():
    # The reference code's fix_variance: IN signals 2, 4 (sample 0) and 3, 5 (sample 1), mean
    # 3.5, squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, variance 5/4: s = sqrt(1.25) for
    # IN and OUT alike; medians as before (IN 3 and 4, OUT 0.5 and 0).
    s = math.sqrt(1.25)
    want = [_log_normal(3, 3, s) - _log_normal(3, 0.5, s),    # = (2.5^2) / (2 * 1.25) = 2.5
            _log_normal(0, 4, s) - _log_normal(0, 0, s)]      # = -16 / 2.5 = -6.4
    assert want == pytest.approx([2.5, -6.4])
    view = _view(TARGET_PHI, REF_PHI)
    attack = build("lira_online", variance="fixed").fit(view)
    np.testing.assert_allclose(attack.score(view), want, rtol=1e-12)
    assert attack.fitted_values() == {"variance": "fixed"}


def test_lira_offline_fixed_variance_is_the_spread_of_every_out_signal():
    # OUT signals 0, 1 (sample 0) and -1, 1 (sample 1): mean 0.25, squared deviations
    # 0.0625 + 0.5625 + 1.5625 + 0.5625 = 2.75, variance 0.6875; OUT medians 0.5 and 0.
    s = math.sqrt(0.6875)
    want = [-math.log(0.5 * math.erfc((3 - 0.5) / s / math.sqrt(2))), math.log(2)]
    view = _view(TARGET_PHI, REF_PHI)
    np.testing.assert_allclose(build("lira_offline", variance="fixed").fit(view).score(view),
                               want, rtol=1e-9)


def test_the_gap_attack_scores_one_where_the_target_is_right():
    # label 0, logits (phi, 0): right where phi > 0 (3 -> 1), wrong at phi = -1 (-> 0); a tie
    # (phi = 0) goes to the first maximum, class 0, the label: right.
    view = _view([3.0, -1.0], REF_PHI)
    np.testing.assert_array_equal(build("gap").fit(view).score(view), [1.0, 0.0])
    tie = _view([0.0, -1.0], REF_PHI)
    np.testing.assert_array_equal(build("gap").fit(tie).score(tie), [1.0, 0.0])


def test_lira_offline_is_the_one_sided_test_against_out():
    # sample 0: -log Pr[N(0.5, 0.5) >= 3] = -log(1 - Phi(5)); sample 1: -log(1 - Phi(0)) = log 2
    want = [-math.log(0.5 * math.erfc(5 / math.sqrt(2))), math.log(2)]
    view = _view(TARGET_PHI, REF_PHI)
    np.testing.assert_allclose(build("lira_offline", variance="per_sample").fit(view).score(view),
                               want, rtol=1e-9)


# RMIA, with p = sigmoid(phi). References' p on sample 0: 0.8, 0.6 (IN), 0.4, 0.2 (OUT); on
# sample 1: 0.5 for all four. Population: z0 with p = 0.5 under every model, z1 with p = 0.2
# under every reference and 0.3 under the target; no reference trained on z.
RMIA_REF_P = np.array([[0.8, 0.5], [0.6, 0.5], [0.4, 0.5], [0.2, 0.5]])
Z_REF_P = np.array([[0.5, 0.2]] * 4)
Z_TARGET_P = [0.5, 0.3]


def _rmia_view(target_p):
    return _view(_log_odds(target_p), _log_odds(RMIA_REF_P), _log_odds(Z_TARGET_P),
                 _log_odds(Z_REF_P))


def test_rmia_online_counts_the_z_whose_likelihood_ratio_it_beats():
    # online p(x) = mean over the references: 0.5 for both samples; ratios p_t(x)/p(x):
    # x0 = 0.9/0.5 = 1.8, x1 = 0.5/0.5 = 1; z0 = 0.5/0.5 = 1, z1 = 0.3/0.2 = 1.5.
    # LR(x, z) = ratio_x / ratio_z > 1: x0 beats both z (score 2/2); x1 ties z0 (a tie is not
    # greater) and loses to z1 (score 0/2).
    view = _rmia_view([0.9, 0.5])
    np.testing.assert_array_equal(build("rmia_online").fit(view).score(view), [1.0, 0.0])


def test_rmia_offline_uses_out_references_and_the_linear_approximation():
    # a = 0.5: p(x) = (1 + a)/2 p_OUT(x) + (1 - a)/2 = 0.75 p_OUT + 0.25.
    # x0: p_OUT = (0.4 + 0.2)/2 = 0.3, p(x) = 0.475, ratio 0.9/0.475 = 1.89;
    # x1: p_OUT = 0.5, p(x) = 0.625, ratio 0.5/0.625 = 0.8;
    # z0: p(z) = 0.625, ratio 0.8; z1: p(z) = 0.4, ratio 0.3/0.4 = 0.75.
    # x0 beats both (1.0); x1 ties z0 and beats z1 (1/2).
    view = _rmia_view([0.9, 0.5])
    attack = build("rmia_offline", a=0.5).fit(view)
    np.testing.assert_array_equal(attack.score(view), [1.0, 0.5])
    assert attack.fitted_values() == {"a": 0.5}
    # a = 1: p(x) = p_OUT(x). Ratios: x0 0.9/0.3 = 3, x1 0.5/0.5 = 1, z0 1, z1 0.3/0.2 = 1.5:
    # x0 beats both; x1 ties z0 and loses to z1.
    np.testing.assert_array_equal(build("rmia_offline", a=1.0).fit(view).score(view), [1.0, 0.0])


@pytest.mark.parametrize("name", ["shokri", "ml_leaks"])
def test_shadow_attacks_learn_in_from_the_references_that_trained_on_a_sample(name):
    """References output (0.95, 0.05) on what they trained on and (0.6, 0.4) elsewhere: the
    classifier, fitted on the references' IN/OUT labels, must call the target's (0.95, 0.05)
    IN and its (0.6, 0.4) OUT. An attack that read the keep-matrix the wrong way round, or
    took the target's membership, would not."""
    rng = np.random.default_rng(0)
    r, n = 8, 400
    keep = rng.random((r, n)) < 0.5
    phi = np.where(keep, _log_odds(0.95), _log_odds(0.6)) + rng.normal(0, 0.01, (r, n))
    labels = np.zeros(n, int)
    target_phi = np.where(np.arange(n) < n // 2, _log_odds(0.95), _log_odds(0.6))
    view = TargetView(_logits(target_phi[None]), labels, _logits(phi[:, None]), keep,
                      _logits(np.zeros((1, 1))), np.zeros(1, int), _logits(np.zeros((r, 1, 1))),
                      np.zeros((r, 1), bool))
    score = build(name, max_rows=2000).fit(view).score(view)
    assert score[: n // 2].min() > 0.9 and score[n // 2:].max() < 0.1
