"""The experiment index (results/experiments.md, .csv, .json): each row's attack is chosen by
its fixed rule, never as the highest row; the loss's intervals are computed from scores.npz
and kept while the file is unchanged; a corrupt index is computed again with a warning."""
import json

import numpy as np
import pytest

from mia import experiment_index
from mia.io import write_json


def folder(root, name, population=None, strongest=None, scores=True):
    d = root / name
    d.mkdir(parents=True)
    write_json(d / "metrics.json", {
        "experiment": name, "all_samples": {}, "attack": {"results": {}, "repeats": 1},
        "target": {"train_accuracy": 0.9, "test_accuracy": 0.6, "train_loss": 0.1,
                   "test_loss": 1.0, "n_train": 300, "n_test": 200, "parameters": 1234}})
    write_json(d / "manifest.json", {
        "config": {"seed": 0, "data": {"dataset": "mnist", "train_fraction": 0.5, "classes": 0},
                   "train": {"architecture": "lenet5", "epochs": 3, "dropout": 0.3,
                             "weight_decay": 0.001},
                   "attack": {"sampling_percentages": [50], "scores": ["cross_entropy"],
                              "repeats": 1},
                   **({"bank": {"population": population}} if population else {})},
        "wall_seconds": {"train": {}, "attack": {}}, "git": {}, "data": {}, "device": {}})
    if population:
        def row(auc):
            return {"auc": auc, "tpr_at_0.1pct_fpr": auc / 10,
                    "ci95": {"auc": [auc - 0.01, auc + 0.01],
                             "tpr_at_0.1pct_fpr": [auc / 20, auc / 5]}}
        rows = {"loss": row(0.6), "shokri/population": row(0.55), "lira_online/global": row(0.7),
                "rmia_offline": row(0.9)}  # rmia highest: never quoted for being highest
        write_json(d / "calibrated.json", {"not_computed": {}, "protocols": {"study": {
            "rows": rows, "n_members": 100, "n_nonmembers": 100, "references": 4, "folds": 2,
            "strongest": {"tpr_at_0.1pct_fpr": {"top": "rmia_offline", "strongest": strongest}}}}})
    elif scores:
        rng = np.random.default_rng(0)
        is_member = np.r_[np.ones(300, bool), np.zeros(200, bool)]
        loss = np.where(is_member, rng.exponential(0.5, 500), rng.exponential(1.0, 500))
        np.savez(d / "scores.npz", cross_entropy=loss, is_member=is_member)
    return d


def test_each_row_takes_its_rules_attack_not_the_highest(tmp_path):
    folder(tmp_path, "a-shadow", population="attacker")
    folder(tmp_path, "b-reference", population="all")
    folder(tmp_path, "c-resolved", population="all", strongest="rmia_offline")
    folder(tmp_path, "d-no-bank")
    logs = []
    experiment_index.write(tmp_path, logs.append)
    found = {r["experiment"]: r for r in json.loads((tmp_path / "experiments.json").read_text())["rows"]}
    assert found["a-shadow"]["cell"]["attack"] == "shokri/population"
    assert found["a-shadow"]["cell"]["chosen"] == "declared: none strongest"
    assert found["b-reference"]["cell"]["attack"] == "lira_online/global"
    assert found["c-resolved"]["cell"]["attack"] == "rmia_offline"
    assert found["c-resolved"]["cell"]["chosen"] == "strongest"
    loss = found["d-no-bank"]["cell"]
    assert loss["attack"] == "loss" and loss["n_members"] == 300 and loss["n_nonmembers"] == 200
    assert 0.5 < loss["auc_ci"][0] < loss["auc"] < loss["auc_ci"][1]  # members' losses are smaller
    assert found["d-no-bank"]["model"] == "lenet5 (dropout 0.3, L2 0.001)"
    assert found["d-no-bank"]["training_set"] == "300 of mnist, train_fraction 0.5"
    md = (tmp_path / "experiments.md").read_text()
    assert md.count("\n| ") == 5 and md.count("0.900 [") == 1  # header, 4 rows; RMIA only where resolved
    assert "| c-resolved |" in md and "rmia_offline (strongest, 4 refs)" in md
    csv_lines = (tmp_path / "experiments.csv").read_text().splitlines()
    assert len(csv_lines) == 5 and csv_lines[0].startswith("experiment,dataset")


def test_the_loss_intervals_are_kept_while_the_scores_are_unchanged(tmp_path, monkeypatch):
    d = folder(tmp_path, "d-no-bank")
    experiment_index.write(tmp_path, lambda _: None)
    first = (tmp_path / "experiments.json").read_bytes()

    def fail(*a, **k):
        raise AssertionError("recomputed although scores.npz is unchanged")
    monkeypatch.setattr(experiment_index, "score_metrics", fail)
    experiment_index.write(tmp_path, lambda _: None)
    assert (tmp_path / "experiments.json").read_bytes() == first
    monkeypatch.undo()
    with np.load(d / "scores.npz") as f:
        loss, is_member = f["cross_entropy"], f["is_member"]
    np.savez(d / "scores.npz", cross_entropy=loss * 0 + 1.0, is_member=is_member)  # no signal
    experiment_index.write(tmp_path, lambda _: None)
    again = json.loads((tmp_path / "experiments.json").read_text())["rows"][0]["cell"]
    assert again["auc"] == pytest.approx(0.5)


def test_a_corrupt_index_is_computed_again_with_a_warning(tmp_path):
    folder(tmp_path, "d-no-bank")
    (tmp_path / "experiments.json").write_text("{not json")
    logs = []
    experiment_index.write(tmp_path, logs.append)
    assert any("unreadable" in line and "experiments.json" in line for line in logs)
    assert json.loads((tmp_path / "experiments.json").read_text())["rows"][0]["cell"]["attack"] == "loss"


def test_no_experiment_folder_writes_nothing(tmp_path):
    experiment_index.write(tmp_path, lambda _: None)
    assert not list(tmp_path.iterdir())
