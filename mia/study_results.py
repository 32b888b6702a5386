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

from . import (exposure as exposure_mod, frontier as frontier_mod, frontier_figure,
               laplace as laplace_mod, plots, schemas)
from .datasets import DATASETS
from .errors import UserError
from .io import (code_version, read_checked, read_json, recover_swap, replace_directory,
                 sha256_file, sha256_json, write_json, write_text)
from .locations import REPO
from .manifest import git_commit, keep_recorded, now
from .studies import Study
from .study_comparisons import COMPARISONS_FIGURE, comparisons_figure, source_of, write_comparisons

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
        if study.roles[role] != name:  # a seed sweep's member (source_of finds it)
            sources.setdefault(role, {"sweep": study.roles[role], "members": {}})
        source_of(study, sources, role, name, new=source)
    return rows, sources



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
    bank's classifiers: disjoint.at_decision), in the table's order."""
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


# The code that draws the study's figure: a change to it changes the figure's key.
FIGURE_CODE = ("mia/plots", "mia/study_results.py", "mia/study_comparisons.py")


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
        found, comparisons_key = write_comparisons(study, rows, results_root, sources, final,
                                                   staging, log)
    frontier_result = exposed = None
    if study.frontier_attack:  # the defences frontier (mia.frontier), from the same results
        try:
            previous = read_json(final / "frontier.json")
        except (OSError, ValueError):
            previous = None
        frontier_result = frontier_mod.frontier(study, results_root, study.frontier_attack,
                                                study.frontier_baseline, previous,
                                                dict(study.frontier_matched))
        write_json(staging / "frontier.json", frontier_result)
        write_text(staging / "frontier.csv", frontier_mod.csv_text(frontier_result))
        write_text(staging / "frontier.md", frontier_mod.markdown(frontier_result))
        baseline = list(study.experiments_of(study.frontier_baseline))
        if all((results_root / n / "attack_scores.npz").is_file() for n in baseline):
            config = read_json(results_root / baseline[0] / "manifest.json")["config"]
            classes = DATASETS[config["data"]["dataset"]].classes
            exposed = exposure_mod.exposure(results_root, baseline, study.frontier_attack,
                                            classes, frontier_result["read"])
            write_json(staging / "exposure.json", exposed)
            write_text(staging / "exposure.md", exposure_mod.markdown(exposed))
        # what epsilon means, before the private recipes (study 004's Laplace script)
        laplace_result, incomes, releases = laplace_mod.run()
        write_json(staging / "laplace" / "laplace.json", laplace_result)
    git = git_commit(REPO)
    figure_key = sha256_json({"read": sources, "study": sha256_file(study.path),
                              "code": code_version(FIGURE_CODE),
                              # a study with a frontier: its inputs and code too (the key of
                              # the others stays as it was)
                              **({"frontier": frontier_result["read"],
                                  "frontier_code": code_version(("mia/frontier.py",
                                                                 "mia/frontier_figure.py",
                                                                 "mia/exposure.py",
                                                                 "mia/laplace.py"))}
                                 if frontier_result else {})})
    commit = (git["commit"] or "unknown") + ("+dirty" if git["code_dirty"] else "")
    if (study.figure or study.comparisons or frontier_result) and not _keep_figure(
            final, staging, figure_key, log):
        if study.figure:
            figure(study, rows, staging / study.figure, commit)
        if study.comparisons:
            comparisons_figure(study, found, staging / COMPARISONS_FIGURE, commit)
        if frontier_result:
            source = plots.Source(
                experiment=f"studies/{study.name}", title=study.description,
                config_hash=sha256_file(study.path), commit=commit,
                files=tuple(f"{name}/{f}" for name, read in frontier_result["read"].items()
                            for f in read))
            frontier_figure.figure(frontier_result, staging / frontier_mod.FIGURE, source)
            laplace_mod.figures(laplace_result, incomes, releases, staging / "laplace", source)
            if exposed is not None:
                exposure_mod.figure(exposed, staging / exposure_mod.FIGURE, source)
                if exposed["gallery"]:
                    exposure_mod.gallery(exposed, classes, staging / exposure_mod.GALLERY_FIGURE,
                                         source)
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
