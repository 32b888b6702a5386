"""ROC metrics of a membership score, with ties as straight segments (random tie-breaking) and
weights per sample (the bootstrap's resample counts): AUC, TPR at 1%, 0.1% and 0.01% FPR (each
only where at least 1/FPR non-members are evaluated), the best balanced accuracy, the members
found at zero false positives, and 95% stratified bootstrap intervals (``score_metrics``).
Members are the positive class."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .. import metrics

FPRS = {"tpr_at_1pct_fpr": 0.01, "tpr_at_0.1pct_fpr": 0.001, "tpr_at_0.01pct_fpr": 0.0001}


# A weight is how often the bootstrap drew a sample: a count. Members' and non-members' counts
# are summed by one cumulative sum: a member's count is shifted into the high 32 bits
# (``MEMBER_UNIT``), a non-member's stays in the low 32, so that one ``np.cumsum`` gives both
# running totals, exact integers while the non-members' counts sum to less than 2**32 and the
# members' to less than 2**31 (``Curve`` checks that there are fewer samples than that; a
# bootstrap's counts sum to the number of samples). It reads the same numbers as two sums.
MEMBER_UNIT = 1 << 32
LOW_BITS = MEMBER_UNIT - 1


class RocWork:
    """The arrays one ROC is computed in, allocated once and reused for every resample: the
    bootstrap's inner loop then allocates nothing. Together with the packed counts this took
    one ROC of 880,000 samples from 19.1 ms to 7.3 ms; that a fresh array's page faults were
    the larger part is a hypothesis, not isolated."""

    def __init__(self, samples: int, blocks: int):
        self.running = np.empty(samples, np.int64)
        self.blocks = np.empty(blocks, np.int64)
        self.tp = np.empty(blocks, np.int64)
        self.fpr, self.tpr = np.zeros(blocks + 1), np.zeros(blocks + 1)  # [0] stays 0
        self.a, self.b = np.empty(blocks), np.empty(blocks)

    def trapezoid(self) -> float:
        """np.trapezoid(tpr, fpr), the same operations in the same order (the same number),
        in this work's arrays; x * 0.5 is x / 2.0 exactly (a power of two), and faster."""
        np.subtract(self.fpr[1:], self.fpr[:-1], out=self.a)             # diff(fpr)
        np.add(self.tpr[1:], self.tpr[:-1], out=self.b)
        np.multiply(self.a, self.b, out=self.a)
        np.multiply(self.a, 0.5, out=self.a)
        return float(np.add.reduce(self.a))


def weighted_roc(unit: np.ndarray, group_end: np.ndarray | None, w: np.ndarray | None = None,
                 work: RocWork | None = None):
    """ROC points (fpr, tpr) of scores sorted in decreasing order, one point per block of
    tied scores (``group_end``: last index of each block, or None where no scores tie),
    integer weights ``w`` per sample (default: one each). ``unit``: MEMBER_UNIT for a member,
    1 for a non-member, in the sorted order. ``work``: the arrays to compute in (the returned
    fpr and tpr are its own, overwritten by the next call); fresh ones by default."""
    work = work or RocWork(len(unit), len(unit) if group_end is None else len(group_end))
    if w is not None and w.dtype.kind not in "iub":  # counts stored as floats: as integers
        counts = w.astype(np.int64)
        if not np.array_equal(counts, w):
            raise ValueError("ROC weights are counts (how often each sample was drawn), "
                             f"got {float(w[counts != w][0])}")
        w = counts
    if w is None:
        work.running[:] = unit
    else:
        np.multiply(w, unit, out=work.running)
    np.cumsum(work.running, out=work.running)
    blocks = work.running if group_end is None else np.take(work.running, group_end,
                                                            out=work.blocks)
    tp = np.right_shift(blocks, 32, out=work.tp)
    fp = np.bitwise_and(blocks, LOW_BITS, out=blocks)
    np.divide(tp, tp[-1], out=work.tpr[1:])                               # tp / tp[-1]
    np.divide(fp, fp[-1], out=work.fpr[1:])
    return work.fpr, work.tpr


def point_metrics(fpr: np.ndarray, tpr: np.ndarray, n_neg: int, auc: float | None = None) -> dict:
    """AUC (``auc`` where it is already computed) and the TPR at each of FPRS."""
    out = {"auc": float(np.trapezoid(tpr, fpr)) if auc is None else auc}
    for key, f in FPRS.items():
        out[key] = metrics.tpr_at_fpr(fpr, tpr, f) if n_neg * f >= 1 else None
    return out


