"""ROC metrics of a membership score, with ties as straight segments (random tie-breaking) and
weights per sample (the bootstrap's resample counts): AUC, TPR at 1%, 0.1% and 0.01% FPR (each
only where at least 1/FPR non-members are evaluated), the best balanced accuracy, the members
found at zero false positives, and 95% stratified bootstrap intervals (``score_metrics``).
Members are the positive class."""
from __future__ import annotations

import numpy as np

from .. import metrics

FPRS = {"tpr_at_1pct_fpr": 0.01, "tpr_at_0.1pct_fpr": 0.001, "tpr_at_0.01pct_fpr": 0.0001}


def weighted_roc(sorted_truth: np.ndarray, group_end: np.ndarray, w: np.ndarray | None = None):
    """ROC points (fpr, tpr) of scores sorted in decreasing order, one point per block of
    tied scores (``group_end``: last index of each block), weights ``w`` per sample."""
    pos = sorted_truth.astype(np.float64) if w is None else sorted_truth * w
    neg = (~sorted_truth).astype(np.float64) if w is None else (~sorted_truth) * w
    tp, fp = np.cumsum(pos)[group_end], np.cumsum(neg)[group_end]
    tpr = np.r_[0.0, tp / tp[-1]]
    fpr = np.r_[0.0, fp / fp[-1]]
    return fpr, tpr


def point_metrics(fpr: np.ndarray, tpr: np.ndarray, n_neg: int) -> dict:
    out = {"auc": float(np.trapezoid(tpr, fpr))}
    for key, f in FPRS.items():
        out[key] = metrics.tpr_at_fpr(fpr, tpr, f) if n_neg * f >= 1 else None
    return out


def score_metrics(truth: np.ndarray, score: np.ndarray, bootstrap: int = 1000, seed: int = 0) -> dict:
    """AUC, best balanced accuracy, TPR at 1/0.1/0.01% FPR, members found at zero false
    positives; 95% intervals from ``bootstrap`` stratified resamples (percentile method).

    Ties are the straight ROC segments of ``metrics`` (random tie-breaking), in the point
    estimates and in every resample alike."""
    truth = np.asarray(truth, bool)
    order = np.argsort(-score, kind="stable")
    s, t = score[order], truth[order]
    group_end = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    fpr, tpr = weighted_roc(t, group_end)
    n_pos, n_neg = int(truth.sum()), int((~truth).sum())
    out = point_metrics(fpr, tpr, n_neg)
    full = metrics.threshold_free(truth, score)
    out["best_balanced_accuracy"] = full["best_accuracy"]
    zero = int(np.searchsorted(fpr, 0.0, side="right")) - 1  # last point with FPR 0
    out["members_at_zero_fp"] = int(round(tpr[zero] * n_pos))
    out["n_members"], out["n_nonmembers"] = n_pos, n_neg
    if bootstrap:
        rng = np.random.default_rng(seed)
        pos_i, neg_i = np.flatnonzero(t), np.flatnonzero(~t)
        reps = {k: [] for k in ("auc", *FPRS)}
        for _ in range(bootstrap):
            w = np.zeros(len(t))
            w[pos_i] = rng.multinomial(n_pos, np.full(n_pos, 1 / n_pos))
            w[neg_i] = rng.multinomial(n_neg, np.full(n_neg, 1 / n_neg))
            for k, v in point_metrics(*weighted_roc(t, group_end, w), n_neg).items():
                reps[k].append(v)
        out["ci95"] = {k: (None if v[0] is None else [float(np.percentile(v, 2.5)),
                                                       float(np.percentile(v, 97.5))])
                       for k, v in reps.items()}
        out["bootstrap"] = bootstrap
    return out


def roc_points(truth: np.ndarray, score: np.ndarray, max_points: int = 400) -> dict:
    """A log-spaced thinning of the ROC for the figures: FPR from 1/n_neg to 1."""
    order = np.argsort(-score, kind="stable")
    s, t = score[order], np.asarray(truth, bool)[order]
    group_end = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    fpr, tpr = weighted_roc(t, group_end)
    grid = np.unique(np.r_[0.0, np.geomspace(1 / max(1, (~t).sum()), 1, max_points)])
    return {"fpr": grid.tolist(), "tpr": [metrics.tpr_at_fpr(fpr, tpr, f) for f in grid]}
