"""Figures, each saved as PNG (for the deck) and PDF (for reports).

Every figure is drawn for the slide slot it fills (``SLOTS``): its size in inches is the
slot's size in pixels / 100, and no text is smaller than ``MIN_FONT_PT``, so on a
1280x720 slide text is at least about 12 pt x 100 px/in / 72 = 16 px high. Each PNG
records its smallest font size (``MinFontPt``) for the deck's readability check
(``mia.deck.legibility``).

Per score and sampling percentage p (from repeat 0 of the attack, whose samples are
re-drawn from the same seed), in ``figures/<score>/``: ``losses_sample_p{p}``,
``densities_p{p}`` (attacker's sample and evaluation set on shared axes),
``confusion_matrix_p{p}`` (mean over repeats). Per experiment: ``training_curve``,
``accuracy_vs_percentage`` (the deck's panel), ``metrics_vs_percentage`` (every metric, for
reports), ``roc`` (log-log, all samples), ``data_examples``.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from scipy.stats import gaussian_kde  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay, auc, roc_curve  # noqa: E402

from tqdm.auto import tqdm  # noqa: E402

from .evaluation.threshold import sample_split, split_seed  # noqa: E402
from .io import atomic_path  # noqa: E402
from .metrics import CONFUSION_LABELS  # noqa: E402
from .parallel import process_map  # noqa: E402

MEMBER, NONMEMBER = "tab:blue", "tab:orange"
PRETTY = {"cross_entropy": "cross-entropy", "probability_loss": "probability loss",
          "normalized_probability_loss": "normalized probability loss"}
FORMATS = ("png", "pdf")
DPI = 150
MIN_FONT_PT = 12
STYLE = {"font.size": 14, "axes.titlesize": 15, "axes.labelsize": 14, "xtick.labelsize": 13,
         "ytick.labelsize": 13, "legend.fontsize": 13, "figure.titlesize": 15}
# Slide slots in pixels of a 1280x720 slide (deck.md.j2 places the figures so); figure
# size in inches = pixels / 100.
SLOTS = {
    "half": (6.0, 4.0),         # one of two figures side by side, or a right-hand image
    "wide": (11.6, 4.2),        # full width under a title and above two lines of text
    "third": (3.8, 3.7),        # one of three side by side
    "right_tall": (6.0, 6.2),   # right half of the slide, full height
}
plt.rcParams.update(STYLE)


def pretty(score: str) -> str:
    return PRETTY.get(score, score.replace("_", " "))


def min_font_pt(fig) -> float:
    """The smallest font size of any visible, non-empty text in ``fig`` (drawn first, so that
    automatic tick labels exist)."""
    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return float(min(sizes)) if sizes else float("inf")


def save(fig, path_without_suffix: Path) -> None:
    path_without_suffix.parent.mkdir(parents=True, exist_ok=True)
    smallest = min_font_pt(fig)
    for fmt in FORMATS:
        metadata = ({"CreationDate": None} if fmt == "pdf"
                    else {"MinFontPt": f"{smallest:g}"})
        with atomic_path(path_without_suffix.with_suffix(f".{fmt}")) as tmp:
            fig.savefig(tmp, format=fmt, dpi=DPI, bbox_inches="tight", metadata=metadata)
    plt.close(fig)


def training_curve(history: list[dict], title: str, out: Path) -> None:
    """Loss (top) and accuracy (bottom) per epoch, train and test: the gap is the message."""
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(2, 1, figsize=SLOTS["right_tall"], sharex=True)
    ax_loss.plot(epochs, [h["train_loss"] for h in history], label="train", lw=2)
    ax_loss.plot(epochs, [h["test_loss"] for h in history], label="test", lw=2)
    ax_loss.set(ylabel="cross-entropy")
    ax_acc.plot(epochs, [h["train_acc"] for h in history], label="train", lw=2)
    ax_acc.plot(epochs, [h["test_acc"] for h in history], label="test", lw=2)
    ax_acc.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1))
    for ax, where in ((ax_loss, "upper left"), (ax_acc, "lower right")):
        ax.grid(alpha=0.3)
        ax.legend(loc=where)
    ax_loss.set_title(title)
    fig.tight_layout()
    save(fig, out)


def _density_panel(ax, members, nonmembers, threshold, title, score, xlim, kde_grid=512):
    """Histograms, KDE curves and the threshold on a log density axis."""
    lo, hi = xlim
    bins = np.linspace(lo, hi, 50)
    heights = []
    for values, color, who in ((members, MEMBER, "members"), (nonmembers, NONMEMBER, "non-members")):
        h, _, _ = ax.hist(values, bins=bins, density=True, alpha=0.35, color=color,
                          label=f"{who} (n={len(values):,})")
        heights.append(h[h > 0])
        if np.ptp(values) > 0:
            grid = np.linspace(lo, hi, kde_grid)
            ax.plot(grid, gaussian_kde(values)(grid), color=color, lw=2)
    ax.axvline(threshold, color="k", ls="--", lw=1.5, label=f"threshold {threshold:.3g} (repeat 0)")
    # Log density: the spike of near-zero losses would otherwise flatten everything else.
    # The y range is the histograms' (the data), not the KDE tails'.
    positive = np.concatenate(heights)
    ax.set(xlabel=pretty(score), title=title, xlim=(lo, hi), yscale="log",
           ylim=(positive.min() / 3, positive.max() * 3))
    ax.grid(alpha=0.3)


def score_figures(score: str, p: float, key: str, scores: dict, seed: int, result: dict,
                  out_dir: Path) -> None:
    is_member = scores["is_member"]
    m_all, n_all = scores[score][is_member], scores[score][~is_member]
    split = sample_split(len(m_all), len(n_all), p, np.random.default_rng(split_seed(seed, p, 0)))
    threshold = result["repeats"][0]["threshold"]
    am, an = m_all[split.attacker_members], n_all[split.attacker_nonmembers]
    em, en = m_all[split.eval_members], n_all[split.eval_nonmembers]
    losses_sample(score, key, am, an, threshold, out_dir / f"losses_sample_p{key}")

    # Both panels on one x range, zoomed on the decision: up to 4x the threshold or the 95th
    # percentile of member scores, whichever is larger (cross-entropy reaches ~50 while the
    # threshold sits near 0.5); the title says how much of the data lies beyond.
    both = np.concatenate([am, an, em, en])
    hi = min(both.max(), max(4 * threshold, np.quantile(np.concatenate([am, em]), 0.95)))
    xlim = (both.min(), hi)
    fig, (left, right) = plt.subplots(1, 2, figsize=SLOTS["wide"], sharex=True, sharey=True)
    _density_panel(left, am, an, threshold, "attacker's sample: threshold fitted here", score, xlim)
    _density_panel(right, em, en, threshold, "evaluation set: same threshold", score, xlim)
    left.set_ylabel("density (log scale)")
    left.set_ylim(min(left.get_ylim()[0], right.get_ylim()[0]), max(left.get_ylim()[1], right.get_ylim()[1]))
    for ax in (left, right):
        ax.legend(loc="best", fontsize=12)
    beyond = float((both > xlim[1]).mean())
    cut = f" (x axis cut at {xlim[1]:.3g}; {beyond:.0%} of samples lie beyond)" if beyond else ""
    fig.suptitle(f"{pretty(score)}, p = {key}%{cut}")
    fig.tight_layout()
    save(fig, out_dir / f"densities_p{key}")

    cm = result["confusion_matrix"]
    counts, normalized = np.array(cm["mean_counts"]), np.array(cm["mean_normalized"])
    fig, ax = plt.subplots(figsize=SLOTS["third"])
    disp = ConfusionMatrixDisplay(normalized, display_labels=list(CONFUSION_LABELS))
    disp.plot(ax=ax, cmap="Blues", colorbar=False, values_format=".2f")
    for (i, j), text in np.ndenumerate(disp.text_):
        text.set_text(f"{normalized[i, j]:.3f}\n({counts[i, j]:,.0f})")
        text.set_fontsize(14)
    disp.im_.set_clim(0, 1)
    ax.set_xticks([0, 1], ["non-\nmember", "member"])
    ax.set(xlabel="predicted", ylabel="truth")
    title = textwrap.fill(pretty(score), 16)
    ax.set_title(title + "\n" * (1 - title.count("\n")))  # two lines, so all three align
    fig.tight_layout()
    save(fig, out_dir / f"confusion_matrix_p{key}")


def losses_sample(score: str, key: str, members: np.ndarray, nonmembers: np.ndarray,
                  threshold: float, out: Path) -> None:
    """The attacker's sample as two strips, members left and non-members right, on a log
    axis. Losses span 40 decades, most of them empty: the axis starts at the power of ten
    below the 2nd percentile of positive scores, and smaller scores (exact zeros included)
    are drawn on a band under it and counted."""
    both = np.concatenate([members, nonmembers])
    positive = both[both > 0]
    floor = 10.0 ** np.floor(np.log10(np.quantile(positive, 0.02))) if positive.size else 1e-12
    band = floor / 4
    rng = np.random.default_rng(0)  # horizontal jitter only, for visibility
    fig, ax = plt.subplots(figsize=SLOTS["right_tall"])
    for x0, values, color, who in ((0, members, MEMBER, "members"),
                                   (1, nonmembers, NONMEMBER, "non-members")):
        ax.scatter(x0 + rng.uniform(-0.35, 0.35, len(values)), np.where(values >= floor, values, band),
                   s=4, alpha=0.4, color=color, rasterized=len(values) > 2000)
        below = float((values < threshold).mean())
        ax.text(x0, 1.02, f"{below:.0%} below\nthe threshold", transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=13)
        zeros, tiny = int((values == 0).sum()), int(((values > 0) & (values < floor)).sum())
        label = "\n".join(([f"{zeros:,} exactly 0"] if zeros else [])
                          + ([f"{tiny:,} below {floor:.0e}"] if tiny else []))
        if label:
            ax.text(x0, band / 2.5, label, ha="center", va="top", fontsize=12)
    ax.axhline(threshold, color="k", ls="--", lw=1.5)
    ax.text(1.5, threshold, f" threshold\n {threshold:.3g}", va="center", ha="left", fontsize=13)
    ax.set_xticks([0, 1], [f"members\n(n={len(members):,})", f"non-members\n(n={len(nonmembers):,})"])
    ax.set(yscale="log", ylabel=f"{pretty(score)} (log scale)", xlim=(-0.6, 2.2),
           ylim=(band / 40, both.max() * 3))
    ax.grid(alpha=0.3, axis="y")
    # The band under the floor is not a value: no ticks there, and a line to set it apart.
    top = both.max() * 3
    ax.set_yticks([t for t in ax.get_yticks() if floor <= t <= top])
    ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.axhline(np.sqrt(floor * band), color="gray", lw=1, ls=":")
    ax.set_ylim(band / 40, top)
    fig.tight_layout()
    save(fig, out)


def _percentage_axis(ax, ps) -> None:
    ax.set_xscale("log")
    ax.set_xticks(ps, [f"{p:g}" for p in ps])
    ax.minorticks_off()
    ax.set_xlabel("attacker sampling percentage p (%)")
    ax.grid(alpha=0.3)


def _gap_line(ax, metrics: dict) -> None:
    """The gap attack (member iff correctly classified) on each repeat's evaluation samples:
    a dashed line, flat in p since it needs no attacker samples. Not drawn when the results
    predate it."""
    gap = metrics["attack"].get("gap")
    if gap:
        ps = [float(p) for p in gap]
        ax.plot(ps, [v["accuracy"]["mean"] for v in gap.values()], color="black", ls="--",
                lw=1.8, label="gap attack (correct = member)")


def accuracy_vs_percentage(metrics: dict, out: Path) -> None:
    """The deck's panel: attack accuracy against p, one line per score, ± std over repeats,
    and the gap attack on the same evaluation samples."""
    fig, ax = plt.subplots(figsize=SLOTS["wide"])
    for score, by_p in metrics["attack"]["results"].items():
        ps = [r["sampling_percentage"] for r in by_p.values()]
        ax.errorbar(ps, [r["summary"]["accuracy"]["mean"] for r in by_p.values()],
                    yerr=[r["summary"]["accuracy"]["std"] for r in by_p.values()],
                    marker="o", ms=6, capsize=4, lw=2, label=pretty(score))
    _gap_line(ax, metrics)
    _percentage_axis(ax, ps)
    ax.set(ylabel="attack accuracy (balanced)")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(f"{metrics['experiment']}: mean ± std over {metrics['attack']['repeats']} "
                 f"attacker samples (y axis zoomed to the data; chance is 0.5)")
    fig.tight_layout()
    save(fig, out)


def metrics_vs_percentage(metrics: dict, out: Path) -> None:
    """Every summary metric against p (for reports; the deck shows accuracy_vs_percentage)."""
    panels = [("accuracy", "accuracy"), ("precision", "precision"), ("recall", "recall"),
              ("f1", "F1"), ("auc", "AUC"), ("tpr_at_1pct_fpr", "TPR at 1% FPR")]
    results = metrics["attack"]["results"]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    for ax, (key, label) in zip(axes.flat, panels):
        for score, by_p in results.items():
            ps = [r["sampling_percentage"] for r in by_p.values()]
            mean = [r["summary"][key]["mean"] for r in by_p.values()]
            std = [r["summary"][key]["std"] for r in by_p.values()]
            ax.errorbar(ps, [np.nan if m is None else m for m in mean],  # unresolved: not drawn
                        yerr=[np.nan if s is None else s for s in std],
                        marker="o", ms=4, capsize=3, label=pretty(score))
        if key == "accuracy":
            _gap_line(ax, metrics)
        _percentage_axis(ax, ps)
        ax.set_title(label)
    axes.flat[0].legend(fontsize=12)
    fig.suptitle(f"{metrics['experiment']}: attack metrics vs sampling percentage "
                 f"(mean ± std over {metrics['attack']['repeats']} repeats)")
    fig.tight_layout()
    save(fig, out)


def roc(scores: dict, score_names, title: str, out: Path) -> None:
    """Log-log ROC over all samples: the low-FPR corner, where a privacy audit looks."""
    y = scores["is_member"]
    fig, ax = plt.subplots(figsize=SLOTS["half"])
    for s in score_names:
        fpr, tpr, _ = roc_curve(y, -scores[s])
        ax.plot(fpr, tpr, lw=2, label=f"{pretty(s)} (AUC {auc(fpr, tpr):.3f})")
    ax.plot([1e-4, 1], [1e-4, 1], color="gray", ls=":", lw=1.5, label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xscale="log",
           yscale="log", xlim=(1e-4, 1), ylim=(1e-4, 1))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=12)
    ax.set_title(title)
    fig.tight_layout()
    save(fig, out)


# The attacks each calibrated figure draws (the table in calibrated.json has every row): one
# line per family, in its strongest usual setting, so that six curves stay readable.
ROC_ROWS = {"loss": ("loss threshold", "tab:gray", "-"),
            "shokri": ("Shokri shadow models", "tab:brown", "-"),
            "lira_offline/global": ("LiRA offline", "tab:cyan", "--"),
            "lira_online/global": ("LiRA online", "tab:blue", "-"),
            "rmia_offline": ("RMIA offline", "tab:pink", "--"),
            "rmia_online": ("RMIA online", "tab:red", "-")}
POWER_ROWS = {"lira_offline/auto": ("LiRA offline", "tab:cyan", "--"),
              "lira_online/auto": ("LiRA online", "tab:blue", "-"),
              "rmia_offline": ("RMIA offline (a tuned)", "tab:pink", "--"),
              "rmia_online": ("RMIA online", "tab:red", "-")}
RMIA_A_ROWS = {"rmia_offline": ("a tuned for AUC", "tab:pink", "-"),
               "rmia_offline/0": ("a = 0", "tab:olive", ":"),
               "rmia_offline/0.3": ("a = 0.3", "tab:purple", "--"),
               "rmia_offline/1": ("a = 1", "tab:green", "-.")}


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def calibrated_roc(protocol: dict, title: str, out: Path) -> None:
    """Log-log ROC of each attack family on one protocol; the legend gives TPR at 0.1% FPR."""
    fig, ax = plt.subplots(figsize=SLOTS["right_tall"])
    n_neg = protocol["n_nonmembers"]
    lo = 10 ** np.floor(np.log10(1 / n_neg))
    for key, (label, color, ls) in ROC_ROWS.items():
        row = protocol["rows"].get(key, {})
        if "roc" not in row:
            continue
        fpr, tpr = np.array(row["roc"]["fpr"]), np.array(row["roc"]["tpr"])
        keep = fpr > 0
        ax.plot(fpr[keep], np.maximum(tpr[keep], lo), color=color, ls=ls, lw=2.2,
                label=f"{label}: {_pct(row['tpr_at_0.1pct_fpr'])}")
    ax.plot([lo, 1], [lo, 1], color="black", ls=":", lw=1.5, label="chance: 0.1%")
    ax.axvline(1e-3, color="gray", lw=1, alpha=0.6)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xscale="log",
           yscale="log", xlim=(1 / n_neg, 1), ylim=(lo, 1))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=12, title="TPR at 0.1% FPR", title_fontsize=12)
    ax.set_title(title)
    fig.tight_layout()
    save(fig, out)


def _cost_ticks(ax, power: dict, sizes: list[int], row: str) -> None:
    """x ticks: the number of reference models and, below, their training time (hours)."""
    labels = []
    for k in sizes:
        seconds = power[str(k)].get(row, {}).get("training_seconds")
        labels.append(f"{k}" + ("" if seconds is None else f"\n{seconds / 3600:.1f} h"))
    ax.set_xticks(sizes, labels)


def power_vs_references(power: dict, title: str, out: Path, rows: dict = POWER_ROWS) -> None:
    """TPR at 0.1% FPR (left) and AUC (right) against the number of reference models: the mean
    over distinct subsets of the bank, with the 95% interval of that mean (samples resampled,
    subsets held fixed); under each tick, the references' training time."""
    sizes = sorted(int(k) for k in power)
    fig, (left, right) = plt.subplots(1, 2, figsize=SLOTS["wide"], sharex=True)
    for key, (label, color, ls) in rows.items():
        for ax, metric, scale in ((left, "tpr_at_0.1pct_fpr", 100), (right, "auc", 1)):
            pts = [(k, power[str(k)][key][metric]) for k in sizes if key in power[str(k)]]
            pts = [(k, v) for k, v in pts if v["mean"] is not None]
            if not pts:
                continue
            ks = [k for k, _ in pts]
            mean = np.array([v["mean"] for _, v in pts]) * scale
            ci = np.array([v.get("ci95") or [v["mean"], v["mean"]] for _, v in pts]) * scale
            ax.errorbar(ks, mean, yerr=[mean - ci[:, 0], ci[:, 1] - mean],
                        color=color, ls=ls, lw=2, marker="o", capsize=4, label=label)
    left.set(ylabel="TPR at 0.1% FPR (%)", xlabel="reference models (training time)")
    right.set(ylabel="AUC", xlabel="reference models (training time)")
    first = next(iter(rows))
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.minorticks_off()
        _cost_ticks(ax, power, sizes, first)
        ax.grid(alpha=0.3)
    # the AUC panel always has every attack (the TPR panel is empty where 0.1% FPR is unresolved)
    handles, labels = right.get_legend_handles_labels()
    if labels:
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=13, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    save(fig, out)


