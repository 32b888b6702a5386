"""Which images leak: the baseline setting of a defences study (its ``[frontier] baseline``, the
undefended target) sliced by class and by whether the target classifies the image correctly,
the same images flagged across seeds and across attacks, and a gallery of the most and least
exposed training images. Read from each seed's ``attack_scores.npz`` and ``exposed.npz``
(``pipeline.stages.per_sample_stage``), never recomputed.

- *Slices*: one threshold for all images, where the attack flags 1% of the non-members (the
  ``SLICE_FPR`` quantile of their scores: the attacker's operating point, not one per slice);
  per slice the share of members flagged (TPR) and of non-members flagged (FPR), each with a
  95% Wilson interval over the slice's images (the threshold taken as given), and the slice's
  AUC. 1% FPR, not 0.1%: at 0.1% a class holds about six flagged members, too few to compare.
- *Overlap*: the members in the top 1% by score (``TOP``) under two attacks on the same seed,
  and under the same attack on two seeds (among the members both seeds evaluate): the share
  of one's top flagged by the other, against the 1% that independent scores would share.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_auc_score

from . import plots
from .intervals import wilson
from .errors import UserError
from .io import read_npz, sha256_file
from .plots.base import Source

SLICE_FPR = 0.01
TOP = 0.01
FIGURE, GALLERY_FIGURE = "exposure", "gallery"
SHOWN = 8  # gallery images per row
REMEDY = "rerun `invoke experiments`"


def threshold(nonmember_scores: np.ndarray, fpr: float) -> float:
    """The score above which at most ``fpr`` of the non-members lie."""
    return float(np.quantile(nonmember_scores, 1 - fpr, method="higher"))


def _rate(flagged: np.ndarray) -> dict:
    k, n = int(flagged.sum()), int(flagged.size)
    return {"rate": k / n if n else None, "ci95": wilson(k, n), "flagged": k, "n": n}


def slice_rates(scores: np.ndarray, member: np.ndarray, groups: np.ndarray, names: dict,
                fpr: float = SLICE_FPR) -> list[dict]:
    """Per group: TPR and FPR at the global threshold of ``fpr``, and the group's AUC."""
    t = threshold(scores[~member], fpr)
    flagged = scores > t
    out = []
    for g, name in names.items():
        m, n = (groups == g) & member, (groups == g) & ~member
        both = m | n
        auc = (float(roc_auc_score(member[both], scores[both]))
               if m.any() and n.any() else None)
        out.append({"group": name, "tpr": _rate(flagged[m]), "fpr": _rate(flagged[n]), "auc": auc})
    return out


def top_overlap(a: np.ndarray, b: np.ndarray, share: float = TOP) -> dict:
    """The share of a's top ``share`` (by score) that is in b's top ``share``, same items."""
    k = max(1, int(round(share * len(a))))
    top_a = set(np.argsort(-a, kind="stable")[:k].tolist())
    top_b = set(np.argsort(-b, kind="stable")[:k].tolist())
    return {"k": k, "shared": len(top_a & top_b), "share": len(top_a & top_b) / k,
            "chance": k / len(a)}


def exposure(results_root: Path, experiments: list[str], attack: str, classes: tuple[str, ...],
             read: dict) -> dict:
    """exposure.json's content for the baseline's seeds ``experiments`` (the first is sliced)."""
    key = attack.replace("/", "__")
    found = []
    needed = ("population_index", "is_member", "label", "correct", "cross_entropy", key)
    for name in experiments:
        path = results_root / name / "attack_scores.npz"
        arrays = read_npz(path, needed, REMEDY)
        if len({len(a) if a.ndim == 1 else -1 for a in arrays.values()}) != 1:
            raise UserError(f"corrupt results file {path}: one-dimensional arrays of one length "
                            f"expected; {REMEDY}")
        arrays["is_member"] = arrays["is_member"].astype(bool)
        found.append(arrays)
        read.setdefault(name, {})["attack_scores.npz"] = sha256_file(path)
    first = found[0]
    member, score = first["is_member"], first[key]
    out = {"attack": attack, "experiment": experiments[0], "slice_fpr": SLICE_FPR, "top": TOP,
           "n_members": int(member.sum()), "n_nonmembers": int((~member).sum()),
           "classes": slice_rates(score, member, first["label"], dict(enumerate(classes))),
           "correctness": slice_rates(score, member, first["correct"].astype(int),
                                      {1: "classified correctly", 0: "misclassified"})}
    rows = [k for k in first if k not in ("population_index", "is_member", "label", "correct",
                                           "cross_entropy")]
    out["across_attacks"] = [{"a": a.replace("__", "/"), "b": b.replace("__", "/"),
                              **top_overlap(first[a][member], first[b][member])}
                             for i, a in enumerate(rows) for b in rows[i + 1:]]
    across = []
    for i in range(len(found)):
        for j in range(i + 1, len(found)):
            fa, fb = found[i], found[j]
            ia = fa["population_index"][fa["is_member"]]
            ib = fb["population_index"][fb["is_member"]]
            common, pa, pb = np.intersect1d(ia, ib, return_indices=True)
            if len(common) < 1 / TOP:
                continue
            across.append({"a": experiments[i], "b": experiments[j], "common_members": len(common),
                           **top_overlap(fa[key][fa["is_member"]][pa], fb[key][fb["is_member"]][pb])})
    out["across_seeds"] = across
    gallery = results_root / experiments[0] / "exposed.npz"
    out["gallery"] = str(gallery) if gallery.is_file() else None
    if out["gallery"]:
        read[experiments[0]]["exposed.npz"] = sha256_file(gallery)
    return out


