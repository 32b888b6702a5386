"""Attack power against the number of reference models: distinct subsets of whole rounds of a
bank, each attack scored with each subset, the mean over subsets with a 95% interval, the
references' training cost, and paired comparisons between sizes and between RMIA offline's
tuned and fixed a (``calibrated.evaluate`` runs it on the study protocol)."""
from __future__ import annotations

import itertools
from math import comb

import numpy as np

from ..attacks import TargetView, build, row_key
from ..keep import round_of
from . import paired
from .roc import FPRS, resample_weights, score_metrics

# RMIA offline with a tuned on the references (for AUC, as the reference code) and at fixed a:
# the tuned a moves with the number of references, the fixed ones show what that costs.
DEFAULT_POWER = (("lira_offline", {"variance": "auto"}, 1), ("lira_online", {"variance": "auto"}, 1),
                 ("rmia_offline", {}, 1), ("rmia_offline", {"a": "0"}, 1),
                 ("rmia_offline", {"a": "0.3"}, 1), ("rmia_offline", {"a": "1"}, 1),
                 ("rmia_online", {}, 1))
# Distinct subsets of the bank per size (every one where there are at most this many).
POWER_REPEATS = 10
# Resamples of the intervals and paired comparisons: Holm over 3 steps or 4 sizes at alpha =
# 0.05 needs B > 159; 1,000 keeps the adjusted p-values from sitting on that floor.
BOOTSTRAP = 1000
INTERVAL_METRICS = ("auc", *FPRS)
# The metrics the paired comparisons test.
COMPARED_METRICS = ("tpr_at_0.1pct_fpr", "auc")
# A stream of the experiment's seed of its own: the subsets drawn for the power curve.
SUBSET_STREAM = 0x90E4
COMPARISONS = ("paired bootstrap differences of the mean over subsets, the same resamples at "
               "every size, conditional on the subsets drawn; Holm within each row and metric")


def distinct_subsets(n: int, size: int, draws: int, rng: np.random.Generator) -> list[tuple]:
    """Subsets of ``size`` of range(n), sorted, no two alike: every one where there are at most
    ``draws``, else ``draws`` drawn at random without repeats."""
    if not 0 < size <= n:
        raise ValueError(f"a subset of {size} of {n} items")
    if comb(n, size) <= draws:
        return list(itertools.combinations(range(n), size))
    seen: set[tuple] = set()
    out = []
    while len(out) < draws:
        draw = rng.choice(n, size, replace=False)  # pragma: no mutate (replace=None is False too)
        c = tuple(sorted(int(i) for i in draw))
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out


