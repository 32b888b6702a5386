"""A study's ``[[comparisons]]`` (study 004's arms of seeds): each arm's metrics and the
difference of two arms with its interval over seeds and samples (``mia.evaluation.arms``), read
from each seed's ``scores.npz`` and ``metrics.json`` (``mia.study_results.collect``'s rows),
written as ``comparisons.json``, ``.csv`` and ``.md`` and drawn as ``comparisons.png``/``.pdf``
(a forest plot). ``write_comparisons`` keeps them from the folder a write replaces when its
scores, study file and code are the same (``comparisons_key``).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from . import plots, schemas
from .errors import UserError
from .evaluation import arms
from .evaluation.arms import Arm
from .io import (code_version, read_arrays, read_checked, sha256_file, sha256_json, write_json,
                 write_text)
from .manifest import keep_recorded
from .studies import Study

LOSS_SCORE = "cross_entropy"  # the membership score: minus the loss


def source_of(study: Study, sources: dict, role: str, name: str, new: dict | None = None) -> dict:
    """The record of what a study read from experiment ``name`` of ``role``
    (``study_results.collect``'s sources): the role's own entry, or, for a seed sweep, its
    member's. With ``new``, that record is set to it first."""
    if study.roles[role] == name:
        holder, key = sources, role
    else:
        holder, key = sources[role]["members"], name
    if new is not None:
        holder[key] = new
    return holder[key]


def _arm(study: Study, role: str, results_root: Path, sources: dict) -> tuple[Arm, np.ndarray]:
    """The arm of ``role``: each seed's membership score (minus the loss) on its evaluation
    set, read from its scores.npz (its sha256 recorded in ``sources``); and the labels, which
    with the membership say whether two arms score the same samples."""
    truth = labels = None
    scores = []
    for name in study.experiments_of(role):
        path = results_root / name / "scores.npz"
        found = read_arrays(path, (LOSS_SCORE, "is_member", "label"), "rerun `invoke experiments`")
        source_of(study, sources, role, name)["read"]["scores.npz"] = sha256_file(path)
        if truth is None:
            truth, labels = found["is_member"].astype(bool), found["label"]
        elif not (np.array_equal(truth, found["is_member"]) and np.array_equal(labels, found["label"])):
            raise UserError(f"study {study.name!r}: the seeds of {role} are not evaluated on the "
                            f"same samples ({path} differs from {study.experiments_of(role)[0]})")
        scores.append(-found[LOSS_SCORE])
    return Arm(role, truth, tuple(scores)), labels


def compare_arms(study: Study, rows: list[dict], results_root: Path, sources: dict) -> list[dict]:
    """Each [[comparisons]] of the study (``arms.compare``): the loss's metrics over every
    member and non-member of each arm, and its seeds' train and test accuracy and their gap
    (``rows``, from ``collect``); the bootstrap seeded by the comparison's position."""
    by_name = {r["experiment"]: r for r in rows}
    read: dict[str, tuple[Arm, np.ndarray]] = {}  # an arm in several comparisons is read once

    def arm(role: str) -> tuple[Arm, np.ndarray]:
        if role not in read:
            read[role] = _arm(study, role, results_root, sources)
        return read[role]

    def accuracies(role: str) -> dict[str, list[float]]:
        found = [by_name[name] for name in study.experiments_of(role)]
        return {"train_accuracy": [r["train_accuracy"] for r in found],
                "test_accuracy": [r["test_accuracy"] for r in found],
                "generalisation_gap": [r["train_accuracy"] - r["test_accuracy"] for r in found]}
    out = []
    for i, c in enumerate(study.comparisons):
        acc_a, acc_b = accuracies(c.a), accuracies(c.b)
        (a, labels_a), (b, labels_b) = arm(c.a), arm(c.b)
        same = (len(a.truth) == len(b.truth) and np.array_equal(a.truth, b.truth)
                and np.array_equal(labels_a, labels_b))
        result = arms.compare(a, b, seed=i, same_samples=same,
                              per_seed={k: (acc_a[k], acc_b[k]) for k in acc_a})
        first = {arm: by_name[study.experiments_of(arm)[0]] for arm in (c.a, c.b)}
        out.append({"name": c.name, "question": c.question, "score": LOSS_SCORE,
                    "parameters": {arm: first[arm]["parameters"] for arm in (c.a, c.b)},
                    "n_members": {c.a: int(a.truth.sum()), c.b: int(b.truth.sum())},
                    "n_nonmembers": {c.a: int((~a.truth).sum()), c.b: int((~b.truth).sum())},
                    "experiments": {c.a: list(study.experiments_of(c.a)),
                                    c.b: list(study.experiments_of(c.b))}, **result})
    return out


# metric, label, scale, unit: the rows of each comparison's table
COMPARED = (("train_accuracy", "train accuracy", 100, "%"), ("test_accuracy", "test accuracy", 100, "%"),
            ("generalisation_gap", "generalisation gap", 100, "%"), ("auc", "AUC", 1, ""),
            ("tpr_at_1pct_fpr", "TPR at 1% FPR", 100, "%"),
            ("tpr_at_0.1pct_fpr", "TPR at 0.1% FPR", 100, "%"))


def _number(v: float, unit: str, signed: bool = False) -> str:
    """An AUC to 3 decimals, a rate (unit "%" or " pp") to 2."""
    return f"{v:{'+' if signed else ''}.{3 if unit == '' else 2}f}{unit}"


def _cell(value, ci, scale: float, unit: str, signed: bool = False) -> str:
    """'0.712 [0.705, 0.719]', '1.23% [0.98, 1.51]', '+0.45 pp [+0.12, +0.80]'; n/a for None."""
    if value is None:
        return "n/a"
    text = _number(scale * value, unit, signed)
    if ci is not None:
        lo, hi = (_number(scale * x, "", signed) if unit == "" else
                  f"{scale * x:{'+' if signed else ''}.2f}" for x in ci)
        text += f" [{lo}, {hi}]"
    return text


def comparisons_csv(found: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["comparison", "a", "b", "metric", "a_mean", "a_ci95_low", "a_ci95_high",
                     "b_mean", "b_ci95_low", "b_ci95_high", "difference_b_minus_a",
                     "difference_ci95_low", "difference_ci95_high", "excludes_zero",
                     "same_samples", "seeds", "a_per_seed", "b_per_seed"])
    for c in found:
        for key, *_ in COMPARED:
            m = c["metrics"][key]
            row = [c["name"], c["a"], c["b"], key, m["a"]["mean"], *(m["a"]["ci95"] or ("", "")),
                   m["b"]["mean"], *(m["b"]["ci95"] or ("", "")), m["difference"],
                   *(m["difference_ci95"] or ("", "")), m["excludes_zero"], c["same_samples"],
                   c["seeds"], " ".join(map(str, m["a"]["per_seed"])),
                   " ".join(map(str, m["b"]["per_seed"]))]
            writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


def comparisons_markdown(study: Study, found: list[dict]) -> str:
    lines = [f"# {study.name}: comparisons", "",
             f"Each arm: the {LOSS_SCORE.replace('_', '-')} loss as the membership score over "
             f"every member and non-member of its evaluation set, each metric the mean over the "
             f"arm's seeds. Intervals: 95%, a bootstrap over seeds (drawn with replacement, "
             f"seed i of one arm paired with seed i of the other) and samples (members and "
             f"non-members resampled; the same draw for both arms when they share their "
             f"evaluation set, \"paired\", else independent). A difference is called real only "
             f"when its interval excludes zero. AUC differences are in AUC units, TPR "
             f"differences in percentage points.", ""]
    for c in found:
        lines += [f"## {c['name']}: {c['question']}", "",
                  f"b = {c['b']} against a = {c['a']}, {c['seeds']} seeds each; "
                  + (f"paired, on the same {c['n_members'][c['a']]:,} members and "
                     f"{c['n_nonmembers'][c['a']]:,} non-members." if c["same_samples"] else
                     "unpaired, on two evaluation sets: "
                     + "; ".join(f"{arm}, {c['n_members'][arm]:,} members and "
                                 f"{c['n_nonmembers'][arm]:,} non-members" for arm in (c["a"], c["b"]))
                     + ".")
                  + " Accuracies and the gap (train - test accuracy): intervals over the seeds "
                    "only.", "",
                  f"| metric | {c['a']} | {c['b']} | difference (b - a) | real? |",
                  "|---|---:|---:|---:|---|"]
        for key, label, scale, unit in COMPARED:
            m = c["metrics"][key]
            real = {True: "yes", False: "no", None: "n/a"}[m["excludes_zero"]]
            lines.append(f"| {label} | {_cell(m['a']['mean'], m['a']['ci95'], scale, unit)} | "
                         f"{_cell(m['b']['mean'], m['b']['ci95'], scale, unit)} | "
                         f"{_cell(m['difference'], m['difference_ci95'], scale, unit and ' pp', True)} "
                         f"| {real} |")
        lines.append("")
    return "\n".join(lines)




COMPARISONS_FIGURE = "comparisons"
# the panels of the comparisons figure: metric, label, scale, unit of the difference
COMPARISON_PANELS = (("auc", "AUC", 1, ""), ("tpr_at_1pct_fpr", "TPR at 1% FPR", 100, " pp"),
                     ("generalisation_gap", "gap", 100, " pp"))


def comparisons_figure(study: Study, found: list[dict], out: Path, commit: str = "") -> list[Path]:
    """Each comparison's difference b - a with its 95% interval, one row per comparison, one
    panel per metric (``COMPARISON_PANELS``): a forest plot, zero dashed. Filled: the interval
    excludes zero."""
    source = plots.Source(experiment=f"studies/{study.name}", title=study.description,
                          config_hash=sha256_file(study.path), commit=commit,
                          files=tuple(dict.fromkeys(  # each file once, in order of use
                              f"{name}/scores.npz" for c in found for arm in (c["a"], c["b"])
                              for name in c["experiments"][arm])))
    fig, axes = plt.subplots(1, len(COMPARISON_PANELS), figsize=(11.6, 1.3 + 0.4 * len(found)),
                             sharey=True, layout="constrained")
    labels = [f"{c['b'].replace('_', ' ')} − {c['a'].replace('_', ' ')}" for c in found]
    for ax, (key, label, scale, unit) in zip(axes, COMPARISON_PANELS):
        for i, c in enumerate(found):
            m = c["metrics"][key]
            if m["difference"] is None:
                continue
            lo, hi = m["difference_ci95"]
            d = scale * m["difference"]
            ax.errorbar([d], [i], xerr=[[d - scale * lo], [scale * hi - d]], fmt="o", ms=8,
                        capsize=4, color="tab:blue",
                        mfc="tab:blue" if m["excludes_zero"] else "white")
        ax.axvline(0, color="grey", ls="--", lw=1)
        ax.set_xlabel(label + (f" ({unit.strip()})" if unit else ""))
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(found)), labels)
    axes[0].set_ylim(len(found) - 0.5, -0.5)
    fig.suptitle(plots.SLIDE.wrap("Difference b − a, 95% interval over seeds and samples "
                                  "(filled: excludes zero)", 11.6))
    plots.save(fig, out, source=source,
               shows="which architecture comparisons differ beyond chance",
               caption=f"{study.description}. For each comparison, the difference b - a of the "
                       f"mean over seeds of the loss's AUC and TPR at 1% FPR (every member "
                       f"against every non-member of each arm) and of the generalisation gap, "
                       f"with a 95% interval from a bootstrap over seeds (paired by index) and "
                       f"samples (the same draw for both arms when they share their evaluation "
                       f"set); filled markers: the interval excludes zero. The accuracies' "
                       f"intervals cover the seeds only.")
    return [out.with_suffix(f".{fmt}") for fmt in plots.FORMATS]




