"""The loss threshold's figures (per experiment, and per score and sampling percentage) and
``experiment_figures``, which draws them all on worker processes."""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
from scipy.stats import gaussian_kde
from sklearn.metrics import ConfusionMatrixDisplay, auc, roc_curve
from tqdm.auto import tqdm

from ..attacks import ATTACKS
from ..evaluation.threshold import accuracy_curve, sample_split, split_seed
from ..metrics import CONFUSION_LABELS
from ..parallel import process_map
from .base import (MEMBER, NONMEMBER, REPORT_LAYOUTS, SLIDE, SLOTS, SMALL_PT, UNNAMED, Layout,
                   Source, log_ticks, pretty, save)


def training_curve(history: list[dict], source: Source, out: Path) -> None:
    """Loss (top) and accuracy (bottom) per epoch, train and test: the gap is the message."""
    epochs = [h["epoch"] for h in history]
    last, peak = history[-1], max(history, key=lambda h: h["test_acc"])
    fig, (ax_loss, ax_acc) = plt.subplots(2, 1, figsize=SLOTS["right_narrow"], sharex=True)
    ax_loss.plot(epochs, [h["train_loss"] for h in history], label="train", lw=2)
    ax_loss.plot(epochs, [h["test_loss"] for h in history], label="test", lw=2)
    ax_loss.set(ylabel="cross-entropy")
    ax_acc.plot(epochs, [h["train_acc"] for h in history], label="train", lw=2)
    ax_acc.plot(epochs, [h["test_acc"] for h in history], label="test", lw=2)
    ax_acc.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1))
    for ax, where in ((ax_loss, "upper left"), (ax_acc, "lower right")):
        ax.grid(alpha=0.3)
        ax.legend(loc=where)
    ax_loss.set_title(SLIDE.wrap(f"{source.heading}: train vs test", SLOTS["right_narrow"][0]))
    fig.tight_layout()
    save(fig, out, source=source, shows="train and test loss and accuracy per epoch: the generalisation gap",
         caption=f"Training curve of the {source.title}: cross-entropy (top) and accuracy "
                 f"(bottom) per epoch on its training images (the members) and on the test "
                 f"images. After {last['epoch']} epochs: {last['train_acc']:.1%} train, "
                 f"{last['test_acc']:.1%} test accuracy; test accuracy peaks at "
                 f"{peak['test_acc']:.1%} (epoch {peak['epoch']}).")


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
    log_ticks(ax.yaxis)
    ax.grid(alpha=0.3)


def threshold_title(attack: str) -> str:
    """How captions name a sampling-protocol attack's threshold (the attack says)."""
    return ATTACKS[attack].threshold_title if attack in ATTACKS else f"{attack} threshold"


