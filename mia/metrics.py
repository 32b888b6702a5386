"""Attack metrics. Members are the positive class (label 1) everywhere.

Thresholded metrics come from ``sklearn.metrics``; threshold-free ones from the ROC curve
of a *membership score* where higher means "more likely a member" (for a loss ``l`` that
is ``-l``).
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, precision_score,
                             recall_score, roc_auc_score, roc_curve)

# Row/column order of every confusion matrix we write: sklearn's [negative, positive].
CONFUSION_LABELS = ("non-member", "member")
LOW_FPRS = {"tpr_at_1pct_fpr": 0.01, "tpr_at_0.1pct_fpr": 0.001}


def thresholded(is_member: np.ndarray, predicted_member: np.ndarray) -> dict:
    """accuracy, precision, recall, F1 and the 2x2 confusion matrix [[TN, FP], [FN, TP]]."""
    y, p = is_member.astype(int), predicted_member.astype(int)
    return {
        "accuracy": float(accuracy_score(y, p)),
        "precision": float(precision_score(y, p, zero_division=0)),
        "recall": float(recall_score(y, p, zero_division=0)),
        "f1": float(f1_score(y, p, zero_division=0)),
        "confusion_matrix": confusion_matrix(y, p, labels=[0, 1]).tolist(),
    }


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    """Highest TPR reachable with FPR <= target (a step-wise ROC, no interpolation)."""
    ok = fpr <= target
    return float(tpr[ok].max()) if ok.any() else 0.0


def threshold_free(is_member: np.ndarray, membership_score: np.ndarray) -> dict:
    """AUC, attacker advantage max(TPR - FPR), TPR at low FPR, and the best threshold.

    ``best_threshold`` is on the membership-score scale (predict member when score >= it);
    ``best_accuracy`` is the balanced accuracy (TPR + 1 - FPR) / 2 there, which equals plain
    accuracy on a balanced set.
    """
    y = is_member.astype(int)
    fpr, tpr, thresholds = roc_curve(y, membership_score)
    gap = tpr - fpr
    best = int(np.argmax(gap))
    out = {"auc": float(roc_auc_score(y, membership_score)), "advantage": float(gap[best])}
    out.update({k: tpr_at_fpr(fpr, tpr, v) for k, v in LOW_FPRS.items()})
    out["best_threshold"] = float(thresholds[best])
    out["best_accuracy"] = float((tpr[best] + 1 - fpr[best]) / 2)
    return out


def mean_std(values: list[float]) -> dict:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    a = np.asarray(values, dtype=float)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0}