# The code that computes comparisons.json: a change to it changes ``comparisons_key``.
COMPARISONS_CODE = ("mia/evaluation/arms.py", "mia/evaluation/roc.py", "mia/metrics.py",
                    "mia/study_comparisons.py")
COMPARISON_FILES = ("comparisons.json", "comparisons.csv", "comparisons.md")


def write_comparisons(study: Study, rows: list[dict], results_root: Path, sources: dict, final: Path,
                 staging: Path, log) -> tuple[list[dict], str]:
    """The study's comparisons into ``staging``: taken from the folder this write replaces
    when it computed them from the same scores (their sha256), study file and code
    (``comparisons_key``, recorded in its manifest; the bootstrap takes about 15 s a
    comparison), computed again otherwise. Returns them and that key."""
    for role in {r for c in study.comparisons for r in (c.a, c.b)}:
        for name in study.experiments_of(role):
            entry = sources[role] if study.roles[role] == name else sources[role]["members"][name]
            entry["read"]["scores.npz"] = sha256_file(results_root / name / "scores.npz")
    key = sha256_json({"read": sources, "study": sha256_file(study.path),
                       "code": code_version(COMPARISONS_CODE)})
    if keep_recorded(final, staging, "comparisons_key", key, lambda n: n in COMPARISON_FILES):
        log(f"study {study.name}: comparisons kept from {final} (the same scores and code: key "
            f"{key[:12]})")
        return read_checked(staging / "comparisons.json", schemas.COMPARISONS,
                            "rerun `invoke experiments`")["comparisons"], key
    found = compare_arms(study, rows, results_root, sources)
    write_json(staging / "comparisons.json", {"study": study.name, "comparisons": found})
    write_text(staging / "comparisons.csv", comparisons_csv(found))
    write_text(staging / "comparisons.md", comparisons_markdown(study, found))
    return found, key


