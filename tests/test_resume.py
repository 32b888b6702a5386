"""Training killed at an exact step resumes to the same weights, training only what is left.

The kill is deterministic: ``MIA_FAULT_AT`` (``mia.training.engine``) makes the training process
SIGKILL itself after a given batch, or while a checkpoint is being written.
"""
import os
import subprocess
import sys

import torch

from mia.training import engine as train
from mia.config import TrainConfig

CFG = TrainConfig(epochs=4, batch_size=32)
SEED = 7
DRIVER = """
import sys
from pathlib import Path
import torch
from mia.training import engine as train
from mia.config import TrainConfig
g = torch.Generator().manual_seed(0)
x, y = torch.randn(320, 3, 32, 32, generator=g), torch.randint(0, 10, (320,), generator=g)
run_dir = Path(sys.argv[1])
model, _ = train.train(TrainConfig(epochs=4, batch_size=32), 7, x[:256], y[:256], x[256:], y[256:],
                       run_dir, progress=False, log=print,
                       on_epoch_end=lambda e: print(f"trained epoch {e}", flush=True))
torch.save(model.state_dict(), run_dir / "final.pt")
"""


def data():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(320, 3, 32, 32, generator=g), torch.randint(0, 10, (320,), generator=g)
    return x[:256], y[:256], x[256:], y[256:]


def run(run_dir, fault=None):
    env = {k: v for k, v in os.environ.items() if k != "MIA_FAULT_AT"}
    if fault:
        env["MIA_FAULT_AT"] = fault
    return subprocess.run([sys.executable, "-c", DRIVER, str(run_dir)], capture_output=True,
                          text=True, env=env, timeout=300)


def trained_epochs(proc):
    return [int(line.split()[-1]) for line in proc.stdout.splitlines()
            if line.startswith("trained epoch")]


def uninterrupted(tmp_path):
    model, _ = train.train(CFG, SEED, *data(), tmp_path / "reference", progress=False)
    return model.state_dict()


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_killed_mid_epoch_resumes_with_only_the_remaining_epochs(tmp_path):
    run_dir = tmp_path / "run"
    killed = run(run_dir, fault="batch:3:4")  # after batch 4 of epoch 3
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert trained_epochs(killed) == [1, 2]
    resumed = run(run_dir)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from epoch 2 of 4" in resumed.stdout
    assert trained_epochs(resumed) == [3, 4]
    state = torch.load(run_dir / train.CHECKPOINT, weights_only=True)
    assert state["attempts"] == 2 and len(state["history"]) == 4  # the manifest reads these
    assert_same_weights(torch.load(run_dir / "final.pt", weights_only=True), uninterrupted(tmp_path))


def test_killed_while_writing_a_checkpoint_resumes_from_the_previous_one(tmp_path):
    run_dir = tmp_path / "run"
    killed = run(run_dir, fault="checkpoint:2")  # epoch 2's file written, not yet renamed
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert trained_epochs(killed) == [1]
    assert list(run_dir.glob(f".{train.CHECKPOINT}.*.tmp"))  # the half-finished write is there
    assert int(torch.load(run_dir / train.CHECKPOINT, weights_only=True)["epoch"]) == 1
    resumed = run(run_dir)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from epoch 1 of 4" in resumed.stdout
    assert trained_epochs(resumed) == [2, 3, 4]
    assert_same_weights(torch.load(run_dir / "final.pt", weights_only=True), uninterrupted(tmp_path))
