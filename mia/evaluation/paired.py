"""Paired comparisons of membership scores measured on the same samples.

Every attack of a comparison scores the same members and non-members, so whether A beats B is
read from the bootstrap distribution of the difference metric(A) - metric(B), both computed
on each resample's samples, never from two marginal intervals (which ignore that the two
scores err on the same samples, and so overlap where the difference is clear).

Resampling (``roc.resample_weights``): members and non-members separately, as the marginal
intervals do; or, where rows repeat images (leave-one-out pools the rows of every target, so
each image appears once per target), whole images with all their rows, so that an interval
is as wide as the number of distinct images makes it.

Which attack is strongest (``strongest``): the top row by point estimate is compared with
every other row; the two-sided bootstrap p-values of those differences are adjusted by Holm's
step-down method (``holm``), and the top row is "strongest" only if every adjusted p-value is
below ``alpha``; otherwise it is tied with the rows it could not be told from. Members are
the positive class.
"""
from __future__ import annotations

import numpy as np

from .roc import Curve, resample_weights

ALPHA = 0.05


def metric_interval(truth: np.ndarray, score: np.ndarray, key: str = "auc",
                    bootstrap: int = 1000, seed: int = 0, groups: np.ndarray | None = None
                    ) -> list[float]:
    """One score's 95% percentile interval of ``key``, resampled as ``resample_weights``."""
    curve = Curve(truth, score)
    values = [curve.metric(key, w) for w in resample_weights(truth, bootstrap, seed, groups)]
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def paired_differences(truth: np.ndarray, scores: dict[str, np.ndarray], reference: str,
                       key: str = "auc", bootstrap: int = 1000, seed: int = 0,
                       groups: np.ndarray | None = None) -> dict[str, dict]:
    """For every row but ``reference``: metric(reference) - metric(row) on all samples, its 95%
    percentile interval and its two-sided bootstrap p-value, every row measured on the same
    resamples. p = 2 (k + 1) / (B + 1), at most 1, with k the resamples on the smaller side of
    0 (counting a difference of exactly 0 on both): never 0 from a finite bootstrap."""
    curves = {name: Curve(truth, s) for name, s in scores.items()}
    others = [name for name in scores if name != reference]
    diffs = {name: [] for name in others}
    for w in resample_weights(truth, bootstrap, seed, groups):
        top = curves[reference].metric(key, w)
        for name in others:
            diffs[name].append(top - curves[name].metric(key, w))
    out = {}
    for name in others:
        d = np.asarray(diffs[name])
        k = min(int((d <= 0).sum()), int((d >= 0).sum()))
        p = min(1.0, 2 * (k + 1) / (len(d) + 1))
        out[name] = {"difference": curves[reference].metric(key) - curves[name].metric(key),
                     "ci95": [float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))],
                     "p": float(p)}
    return out


def holm(p_values: dict[str, float]) -> dict[str, float]:
    """Holm's step-down adjustment: the i-th smallest of m p-values is multiplied by m - i
    (i from 0), capped at 1, and made non-decreasing in that order."""
    ranked = sorted(p_values, key=p_values.get)
    m, running, out = len(ranked), 0.0, {}
    for i, name in enumerate(ranked):
        running = max(running, min(1.0, (m - i) * p_values[name]))
        out[name] = running
    return out


def strongest(truth: np.ndarray, scores: dict[str, np.ndarray], key: str, bootstrap: int = 1000,
              seed: int = 0, groups: np.ndarray | None = None, alpha: float = ALPHA) -> dict:
    """The top row by ``key`` on all samples, compared with every other row by a paired
    bootstrap of the difference; "strongest" only when every Holm-adjusted p-value is below
    ``alpha``, else ``tied_with_top`` names the rows it could not be told from."""
    curves = {name: Curve(truth, s) for name, s in scores.items()}
    values = {name: c.metric(key) for name, c in curves.items()}
    usable = {name: scores[name] for name, v in values.items() if v is not None}
    if len(usable) < 2:
        return {"metric": key, "top": next(iter(usable), None), "strongest": None,
                "tied_with_top": [], "comparisons": {},
                "unresolved": f"fewer than two attacks have {key} on this evaluation set"}
    top = max(usable, key=values.get)
    comparisons = paired_differences(truth, usable, top, key, bootstrap, seed, groups)
    adjusted = holm({name: c["p"] for name, c in comparisons.items()})
    for name, c in comparisons.items():
        c["p_holm"] = adjusted[name]
    tied = [name for name in comparisons if adjusted[name] >= alpha]
    return {"metric": key, "top": top, "strongest": None if tied else top, "tied_with_top": tied,
            "comparisons": comparisons,
            "policy": f"paired bootstrap ({bootstrap} resamples"
                      + (", whole images" if groups is not None else ", members and non-members "
                         "separately") + f") of the top row minus each other row; Holm over the "
                      f"{len(comparisons)} comparisons at alpha = {alpha}"}
