"""Reference-model attacks on synthetic signals whose answer is known in advance.

Two classes, label 0, logits (phi, 0): then the logit-scaled confidence log(p_y / (1 - p_y))
is exactly phi. Sample i has its own difficulty mu_i ~ N(0, 2^2); a model that did not
train on it gives phi ~ N(mu_i, 1), one that did gives phi ~ N(mu_i + delta, 1). With the
reference statistics exact, the likelihood-ratio test is a threshold on phi_t - mu_i, whose
ROC is analytic: TPR(f) = 1 - Phi(Phi^-1(1 - f) - delta), AUC = Phi(delta / sqrt 2). The
loss alone thresholds phi_t, whose spread mu_i blurs it: AUC = Phi(delta / sqrt(2 (1 + 4))).
"""
import numpy as np
import pytest
from scipy.stats import norm, spearmanr
from sklearn.metrics import roc_auc_score, roc_curve

from mia import metrics
from mia.attacks import ATTACKS, TargetView, build
from mia.attacks import lira, rmia
from mia.attacks.base import cross_entropy, logit_confidence

DELTA = 1.5


def logits_of(phi):
    """(..., n) signals -> (..., n, 2) logits with log(p_0 / p_1) = phi."""
    return np.stack([phi, np.zeros_like(phi)], axis=-1).astype(np.float64)


