"""The reference-model bank: K models of the target's recipe, each on a random half of a population.

The population is every image the study has (the 50,000 training and 10,000 test images of
CIFAR-10, in that order: index i < 50,000 is training image i). Models come in rounds of F
(``[bank] folds``): each round splits the population into F random folds, and its model j
leaves out fold F - 1 - j. So

    every model keeps exactly N (F - 1) / F samples (the many-models trainer needs equal
    subsets), and every sample is OUT for exactly one model of each round.

F = 2 (the default) is the complementary-pair design of the RMIA code
(privacytrustlab/ml_privacy_meter): model 2j keeps a random half and model 2j+1 the other
half, every sample is IN for exactly K/2 models, which is the balanced keep-matrix of the
LiRA code without its per-model size jitter. F = 6 keeps 50,000 of CIFAR-10's 60,000 images,
the target's own training-set size. A leave-one-out attack that drops the target's whole
round sees every sample IN for exactly (K/F - 1)(F - 1) of the remaining models, members and
non-members alike, so no statistic can read membership from the count of IN references
(``calibrated.loo_view`` relies on this).

Stage outputs, in ``<cache>/banks/<bank hash[:16]>/`` (shared by every experiment whose bank it is):

    keep.npz        keep (K, N) bool, seeds (K,) uint32
    bank.json       K, N, the recipe, the seeds, wall times
    model-007.pt    model 7's state dict, written as soon as it is trained
    logits-float64.npy  (K, A, N, C) float32, computed in float64 (``engine.LOGITS``): every
                    model's logits on every sample, plain and under the dataset's test-time
                    augmentations (CIFAR-10: flipped left-right, A = 2); recomputed from the
                    weights, never committed
    checksums.json  the sha256 of each model file and of the logits as written: a cached file
                    whose bytes changed since (one that still loads included) is not used, but
                    trained or computed again, with a warning

The models are trained by ``bank_training.train_bank``; this module is what the calibrated
stage reads (the population, the keep-matrix, the models and their logits), and so what its
results are keyed by (``pipeline.stages.CALIBRATED_CODE``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import schemas
from ..architectures import build
from ..config import ExperimentConfig
from ..errors import UserError
from ..io import (read_checked, record_checksum, recorded_checksums, sha256_json,
                  unchanged_since_written, write_npy)
from ..keep import (attacker_keep, check_attacker_keep, check_keep, fold_keep, shadow_size)
from ..manifest import check_recorded
from . import engine as train_mod


def bank_seed(config: ExperimentConfig) -> int:
    """The seed of the bank's keep-matrix and models: ``[bank] seed``, else the experiment's."""
    return config.bank.seed_for(config.seed)


def bank_hash(config: ExperimentConfig, data_key, n: int) -> str:
    """Everything that determines the bank's weights: the recipe, K, the population, the bank's
    seed and the data. Not the target's seed: targets of one recipe trained with several seeds
    share the bank of one ``[bank] seed``. When that is unset the bank's seed is the
    experiment's, which gives the key every bank was committed under."""
    folds = config.bank.folds
    # folds = 2 keeps the key that the paired banks were committed under
    design = {"pairs": "complementary halves"} if folds == 2 else {"folds": folds}
    if config.bank.population == "attacker":  # a new design: a key of its own
        design = {"population": "attacker", "pairs": "disjoint draws of the attacker's images"}
    return sha256_json({"bank": {"models": config.bank.models, "population": n, **design},
                        "training": config.training_key(seed=bank_seed(config)),
                        "data_sha256": data_key})


def model_path(bank_dir: Path, k: int) -> Path:
    return bank_dir / f"model-{k:03d}.pt"


