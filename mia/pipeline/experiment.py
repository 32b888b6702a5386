"""One experiment from start to finish: size checks, reuse, the stages, the results."""
from __future__ import annotations

import dataclasses
import errno
import os
import shutil
from pathlib import Path

import torch

from .. import manifest as manifest_mod, membership as membership_mod, scores as scores_mod
from ..config import ExperimentConfig
from ..attacks import row_key
from ..datasets import Dataset, DatasetSpec
from ..errors import UserError
from ..evaluation.threshold import attack_stage, attacker_counts, full_roc_stage
from ..io import read_json, record_checksum, recover_swap, write_bytes, write_json
from ..parallel import release_freed_memory
from ..locking import exclusive
from ..training import bank as bank_mod, bank_training, engine as train_mod
from ..training.jobs import LocalExecutor, TrainingJob, Work, trajectory_hash
from .paths import REPO
from .results import REFERENCE_ACCURACY, ExperimentRun, write_results
from .reuse import (Retrain, drop_corrupt_cache, read_json_or, seed_cache_from_results,
                    share_cached_target)
from . import target_job
from .audit import audit_stage
from .stages import (SNAPSHOT, bank_stage, calibrated_stage, computed_scores, engine_settings,
                     experiment_rows, load_model, load_scores, npz_names, per_sample_stage,
                     resume_from_snapshot, scores_stage, timed_stage, train_stage)


def experiment_dataset(config: ExperimentConfig, full: Dataset) -> Dataset:
    """The images an experiment uses of its dataset: ``[data] classes`` and
    ``train_fraction``, then ``max_train`` and ``max_test``."""
    d = config.data
    if d.classes or d.train_fraction != 1:
        full = full.restrict(d.classes, d.train_fraction)
    return full.subset(d.max_train, d.max_test)


def experiment_sizes(config: ExperimentConfig, n_train: int, n_test: int,
                     num_classes: int = 0) -> tuple[int, int]:
    """The members and non-members an experiment uses of a dataset of ``n_train`` training
    and ``n_test`` test images (``[data] max_train`` and ``max_test``, 0 keeping all). With
    ``[data] classes`` of a dataset of ``num_classes`` balanced classes, an estimate (the
    loaded data's own counts are exact: ``experiment_dataset``)."""
    d = config.data
    if d.classes and num_classes:
        n_train, n_test = n_train * d.classes // num_classes, n_test * d.classes // num_classes
    n_train = int(round(d.train_fraction * n_train))
    return min(d.max_train or n_train, n_train), min(d.max_test or n_test, n_test)


MIN_EVAL_PER_CLASS = 10  # below this an accuracy moves in steps of 5 points or more


def check_sizes(config: ExperimentConfig, n_m: int, n_n: int) -> None:
    """Fail before any work if a sampling percentage cannot be drawn from ``n_m`` members and
    ``n_n`` non-members (the experiment's training and test images), or leaves fewer than
    MIN_EVAL_PER_CLASS of either to evaluate on, or if the bank's population does not split
    into its folds."""
    folds = config.bank.folds
    if config.bank.models and config.bank.population == "all" and (n_m + n_n) % folds:
        raise UserError(f"[bank] folds = {folds}: the population of {n_m + n_n} images "
                        f"({n_m} training + {n_n} test) does not split into {folds} equal folds; "
                        f"change [data] max_test or [bank] folds")
    for p in config.attack.sampling_percentages:
        k_m, k_n = attacker_counts(n_m, n_n, p)
        n_eval = min(n_m - k_m, n_n - k_n)
        if n_eval < MIN_EVAL_PER_CLASS:
            raise UserError(f"sampling percentage {p:g} leaves {n_eval} samples per class to "
                            f"evaluate on ({n_m} members, {n_n} non-members); need at least "
                            f"{MIN_EVAL_PER_CLASS}")


