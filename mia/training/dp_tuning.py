"""How the defences study chose DP-SGD's hyperparameters (``invoke dp-tuning`` ->
``results/dp-tuning/``): a small, declared search on a validation split, written down so that a
reader sees what was tried.

The search, fixed before any run:

    base     the defences study's undefended experiment (experiments/frontier-none.toml, seed 0):
             its data, canaries and LeNet-5, with recipe "dp_adam" at epsilon = 4, delta = 1e-5
    split    VALIDATION images drawn (seeded) from the target's members (no canary): never
             trained on; the run trains on the rest of what the target would train on
    stage 1  every (learning rate, clipping norm C, expected batch size) of GRID at
             STAGE1_EPOCHS epochs
    stage 2  stage 1's best setting by final validation accuracy, at each of STAGE2_EPOCHS
             (the noise is calibrated to the whole run, so a run of E epochs is its own run,
             not a prefix of a longer one)
    choice   the best of all runs by final validation accuracy

Each run's noise multiplier makes the run (4, 1e-5)-DP for its own number of steps and sampling
rate on its own training images. The search itself is not accounted for (Papernot and Steinke,
"Hyperparameter tuning with Renyi differential privacy", ICLR 2022): the frontier's epsilons are
those of one training run with the chosen settings, as in most published DP-SGD results. The
same settings serve every epsilon of the frontier (tuned at 4 only: the CPU budget).

Each finished run is kept in ``runs/<key>.json`` of the output folder, so an interrupted search
resumes with the runs it has.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import config as config_mod
from .. import datasets as data_mod
from .. import membership as membership_mod
from ..locations import REPO
from ..io import read_json, sha256_json, write_json, write_text
from ..manifest import environment, git_commit, now
from ..parallel import available_cpus
from .engine import evaluate, to_tensor
from .private import private_parts, run_private_epoch

BASE_EXPERIMENT = "frontier-none"
EPSILON, DELTA = 4.0, 1e-5
VALIDATION = 5000
VALIDATION_STREAM = 0x7A11D
# (learning rate, clipping norm, expected batch size)
GRID = ((1e-3, 1.0, 512), (2e-3, 1.0, 512), (2e-3, 0.5, 512), (2e-3, 1.0, 1024),
        (4e-3, 1.0, 1024))
STAGE1_EPOCHS = 10
STAGE2_EPOCHS = (5, 20)


def split(config: config_mod.ExperimentConfig, dataset: data_mod.Dataset,
          n_validation: int = VALIDATION) -> tuple[np.ndarray, np.ndarray]:
    """(train positions, validation positions) among the experiment's training images: the
    validation images are ``n_validation`` of the target's evaluated members (no canary),
    drawn from the seed; the train positions are the rest of what the target trains on."""
    membership = membership_mod.membership_of(config, len(dataset.y_train))
    members = np.flatnonzero(membership.evaluated_mask())
    rng = np.random.default_rng([config.seed, VALIDATION_STREAM])
    validation = np.sort(rng.choice(members, size=n_validation, replace=False))
    train = np.setdiff1d(np.flatnonzero(membership.trained_mask()), validation)
    return train, validation


def run_config(base: config_mod.ExperimentConfig, lr: float, clip: float, batch: int,
               epochs: int) -> config_mod.ExperimentConfig:
    train = dataclasses.replace(base.train, recipe="dp_adam", learning_rate=lr,
                                dp_max_grad_norm=clip, batch_size=batch, epochs=epochs,
                                dp_epsilon=EPSILON, dp_delta=DELTA)
    return dataclasses.replace(base, train=train)


def one_run(cfg: config_mod.ExperimentConfig, x: torch.Tensor, y: torch.Tensor,
            train: np.ndarray, x_val: torch.Tensor, y_val: torch.Tensor, spec) -> dict:
    """Train ``cfg`` on ``x[train]`` from its seed; the validation accuracy after each epoch."""
    t = cfg.train
    subset = torch.from_numpy(train)
    model, wrapped, optimizer, accountant = private_parts(
        t, cfg.seed, len(subset), x.device, spec.input_shape, spec.num_classes)
    started, curve = time.perf_counter(), []
    for epoch in range(1, t.epochs + 1):
        run_private_epoch(t, cfg.seed, epoch, wrapped, optimizer, accountant, x, y, subset)
        curve.append(evaluate(model, x_val, y_val)[1])
    return {"learning_rate": t.learning_rate, "max_grad_norm": t.dp_max_grad_norm,
            "batch_size": t.batch_size, "epochs": t.epochs,
            "noise_multiplier": float(optimizer.noise_multiplier),
            "epsilon_rdp": float(accountant.get_epsilon(delta=t.dp_delta)),
            "validation_accuracy": curve[-1], "validation_curve": curve,
            "seconds": round(time.perf_counter() - started, 1)}


def search(out: Path, data_dir: str | None = None, experiments_dir: Path | None = None,
           log: Callable[[str], None] = print, grid=GRID, stage1_epochs: int = STAGE1_EPOCHS,
           stage2_epochs=STAGE2_EPOCHS, n_validation: int = VALIDATION) -> dict:
    """Run (or resume) the search into ``out``; returns what ``tuning.json`` holds. The
    keyword arguments after ``log`` are the module's search (tests make it small)."""
    torch.set_num_threads(available_cpus())
    experiments = experiments_dir or config_mod.EXPERIMENTS_DIR
    base = config_mod.load(Path(experiments) / f"{BASE_EXPERIMENT}.toml", seed=0)
    dataset = data_mod.load(base.data.dataset, data_dir)
    spec = dataset.spec
    train, validation = split(base, dataset, n_validation)
    x = to_tensor(dataset.x_train, torch.device("cpu"), spec)
    y = torch.from_numpy(dataset.y_train)
    x_val, y_val = x[validation], y[validation]
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)

    def run(lr, clip, batch, epochs) -> dict:
        cfg = run_config(base, lr, clip, batch, epochs)
        key = sha256_json({"train": dataclasses.asdict(cfg.train), "seed": cfg.seed,
                           "validation": validation.tolist(), "n_train": len(train)})[:16]
        path = runs_dir / f"{key}.json"
        if path.exists():
            return read_json(path)
        log(f"dp-tuning: lr {lr:g}, C {clip:g}, batch {batch}, {epochs} epochs ...")
        result = one_run(cfg, x, y, train, x_val, y_val, spec)
        log(f"dp-tuning:   validation accuracy {result['validation_accuracy']:.4f} "
            f"({result['seconds']:.0f} s)")
        write_json(path, result)
        return result

    stage1 = [run(lr, clip, batch, stage1_epochs) for lr, clip, batch in grid]
    best1 = max(stage1, key=lambda r: r["validation_accuracy"])
    stage2 = [run(best1["learning_rate"], best1["max_grad_norm"], best1["batch_size"], e)
              for e in stage2_epochs]
    chosen = max(stage1 + stage2, key=lambda r: r["validation_accuracy"])
    summary = {"base_experiment": BASE_EXPERIMENT, "seed": base.seed, "epsilon": EPSILON,
               "delta": DELTA, "n_train": int(len(train)), "n_validation": n_validation,
               "stage1": stage1, "stage2": stage2, "chosen": chosen,
               "not_accounted": "the search's runs are not counted in any epsilon "
                                "(Papernot and Steinke 2022)",
               "data": dataset.source}
    write_json(out / "tuning.json", summary)
    write_text(out / "tuning.md", table(summary))
    write_json(out / "manifest.json", {"what": "DP-SGD hyperparameter search (mia.training.dp_tuning)",
                                       "written": now(), "git": git_commit(REPO),
                                       "environment": environment(torch.device("cpu")),
                                       "files": ["tuning.json", "tuning.md"]})
    return summary


def table(summary: dict) -> str:
    """tuning.md: every run, the chosen one marked."""
    lines = [f"# DP-SGD settings tried (epsilon = {summary['epsilon']:g}, delta = {summary['delta']:g})",
             "",
             f"{summary['n_train']:,} training images of `{summary['base_experiment']}` "
             f"(seed {summary['seed']}); validation accuracy on {summary['n_validation']:,} of its "
             f"members held out of training. {summary['not_accounted'][0].upper()}{summary['not_accounted'][1:]}.",
             "", "| stage | learning rate | C | batch | epochs | sigma | validation accuracy | seconds |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for stage in ("stage1", "stage2"):
        for r in summary[stage]:
            mark = " **chosen**" if r == summary["chosen"] else ""
            lines.append(f"| {stage[-1]} | {r['learning_rate']:g} | {r['max_grad_norm']:g} | "
                         f"{r['batch_size']} | {r['epochs']} | {r['noise_multiplier']:.3f} | "
                         f"{100 * r['validation_accuracy']:.2f}%{mark} | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"
