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

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import islice

import numpy as np

from ..parallel import available_cpus
from .roc import FPRS, Curve, group_counts, resample_weights

ALPHA = 0.05
METRICS = ("auc", *FPRS)


# Resamples drawn ahead and handed to the threads at once: each thread then computes its rows
# over the whole chunk, so the hand-over costs little next to the work.
CHUNK = 64


def replicates(truth: np.ndarray, scores: dict[str, np.ndarray], bootstrap: int, seed: int,
               groups: np.ndarray | None = None,
               weights: Sequence[np.ndarray] | None = None) -> dict[str, dict]:
    """Every row's AUC and TPRs on each of ``bootstrap`` resamples, the same resamples for all
    rows (``resample_weights``): {row: {metric: (B,) array, or None where the evaluation set
    has too few non-members for that FPR}}. Intervals and paired differences read these.

    The resamples are drawn here, in order; the rows are shared out among threads (numpy
    releases the GIL in its array operations, and each row's ``Curve`` computes in arrays of
    its own), so no value depends on how many threads there are; the next chunk of resamples
    is drawn while the threads compute. ``weights``: the resamples' weights where the caller
    has drawn them already (``resample_weights(truth, bootstrap, seed)``, reused over calls
    on the same samples), else drawn here."""
    if weights is not None and groups is not None:
        raise ValueError("weights drawn ahead are for members and non-members resampled "
                         "separately, not for whole images (groups)")
    curves = {name: Curve(truth, s) for name, s in scores.items()}
    if groups is None:
        draws = iter(resample_weights(truth, bootstrap, seed) if weights is None else weights)
        sorted_rows = {name: curve.order for name, curve in curves.items()}
    else:  # the same draws as resample_weights, gathered from the images' counts directly
        row_image, draws = group_counts(groups, bootstrap, seed)
        sorted_rows = {name: row_image[curve.order] for name, curve in curves.items()}
    threads = max(1, min(len(curves), available_cpus()))  # pragma: no mutate (changes no value)
    shares = [list(curves)[i::threads] for i in range(threads)]
    values: dict[str, dict[str, list]] = {name: {k: [] for k in METRICS} for name in scores}

    def compute(share: list[str], chunk: list[np.ndarray]) -> None:
        for name in share:
            for draw in chunk:  # the weights in the curve's sorted order
                for k, v in curves[name].metrics(draw[sorted_rows[name]]).items():
                    values[name][k].append(v)  # each row's lists are one thread's alone
    with ThreadPoolExecutor(threads) as pool:
        chunk = list(islice(draws, CHUNK))
        while chunk:
            running = [pool.submit(compute, share, chunk) for share in shares]
            chunk = list(islice(draws, CHUNK))  # the next, drawn while the threads compute
            for future in running:
                future.result()  # a thread's error is raised here
    return {name: {k: (None if not v or v[0] is None else np.asarray(v)) for k, v in row.items()}
            for name, row in values.items()}


def interval(values: np.ndarray | None) -> list[float] | None:
    """The 95% percentile interval of bootstrap values (None stays None)."""
    if values is None:
        return None
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def metric_interval(truth: np.ndarray, score: np.ndarray, key: str, bootstrap: int, seed: int,
                    groups: np.ndarray | None = None) -> list[float]:
    """One score's 95% percentile interval of ``key``, resampled as ``resample_weights``."""
    return interval(replicates(truth, {"score": score}, bootstrap, seed, groups)["score"][key])


def differences(points: dict[str, float], reps: dict[str, np.ndarray], reference: str
                ) -> dict[str, dict]:
    """For every row but ``reference``: points[reference] - points[row], the 95% percentile
    interval of that difference over the shared resamples ``reps`` (row -> (B,) values), and
    its two-sided bootstrap p-value p = 2 (k + 1) / (B + 1), at most 1, with k the resamples on
    the smaller side of 0 (a difference of exactly 0 counts on both): never 0 from a finite
    bootstrap."""
    out = {}
    for name in reps:
        if name == reference:
            continue
        d = reps[reference] - reps[name]
        k = min(int((d <= 0).sum()), int((d >= 0).sum()))
        out[name] = {"difference": float(points[reference] - points[name]),
                     "ci95": interval(d), "p": float(min(1.0, 2 * (k + 1) / (len(d) + 1)))}
    return out


def paired_differences(truth: np.ndarray, scores: dict[str, np.ndarray], reference: str,
                       key: str, bootstrap: int, seed: int,
                       groups: np.ndarray | None = None) -> dict[str, dict]:
    """``differences`` of metric ``key`` between ``reference`` and every other score, measured
    on all samples and on the same resamples."""
    points = {name: Curve(truth, s).metric(key) for name, s in scores.items()}
    reps = replicates(truth, scores, bootstrap, seed, groups)
    return differences(points, {name: r[key] for name, r in reps.items()}, reference)


