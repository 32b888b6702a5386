"""The defences frontier's figure (``frontier.json`` -> ``frontier.{png,pdf}``), drawn for its
slide: test accuracy against the attack's power at 0.1% FPR and its AUC, every seed with its
intervals, the Pareto front joined. Apart from ``mia.frontier`` so that redrawing it leaves
the paired comparisons' key (``frontier.PAIRED_CODE``) as it is."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from . import plots
from .frontier import FPRS, TPR_LOW
from .plots.base import log_ticks


def _styles(settings: list[dict]) -> tuple[dict, dict]:
    """Each setting's colour and marker: non-private settings tab10's colours in the study's
    order (which repeat after 10), private settings (a target ε) a ramp ordered by ε."""
    tab10, ramp = plt.get_cmap("tab10"), plt.get_cmap("plasma")
    private = sorted((s for s in settings if s.get("target_epsilon")),
                     key=lambda s: s["target_epsilon"])
    plain = [s for s in settings if not s.get("target_epsilon")]
    colour = {s["role"]: tab10(i % 10) for i, s in enumerate(plain)}
    colour |= {s["role"]: ramp(0.6 * i / max(1, len(private) - 1))
               for i, s in enumerate(private)}
    shape = {s["role"]: "D" if s.get("target_epsilon") else "o" for s in settings}
    return colour, shape


def _at_chance(result: dict, role: str) -> bool:
    """True when every seed of the setting has a test accuracy interval that reaches a guess's
    (``chance_accuracy``; rows written before it was recorded: never)."""
    rows = [r for r in result["seeds"] if r["role"] == role]
    return bool(rows) and all(r.get("chance_accuracy") is not None
                              and r["test_accuracy_ci95"][0] <= r["chance_accuracy"] for r in rows)


def figure(result: dict, out: Path, source: plots.Source) -> list[Path]:
    """Two panels, test accuracy on x: the attack's TPR at 0.1% FPR (log scale, chance dashed)
    and its AUC, each seed a point with its 95% intervals (vertical: bootstrap over samples;
    horizontal: Wilson over the test images); the Pareto front joined. A TPR of 0 has no place
    on the log axis: it is drawn at half a member, as a downward triangle. Non-private
    settings are circles in distinct colours (tab10: up to 10 of them); private ones diamonds
    on a sequential ramp, from the smallest ε to the largest. A setting that did not learn
    (every seed's test accuracy interval reaches a guess's) is named under the panels, not
    drawn: at chance accuracy it says nothing of the trade-off, and would squeeze the axis."""
    fig, axes = plt.subplots(1, 2, figsize=(11.6, 4.3), layout="constrained")
    guessing = [s for s in result["settings"] if _at_chance(result, s["role"])]
    roles = [s["role"] for s in result["settings"] if s not in guessing]
    colour, shape = _styles(result["settings"])
    for ax, key, label in ((axes[0], TPR_LOW, "TPR at 0.1% FPR"), (axes[1], "auc", "AUC")):
        for role in roles:
            rows = [r for r in result["seeds"] if r["role"] == role]
            for j, r in enumerate(rows):
                y, ci = r[key], r[f"{key}_ci95"]
                if y is None:
                    continue
                x, (xl, xh) = r["test_accuracy"], r["test_accuracy_ci95"]
                marker = shape[role]
                if key == TPR_LOW:  # a log axis: 0 (no member found) drawn at half a member, ▼
                    floor = 0.5 / r["n_members"]
                    marker = "v" if y <= 0 else marker
                    y = max(y, floor)
                    ci = [max(ci[0], floor), max(ci[1], floor)] if ci else None
                yerr = [[y - ci[0]], [ci[1] - y]] if ci else None
                ax.errorbar([100 * x], [y], yerr=yerr,
                            xerr=[[100 * (x - xl)], [100 * (xh - x)]], fmt=marker, ms=7, capsize=3,
                            color=colour[role], label=_label(result, role) if j == 0 else None)
        front = [next(s for s in result["settings"] if s["role"] == r) for r in result["pareto_front"]]
        ax.plot([100 * s["test_accuracy"]["mean"] for s in front],
                [s[key]["mean"] for s in front], "-", color="grey", lw=1.5, zorder=0,
                label="Pareto front (means)" if key == TPR_LOW else None)
        ax.set_xlabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        chance = FPRS[TPR_LOW] if key == TPR_LOW else 0.5
        ax.axhline(chance, color="grey", ls="--", lw=1)
        ax.text(ax.get_xlim()[1], chance, "chance ", ha="right", va="bottom",
                fontsize=plots.MIN_FONT_PT, color="grey")
        if key == TPR_LOW:
            ax.set_yscale("log")
            log_ticks(ax.yaxis, percent=True)
            ax.set_ylabel("TPR at 0.1% FPR (log scale)")
        else:
            ax.set_ylabel("AUC")
    if guessing:
        fig.supxlabel("not drawn, test accuracy at chance (did not learn): " + "; ".join(
            f"{s['title']} {100 * s['test_accuracy']['mean']:.1f}%" for s in guessing),
            fontsize=plots.MIN_FONT_PT, color="grey")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=plots.MIN_FONT_PT, frameon=False)
    name = plots.ATTACK_NAMES.get(result["attack"], result["attack"])
    fig.suptitle(plots.SLIDE.wrap(f"Test accuracy against {name}'s power: every seed, with "
                                  f"95% intervals", 11.6))
    plots.save(fig, out, source=source,
               shows="what each defence costs in accuracy and buys in attack power",
               caption=f"The defences frontier of study {result['study']}: for each setting and "
                       f"seed, test accuracy (95% Wilson interval over the test images) against "
                       f"the power of {result['attack']} (fixed in the study file) at 0.1% FPR "
                       f"and its AUC, with 95% bootstrap intervals over the members and "
                       f"non-members of the study protocol; the grey line joins the Pareto "
                       f"front of the settings' means. A private setting's ε is its "
                       f"accountant's (RDP) for the training run, ε̂ the one-run audit's 95% "
                       f"lower bound (mean over seeds). ▼: no member found at 0.1% FPR, "
                       f"drawn at half a member.")
    return [out.with_suffix(f".{fmt}") for fmt in plots.FORMATS]


def _label(result: dict, role: str) -> str:
    """The legend's name of a setting: its title, and for a private one the accountant's
    epsilon (unless the title names it: the noise is calibrated so that the accountant's
    epsilon is the target's, within 0.02) and the audited epsilon-hat (the mean over seeds)."""
    s = next(s for s in result["settings"] if s["role"] == role)
    eps = s["epsilon"]
    hat = s["epsilon_audited"]
    extra = []
    if eps and "ε" not in s["title"]:
        extra.append(f"ε={eps['rdp']:.1f}")
    if hat is not None and eps:
        extra.append(f"ε̂={hat['mean']:.2f}")
    return s["title"] + (f" ({', '.join(extra)})" if extra else "")