def calibrated_figures(calibrated: dict, name: str, out_dir: Path) -> list[str]:
    """The calibrated figures this evaluation has data for; returns their names."""
    study, loo = calibrated["protocols"]["study"], calibrated["protocols"].get("leave_one_out")
    calibrated_roc(study, f"{name}: the study's target, {study['references']} references",
                   out_dir / "calibrated_roc")
    drawn = ["calibrated_roc"]
    if loo is not None:
        calibrated_roc(loo, f"{name}: leave-one-out, {loo['targets']} targets pooled",
                       out_dir / "calibrated_roc_leave_one_out")
        drawn.append("calibrated_roc_leave_one_out")
    power = study["power_vs_references"]
    if power:
        power_vs_references(power, f"{name}: attack power vs references (mean over subsets, 95% CI)",
                            out_dir / "power_vs_references")
        drawn.append("power_vs_references")
        if any(key in cell for cell in power.values() for key in list(RMIA_A_ROWS)[1:]):
            power_vs_references(power, f"{name}: RMIA offline, a tuned or fixed (mean over "
                                       f"subsets, 95% CI)", out_dir / "power_rmia_offline_a",
                                RMIA_A_ROWS)
            drawn.append("power_rmia_offline_a")
    return drawn


EXAMPLES_PER_CLASS = 6


