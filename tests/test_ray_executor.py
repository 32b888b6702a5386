"""Training jobs on Ray's local instance (``--executor ray``): the same weights as this machine's
executor, bitwise; a worker killed mid-bank, a job that fails once or always; a rerun that
trains only what is missing; one line when Ray is not installed. Ray is installed by
``make cluster``, which ``make test`` runs."""
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import ray
import torch

from conftest import write_experiment
from mia import config, pipeline, studies
from mia.datasets import CIFAR10, Dataset
from mia.errors import UserError
from mia.pipeline import concurrent, target_job
from mia.pipeline.stages import train_stage
from mia.training import bank, bank_training, engine, ray_executor
from mia.training.jobs import LocalExecutor, TrainingJob, Work
from mia.training.ray_executor import RayExecutor

CPU = torch.device("cpu")


@pytest.fixture(scope="module", autouse=True)
def local_instance():
    """One local Ray instance for the module (about 4 s to start), on 2 CPUs. Its workers
    import this module's fault-injecting computes by name, so they get tests/ on their path."""
    if ray.is_initialized():  # by another test module's command in this process
        ray.shutdown()
    local_instance_again()
    yield
    ray.shutdown()


def tiny_dataset(n_train=120, n_test=40) -> Dataset:
    rng = np.random.default_rng(0)
    return Dataset(rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8),
                   rng.integers(0, 10, n_train),
                   rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8),
                   rng.integers(0, 10, n_test), {"sha256": "tiny"}, CIFAR10)


def tiny_bank(models=4, epochs=2):
    return config.from_dict({"train": {"epochs": epochs, "batch_size": 32},
                             "bank": {"models": models}}, "t")


def model_bytes(folder, k):
    return [bank.model_path(folder, m).read_bytes() for m in range(k)]


def test_a_bank_trained_on_ray_has_bitwise_the_weights_of_one_trained_here(tmp_path):
    ds, cfg = tiny_dataset(), tiny_bank()
    bank_training.train_bank(cfg, ds, tmp_path / "local", CPU, progress=False, log=lambda _: None)
    said = []
    info = bank_training.train_bank(cfg, ds, tmp_path / "ray", CPU, progress=False,
                                    log=said.append, executor=RayExecutor(log=said.append))
    assert info["trained_this_run"] == 4
    assert model_bytes(tmp_path / "ray", 4) == model_bytes(tmp_path / "local", 4)
    local = json.loads((tmp_path / "local" / "bank.json").read_text())
    assert {k: v for k, v in info.items() if k not in ("train_seconds", "trained_this_run")} == \
        {k: v for k, v in local.items() if k != "train_seconds"}
    assert sorted(info["train_seconds"]) == ["0", "1", "2", "3"]
    # the checksums recorded as written: a rerun takes every model in, trains nothing
    again = bank_training.train_bank(cfg, ds, tmp_path / "ray", CPU, progress=False,
                                     log=said.append, executor=RayExecutor(log=said.append))
    assert again["trained_this_run"] == 0
    # progress: done, running, pending
    assert "[t] bank: ray: 4 of 4 jobs done, 0 running, 0 pending" in said


def test_snapshots_go_to_the_worker_and_come_back_to_the_cache(tmp_path):
    """A longer bank's models start from the shorter bank's snapshots, read here and sent."""
    ds = tiny_dataset()
    short, longer = tiny_bank(models=2, epochs=1), tiny_bank(models=2, epochs=2)
    snapshots = bank_training.snapshot_dir_for(short, ds, tmp_path / "cache")
    bank_training.train_bank(short, ds, tmp_path / "short", CPU, progress=False,
                             log=lambda _: None, executor=RayExecutor(log=lambda _: None),
                             snapshots=snapshots)
    assert bank_training.snapshot_path(snapshots, 1, 1).exists()
    info = bank_training.train_bank(longer, ds, tmp_path / "long", CPU, progress=False,
                                    log=lambda _: None, executor=RayExecutor(log=lambda _: None),
                                    snapshots=snapshots)
    assert info["trained_from_epoch"] == {"0": 1, "1": 1}
    bank_training.train_bank(longer, ds, tmp_path / "scratch", CPU, progress=False,
                             log=lambda _: None)
    assert model_bytes(tmp_path / "long", 2) == model_bytes(tmp_path / "scratch", 2)


