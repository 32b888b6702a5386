"""The one-run privacy audit (Steinke, Nasr and Jagielski, "Privacy auditing with one (1) training
run", NeurIPS 2023): an empirical lower bound on the epsilon of the training run that made a
target, from its canaries (``mia.canaries``: m samples, each kept by an independent fair coin).

The auditor scores every canary (here a membership-inference attack on the target and its
references), guesses "in" for the k+ highest scores and "out" for the k- lowest, and abstains on
the rest. If the run is (epsilon, delta)-DP, the number v of correct guesses among r = k+ + k-
is nearly dominated by Binomial(r, e^epsilon / (1 + e^epsilon)), the accuracy of randomized
response (the paper's Theorem 3.1 and Proposition 5.2); the p-value of v under that null is

    beta  = P[Binomial(r, q) >= v],  q = 1 / (1 + e^-epsilon)
    alpha = max_{1 <= i <= v} P[v - i <= Binomial(r, q) < v] / i
    p     = min(1, beta + 2 m delta alpha)

(``p_value``: the paper's appendix code, vectorised), and epsilon-hat is the largest epsilon
whose null is rejected at the audit's confidence (``epsilon_lower_bound``: bisection, as the
paper's ``get_eps_audit``): epsilon-hat <= epsilon with probability at least that confidence.

How many guesses: every one of a grid of (k+, k-) fixed before any score is seen
(``GUESS_FRACTIONS`` of m on each side), each bound at confidence 1 - (1 - confidence) / |grid|
(Bonferroni), and the largest of them reported: by the union bound, that largest one exceeds
the true epsilon with probability at most 1 - confidence. No choice is made after looking.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

# k+ = k- = round(f * m) for each f: from a few confident guesses to guessing on every canary.
GUESS_FRACTIONS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
CONFIDENCE = 0.95
BISECTION_STEPS = 40


def p_value(m: int, r: int, v: int, eps: float, delta: float) -> float:
    """The probability of v or more correct guesses of r, with m canaries, if the run is
    (eps, delta)-DP."""
    if not 0 <= v <= r <= m:
        raise ValueError(f"need 0 <= v <= r <= m, got v={v}, r={r}, m={m}")
    if eps < 0 or not 0 <= delta <= 1:
        raise ValueError(f"need eps >= 0 and delta in [0, 1], got {eps}, {delta}")
    q = 1 / (1 + math.exp(-eps))
    beta = float(stats.binom.sf(v - 1, r, q))
    if v == 0 or delta == 0:
        return min(1.0, beta)
    tail = np.cumsum(stats.binom.pmf(np.arange(v - 1, -1, -1), r, q))  # P[v > B >= v - i]
    alpha = float(np.max(tail / np.arange(1, v + 1)))
    return min(1.0, beta + alpha * delta * 2 * m)


def epsilon_lower_bound(m: int, r: int, v: int, delta: float, confidence: float = CONFIDENCE
                        ) -> float:
    """epsilon-hat: the largest eps whose (eps, delta) null gives v correct guesses of r a
    p-value below 1 - confidence (0 when even eps = 0 is not rejected)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    level = 1 - confidence
    if p_value(m, r, v, 0.0, delta) >= level:
        return 0.0
    low, high = 0.0, 1.0
    while p_value(m, r, v, high, delta) < level:
        low, high = high, 2 * high
    for _ in range(BISECTION_STEPS):
        mid = (low + high) / 2
        low, high = (mid, high) if p_value(m, r, v, mid, delta) < level else (low, mid)
    return low


def guess_counts(m: int) -> list[int]:
    """The grid's k (= k+ = k-), each at least 1 and at most m // 2, without repeats."""
    return sorted({min(m // 2, max(1, round(f * m))) for f in GUESS_FRACTIONS})


@dataclass(frozen=True)
class AuditResult:
    epsilon_lower_bound: float    # the largest of the grid's bounds (Bonferroni-corrected)
    confidence: float
    delta: float
    m: int
    included: int                 # canaries the run kept
    guesses: list[dict]           # per k: k+, k-, correct, the bound at the corrected level
    best_k: int                   # the k whose bound is reported

    def to_dict(self) -> dict:
        return {"epsilon_lower_bound": self.epsilon_lower_bound, "confidence": self.confidence,
                "delta": self.delta, "m": self.m, "included": self.included,
                "best_k": self.best_k, "guesses": self.guesses,
                "correction": f"Bonferroni over {len(self.guesses)} (k+, k-) fixed before the "
                              f"scores: each bound at confidence "
                              f"{1 - (1 - self.confidence) / len(self.guesses):.4f}"}


def audit(scores: np.ndarray, included: np.ndarray, delta: float,
          confidence: float = CONFIDENCE, rng: np.random.Generator | None = None) -> AuditResult:
    """The audit of canaries with attack ``scores`` (higher: more likely kept) and the truth
    ``included``. Ties in the scores are broken at random (``rng``; seeded by default), which
    is independent of the coins and so keeps the bound valid."""
    scores, included = np.asarray(scores, float), np.asarray(included, bool)
    if scores.shape != included.shape or scores.ndim != 1:
        raise ValueError(f"scores and included must be 1-d of one length, got {scores.shape} "
                         f"and {included.shape}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("the canaries' scores must be finite")
    m = len(scores)
    rng = rng or np.random.default_rng(0)
    order = np.lexsort((rng.random(m), scores))  # ascending score, ties at random
    ks = guess_counts(m)
    level = 1 - (1 - confidence) / len(ks)
    rows = []
    for k in ks:
        guessed_in, guessed_out = order[-k:], order[:k]
        correct = int(included[guessed_in].sum() + (~included[guessed_out]).sum())
        rows.append({"k_plus": k, "k_minus": k, "correct": correct,
                     "epsilon_lower_bound": epsilon_lower_bound(m, 2 * k, correct, delta, level)})
    best = max(rows, key=lambda row: row["epsilon_lower_bound"])
    return AuditResult(best["epsilon_lower_bound"], confidence, delta, m, int(included.sum()),
                       rows, best["k_plus"])


def randomized_response(included: np.ndarray, eps: float, rng: np.random.Generator) -> np.ndarray:
    """The eps-DP mechanism the bound is tight for: each canary's bit reported truthfully with
    probability e^eps / (1 + e^eps), flipped otherwise (the synthetic case of the tests)."""
    truthful = rng.random(len(included)) < 1 / (1 + math.exp(-eps))
    return np.where(truthful, included, ~included).astype(float)
