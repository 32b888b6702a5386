"""The one-run audit's lower bound on epsilon (``mia.privacy_audit``), on the synthetic case
with a known answer: randomized response with a known epsilon and delta = 0."""
import math

import numpy as np
import pytest
from scipy import stats

from mia import privacy_audit as pa


def reference_p_value(m, r, v, eps, delta):
    """The paper's appendix code (Steinke, Nasr and Jagielski 2023), loop for loop."""
    q = 1 / (1 + math.exp(-eps))
    beta = stats.binom.sf(v - 1, r, q)
    alpha, total = 0, 0
    for i in range(1, v + 1):
        total = total + stats.binom.pmf(v - i, r, q)
        if total > i * alpha:
            alpha = total / i
    return min(beta + alpha * delta * 2 * m, 1)


@pytest.mark.parametrize("m, r, v, eps, delta", [
    (1000, 100, 70, 0.5, 1e-5), (1000, 100, 70, 2.0, 1e-5), (1000, 20, 20, 1.0, 0.0),
    (500, 500, 260, 0.1, 1e-3), (1000, 10, 0, 1.0, 1e-5), (100, 50, 49, 3.0, 0.01),
])
def test_the_p_value_is_the_papers(m, r, v, eps, delta):
    assert pa.p_value(m, r, v, eps, delta) == pytest.approx(reference_p_value(m, r, v, eps, delta),
                                                           rel=1e-9, abs=1e-15)


def test_the_bound_is_the_largest_epsilon_rejected():
    """At epsilon-hat the p-value sits at the level; just above, the null is no longer rejected."""
    m, r, v, delta = 1000, 200, 170, 1e-5
    eps = pa.epsilon_lower_bound(m, r, v, delta, 0.95)
    assert eps > 0
    assert pa.p_value(m, r, v, eps, delta) < 0.05 <= pa.p_value(m, r, v, eps + 1e-3, delta)
    # more correct guesses: a higher bound; chance-level guesses: none
    assert pa.epsilon_lower_bound(m, r, v + 10, delta) > eps
    assert pa.epsilon_lower_bound(m, r, r // 2, delta) == 0.0


def rr_audit(m, eps, seed):
    rng = np.random.default_rng(seed)
    included = rng.random(m) < 0.5
    return pa.audit(pa.randomized_response(included, eps, rng), included, delta=0.0,
                    rng=np.random.default_rng(seed + 1))


def test_randomized_response_stays_below_its_epsilon_and_the_bound_tightens_with_m():
    """eps = 2, delta = 0, seeded: epsilon-hat < eps at m = 10^3, 10^4, 10^5, and
    epsilon-hat / eps rises with m (more canaries, a tighter audit)."""
    eps = 2.0
    ratios = [rr_audit(m, eps, seed=11).epsilon_lower_bound / eps for m in (10**3, 10**4, 10**5)]
    assert all(0 < r < 1 for r in ratios), ratios
    assert ratios[0] < ratios[1] < ratios[2], ratios
    assert ratios[2] > 0.8  # not vacuous: 10^5 canaries get within 20% of the truth


def test_over_unseeded_draws_the_bound_exceeds_epsilon_no_more_than_five_percent_of_the_time():
    """200 audits of randomized response (eps = 1, m = 1,000) from fresh entropy: epsilon-hat
    > eps in at most 5% of them (the stated 95% confidence)."""
    entropy = np.random.SeedSequence().entropy  # unseeded: each test run draws anew
    draws = 200
    over = sum(rr_audit(1000, 1.0, seed=int(entropy % 2**32) + 2 * i).epsilon_lower_bound > 1.0
               for i in range(draws))
    assert over / draws <= 0.05, (over, entropy)


def test_the_grid_is_fixed_and_bonferroni_corrected():
    result = rr_audit(1000, 1.0, seed=3)
    assert [g["k_plus"] for g in result.guesses] == pa.guess_counts(1000) == [10, 20, 50, 100, 200, 500]
    assert result.epsilon_lower_bound == max(g["epsilon_lower_bound"] for g in result.guesses)
    assert "Bonferroni over 6" in result.to_dict()["correction"]
    # each bound is at the corrected level: it is at most the uncorrected one
    best = next(g for g in result.guesses if g["k_plus"] == result.best_k)
    assert best["epsilon_lower_bound"] <= pa.epsilon_lower_bound(
        1000, 2 * best["k_plus"], best["correct"], 0.0, 0.95)


def test_a_perfect_attack_gets_a_large_bound_and_a_blind_one_none():
    rng = np.random.default_rng(0)
    included = rng.random(1000) < 0.5
    assert pa.audit(included.astype(float), included, delta=1e-5).epsilon_lower_bound > 3
    assert pa.audit(np.zeros(1000), included, delta=1e-5).epsilon_lower_bound < 0.5


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="need 0 <= v <= r <= m"):
        pa.p_value(10, 20, 5, 1.0, 0.0)
    with pytest.raises(ValueError, match="one length"):
        pa.audit(np.zeros(3), np.zeros(4, bool), 0.0)
    with pytest.raises(ValueError, match="finite"):
        pa.audit(np.array([0.0, np.nan]), np.array([True, False]), 0.0)
