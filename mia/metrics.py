"""Attack metrics. Members are the positive class (label 1) everywhere.

Thresholded metrics come from ``sklearn.metrics``; threshold-free ones from the ROC curve
of a *membership score* where higher means "more likely a member" (for a loss ``l`` that
is ``-l``; ``loss_metrics`` does that conversion and reports thresholds on the loss scale).

Ties. A threshold classifies a block of tied scores as a whole (a hard rule cannot split
it), so thresholded metrics and ``best_accuracy`` count whole blocks. Curve metrics treat a
tied block as the straight ROC segment between the two points that include or exclude it:
this is the *expected* TPR and FPR when the ties are broken at random. sklearn's AUC already
does this (a tied member/non-member pair counts 1/2, the area under that segment), and
``tpr_at_fpr`` reads TPR at an FPR target on the same segments. Without ties every segment
is horizontal or vertical, and this equals the step-wise "highest TPR with FPR <= target".
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, precision_score,
                             recall_score, roc_auc_score, roc_curve)

# Row/column order of every confusion matrix we write: sklearn's [negative, positive].
CONFUSION_LABELS = ("non-member", "member")
LOW_FPRS = {"tpr_at_1pct_fpr": 0.01, "tpr_at_0.1pct_fpr": 0.001}
# TPR at an FPR target f is reported only when at least 1/f non-members are evaluated (one
# false positive is then at most f); below that it is null, and ``unresolved`` says why.



def thresholded(is_member: np.ndarray, predicted_member: np.ndarray) -> dict:
    """accuracy, precision, recall, F1 and the 2x2 confusion matrix [[TN, FP], [FN, TP]]."""
    # (equivalent mutants: any numeric dtype gives sklearn the same 0/1 labels)
    y, p = is_member.astype(int), predicted_member.astype(int)  # pragma: no mutate
    return {
        "accuracy": float(accuracy_score(y, p)),
        "precision": float(precision_score(y, p, zero_division=0)),
        "recall": float(recall_score(y, p, zero_division=0)),
        "f1": float(f1_score(y, p, zero_division=0)),
        "confusion_matrix": confusion_matrix(y, p, labels=[0, 1]).tolist(),
    }


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    """TPR at FPR = ``target`` on the ROC polyline (``fpr``, ``tpr`` from ``roc_curve``).

    The highest TPR among ROC points with FPR <= target, or, where the segment to the next
    point crosses the target, the TPR on that segment (ties broken at random, see above).
    """
    if not 0 <= target <= 1:
        raise ValueError(f"an FPR target is a rate in [0, 1], got {target}")
    i = int(np.searchsorted(fpr, target, side="right")) - 1  # last point with fpr <= target
    if i < 0:
        return 0.0
    if fpr[i] == target:  # includes the last point: a ROC ends at FPR 1 and target <= 1
        return float(tpr[i])
    f0, f1, t0, t1 = fpr[i], fpr[i + 1], tpr[i], tpr[i + 1]
    return float(t0 + (t1 - t0) * (target - f0) / (f1 - f0))


def threshold_free(is_member: np.ndarray, membership_score: np.ndarray) -> dict:
    """AUC, attacker advantage max(TPR - FPR), TPR at low FPR, and the best threshold.

    ``best_threshold`` is on the membership-score scale (predict member when score >= it);
    ``best_accuracy`` is the balanced accuracy (TPR + 1 - FPR) / 2 there, which equals plain
    accuracy on a balanced set.
    """
    # Equivalent mutants, not mutated: the dtype of the 0/1 labels and of the counts (exact in
    # float64 too); drop_intermediate (it drops only collinear points, which change neither
    # the interpolation nor the first maximum); and the value of n_neg in fp (the merit stays
    # proportional to TPR - FPR for any positive n_neg).
    y = is_member.astype(int)  # pragma: no mutate
    fpr, tpr, thresholds = roc_curve(y, membership_score, drop_intermediate=False)  # pragma: no mutate
    # TPR - FPR compared exactly, in counts (TP * N - FP * P is proportional to it), so equal
    # gaps tie exactly; argmax takes the first, the strictest threshold among equals.
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())  # pragma: no mutate
    tp, fp = np.rint(tpr * n_pos).astype(np.int64), np.rint(fpr * n_neg).astype(np.int64)  # pragma: no mutate
    best = int(np.argmax(tp * n_neg - fp * n_pos))
    out = {"auc": float(roc_auc_score(y, membership_score)),
           "advantage": float(tpr[best] - fpr[best])}
    for k, target in LOW_FPRS.items():
        if n_neg * target >= 1:
            out[k] = tpr_at_fpr(fpr, tpr, target)
        else:
            out[k] = None
            out.setdefault("unresolved", {})[k] = (
                f"needs at least {round(1 / target):,} non-members, the evaluation has {n_neg:,}")
    out["best_threshold"] = float(thresholds[best])
    out["best_accuracy"] = float((tpr[best] + 1 - fpr[best]) / 2)
    return out


def loss_metrics(is_member: np.ndarray, loss: np.ndarray) -> dict:
    """``threshold_free`` of the membership score ``-loss``, with ``best_threshold`` put on
    the loss scale: predicting member when ``loss < best_threshold`` reaches ``best_accuracy``.

    The threshold sits halfway between the largest loss it admits and the next larger one
    (at least one float above the admitted loss); when the best is to admit nobody (no
    threshold beats chance), it is the smallest loss.
    """
    loss = np.asarray(loss, dtype=float)  # pragma: no mutate (losses are floats already)
    out = threshold_free(is_member, -loss)
    admitted = -out["best_threshold"]  # member iff loss <= admitted; -inf: nobody
    if admitted == -np.inf:
        out["best_threshold"] = float(loss.min())
    else:  # the best point is never "admit everyone" (it ties with "nobody", which comes first)
        midpoint = (admitted + loss[loss > admitted].min()) / 2
        out["best_threshold"] = float(max(midpoint, np.nextafter(admitted, np.inf)))
    return out


def summarize_repeats(runs: list[dict]) -> dict:
    """Mean and std over repeats of every float metric, and the mean confusion matrix.

    ``mean_normalized`` divides each row of the mean counts by its sum: rows are the truth
    (non-member, member), so the member row reads [FNR, TPR] and the non-member row
    [TNR, FPR].
    """
    scalar = [k for k, v in runs[0].items() if isinstance(v, float) or v is None and k in LOW_FPRS]
    mean_cm = np.array([r["confusion_matrix"] for r in runs], dtype=float).mean(axis=0)  # pragma: no mutate (a mean is float anyway)
    return {
        "summary": {k: mean_std([r[k] for r in runs]) for k in scalar},
        "confusion_matrix": {"mean_counts": mean_cm.tolist(),
                             "mean_normalized": (mean_cm / mean_cm.sum(axis=1, keepdims=True)).tolist()},
    }


def mean_std(values: list[float | None]) -> dict:
    """Mean and sample standard deviation (ddof=1; 0 for a single value); both null when a
    value is (an unresolved metric)."""
    if any(v is None for v in values):
        return {"mean": None, "std": None}
    a = np.asarray(values, dtype=float)  # pragma: no mutate (the values are floats already)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0}