class Curve:
    """A score's ROC with the sort and the blocks of tied scores computed once, to be read
    under any weights (``metrics``, ``metric``; weights in the sorted order, ``order``)."""

    def __init__(self, truth: np.ndarray, score: np.ndarray):
        score = np.asarray(score)
        if len(score) >= 2**31:
            raise ValueError(f"a ROC of {len(score):,} samples is beyond the packed counts "
                             f"(fewer than 2**31)")
        # the order within a block of tied scores does not matter: every metric reads each
        # block's summed weights only
        self.order = np.argsort(-score)
        s = score[self.order]
        self.truth = np.asarray(truth, bool)[self.order]                 # sorted
        self.group_end = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
        self.n_pos, self.n_neg = int(self.truth.sum()), int((~self.truth).sum())
        self.unit = np.where(self.truth, MEMBER_UNIT, 1)
        # where no scores tie, each block is one sample: the running sums need no gathering
        self.blocks = None if len(self.group_end) == len(s) else self.group_end
        self.work: RocWork | None = None  # allocated by the first ``metrics``

    def roc(self, sorted_weights: np.ndarray | None = None):
        """(fpr, tpr), fresh arrays, under integer weights given in the sorted order."""
        return weighted_roc(self.unit, self.blocks, sorted_weights)

    def metrics(self, sorted_weights: np.ndarray | None = None) -> dict:
        """``point_metrics`` under integer weights given in the sorted order, computed in
        this curve's ``work`` arrays."""
        self.work = self.work or RocWork(len(self.unit), len(self.group_end))
        fpr, tpr = weighted_roc(self.unit, self.blocks, sorted_weights, self.work)
        return point_metrics(fpr, tpr, self.n_neg, self.work.trapezoid())

    def metric(self, key: str, weights: np.ndarray | None = None) -> float | None:
        """``key`` under ``weights`` given in the rows' own order (not sorted)."""
        return self.metrics(None if weights is None else weights[self.order])[key]


def resample_weights(truth: np.ndarray, bootstrap: int, seed: int,
                     groups: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """``bootstrap`` weight vectors (how often each row is drawn), in the rows' order: members
    and non-members resampled separately, or, with ``groups`` (an image id per row), whole
    images with all their rows (``group_counts``)."""
    truth = np.asarray(truth, bool)
    if groups is None:
        rng = np.random.default_rng(seed)
        pos, neg = np.flatnonzero(truth), np.flatnonzero(~truth)
        for _ in range(bootstrap):
            w = np.zeros(len(truth), dtype=np.int64)
            w[pos] = rng.multinomial(len(pos), np.full(len(pos), 1 / len(pos)))
            w[neg] = rng.multinomial(len(neg), np.full(len(neg), 1 / len(neg)))
            yield w
        return
    row_image, counts = group_counts(groups, bootstrap, seed)
    for c in counts:
        yield c[row_image]


def group_counts(groups: np.ndarray, bootstrap: int, seed: int
                 ) -> tuple[np.ndarray, Iterator[np.ndarray]]:
    """(each row's image index, an iterator of ``bootstrap`` draw counts per image): images
    drawn with replacement, as many as there are; a row's weight is its image's count."""
    ids, row_image = np.unique(groups, return_inverse=True)
    rng = np.random.default_rng(seed)

    def draws():
        for _ in range(bootstrap):
            yield rng.multinomial(len(ids), np.full(len(ids), 1 / len(ids)))
    return row_image, draws()


def score_metrics(truth: np.ndarray, score: np.ndarray, bootstrap: int = 0,
                  seed: int | None = None) -> dict:
    """AUC, best balanced accuracy, TPR at 1/0.1/0.01% FPR, members found at zero false
    positives; with ``bootstrap`` > 0, 95% intervals from that many stratified resamples
    (percentile method), drawn from ``seed`` (required then).

    Ties are the straight ROC segments of ``metrics`` (random tie-breaking), in the point
    estimates and in every resample alike."""
    if bootstrap and seed is None:
        raise ValueError("a bootstrap needs a seed")
    curve = Curve(truth, score)
    fpr, tpr = curve.roc()
    out = point_metrics(fpr, tpr, curve.n_neg)
    full = metrics.threshold_free(truth, score)
    out["best_balanced_accuracy"] = full["best_accuracy"]
    zero = int(np.searchsorted(fpr, 0.0, side="right")) - 1  # last point with FPR 0
    out["members_at_zero_fp"] = int(round(tpr[zero] * curve.n_pos))
    out["n_members"], out["n_nonmembers"] = curve.n_pos, curve.n_neg
    if bootstrap:
        reps = {k: [] for k in ("auc", *FPRS)}
        # drawn over the sorted rows, so the weights need no reordering
        for w in resample_weights(curve.truth, bootstrap, seed):
            for k, v in curve.metrics(w).items():
                reps[k].append(v)
        out["ci95"] = {k: (None if v[0] is None else [float(np.percentile(v, 2.5)),
                                                       float(np.percentile(v, 97.5))])
                       for k, v in reps.items()}
        out["bootstrap"] = bootstrap
    return out


def roc_points(truth: np.ndarray, score: np.ndarray, max_points: int = 400) -> dict:
    """A log-spaced thinning of the ROC for the figures: FPR from 1/n_neg to 1."""
    curve = Curve(truth, score)
    fpr, tpr = curve.roc()
    grid = np.unique(np.r_[0.0, np.geomspace(1 / max(1, curve.n_neg), 1, max_points)])
    return {"fpr": grid.tolist(), "tpr": [metrics.tpr_at_fpr(fpr, tpr, f) for f in grid]}