def test_a_killed_worker_is_retried_and_the_bank_equals_an_uninterrupted_one(tmp_path):
    ds, cfg = tiny_dataset(n_train=600, n_test=200), tiny_bank(epochs=6)
    bank_training.train_bank(cfg, ds, tmp_path / "local", CPU, progress=False, log=lambda _: None)
    killed = []

    def kill_the_first(running):  # SIGKILL the first worker seen training a model
        if not killed and running:
            pid = next(iter(running.values()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    said = []
    info = bank_training.train_bank(cfg, ds, tmp_path / "ray", CPU, progress=False,
                                    log=said.append,
                                    executor=RayExecutor(log=said.append, on_running=kill_the_first))
    assert killed, "no worker was seen running a job"
    assert info["trained_this_run"] == 4
    assert model_bytes(tmp_path / "ray", 4) == model_bytes(tmp_path / "local", 4)


FAILS_ONCE_MARK = "failed-once"


def fails_once(shared, batch, inputs):
    """A compute that raises on its first attempt (it leaves a mark), then succeeds."""
    mark = shared / f"{FAILS_ONCE_MARK}-{batch[0].subset['row']}"
    if not mark.exists():
        mark.write_text("x")
        raise RuntimeError("a transient fault")
    return [job.subset["row"] for job in batch]


def fails_for_row_1(shared, batch, inputs):
    if batch[0].subset["row"] == 1:
        raise ValueError("row 1 cannot be trained")
    return [job.subset["row"] for job in batch]


def rows_of(shared, batch, inputs):
    return [job.subset["row"] for job in batch]


def jobs(n):
    return [TrainingJob({"seed": m}, "d", {"bank": "b", "row": m}, f"model-{m:03d}.pt")
            for m in range(n)]


def test_a_job_that_raises_is_retried(tmp_path):
    committed = []
    work = Work(compute=fails_once, commit=lambda batch, rows: committed.extend(rows),
                shared=tmp_path)
    RayExecutor(log=lambda _: None).run(jobs(3), work)
    assert sorted(committed) == [0, 1, 2]
    assert len(list(tmp_path.glob(f"{FAILS_ONCE_MARK}-*"))) == 3


def test_a_job_that_keeps_failing_fails_the_run_in_one_line_after_the_others_are_committed():
    committed = []
    work = Work(compute=fails_for_row_1, commit=lambda batch, rows: committed.extend(rows))
    said = []
    with pytest.raises(UserError) as e:
        RayExecutor(retries=1, log=said.append).run(jobs(3), work)
    assert sorted(committed) == [0, 2]
    assert said[-1] == "ray: 2 of 3 jobs done, 0 running, 0 pending, 1 failed"
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith("bank model 1 (job ")
    assert "failed 2 times on Ray" in message and "ValueError: row 1 cannot be trained" in message


def refuses_row_1(shared, batch, inputs):
    """Row 1 refuses its inputs (as a diverged training does), leaving a mark per attempt."""
    if batch[0].subset["row"] == 1:
        (shared / f"attempt-{len(list(shared.glob('attempt-*')))}").write_text("x")
        raise UserError("training diverged (loss nan at epoch 3): lower the learning rate")
    return [job.subset["row"] for job in batch]


def test_a_job_that_refuses_its_inputs_is_not_retried(tmp_path):
    committed = []
    work = Work(compute=refuses_row_1, commit=lambda batch, rows: committed.extend(rows),
                shared=tmp_path)
    with pytest.raises(UserError) as e:
        RayExecutor(log=lambda _: None).run(jobs(3), work)
    assert sorted(committed) == [0, 2] and len(list(tmp_path.glob("attempt-*"))) == 1
    assert str(e.value).startswith(
        "bank model 1 (job ") and ("failed on Ray (not retried: the same inputs fail the same "
                                   "way): training diverged (loss nan at epoch 3)") in str(e.value)


def test_a_result_that_cannot_be_written_fails_its_job_and_the_others_are_committed():
    committed = []

    def commit(batch, rows):
        if rows == [1]:
            raise OSError(28, "No space left on device")
        committed.extend(rows)

    work = Work(compute=rows_of, commit=commit)
    with pytest.raises(UserError) as e:
        RayExecutor(log=lambda _: None).run(jobs(3), work)
    assert sorted(committed) == [0, 2]
    assert "bank model 1 (job " in str(e.value) and (
        "came back but could not be written here: OSError: [Errno 28] No space left on device"
        in str(e.value))


def test_a_bank_declares_the_memory_its_tasks_hold(tmp_path):
    """Ray places tasks by ``Work.memory``: a bank's is three float32 copies of its images."""
    seen = []

    class Watching(LocalExecutor):
        def run(self, jobs, work, on_batch=None):
            seen.append(work)
            super().run(jobs, work, on_batch)

    ds, cfg = tiny_dataset(), tiny_bank(models=2, epochs=1)
    bank_training.train_bank(cfg, ds, tmp_path, CPU, progress=False, log=lambda _: None,
                             executor=Watching())
    n_images = len(ds.y_train) + len(ds.y_test)  # the bank's population: both halves
    assert seen[0].memory == 3 * 4 * n_images * 32 * 32 * 3


def test_a_rerun_after_an_interruption_trains_only_the_missing_models(tmp_path):
    ds, cfg = tiny_dataset(), tiny_bank()
    bank_training.train_bank(cfg, ds, tmp_path, CPU, progress=False, log=lambda _: None,
                             executor=RayExecutor(log=lambda _: None))
    before = model_bytes(tmp_path, 4)
    bank.model_path(tmp_path, 2).unlink()  # as if the run had stopped before model 2
    said = []
    info = bank_training.train_bank(cfg, ds, tmp_path, CPU, progress=False, log=said.append,
                                    executor=RayExecutor(log=said.append))
    assert info["trained_this_run"] == 1
    assert "[t] bank: ray: 1 of 1 jobs done, 0 running, 0 pending" in said
    assert model_bytes(tmp_path, 4) == before


SWEEP = """
description = "a sweep of two seeds with a bank"
seeds = [0, 1]
figures = false
[train]
epochs = 2
batch_size = 64
[attack]
sampling_percentages = [50]
repeats = 2
kde_grid_points = 128
[bank]
models = 4
seed = 0
[calibrated]
references = 4
"""


def without_wall_times(tree):
    """calibrated.json less its ``training_seconds`` (the bank's wall time, wherever it ran)."""
    if isinstance(tree, dict):
        return {k: without_wall_times(v) for k, v in tree.items() if k != "training_seconds"}
    return [without_wall_times(v) for v in tree] if isinstance(tree, list) else tree


OTHER = """
description = "another recipe: its own bank, and figures (drawn while the sweep runs)"
seed = 5
[train]
epochs = 2
batch_size = 32
[attack]
sampling_percentages = [50]
repeats = 2
kde_grid_points = 128
[bank]
models = 2
[calibrated]
references = 2
"""


def test_a_sweep_through_the_ray_executor_gives_the_results_of_a_local_run(tmp_path, tiny_npz):
    """``invoke experiments --executor ray`` on a sweep of two seeds sharing a bank of 4 and
    an experiment with a bank of its own: the targets and the banks' models train on Ray's
    workers, the two groups of experiments side by side."""
    write_experiment(tmp_path / "experiments", "sweep", SWEEP)
    write_experiment(tmp_path / "experiments", "other", OTHER)
    outputs = {}
    for name in ("local", "ray"):
        said = []
        pipeline.run(None, data_dir=str(tiny_npz), device="cpu", quick=True,
                     results_root=tmp_path / name / "results", cache_root=tmp_path / name / "cache",
                     progress=False, log=said.append, experiments_dir=tmp_path / "experiments",
                     studies_dir=studies.STUDIES_DIR, executor=name)
        outputs[name] = said
    assert "[sweep-seed0] bank: ray: 4 of 4 jobs done, 0 running, 0 pending" in outputs["ray"]
    assert "[other] bank: ray: 2 of 2 jobs done, 0 running, 0 pending" in outputs["ray"]
    assert "ray: 3 experiments in 2 groups that share nothing, up to 4 at a time" in outputs["ray"]
    for name in ("sweep-seed0", "sweep-seed1", "other"):
        local, on_ray = (tmp_path / n / "results" / name for n in ("local", "ray"))
        assert (without_wall_times(json.loads((on_ray / "calibrated.json").read_text()))
                == without_wall_times(json.loads((local / "calibrated.json").read_text())))
        assert (on_ray / "metrics.json").read_bytes() == (local / "metrics.json").read_bytes()
        # the targets trained on Ray's workers: the same weights, the same history
        assert (on_ray / "model.pt").read_bytes() == (local / "model.pt").read_bytes()
        assert (json.loads((on_ray / "history.json").read_text())[-1]["train_loss"]
                == json.loads((local / "history.json").read_text())[-1]["train_loss"])
    for local_bank in (d for d in (tmp_path / "local" / "cache" / "banks").iterdir() if d.is_dir()):
        k = json.loads((local_bank / "bank.json").read_text())["models"]
        on_ray = tmp_path / "ray" / "cache" / "banks" / local_bank.name
        assert model_bytes(on_ray, k) == model_bytes(local_bank, k)
    assert sum(line.endswith("train: ray: 1 of 1 jobs done, 0 running, 0 pending")
               for line in outputs["ray"]) == 3  # the targets


def test_without_ray_the_ray_executor_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(UserError) as e:
        ray_executor.executor_for("ray", None, "cpu")
    assert "make cluster" in str(e.value) and "\n" not in str(e.value)


def test_an_unknown_executor_and_an_address_without_ray_are_refused():
    with pytest.raises(UserError, match="unknown executor 'slurm'"):
        ray_executor.executor_for("slurm", None, "cpu")
    with pytest.raises(UserError, match="needs --executor ray"):
        ray_executor.executor_for("local", "10.0.0.1:6379", "cpu")
    assert ray_executor.executor_for("local", None, "cpu") is None
    on_gpu = ray_executor.executor_for("ray", None, "cuda")
    assert (on_gpu.gpus, on_gpu.batch) == (1, ray_executor.GPU_BATCH)
    assert (ray_executor.executor_for("ray", None, "cpu").cpus, ray_executor.executor_for("ray", None, "cpu").batch) == (1, 1)


def test_a_target_on_ray_resumes_from_the_checkpoint_sent_with_it(tmp_path):
    """The run folder travels with the target's job: a run of 2 epochs sent with the checkpoint
    of epoch 1 resumes there, and its weights are those of 2 epochs trained here."""
    ds = tiny_dataset()
    one, two = (config.from_dict({"train": {"epochs": e, "batch_size": 32}}, "t") for e in (1, 2))
    for folder, cfg in ((tmp_path / "one", one), (tmp_path / "here", two)):
        folder.mkdir()
        train_stage(cfg, ds, folder, CPU, progress=False, log=lambda _: None)
    sent = tmp_path / "sent"
    sent.mkdir()
    (sent / engine.CHECKPOINT).write_bytes((tmp_path / "one" / engine.CHECKPOINT).read_bytes())
    said = []
    RayExecutor(cpus=2, log=said.append).run(
        [TrainingJob.target(two, ds.key)],
        target_job.remote_work(two, ds, sent, CPU, None, said.append))
    assert any("resuming from epoch 1 of 2" in line for line in said)
    assert (sent / "model.pt").read_bytes() == (tmp_path / "here" / "model.pt").read_bytes()
    def epochs(folder):  # without the wall times
        return [{k: v for k, v in e.items() if k != "seconds"}
                for e in json.loads((folder / "history.json").read_text())]
    assert epochs(sent) == epochs(tmp_path / "here")


def test_experiments_that_share_a_bank_or_a_trajectory_run_in_one_group():
    ds = tiny_dataset()
    base = {"train": {"epochs": 2, "batch_size": 32}, "bank": {"models": 2}}
    seed0, seed1 = (config.from_dict({**base, "seed": s}, f"s{s}") for s in (0, 1))
    shared_bank = config.from_dict({**base, "seed": 1, "bank": {"models": 2, "seed": 0}}, "b")
    longer = config.from_dict({**base, "seed": 0, "train": {"epochs": 3, "batch_size": 32}}, "l")
    names = lambda grouped: [[c.name for c in g] for g in grouped]  # noqa: E731
    assert names(concurrent.groups([seed0, seed1], {"cifar10": ds})) == [["s0"], ["s1"]]
    assert names(concurrent.groups([seed0, seed1, shared_bank], {"cifar10": ds})) == [["s0", "s1", "b"]]
    # the same trajectory (a longer run of seed 0), another bank: one group, in run order
    assert names(concurrent.groups([seed0, longer, seed1], {"cifar10": ds})) == [["s0", "l"], ["s1"]]
    # other targets, banks that differ only in epochs: their models share snapshots
    bank_short = config.from_dict({**base, "seed": 2, "bank": {"models": 2, "seed": 0}}, "b2")
    bank_long = config.from_dict({**base, "seed": 3, "train": {"epochs": 3, "batch_size": 32},
                                  "bank": {"models": 2, "seed": 0}}, "b3")
    assert names(concurrent.groups([bank_short, bank_long], {"cifar10": ds})) == [["b2", "b3"]]


def test_a_second_ray_session_in_one_process_gets_a_tracker_of_its_own(tmp_path, monkeypatch):
    """After ``ray.shutdown`` a new local instance reuses the first job id: the tracker of the
    earlier session must not be reused (sending its handle crashes Ray's driver)."""
    committed = []
    work = Work(compute=fails_once, commit=lambda batch, rows: committed.extend(rows),
                shared=tmp_path)
    RayExecutor(log=lambda _: None).run(jobs(1), work)
    ray.shutdown()
    monkeypatch.setenv("PYTHONPATH", _test_path())  # the new instance's workers import this module
    ray_executor.connect(None, log=lambda _: None)  # a new local instance, job id 01000000 again
    try:
        RayExecutor(log=lambda _: None).run(jobs(2), work)
    finally:
        ray.shutdown()
        local_instance_again()
    assert sorted(committed) == [0, 0, 1]


def _test_path() -> str:
    """PYTHONPATH with tests/ first: Ray's workers import this module's computes by name."""
    return os.pathsep.join(p for p in (str(Path(__file__).parent), os.environ.get("PYTHONPATH")) if p)


def local_instance_again():
    ray.init(runtime_env={"env_vars": {"PYTHONPATH": _test_path()}}, address="local", num_cpus=2,
             include_dashboard=False, log_to_driver=False, logging_level="warning")


def test_side_by_side_bounds_the_groups_running_at_once_and_needs_a_cluster():
    """``--side-by-side N``: at most N groups at once (here 1 and 2 of 4), every group run;
    refused without a cluster, and below 1, in one line each."""
    grouped = [[config.from_dict({"seed": s}, f"s{s}")] for s in range(4)]
    for at_once in (1, 2):
        running, most, lock = [0], [0], threading.Lock()

        def run_one(c):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.2)
            with lock:
                running[0] -= 1
            return Path(c.name)

        done = concurrent.run_groups(grouped, run_one, at_once)
        assert sorted(done) == ["s0", "s1", "s2", "s3"] and most[0] == at_once
    assert concurrent.side_by_side(None, remote=False) == concurrent.MAX_CONCURRENT
    assert concurrent.side_by_side(16, remote=True) == 16
    with pytest.raises(UserError, match=r"^--side-by-side 8 needs --executor ray"):
        concurrent.side_by_side(8, remote=False)
    with pytest.raises(UserError, match=r"^--side-by-side must be at least 1, got 0$"):
        concurrent.side_by_side(0, remote=True)
