"""What a run will train, said before it trains: a run that would train for longer than
LONG_TRAINING_SECONDS on CPU stops first, in one line, with what it would train, why, and
about how long, unless it is told to go on (``invoke experiments --train``). It never waits
for an answer, so a script or CI never hangs."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import ExperimentConfig
from ..datasets import Dataset
from ..errors import UserError
from ..io import read_json
from ..membership import bank_config
from ..recipes import get as recipe_of
from ..training import bank as bank_mod, bank_training
from ..training.jobs import TrainingJob, trajectory_hash
from .experiment import experiment_dataset

# LeNet-5 training throughput on this project's 2-core machine: a bank of 16 models, each 100
# epochs on 30,000 images, took 55 min (results/baseline/manifest.json, wall_seconds.bank):
# 16 x 100 x 30,000 / 3,300 s = 14,500 images a second. An estimate for other machines and
# architectures, no more.
IMAGES_PER_SECOND = 14_000
LONG_TRAINING_SECONDS = 10 * 60


@dataclass(frozen=True)
class Planned:
    """Training a run would do: what, about how long, and why it cannot reuse a model."""

    what: str          # said in full where the run stops
    seconds: float
    why: str
    kind: str          # "target" or "bank"
    models: int = 1


def _committed(results: Path) -> dict | None:
    try:
        found = read_json(results / "manifest.json")
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _why(dataset: Dataset, committed: dict | None, hash_key: str, wanted: str) -> str:
    """Why a model cannot be reused, said the same way for every experiment it applies to."""
    if committed is None:
        return "there is no trained model for it in the cache or in the results"
    data = committed.get("data", {})
    theirs = data.get("key", data.get("sha256"))
    if theirs != dataset.key:
        notes = f", {data['notes']}" if data.get("notes") else ""
        return (f"your data ({dataset.source.get('path')}, sha256 {_short(dataset.key)}) is not "
                f"the data the committed models were made from ({data.get('path')}, sha256 "
                f"{_short(theirs)}{notes})")
    if committed.get(hash_key) != wanted:
        return "its training settings differ from the committed results'"
    return "the committed model is missing"


def _short(key) -> str:
    """The first 12 hex digits of a data key ({file: sha256} or {"arrays_sha256": ...})."""
    values = sorted(key.values()) if isinstance(key, dict) else [str(key)]
    return "/".join(v[:12] for v in values)


def planned_training(configs: list[ExperimentConfig], data: dict[str, Dataset],
                     results_root: Path, reuse_root: Path | None, cache_root: Path) -> list[Planned]:
    """The targets and bank models that ``configs`` would train, each once (experiments
    share targets and banks by hash). Runs of one trajectory (a recipe whose shorter runs are
    prefixes of its longer ones: ``trajectory_hash``, ``bank_training.snapshot_dir_for``) are counted
    once, for the epochs of the longest: the others start from or end at its snapshots."""
    planned, seen = [], set()
    covered: dict[object, int] = {}  # trajectory -> epochs already counted

    def epochs_to_count(trajectory, epochs: int) -> int:
        if trajectory is None:
            return epochs
        before = covered.get(trajectory, 0)
        covered[trajectory] = max(before, epochs)
        return max(0, epochs - before)
    for config in configs:
        dataset = experiment_dataset(config, data[config.data.dataset])
        source = (reuse_root or results_root) / config.name
        committed = _committed(source)
        train_hash = TrainingJob.target(config, dataset.key).key()
        runs = cache_root / "runs"
        have_target = (
            any((d / "model.pt").exists() for d in runs.glob(f"*-{train_hash[:16]}"))
            or committed is not None and committed.get("training_hash") == train_hash
            and (source / "model.pt").exists())
        if not have_target and train_hash not in seen:
            seen.add(train_hash)
            # a recipe whose runs are not prefixes keeps its epochs in the key: its own trajectory
            trajectory = trajectory_hash(config, dataset.key)
            planned.append(Planned(
                f"the target of {config.name} ({config.train.epochs} epochs on "
                f"{len(dataset.y_train):,} images)",
                epochs_to_count(trajectory, config.train.epochs) * len(dataset.y_train)
                / IMAGES_PER_SECOND * recipe_of(config.train.recipe).relative_cpu_cost,
                _why(dataset, committed, "training_hash", train_hash), "target"))
        k = config.bank.models
        if not k:
            continue
        config = bank_config(config)  # the bank's key, without the target's canaries
        bank_dir = bank_mod.bank_dir_for(config, dataset, cache_root)
        if bank_dir in seen:
            continue
        seen.add(bank_dir)
        n = bank_mod.population_size(config, dataset)
        wanted = bank_mod.bank_hash(config, dataset.key, n)
        try:
            committed_bank = read_json(source / "bank" / "bank.json").get("bank_hash")
        except (OSError, ValueError, AttributeError):
            committed_bank = None
        if committed_bank == wanted:
            continue
        missing = sum(not bank_mod.model_path(bank_dir, m).exists() for m in range(k))
        if missing:
            keeps = bank_mod.keeps_per_model(config, dataset)
            planned.append(Planned(
                f"{missing} bank models of {config.name} ({config.train.epochs} epochs on "
                f"{keeps:,} images each)",
                missing * keeps / IMAGES_PER_SECOND * epochs_to_count(
                    bank_training.snapshot_dir_for(config, dataset, cache_root), config.train.epochs)
                * recipe_of(config.train.recipe).relative_cpu_cost,
                _why(dataset, committed, "config_hash", config.hash()), "bank", missing))
    return planned


def check_training_time(planned: list[Planned], cores: int) -> None:
    """UserError, one line, where ``planned`` would take longer than LONG_TRAINING_SECONDS on
    ``cores`` CPU cores (the throughput taken to grow with them, an estimate)."""
    seconds = sum(p.seconds for p in planned) * 2 / max(cores, 1)
    if seconds <= LONG_TRAINING_SECONDS:
        return
    targets = sum(p.models for p in planned if p.kind == "target")
    bank = sum(p.models for p in planned if p.kind == "bank")
    what = " and ".join(x for x in (f"{targets} target{'s' * (targets != 1)}" if targets else "",
                                    f"{bank} bank model{'s' * (bank != 1)}" if bank else "") if x)
    raise UserError(
        f"this run would train {what} ({'; '.join(p.what for p in planned)}): about "
        f"{_duration(seconds)} on {cores} CPU cores (estimated at {IMAGES_PER_SECOND:,} images a "
        f"second on 2), because {'; '.join(dict.fromkeys(p.why for p in planned))}. To go on, "
        f"add --train (make TRAIN=1); to reuse the committed models instead, run on the data "
        f"they were made from (`invoke data --jpeg-copy` rebuilds it; README, 'Data')")


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"
