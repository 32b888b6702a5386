"""Membership inference attacks on per-sample scores, and the attacker's sampling.

The attacker knows ``p%`` of the members and ``p%`` of the non-members (drawn at random);
it fits its attack on them and is evaluated on a balanced set disjoint from them.

An attack is a class with ``fit(member_scores, nonmember_scores) -> self`` and
``predict(scores) -> bool array (True = member)``; register it in ``ATTACKS`` with
``@register``. Scores are losses: lower means more likely a member.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import gaussian_kde

from . import metrics
from .errors import UserError

ATTACKS: dict[str, type] = {}


def register(cls: type) -> type:
    # Runs at import, where mutmut cannot switch a mutant in; the registry is tested through
    # run_once, which builds the attack by its name.
    ATTACKS[cls.name] = cls  # pragma: no mutate
    return cls


@dataclass
class Split:
    """Indices into the member and non-member arrays for one repeat of the attack."""

    attacker_members: np.ndarray
    attacker_nonmembers: np.ndarray
    eval_members: np.ndarray
    eval_nonmembers: np.ndarray


def attacker_counts(n_members: int, n_nonmembers: int, percentage: float) -> tuple[int, int]:
    k_m = int(round(n_members * percentage / 100))
    k_n = int(round(n_nonmembers * percentage / 100))
    if min(k_m, k_n) < 2:
        raise UserError(f"sampling percentage {percentage:g} gives the attacker {min(k_m, k_n)} "
                        f"samples of a class; need at least 2")
    return k_m, k_n


def sample_split(n_members: int, n_nonmembers: int, percentage: float,
                 rng: np.random.Generator) -> Split:
    """Draw the attacker's p% of each class, then a balanced evaluation set from the rest.

    The evaluation set holds all remaining non-members and as many remaining members
    (fewer of both only if fewer members than non-members remain).
    """
    k_m, k_n = attacker_counts(n_members, n_nonmembers, percentage)
    members, nonmembers = rng.permutation(n_members), rng.permutation(n_nonmembers)
    n_eval = min(n_members - k_m, n_nonmembers - k_n)
    if n_eval < 1:
        raise UserError(f"sampling percentage {percentage:g} leaves no samples to evaluate on")
    return Split(np.sort(members[:k_m]), np.sort(nonmembers[:k_n]),
                 np.sort(members[k_m:k_m + n_eval]), np.sort(nonmembers[k_n:k_n + n_eval]))


def split_seed(seed: int, percentage: float, repeat: int) -> list[int]:
    """RNG seed of one (percentage, repeat): shared by all scores, so they see the same samples."""
    return [seed, int(round(percentage * 1000)), repeat]


def _true_counts(members: np.ndarray, nonmembers: np.ndarray, threshold: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """True positives and true negatives of "member iff score < t" for each t."""
    t = np.atleast_1d(threshold)
    # side="left" is numpy's default, so dropping it is an equivalent mutant: not mutated.
    tp = np.searchsorted(np.sort(members), t, side="left")  # pragma: no mutate
    tn = len(nonmembers) - np.searchsorted(np.sort(nonmembers), t, side="left")  # pragma: no mutate
    return tp, tn


def best_candidate(members: np.ndarray, nonmembers: np.ndarray, candidates: np.ndarray) -> float:
    """The candidate threshold with the highest balanced accuracy on (members, nonmembers).

    Compared exactly, in integers (TP * n_nonmembers + TN * n_members is proportional to the
    balanced accuracy), so two thresholds that classify equally well tie exactly, not by
    float rounding; a tie goes to the smallest threshold, the one that flags the fewest
    samples as members.
    """
    # Not mutated (equivalent): the dtypes; counts are exact in float64 as in int64.
    c = np.sort(np.asarray(candidates, float))  # pragma: no mutate
    tp, tn = _true_counts(members, nonmembers, c)
    merit = tp.astype(np.int64) * len(nonmembers) + tn.astype(np.int64) * len(members)  # pragma: no mutate
    return float(c[np.argmax(merit)])  # argmax: the first (smallest) of the equal maxima


@register
@dataclass
class KDEThreshold:
    """Threshold where the kernel density estimates of member and non-member scores cross.

    f_m, f_n = gaussian_kde(member scores), gaussian_kde(non-member scores), each integrating
    to 1, so the crossing f_m(t) = f_n(t) is the Bayes decision boundary for equal priors,
    which matches the balanced evaluation. The rule, in order:

    1. crossings between the two modes (``kde_crossing_between_modes``);
    2. if there are none, any crossing on the grid (``kde_crossing``);
    3. if the densities never cross (or the sample is degenerate, e.g. all scores equal),
       every observed score as a candidate (``best_on_attacker_sample``).

    Among several candidates, the one with the best balanced accuracy on the attacker's own
    sample wins (``best_candidate``: exact comparison, ties to the smallest threshold).
    On the study's losses both modes usually sit near zero, so step 2 is the common case:
    the threshold lands where the non-member density overtakes the member density, just
    above the spike of near-zero member losses. Predict member when score < threshold.
    """

    name = "kde_threshold"
    grid_points: int = 2048
    threshold: float = float("nan")
    method: str = ""
    grid: np.ndarray = field(default=None, repr=False)
    member_density: np.ndarray = field(default=None, repr=False)
    nonmember_density: np.ndarray = field(default=None, repr=False)

    def fit(self, member_scores: np.ndarray, nonmember_scores: np.ndarray) -> "KDEThreshold":
        m, n = np.asarray(member_scores, float), np.asarray(nonmember_scores, float)  # pragma: no mutate (scores are floats)
        lo, hi = min(m.min(), n.min()), max(m.max(), n.max())
        self.grid = np.linspace(lo, hi, self.grid_points)
        try:
            self.member_density = gaussian_kde(m)(self.grid)
            self.nonmember_density = gaussian_kde(n)(self.grid)
        except (np.linalg.LinAlgError, ValueError):  # e.g. all scores equal: no density
            self.member_density = self.nonmember_density = None
            return self._fallback(m, n)
        diff = self.member_density - self.nonmember_density
        i_m, i_n = int(np.argmax(self.member_density)), int(np.argmax(self.nonmember_density))
        a, b = sorted((i_m, i_n))
        candidates = _crossings(self.grid, diff, a, b)
        self.method = "kde_crossing_between_modes"
        if not candidates.size:
            candidates = _crossings(self.grid, diff)
            self.method = "kde_crossing"
        if not candidates.size:
            return self._fallback(m, n)
        self.threshold = best_candidate(m, n, candidates)
        return self

    def _fallback(self, m: np.ndarray, n: np.ndarray) -> "KDEThreshold":
        values = np.unique(np.concatenate([m, n]))
        candidates = np.concatenate([values, [np.nextafter(values[-1], np.inf)]])
        self.threshold = best_candidate(m, n, candidates)
        self.method = "best_on_attacker_sample"
        return self

    def predict(self, scores: np.ndarray) -> np.ndarray:
        return np.asarray(scores) < self.threshold


def _crossings(grid: np.ndarray, diff: np.ndarray, a: int = 0, b: int | None = None) -> np.ndarray:
    """Points in grid[a..b] (default: the whole grid) where ``diff`` changes sign, linearly
    interpolated."""
    b = len(grid) - 1 if b is None else b
    d0, d1 = diff[a:b], diff[a + 1:b + 1]
    # d0 / d1 < 0 or d0 * d1 <= 0 would add, at most, a duplicate of a crossing found as
    # d0 == 0 one step later: the same threshold, so those mutants are not generated.
    sign_change = d0 * d1 < 0  # pragma: no mutate
    idx = np.nonzero((d0 == 0) | sign_change)[0]
    g0, g1 = grid[a:b][idx], grid[a + 1:b + 1][idx]  # pragma: no mutate (a longer slice, same items)
    x0, x1 = d0[idx], d1[idx]
    # 0/0 happens (two zeros in a row; the where() picks 0 there). Silencing the warning
    # changes no result, so this line is not mutated.
    with np.errstate(invalid="ignore", divide="ignore"):  # pragma: no mutate
        frac = np.where(x0 == 0, 0.0, x0 / (x0 - x1))
    return g0 + frac * (g1 - g0)


def build(name: str, **kwargs):
    return ATTACKS[name](**kwargs)


def run_once(name: str, options: dict, attacker_members: np.ndarray,
             attacker_nonmembers: np.ndarray, eval_members: np.ndarray,
             eval_nonmembers: np.ndarray) -> dict:
    """One repeat: fit attack ``name`` on the attacker's scores, evaluate it on the balanced set.

    Returns the threshold and how it was found, the thresholded metrics of its predictions
    (``metrics.thresholded``) and the threshold-free ones of the losses
    (``metrics.loss_metrics``: membership score -loss, thresholds on the loss scale).
    """
    attack = build(name, **options).fit(attacker_members, attacker_nonmembers)
    scores = np.concatenate([eval_members, eval_nonmembers])
    truth = np.r_[np.ones(len(eval_members), bool), np.zeros(len(eval_nonmembers), bool)]  # pragma: no mutate (any dtype: the same 0/1)
    run = {"threshold": attack.threshold, "threshold_method": attack.method}
    run.update(metrics.thresholded(truth, attack.predict(scores)))
    run.update(metrics.loss_metrics(truth, scores))
    return run
