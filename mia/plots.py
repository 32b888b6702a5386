"""Figures, each saved as PNG (for the deck) and PDF (for reports).

Per score and sampling percentage p (from repeat 0 of the attack, whose samples are
re-drawn from the same seed): ``losses_sample_p{p}``, ``training_densities_p{p}``,
``testing_densities_p{p}``, ``confusion_matrix_p{p}`` (mean over repeats), in
``figures/<score>/``. Per experiment: ``training_curve``, ``metrics_vs_percentage``, ``roc``,
``data_examples`` (the first training images of each class).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import gaussian_kde  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay, auc, roc_curve  # noqa: E402

from . import attacks  # noqa: E402
from .io import atomic_path  # noqa: E402
from .metrics import CONFUSION_LABELS  # noqa: E402

MEMBER, NONMEMBER = "tab:blue", "tab:orange"
PRETTY = {"cross_entropy": "cross-entropy", "probability_loss": "probability loss",
          "normalized_probability_loss": "normalized probability loss"}
FORMATS = ("png", "pdf")


def pretty(score: str) -> str:
    return PRETTY.get(score, score.replace("_", " "))


def save(fig, path_without_suffix: Path) -> None:
    path_without_suffix.parent.mkdir(parents=True, exist_ok=True)
    for fmt in FORMATS:
        with atomic_path(path_without_suffix.with_suffix(f".{fmt}")) as tmp:
            fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight",
                        metadata={"CreationDate": None} if fmt == "pdf" else None)
    plt.close(fig)


def training_curve(history: list[dict], title: str, out: Path) -> None:
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], label="train")
    ax_loss.plot(epochs, [h["test_loss"] for h in history], label="test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.plot(epochs, [h["train_acc"] for h in history], label="train")
    ax_acc.plot(epochs, [h["test_acc"] for h in history], label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    save(fig, out)


def _density_panel(ax, members, nonmembers, threshold, title, score, kde_grid=512):
    """Histograms, KDE curves and the threshold. Long tails (cross-entropy reaches ~50 while
    most losses are near 0) are cut at the 99th percentile for display; the title says so."""
    both = np.concatenate([members, nonmembers])
    lo, top = both.min(), both.max()
    hi = max(np.quantile(both, 0.99), threshold)
    if hi < top:
        title += "\n(x axis cut at the 99th percentile)"
    bins = np.linspace(lo, hi, 60)
    ax.hist(members, bins=bins, density=True, alpha=0.35, color=MEMBER,
            label=f"members (n={len(members)})")
    ax.hist(nonmembers, bins=bins, density=True, alpha=0.35, color=NONMEMBER,
            label=f"non-members (n={len(nonmembers)})")
    grid = np.linspace(lo, hi, kde_grid)
    for values, color in ((members, MEMBER), (nonmembers, NONMEMBER)):
        if np.ptp(values) > 0:
            ax.plot(grid, np.maximum(gaussian_kde(values)(grid), 1e-300), color=color, lw=2)
    ax.axvline(threshold, color="k", ls="--", lw=1.5, label=f"threshold {threshold:.3g}")
    # Log density: the spike of near-zero losses would otherwise flatten everything else.
    ax.set(xlabel=pretty(score), ylabel="density (log scale)", title=title, xlim=(lo, hi),
           yscale="log", ylim=(1e-4, None))
    ax.legend(fontsize=8)


def score_figures(score: str, p: float, key: str, scores: dict, seed: int, result: dict,
                  out_dir: Path) -> None:
    is_member = scores["is_member"]
    m_all, n_all = scores[score][is_member], scores[score][~is_member]
    split = attacks.sample_split(len(m_all), len(n_all), p,
                                 np.random.default_rng(attacks.split_seed(seed, p, 0)))
    threshold = result["repeats"][0]["threshold"]
    am, an = m_all[split.attacker_members], n_all[split.attacker_nonmembers]
    em, en = m_all[split.eval_members], n_all[split.eval_nonmembers]

    fig, ax = plt.subplots(figsize=(6, 4))
    rasterize = len(am) + len(an) > 2000
    # Each class spread over [0, 1] so the smaller non-member sample is not squeezed left.
    ax.scatter(np.linspace(0, 1, len(am)), am, s=3, alpha=0.5, color=MEMBER, label="members",
               rasterized=rasterize)
    ax.scatter(np.linspace(0, 1, len(an)), an, s=3, alpha=0.5, color=NONMEMBER,
               label="non-members", rasterized=rasterize)
    ax.axhline(threshold, color="k", ls="--", lw=1, label="threshold")
    ax.set(xlabel="position in the attacker's sample (fraction of each class)", ylabel=pretty(score),
           title=f"attacker's sample, p = {key}%: {pretty(score)}")
    ax.legend(fontsize=8, markerscale=4, loc="upper right")
    save(fig, out_dir / f"losses_sample_p{key}")

    fig, ax = plt.subplots(figsize=(6, 4))
    _density_panel(ax, am, an, threshold, f"training densities (attacker's sample), p = {key}%",
                   score)
    save(fig, out_dir / f"training_densities_p{key}")

    fig, ax = plt.subplots(figsize=(6, 4))
    _density_panel(ax, em, en, threshold, f"testing densities (evaluation set), p = {key}%",
                   score)
    save(fig, out_dir / f"testing_densities_p{key}")

    cm = result["confusion_matrix"]
    counts, normalized = np.array(cm["mean_counts"]), np.array(cm["mean_normalized"])
    fig, ax = plt.subplots(figsize=(4.6, 4))
    disp = ConfusionMatrixDisplay(normalized, display_labels=list(CONFUSION_LABELS))
    disp.plot(ax=ax, cmap="Blues", colorbar=False, values_format=".2f")
    for (i, j), text in np.ndenumerate(disp.text_):
        text.set_text(f"{normalized[i, j]:.3f}\n({counts[i, j]:.0f})")
    disp.im_.set_clim(0, 1)
    ax.set_title(f"{pretty(score)}, p = {key}%\nmean of {len(result['repeats'])} repeats")
    save(fig, out_dir / f"confusion_matrix_p{key}")


def metrics_vs_percentage(metrics: dict, out: Path) -> None:
    panels = [("accuracy", "accuracy"), ("precision", "precision"), ("recall", "recall"),
              ("f1", "F1"), ("auc", "AUC"), ("tpr_at_1pct_fpr", "TPR at 1% FPR")]
    results = metrics["attack"]["results"]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for ax, (key, label) in zip(axes.flat, panels):
        for score, by_p in results.items():
            ps = [r["sampling_percentage"] for r in by_p.values()]
            mean = [r["summary"][key]["mean"] for r in by_p.values()]
            std = [r["summary"][key]["std"] for r in by_p.values()]
            ax.errorbar(ps, mean, yerr=std, marker="o", ms=4, capsize=3, label=pretty(score))
        ax.set_xscale("log")
        ax.set_xticks(ps, [f"{p:g}" for p in ps])
        ax.minorticks_off()
        ax.set(xlabel="attacker sampling percentage (%)", title=label)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"{metrics['experiment']}: attack metrics vs sampling percentage "
                 f"(mean ± std over {metrics['attack']['repeats']} repeats)")
    fig.tight_layout()
    save(fig, out)


def roc(scores: dict, score_names, title: str, out: Path) -> None:
    y = scores["is_member"]
    fig, (lin, log) = plt.subplots(1, 2, figsize=(10, 4.4))
    for s in score_names:
        fpr, tpr, _ = roc_curve(y, -scores[s])
        label = f"{pretty(s)} (AUC {auc(fpr, tpr):.3f})"
        lin.plot(fpr, tpr, label=label)
        log.plot(fpr, tpr, label=label)
    for ax in (lin, log):
        ax.plot([0, 1], [0, 1], color="gray", ls=":", label="chance")
        ax.set(xlabel="false positive rate", ylabel="true positive rate")
        ax.grid(alpha=0.3)
    log.set(xscale="log", yscale="log", xlim=(1e-4, 1), ylim=(1e-4, 1))
    lin.set_title("ROC (linear)")
    log.set_title("ROC (log-log)")
    lin.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    save(fig, out)


EXAMPLES_PER_CLASS = 8


def data_examples(images: np.ndarray, labels: np.ndarray, class_names, out: Path,
                  per_class: int = EXAMPLES_PER_CLASS) -> None:
    """The first ``per_class`` images of each class, one row per class."""
    classes = range(len(class_names))
    fig, axes = plt.subplots(len(class_names), per_class, figsize=(per_class * 0.8, len(class_names) * 0.8))
    for c in classes:
        idx = np.flatnonzero(labels == c)[:per_class]
        for j in range(per_class):
            ax = axes[c, j]
            ax.axis("off")
            if j < len(idx):
                ax.imshow(images[idx[j]], interpolation="nearest")
        axes[c, 0].text(-4, 16, class_names[c], ha="right", va="center", fontsize=9)
    fig.subplots_adjust(wspace=0.05, hspace=0.05, left=0.18)
    save(fig, out)


def experiment_figures(config, scores: dict, history: list[dict], metrics: dict, out_dir: Path,
                       progress: bool = True, dataset=None, workers: int = 1) -> None:
    """Every figure of one experiment, drawn on ``workers`` processes (``parallel``)."""
    from tqdm.auto import tqdm

    from .data import CLASSES
    from .parallel import process_map

    n_m, n_n = int(scores["is_member"].sum()), int((~scores["is_member"]).sum())
    jobs = [
        (training_curve, history, f"{config.name}: {config.description}",
         out_dir / "training_curve"),
        (metrics_vs_percentage, metrics, out_dir / "metrics_vs_percentage"),
        (roc, scores, config.attack.scores,
         f"{config.name}: all {n_m} members vs all {n_n} non-members", out_dir / "roc"),
    ]
    if dataset is not None:
        # Only the images shown travel to the worker, not the whole training set.
        first = np.sort(np.concatenate([np.flatnonzero(dataset.y_train == c)[:EXAMPLES_PER_CLASS]
                                        for c in range(len(CLASSES))]))
        jobs.append((data_examples, dataset.x_train[first], dataset.y_train[first], CLASSES,
                     out_dir / "data_examples"))
    for s, by_p in metrics["attack"]["results"].items():
        needed = {s: scores[s], "is_member": scores["is_member"]}
        jobs += [(score_figures, s, r["sampling_percentage"], key, needed, config.seed, r, out_dir / s)
                 for key, r in by_p.items()]
    with tqdm(total=len(jobs), desc="figures", disable=not progress) as bar:
        process_map(_draw, jobs, workers, on_done=bar.update)


def _draw(figure, *args) -> None:
    figure(*args)