def holm(p_values: dict[str, float]) -> dict[str, float]:
    """Holm's step-down adjustment: the i-th smallest of m p-values is multiplied by m - i
    (i from 0), capped at 1, and made non-decreasing in that order."""
    ranked = sorted(p_values, key=p_values.get)
    m, running, out = len(ranked), 0.0, {}
    for i, name in enumerate(ranked):
        running = max(running, min(1.0, (m - i) * p_values[name]))
        out[name] = running
    return out


def policy(bootstrap: int, comparisons: int, groups: bool, alpha: float = ALPHA) -> str:
    return (f"paired bootstrap ({bootstrap} resamples, "
            + ("whole images with all their rows" if groups else
               "members and non-members separately")
            + f") of the top row minus each other row; Holm over the {comparisons} comparisons "
              f"at alpha = {alpha}; strongest only if every adjusted p-value is below alpha")


def strongest_of(points: dict[str, float | None], reps: dict[str, np.ndarray | None], key: str,
                 bootstrap: int, groups: bool = False, alpha: float = ALPHA) -> dict:
    """The top row by ``key`` (``points``, on all samples) compared with every other row on the
    shared resamples ``reps``; "strongest" only when every Holm-adjusted p-value is below
    ``alpha``, else ``tied_with_top`` names the rows it could not be told from. Rows whose
    metric is undefined (None) take no part."""
    usable = [name for name, v in points.items() if v is not None and reps.get(name) is not None]
    if len(usable) < 2:
        return {"metric": key, "top": usable[0] if usable else None, "strongest": None,
                "tied_with_top": [], "comparisons": {},
                "unresolved": f"fewer than two attacks have {key} on this evaluation set"}
    top = max(usable, key=lambda name: points[name])
    floor = (len(usable) - 1) * 2 / (bootstrap + 1)  # Holm's smallest possible adjusted p
    if floor >= alpha:
        return {"metric": key, "top": top, "strongest": None, "tied_with_top": [],
                "comparisons": {}, "unresolved": f"{bootstrap} resamples cannot resolve "
                f"{len(usable) - 1} comparisons at alpha = {alpha}: the smallest Holm-adjusted "
                f"p-value they can give is {floor:.3g}"}
    comparisons = differences(points, {name: reps[name] for name in usable}, top)
    adjusted = holm({name: c["p"] for name, c in comparisons.items()})
    for name, c in comparisons.items():
        c["p_holm"] = adjusted[name]
    tied = [name for name in comparisons if adjusted[name] >= alpha]
    return {"metric": key, "top": top, "strongest": None if tied else top, "tied_with_top": tied,
            "comparisons": comparisons, "policy": policy(bootstrap, len(comparisons), groups, alpha)}


def versus(points: dict[str, float | None], reps: dict[str, np.ndarray | None], baseline: str,
           bootstrap: int, groups: bool = False, alpha: float = ALPHA) -> dict:
    """Every row against ``baseline`` (row minus baseline) on the shared resamples, the p-values
    Holm-adjusted over those comparisons: {"baseline", "policy", "rows": {row: {difference,
    ci95, p, p_holm, above: the difference is positive and p_holm < alpha}}}. Rows whose
    metric is undefined take no part."""
    usable = [n for n, v in points.items() if v is not None and reps.get(n) is not None]
    flipped = differences(points, {n: reps[n] for n in usable}, baseline)  # baseline - row
    rows = {n: {"difference": -c["difference"], "ci95": [-c["ci95"][1], -c["ci95"][0]], "p": c["p"]}
            for n, c in flipped.items()}
    adjusted = holm({n: c["p"] for n, c in rows.items()})
    for n, c in rows.items():
        c["p_holm"] = adjusted[n]
        c["above"] = bool(c["difference"] > 0 and adjusted[n] < alpha)
    return {"baseline": baseline, "rows": rows,
            "policy": f"paired bootstrap ({bootstrap} resamples, "
                      + ("whole images" if groups else "members and non-members separately")
                      + f") of each row minus {baseline}; Holm over the {len(rows)} comparisons at "
                        f"alpha = {alpha}"}


def strongest(truth: np.ndarray, scores: dict[str, np.ndarray], key: str, bootstrap: int,
              seed: int, groups: np.ndarray | None = None, alpha: float = ALPHA) -> dict:
    """``strongest_of`` for scores measured on the same samples."""
    points = {name: Curve(truth, s).metric(key) for name, s in scores.items()}
    reps = replicates(truth, scores, bootstrap, seed, groups)
    return strongest_of(points, {name: r[key] for name, r in reps.items()}, key, bootstrap,
                        groups is not None, alpha)
