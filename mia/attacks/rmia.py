"""RMIA, the relative membership inference attack of Zarifzadeh et al. (ICML 2024).

With p(x|theta) the probability the model gives x's true class (averaged over the test-time
augmentations used), and p(x) its average over reference models, RMIA compares x with
population samples z that the target did not train on:

    LR(x, z) = [p(x|theta_t) / p(x)] / [p(z|theta_t) / p(z)]
    score(x) = fraction of the z with LR(x, z) > gamma

- online: p(x) = mean over all references (about half of them trained on x);
- offline: only OUT references, and p(x) = (1 + a)/2 * p_OUT(x) + (1 - a)/2, the paper's
  linear approximation of the missing IN half. ``a`` is given (a row "rmia_offline/0.3") or
  tuned on the references only (the row "rmia_offline"): one reference pair's first model is
  attacked with the other OUT references, for a in {0, 0.1, ..., 1}, and the a with the
  highest AUC is kept (as ``tune_offline_a`` in privacytrustlab/ml_privacy_meter). The
  target is never used. The criterion is AUC, the reference code's; it is not the power at
  low FPR that the comparison reports, so the power curve shows RMIA offline at fixed a too.

gamma = 1, as in the reference code. p(z) uses the same rule as p(x), with each z's own
IN/OUT references. Ties LR = gamma count as not greater.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from .base import Attack, TargetView, true_class_probability

GAMMA = 1.0
A_GRID = np.round(np.arange(0, 1.01, 0.1), 1)


def reference_mean(p_refs: np.ndarray, keep: np.ndarray, offline: bool, a: float) -> np.ndarray:
    """p(x) from the references' probabilities (R, n) and keep (R, n): online, the mean over
    all references; offline, (1 + a)/2 * p_OUT(x) + (1 - a)/2, p_OUT the mean over the OUT
    references."""
    if not offline:
        return p_refs.mean(axis=0)
    out = ~keep
    counts = out.sum(0)
    if (counts < 1).any():
        raise ValueError(f"sample {int(np.flatnonzero(counts < 1)[0])} has no OUT reference")
    p_out = np.where(out, p_refs, 0.0).sum(0) / counts
    return (1 + a) / 2 * p_out + (1 - a) / 2


def rmia_scores(p_target_x, p_refs_x, keep_x, p_target_z, p_refs_z, keep_z, offline: bool,
                a: float, gamma: float = GAMMA) -> np.ndarray:
    """score(x) = #{z : LR(x, z) > gamma} / m, from probabilities (already augmentation-averaged)."""
    ratio_x = p_target_x / reference_mean(p_refs_x, keep_x, offline, a)
    ratio_z = np.sort(p_target_z / reference_mean(p_refs_z, keep_z, offline, a))
    # LR(x, z) > gamma  <=>  ratio_z < ratio_x / gamma: searchsorted's default side="left"
    # counts the sorted ratio_z strictly below ratio_x / gamma (a tie is not greater)
    return np.searchsorted(ratio_z, ratio_x / gamma) / len(ratio_z)


def probabilities(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """p_y averaged over the augmentation axis (second to last but one): (..., A, n, C) -> (..., n)."""
    return true_class_probability(logits, labels).mean(axis=-2)


def tune_a(view: TargetView) -> float:
    """The offline ``a`` with the highest AUC when reference 0 is attacked by the other OUT
    references. A reference that, together with reference 0, trained on every sample is left
    out (reference 0's complementary partner in a paired bank, as in ml_privacy_meter; the
    other models of its round in a bank of folds): it is OUT only on reference 0's members,
    so its OUT statistics would read reference 0's membership. References only; the target
    is never used. With nothing to tune on, a = 1 (p(x) = p_OUT(x)): no other reference left
    (one reference, or reference 0 trained on every attacked sample), or reference 0 trained
    on none of them (no member to score). Ties in AUC keep the smallest a."""
    truth = view.ref_keep[0]
    rest = np.array([r for r in range(1, view.references)
                     if not (view.ref_keep[r] | truth).all()])
    if len(rest) == 0 or not truth.any():
        return 1.0
    p_x = probabilities(view.ref_logits, view.labels)             # (R, n)
    p_z = probabilities(view.population_refs, view.population_labels)
    aucs = [roc_auc_score(truth, rmia_scores(p_x[0], p_x[rest], view.ref_keep[rest], p_z[0],
                                             p_z[rest], view.population_keep[rest],
                                             offline=True, a=float(a)))
            for a in A_GRID]
    return float(A_GRID[np.argmax(aucs)])  # argmax: the first of equal maxima


def parse_a(a) -> float | None:
    """``a`` as a row key gives it ("0.3"), checked to lie in [0, 1]; None: tune it (the row
    "rmia_offline", so that one attack has one name)."""
    if a is None:
        return None
    try:
        value = float(a)
    except (TypeError, ValueError):
        raise ValueError(f"RMIA's a must be a number in [0, 1] (omit it to tune a), got {a!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"RMIA's a must be a number in [0, 1] (omit it to tune a), got {a!r}")
    return value


class _Rmia(Attack):
    needs_references = True
    fitted = {"a": "used_a"}
    offline: bool

    def __init__(self, a: float | str | None = None):
        self.a = parse_a(a)

    def fit(self, view: TargetView) -> "_Rmia":
        """Offline: ``a`` as given, else tuned on the references (``tune_a``). Online: 1."""
        self.used_a = 1.0
        if self.offline:
            self.used_a = self.a if self.a is not None else tune_a(view)
        return self

    def score(self, view: TargetView) -> np.ndarray:
        a = self.used_a
        return rmia_scores(probabilities(view.target_logits, view.labels),
                           probabilities(view.ref_logits, view.labels), view.ref_keep,
                           probabilities(view.population_target, view.population_labels),
                           probabilities(view.population_refs, view.population_labels),
                           view.population_keep, self.offline, a)


class RmiaOnline(_Rmia):
    name = "rmia_online"
    offline = False


class RmiaOffline(_Rmia):
    name = "rmia_offline"
    offline = True
    out_only = True
    options = ("a",)  # "rmia_offline/0.3": a fixed; "rmia_offline": a tuned
    tuned = ("a",)

    def __init__(self, a: float | str | None = None):
        super().__init__(a)
        if self.a is not None:
            self.tuned = ()  # the row fixed a: nothing is tuned
