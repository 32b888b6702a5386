"""An experiment's results folder: figures, tables, the copied artifacts and the manifest,
assembled in a staging folder and swapped in whole (``io.replace_directory``), with the
reproduction verdict against the results it replaces."""
from __future__ import annotations

import os
import shlex
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import manifest as manifest_mod, plots, report, verify
from ..membership import Membership
from ..config import ExperimentConfig
from ..datasets import ENV_VAR as DATA_ENV_VAR, Dataset
from ..io import (code_version, read_json, replace_directory, sha256_file, sha256_json, write_json,
                  write_text)
from ..recipes import get as recipe_of
from ..training import bank as bank_mod
from .stages import calibrated_key, exposed_path, timed_stage

# The original study's target accuracies, per dataset, quoted from its slides, not computed:
# the CIFAR-10 study's LeNet-5. A dataset whose original study published none (MNIST:
# loss-threshold-mnist.md gives no accuracy) has no entry, and its results claim no comparison.
REFERENCE_ACCURACY = {
    "cifar10": {
        "train_accuracy": 0.9284, "test_accuracy": 0.5152,
        "source": "the original study's deck, 'Membership Inference Attack' (Marp slides, "
                  "shared/reference/study-deck.md), slide 'Model Training'",
    },
}

# pyplot's state is one per process: experiments that run side by side in threads
# (pipeline.concurrent) draw one at a time
DRAWING = threading.Lock()


@dataclass
class ExperimentRun:
    """One run of one experiment: what it runs, where, and what it has measured so far."""

    config: ExperimentConfig
    dataset: Dataset
    run_dir: Path            # the cache folder of its trained target (keyed by training_hash)
    final: Path              # results/<experiment>
    staging: Path            # where the new results folder is assembled
    train_hash: str
    git: dict                # the commit the run started from
    started: str
    device: torch.device
    progress: bool
    workers: int
    log: object
    timings: dict
    bank_dir: Path | None = None
    membership: Membership | None = None  # canaries and held-out images (mia.membership)

    @property
    def n_trained(self) -> int:
        """How many images the target trained on."""
        return self.membership.n_trained if self.membership else len(self.dataset.y_train)

    @property
    def canaries(self):
        return self.membership.canaries if self.membership else None


def command_line() -> str:
    """The command as typed, behind ``MIA_DATA_DIR=...`` when that variable chose the data: so
    that, pasted back on another machine, it reads the same data."""
    data_dir = os.environ.get(DATA_ENV_VAR)
    return (f"{DATA_ENV_VAR}={shlex.quote(data_dir)} " if data_dir else "") + shlex.join(sys.argv)