def data_examples(images: np.ndarray, labels: np.ndarray, class_names, out: Path,
                  per_class: int = EXAMPLES_PER_CLASS) -> None:
    """The first ``per_class`` images of each class, one row per class."""
    fig, axes = plt.subplots(len(class_names), per_class,
                             figsize=(per_class * 0.62 + 1.4, len(class_names) * 0.62))
    for c in range(len(class_names)):
        idx = np.flatnonzero(labels == c)[:per_class]
        for j in range(per_class):
            ax = axes[c, j]
            ax.axis("off")
            if j < len(idx):
                ax.imshow(images[idx[j]], interpolation="nearest")
        axes[c, 0].text(-4, 16, class_names[c], ha="right", va="center", fontsize=13)
    fig.subplots_adjust(wspace=0.05, hspace=0.05, left=0.25)
    save(fig, out)


def experiment_figures(config, scores: dict, history: list[dict], metrics: dict, out_dir: Path,
                       progress: bool = True, dataset=None, workers: int = 1) -> None:
    """Every figure of one experiment, drawn on ``workers`` processes (``parallel``)."""
    n_m, n_n = int(scores["is_member"].sum()), int((~scores["is_member"]).sum())
    jobs = [
        (training_curve, history, f"{config.name}: train vs test", out_dir / "training_curve"),
        (accuracy_vs_percentage, metrics, out_dir / "accuracy_vs_percentage"),
        (metrics_vs_percentage, metrics, out_dir / "metrics_vs_percentage"),
        (roc, scores, config.attack.scores, f"{config.name}: {n_m:,} members vs {n_n:,} non-members",
         out_dir / "roc"),
    ]
    if dataset is not None:
        # Only the images shown travel to the worker, not the whole training set.
        classes = dataset.spec.classes
        first = np.sort(np.concatenate([np.flatnonzero(dataset.y_train == c)[:EXAMPLES_PER_CLASS]
                                        for c in range(len(classes))]))
        jobs.append((data_examples, dataset.x_train[first], dataset.y_train[first], classes,
                     out_dir / "data_examples"))
    for s, by_p in metrics["attack"]["results"].items():
        needed = {s: scores[s], "is_member": scores["is_member"]}
        jobs += [(score_figures, s, r["sampling_percentage"], key, needed, config.seed, r, out_dir / s)
                 for key, r in by_p.items()]
    with tqdm(total=len(jobs), desc=f"{config.name}: figures", disable=not progress) as bar:
        process_map(_draw, jobs, workers, on_done=bar.update)


def _draw(figure, *args) -> None:
    figure(*args)
