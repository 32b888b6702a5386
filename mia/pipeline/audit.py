"""The one-run audit's stage (``mia.privacy_audit``): an experiment's canaries scored by its
``[calibrated] audit_attack`` with its references, and the lower bound on epsilon that their
coins give (``audit.json``)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from .. import datasets as data_mod, membership as membership_mod, privacy_audit
from ..attacks import TargetView, build as build_attack, parse_row, row_key
from ..config import ExperimentConfig
from ..io import (code_version, read_json, record_checksum, sha256_file, sha256_json,
                  unchanged_since_written, write_json)
from ..membership import Canaries
from ..training import bank as bank_mod, engine as train_mod
from .stages import load_model


# The code of the audit's result from the weights: a change to it changes ``audit_key``.
AUDIT_CODE = ("mia/privacy_audit.py", "mia/membership.py", "mia/attacks/__init__.py",
              "mia/attacks/base.py", "mia/training/bank.py", "mia/training/engine.py")
# RMIA's z for the audit's attack: this share of the test images (the calibrated evaluation's
# protocol (a) takes a quarter too), drawn from the experiment's seed.
AUDIT_POPULATION_FRACTION = 4
AUDIT_Z_STREAM = 0xA0D1


def audit_key(config: ExperimentConfig, run_dir: Path, bank_dir: Path, canaries: Canaries) -> str:
    """What determines audit.json: the target's weights, the bank, the canaries and their
    coins, the attack and its references, delta and the code."""
    attack = parse_row(config.calibrated.audit_attack)
    return sha256_json({"target": sha256_file(run_dir / "model.pt"),
                        "bank": read_json(bank_dir / "bank.json").get("bank_hash"),
                        "keep": sha256_file(bank_dir / "keep.npz"), "seed": config.seed,
                        "canaries": [canaries.index.tolist(), canaries.included.tolist()],
                        "attack": row_key(*attack[:3]),
                        "references": config.calibrated.references or config.bank.models,
                        "delta": config.train.dp_delta, "code": code_version(AUDIT_CODE)})


def audit_stage(config: ExperimentConfig, dataset: data_mod.Dataset, run_dir: Path,
                bank_dir: Path, canaries: Canaries, device: torch.device, log) -> dict:
    """The one-run audit (``mia.privacy_audit``) of the target: ``[calibrated] audit_attack``
    scores each canary with the bank's first ``[calibrated] references`` models (RMIA's z: a
    seeded quarter of the test images), and the canaries' coins give epsilon-hat at delta =
    ``[train] dp_delta``. Cached in ``run_dir`` under ``audit_key``; only the canaries' and
    z's logits are computed (the bank's full logits are not needed)."""
    key = audit_key(config, run_dir, bank_dir, canaries)
    cached = run_dir / f"audit-{key[:16]}.json"
    if cached.exists() and unchanged_since_written(run_dir, cached.name, log):
        try:
            return read_json(cached)
        except (OSError, ValueError):
            log(f"warning: unreadable {cached}; auditing again")
    cached.unlink(missing_ok=True)
    t0 = time.perf_counter()
    bank_config = membership_mod.bank_config(config)
    images, labels = bank_mod.population(dataset, bank_config)
    n_train, n_test = len(dataset.y_train), len(dataset.y_test)
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, AUDIT_Z_STREAM]))
    z = np.sort(n_train + rng.permutation(n_test)[: n_test // AUDIT_POPULATION_FRACTION])
    columns = np.concatenate([canaries.index, z])
    spec = dataset.spec
    x = train_mod.to_tensor(images[columns], device, spec)
    target = bank_mod.augmented_logits(load_model(config, run_dir / "model.pt", device, spec), x,
                                       spec).numpy()
    refs = config.calibrated.references or config.bank.models
    models = bank_mod.load_models(bank_config, bank_dir, device, spec)[:refs]
    ref_logits = np.stack([bank_mod.augmented_logits(m, x, spec).numpy() for m in models])
    keep = bank_mod.read_keep(bank_dir / "keep.npz")[0][:refs][:, columns]
    name, options, views, _ = parse_row(config.calibrated.audit_attack)
    m = canaries.m
    lab = labels[columns]
    attacked, zs = slice(0, m), slice(m, len(columns))  # the canaries, then z (known non-members)
    view = TargetView(target[:, attacked], lab[attacked], ref_logits[:, :, attacked],
                      keep[:, attacked], target[:, zs], lab[zs], ref_logits[:, :, zs],
                      keep[:, zs]).augmentations(views)
    scores = build_attack(name, **options).fit(view).score(view)
    result = privacy_audit.audit(scores, canaries.included, config.train.dp_delta).to_dict()
    result.update(attack=row_key(name, options, views), references=refs, population_z=len(z),
                  seconds=round(time.perf_counter() - t0, 3))
    log(f"[{config.name}] audit: {m} canaries ({int(canaries.included.sum())} kept), "
        f"{result['attack']} on {refs} references: epsilon >= "
        f"{result['epsilon_lower_bound']:.3f} at delta = {config.train.dp_delta:g} "
        f"({result['confidence']:.0%} confidence)")
    write_json(cached, result)
    record_checksum(run_dir, cached.name, log)
    return result