def write_results(run: ExperimentRun, scores: dict, history: list[dict], metrics: dict,
                  calibrated: dict | None = None, audit: dict | None = None,
                  per_sample: Path | None = None) -> None:
    """The numbers, then the verdict against the results they replace, then the figures,
    tables and manifest drawn from them, into ``run.staging``; swapped in as ``run.final``.

    When the verdict is REPRODUCED with the same weights, the replaced folder's numbers
    (NUMBERS) are kept, byte for byte, and everything is drawn from them: a rerun within tolerance leaves
    the committed files as they were (a fresh clone stays clean), and only the manifest, the
    run's own record, changes."""
    config, staging, final, run_dir = run.config, run.staging, run.final, run.run_dir
    timings, workers, log = run.timings, run.workers, run.log
    with timed_stage(timings, "numbers"):
        write_json(staging / "metrics.json", metrics)
        write_json(staging / "history.json", history)
        shutil.copyfile(run_dir / "scores.npz", staging / "scores.npz")
        shutil.copyfile(run_dir / "model.pt", staging / "model.pt")
        write_json(staging / "config.json", config.to_dict())
        if calibrated is not None:
            write_json(staging / "calibrated.json", calibrated)
            bank_mod.copy_bank(run.bank_dir, staging / "bank", config.bank.models)
        if audit is not None:  # the one-run audit on the canaries (audit.audit_stage)
            write_json(staging / "audit.json", audit)
        if per_sample is not None:  # [calibrated] per_sample (stages.per_sample_stage)
            shutil.copyfile(per_sample, staging / PER_SAMPLE)
            shutil.copyfile(exposed_path(per_sample), staging / EXPOSED)
        # what the verdict reads of the manifest (written in full below)
        write_json(staging / "manifest.json", {"config_hash": config.hash(),
                                               "training_hash": run.train_hash,
                                               **manifest_mod.environment(run.device)})
    reproduction = _reproduction(run)
    if reproduction.get("verdict") == "reproduced" and reproduction.get("same_weights"):
        scores, history, metrics, calibrated = _keep_reference_numbers(final, staging, calibrated)
    source = figure_source(config, run.git)
    drawn_key = figures_key(config, staging, run.dataset)
    kept = _keep_reference_figures(final, staging, drawn_key, log)
    with DRAWING, timed_stage(timings, "plots"):
        if config.figures:  # [figures] false: the numbers only (config.ExperimentConfig)
            plots.experiment_figures(config, scores, history, metrics, staging / "figures",
                                     progress=run.progress, dataset=run.dataset, workers=workers,
                                     source=source, versioned_too=not kept)
        if config.figures and calibrated is not None and not kept:
            plots.calibrated_figures(calibrated, staging / "figures", plots.Source(
                source.experiment, source.title, source.config_hash, source.commit,
                ("calibrated.json",)))
    timings["plots"]["workers"] = workers
    with timed_stage(timings, "report"):
        report.write_summary(metrics, staging)
        if calibrated is not None:
            write_text(staging / "calibrated.md", report.calibrated_markdown(calibrated, config.name))
    timings["report"]["seconds"] += timings.pop("numbers")["seconds"]  # one stage, timed in two parts
    manifest = {
        "experiment": config.name, "started": run.started, "finished": manifest_mod.now(),
        "command": command_line(),
        "config": config.to_dict(), "config_hash": config.hash(),
        "training_hash": run.train_hash, "seed": config.seed,
        "git": run.git,
        **manifest_mod.environment(run.device),
        "data": run.dataset.source,
        "wall_seconds": timings,
        # the recipe's guarantee, when it gives one (DP-SGD: the accountant's epsilon at delta)
        **_privacy(config, run.n_trained),
        # the audit's canaries: how many, and how many the target trained on
        **({"canaries": {"m": run.canaries.m, "included": int(run.canaries.included.sum()),
                         "canary_seed": config.data.canary_seed}} if run.canaries else {}),
        **({"held_out": len(run.membership.holdout)} if run.membership is not None
           and len(run.membership.holdout) else {}),
        # sha256 of every file in this folder but this manifest, figures included
        "files": manifest_mod.file_checksums(staging, ARTIFACTS + _bank_files(config)
                                             + (("audit.json",) if audit is not None else ())
                                             + ((PER_SAMPLE, EXPOSED) if per_sample is not None else ())
                                             + _figure_files(staging)),
        # what calibrated.json was computed from, code included: a fresh clone with the same
        # key takes calibrated.json in instead of recomputing it (stages.calibrated_stage)
        **({"calibrated_key": calibrated_key(config, run.dataset, run_dir, run.bank_dir,
                                             run.membership)}
           if calibrated is not None else {}),
        # what the figures were drawn from, code included: a rerun with the same key keeps
        # the versioned figures of the folder it replaces (_keep_reference_figures)
        "figures_key": drawn_key,
        **({"reproduction": reproduction} if reproduction else {}),
    }
    write_json(staging / "manifest.json", manifest)
    write_json(run_dir / "timings.json", {k: v for k, v in timings.items()
                                          if k in ("train", "scores")})
    replace_directory(staging, final, log)


# The numbers a reproduced rerun keeps from the folder it replaces (those the verdict judged);
# every other file but the manifest is drawn from them (the model, its history and the bank
# are the same bytes: the same weights, taken from the results or trained by this cache).
NUMBERS = ("metrics.json", "scores.npz", "calibrated.json")


def _reproduction(run: ExperimentRun) -> dict:
    """The verdict of the numbers in ``run.staging`` against the results they replace ({}
    when there are none), logged and returned as the manifest records it."""
    if not (run.final / "metrics.json").is_file():
        return {}
    try:
        verdict = verify.compare(run.final, run.staging)
    except Exception as e:  # an unreadable old result must not cost the new one
        run.log(f"[{run.config.name}] not compared with the results it replaces: {e}")
        return {"compared_with": None, "verdict": f"not compared: {type(e).__name__}: {e}"}
    run.log(verdict.summary())
    return {"compared_with": _commit_of(run.final), **verdict.to_dict()}


def _keep_reference_numbers(final: Path, staging: Path, calibrated: dict | None):
    """Copy the replaced folder's NUMBERS over the new ones and read them back, as
    (scores, history, metrics, calibrated). The verdict has read each of them."""
    for name in NUMBERS:
        if (final / name).is_file():
            shutil.copyfile(final / name, staging / name)
    with np.load(staging / "scores.npz", allow_pickle=False) as f:
        scores = {k: f[k] for k in f.files}
    return (scores, read_json(staging / "history.json"), read_json(staging / "metrics.json"),
            None if calibrated is None else read_json(staging / "calibrated.json"))


PER_SAMPLE = "attack_scores.npz"  # [calibrated] per_sample's scores
EXPOSED = "exposed.npz"  # and the gallery of the most and least exposed members
ARTIFACTS = ("model.pt", "scores.npz", "history.json", "metrics.json", "config.json",
             "summary.csv", "summary.md")


# The code that draws an experiment's figures: a change to it changes ``figures_key``.
FIGURE_CODE = ("mia/plots",)


def figures_key(config: ExperimentConfig, staging: Path, dataset: Dataset) -> str:
    """What determines every figure but the commit it records: the numbers drawn from (their
    sha256), the settings (the title included), the data (the examples figure) and the code."""
    return sha256_json({
        "numbers": {n: sha256_file(staging / n) for n in ("metrics.json", "scores.npz",
                                                          "history.json", "calibrated.json")
                    if (staging / n).is_file()},
        "config": config.to_dict(), "data": dataset.key, "code": code_version(FIGURE_CODE)})