def population(dataset, config: ExperimentConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The bank's population: the training images (the members), then the test images (uint8
    HWC, labels); for a shadow bank ([bank] population = "attacker"), then the attacker's own
    images (``Dataset.rest``), ``attacker_range`` of it."""
    parts = [(dataset.x_train, dataset.y_train), (dataset.x_test, dataset.y_test)]
    if config is not None and config.bank.population == "attacker":
        parts.append(attacker_data(dataset))
    return (np.concatenate([x for x, _ in parts]),
            np.concatenate([y for _, y in parts]).astype(np.int64))


def attacker_data(dataset) -> tuple[np.ndarray, np.ndarray]:
    if dataset.rest is None or len(dataset.rest[1]) < 2:
        raise UserError("a shadow bank ([bank] population = \"attacker\") needs the training "
                        "images outside the members: [data] train_fraction below 1")
    return dataset.rest


def attacker_range(dataset) -> range:
    """The attacker's images' indices in a shadow bank's population."""
    start = len(dataset.y_train) + len(dataset.y_test)
    return range(start, start + len(attacker_data(dataset)[1]))


def population_size(config: ExperimentConfig, dataset) -> int:
    n = len(dataset.y_train) + len(dataset.y_test)
    return n + (len(attacker_range(dataset)) if config.bank.population == "attacker" else 0)


def keeps_per_model(config: ExperimentConfig, dataset) -> int:
    """How many images each bank model trains on."""
    if config.bank.population == "attacker":
        return shadow_size(len(dataset.y_train), len(attacker_range(dataset)))
    return population_size(config, dataset) * (config.bank.folds - 1) // config.bank.folds


def make_keep(config: ExperimentConfig, dataset, seed: int) -> np.ndarray:
    k, n = config.bank.models, population_size(config, dataset)
    if config.bank.population == "attacker":
        return attacker_keep(k, n, attacker_range(dataset), keeps_per_model(config, dataset), seed)
    return fold_keep(k, n, config.bank.folds, seed)


def check_stored_keep(keep: np.ndarray, config: ExperimentConfig, dataset, where: str) -> None:
    k, n = config.bank.models, population_size(config, dataset)
    if config.bank.population == "attacker":
        check_attacker_keep(keep, k, n, attacker_range(dataset), keeps_per_model(config, dataset),
                            where)
    else:
        check_keep(keep, k, n, where, config.bank.folds)


