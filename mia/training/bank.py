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

Training resumes at model granularity: models whose files exist are not trained again, so
an interrupted bank loses at most the models in flight (one per CPU worker).

Banks of one recipe that differ only in their number of epochs share a trajectory
(``snapshot_dir_for``, ``<cache>/bank-trajectories/<hash[:16]>/``): each model trained by the
loop strategy leaves its snapshot there (``model-007/epoch-0020.pt``: weights and the Adam
state), and a longer bank's model starts from the longest snapshot of its own (seed, row,
recipe) that it would pass through. For a recipe whose epochs are prefixes (Adam) the weights
are bitwise those of a run from the seed, so banks of 20, 25, 50 and 100 epochs cost 100 epochs
per model in all, and their hashes are unchanged. bank.json's ``trained_from_epoch`` records
which models started from a snapshot (their ``train_seconds`` then count only the epochs
trained here).
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import schemas
from ..architectures import build, weights_bytes
from ..config import ExperimentConfig
from ..errors import UserError
from ..io import (atomic_path, read_checked, read_json, record_checksum, recorded_checksums, sha256_json,
                  unchanged_since_written, write_bytes, write_json, write_npy, write_npz)
from ..keep import (attacker_keep, check_attacker_keep, check_keep, fold_keep, model_seeds,
                    shadow_size)
from ..manifest import check_recorded
from ..recipes import RECIPES
from . import engine as train_mod
from .jobs import Executor, LocalExecutor, TrainingJob
from .many_models import choose_strategy, train_many, train_many_from

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


def snapshot_dir_for(config: ExperimentConfig, dataset, cache_root: Path) -> Path | None:
    """Where the bank's models leave and find their snapshots: the bank's hash without the
    number of epochs, for a recipe whose shorter runs are prefixes of its longer ones (see the
    module's docstring); None for any other recipe (its banks never start from a snapshot)."""
    if not RECIPES[config.train.recipe].epochs_are_prefixes:
        return None
    n = population_size(config, dataset)
    any_length = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=1))
    key = sha256_json({"bank": bank_hash(any_length, dataset.key, n), "trajectory": True})
    return cache_root / "bank-trajectories" / key[:16]


def snapshot_path(snapshots: Path, row: int, epoch: int) -> Path:
    return snapshots / f"model-{row:03d}" / f"epoch-{epoch:04d}.pt"


def latest_snapshot(snapshots: Path, row: int, epochs: int, log) -> dict | None:
    """Model ``row``'s snapshot at the latest epoch up to ``epochs`` that loads and is the file
    that was written (its sha256 recorded then); another is removed (with a warning) and the
    next earlier one tried."""
    folder = snapshots / f"model-{row:03d}"
    found = sorted((int(p.stem.split("-")[1]), p) for p in folder.glob("epoch-*.pt")
                   if p.stem.split("-")[1].isdigit())
    for epoch, path in reversed([(e, p) for e, p in found if e <= epochs]):
        if not unchanged_since_written(folder, path.name, log):  # it warns
            path.unlink(missing_ok=True)
            continue
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if int(state["epoch"]) != epoch or not isinstance(state["model"], dict):
                raise ValueError(f"holds epoch {state['epoch']}")
            return state
        except Exception as e:  # noqa: BLE001 - any unreadable snapshot is dropped, not used
            log(f"warning: unreadable bank snapshot {path} ({type(e).__name__}); removed it")
            path.unlink(missing_ok=True)
    return None


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


