"""Training jobs as data, and the executor that runs the pending ones.

A ``TrainingJob`` is everything that determines one trained model, small and serialisable
(``to_dict``/``from_dict``): the recipe and data settings with the seed (``training``, as
``ExperimentConfig.training_key`` gives them under the hash rule), the data's key (the
checksum of what it was loaded from, ``Dataset.key``), which images it trains on (``subset``:
the target's training images, or a row of a bank's keep-matrix) and the artifact it writes.
Its ``key()`` is the hash of all that; a target's is the training hash its cache folder and
manifest carry.

A stage lists its jobs, keeps those whose artifact is not cached (or does not load), and hands
them to an executor with a ``Work``: how a batch of jobs is done, in the parts an executor may
run in different places. ``inputs`` and ``commit`` run where the stage runs (they read and
write its cache); ``compute`` trains, anywhere: it is a module-level function of ``shared``
(what every job reads, the images: a cluster receives it once), the batch and its inputs,
and returns the artifacts' bytes, which ``commit`` writes. ``LocalExecutor`` runs the batches
on this machine, one after another (a bank: one model per CPU worker); ``ray_executor.RayExecutor``
sends them to a Ray cluster as tasks. Nothing about a job's result depends on which executor
ran it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, ClassVar, Protocol

from ..config import ExperimentConfig
from ..io import sha256_json
from ..recipes import RECIPES

TRAINING_IMAGES = "training images"


@dataclass(frozen=True)
class TrainingJob:
    training: dict           # {"seed", "data", "train"}: ExperimentConfig.training_key()
    data_key: Any            # Dataset.key: what the data was loaded from
    subset: str | dict = TRAINING_IMAGES  # or {"bank": <bank hash>, "row": k}
    artifact: str = "model.pt"  # the file it writes, relative to its stage's folder

    @classmethod
    def target(cls, config: ExperimentConfig, data_key) -> "TrainingJob":
        """The experiment's target: its recipe and seed on its training images."""
        return cls(config.training_key(), data_key)

    @classmethod
    def reference(cls, config: ExperimentConfig, data_key, seed: int, bank_hash: str, row: int,
                  artifact: str) -> "TrainingJob":
        """Model ``row`` of a bank: the recipe with the model's own seed, on the images its
        row of the keep-matrix keeps."""
        return cls(config.training_key(seed=seed), data_key, {"bank": bank_hash, "row": row},
                   artifact)

    def key(self) -> str:
        """The hash of everything that determines the weights. A target's is the training
        hash (its cache folder and manifest), unchanged from before jobs were data."""
        if self.subset == TRAINING_IMAGES:
            return sha256_json({"training": self.training, "data_sha256": self.data_key})
        return sha256_json({"training": self.training, "data_sha256": self.data_key,
                            "subset": self.subset})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainingJob":
        return cls(**d)


@dataclass(frozen=True)
class Work:
    """How a stage's pending jobs are done.

    ``compute(shared, batch, inputs)`` must be a module-level function (a cluster worker
    imports it by name) that reads nothing but its arguments and writes nothing: it returns
    what ``commit(batch, result)`` writes. ``inputs(batch)`` is what the batch needs from the
    stage's cache (a bank model's snapshot to start from); it runs when the batch is sent."""

    compute: Callable[[Any, list[TrainingJob], Any], Any]
    commit: Callable[[list[TrainingJob], Any], None]
    shared: Any = None
    inputs: Callable[[list[TrainingJob]], Any] = lambda batch: None
    label: str = ""  # what the jobs are, for progress lines ("[baseline] bank")
    # bytes one task holds on its worker, for a scheduler that places tasks by memory (Ray's
    # ``memory``); 0: not declared
    memory: int = 0


def images_memory(images) -> int:
    """What a training task holds for ``images`` (uint8): their float32 copy, and its
    temporaries while it is built, taken as 3 copies in all (an estimate, not measured)."""
    return 3 * 4 * int(images.size)


class Executor(Protocol):
    # True when jobs run on other machines: a job's compute then gets every input as an
    # argument (the target's run folder too: ``pipeline.target_job``)
    remote: bool

    def run(self, jobs: list[TrainingJob], work: Work,
            on_batch: Callable[[list[TrainingJob]], None] | None = None) -> None:
        """Do ``work`` for ``jobs`` (the pending ones: a stage skips what is cached) until every
        job's result is committed; ``on_batch`` after each batch is committed (progress). A
        batch that cannot be done raises, after every other batch's result is committed."""


def batches(jobs: list[TrainingJob], size: int) -> list[list[TrainingJob]]:
    """``jobs`` cut, in order, into batches of ``size`` (the last may be shorter)."""
    return [list(jobs[i:i + size]) for i in range(0, len(jobs), size)]


@dataclass(frozen=True)
class LocalExecutor:
    """The jobs, in order, in batches of ``batch``, on this machine."""

    remote: ClassVar[bool] = False
    batch: int = 1

    def run(self, jobs, work: Work, on_batch=None) -> None:
        for chunk in batches(jobs, self.batch):
            work.commit(chunk, work.compute(work.shared, chunk, work.inputs(chunk)))
            if on_batch is not None:
                on_batch(chunk)


def training_hash(config: ExperimentConfig, data_key) -> str:
    """The key of the target's trained weights (its job's key): ``config.training_key()``
    under the hash rule, and the data's key (``Dataset.key``)."""
    return TrainingJob.target(config, data_key).key()


def trajectory_hash(config: ExperimentConfig, data_key) -> str:
    """The key of a training run regardless of its length: the training key without ``epochs``,
    for a recipe whose shorter runs are prefixes of its longer ones (``epochs_are_prefixes``:
    Adam, whose batches depend only on (seed, epoch) and which has no schedule; the snapshot
    and resume tests check it bitwise). Any other recipe keeps ``epochs``: no run starts from
    another's snapshot."""
    key = config.training_key()
    if RECIPES[config.train.recipe].epochs_are_prefixes:
        key = dict(key, train={k: v for k, v in key["train"].items() if k != "epochs"})
    return sha256_json({"training": key, "data_sha256": data_key, "trajectory": True})
