"""Training the reference bank's models (``bank``: what the bank is and how it is read).

Each model is a job (``jobs.TrainingJob``: the recipe with the model's seed, and its row of the
keep-matrix), done by an executor in the three parts of a ``jobs.Work``:

    inputs   here: the model's snapshot to start from, if its trajectory has one (below)
    compute  anywhere (``train_models``, a function of its arguments only): trains the batch
             and returns each model's weights as bytes, their sha256 and its end snapshot
    commit   here: writes each model file atomically, records its checksum, its snapshot and
             its training time in bank.json

so that a model trained on another machine (``ray_executor``) lands in this machine's cache
exactly as one trained here, and its weights are bitwise the same (the CPU trainer's weights
do not depend on how many models share the workers: ``many_models._loop``).

Training resumes at model granularity: models whose files exist are not trained again, so
an interrupted bank loses at most the models in flight (one per CPU worker, or per task).

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
import hashlib
import io
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..architectures import weights_bytes
from ..config import ExperimentConfig, TrainConfig
from ..datasets import DatasetSpec
from ..errors import UserError
from ..io import (read_json, record_checksum, sha256_json, unchanged_since_written, write_bytes,
                  write_json, write_npz)
from ..keep import model_seeds
from ..recipes import RECIPES
from . import engine as train_mod
from .bank import (LOGITS_FILE, bank_hash, bank_seed, check_stored_keep, keeps_per_model,
                   load_state, make_keep, model_path, population, population_size, read_keep)
from .jobs import Executor, LocalExecutor, TrainingJob, Work, images_memory
from .many_models import choose_strategy, train_many, train_many_from


def bank_trajectory_key(config: ExperimentConfig, dataset) -> str | None:
    """The bank's hash without the number of epochs, for a recipe whose shorter runs are
    prefixes of its longer ones (see the module's docstring): banks that differ only in epochs
    share it, and their snapshots; None for any other recipe (its banks never start from a
    snapshot)."""
    if not RECIPES[config.train.recipe].epochs_are_prefixes:
        return None
    n = population_size(config, dataset)
    any_length = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=1))
    return sha256_json({"bank": bank_hash(any_length, dataset.key, n), "trajectory": True})


def snapshot_dir_for(config: ExperimentConfig, dataset, cache_root: Path) -> Path | None:
    """Where the bank's models leave and find their snapshots (``bank_trajectory_key``)."""
    key = bank_trajectory_key(config, dataset)
    return None if key is None else cache_root / "bank-trajectories" / key[:16]


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


@dataclasses.dataclass(frozen=True)
class BankInputs:
    """What every model of a bank reads: ``Work.shared``, sent to a cluster once. The images
    stay uint8 (a quarter of their float size in transit); each batch normalises them itself
    (``engine.to_tensor``: the same floats wherever it runs)."""

    train: TrainConfig
    images: np.ndarray      # (N, H, W, C) uint8: the population
    labels: np.ndarray      # (N,) int64
    keep: np.ndarray        # (K, N) bool
    spec: DatasetSpec
    device: str             # "cpu", or "cuda" where the batch runs on a GPU
    snapshots: bool         # the models start from and leave trajectory snapshots


@dataclasses.dataclass(frozen=True)
class TrainedModel:
    """One model's result, as ``train_models`` returns it to be committed."""

    row: int
    weights: bytes          # ``architectures.weights_bytes`` of its state dict
    sha256: str             # of ``weights``: checked again when committed
    seconds: float          # its share of the batch's wall time
    start_epoch: int | None  # the snapshot it started from
    snapshot: bytes | None  # its end snapshot (``torch.save`` of epoch, weights, optimizer)


def train_models(shared: BankInputs, batch: list[TrainingJob], starts: list[dict | None] | None
                 ) -> list[TrainedModel]:
    """``Work.compute`` of a bank: train the batch's models (each its row of the keep-matrix,
    its own seed, from ``starts[i]`` where given) and return them as bytes. Reads and writes
    nothing else, so it runs the same on this machine or a cluster worker."""
    device = torch.device(shared.device)
    x = train_mod.to_tensor(shared.images, device, shared.spec)
    y = torch.from_numpy(np.asarray(shared.labels, dtype=np.int64)).to(device)
    rows = [int(job.subset["row"]) for job in batch]
    keep = torch.from_numpy(np.asarray(shared.keep)[rows])
    seeds = [int(job.training["seed"]) for job in batch]
    t0 = time.perf_counter()
    if not shared.snapshots or choose_strategy("auto", device, len(batch)) != "loop":
        starts = [None] * len(batch)
        ends = [{"model": state} for state in train_many(
            shared.train, seeds, keep, x, y, progress=False, num_classes=shared.spec.num_classes)]
    else:
        starts = starts or [None] * len(batch)
        ends = train_many_from(shared.train, seeds, keep, x, y, starts,
                               num_classes=shared.spec.num_classes)
    seconds = (time.perf_counter() - t0) / len(batch)
    out = []
    for row, start, end in zip(rows, starts, ends):
        weights = weights_bytes(end["model"])
        snapshot = None
        if shared.snapshots and "optimizer" in end:
            buf = io.BytesIO()
            torch.save(end, buf)
            snapshot = buf.getvalue()
        out.append(TrainedModel(row, weights, hashlib.sha256(weights).hexdigest(), seconds,
                                None if start is None else int(start["epoch"]), snapshot))
    return out


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
    epochs = config.train.epochs

    def starts(batch: list[TrainingJob]) -> list[dict | None] | None:
        """Each model's latest snapshot of its trajectory (read here, sent with the batch)."""
        if snapshots is None or choose_strategy("auto", device, len(batch)) != "loop":
            return None
        found = [latest_snapshot(snapshots, job.subset["row"], epochs, log) for job in batch]
        for job, start in zip(batch, found):
            if start is not None:
                log(f"[{config.name}] bank: model {job.subset['row']} starts from its epoch-"
                    f"{start['epoch']} snapshot ({snapshots})")
        return found

    def commit(batch: list[TrainingJob], trained: list[TrainedModel]) -> None:
        started = info.pop("trained_from_epoch", {})  # a model trained again replaces its entry
        for job, model in zip(batch, trained, strict=True):
            if model.row != job.subset["row"] or hashlib.sha256(model.weights).hexdigest() != model.sha256:
                raise RuntimeError(f"bank model {job.subset['row']}: the weights that came back "
                                   f"are not those its job computed")
            if snapshots is not None and model.snapshot is not None:
                path = snapshot_path(snapshots, model.row, epochs)
                path.parent.mkdir(parents=True, exist_ok=True)
                write_bytes(path, model.snapshot)
                record_checksum(path.parent, path.name, log)
            write_bytes(bank_dir / job.artifact, model.weights)
            record_checksum(bank_dir, job.artifact, log)
            row = str(model.row)
            info["train_seconds"][row] = round(model.seconds, 3)
            started.pop(row, None)
            if model.start_epoch is not None:
                started[row] = model.start_epoch
        if started:  # only written when a model started from a snapshot
            info["trained_from_epoch"] = started
        write_json(bank_dir / "bank.json", info)

    work = Work(compute=train_models, commit=commit, inputs=starts, label=f"[{config.name}] bank",
                shared=BankInputs(config.train, images, labels, keep, dataset.spec, device.type,
                                  snapshots is not None), memory=images_memory(images))
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
