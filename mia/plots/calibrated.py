"""The calibrated attacks' figures: the ROC of each attack family on a protocol, and attack
power against the number of reference models."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from .base import REPORT_LAYOUTS, SLIDE, SLOTS, UNNAMED, Layout, Source, log_ticks, save

ATTACK_NAMES = {"loss": "Loss threshold",
                "gap": "Gap attack (correct = member)",
                "shokri": "Shokri shadow models",
                "ml_leaks": "ML-Leaks (sorted vector)",
                "lira_offline/global": "LiRA offline",
                "lira_online/global": "LiRA online",
                "lira_online/fixed": "LiRA online, one fixed σ",
                "rmia_offline": "RMIA offline",
                "rmia_online": "RMIA online",
                "lira_offline/per_sample": "LiRA offline, σ per sample",
                "lira_online/per_sample": "LiRA online, σ per sample",
                "lira_online/global/flip": "LiRA online, + mirror",
                "rmia_online/flip": "RMIA online, + mirror",
                "lira_offline/fixed": "LiRA offline, one fixed σ"}

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


def _protocol_words(name: str, protocol: dict) -> str:
    if name == "leave_one_out":
        return (f"leave-one-out over the bank: each of {protocol['targets']} reference models "
                f"is the target in turn, its pair partner left out, results pooled")
    return f"the study's target, {protocol['references']} reference models"


def calibrated_roc(protocol: dict, name: str, out: Path, source: Source = UNNAMED,
                   layout: Layout = SLIDE) -> None:
    """Log-log ROC of each attack family on protocol ``name``; the legend gives TPR at 0.1% FPR."""
    with plt.rc_context(layout.style()):
        _calibrated_roc(protocol, name, out, source, layout)


def _calibrated_roc(protocol: dict, name: str, out: Path, source: Source, layout: Layout) -> None:
    fig, ax = plt.subplots(figsize=layout.size(SLOTS["right_tall"], 5.0 if layout.stacked else 4.4),
                           layout="constrained")
    n_neg = protocol["n_nonmembers"]
    lo = 10 ** np.floor(np.log10(1 / n_neg))
    for key, (label, color, ls) in ROC_ROWS.items():
        row = protocol["rows"].get(key, {})
        if "roc" not in row:
            continue
        fpr, tpr = np.array(row["roc"]["fpr"]), np.array(row["roc"]["tpr"])
        keep = fpr > 0
        ax.plot(fpr[keep], np.maximum(tpr[keep], lo), color=color, ls=ls,
                lw=2.2 if layout is SLIDE else 1.4,
                label=f"{label}: {_pct(row['tpr_at_0.1pct_fpr'])}")
    ax.plot([lo, 1], [lo, 1], color="black", ls=":", lw=1.5, label="chance: 0.1%")
    ax.axvline(1e-3, color="gray", lw=1, alpha=0.6)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xscale="log",
           yscale="log", xlim=(1 / n_neg, 1), ylim=(lo, 1))
    log_ticks(ax.xaxis, percent=True)
    log_ticks(ax.yaxis, percent=True)
    ax.grid(alpha=0.3)
    if layout.stacked or layout is SLIDE:  # under the axes: inside, it would cover curves
        fig.legend(loc="outside lower center", fontsize=layout.small, title="TPR at 0.1% FPR",
                   title_fontsize=layout.small, frameon=False, ncol=1 if layout.stacked else 2,
                   columnspacing=1.0)
    else:
        ax.legend(loc="lower right", fontsize=layout.small, title="TPR at 0.1% FPR",
                  title_fontsize=layout.small)
    where = (f"leave-one-out, {protocol['targets']} targets pooled" if name == "leave_one_out"
             else f"the study's target, {protocol['references']} references")
    ax.set_title(layout.wrap(f"{source.heading}: {where}", SLOTS["right_tall"][0]))
    n_m = protocol["n_members"]
    save(fig, out, source=source, layout=layout,
         shows="each attack family's true-positive rate at every false-positive rate",
         caption=f"ROC of each calibrated attack family and of the loss threshold against the "
                 f"{source.title} ({_protocol_words(name, protocol)}), on log-log axes: "
                 f"{n_m:,} members (the positive class) vs {n_neg:,} non-members. The legend "
                 f"gives each attack's TPR at 0.1% FPR (the grey vertical line); dotted: "
                 f"chance. Intervals: {source.experiment}/calibrated.md.")


def _cost_ticks(ax, power: dict, sizes: list[int], row: str) -> None:
    """x ticks: the number of reference models and, below, their training time (hours)."""
    labels = []
    for k in sizes:
        seconds = power[str(k)].get(row, {}).get("training_seconds")
        labels.append(f"{k}" + ("" if seconds is None else f"\n{seconds / 3600:.1f} h"))
    ax.set_xticks(sizes, labels)


def power_vs_references(power: dict, title: str, out: Path, rows: dict = POWER_ROWS,
                        source: Source = UNNAMED, layout: Layout = SLIDE, caption: str = "") -> None:
    """TPR at 0.1% FPR (left) and AUC (right) against the number of reference models: the mean
    over distinct subsets of the bank, with the 95% interval of that mean (samples resampled,
    subsets held fixed); under each tick, the references' training time."""
    with plt.rc_context(layout.style()):
        _power_vs_references(power, title, out, rows, source, layout, caption)


