"""The declared search behind DP-SGD's settings (``invoke dp-tuning``, mia.training.dp_tuning):
its validation split, a small search end to end (resumed from the runs it kept), its table."""
import json
import warnings

import numpy as np

from conftest import make_npz, write_experiment
from mia import config, datasets
from mia.training import dp_tuning

warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")

BASE = """
description = "tiny"
seeds = [0, 1]
[data]
dataset = "cifar10"
canaries = 100
[train]
epochs = 2
batch_size = 64
"""


def test_the_validation_images_are_members_outside_training_and_the_canaries(tmp_path):
    npz = make_npz(tmp_path / "cifar10.npz", n_train=600, n_test=100)
    write_experiment(tmp_path / "exp", dp_tuning.BASE_EXPERIMENT, BASE)
    cfg = config.load(tmp_path / "exp" / f"{dp_tuning.BASE_EXPERIMENT}.toml", seed=0)
    dataset = datasets.load("cifar10", npz)
    train, validation = dp_tuning.split(cfg, dataset, 50)
    canaries = dp_tuning.membership_mod.draw_canaries(cfg, 600)
    assert len(validation) == 50 and not set(train) & set(validation)
    assert not set(validation) & set(canaries.index.tolist())
    kept = canaries.index[canaries.included]
    assert set(kept) <= set(train)  # the canaries the target trains on stay in training
    assert len(train) == 600 - 100 + len(kept) - 50
    again = dp_tuning.split(cfg, dataset, 50)
    assert np.array_equal(again[1], validation)  # from the seed


def test_a_small_search_chooses_its_best_run_and_resumes_from_its_runs(tmp_path):
    npz = make_npz(tmp_path / "cifar10.npz", n_train=600, n_test=100)
    write_experiment(tmp_path / "exp", dp_tuning.BASE_EXPERIMENT, BASE)
    lines = []
    kwargs = dict(data_dir=str(npz), experiments_dir=tmp_path / "exp", log=lines.append,
                  grid=((1e-3, 1.0, 128), (4e-3, 0.5, 128)), stage1_epochs=1,
                  stage2_epochs=(2,), n_validation=50)
    out = tmp_path / "tuning"
    summary = dp_tuning.search(out, **kwargs)
    assert len(summary["stage1"]) == 2 and len(summary["stage2"]) == 1
    every = summary["stage1"] + summary["stage2"]
    assert summary["chosen"]["validation_accuracy"] == max(r["validation_accuracy"] for r in every)
    best1 = max(summary["stage1"], key=lambda r: r["validation_accuracy"])
    assert summary["stage2"][0]["learning_rate"] == best1["learning_rate"]
    for r in every:  # each run is (4, 1e-5)-DP by its own accountant
        assert 3.9 < r["epsilon_rdp"] <= 4.0 + 1e-9
    assert json.loads((out / "tuning.json").read_text()) == json.loads(json.dumps(summary))
    table = (out / "tuning.md").read_text()
    assert table.count("**chosen**") == 1 and "not counted in any epsilon" in table
    assert len(list((out / "runs").glob("*.json"))) == 3
    lines.clear()
    assert dp_tuning.search(out, **kwargs)["chosen"] == summary["chosen"]
    assert lines == []  # every run read back, none trained again
