"""A study's own results folder, ``results/studies/<name>/``, made from its experiments' results
(never recomputed): ``write(study, results_root)``.

- ``table.csv`` and ``table.md``: one row per experiment of the study, in the study file's
  order: the target's train and test accuracy, the loss's AUC over all members and
  non-members (``metrics.json``), and each ``[table] attacks`` row's TPR at 0.1% FPR with its
  95% bootstrap interval on the study protocol (``calibrated.json``; n/a where the experiment
  has no bank, or evaluates too few non-members to read 0.1% FPR);
- ``<figure>.png`` and ``.pdf`` when the study names a figure: those TPRs with their intervals;
- ``decisions.csv`` and ``.md`` when a [table] attack recorded its own decisions (a shadow
  bank's classifiers): accuracy, precision, recall, F1 and seconds beside AUC and TPRs;
- with ``[[comparisons]]`` (arms of seeds, ``mia.evaluation.arms``): ``comparisons.json``,
  ``.csv`` and ``.md`` (each arm's metrics and the difference with its interval over seeds and
  samples, read from each seed's scores.npz) and ``comparisons.png``/``.pdf``, the forest plot;
- ``manifest.json``, written last: the study file, each experiment's config and training
  hashes, the sha256 of every file read and written, the git commit, when;
- and ``results/studies/manifest.json``: every study folder, with its manifest's sha256.

The folder is written in a staging folder and swapped in whole (``mia.io.replace_directory``),
so it never mixes two runs.
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
from .io import (code_version, read_arrays, read_checked, recover_swap, replace_directory,
                 sha256_file, sha256_json, write_json, write_text)
from .locations import REPO
from .manifest import git_commit, keep_recorded, now
from .studies import Study

LOSS_SCORE = "cross_entropy"  # the loss whose AUC the table reports
PROTOCOL = "study"            # calibrated.json's protocol on the study's own target
KEY = "tpr_at_0.1pct_fpr"
FPR = 0.001                   # KEY's false-positive rate: a random guess finds that share
FONT_PT = 13


def _read(path: Path, read: dict, schema) -> dict:
    """A results JSON file that holds what ``schema`` asks, its sha256 recorded in ``read``."""
    found = read_checked(path, schema, "rerun `invoke experiments`")
    read[path.name] = sha256_file(path)
    return found


def collect(study: Study, results_root: Path) -> tuple[list[dict], dict]:
    """(one row per experiment, what was read: role -> experiment, hashes, file sha256s)."""
    rows, sources = [], {}
    found_attacks: set[str] = set()
    for role, name in ((role, name) for role, _ in study.experiments
                       for name in study.experiments_of(role)):
        d = results_root / name
        if not (d / "metrics.json").is_file():
            raise UserError(f"study {study.name!r}: no results for {role} = {name!r} in {d} "
                            f"(missing metrics.json): run `invoke experiments` first")
        read: dict[str, str] = {}
        metrics = _read(d / "metrics.json", read, schemas.METRICS)
        calibrated = (_read(d / "calibrated.json", read, schemas.CALIBRATED)
                      if (d / "calibrated.json").is_file() else None)
        target = metrics["target"]
        row = {"role": role, "experiment": name, "config_hash": metrics.get("config_hash"),
               "parameters": target.get("parameters"),
               "train_accuracy": target["train_accuracy"], "test_accuracy": target["test_accuracy"],
               "loss_auc": metrics["all_samples"].get(LOSS_SCORE, {}).get("auc"), "attacks": {}}
        attack_rows = calibrated["protocols"][PROTOCOL]["rows"] if calibrated else {}
        row["references"] = calibrated["protocols"][PROTOCOL].get("references") if calibrated else None
        found_attacks |= set(attack_rows)
        for attack in study.table_attacks:
            cell = attack_rows.get(attack, {})
            value = cell.get(KEY)
            lo, hi = cell.get("ci95", {}).get(KEY, (None, None)) if value is not None else (None, None)
            row["attacks"][attack] = {"value": value, "low": lo, "high": hi,
                                      "auc": cell.get("auc"),
                                      "auc_ci": cell.get("ci95", {}).get("auc"),
                                      "tpr_1pct": cell.get("tpr_at_1pct_fpr"),
                                      "tpr_1pct_ci": cell.get("ci95", {}).get("tpr_at_1pct_fpr"),
                                      "decision": cell.get("at_decision"),
                                      "seconds": cell.get("attack_seconds")}
        rows.append(row)
        source = {"experiment": name, "config_hash": metrics.get("config_hash"),
                  "training_hash": metrics.get("training_hash"), "read": read}
        if study.roles[role] == name:
            sources[role] = source
        else:  # a seed sweep's member
            sources.setdefault(role, {"sweep": study.roles[role], "members": {}})["members"][name] = source
    return rows, sources


def _arm(study: Study, role: str, results_root: Path, sources: dict) -> tuple[Arm, np.ndarray]:
    """The arm of ``role``: each seed's membership score (minus the loss) on its evaluation
    set, read from its scores.npz (its sha256 recorded in ``sources``); and the labels, which
    with the membership say whether two arms score the same samples."""
    truth = labels = None
    scores = []
    for name in study.experiments_of(role):
        path = results_root / name / "scores.npz"
        found = read_arrays(path, (LOSS_SCORE, "is_member", "label"), "rerun `invoke experiments`")
        entry = sources[role] if study.roles[role] == name else sources[role]["members"][name]
        entry["read"]["scores.npz"] = sha256_file(path)
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

    def accuracies(role: str) -> dict[str, list[float]]:
        found = [by_name[name] for name in study.experiments_of(role)]
        return {"train_accuracy": [r["train_accuracy"] for r in found],
                "test_accuracy": [r["test_accuracy"] for r in found],
                "generalisation_gap": [r["train_accuracy"] - r["test_accuracy"] for r in found]}
    out = []
    for i, c in enumerate(study.comparisons):
        acc_a, acc_b = accuracies(c.a), accuracies(c.b)
        (a, labels_a), (b, labels_b) = (_arm(study, c.a, results_root, sources),
                                        _arm(study, c.b, results_root, sources))
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


def left_out(study: Study, rows: list[dict]) -> list[str]:
    """One line per [table] attack that no experiment measured (each is a legal row name, the
    study file was checked; the experiments' [calibrated] attacks leave it out): its cells
    are empty, and the log and the study's manifest say so."""
    empty = [a for a in study.table_attacks if all(r["attacks"][a]["value"] is None for r in rows)]
    if empty and len(empty) == len(study.table_attacks):
        return [f"no experiment of study {study.name!r} has calibrated results (no [bank]): the "
                f"table's attack cells are empty"]
    return [f"[table] attack {a!r} of study {study.name!r} is in none of its experiments' "
            f"calibrated.json: its cells are empty (add it to their [calibrated] attacks)"
            for a in empty]


def table_csv(study: Study, rows: list[dict]) -> str:
    header = ["role", "experiment", "config_hash", "train_accuracy", "test_accuracy",
              f"auc_{LOSS_SCORE}"]
    for a in study.table_attacks:
        header += [f"{a} {KEY}", f"{a} ci95_low", f"{a} ci95_high"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for r in rows:
        cells = [r["role"], r["experiment"], r["config_hash"], r["train_accuracy"],
                 r["test_accuracy"], r["loss_auc"]]
        for a in study.table_attacks:
            c = r["attacks"][a]
            cells += [c["value"], c["low"], c["high"]]
        writer.writerow(["" if v is None else v for v in cells])
    return buf.getvalue()


DECISION_KEYS = ("accuracy", "precision", "recall", "f1")


def decided(study: Study, rows: list[dict]) -> list[tuple[dict, str]]:
    """(row, attack) of every [table] attack that recorded its own decisions (a shadow
    bank's classifiers: calibrated.at_decision), in the table's order."""
    return [(r, a) for r in rows for a in study.table_attacks
            if r["attacks"][a].get("decision") is not None]


def decisions_csv(study: Study, rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["role", "experiment", "attack", *DECISION_KEYS, "attack_seconds", "auc",
                     "auc_ci95_low", "auc_ci95_high", "tpr_at_1pct_fpr", "tpr_at_1pct_fpr_ci95_low",
                     "tpr_at_1pct_fpr_ci95_high", KEY, f"{KEY}_ci95_low", f"{KEY}_ci95_high"])
    for r, a in decided(study, rows):
        c = r["attacks"][a]
        writer.writerow(["" if v is None else v for v in (
            r["role"], r["experiment"], a, *(c["decision"][k] for k in DECISION_KEYS), c["seconds"],
            c["auc"], *(c["auc_ci"] or (None, None)), c["tpr_1pct"], *(c["tpr_1pct_ci"] or (None, None)),
            c["value"], c["low"], c["high"])])
    return buf.getvalue()


def decisions_markdown(study: Study, rows: list[dict]) -> str:
    lines = [f"# {study.name}: the attack models' own decisions", "",
             "One row per experiment and attack that decides (member when its probability of IN "
             "exceeds one half), on each experiment's balanced evaluation set "
             "(`calibrated.json`, protocol study): accuracy, precision, recall and F1 of those "
             "decisions; the seconds its fit and scoring took on this machine; AUC and TPR at 1% "
             "and 0.1% FPR with 95% bootstrap intervals.", "",
             "| role | attack | accuracy | precision | recall | F1 | seconds | AUC | TPR at 1% FPR "
             "| TPR at 0.1% FPR |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r, a in decided(study, rows):
        c = r["attacks"][a]
        d = c["decision"]
        auc = ("n/a" if c["auc"] is None else f"{c['auc']:.3f}"
               + (f" [{c['auc_ci'][0]:.3f}, {c['auc_ci'][1]:.3f}]" if c["auc_ci"] else ""))
        tpr1 = _pct_ci({"value": c["tpr_1pct"], "low": (c["tpr_1pct_ci"] or (None, None))[0],
                        "high": (c["tpr_1pct_ci"] or (None, None))[1]})
        seconds = "n/a" if c["seconds"] is None else f"{c['seconds']:.1f}"
        lines.append(f"| {r['role']} | {a} | {d['accuracy']:.2%} | {d['precision']:.3f} | "
                     f"{d['recall']:.3f} | {d['f1']:.3f} | {seconds} | {auc} | {tpr1} | "
                     f"{_pct_ci(c)} |")
    return "\n".join(lines) + "\n"


def _pct_ci(c: dict) -> str:
    if c["value"] is None:
        return "n/a"
    if c["low"] is None:
        return f"{100 * c['value']:.2f}%"
    return f"{100 * c['value']:.2f}% [{100 * c['low']:.2f}, {100 * c['high']:.2f}]"


def table_markdown(study: Study, rows: list[dict]) -> str:
    lines = [f"# {study.name}: {study.description}", "",
             f"One row per experiment of `{study.path.name}` (role: experiment). Target accuracy "
             f"on its training and test images; the {LOSS_SCORE.replace('_', '-')} loss's AUC "
             f"over all members and non-members (`metrics.json`); each calibrated attack's TPR "
             f"at 0.1% FPR with its 95% bootstrap interval, study protocol (`calibrated.json`). "
             f"n/a: no bank, or too few non-members evaluated to read 0.1% FPR.", "",
             "| role | experiment | train accuracy | test accuracy | loss AUC | "
             + " | ".join(f"{a}: TPR at 0.1% FPR" for a in study.table_attacks) + " |",
             "|---|---|---:|---:|---:|" + "---:|" * len(study.table_attacks)]
    for r in rows:
        auc = "n/a" if r["loss_auc"] is None else f"{r['loss_auc']:.4f}"
        lines.append(f"| {r['role']} | {r['experiment']} | {r['train_accuracy']:.2%} | "
                     f"{r['test_accuracy']:.2%} | {auc} | "
                     + " | ".join(_pct_ci(r["attacks"][a]) for a in study.table_attacks) + " |")
    return "\n".join(lines) + "\n"


def figure(study: Study, rows: list[dict], out: Path, commit: str = "") -> list[Path]:
    """The table's TPRs at 0.1% FPR with their intervals: one line per attack, one colour per
    experiment; chance (0.1%) dashed. Written as PNG and PDF by ``plots.save`` (as every
    figure: no creation date, the smallest font size, caption and source recorded), for the
    slide and, in ``report/`` beside it, at the report sizes (``plots.REPORT_LAYOUTS``)."""
    source = plots.Source(experiment=f"studies/{study.name}", title=study.description,
                          config_hash=sha256_file(study.path), commit=commit,
                          files=tuple(f"{r['experiment']}/calibrated.json" for r in rows))
    written = []
    for layout in (plots.SLIDE, *plots.REPORT_LAYOUTS):
        path = out if layout is plots.SLIDE else out.parent / "report" / f"{out.name}_{layout.name}"
        with plt.rc_context(layout.style()):
            _figure(study, rows, path, source, layout)
        written += [path.with_suffix(f".{fmt}") for fmt in plots.FORMATS]
    return written


def _figure(study: Study, rows: list[dict], out: Path, source: plots.Source,
            layout: plots.Layout) -> None:
    attacks = study.table_attacks
    slide = layout is plots.SLIDE
    font = FONT_PT if slide else layout.font_pt
    size = ((12, 1.5 + 0.7 * len(attacks)) if slide else
            (layout.width, (1.6 if layout.stacked else 1.0) + 0.32 * len(attacks) * (1 + 0.25 * len(rows))))
    fig, ax = plt.subplots(figsize=size, layout=None if slide else "constrained")
    step = 0.7 / max(len(rows), 1)
    for i, r in enumerate(rows):
        ys, xs, err = [], [], [[], []]
        for j, a in enumerate(attacks):
            c = r["attacks"][a]
            if c["value"] is None:
                continue
            ys.append(j + (i - (len(rows) - 1) / 2) * step)
            xs.append(100 * c["value"])
            err[0].append(100 * (c["value"] - c["low"]))
            err[1].append(100 * (c["high"] - c["value"]))
        ax.errorbar(xs, ys, xerr=err, fmt="o", capsize=3 if slide else 2,
                    ms=6 if slide else 3.5, label=r["role"].replace("_", " "))
    ax.axvline(100 * FPR, color="grey", ls="--", lw=1, label="chance (0.1%)")
    ax.set_yticks(range(len(attacks)), [plots.ATTACK_NAMES.get(a, a) for a in attacks],
                  fontsize=font)
    ax.set_ylim(len(attacks) - 0.5, -0.5)
    ax.set_xlabel(("TPR at 0.1% FPR (%),\n" if layout.stacked else "TPR at 0.1% FPR (%), ")
                  + "95% bootstrap interval", fontsize=font)
    ax.tick_params(labelsize=font)
    ax.set_title(layout.wrap("Calibrated attacks at 0.1% FPR, each experiment's own target"),
                 fontsize=font + (1 if slide else 0))
    ax.grid(axis="x", alpha=0.3)
    if layout.stacked:
        fig.legend(fontsize=font, loc="outside lower center", ncol=2, frameon=False)
    else:
        ax.legend(fontsize=font, loc="upper left", bbox_to_anchor=(1.01, 1))
    if slide:
        fig.tight_layout()
    experiments = "; ".join(f"{r['role'].replace('_', ' ')}: results/{r['experiment']}"
                            + (f", {r['references']} reference models" if r["references"] else "")
                            for r in rows)
    plots.save(fig, out, source=source, layout=layout,
               shows="each calibrated attack's TPR at 0.1% FPR with its interval, per experiment",
               caption=f"{study.description}. TPR at 0.1% FPR of each calibrated attack and of "
                       f"the loss threshold, with its 95% bootstrap interval, on each "
                       f"experiment's own target and members and non-members (study protocol: "
                       f"each experiment's evaluation set, so rows of different experiments are "
                       f"not paired, and each uses its own number of reference models: not a "
                       f"matched comparison); dashed: chance. Experiments: {experiments}.")


COMPARISONS_FIGURE = "comparisons"
# the panels of the comparisons figure: metric, label, scale, unit of the difference
COMPARISON_PANELS = (("auc", "AUC", 1, ""), ("tpr_at_1pct_fpr", "TPR at 1% FPR", 100, " pp"),
                     ("generalisation_gap", "generalisation gap", 100, " pp"))


def comparisons_figure(study: Study, found: list[dict], out: Path, commit: str = "") -> list[Path]:
    """Each comparison's difference b - a with its 95% interval, one row per comparison, one
    panel per metric (``COMPARISON_PANELS``): a forest plot, zero dashed. Filled: the interval
    excludes zero."""
    source = plots.Source(experiment=f"studies/{study.name}", title=study.description,
                          config_hash=sha256_file(study.path), commit=commit,
                          files=tuple(f"{name}/scores.npz" for c in found
                                      for arm in (c["a"], c["b"]) for name in c["experiments"][arm]))
    fig, axes = plt.subplots(1, len(COMPARISON_PANELS), figsize=(11.6, 1.2 + 0.62 * len(found)),
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
        ax.set_xlabel(f"difference in {label}" + (f" ({unit.strip()})" if unit else ""))
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(found)), labels)
    axes[0].set_ylim(len(found) - 0.5, -0.5)
    fig.suptitle(plots.SLIDE.wrap("Each comparison's difference, 95% interval over seeds and "
                                  "samples (filled: excludes zero)", 11.6))
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


# The code that draws the study's figure: a change to it changes the figure's key.
FIGURE_CODE = ("mia/plots", "mia/study_results.py")


def _keep_figure(final: Path, staging: Path, key: str, log) -> bool:
    """When the folder this write replaces drew its figure from the same inputs with the same
    code (``figure_key``) and its files are the ones its manifest records, copy them into
    ``staging`` (byte for byte: the figure keeps the commit that drew it) and return True."""
    if not keep_recorded(final, staging, "figure_key", key,
                         lambda name: name.endswith((".png", ".pdf"))):
        return False
    log(f"study {final.name}: figure kept from {final} (the same inputs and code: key {key[:12]})")
    return True


def _shown(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


# The code that computes comparisons.json: a change to it changes ``comparisons_key``.
COMPARISONS_CODE = ("mia/evaluation/arms.py", "mia/evaluation/roc.py", "mia/metrics.py",
                    "mia/study_results.py")
COMPARISON_FILES = ("comparisons.json", "comparisons.csv", "comparisons.md")


def _comparisons(study: Study, rows: list[dict], results_root: Path, sources: dict, final: Path,
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


def write(study: Study, results_root: Path, log=print) -> Path:
    """Write ``results_root/studies/<study>/`` from the experiments' results in ``results_root``;
    returns that folder. A UserError (nothing written) when an experiment has no results."""
    results_root = Path(results_root)
    rows, sources = collect(study, results_root)
    missing = left_out(study, rows)
    for line in missing:
        log(f"warning: {line}")
    final = results_root / "studies" / study.name
    recover_swap(final, log)
    staging = final.with_name(f".{final.name}.staging")
    staging.mkdir(parents=True)
    write_text(staging / "table.csv", table_csv(study, rows))
    write_text(staging / "table.md", table_markdown(study, rows))
    if decided(study, rows):
        write_text(staging / "decisions.csv", decisions_csv(study, rows))
        write_text(staging / "decisions.md", decisions_markdown(study, rows))
    comparisons_key = None
    if study.comparisons:
        found, comparisons_key = _comparisons(study, rows, results_root, sources, final,
                                              staging, log)
    git = git_commit(REPO)
    figure_key = sha256_json({"read": sources, "study": sha256_file(study.path),
                              "code": code_version(FIGURE_CODE)})
    commit = (git["commit"] or "unknown") + ("+dirty" if git["code_dirty"] else "")
    if (study.figure or study.comparisons) and not _keep_figure(final, staging, figure_key, log):
        if study.figure:
            figure(study, rows, staging / study.figure, commit)
        if study.comparisons:
            comparisons_figure(study, found, staging / COMPARISONS_FIGURE, commit)
    written = {p.relative_to(staging).as_posix(): sha256_file(p)
               for p in sorted(staging.rglob("*")) if p.is_file()}
    write_json(staging / "manifest.json", {
        "study": study.name, "description": study.description,
        "study_file": {"path": _shown(study.path), "sha256": sha256_file(study.path)},
        "written": now(), "git": git,
        "experiments": sources, "files": written, "figure_key": figure_key,
        **({"comparisons_key": comparisons_key} if comparisons_key else {}),
        **({"left_out": missing} if missing else {})})
    replace_directory(staging, final, log)
    write_index(final.parent)
    log(f"study {study.name}: wrote {final} ({', '.join(written)}, manifest.json)")
    return final


def write_index(studies_root: Path) -> Path:
    """``results/studies/manifest.json``: every study folder there, with the sha256 of its own
    manifest (which names what it was made from), so that the folder carries a manifest too."""
    found = {d.name: {"manifest_sha256": sha256_file(d / "manifest.json")}
             for d in sorted(studies_root.iterdir())
             if d.is_dir() and not d.name.startswith(".") and (d / "manifest.json").is_file()}
    path = studies_root / "manifest.json"
    write_json(path, {"studies": found, "written": now(), "git": git_commit(REPO)})
    return path
