"""Experiments side by side when their training runs on a cluster (``--executor ray``).

Run here, experiments run one after another: this machine's cores are the limit. With a
cluster, each experiment's training (its target, its bank) waits on the cluster's workers,
so experiments that share nothing run at once, each in a thread of this process that sends
its jobs and waits for them; scoring, the attacks and the figures stay here.

Experiments share something when they share a bank (one bank, trained once, under its lock),
a training trajectory (a longer run starts from a shorter one's snapshot) or a bank's
trajectory (the same for banks that differ only in epochs): those run one after another in
one group, shortest first, as a local run orders them (``groups``). Groups run concurrently,
at most ``--side-by-side`` at a time (default ``MAX_CONCURRENT``; each holds its dataset's
images in memory here: about 0.8 GB for CIFAR-10). Nothing computed depends on the order or
the concurrency; only the interleaving of the log lines does (each names its experiment).
pyplot's state is one per process: the figures are drawn one experiment at a time
(``results.DRAWING``).
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from ..config import ExperimentConfig
from ..datasets import Dataset
from ..errors import UserError
from ..membership import bank_config
from ..training import bank as bank_mod, bank_training
from ..training.jobs import trajectory_hash
from .experiment import experiment_dataset

MAX_CONCURRENT = 4  # the default of --side-by-side


def side_by_side(n: int | None, remote: bool) -> int:
    """How many groups run at once: ``n`` (``--side-by-side``), else ``MAX_CONCURRENT``. Only a
    cluster runs experiments side by side: ``n`` without one, or below 1, is refused."""
    if n is None:
        return MAX_CONCURRENT
    if not remote:
        raise UserError(f"--side-by-side {n} needs --executor ray: a local run trains one "
                        f"experiment at a time, on this machine's cores")
    if n < 1:
        raise UserError(f"--side-by-side must be at least 1, got {n}")
    return n


def _shared_keys(config: ExperimentConfig, dataset: Dataset) -> list[str]:
    """What an experiment may share with another: its training trajectory, its bank, and its
    bank's trajectory (banks that differ only in epochs share their models' snapshots)."""
    used = experiment_dataset(config, dataset)
    keys = [f"trajectory {trajectory_hash(config, used.key)}"]
    if config.bank.models:
        bank = bank_config(config)
        keys.append(f"bank {bank_mod.bank_hash(bank, used.key, bank_mod.population_size(bank, used))}")
        if (key := bank_training.bank_trajectory_key(bank, used)) is not None:
            keys.append(f"bank trajectory {key}")
    return keys


def groups(configs: list[ExperimentConfig], data: dict[str, Dataset]) -> list[list[ExperimentConfig]]:
    """``configs`` (in run order) cut into groups that share no bank and no trajectory; each
    group keeps the run order. Union-find over the shared keys."""
    parent = list(range(len(configs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, config in enumerate(configs):
        for key in _shared_keys(config, data[config.data.dataset]):
            if key in owner:
                parent[root(i)] = root(owner[key])
            else:
                owner[key] = i
    found: dict[int, list[ExperimentConfig]] = {}
    for i, config in enumerate(configs):
        found.setdefault(root(i), []).append(config)
    return list(found.values())


def run_groups(grouped: list[list[ExperimentConfig]], run_one: Callable[[ExperimentConfig], Path],
               at_once: int = MAX_CONCURRENT) -> dict[str, Path]:
    """``run_one`` over every group's experiments, the groups in threads, ``at_once`` at a
    time; every group runs to its end (or its error) before the first error is raised,
    so no finished work is lost. The threads are daemons: Ctrl-C ends the command as in a
    local run (every artifact is written atomically, and results are swapped in whole)."""
    done: dict[str, Path] = {}
    errors: list[BaseException] = []
    slots = threading.Semaphore(at_once)

    def run_group(group: list[ExperimentConfig]) -> None:
        with slots:
            try:
                for config in group:
                    done[config.name] = run_one(config)
            except BaseException as e:  # noqa: BLE001 - raised below, after the other groups
                errors.append(e)

    threads = [threading.Thread(target=run_group, args=(group,), daemon=True,
                                name=f"mia-experiments-{i}") for i, group in enumerate(grouped)]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():  # in steps, so that Ctrl-C reaches this thread
            thread.join(timeout=0.5)
    if errors:
        raise errors[0]
    return done
