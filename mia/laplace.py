"""What epsilon means: the Laplace mechanism on a right-skewed income column, study 004's
``laplace.py`` reproduced (../shared/reference/architecture-study.md: repeated private sums,
averages and maxima under a budget epsilon, a skew correction, four figures).

The original read the annual incomes of a Kaggle CSV (Credit Score Classification), which this
machine cannot fetch. The substitute is documented and seeded: ``N`` incomes drawn from a
log-normal distribution (median ``MEDIAN``, log-scale ``SIGMA``), the textbook model of a
right-skewed income; every number below is a function of ``SEED``.

The mechanism (Dwork, McSherry, Nissim and Smith 2006): a query f whose value moves by at most
Delta when one person's record changes (its sensitivity) is released as f(D) + Laplace(Delta /
epsilon), which is epsilon-DP. With incomes clipped to [0, B] (``BOUND``, fixed before looking
at the data, as it must be):

    sum:      Delta = B
    average:  Delta = B / n          (n public)
    maximum:  Delta = B

The skew correction: the same average on log10(income), clipped to ``LOG_RANGE`` (Delta =
(hi - lo) / n): its noise is a fixed share of a scale on which the data are not skewed.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from . import plots
from .plots.base import Source, log_ticks

SEED = 0
N = 12_500        # the original's customers (its CSV's rows for one month)
MEDIAN = 50_000.0
SIGMA = 0.9
BOUND = 1_000_000.0       # the clipping bound, dollars: public, not read from the data
LOG_RANGE = (3.0, 6.0)    # log10 dollars: $1,000 to $1,000,000
EPSILONS = (0.01, 0.1, 1.0)
REPEATS = 2000
FIGURES = ("income_distribution", "repeated_average", "skew_corrected_average",
           "normalized_noise")


def incomes(seed: int = SEED, n: int = N) -> np.ndarray:
    rng = np.random.default_rng([seed, 0x1AC])
    return rng.lognormal(np.log(MEDIAN), SIGMA, n)


def private(value: float, sensitivity: float, epsilon: float, rng: np.random.Generator,
            repeats: int) -> np.ndarray:
    """``repeats`` releases of ``value`` by the Laplace mechanism of scale sensitivity / epsilon."""
    if epsilon <= 0 or sensitivity <= 0:
        raise ValueError(f"epsilon and the sensitivity must be > 0, got {epsilon}, {sensitivity}")
    return value + rng.laplace(0.0, sensitivity / epsilon, repeats)


def queries(data: np.ndarray) -> dict[str, tuple[float, float]]:
    """name -> (true value, sensitivity) of each query on ``data``, clipped to [0, BOUND]."""
    clipped = np.clip(data, 0, BOUND)
    n = len(clipped)
    logs = np.clip(np.log10(np.maximum(data, 1.0)), *LOG_RANGE)
    return {"sum": (float(clipped.sum()), BOUND),
            "average": (float(clipped.mean()), BOUND / n),
            "maximum": (float(clipped.max()), BOUND),
            "log10_average": (float(logs.mean()), (LOG_RANGE[1] - LOG_RANGE[0]) / n)}


def run(seed: int = SEED) -> tuple[dict, np.ndarray, dict]:
    """Every query at every epsilon, ``REPEATS`` times: the releases and their spread against
    the mechanism's (the standard deviation of Laplace(b) is sqrt(2) b); the data; the releases
    by (query, epsilon)."""
    data = incomes(seed)
    rng = np.random.default_rng([seed, 0x1AD])
    out = {"seed": seed, "n": N, "median": MEDIAN, "sigma": SIGMA, "bound": BOUND,
           "log_range": list(LOG_RANGE), "repeats": REPEATS, "epsilons": list(EPSILONS),
           "data": {"mean": float(data.mean()), "median": float(np.median(data)),
                    "max": float(data.max()), "skewness": float(_skewness(data))},
           "queries": {}}
    releases = {}
    for name, (true, sensitivity) in queries(data).items():
        rows = []
        for eps in EPSILONS:
            r = private(true, sensitivity, eps, rng, REPEATS)
            releases[(name, eps)] = r
            rows.append({"epsilon": eps, "scale": sensitivity / eps,
                         "expected_std": float(np.sqrt(2) * sensitivity / eps),
                         "std": float(r.std(ddof=1)), "mean": float(r.mean()),
                         "relative_error_median": float(np.median(np.abs(r - true)) / abs(true)),
                         # in dollars: the log average's error is a factor on the geometric mean
                         "dollar_error_median": float(np.median(
                             np.abs(10 ** (r - true) - 1) if name == "log10_average"
                             else np.abs(r - true) / abs(true)))})
        out["queries"][name] = {"true": true, "sensitivity": sensitivity, "by_epsilon": rows}
    return out, data, releases


def _skewness(x: np.ndarray) -> float:
    d = x - x.mean()
    return float((d ** 3).mean() / (d ** 2).mean() ** 1.5)


def figures(result: dict, data: np.ndarray, releases: dict, out: Path, source: Source) -> list[Path]:
    """The original's four figures, drawn for a slide each."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    # 1. the data: linear and log histograms, a box plot
    fig, axes = plt.subplots(1, 3, figsize=(11.6, 4.2), layout="constrained")
    axes[0].hist(data / 1000, bins=80, color="tab:blue")
    axes[0].set_xlabel("income ($1,000)")
    axes[0].set_ylabel("people")
    axes[1].hist(np.log10(data), bins=80, color="tab:blue")
    axes[1].set_xlabel("log10 income ($)")
    axes[2].boxplot(data / 1000, orientation="horizontal")
    axes[2].set_xlabel("income ($1,000)")
    axes[2].set_yticks([])
    fig.suptitle(plots.SLIDE.wrap(f"The income column: {N:,} people, right-skewed (skewness "
                                  f"{result['data']['skewness']:.1f})", 11.6))
    written += _save(fig, out / FIGURES[0], source, "the income data's skew",
                     f"A seeded log-normal sample of {N:,} incomes (median ${MEDIAN:,.0f}, "
                     f"log-scale {SIGMA}), the substitute for the original's Kaggle column.")
    # 2 and 3. repeated private averages, raw and skew-corrected
    for figure_name, name, unit, title in (
            (FIGURES[1], "average", 1 / 1000, "average income ($1,000)"),
            (FIGURES[2], "log10_average", 1.0, "average log10 income")):
        fig, axes = plt.subplots(1, len(EPSILONS), figsize=(11.6, 3.9), layout="constrained")
        true = result["queries"][name]["true"]
        for ax, eps in zip(axes, EPSILONS):
            r = releases[(name, eps)]
            ax.hist(r * unit, bins=60, color="tab:blue")
            ax.axvline(true * unit, color="black", lw=1.5)
            ax.set_title(f"ε = {eps:g}")
            ax.set_xlabel(title)
        axes[0].set_ylabel(f"releases of {REPEATS:,}")
        fig.suptitle(plots.SLIDE.wrap(f"{REPEATS:,} private {title.split(' (')[0]}s per ε: "
                                      f"centred on the truth (black), spread ∝ 1/ε", 11.6))
        written += _save(fig, out / figure_name, source, "the noise each epsilon adds",
                         f"The Laplace mechanism's releases of the {title} at each ε "
                         f"({REPEATS:,} each; sensitivity {result['queries'][name]['sensitivity']:.3g}).")
    # 4. the noise as a share of the true value, raw and skew-corrected
    fig, ax = plt.subplots(figsize=(11.6, 4.2), layout="constrained")
    errors = {}
    for name, label in (("average", "average income"),
                        ("log10_average", "geometric mean (skew-corrected: average of log10)")):
        rows = result["queries"][name]["by_epsilon"]
        errors[name] = {r["epsilon"]: r["dollar_error_median"] for r in rows}
        ax.plot([r["epsilon"] for r in rows], [100 * r["dollar_error_median"] for r in rows],
                "o-", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    log_ticks(ax.xaxis)
    log_ticks(ax.yaxis)
    ax.set_xlabel("privacy budget ε (log scale)")
    ax.set_ylabel("median |error| (% of the true value)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=plots.MIN_FONT_PT, frameon=False)
    eps = EPSILONS[len(EPSILONS) // 2]
    fig.suptitle(plots.SLIDE.wrap(
        f"At ε = {eps:g}: the private average is off by {100 * errors['average'][eps]:.2g}%, "
        f"the skew-corrected one by {100 * errors['log10_average'][eps]:.2g}%", 11.6))
    written += _save(fig, out / FIGURES[3], source, "how much accuracy each epsilon costs",
                     "The median absolute error of each private release as a share of the true "
                     "value in dollars: the average income, and the geometric mean (10 to the "
                     "private average of log10 income), at each ε.")
    return written


def _save(fig, path: Path, source: Source, shows: str, caption: str) -> list[Path]:
    plots.save(fig, path, source=source, shows=shows, caption=caption)
    return [path.with_suffix(f".{fmt}") for fmt in plots.FORMATS]