def _power_vs_references(power, title, out, rows, source, layout, caption) -> None:
    sizes = sorted(int(k) for k in power)
    grid = (2, 1) if layout.stacked else (1, 2)
    fig, (left, right) = plt.subplots(*grid, figsize=layout.size(SLOTS["wide"], 5.2 if layout.stacked else 3.3),
                                      sharex=True)
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
                        color=color, ls=ls, lw=2 if layout is SLIDE else 1.2, marker="o",
                        capsize=4 if layout is SLIDE else 2, label=label)
    left.set(ylabel="TPR at 0.1% FPR (%)", xlabel="" if layout.stacked else
             "reference models (training time)")
    right.set(ylabel="AUC", xlabel="reference models (training time)")
    first = next(iter(rows))
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.minorticks_off()
        _cost_ticks(ax, power, sizes, first)
        ax.grid(alpha=0.3)
    # the AUC panel always has every attack (the TPR panel is empty where 0.1% FPR is unresolved)
    handles, labels = right.get_legend_handles_labels()
    columns = 2 if layout.stacked else len(labels)
    legend_rows = -(-len(labels) // columns) if labels else 0
    if labels:
        fig.legend(handles, labels, loc="lower center", ncol=columns,
                   fontsize=13 if layout is SLIDE else layout.font_pt, frameon=False)
    fig.suptitle(layout.wrap(f"{source.heading}: {title}" if source.heading else title))
    height = fig.get_size_inches()[1]
    legend_inches = legend_rows * (13 if layout is SLIDE else layout.font_pt) * 1.5 / 72 + 0.1
    fig.tight_layout(rect=(0, min(0.4, legend_inches / height), 1, 1))
    if layout is not SLIDE:  # keep the width: tight_layout left room for the wrapped title
        fig.subplots_adjust(top=1 - (fig._suptitle.get_text().count("\n") + 1)
                            * (layout.font_pt + 1) * 1.6 / 72 / height)
    save(fig, out, source=source, layout=layout, caption=caption,
         shows="attack power and training cost against the number of reference models")


def _power_caption(source: Source, protocol: dict, what: str) -> str:
    return (f"{what} against the {source.title}, against the number of reference models "
            f"(log axis): TPR at 0.1% FPR (in %) and AUC, each the mean over distinct subsets "
            f"of the bank of whole IN/OUT pairs, with the 95% bootstrap interval of that mean "
            f"(samples resampled, subsets held fixed); {protocol['n_members']:,} members vs "
            f"{protocol['n_nonmembers']:,} non-members of the study's target. Under each tick: "
            f"the references' training time on 2 CPU cores.")


def calibrated_figures(calibrated: dict, out_dir: Path, source: Source = UNNAMED,
                       report: bool = True) -> list[str]:
    """The calibrated figures this evaluation has data for; returns their names. With
    ``report``, the ROC of the study's target and the power curve also at the report sizes,
    in ``out_dir/report/``."""
    study, loo = calibrated["protocols"]["study"], calibrated["protocols"].get("leave_one_out")
    layouts = (SLIDE, *REPORT_LAYOUTS) if report else (SLIDE,)

    def where(name: str, layout: Layout) -> Path:
        return out_dir / name if layout is SLIDE else out_dir / "report" / f"{name}_{layout.name}"
    for layout in layouts:
        calibrated_roc(study, "study", where("calibrated_roc", layout), source, layout)
    drawn = ["calibrated_roc"]
    if loo is not None:
        calibrated_roc(loo, "leave_one_out", out_dir / "calibrated_roc_leave_one_out", source)
        drawn.append("calibrated_roc_leave_one_out")
    power = study.get("power_vs_references")  # none for a shadow bank
    if power:
        caption = _power_caption(source, study, "Power of LiRA and RMIA, offline and online,")
        for layout in layouts:
            power_vs_references(power, "attack power vs references (mean over subsets, 95% CI)",
                                where("power_vs_references", layout), source=source,
                                layout=layout, caption=caption)
        drawn.append("power_vs_references")
        if any(key in cell for cell in power.values() for key in list(RMIA_A_ROWS)[1:]):
            power_vs_references(power, "RMIA offline, a tuned or fixed (mean over subsets, 95% CI)",
                                out_dir / "power_rmia_offline_a", RMIA_A_ROWS, source=source,
                                caption=_power_caption(
                                    source, study, "Power of RMIA offline with its parameter a "
                                                   "tuned for AUC (as in the reference code) or "
                                                   "fixed at 0, 0.3 and 1,"))
            drawn.append("power_rmia_offline_a")
    return drawn


