"""Two arms compared, each one recipe trained with several seeds (study 004: a dense against a
convolutional network, depth 7 against depth 4, ...): ``compare(a, b, seed)``.

An arm's metric is its mean over seeds of a threshold-free metric of one membership score (the
loss's AUC, TPR at 1% and 0.1% FPR) on the arm's evaluation set, every member against every
non-member. The difference b - a gets a 95% interval from a two-level bootstrap, so that the
interval covers both sources of chance:

- the seeds: each replicate draws k seed indices with replacement, the same indices for both
  arms (seed i of one arm and seed i of the other share their initialisation and batch order;
  pairing them removes what the two arms share);
- the samples: each replicate draws the members and the non-members with replacement
  (stratified, as every bootstrap here), the same draw for both arms when they are evaluated
  on the same samples (``same_samples``: then the difference is paired), independent draws
  otherwise (e.g. 4 classes against 10: two evaluation sets, an unpaired difference).

With 3 seeds, resampling them with replacement gives a coarse picture of the seed spread
(a bootstrap of n values underestimates a variance by (n - 1) / n); the per-seed values are
returned beside it so that a reader sees the spread itself. A difference is called real only
when its interval excludes zero (``excludes_zero``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .roc import Curve

BOOTSTRAP = 2000
METRICS = ("auc", "tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr")
ALPHA = 0.05
# the bootstrap's own stream of the study seed, so that no other draw shares its numbers
BOOTSTRAP_STREAM = 0xA4B5


@dataclass(frozen=True)
class Arm:
    """One arm: its evaluation set's membership (``truth``: True = member) and one membership
    score per seed (higher = member), each on those samples in that order."""

    name: str
    truth: np.ndarray
    scores: tuple[np.ndarray, ...]

    def __post_init__(self):
        if not self.scores:
            raise ValueError(f"arm {self.name!r} has no seeds")
        if any(len(s) != len(self.truth) for s in self.scores):
            raise ValueError(f"arm {self.name!r}: every seed's scores must cover its "
                             f"{len(self.truth):,} samples")


def _stratified(truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """How often each sample is drawn: members and non-members each resampled to their count."""
    w = np.zeros(len(truth), np.int64)
    for group in (np.flatnonzero(truth), np.flatnonzero(~truth)):
        w[group] = rng.multinomial(len(group), np.full(len(group), 1 / len(group)))
    return w


def _per_seed(curves: list[Curve], weights: np.ndarray | None) -> list[dict]:
    return [c.metrics(None if weights is None else weights[c.order]) for c in curves]


def _mean(values: list) -> float | None:
    return None if any(v is None for v in values) else float(np.mean(values))


def _interval(values: list) -> list[float] | None:
    if not values or any(v is None for v in values):
        return None
    return [float(np.percentile(values, 100 * ALPHA / 2)),
            float(np.percentile(values, 100 * (1 - ALPHA / 2)))]


def compare(a: Arm, b: Arm, seed: int, same_samples: bool, bootstrap: int = BOOTSTRAP,
            keys: tuple[str, ...] = METRICS,
            per_seed: dict[str, tuple[list[float], list[float]]] | None = None) -> dict:
    """Per metric: each arm's mean over seeds, its per-seed values and its 95% interval, and
    the difference b - a with its 95% interval (module docstring). ``same_samples``: the two
    arms are evaluated on the same samples in the same order (checked: the same membership).
    Both arms need the same number of seeds (seed i is paired with seed i).

    ``per_seed``: other numbers of each seed (name -> (a's, b's), e.g. the test accuracy),
    compared the same way but resampled over the seeds only: their intervals cover the seed
    spread, not the sampling noise of the images they were measured on."""
    per_seed = per_seed or {}
    k = len(a.scores)
    if len(b.scores) != k:
        raise ValueError(f"arms {a.name!r} and {b.name!r} have {k} and {len(b.scores)} seeds: "
                         f"seed i is paired with seed i, so they need as many")
    if same_samples and not np.array_equal(a.truth, b.truth):
        raise ValueError(f"arms {a.name!r} and {b.name!r} are not evaluated on the same samples")
    curves = {arm.name: [Curve(arm.truth, s) for s in arm.scores] for arm in (a, b)}
    point = {arm.name: _per_seed(curves[arm.name], None) for arm in (a, b)}
    rng = np.random.default_rng([seed, BOOTSTRAP_STREAM])
    for name, (va, vb) in per_seed.items():
        if len(va) != k or len(vb) != k:
            raise ValueError(f"{name}: one value per seed ({k}), got {len(va)} and {len(vb)}")
        point[a.name] = [dict(m, **{name: float(va[i])}) for i, m in enumerate(point[a.name])]
        point[b.name] = [dict(m, **{name: float(vb[i])}) for i, m in enumerate(point[b.name])]
    keys = tuple(keys) + tuple(per_seed)
    reps: dict[str, dict[str, list]] = {key: {"a": [], "b": [], "difference": []} for key in keys}
    for _ in range(bootstrap):
        drawn = rng.integers(0, k, size=k)
        wa = _stratified(a.truth, rng)
        wb = wa if same_samples else _stratified(b.truth, rng)
        va, vb = _per_seed(curves[a.name], wa), _per_seed(curves[b.name], wb)
        for name, (sa, sb) in per_seed.items():
            for i in range(k):
                va[i][name], vb[i][name] = sa[i], sb[i]
        for key in keys:
            ma, mb = _mean([va[i][key] for i in drawn]), _mean([vb[i][key] for i in drawn])
            reps[key]["a"].append(ma)
            reps[key]["b"].append(mb)
            reps[key]["difference"].append(None if ma is None or mb is None else mb - ma)
    out = {"a": a.name, "b": b.name, "seeds": k, "same_samples": same_samples,
           "bootstrap": bootstrap, "alpha": ALPHA, "metrics": {}}
    for key in keys:
        per_a = [m[key] for m in point[a.name]]
        per_b = [m[key] for m in point[b.name]]
        ma, mb = _mean(per_a), _mean(per_b)
        ci = _interval(reps[key]["difference"])
        out["metrics"][key] = {
            "a": {"mean": ma, "per_seed": per_a, "ci95": _interval(reps[key]["a"])},
            "b": {"mean": mb, "per_seed": per_b, "ci95": _interval(reps[key]["b"])},
            "difference": None if ma is None or mb is None else mb - ma,
            "difference_ci95": ci,
            "excludes_zero": None if ci is None else bool(ci[0] > 0 or ci[1] < 0),
        }
    return out
