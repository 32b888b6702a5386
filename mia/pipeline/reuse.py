"""What a run may reuse instead of recomputing: a cached stage output that still loads, a
trained model committed in results/ with the same training hash (a fresh clone), or the same
target trained by another experiment of the same recipe, seed and data. Anything corrupt is
named and recomputed, or named with what to do. ``Retrain``: what ``--retrain`` clears."""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import datasets as data_mod
from ..config import ExperimentConfig
from ..errors import UserError
from ..io import read_json, record_checksum, unchanged_since_written, write_json
from ..manifest import check_recorded
from .stages import load_model, load_scores


@dataclass
class Retrain:
    """``--retrain``: every model this run needs is trained again, and each only once.

    A cache folder (a target's run, a trajectory's snapshots, a bank) is emptied the first
    time an experiment of this run needs it (``clear``); an experiment that shares it later in
    the same run reuses what this run trained (``trained_here``). Nothing is taken from
    ``results/`` or from a folder this run did not train into."""
    enabled: bool = False
    cleared: set[Path] = field(default_factory=set)

    def clear(self, folder: Path) -> None:
        if self.enabled and folder not in self.cleared:
            self.cleared.add(folder)
            shutil.rmtree(folder, ignore_errors=True)

    def trained_here(self, folder: Path) -> bool:
        """May models in ``folder`` be reused? Always without --retrain; with it, only when
        this run has cleared the folder and trained into it."""
        return not self.enabled or folder in self.cleared


def read_json_or(path: Path, default, log):
    """A cached JSON file, or ``default`` (with a warning) when it is missing or unreadable."""
    if not path.exists():
        return default
    try:
        return read_json(path)
    except (ValueError, OSError) as e:
        log(f"warning: unreadable cache file {path} ({type(e).__name__}); recomputing it")
        path.unlink(missing_ok=True)
        return default


def drop_corrupt_cache(config: ExperimentConfig, run_dir: Path, log,
                        spec: data_mod.DatasetSpec) -> None:
    """Verify the cached stage outputs before reusing any: a model that does not load, or a
    history or scores file that does not parse, is removed with a warning, so that its stage
    runs again (or is seeded again from the results)."""
    def drop(names, why):
        log(f"warning: {why}; recomputing: removed {', '.join(names)} from {run_dir}")
        for n in names:
            (run_dir / n).unlink(missing_ok=True)
    trained = ("model.pt", "history.json", "scores.npz", "target.json")
    # each file as it was written (its sha256, recorded then), before any is loaded
    for name in trained:
        if (run_dir / name).exists() and not unchanged_since_written(run_dir, name, log):
            # the scores follow from the model: a changed model or history drops all four
            dropped = trained if name in ("model.pt", "history.json") else trained[2:]
            return drop(dropped, f"changed cached {run_dir / name}")
    if (run_dir / "model.pt").exists():
        try:
            load_model(config, run_dir / "model.pt", torch.device("cpu"), spec)
        except UserError:
            return drop(trained, f"corrupt cached model {run_dir / 'model.pt'}")
    if (run_dir / "history.json").exists():
        try:
            read_json(run_dir / "history.json")
        except (ValueError, OSError):
            return drop(trained, f"corrupt cached history {run_dir / 'history.json'}")
    for name in ("scores.npz", "target.json"):
        path = run_dir / name
        if path.exists():
            try:
                load_scores(path) if name.endswith(".npz") else read_json(path)
            except Exception:  # BadZipFile, ValueError, OSError, ...
                return drop(("scores.npz", "target.json"), f"corrupt cached {path}")


def seed_cache_from_results(final: Path, run_dir: Path, train_hash: str, retrain: Retrain, log,
                             config: ExperimentConfig, spec: data_mod.DatasetSpec) -> None:
    """A fresh checkout has results/ but no cache: reuse its model if the training hash matches
    (and the model loads: a corrupt one is named, with what to do). Never with --retrain."""
    if retrain.enabled or (run_dir / "model.pt").exists() or not (final / "manifest.json").exists():
        return
    remedy = "restore it (git checkout) or run with --retrain"
    try:
        manifest = read_json(final / "manifest.json")
    except ValueError as e:
        raise UserError(f"corrupt {final / 'manifest.json'} ({e}); {remedy}") from None
    if manifest.get("training_hash") != train_hash:
        return
    for name in ("model.pt", "history.json"):
        if not (final / name).exists():
            return
    # the files the manifest promises, byte for byte: an edited model is never reused
    check_recorded(final, ("model.pt", "history.json"), remedy)
    load_model(config, final / "model.pt", torch.device("cpu"), spec)  # a corrupt one: one line naming it
    try:
        read_json(final / "history.json")
    except ValueError as e:
        raise UserError(f"corrupt {final / 'history.json'} ({e}); restore it or run with --retrain"
                        ) from None
    adopt_trained_model(final, run_dir, manifest.get("wall_seconds", {}), log)
    log(f"[{final.name}] found a model with the same training hash in {final}")


def adopt_trained_model(source: Path, run_dir: Path, timings: dict, log) -> None:
    """Copy a checked model.pt and history.json into ``run_dir``, with the train stage's time."""
    for name in ("history.json", "model.pt"):
        shutil.copyfile(source / name, run_dir / name)
        record_checksum(run_dir, name, log)
    write_json(run_dir / "timings.json", {k: v for k, v in timings.items() if k == "train"})


def share_cached_target(run_dir: Path, train_hash: str, retrain: Retrain, log,
                         config: ExperimentConfig, spec: data_mod.DatasetSpec) -> None:
    """Experiments with the same recipe, seed and data (another name, another bank) attack the
    same target: copy its trained model from the other experiment's run directory instead of
    training it again (the scores, seconds to compute, are computed again). With --retrain,
    only a model this run has trained again."""
    if (run_dir / "model.pt").exists():
        return
    for other in sorted(run_dir.parent.glob(f"*-{train_hash[:16]}")):
        if other == run_dir or not retrain.trained_here(other) or not all((other / f).exists() for f in ("model.pt", "history.json")):
            continue
        try:
            if not all(unchanged_since_written(other, f, log) for f in ("model.pt", "history.json")):
                continue  # that experiment's own run repairs it
            load_model(config, other / "model.pt", torch.device("cpu"), spec)
            read_json(other / "history.json")
        except (UserError, ValueError):
            continue  # that experiment's own run names or repairs it
        adopt_trained_model(other, run_dir, read_json_or(other / "timings.json", {}, log), log)
        log(f"[{config.name}] found a model with the same training hash in {other}")
        return
