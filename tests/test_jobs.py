"""Training jobs as data: serialisable, keyed by what determines the weights, run by an executor
that the bank and the target share."""
import json

import numpy as np
import torch

from mia import config
from mia.datasets import CIFAR10, Dataset
from mia.training import bank, bank_training
from mia.training.jobs import LocalExecutor, TrainingJob, Work, training_hash

BASELINE_TRAINING_HASH = "801e8919befed2cf94caf63c4b79765f238d7d1d9b0ee95d3ec3d649249aee60"
CIFAR_NPZ_KEY = {"cifar10.npz": "61040feefc0f145d17cb154db606f9d3a602b461f4328a3cf10bd8eab431944e"}


def test_a_targets_job_key_is_its_committed_training_hash():
    job = TrainingJob.target(config.load_named("baseline"), CIFAR_NPZ_KEY)
    assert job.key() == BASELINE_TRAINING_HASH
    assert training_hash(config.load_named("baseline"), CIFAR_NPZ_KEY) == BASELINE_TRAINING_HASH


def test_a_job_survives_a_round_trip_through_json():
    cfg = config.load_named("baseline")
    for job in (TrainingJob.target(cfg, CIFAR_NPZ_KEY),
                TrainingJob.reference(cfg, CIFAR_NPZ_KEY, 123, "c61878f2", 5, "model-005.pt")):
        again = TrainingJob.from_dict(json.loads(json.dumps(job.to_dict())))
        assert again == job and again.key() == job.key()


def test_reference_jobs_differ_by_row_and_seed_and_not_by_attack_settings():
    cfg = config.load_named("baseline")
    a = TrainingJob.reference(cfg, "d", 1, "bank", 0, "model-000.pt")
    assert a.key() != TrainingJob.reference(cfg, "d", 1, "bank", 1, "model-001.pt").key()
    assert a.key() != TrainingJob.reference(cfg, "d", 2, "bank", 0, "model-000.pt").key()
    other = config.from_dict({"bank": {"models": 16}, "attack": {"repeats": 3}}, "baseline")
    assert TrainingJob.reference(other, "d", 1, "bank", 0, "model-000.pt").key() == a.key()


def test_the_local_executor_runs_every_job_in_order_in_batches():
    seen, batches = [], []
    jobs = [TrainingJob({"seed": i}, "d") for i in range(5)]
    work = Work(compute=lambda shared, batch, inputs: [shared + job.training["seed"] for job in batch],
                commit=lambda batch, result: seen.extend(result), shared=100,
                inputs=lambda batch: None)
    LocalExecutor(batch=2).run(jobs, work, on_batch=lambda b: batches.append(len(b)))
    assert seen == [100 + i for i in range(5)] and batches == [2, 2, 1]


class RecordingExecutor(LocalExecutor):
    """The executor seam: what a cluster executor would receive."""

    def run(self, jobs, work, on_batch=None):
        self.received = [TrainingJob.from_dict(j.to_dict()) for j in jobs]  # serialisable
        super().run(jobs, work, on_batch)


def test_the_bank_trains_its_pending_models_through_the_executor(tmp_path):
    rng = np.random.default_rng(0)
    ds = Dataset(rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 60),
                 rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 20),
                 {"sha256": "tiny"}, CIFAR10)
    cfg = config.from_dict({"train": {"epochs": 1, "batch_size": 32}, "bank": {"models": 2}}, "t")
    first = RecordingExecutor(batch=1)
    bank_training.train_bank(cfg, ds, tmp_path, torch.device("cpu"), progress=False, log=lambda *_: None,
                    executor=first)
    assert [j.subset["row"] for j in first.received] == [0, 1]
    assert [j.artifact for j in first.received] == ["model-000.pt", "model-001.pt"]
    bank.model_path(tmp_path, 1).unlink()
    again = RecordingExecutor(batch=1)
    bank_training.train_bank(cfg, ds, tmp_path, torch.device("cpu"), progress=False, log=lambda *_: None,
                    executor=again)
    assert [j.subset["row"] for j in again.received] == [1]  # only the pending job