def synthetic_view(n=4000, refs=128, m=2000, seed=0, delta=DELTA, spread=2.0, member=None):
    """A TargetView of n attacked samples (half members) and m population samples, with
    ``refs`` references in complementary pairs; returns (view, is_member)."""
    rng = np.random.default_rng(seed)
    mu, mu_z = rng.normal(0, spread, n), rng.normal(0, spread, m)
    is_member = rng.permutation(n) < n // 2 if member is None else member
    keep = np.zeros((refs, n), bool)
    keep_z = np.zeros((refs, m), bool)
    for j in range(refs // 2):
        keep[2 * j] = rng.random(n) < 0.5
        keep[2 * j + 1] = ~keep[2 * j]
        keep_z[2 * j] = rng.random(m) < 0.5
        keep_z[2 * j + 1] = ~keep_z[2 * j]
    phi_t = mu + delta * is_member + rng.normal(0, 1, n)
    phi_r = mu + delta * keep + rng.normal(0, 1, (refs, n))
    phi_tz = mu_z + rng.normal(0, 1, m)  # population: non-members of the target
    phi_rz = mu_z + delta * keep_z + rng.normal(0, 1, (refs, m))
    view = TargetView(logits_of(phi_t[None]), np.zeros(n, np.int64), logits_of(phi_r[:, None]), keep,
                      logits_of(phi_tz[None]), np.zeros(m, np.int64), logits_of(phi_rz[:, None]), keep_z)
    return view, is_member


def tpr_at(is_member, score, f):
    fpr, tpr, _ = roc_curve(is_member, score)
    return metrics.tpr_at_fpr(fpr, tpr, f)


def test_logit_confidence_is_log_odds_of_the_true_class_and_finite_when_p_rounds_to_one():
    z = np.array([[2.0, 0.0, -1.0], [60.0, 0.0, 0.0]])
    p = np.exp(z[0]) / np.exp(z[0]).sum()
    phi = logit_confidence(z, np.array([0, 0]))
    assert phi[0] == pytest.approx(np.log(p[0] / (1 - p[0])), rel=1e-12)
    assert phi[1] == pytest.approx(60 - np.log(2), rel=1e-12)  # p_0 = 1 in float64
    assert cross_entropy(z, np.array([1, 0]))[0] == pytest.approx(-np.log(np.exp(0) / np.exp(z[0]).sum()))


def test_lira_online_recovers_the_analytic_likelihood_ratio_roc():
    view, is_member = synthetic_view()
    score = build("lira_online", variance="per_sample").fit(view).score(view)
    assert roc_auc_score(is_member, score) == pytest.approx(norm.cdf(DELTA / np.sqrt(2)), abs=0.015)
    analytic = 1 - norm.cdf(norm.ppf(1 - 0.01) - DELTA)
    assert tpr_at(is_member, score, 0.01) == pytest.approx(analytic, abs=0.04)


def test_lira_offline_recovers_the_one_sided_test_roc():
    """Offline: threshold on (phi_t - mu_out) / s_out, the same test when variances are equal."""
    view, is_member = synthetic_view()
    score = build("lira_offline", variance="per_sample").fit(view).score(view)
    assert roc_auc_score(is_member, score) == pytest.approx(norm.cdf(DELTA / np.sqrt(2)), abs=0.015)


def test_calibrated_attacks_beat_the_loss_by_far_where_difficulty_varies():
    view, is_member = synthetic_view()
    loss_auc = roc_auc_score(is_member, build("loss").fit(view).score(view))
    assert loss_auc == pytest.approx(norm.cdf(DELTA / np.sqrt(2 * 5)), abs=0.02)
    for name in ("lira_online", "lira_offline", "rmia_online", "rmia_offline"):
        auc = roc_auc_score(is_member, build(name).fit(view).score(view))
        assert auc > loss_auc + 0.1, name
    assert (tpr_at(is_member, build("rmia_online").fit(view).score(view), 0.01)
            > 1.5 * tpr_at(is_member, build("loss").fit(view).score(view), 0.01))


@pytest.mark.parametrize("name", sorted(n for n, c in ATTACKS.items() if c.view_type is TargetView))
def test_every_attack_scores_members_higher(name):
    """Members are the positive class: AUC well above 1/2 on a strong signal, and the same
    attack's negated score is well below (a flipped orientation fails here)."""
    view, is_member = synthetic_view(n=2000, refs=16, m=1000, delta=3.0, spread=0.5)
    score = build(name).fit(view).score(view)
    assert score.shape == (2000,)
    # the gap attack's two values give one ROC segment: AUC (TPR + 1 - FPR) / 2, lower
    assert roc_auc_score(is_member, score) > (0.7 if name == "gap" else 0.8)


def test_lira_with_the_same_statistics_for_every_sample_ranks_as_the_loss():
    """With no per-sample difficulty (every sample's reference signals are the same values),
    the statistics are global, and LiRA is a monotone function of the target's phi: it ranks
    samples exactly as the loss does (offline: one-sided; online: equal variances)."""
    rng = np.random.default_rng(3)
    n, refs = 500, 8
    keep = np.zeros((refs, n), bool)
    keep[0::2], keep[1::2] = True, False
    phi_r = np.where(keep, 2.0, 0.0) + np.array([-1.0, -1.0, 1.0, 1.0, 0.5, 0.5, -0.5, -0.5])[:, None]
    phi_t = rng.normal(1, 2, n)
    view = TargetView(logits_of(phi_t[None]), np.zeros(n, np.int64), logits_of(phi_r[:, None]), keep,
                      logits_of(phi_t[None, :10]), np.zeros(10, np.int64), logits_of(phi_r[:, None, :10]),
                      keep[:, :10])
    loss = build("loss").fit(view).score(view)
    for name in ("lira_online", "lira_offline"):
        for variance in ("global", "per_sample"):
            score = build(name, variance=variance).fit(view).score(view)
            assert spearmanr(score, loss).statistic == pytest.approx(1.0, abs=1e-12), (name, variance)


def test_lira_variance_auto_names_the_variant_by_models_per_side():
    view, _ = synthetic_view(n=100, refs=2 * lira.PER_SAMPLE_MIN_MODELS, m=50)
    assert build("lira_online").fit(view).resolved_variance == "per_sample"
    small = view.references_subset(np.arange(2 * lira.PER_SAMPLE_MIN_MODELS - 2))
    assert build("lira_online").fit(small).fitted_values() == {"variance": "global"}
    with pytest.raises(ValueError, match="per-sample variance needs >= 2 models per side"):
        two = view.references_subset(np.arange(2))
        build("lira_online", variance="per_sample").fit(two).score(two)


def test_online_attacks_need_a_model_on_each_side():
    view, _ = synthetic_view(n=100, refs=2, m=50)
    with pytest.raises(ValueError, match="has no model on this side"):
        one = view.references_subset(np.array([0]))
        build("lira_online").fit(one).score(one)


def test_rmia_score_counts_population_samples_with_a_likelihood_ratio_above_gamma():
    """Hand-computed: p(x|t) = [0.9, 0.5], p(x) = [0.6, 0.5] (online mean of two references);
    ratios x: [1.5, 1.0]; z ratios: p(z|t)/p(z) = [0.8/0.8, 0.3/0.6, 0.9/0.6] = [1, 0.5, 1.5].
    LR(x, z) > 1 <=> ratio_z < ratio_x: x0 beats {1, 0.5} (1.5 is a tie: not greater) -> 2/3;
    x1 beats {0.5} -> 1/3."""
    s = rmia.rmia_scores(np.array([0.9, 0.5]), np.array([[0.7, 0.4], [0.5, 0.6]]),
                         np.array([[True, False], [False, True]]),
                         np.array([0.8, 0.3, 0.9]), np.array([[0.8, 0.6, 0.5], [0.8, 0.6, 0.7]]),
                         np.zeros((2, 3), bool), offline=False, a=1.0)
    assert s.tolist() == pytest.approx([2 / 3, 1 / 3])
    # offline, a = 0: p(x) = (p_OUT(x) + 1) / 2 from OUT references only: x0 -> (0.5 + 1)/2
    off = rmia.rmia_scores(np.array([0.9]), np.array([[0.7], [0.5]]), np.array([[True], [False]]),
                           np.array([0.75]), np.array([[0.5], [0.5]]), np.zeros((2, 1), bool),
                           offline=True, a=0.0)
    # ratio_x = 0.9 / 0.75 = 1.2, ratio_z = 0.75 / 0.75 = 1 -> 1 of 1
    assert off.tolist() == [1.0]


def test_rmia_offline_tunes_a_on_references_only():
    view, _ = synthetic_view(n=1000, refs=8, m=500)
    a = rmia.tune_a(view)
    assert a in set(rmia.A_GRID.tolist())
    # the target's logits do not enter: replacing them changes nothing in the tuning
    other = TargetView(view.target_logits * 0, view.labels, view.ref_logits, view.ref_keep,
                       view.population_target * 0, view.population_labels, view.population_refs,
                       view.population_keep)
    assert rmia.tune_a(other) == a


def test_shadow_attacks_learn_membership_from_references_only():
    """The classifiers learn from the references' outputs and keep labels (a TargetView has no
    field for the target's membership) and still separate the target's members; seeded."""
    view, is_member = synthetic_view(n=1500, refs=8, m=10, delta=3.0, spread=0.5)
    for name in ("shokri", "ml_leaks"):
        a = build(name).fit(view).score(view)
        assert roc_auc_score(is_member, a) > 0.8
        assert np.array_equal(a, build(name).fit(view).score(view))  # seeded


def test_the_sampling_protocols_attack_scores_members_higher_too():
    """The KDE threshold keeps the same contract on its own view: fitted on the known
    samples' losses only, its score (-loss) is higher for members."""
    from mia.attacks import SignalView

    rng = np.random.default_rng(0)
    members, nonmembers = rng.exponential(0.3, 3000), rng.exponential(1.5, 3000)
    attack = build("kde_threshold").fit(SignalView(members[:500], nonmembers[:500]))
    attacked = SignalView(members[:500], nonmembers[:500], np.r_[members[500:], nonmembers[500:]])
    truth = np.r_[np.ones(2500, bool), np.zeros(2500, bool)]
    assert roc_auc_score(truth, attack.score(attacked)) > 0.8
    assert set(attack.fitted_values()) == {"threshold", "threshold_method"}


def test_every_attack_keeps_the_contract():
    """Every member: a name, options its constructor takes, fitted keys that fit() sets, and
    one of the two views. Nothing is probed with hasattr."""
    from mia.attacks import Attack, SignalView

    assert set(ATTACKS) == {"kde_threshold", "global_threshold", "loss", "gap", "lira_online",
                            "lira_offline", "rmia_online", "rmia_offline", "shokri", "ml_leaks",
                            "nonmember_mean_threshold"}
    for name, cls in ATTACKS.items():
        assert issubclass(cls, Attack) and cls.name == name
        assert cls.view_type in (TargetView, SignalView)
        # a sampling-protocol attack names its threshold for the captions; no other does
        assert bool(cls.threshold_title) == (cls.view_type is SignalView), name
        assert set(cls.tuned) <= set(cls.fitted)