def _keep_reference_figures(final: Path, staging: Path, key: str, log) -> bool:
    """When the folder this run replaces drew its figures with the same ``figures_key`` and
    they are the files its manifest records, copy its versioned figures into ``staging``
    (byte for byte: a fresh clone of a later commit stays clean, and each figure keeps the
    commit that drew it) and return True; only the unversioned ones are then drawn."""
    if not manifest_mod.keep_recorded(final, staging, "figures_key", key,
                                      lambda name: name.startswith("figures/")):
        return False
    log(f"[{final.name}] figures: the versioned ones kept from {final} (the same numbers, "
        f"settings and code: key {key[:12]})")
    return True


def figure_source(config: ExperimentConfig, git: dict) -> plots.Source:
    """What every figure of this experiment records of where it comes from."""
    commit = (git.get("commit") or "unknown") + ("+dirty" if git.get("code_dirty") else "")
    return plots.Source(experiment=config.name, title=config.readable_name,
                        config_hash=config.hash(), commit=commit)


def _figure_files(staging: Path) -> tuple[str, ...]:
    """The versioned figures (``plots.versioned``), as paths in the results folder."""
    return tuple(sorted(f"figures/{rel}" for rel in (
        p.relative_to(staging / "figures").as_posix()
        for p in (staging / "figures").rglob("*") if p.is_file()) if plots.versioned(rel)))


def _bank_files(config: ExperimentConfig) -> tuple[str, ...]:
    if not config.bank.models:
        return ()
    return ("calibrated.json", "calibrated.md", *(f"bank/{f}" for f in bank_mod.FILES),
            *(f"bank/{bank_mod.model_path(Path(), m).name}" for m in range(config.bank.models)))


def _privacy(config: ExperimentConfig, n_train: int) -> dict:
    guarantee = recipe_of(config.train.recipe).privacy(config.train, n_train)
    return {} if guarantee is None else {"privacy": guarantee}


def _commit_of(results: Path) -> str | None:
    """The git commit recorded in a results folder's manifest (None if unreadable)."""
    try:
        return read_json(results / "manifest.json")["git"]["commit"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def verdict_lines(results_root: Path) -> tuple[list[str], bool]:
    """The reproduction verdict each experiment of ``results_root`` recorded when its results
    were written (manifest.json ``reproduction``): one line each, then one line for all, and
    whether every one reproduced. An experiment with nothing earlier to compare with says so
    and fails nothing; an unreadable manifest cannot vouch for anything, and fails."""
    lines, failed = [], []
    for d in sorted(p for p in Path(results_root).iterdir() if (p / "metrics.json").is_file()):
        try:
            record = read_json(d / "manifest.json").get("reproduction")
        except (OSError, ValueError, AttributeError):
            lines.append(f"  {d.name}: no readable manifest.json")
            failed.append(d.name)
            continue
        if not record:
            lines.append(f"  {d.name}: nothing earlier to compare with")
        elif record.get("verdict") != "reproduced":
            lines.append(f"  {d.name}: NOT REPRODUCED: {record.get('mismatches', '?')} numbers "
                         f"outside tolerance; largest {record.get('largest')}")
            failed.append(d.name)
        else:
            lines.append(f"  {d.name}: reproduced ({record.get('numbers_checked', 0):,} numbers)")
    if not lines:
        return [f"verdict: no results in {results_root}"], False
    last = (f"verdict: NOT REPRODUCED: {', '.join(failed)}" if failed else
            f"verdict: every experiment in {results_root} reproduced the results it replaced, "
            f"or had none to replace")
    return lines + [last], not failed


def closing_summary(paths: list[Path]) -> str:
    """What a run ends with: each experiment's headline numbers and where to look next."""
    lines = ["", "Summary"]
    for d in paths:
        m, manifest = read_json(d / "metrics.json"), read_json(d / "manifest.json")
        t = m["target"]
        acc = [c["summary"]["accuracy"]["mean"] for by_p in m["attack"]["results"].values()
               for c in by_p.values()]
        lines.append(f"  {m['experiment']}: target {t['train_accuracy']:.1%} train / "
                     f"{t['test_accuracy']:.1%} test; attack accuracy {min(acc):.1%} to "
                     f"{max(acc):.1%} over {len(acc)} settings; "
                     + ", ".join(f"{s} AUC {v['auc']:.3f}, TPR@1%FPR {v['tpr_at_1pct_fpr']:.2%}"
                                 for s, v in m["all_samples"].items() if s != "probability_loss"))
        rep_ = manifest.get("reproduction")
        lines.append(f"    {d / 'summary.md'}; "
                     + (f"vs the results it replaced: {rep_['verdict']}" if rep_
                        else "nothing earlier to compare with"))
    lines.append("  next: `invoke slides` builds the deck (slides/build/deck.pdf) from these results")
    return "\n".join(lines)