def train_bank(config: ExperimentConfig, dataset, bank_dir: Path, device: torch.device,
               progress: bool = True, log=print, executor: Executor | None = None,
               snapshots: Path | None = None) -> dict:
    """Train the models of the bank that ``bank_dir`` lacks, as jobs (``jobs.TrainingJob``) on
    ``executor`` (default: this machine); return bank.json's content. With ``snapshots``
    (``snapshot_dir_for``), models trained by the loop strategy start from and leave snapshots
    there (the module's docstring)."""
    k = config.bank.models
    images, labels = population(dataset, config)
    n = len(labels)
    bank_dir.mkdir(parents=True, exist_ok=True)
    seed = bank_seed(config)
    keep, seeds = make_keep(config, dataset, seed), model_seeds(seed, k)
    keep_file = bank_dir / "keep.npz"
    try:
        stored = read_keep(keep_file)
    except ValueError as e:  # the cache's copy: regenerated from the seed
        log(f"warning: {e}; writing it again from the seed")
        stored = None
    if stored is not None:
        check_stored_keep(stored[0], config, dataset, str(keep_file))
        if not (np.array_equal(stored[0], keep) and np.array_equal(stored[1], seeds)):
            raise UserError(f"{keep_file}: the keep-matrix or seeds differ from those of seed "
                            f"{seed}; delete {bank_dir} or run with --retrain")
    else:
        write_npz(keep_file, keep=keep, seeds=seeds)
    info = {"bank_hash": bank_hash(config, dataset.key, n), "models": k,
            "folds": config.bank.folds, "keeps": keeps_per_model(config, dataset),
            "population": n, "population_order": "training images, then test images"
            + (", then the attacker's images (the training images outside the members)"
               if config.bank.population == "attacker" else ""),
            "recipe": config.training_key()["train"], "seeds": seeds.tolist(),
            "train_seconds": {}, "device": str(device)}
    try:  # the per-model wall times of earlier attempts, and where they ran
        earlier = read_json(bank_dir / "bank.json")
        info["train_seconds"] = dict(earlier["train_seconds"])
        info["device"] = str(earlier.get("device", info["device"]))
        if earlier.get("trained_from_epoch"):  # only written when a model started from a snapshot
            info["trained_from_epoch"] = dict(earlier["trained_from_epoch"])
    except FileNotFoundError:
        earlier = None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        log(f"warning: unreadable {bank_dir / 'bank.json'} ({type(e).__name__}); writing it "
            f"again (the training times it held are lost)")
        earlier = None
    if earlier != info:  # missing, unreadable, or written before a field was added
        write_json(bank_dir / "bank.json", info)
    jobs = [TrainingJob.reference(config, dataset.key, int(seeds[m]), info["bank_hash"], m,
                                  model_path(bank_dir, m).name) for m in range(k)]
    pending = [job for job in jobs if not _cached(job, bank_dir, config.name, log)]
    if not pending:
        return {**info, "trained_this_run": 0}
    log(f"[{config.name}] bank: training {len(pending)} of {k} models ({config.train.epochs} "
        f"epochs, {info['keeps']:,} images each) on {device}"
        + (f"; {k - len(pending)} already trained" if len(pending) < k else ""))
    (bank_dir / LOGITS_FILE).unlink(missing_ok=True)  # computed from the models being replaced
    x = train_mod.to_tensor(images, device, dataset.spec)
    y = torch.from_numpy(labels).to(device)
    keep_t = torch.from_numpy(keep)

    epochs = config.train.epochs

    def work(batch: list[TrainingJob]) -> None:
        rows = [job.subset["row"] for job in batch]
        job_seeds = [int(job.training["seed"]) for job in batch]
        t0 = time.perf_counter()
        if snapshots is None or choose_strategy("auto", device, len(batch)) != "loop":
            starts = [None] * len(batch)
            states = train_many(config.train, job_seeds, keep_t[rows], x, y, progress=False,
                                num_classes=dataset.spec.num_classes)
        else:
            starts = [latest_snapshot(snapshots, row, epochs, log) for row in rows]
            for row, start in zip(rows, starts):
                if start is not None:
                    log(f"[{config.name}] bank: model {row} starts from its epoch-"
                        f"{start['epoch']} snapshot ({snapshots})")
            ends = train_many_from(config.train, job_seeds, keep_t[rows], x, y, starts,
                                   num_classes=dataset.spec.num_classes)
            for row, end in zip(rows, ends):
                path = snapshot_path(snapshots, row, epochs)
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(path) as tmp:
                    torch.save(end, tmp)
                record_checksum(path.parent, path.name, log)
            states = [end["model"] for end in ends]
        seconds = (time.perf_counter() - t0) / len(batch)
        started = info.pop("trained_from_epoch", {})  # a model trained again replaces its entry
        for job, state, start in zip(batch, states, starts):
            write_bytes(bank_dir / job.artifact, weights_bytes(state))
            record_checksum(bank_dir, job.artifact, log)
            row = str(job.subset["row"])
            info["train_seconds"][row] = round(seconds, 3)
            started.pop(row, None)
            if start is not None:
                started[row] = int(start["epoch"])
        if started:  # only written when a model started from a snapshot
            info["trained_from_epoch"] = started
        write_json(bank_dir / "bank.json", info)

    # CPU: one model per worker thread (each runs its shards serially: the same weights)
    executor = executor or LocalExecutor(train_mod.cpu_workers().n if device.type == "cpu"
                                         else len(pending))
    with tqdm(total=k, initial=k - len(pending), desc=f"{config.name}: bank", unit="model",
              disable=not progress) as bar:
        executor.run(pending, work, on_batch=lambda batch: bar.update(len(batch)))
    return {**info, "trained_this_run": len(pending)}  # for the manifest, not bank.json


def _cached(job: TrainingJob, bank_dir: Path, name: str, log) -> bool:
    """True if the job's model file loads and is the file that was written; another one is
    removed, to be trained again."""
    path = bank_dir / job.artifact
    if path.exists() and unchanged_since_written(bank_dir, job.artifact, log) and load_state(path) is not None:
        return True
    if path.exists():
        log(f"[{name}] bank: model file {path} is unreadable or changed; training model "
            f"{job.subset['row']} again")
        path.unlink()
    return False


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
