"""The experiment index: ``results/experiments.md`` and ``experiments.csv``, one row per
experiment folder: its dataset and training set, model (architecture and regularisation),
epochs, seed, train and test accuracy, and one attack's AUC and TPR at 0.1% FPR with 95%
intervals, on the members and non-members it names.

The attack of a row is chosen by a rule fixed before any result, never as the highest of the
rows (a maximum over attacks would carry its selection):

- an experiment with calibrated results (a bank): on its study protocol, the attack that the
  paired comparisons (bootstrap, Holm) call the strongest at 0.1% FPR; where they call none,
  the attack declared for its kind of bank (``DECLARED``: LiRA online with the global variance
  for reference banks, the LiRA paper's attack; Shokri's on the attacker's data for shadow
  banks, the original study's), and the row says that no attack was the strongest;
- any other experiment: the loss threshold over every member and non-member (the score of
  ``metrics.json``'s ``all_samples``), its intervals from a stratified bootstrap of
  ``scores.npz`` (``BOOTSTRAP`` resamples, seed 0), kept in ``experiments.json`` while the
  file's sha256 is unchanged.

Written after every ``invoke experiments`` (``pipeline.run``); nothing in it is typed by hand.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from . import schemas
from .evaluation.roc import score_metrics
from .io import read_arrays, read_checked, read_json, sha256_file, write_json, write_text

LOSS_SCORE = "cross_entropy"
KEY = "tpr_at_0.1pct_fpr"
BOOTSTRAP = 200
DECLARED = {"attacker": "shokri/population", "all": "lira_online/global"}
FILES = ("experiments.md", "experiments.csv", "experiments.json")
REMEDY = "rerun `invoke experiments`"


def _training_set(config: dict, target: dict) -> str:
    data = config["data"]
    parts = [f"{target['n_train']:,} of {data['dataset']}"]
    if data.get("classes"):
        parts.append(f"first {data['classes']} classes")
    if data.get("train_fraction", 1.0) < 1.0:
        parts.append(f"train_fraction {data['train_fraction']:g}")
    return ", ".join(parts)


def _model(train: dict) -> str:
    """The architecture, its shape and the regularisation it trained with."""
    shape = [f"depth {train['depth']}" if train.get("depth") else "",
             f"width {train['width']}" if train.get("width") else "",
             f"dropout {train['dropout']:g}" if train.get("dropout") else "",
             f"L2 {train['weight_decay']:g}" if train.get("weight_decay") else ""]
    extra = ", ".join(p for p in shape if p)
    return train["architecture"] + (f" ({extra})" if extra else "")


def _calibrated_cell(calibrated: dict, population: str) -> dict:
    study = calibrated["protocols"]["study"]
    verdict = study["strongest"][KEY]
    declared = DECLARED[population]
    row = verdict["strongest"] or (declared if declared in study["rows"] else verdict["top"])
    how = "strongest" if verdict["strongest"] else "declared: none strongest"
    if row is None:  # no declared row and no top (every row ties): the table's first row
        row, how = next(iter(study["rows"])), "first row: none above the others"
    cell = study["rows"][row]
    return {"attack": row, "chosen": how, "auc": cell.get("auc"),
            "auc_ci": cell.get("ci95", {}).get("auc"), "tpr": cell.get(KEY),
            "tpr_ci": cell.get("ci95", {}).get(KEY), "n_members": study["n_members"],
            "n_nonmembers": study["n_nonmembers"], "references": study["references"]}


CELL = ("attack", "chosen", "auc", "auc_ci", "tpr", "tpr_ci", "n_members", "n_nonmembers",
        "references")


def _earlier(results_root: Path, log) -> dict[str, dict]:
    """The rows of the index this write replaces, by experiment: a loss cell is reused while
    its scores.npz is unchanged. An unreadable index is computed again, with a warning."""
    path = results_root / "experiments.json"
    if not path.exists():
        return {}
    try:
        found = read_json(path)["rows"]
        return {r["experiment"]: r for r in found
                if isinstance(r, dict) and isinstance(r.get("cell"), dict)
                and set(r["cell"]) == set(CELL)}
    except (OSError, ValueError, KeyError, TypeError) as e:
        log(f"warning: unreadable {path} ({type(e).__name__}); computing every interval again")
        return {}


def _loss_cell(folder: Path, earlier: dict, sha: str) -> dict:
    """The loss's cell from ``folder``'s scores.npz (sha256 ``sha``), or ``earlier``'s when it
    was computed from the same file."""
    path = folder / "scores.npz"
    if earlier.get("scores_sha256") == sha:
        return earlier["cell"]
    found = read_arrays(path, (LOSS_SCORE, "is_member"), REMEDY)
    truth = found["is_member"].astype(bool)
    m = score_metrics(truth, -found[LOSS_SCORE], bootstrap=BOOTSTRAP, seed=0)
    return {"attack": "loss", "chosen": "no bank", "auc": m["auc"],
            "auc_ci": m["ci95"]["auc"], "tpr": m[KEY], "tpr_ci": m["ci95"][KEY],
            "n_members": m["n_members"], "n_nonmembers": m["n_nonmembers"], "references": 0}


def rows(results_root: Path, log=print) -> list[dict]:
    """One row per experiment folder under ``results_root`` (a folder with metrics.json and
    manifest.json), in name order."""
    earlier = _earlier(results_root, log)
    out = []
    for folder in sorted(p for p in results_root.iterdir() if (p / "metrics.json").is_file()
                         and (p / "manifest.json").is_file()):
        metrics = read_checked(folder / "metrics.json", schemas.METRICS, REMEDY)
        manifest = read_checked(folder / "manifest.json", schemas.MANIFEST, REMEDY)
        config, target = manifest["config"], metrics["target"]
        calibrated = (read_checked(folder / "calibrated.json", schemas.CALIBRATED, REMEDY)
                      if (folder / "calibrated.json").is_file() else None)
        if calibrated is not None:
            cell = _calibrated_cell(calibrated, config.get("bank", {}).get("population", "all"))
            sha = None
        else:
            sha = sha256_file(folder / "scores.npz")
            cell = _loss_cell(folder, earlier.get(folder.name, {}), sha)
        out.append({"experiment": folder.name, "dataset": config["data"]["dataset"],
                    "training_set": _training_set(config, target),
                    "model": _model(config["train"]),
                    "parameters": target.get("parameters"), "epochs": config["train"]["epochs"],
                    "seed": config["seed"], "train_accuracy": target["train_accuracy"],
                    "test_accuracy": target["test_accuracy"], "cell": cell,
                    **({"scores_sha256": sha} if sha else {})})
    return out


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _ci(ci, scale: float, digits: int) -> str:
    return "" if not ci else f" [{scale * ci[0]:.{digits}f}, {scale * ci[1]:.{digits}f}]"


def markdown(found: list[dict]) -> str:
    lines = ["# Every experiment", "",
             "One row per experiment folder; written by `invoke experiments` "
             "(`mia/experiment_index.py`). Each row's attack is chosen by a rule fixed before "
             "the results, never as the highest of several: with a bank, the attack that paired "
             "comparisons (bootstrap, Holm) call the strongest at 0.1% FPR (\"strongest\"), else "
             "the one declared for the bank (LiRA online for reference banks, Shokri's for "
             "shadow banks: \"declared: none strongest\"); without a bank, the loss over every "
             "member and non-member. AUC and TPR at 0.1% FPR with 95% bootstrap intervals, on "
             "the members and non-members named (a bank's study protocol evaluates a balanced "
             "subset). TPR: percent of members.", "",
             "| experiment | training set | model | epochs | seed | train / test | attack "
             "(how chosen) | members / non-members | AUC [95%] | TPR at 0.1% FPR [95%] |",
             "|---|---|---|---:|---:|---:|---|---:|---:|---:|"]
    for r in found:
        c = r["cell"]
        refs = f", {c['references']} refs" if c["references"] else ""
        auc = "n/a" if c["auc"] is None else f"{c['auc']:.3f}{_ci(c['auc_ci'], 1, 3)}"
        lines.append(
            f"| {r['experiment']} | {r['training_set']} | {r['model']} | {r['epochs']} | "
            f"{r['seed']} | {_pct(r['train_accuracy'])} / {_pct(r['test_accuracy'])} | "
            f"{c['attack']} ({c['chosen']}{refs}) | {c['n_members']:,} / {c['n_nonmembers']:,} | "
            f"{auc} | {_pct(c['tpr'])}{_ci(c['tpr_ci'], 100, 2)} |")
    return "\n".join(lines) + "\n"


def table_csv(found: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["experiment", "dataset", "training_set", "model", "parameters",
                     "epochs", "seed", "train_accuracy", "test_accuracy", "attack", "chosen",
                     "references", "n_members", "n_nonmembers", "auc", "auc_ci95_low",
                     "auc_ci95_high", "tpr_at_0.1pct_fpr", "tpr_ci95_low", "tpr_ci95_high"])
    for r in found:
        c = r["cell"]
        writer.writerow(["" if v is None else v for v in (
            r["experiment"], r["dataset"], r["training_set"], r["model"], r["parameters"],
            r["epochs"], r["seed"], r["train_accuracy"], r["test_accuracy"], c["attack"],
            c["chosen"], c["references"], c["n_members"], c["n_nonmembers"], c["auc"],
            *(c["auc_ci"] or (None, None)), c["tpr"], *(c["tpr_ci"] or (None, None)))])
    return buf.getvalue()


def write(results_root: Path, log=print) -> None:
    """``experiments.md``, ``.csv`` and ``.json`` in ``results_root``; nothing without an
    experiment folder."""
    found = rows(results_root, log)
    if not found:
        return
    write_text(results_root / "experiments.md", markdown(found))
    write_text(results_root / "experiments.csv", table_csv(found))
    write_json(results_root / "experiments.json", {"rows": found})
    log(f"experiment index: {results_root / 'experiments.md'} ({len(found)} experiments)")