def check_augmentations(config: ExperimentConfig, spec: DatasetSpec) -> None:
    """Fail before any work if a calibrated row asks for a test-time flip that the dataset does
    not declare (a flipped digit is another image, not the same one)."""
    if not config.bank.models or "hflip" in spec.test_time_augmentations:
        return
    rows, power_rows = experiment_rows(config, spec)  # the defaults need no flip
    if config.bank.population == "attacker":  # a shadow bank draws no power curve
        power_rows = ()
    for name, options, augmentations in (*rows, *power_rows):
        if augmentations > 1:
            raise UserError(f"[calibrated] row {row_key(name, options, augmentations)!r} flips "
                            f"the images, but {spec.title} has no test-time flip; drop /flip")


def physical_memory() -> int:
    """This machine's memory in bytes (0 where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:,.3g} {unit}"
        n /= 1024


def check_memory(config: ExperimentConfig, population: int, spec: DatasetSpec,
                 memory: int | None = None) -> None:
    """Fail before any work where the bank's logits alone (K models x views x images x classes,
    float32, held whole by the calibrated evaluation) exceed this machine's memory."""
    k = config.bank.models
    memory = physical_memory() if memory is None else memory
    views = 1 + len(spec.test_time_augmentations)
    need = 4 * k * views * population * spec.num_classes
    if k and memory and need > memory:
        raise UserError(f"[bank] models = {k:,} needs {_bytes(need)} for the bank's logits alone "
                        f"({k:,} models x {views} views x {population:,} images x "
                        f"{spec.num_classes} classes, float32); this machine has {_bytes(memory)}")


def quick_changes(full: ExperimentConfig, quick: ExperimentConfig) -> str:
    """What --quick changed of ``full``, in one line."""
    changes = [f"{quick.data.max_train:,} training and {quick.data.max_test:,} test images",
               f"{full.train.epochs} -> {quick.train.epochs} epochs",
               f"sampling percentages {list(full.attack.sampling_percentages)} -> "
               f"{list(quick.attack.sampling_percentages)}, {quick.attack.repeats} repeats"]
    if full.bank.models != quick.bank.models:
        changes.append(f"[bank] models {full.bank.models:,} -> {quick.bank.models}")
    return f"[{full.name}] --quick: " + "; ".join(changes)


def run_experiment(config: ExperimentConfig, dataset: Dataset, results_root: Path,
                   cache_root: Path, device: torch.device, retrain: bool | Retrain = False,
                   progress: bool = True, log=print, workers: int = 1,
                   reuse_root: Path | None = None, executor=None) -> Path:
    """Train (or reuse), score, attack, plot and report one experiment into ``results_root``.

    A model in ``reuse_root/<experiment>`` (default ``results_root``) with the same training
    hash seeds an empty cache. The attack fits and the figures run on ``workers`` processes;
    nothing depends on how many. One run per experiment at a time: a second one, on the same
    results or the same cache, is refused with the first one's pid and host (``locking``).
    ``retrain``: ``--retrain``, or what it has cleared so far in this run (``reuse.Retrain``).
    ``executor``: where the target and the bank's models train (``training.jobs.Executor``;
    default here).
    """
    retrain = retrain if isinstance(retrain, Retrain) else Retrain(bool(retrain))
    with exclusive(results_root / f".{config.name}.lock", f"results/{config.name} ({results_root})"), \
            exclusive(cache_root / "runs" / f".{config.name}.lock", f"the cache of {config.name}"):
        recover_swap(results_root / config.name, log)
        return _run_experiment(config, dataset, results_root, cache_root, device, retrain,
                               progress, log, workers, reuse_root, executor)