def markdown(result: dict) -> str:
    def rate(r):
        if r["rate"] is None:
            return "n/a"
        lo, hi = r["ci95"]
        return f"{100 * r['rate']:.2f}% [{100 * lo:.2f}, {100 * hi:.2f}] ({r['flagged']}/{r['n']})"
    lines = [f"# Which images leak ({result['experiment']}, {result['attack']})", "",
             f"One threshold for every image: the attack flags {100 * result['slice_fpr']:g}% of "
             f"the {result['n_nonmembers']:,} non-members. Per slice, the members and non-members "
             f"flagged, 95% Wilson intervals over the slice's images (the threshold as given).", "",
             "| slice | members flagged (TPR) | non-members flagged (FPR) | AUC |", "|---|---|---|---|"]
    for r in result["classes"] + result["correctness"]:
        auc = "n/a" if r["auc"] is None else f"{r['auc']:.3f}"
        lines.append(f"| {r['group']} | {rate(r['tpr'])} | {rate(r['fpr'])} | {auc} |")
    lines += ["", f"The top {100 * result['top']:g}% of members by score, shared:", ""]
    for o in result["across_attacks"]:
        lines.append(f"- {o['a']} and {o['b']} (same seed): {o['shared']} of {o['k']} "
                     f"({100 * o['share']:.0f}%; independent scores: {100 * o['chance']:.0f}%)")
    for o in result["across_seeds"]:
        lines.append(f"- {o['a']} and {o['b']} ({o['common_members']:,} members both evaluate): "
                     f"{o['shared']} of {o['k']} ({100 * o['share']:.0f}%; independent: "
                     f"{100 * o['chance']:.0f}%)")
    return "\n".join(lines) + "\n"


def figure(result: dict, out: Path, source: Source) -> list[Path]:
    """Per class and by correctness: the share of members (filled) and non-members (open)
    flagged at the one threshold, with 95% intervals; the threshold's FPR dashed."""
    rows = result["classes"] + result["correctness"]
    fig, ax = plt.subplots(figsize=(11.6, 4.3), layout="constrained")
    x = np.arange(len(rows)) + np.r_[np.zeros(len(result["classes"])), np.ones(len(result["correctness"]))]
    for offset, key, label, style in ((-0.15, "tpr", "members flagged (TPR)", "o"),
                                      (0.15, "fpr", "non-members flagged (FPR)", "s")):
        values = [100 * r[key]["rate"] for r in rows]
        errors = np.array([[100 * (r[key]["rate"] - r[key]["ci95"][0]),
                            100 * (r[key]["ci95"][1] - r[key]["rate"])] for r in rows]).T
        ax.errorbar(x + offset, values, yerr=errors, fmt=style, ms=8, capsize=4, label=label,
                    mfc="white" if key == "fpr" else None)
    ax.axhline(100 * result["slice_fpr"], color="grey", ls="--", lw=1)
    ax.set_xticks(x, [r["group"] for r in rows], rotation=30, ha="right")
    ax.set_ylabel("flagged at one threshold (%)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=plots.MIN_FONT_PT, frameon=False, loc="upper right")
    name = plots.ATTACK_NAMES.get(result["attack"], result["attack"])
    fig.suptitle(plots.SLIDE.wrap(f"{name} at {100 * result['slice_fpr']:g}% FPR: who is "
                                  f"flagged, by class and by correctness", 11.6))
    plots.save(fig, out, source=source, shows="which images the attack flags as members",
               caption=f"The undefended target ({result['experiment']}): one threshold where "
                       f"{name} flags {100 * result['slice_fpr']:g}% of the non-members; per class "
                       f"and for images the target classifies correctly or not, the share of "
                       f"members and of non-members above it, with 95% Wilson intervals.")
    return [out.with_suffix(f".{fmt}") for fmt in plots.FORMATS]


def gallery(result: dict, classes: tuple[str, ...], out: Path, source: Source) -> list[Path]:
    """The ``SHOWN`` members the attack scores highest (top row) and lowest (bottom row)."""
    g = read_npz(result["gallery"], ("image", "label", "cross_entropy", "most", "attack"), REMEDY)
    if not (g["image"].ndim == 4 and len(g["image"]) == len(g["label"]) == len(g["most"])
            == len(g["cross_entropy"])):
        raise UserError(f"corrupt results file {result['gallery']}: images and their labels "
                        f"expected; {REMEDY}")
    most, least = np.flatnonzero(g["most"])[:SHOWN], np.flatnonzero(~g["most"])[:SHOWN]
    fig, axes = plt.subplots(2, SHOWN, figsize=(11.6, 4.4), layout="constrained")
    for row, picks, title in ((0, most, "most exposed"), (1, least, "least exposed")):
        for col, i in enumerate(picks):
            ax = axes[row, col]
            ax.imshow(g["image"][i].squeeze(), cmap="gray" if g["image"].shape[-1] == 1 else None)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{classes[int(g['label'][i])]}\nloss {g['cross_entropy'][i]:.2g}",
                         fontsize=plots.MIN_FONT_PT)
        axes[row, 0].set_ylabel(title, fontsize=plots.MIN_FONT_PT)
    name = plots.ATTACK_NAMES.get(str(g["attack"]), str(g["attack"]))
    fig.suptitle(plots.SLIDE.wrap(f"The training images {name} finds most and least exposed",
                                  11.6))
    plots.save(fig, out, source=source, shows="which training images leak most and least",
               caption=f"The undefended target ({result['experiment']}): the {SHOWN} members "
                       f"with the highest {name} score (top) and the lowest (bottom) among those "
                       f"evaluated, with their class and the target's cross-entropy on them.")
    return [out.with_suffix(f".{fmt}") for fmt in plots.FORMATS]