def power_subsets(k: int, sizes: list[int], repeats: int, seed: int,
                  folds: int = 2) -> dict[int, list[np.ndarray]]:
    """Distinct subsets of whole rounds of a bank of k models (so that every sample has a model
    on each side), as model indices: every subset of a size where there are at most
    ``repeats``, else ``repeats`` distinct random ones; the whole bank once."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, SUBSET_STREAM]))
    out = {}
    for size in sizes:
        if size % folds or not folds <= size <= k:
            raise ValueError(f"subset sizes must be multiples of {folds}, between {folds} and {k}, "
                             f"got {size}")
        rounds = distinct_subsets(k // folds, size // folds, repeats, rng)
        out[size] = [np.sort(np.concatenate([round_of(folds * j, folds) for j in c])) for c in rounds]
    return out


def power_curve(view: TargetView, truth: np.ndarray, k: int, seed: int, folds: int,
                repeats: int = POWER_REPEATS, rows=DEFAULT_POWER,
                model_seconds: np.ndarray | None = None) -> dict:
    """TPR at each FPR and AUC of ``rows`` against the number of references: one round (for
    pairs: one pair, where every sample has one OUT reference), doubling, up to the whole
    bank k. At each size, distinct subsets of whole rounds (``power_subsets``): each metric's
    mean over subsets, their spread (std, min, max), and a 95% interval of that mean from
    resampling the samples (members and non-members separately, the same resamples for every
    subset), which holds the subsets fixed. Cost: the reference models' training seconds
    (``model_seconds``, per bank model as recorded in bank.json), mean over subsets. RMIA
    offline's tuned a and LiRA's resolved variance are recorded per subset. Empty for a bank
    of one round. Returns (the curve, ``power_comparisons``): both empty for one round."""
    if k < 2 * folds:
        return {}, {}
    sizes, refs = [], folds
    while refs < k:  # one round, doubling, then the whole bank
        sizes.append(refs)
        refs *= 2
    sizes.append(k)
    out = {}
    means = {}  # (row, size, metric) -> (mean over subsets, its (B,) resampled values)
    # the same resamples for every size and row: drawn once (int32 counts: 4 bytes a sample)
    weights = [w.astype(np.int32) for w in resample_weights(truth, BOOTSTRAP, seed)]
    for size, subsets in power_subsets(k, sizes, repeats, seed, folds).items():
        cell = {}
        for name, options, aug in rows:
            scores, variants, a_used = {}, set(), []
            for i, idx in enumerate(subsets):
                v = view.references_subset(idx).augmentations(aug)
                attack = build(name, **options).fit(v)
                scores[i] = attack.score(v)
                fitted = attack.fitted_values()
                if "variance" in fitted:  # LiRA's variance, resolved on each subset
                    variants.add(fitted["variance"])
                if "a" in attack.tuned:  # RMIA offline's a, tuned on each subset
                    a_used.append(fitted["a"])
            reps = paired.replicates(truth, scores, BOOTSTRAP, seed, weights=weights)
            entry = {}
            point = [score_metrics(truth, s) for s in scores.values()]  # once per subset
            for metric in INTERVAL_METRICS:
                values = [m[metric] for m in point]
                if values[0] is None:
                    entry[metric] = {"mean": None, "std": None}
                    continue
                mean = np.mean([reps[i][metric] for i in scores], axis=0)  # (B,) mean over subsets
                means[row_key(name, options, aug), size, metric] = (float(np.mean(values)), mean)
                entry[metric] = {"mean": float(np.mean(values)),
                                 "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                                 "min": float(np.min(values)), "max": float(np.max(values)),
                                 "ci95": paired.interval(mean)}
            if model_seconds is not None:
                entry["training_seconds"] = float(np.mean([model_seconds[idx].sum() for idx in subsets]))
            cell[row_key(name, options, aug)] = {
                **entry, "subsets": len(subsets), "reference_models": size,
                **({"variance": sorted(variants)} if variants else {}),
                **({"a": a_used} if a_used else {})}
        out[str(size)] = cell
    return out, power_comparisons(means, sizes)


def power_comparisons(means: dict, sizes: list[int]) -> dict:
    """Paired comparisons on the power curve, every size resampled alike (the same samples, the
    same resamples), conditional on the subsets drawn: per row and metric, each step to the
    next size (larger minus smaller), Holm over the steps of that row; and per size, RMIA
    offline with a tuned minus each fixed a, Holm over the sizes of that a."""
    rows = sorted({row for row, _, _ in means})
    steps, tuned = {}, {}
    for row in rows:
        for metric in COMPARED_METRICS:
            pairs = [(a, b) for a, b in zip(sizes, sizes[1:])
                     if (row, a, metric) in means and (row, b, metric) in means]
            if not pairs:
                continue
            compared = {f"{b}-{a}": _paired_means(means[row, b, metric], means[row, a, metric])
                        for a, b in pairs}
            steps.setdefault(row, {})[metric] = _holm_into(compared)
    for row in rows:
        if not row.startswith("rmia_offline/"):
            continue
        for metric in COMPARED_METRICS:
            compared = {str(k): _paired_means(means["rmia_offline", k, metric], means[row, k, metric])
                        for k in sizes
                        if ("rmia_offline", k, metric) in means and (row, k, metric) in means}
            if compared:
                tuned.setdefault(row, {})[metric] = _holm_into(compared)
    return {"description": COMPARISONS, "steps": steps, "tuned_minus_fixed": tuned}


def _paired_means(a: tuple[float, np.ndarray], b: tuple[float, np.ndarray]) -> dict:
    """a - b for two (point, (B,) resampled values) on the same resamples."""
    return paired.differences({"a": a[0], "b": b[0]}, {"a": a[1], "b": b[1]}, "a")["b"]


def _holm_into(compared: dict[str, dict]) -> dict[str, dict]:
    adjusted = paired.holm({k: c["p"] for k, c in compared.items()})
    for k, c in compared.items():
        c["p_holm"] = adjusted[k]
    return compared