def read_keep(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(keep, seeds) from a keep.npz, None if it is missing; ValueError if it is unreadable."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return f["keep"], f["seeds"]
    except Exception as e:  # noqa: BLE001 - BadZipFile, KeyError, ValueError, OSError
        raise ValueError(f"unreadable {path} ({type(e).__name__})") from None


def load_state(path: Path) -> dict[str, torch.Tensor] | None:
    """A model file's state dict, or None if it is missing or unreadable."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable file is retrained
        return None
    return state if isinstance(state, dict) else None


def load_models(config: ExperimentConfig, bank_dir: Path, device: torch.device, spec
                ) -> list[torch.nn.Module]:
    """The bank's K models (of ``spec``'s input shape and classes), in evaluation mode."""
    models = []
    for m in range(config.bank.models):
        state = load_state(model_path(bank_dir, m))
        if state is None:
            raise UserError(f"bank model {model_path(bank_dir, m)} is missing or unreadable; "
                            f"run the experiment again to retrain it")
        model = build(config.train.architecture, spec.input_shape, spec.num_classes,
                      **config.train.model_options())
        model.load_state_dict(state)
        models.append(model.to(device).eval())
    return models


# How each test-time augmentation a dataset declares (DatasetSpec.test_time_augmentations)
# transforms a batch of (N, C, H, W) images.
AUGMENT = {"hflip": lambda x: x.flip(3)}


LOGITS_FILE = "logits-float64.npy"  # the bank's logits, computed in float64 (engine.LOGITS)


def augmented_logits(model: torch.nn.Module, x: torch.Tensor, spec) -> torch.Tensor:
    """(A, N, C) float32 (computed in float64: ``engine.evaluation_logits``): logits of the
    images as they are, then under each of the dataset's test-time augmentations (CIFAR-10:
    flipped left-right, so A = 2)."""
    views = [x] + [AUGMENT[a](x) for a in spec.test_time_augmentations]
    return torch.stack([train_mod.evaluation_logits(model, v) for v in views]).cpu()


def bank_logits(config: ExperimentConfig, dataset, bank_dir: Path, device: torch.device,
                progress: bool = True, log=print) -> np.ndarray:
    """(K, A, N, C) float32 logits of every bank model on the population (cached, and checked
    against the sha256 recorded when written); A: the image as it is and its test-time
    augmentations (``augmented_logits``)."""
    path = bank_dir / LOGITS_FILE
    (bank_dir / "logits.npy").unlink(missing_ok=True)  # float32-computed, before LOGITS_FILE
    k, n = config.bank.models, population_size(config, dataset)
    if path.exists() and recorded_checksums(bank_dir, log).get(LOGITS_FILE) is None:
        log(f"warning: {path} has no recorded sha256; computing the logits again")
    elif path.exists() and unchanged_since_written(bank_dir, LOGITS_FILE, log):
        try:
            logits = np.load(path, allow_pickle=False)
            if logits.shape[:3] == (k, 1 + len(dataset.spec.test_time_augmentations), n):
                return logits
        except (OSError, ValueError):
            pass
        log(f"warning: unreadable {path}; computing the logits again")
    images, _ = population(dataset, config)
    x = train_mod.to_tensor(images, device, dataset.spec)
    out = np.stack([augmented_logits(model, x, dataset.spec).numpy()
                    for model in tqdm(load_models(config, bank_dir, device, dataset.spec),
                                      desc=f"{config.name}: bank logits", unit="model",
                                      disable=not progress)])
    write_npy(path, out)
    record_checksum(bank_dir, LOGITS_FILE, log)
    return out


def bank_dir_for(config: ExperimentConfig, dataset, cache_root: Path) -> Path:
    """``<cache>/banks/<bank hash[:16]>``: one folder per bank, whichever experiments use it."""
    return cache_root / "banks" / bank_hash(config, dataset.key, population_size(config, dataset))[:16]


FILES = ("keep.npz", "bank.json")


def copy_bank(src: Path, dst: Path, k: int) -> None:
    """The bank's committed part (keep-matrix, bank.json, weights), without the logits."""
    import shutil

    dst.mkdir(parents=True, exist_ok=True)
    for name in (*FILES, *(model_path(src, m).name for m in range(k))):
        shutil.copyfile(src / name, dst / name)


def seed_from_results(config: ExperimentConfig, dataset, committed: Path, bank_dir: Path, log) -> bool:
    """A fresh clone has results/<experiment>/bank but no cache: copy it in when its bank hash
    matches and every model loads. True if it did."""
    k = config.bank.models
    if (bank_dir / "keep.npz").exists() or not (committed / "bank.json").exists():
        return False
    n = population_size(config, dataset)
    remedy = "restore it from git or run with --retrain"
    info = read_checked(committed / "bank.json", schemas.BANK, remedy,
                        what="committed bank description")
    if info["bank_hash"] != bank_hash(config, dataset.key, n):
        return False
    # the files the experiment's manifest promises, byte for byte (results/<experiment>/bank)
    check_recorded(committed.parent, [f"{committed.name}/{name}" for name in
                                      (*FILES, *(model_path(committed, m).name for m in range(k)))],
                   remedy)
    for m in range(k):
        if load_state(model_path(committed, m)) is None:
            raise UserError(f"committed bank model {model_path(committed, m)} is missing or "
                            f"unreadable; restore it from git or run with --retrain")
    try:
        stored = read_keep(committed / "keep.npz")
    except ValueError:
        stored = None
    if stored is None:
        raise UserError(f"committed keep-matrix {committed / 'keep.npz'} is missing or unreadable; "
                        f"restore it from git or run with --retrain")
    check_stored_keep(stored[0], config, dataset, str(committed / "keep.npz"))
    copy_bank(committed, bank_dir, k)
    log(f"[{config.name}] bank: found {k} models with the same bank hash in {committed}")
    return True