def repeat_zero(scores: dict, score: str, p, seed: int
                ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((attacker's members, attacker's non-members), (evaluated members, evaluated
    non-members)): the values of ``score`` in repeat 0's split at sampling percentage ``p``,
    the split the attack drew (``sample_split`` seeded by ``split_seed(seed, p, 0)``)."""
    is_member = scores["is_member"]
    m_all, n_all = scores[score][is_member], scores[score][~is_member]
    split = sample_split(len(m_all), len(n_all), p, np.random.default_rng(split_seed(seed, p, 0)))
    return ((m_all[split.attacker_members], n_all[split.attacker_nonmembers]),
            (m_all[split.eval_members], n_all[split.eval_nonmembers]))


def score_figures(score: str, p: float, key: str, scores: dict, seed: int, result: dict,
                  out_dir: Path, source: Source = UNNAMED, report: bool = False,
                  attack: str = "kde_threshold") -> None:
    """The three figures of one score at one sampling percentage; with ``report``, the
    densities also at the report sizes (``figures/report/<score>_densities_p<key>_*``).
    ``attack``: the attack whose threshold they show (``threshold_title``)."""
    named = threshold_title(attack)
    (am, an), (em, en) = repeat_zero(scores, score, p, seed)
    threshold = result["repeats"][0]["threshold"]
    losses_sample(score, key, am, an, threshold, out_dir / f"losses_sample_p{key}", source, named)
    layouts = (SLIDE, *REPORT_LAYOUTS) if report else (SLIDE,)
    for layout in layouts:
        out = (out_dir / f"densities_p{key}" if layout is SLIDE else
               out_dir.parent / "report" / f"{score}_densities_p{key}_{layout.name}")
        densities(score, key, (am, an), (em, en), threshold, out, source, layout, named)

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
    fn, fp = normalized[1, 0], normalized[0, 1]
    save(fig, out_dir / f"confusion_matrix_p{key}", source=source,
         shows="the loss threshold's hits and errors on members and non-members",
         caption=f"Confusion matrix of the loss-threshold attack ({pretty(score)}, {named} "
                 f"fitted on an attacker sample of p = {key}% of the members and of the "
                 f"non-members) against the {source.title}, on the balanced evaluation set: "
                 f"fractions of each true class (rows), mean counts in brackets, mean over "
                 f"{len(result['repeats'])} attacker samples. It misses {fn:.1%} of members "
                 f"and flags {fp:.1%} of non-members.")


def densities(score: str, key: str, attacker: tuple, evaluation: tuple, threshold: float,
              out: Path, source: Source = UNNAMED, layout: Layout = SLIDE,
              named: str = "KDE threshold") -> None:
    """Member and non-member densities of ``score`` in the attacker's sample (where the KDE
    threshold is fitted) and on the evaluation set (where it is judged), on one x range."""
    (am, an), (em, en) = attacker, evaluation
    # Both panels on one x range, zoomed on the decision: up to 4x the threshold or the 95th
    # percentile of member scores, whichever is larger (cross-entropy reaches ~50 while the
    # threshold sits near 0.5); the title says how much of the data lies beyond.
    both = np.concatenate([am, an, em, en])
    hi = min(both.max(), max(4 * threshold, np.quantile(np.concatenate([am, em]), 0.95)))
    xlim = (both.min(), hi)
    with plt.rc_context(layout.style()):
        grid = (2, 1) if layout.stacked else (1, 2)
        fig, (left, right) = plt.subplots(*grid, figsize=layout.size(SLOTS["wide"], 4.6 if layout.stacked else 2.9),
                                          sharex=True, sharey=True,
                                          layout=None if layout is SLIDE else "constrained")
        _density_panel(left, am, an, threshold, "attacker's sample: threshold fitted here", score, xlim)
        _density_panel(right, em, en, threshold, "evaluation set: same threshold", score, xlim)
        if layout.stacked:
            left.set_xlabel("")
        for ax in (left, right) if layout.stacked else (left,):
            ax.set_ylabel("density (log scale)")
        left.set_ylim(min(left.get_ylim()[0], right.get_ylim()[0]),
                      max(left.get_ylim()[1], right.get_ylim()[1]))
        for ax in (left, right):
            ax.legend(loc="best", fontsize=layout.small)
        beyond = float((both > xlim[1]).mean())
        cut = f" (x axis cut at {xlim[1]:.3g}; {beyond:.0%} of samples lie beyond)" if beyond else ""
        fig.suptitle(layout.wrap(f"{source.heading + ': ' if source.heading else ''}"
                                 f"{pretty(score)}, p = {key}%" + (cut if layout is SLIDE else "")))
        if layout is SLIDE:
            fig.tight_layout()
        save(fig, out, layout=layout, source=source,
             shows="the loss distributions of members and non-members, and the threshold",
             caption=f"Densities of the {pretty(score)} of members (blue) and non-members "
                     f"(orange) of the {source.title}, on a log density axis: left, the "
                     f"attacker's sample of p = {key}% of each ({len(am):,} members, "
                     f"{len(an):,} non-members), where the {named} ({threshold:.3g}, "
                     f"dashed; repeat 0) is fitted; right, the balanced evaluation set "
                     f"({len(em):,} of each) it is judged on."
                     + (f" The x axis is cut at {xlim[1]:.3g}; {beyond:.0%} of samples lie "
                        f"beyond." if beyond else ""))


def losses_sample(score: str, key: str, members: np.ndarray, nonmembers: np.ndarray,
                  threshold: float, out: Path, source: Source = UNNAMED,
                  named: str = "KDE threshold") -> None:
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
            ax.text(x0, band / 2.5, label, ha="center", va="top", fontsize=SMALL_PT)
    ax.axhline(threshold, color="k", ls="--", lw=1.5)
    ax.text(1.5, threshold, f" threshold\n {threshold:.3g}", va="bottom", ha="left",
            fontsize=13)  # above the dashed line, not across it
    ax.set_xticks([0, 1], [f"members\n(n={len(members):,})", f"non-members\n(n={len(nonmembers):,})"])
    ax.set(yscale="log", ylabel=f"{pretty(score)} (log scale)", xlim=(-0.6, 2.2),
           ylim=(band / 40, both.max() * 3))
    ax.grid(alpha=0.3, axis="y")
    # The band under the floor is not a value: no ticks there, and a line to set it apart.
    top = both.max() * 3
    ax.set_yticks([t for t in ax.get_yticks() if floor <= t <= top])
    ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    log_ticks(ax.yaxis)
    ax.axhline(np.sqrt(floor * band), color="gray", lw=1, ls=":")
    ax.set_ylim(band / 40, top)
    fig.tight_layout()
    save(fig, out, source=source, shows="the losses of the attacker's members and non-members, one dot each",
         caption=f"The attacker's sample at p = {key}% against the {source.title}: the "
                 f"{pretty(score)} of {len(members):,} members (left) and {len(nonmembers):,} "
                 f"non-members (right), one dot each, on a log axis (horizontal jitter only for "
                 f"visibility; scores under {floor:.0e}, zeros included, are drawn on the band "
                 f"at the bottom and counted). Dashed: the {named} of repeat 0 "
                 f"({threshold:.3g}).")


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


def accuracy_vs_percentage(metrics: dict, out: Path, source: Source = UNNAMED) -> None:
    """The deck's panel: attack accuracy against p, one line per score, ± std over repeats,
    and the gap attack on the same evaluation samples."""
    # constrained layout keeps the legend inside the figure's width (a legend outside the
    # axes would widen the saved image, and every text would shrink on the slide)
    fig, ax = plt.subplots(figsize=SLOTS["wide"], layout="constrained")
    for score, by_p in metrics["attack"]["results"].items():
        ps = [r["sampling_percentage"] for r in by_p.values()]
        ax.errorbar(ps, [r["summary"]["accuracy"]["mean"] for r in by_p.values()],
                    yerr=[r["summary"]["accuracy"]["std"] for r in by_p.values()],
                    marker="o", ms=6, capsize=4, lw=2, label=pretty(score))
    _gap_line(ax, metrics)
    _percentage_axis(ax, ps)
    ax.set(ylabel="attack accuracy (balanced)")
    fig.legend(loc="outside right center")
    repeats = metrics["attack"]["repeats"]
    ax.set_title(SLIDE.wrap(f"{source.heading}: mean ± std over {repeats} attacker samples "
                            f"(y axis zoomed to the data; chance is 0.5)",
                            0.75 * SLOTS["wide"][0]))  # the axes' share, beside the legend
    save(fig, out, source=source,
         shows="the loss threshold's accuracy against how much the attacker knows",
         caption=f"Balanced accuracy of the loss-threshold attack against the {source.title}, "
                 f"per score, against the attacker's sampling percentage p (the share of "
                 f"members and of non-members it knows, log axis): mean ± std over {repeats} "
                 f"attacker samples, each judged on the remaining balanced evaluation set. "
                 f"Dashed: the gap attack (correct = member) on the same evaluation samples. "
                 f"Chance is 0.5; the y axis is zoomed to the data.")


CURVE_POINTS = 400  # points drawn per curve: enough for the eye, few enough for a small PDF


def _thinned(x: np.ndarray, y: np.ndarray, points: int = CURVE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Every k-th point of a curve and its maximum, in order (the peak is never thinned out)."""
    keep = np.zeros(len(x), bool)
    keep[::max(1, len(x) // points)] = True
    keep[[np.argmax(y), len(x) - 1]] = True
    return x[keep], y[keep]


def accuracy_vs_threshold(scores: dict, metrics: dict, seed: int, out: Path,
                          source: Source = UNNAMED) -> None:
    """Study 000's curve: the attack's balanced accuracy at every threshold, one panel per
    score, at the largest sampling percentage (its evaluation set is the largest). Solid: on
    the evaluation set, whose peak is the oracle (a threshold chosen on the samples it is
    judged on); dotted: on the attacker's sample, whose peak the attacker can find. The
    attack's own threshold (repeat 0, fitted on the attacker's sample) is the dashed line,
    its accuracy on the evaluation set the dot: the number an attack can claim."""
    results = metrics["attack"]["results"]
    key = max(next(iter(results.values())), key=float)
    names = list(results)
    fig, axes = plt.subplots(1, len(names), figsize=SLOTS["wide_low"], layout="constrained",
                             squeeze=False)
    said = []
    for ax, score in zip(axes[0], names):
        r = results[score][key]
        (am, an), (em, en) = repeat_zero(scores, score, r["sampling_percentage"], seed)
        t_eval, acc_eval = accuracy_curve(em, en)
        t_att, acc_att = accuracy_curve(am, an)
        fitted = r["repeats"][0]["threshold"]
        at_fitted = (np.mean(em < fitted) + np.mean(en >= fitted)) / 2
        oracle = int(np.argmax(acc_eval))
        # a log axis from the smallest positive loss: the members' losses crowd near 0
        floor = np.min(np.concatenate([t_eval, t_att])[np.concatenate([t_eval, t_att]) > 0])
        ax.plot(*_thinned(np.maximum(t_eval, floor), acc_eval), lw=2, color=MEMBER,
                label="evaluation set")
        ax.plot(*_thinned(np.maximum(t_att, floor), acc_att), lw=1.5, ls=":", color="gray",
                label="attacker's sample")
        ax.plot(max(t_eval[oracle], floor), acc_eval[oracle], marker="*", ms=16, color="k",
                ls="none", label="oracle (best on the evaluation set)")
        ax.axvline(max(fitted, floor), color=NONMEMBER, ls="--", lw=1.5)
        ax.plot(max(fitted, floor), at_fitted, marker="o", ms=9, color=NONMEMBER, ls="none",
                label="attack: threshold fitted on its sample")
        ax.set(xscale="log", xlabel="threshold t (log axis)", title=pretty(score))
        log_ticks(ax.xaxis)
        ax.axhline(0.5, color="gray", lw=1, alpha=0.6)
        ax.grid(alpha=0.3)
        said.append(f"{pretty(score)}: attack {at_fitted:.2%} at its threshold {fitted:.3g}, "
                    f"oracle {acc_eval[oracle]:.2%} at {t_eval[oracle]:.3g}")
    axes[0][0].set_ylabel("attack accuracy (balanced)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=SMALL_PT,
               frameon=False, columnspacing=1.0, handlelength=1.8)
    fig.suptitle(SLIDE.wrap(f"{source.heading}: accuracy at every threshold, {len(em):,} members "
                            f"+ {len(en):,} non-members (p = {key}%; y axis zoomed)",
                            SLOTS["wide_low"][0]))
    named = threshold_title(metrics["attack"]["name"])
    save(fig, out, source=source,
         shows="the attack's accuracy at every threshold: the oracle's peak against the fitted threshold's",
         caption=f"Balanced accuracy of \"member iff the loss is below t\" against the "
                 f"{source.title} at every threshold t (log axis), per score, on the evaluation "
                 f"set of repeat 0 at p = {key}% ({len(em):,} members and {len(en):,} non-members, "
                 f"disjoint from the attacker's sample of {len(am):,} "
                 f"members and {len(an):,} non-members; dotted: the same "
                 f"curve on that sample). The star is the best threshold on the evaluation set "
                 f"itself, an oracle no attacker can pick; the dashed line is the {named} the "
                 f"attack fitted on its sample, and the dot its accuracy on the evaluation set. "
                 + "; ".join(said) + ". The grey line is chance (0.5).")


def metrics_vs_percentage(metrics: dict, out: Path, source: Source = UNNAMED) -> None:
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
    axes.flat[0].legend(fontsize=SMALL_PT)
    repeats = metrics["attack"]["repeats"]
    fig.suptitle(f"{source.heading}: attack metrics vs sampling percentage "
                 f"(mean ± std over {repeats} repeats)")
    fig.tight_layout()
    save(fig, out, source=source, shows="every summary metric of the loss threshold against p",
         caption=f"Accuracy, precision, recall, F1, AUC and TPR at 1% FPR of the loss-threshold "
                 f"attack against the {source.title}, per score, against the attacker's "
                 f"sampling percentage p (log axis): mean ± std over {repeats} attacker "
                 f"samples, on the balanced evaluation sets; members are the positive class.")


def roc(scores: dict, score_names, out: Path, source: Source = UNNAMED) -> None:
    """Log-log ROC over all samples: the low-FPR corner, where a privacy audit looks."""
    y = scores["is_member"]
    # the legend under the axes: inside, it covers curves in every corner of a half slot
    fig, ax = plt.subplots(figsize=SLOTS["half"], layout="constrained")
    aucs = {}
    for s in score_names:
        fpr, tpr, _ = roc_curve(y, -scores[s])
        aucs[s] = auc(fpr, tpr)
        ax.plot(fpr, tpr, lw=2, label=pretty(s))
    ax.plot([1e-4, 1], [1e-4, 1], color="gray", ls=":", lw=1.5, label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xscale="log",
           yscale="log", xlim=(1e-4, 1), ylim=(1e-4, 1))
    log_ticks(ax.xaxis, percent=True)
    log_ticks(ax.yaxis, percent=True)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", fontsize=SMALL_PT, frameon=False, ncol=2,
               columnspacing=1.0, handlelength=1.5)
    n_m, n_n = int(y.sum()), int((~y).sum())
    ax.set_title(SLIDE.wrap(f"{source.heading}: all {n_m:,} members vs {n_n:,} non-members",
                            SLOTS["half"][0]))
    save(fig, out, source=source, shows="the loss threshold's true-positive rate at every false-positive rate",
         caption=f"ROC of the loss-threshold attack's scores against the {source.title}, on "
                 f"log-log axes: all {n_m:,} members (the positive class) vs all {n_n:,} "
                 f"non-members; dotted: chance. A curve under the diagonal finds fewer members "
                 f"than a random guess at that false-positive rate. AUC: "
                 + ", ".join(f"{pretty(s)} {v:.3f}" for s, v in aucs.items()) + ".")


# Readable names of calibrated.json's rows, for figures and slides.
EXAMPLES_PER_CLASS = 6


def data_examples(images: np.ndarray, labels: np.ndarray, class_names, out: Path,
                  per_class: int = EXAMPLES_PER_CLASS, source: Source = UNNAMED,
                  data_note: str = "") -> None:
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
    save(fig, out, source=source, shows="what the images look like",
         caption=f"The first {per_class} training images of each of the {len(class_names)} "
                 f"classes in the data of the {source.title}, one row per class."
                 + (f" Data: {data_note}." if data_note else ""))


# The sampling percentage whose per-score figures the deck shows, are drawn at report sizes
# and are versioned (.gitignore keeps only these of results/*/figures/<score>/).
SHOWN_PERCENTAGE = "16"


def versioned(relative: str) -> bool:
    """Whether a figure file (its path under an experiment's ``figures/``) is committed: all
    but the per-score figures of other sampling percentages than ``SHOWN_PERCENTAGE``, which
    every run redraws (.gitignore says the same)."""
    parts = relative.split("/")
    return (len(parts) == 1 or parts[0] == "report"
            or parts[-1].rsplit(".", 1)[0].endswith(f"_p{SHOWN_PERCENTAGE}"))


def experiment_figures(config, scores: dict, history: list[dict], metrics: dict, out_dir: Path,
                       progress: bool = True, dataset=None, workers: int = 1,
                       source: Source = UNNAMED, versioned_too: bool = True) -> None:
    """Every figure of one experiment, drawn on ``workers`` processes (``parallel``); without
    ``versioned_too``, only those ``versioned`` leaves out (the versioned ones were kept)."""
    def drawn_from(*files: str) -> Source:
        return Source(source.experiment, source.title, source.config_hash, source.commit, files)
    jobs = [
        (training_curve, history, drawn_from("history.json"), out_dir / "training_curve"),
        (accuracy_vs_percentage, metrics, out_dir / "accuracy_vs_percentage",
         drawn_from("metrics.json")),
        (metrics_vs_percentage, metrics, out_dir / "metrics_vs_percentage", drawn_from("metrics.json")),
        (roc, scores, config.attack.scores, out_dir / "roc", drawn_from("scores.npz")),
        (accuracy_vs_threshold, scores, metrics, config.seed, out_dir / "accuracy_vs_threshold",
         drawn_from("scores.npz", "metrics.json")),
    ]
    if dataset is not None:
        # Only the images shown travel to the worker, not the whole training set.
        classes = dataset.spec.classes
        first = np.sort(np.concatenate([np.flatnonzero(dataset.y_train == c)[:EXAMPLES_PER_CLASS]
                                        for c in range(len(classes))]))
        jobs.append((data_examples, dataset.x_train[first], dataset.y_train[first], classes,
                     out_dir / "data_examples", EXAMPLES_PER_CLASS, drawn_from(),
                     dataset.source.get("notes", "")))
    for s, by_p in metrics["attack"]["results"].items():
        needed = {s: scores[s], "is_member": scores["is_member"]}
        jobs += [(score_figures, s, r["sampling_percentage"], key, needed, config.seed, r, out_dir / s,
                  drawn_from("scores.npz", "metrics.json"), key == SHOWN_PERCENTAGE,
                  metrics["attack"]["name"])
                 for key, r in by_p.items()]
    if not versioned_too:
        jobs = [job for job in jobs if job[0] is score_figures and job[3] != SHOWN_PERCENTAGE]
    with tqdm(total=len(jobs), desc=f"{config.name}: figures", disable=not progress) as bar:
        process_map(_draw, jobs, workers, on_done=bar.update)


def _draw(figure, *args) -> None:
    figure(*args)

