"""``invoke experiments``: validate every input, load each dataset once, run the experiments,
then write the results of every study that compares them (``results/studies/<name>/``)."""
from __future__ import annotations

import tempfile
from pathlib import Path

from ..config import ExperimentConfig
from .. import config as config_mod, datasets as data_mod, experiment_index, figure_index
from ..errors import UserError
from ..experiment_files import expand
from ..training import engine as train_mod
from ..training.ray_executor import executor_for
from . import concurrent
from .experiment import (check_augmentations, check_memory, check_sizes, experiment_dataset,
                         quick_changes, run_experiment)
from .paths import DEFAULT_CACHE, DEFAULT_RESULTS
from .plan import check_training_time, planned_training
from .results import closing_summary
from .reuse import Retrain
from .study_stage import studies_of, write_studies


def check_writable(folder: Path) -> None:
    """Fail before any work if ``folder`` cannot hold results (a file, or not writable)."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} is a file, not a folder: give another --results-dir")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise UserError(f"cannot write to {folder} ({e.strerror})") from None


def run(names: list[str] | None, data_dir: str | None, device: str, quick: bool,
        results_root: Path | None, cache_root: Path = DEFAULT_CACHE, retrain: bool = False,
        progress: bool = True, experiments_dir: Path = config_mod.EXPERIMENTS_DIR,
        threads: int | None = None, log=print, reuse_root: Path | None = None,
        studies_dir: Path | None = None, train: bool = True, executor: str = "local",
        ray_address: str | None = None, side_by_side: int | None = None) -> list[Path]:
    """Everything ``invoke experiments`` does. All input is validated before anything runs.
    ``reuse_root``: results whose trained models may be reused (default ``results_root``).
    ``train``: False stops, in one line and before any work, a run that would train on CPU for
    longer than ``plan.LONG_TRAINING_SECONDS`` (``invoke experiments`` without ``--train``).
    ``executor``: where the targets and the banks' models train: ``local`` (this machine) or
    ``ray`` (Ray's local instance, or the cluster at ``ray_address`` or ``RAY_ADDRESS``:
    ``training.ray_executor``); the results do not depend on it. ``side_by_side``: with a
    cluster, how many experiments that share nothing run at once (``concurrent.side_by_side``).
    ``studies_dir``: the study files (default ``experiments_dir/studies``, whose experiments
    are ``experiments_dir``'s files); each study that compares an experiment of this run is
    written after them. Returns the experiments' results folders.

    On CPU, training and scoring run on ``threads`` worker threads (default: every available
    core), each with one PyTorch thread; the attack fits and the figures run on as many worker
    processes (on any device). The results do not depend on how many (``training.engine.ShardedStep``,
    ``parallel``).
    """
    if threads is not None and threads < 1:
        raise UserError(f"threads must be >= 1, got {threads}")
    if threads is not None and threads > train_mod.available_cpus():
        log(f"warning: --threads {threads} starts {threads} worker processes (about 200 MB "
            f"each) on {train_mod.available_cpus()} available cores; more cannot run faster")
    # a sweep's name stands for all its members (mia.experiment_files)
    names = expand(names, experiments_dir) if names else config_mod.available(experiments_dir)
    if not names:
        raise UserError(f"no experiments in {experiments_dir}")
    configs = [config_mod.load_named(n, experiments_dir) for n in names]
    found = studies_of(names, experiments_dir,
                       experiments_dir / "studies" if studies_dir is None else studies_dir)
    if results_root is None:
        results_root = DEFAULT_RESULTS / "quick" if quick else DEFAULT_RESULTS
    for root in (results_root, cache_root):
        check_writable(root)
    dev = train_mod.resolve_device(device)
    training_executor = executor_for(executor, ray_address, dev.type, log)
    at_once = concurrent.side_by_side(side_by_side, remote=training_executor is not None
                                      and training_executor.remote)
    if dev.type == "cpu":
        workers = train_mod.configure_cpu(threads)
    else:
        workers = threads or train_mod.available_cpus()
    # every experiment loads its own dataset, each dataset once
    data = {name: data_mod.load(name, data_dir) for name in sorted({c.data.dataset for c in configs})}
    if quick:
        smaller = [config_mod.quick(c, len(data[c.data.dataset].y_train),
                                    len(data[c.data.dataset].y_test)) for c in configs]
        for full_config, small in zip(configs, smaller):
            log(quick_changes(full_config, small))
        configs = smaller
    for c in configs:
        full = data[c.data.dataset]
        used = experiment_dataset(c, full)  # [data] classes, train_fraction, max_*: exact sizes
        sizes = len(used.y_train), len(used.y_test)
        check_sizes(c, *sizes)
        check_memory(c, sizes[0] + sizes[1], full.spec)
        check_augmentations(c, full.spec)
    if not train and not retrain and dev.type == "cpu":
        check_training_time(planned_training(configs, data, results_root, reuse_root, cache_root),
                            train_mod.available_cpus())
    for dataset in data.values():
        if dataset.source.get("notes"):
            log(f"data: {dataset.source['path']}: {dataset.source['notes']}")
    # Shorter runs first: a longer run of the same trajectory then starts from their snapshot
    # (stages.resume_from_snapshot); the order changes no result.
    ordered = sorted(configs, key=lambda c: c.train.epochs)
    fresh = Retrain(retrain)  # with --retrain, a target or bank two experiments share trains once
    def run_one(c: ExperimentConfig, progress: bool = progress) -> Path:
        return run_experiment(c, data[c.data.dataset], results_root, cache_root, dev, fresh,
                              progress, log, workers, reuse_root, training_executor)
    if training_executor is not None and training_executor.remote:
        # the cluster trains: experiments that share no bank or trajectory run side by side
        # (progress bars off: lines from several experiments would garble them)
        grouped = concurrent.groups(ordered, data)
        log(f"ray: {len(ordered)} experiments in {len(grouped)} groups that share nothing, "
            f"up to {at_once} at a time")
        done = concurrent.run_groups(grouped, lambda c: run_one(c, progress=False), at_once)
    else:
        done = {c.name: run_one(c) for c in ordered}
    paths = [done[c.name] for c in configs]
    write_studies(found, results_root, log)
    figure_index.write(results_root, log)
    experiment_index.write(results_root, log)
    log(closing_summary(paths))
    return paths