def _run_experiment(config, dataset, results_root, cache_root, device, retrain, progress, log,
                    workers, reuse_root, executor) -> Path:
    dataset = experiment_dataset(config, dataset)
    # canaries and held-out images (mia.membership): the target trains on ``trained``,
    # membership is evaluated on ``evaluated``; the bank's population is every image of
    # ``dataset`` either way
    membership = membership_mod.membership_of(config, len(dataset.y_train))
    canaries = membership.canaries
    trained, evaluated = membership_mod.trained(dataset, membership), membership_mod.evaluated(dataset, membership)
    check_sizes(config, len(evaluated.y_train), len(evaluated.y_test))
    git = manifest_mod.git_commit(REPO)  # the code this run starts from
    started = manifest_mod.now()
    job = TrainingJob.target(config, dataset.key)  # the target, as data; its key is the training hash
    train_hash = job.key()
    run_dir = cache_root / "runs" / f"{config.name}-{train_hash[:16]}"
    final = results_root / config.name
    snapshots = cache_root / "trajectories" / trajectory_hash(config, dataset.key)[:16]
    retrain.clear(run_dir)
    retrain.clear(snapshots)  # once: a longer run of the trajectory starts from this run's
    run_dir.mkdir(parents=True, exist_ok=True)
    spec = dataset.spec
    drop_corrupt_cache(config, run_dir, log, spec)
    seed_cache_from_results((reuse_root or results_root) / config.name, run_dir, train_hash,
                             retrain, log, config, spec)
    share_cached_target(run_dir, train_hash, retrain, log, config, spec)
    # Wall times of the stages that produced the cached outputs (seeded from the results'
    # manifest on a fresh clone): a reused stage keeps the time it took when it ran.
    timings = read_json_or(run_dir / "timings.json", {}, log)

    def reused(stage: str) -> None:
        timings[stage] = dict(timings.get(stage, {"seconds": None}), reused=True)
        log(f"[{config.name}] {stage}: reusing {run_dir}")
    if (run_dir / "model.pt").exists() and (run_dir / "history.json").exists():
        reused("train")
    else:
        for stale in ("scores.npz", "target.json"):
            (run_dir / stale).unlink(missing_ok=True)
        log(f"[{config.name}] train: {config.train.epochs} epochs on {device} "
            f"({len(trained.y_train)} train / {len(dataset.y_test)} test images)")
        stops_early = bool(config.train.early_stopping_patience)
        if not stops_early:  # a stopped run's checkpoint is no epoch's snapshot of its length
            resume_from_snapshot(config, run_dir, snapshots, log)
        held_out = membership_mod.held_out(dataset, membership) if stops_early else None
        with timed_stage(timings, "train"):  # the same executor seam as the bank's models
            if executor is not None and executor.remote:  # the run folder travels with the job
                target_executor = dataclasses.replace(executor, cpus=config.train.cpu_shards,
                                                      batch=1)
                target_executor.run([job], target_job.remote_work(
                    config, trained, run_dir, device, held_out, log))
            else:  # here, in the run folder, with a checkpoint after every epoch
                LocalExecutor().run([job], Work(compute=lambda *_: train_stage(
                    config, trained, run_dir, device, progress, log, held_out=held_out),
                    commit=lambda *_: None))
        if not stops_early:
            write_bytes(snapshots / f"epoch-{config.train.epochs:04d}.pt",
                        (run_dir / train_mod.CHECKPOINT).read_bytes())
            record_checksum(snapshots, f"epoch-{config.train.epochs:04d}.pt", log)
        # After a resume, this attempt's time is only part of the work: record the epochs'
        # time over all attempts, and how many attempts there were (a shorter run's snapshot
        # is not an attempt of this run: its epoch is recorded instead).
        state = torch.load(run_dir / train_mod.CHECKPOINT, map_location="cpu", weights_only=True)
        snapshot = read_json_or(run_dir / SNAPSHOT, None, log)
        attempts = int(state.get("attempts", 1)) - (snapshot or {}).get("attempts", 0)
        engine = engine_settings(config, device)
        if executor is not None and executor.remote and "cpu_workers" in engine:
            engine.update(executor="ray", cpu_workers=config.train.cpu_shards)  # the task's own
        timings["train"].update(
            device=str(device), attempts=attempts,
            epochs_seconds_all_attempts=round(sum(h["seconds"] for h in state["history"]), 3),
            **({"from_snapshot_epoch": snapshot["epoch"]} if snapshot else {}), **engine)
        write_json(run_dir / "timings.json", timings)

    have = npz_names(run_dir / "scores.npz")
    cached = read_json_or(run_dir / "target.json", {}, log)  # what the cached scores came from
    if (all(s in have for s in config.attack.scores)
            and cached.get("scores_version") == scores_mod.VERSION
            and cached.get("logits") == train_mod.LOGITS):
        reused("scores")
    else:
        log(f"[{config.name}] scores: {len(computed_scores(config))} scores of "
            f"{len(evaluated.y_train) + len(evaluated.y_test):,} samples on {device}")
        with timed_stage(timings, "scores"):
            scores_stage(config, evaluated, run_dir, device, log)
        write_json(run_dir / "timings.json", timings)
    scores = load_scores(run_dir / "scores.npz")

    calibrated = audit = per_sample = None
    bank_config = membership_mod.bank_config(config)  # the bank does not depend on the canaries
    if config.bank.models:
        bank_dir = bank_mod.bank_dir_for(bank_config, dataset, cache_root)
        # a bank is shared by every experiment of its recipe, population and bank seed
        with exclusive(bank_dir.parent / f".{bank_dir.name}.lock", f"the bank {bank_dir}"):
            retrain.clear(bank_dir)  # a bank shared by two experiments retrains once
            # the bank's trajectory: a longer bank of the same recipe starts from its snapshots
            bank_snapshots = (bank_training.snapshot_dir_for(bank_config, dataset, cache_root)
                              if not config.train.early_stopping_patience else None)
            if bank_snapshots is not None:
                retrain.clear(bank_snapshots)
            committed = None if retrain.enabled else (reuse_root or results_root) / config.name / "bank"
            bank_stage(bank_config, dataset, bank_dir, committed, device, progress, log, timings,
                       bank_snapshots, executor)
            # calibrated results are taken only from the folder this run replaces, never from
            # reuse_root: `invoke verify` (which reuses the reference's models) recomputes them
            calibrated = calibrated_stage(config, dataset, run_dir, bank_dir, device, progress,
                                          log, timings,
                                          None if retrain.enabled else results_root / config.name,
                                          membership)
            if canaries is not None:  # the one-run audit of the training run, on its canaries
                with timed_stage(timings, "audit"):
                    audit = audit_stage(config, dataset, run_dir, bank_dir, canaries, device, log)
            if config.calibrated.per_sample:  # the rows' scores, for comparisons across targets
                with timed_stage(timings, "per_sample"):
                    per_sample = per_sample_stage(config, dataset, run_dir, bank_dir, membership,
                                                  device, progress, log)

    log(f"[{config.name}] attack: {len(config.attack.scores)} scores x "
        f"{len(config.attack.sampling_percentages)} percentages x {config.attack.repeats} repeats")
    with timed_stage(timings, "attack"):
        attack = attack_stage(config, scores, progress, workers, label=f"{config.name}: attack")
        roc_all = full_roc_stage(config, scores)
    timings["attack"]["workers"] = workers
    target = read_json(run_dir / "target.json")
    # the trained weights' count, for comparisons of architectures (study 004)
    target["parameters"] = sum(p.numel() for p in load_model(
        config, run_dir / "model.pt", torch.device("cpu"), dataset.spec).parameters())
    if config.data.dataset in REFERENCE_ACCURACY:
        target["reference"] = REFERENCE_ACCURACY[config.data.dataset]
    history = read_json(run_dir / "history.json")
    metrics = {
        "experiment": config.name, "description": config.description,
        "config_hash": config.hash(), "training_hash": train_hash,
        "data_notes": dataset.source.get("notes", ""),
        "target": target, "all_samples": roc_all, "attack": attack,
    }

    staging = results_root / f".{config.name}.staging"  # a stray one was removed by recover_swap
    staging.mkdir(parents=True)
    run = ExperimentRun(config, dataset, run_dir, final, staging, train_hash, git, started, device,
                        progress, workers, log, timings,
                        bank_mod.bank_dir_for(bank_config, dataset, cache_root) if config.bank.models
                        else None, membership)
    try:
        write_results(run, scores, history, metrics, calibrated, audit, per_sample)
    except OSError as e:
        if e.errno == errno.ENOSPC:  # one line, not three chained tracebacks
            raise UserError(f"no space left on device while writing {e.filename or staging}; "
                            f"the previous results in {final} are intact") from None
        raise
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    release_freed_memory()  # the next experiment starts without this one's freed arrays
    log(f"[{config.name}] wrote {final}")
    return final
