"""The KDE threshold attack of the original study: a loss threshold fitted on the losses of
the members and non-members the attacker was given (``SignalView``).

Its membership score is the negated loss (higher = member); it decides "member" when the loss
is below its fitted ``threshold`` (``predict``), which the results record on the loss scale.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import gaussian_kde

from .base import Attack, SignalView


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


def best_observed_threshold(members: np.ndarray, nonmembers: np.ndarray) -> float:
    """The best of every observed loss as the threshold (member iff loss < t), by
    ``best_candidate``. The smallest admits nobody; a threshold above the largest would admit
    everyone, which ties with nobody at balanced accuracy 1/2 and loses the tie (the smallest
    wins), so it is not a candidate."""
    return best_candidate(members, nonmembers, np.unique(np.concatenate([members, nonmembers])))


@dataclass
class KDEThreshold(Attack):
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
    threshold_title = "KDE threshold"
    options = ("grid_points",)
    fitted = {"threshold": "threshold", "threshold_method": "method"}
    view_type = SignalView
    grid_points: int = 2048
    threshold: float = float("nan")
    method: str = ""
    grid: np.ndarray = field(default=None, repr=False)
    member_density: np.ndarray = field(default=None, repr=False)
    nonmember_density: np.ndarray = field(default=None, repr=False)

    def fit(self, view: SignalView) -> "KDEThreshold":
        """The threshold, from the known members' and non-members' losses only."""
        m, n = np.asarray(view.known_members, float), np.asarray(view.known_nonmembers, float)  # pragma: no mutate (scores are floats)
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
        self.threshold = best_observed_threshold(m, n)
        self.method = "best_on_attacker_sample"
        return self

    def score(self, view: SignalView) -> np.ndarray:
        """-loss: higher = member."""
        return -np.asarray(view.signal)

    def predict(self, view: SignalView) -> np.ndarray:
        """Member when the loss is below the threshold (True = member)."""
        return np.asarray(view.signal) < self.threshold


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


