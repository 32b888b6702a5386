"""``invoke experiments --quick`` on a small dataset writes every file it promises."""
import json

import numpy as np
import pytest

from conftest import TEST_EXPERIMENTS, invoke
from mia import config, pipeline
from mia.training import engine as train

PER_SCORE_FIGURES = ("losses_sample", "densities", "confusion_matrix")


def test_quick_run_writes_the_results_tree(tmp_path, tiny_npz):
    results = tmp_path / "results"
    proc = invoke("experiments", "--quick", "--no-progress", "--data-dir", str(tiny_npz),
                  "--results-dir", str(results), "--experiments-dir", str(TEST_EXPERIMENTS), env={"MIA_CACHE_DIR": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = config.available(TEST_EXPERIMENTS)
    # no staging leftovers: the experiments, the figure and experiment indexes and the studies
    # (none here)
    assert sorted(p.name for p in results.iterdir() if p.suffix != ".lock") == sorted(
        [*names, "figures.json", "figures.md", "experiments.csv", "experiments.json",
         "experiments.md"])
    for name in names:
        d = results / name
        folds = config.load_named(name, TEST_EXPERIMENTS).bank.folds
        # quick trims the test images so that the bank's population splits into its folds
        n_test = config.quick_test_images(folds, 600, 200)
        for f in ("config.json", "history.json", "scores.npz", "metrics.json", "summary.csv",
                  "summary.md", "manifest.json", "model.pt"):
            assert (d / f).is_file(), f"{name}/{f} missing"
        history = json.loads((d / "history.json").read_text())
        assert [h["epoch"] for h in history] == [1, 2]
        assert {"epoch", "train_loss", "train_acc", "test_loss", "test_acc"} <= set(history[0])
        with np.load(d / "scores.npz") as s:
            n = len(s["is_member"])
            assert n == 600 + n_test and s["is_member"][:600].all() and not s["is_member"][600:].any()
            assert s["is_member"].dtype == bool and s["label"].dtype.kind == "i"
            for score in ("cross_entropy", "probability_loss", "normalized_probability_loss"):
                assert s[score].shape == (n,) and s[score].dtype == np.float64
            # the experiment's scores only: a score registered later (confidence_loss) must not
            # change what an earlier experiment writes
            assert sorted(s.files) == sorted(["cross_entropy", "probability_loss",
                                              "normalized_probability_loss", "is_member", "label",
                                              "correct"])
        metrics = json.loads((d / "metrics.json").read_text())
        res = metrics["attack"]["results"]
        assert set(res) == {"cross_entropy", "probability_loss", "normalized_probability_loss"}
        assert set(res["cross_entropy"]) == {"10", "50"}
        cell = res["cross_entropy"]["50"]
        # p = 50% of the non-members go to the attacker; the rest, and as many members, are evaluated
        assert len(cell["repeats"]) == 2 and cell["n_eval_per_class"] == n_test - n_test // 2
        manifest = json.loads((d / "manifest.json").read_text())
        for key in ("config", "config_hash", "seed", "git", "packages", "device", "data",
                    "wall_seconds"):
            assert key in manifest
        assert manifest["data"]["sha256"]["tiny.npz"]
        assert set(manifest["wall_seconds"]) == {"train", "scores", "bank", "calibrated", "attack",
                                                 "plots", "report"}
        # the bank (quick: 6 models) and the calibrated attacks on both protocols
        assert manifest["wall_seconds"]["bank"]["models"] == 6
        assert sorted(p.name for p in (d / "bank").iterdir()) == (
            ["bank.json", "keep.npz"] + [f"model-{m:03d}.pt" for m in range(6)])
        cal = json.loads((d / "calibrated.json").read_text())
        study = cal["protocols"]["study"]
        assert study["n_members"] == study["n_nonmembers"] == n_test - n_test // 4
        for key in ("calibrated.json", "calibrated.md", "bank/keep.npz", "bank/model-005.pt"):
            assert key in manifest["files"], key
        drawn = {p.stem for p in (d / "figures").glob("calibrated_*.png")} | {
            p.stem for p in (d / "figures").glob("power_*.png")}
        if folds == 2:  # three pairs: leave-one-out keeps two pairs of references, power 2/4/6
            assert set(cal["protocols"]) == {"study", "leave_one_out"} and not cal["not_computed"]
            assert "leak_check" in cal["protocols"]["leave_one_out"]
            assert drawn == {"calibrated_roc", "calibrated_roc_leave_one_out", "power_vs_references",
                             "power_rmia_offline_a"}
            power = cal["protocols"]["study"]["power_vs_references"]
            assert sorted(power, key=int) == ["2", "4", "6"]
            assert power["2"]["rmia_offline"]["subsets"] == 3  # every one of the 3 pairs
            assert power["2"]["rmia_offline/0.3"]["training_seconds"] > 0
            assert set(study["strongest"]) == {"tpr_at_0.1pct_fpr", "tpr_at_1pct_fpr", "auc"}
            assert "loss" in study["strongest"]["auc"]["versus_baseline"]["baseline"]
        else:  # one round: no leave-one-out references, no power curve
            assert set(cal["protocols"]) == {"study"} and "leave_one_out" in cal["not_computed"]
            assert drawn == {"calibrated_roc"}
        figures = d / "figures"
        for f in ("training_curve", "accuracy_vs_percentage", "metrics_vs_percentage", "roc",
                  "data_examples"):
            assert (figures / f"{f}.png").is_file() and (figures / f"{f}.pdf").is_file()
        for score in res:
            for f in PER_SCORE_FIGURES:
                for p in ("10", "50"):
                    assert (figures / score / f"{f}_p{p}.png").is_file()
                    assert (figures / score / f"{f}_p{p}.pdf").is_file()
        assert not any(" " in p.name or "%" in p.name for p in figures.rglob("*"))
    assert not list(results.rglob("*.tmp"))


def test_same_seed_twice_gives_identical_metrics(tmp_path, tiny_npz, quick_results):
    """An independent second run (its own cache, so it trains again) on another number of CPU
    workers writes byte-identical metrics.json and figures, and the same history (timings aside)."""
    threads = 1 if train.available_cpus() != 1 else 2  # the first run used one per core
    pipeline.run(None, data_dir=str(tiny_npz), device="cpu", quick=True, results_root=tmp_path / "r",
                 cache_root=tmp_path / "c", progress=False, threads=threads, log=lambda *_: None,
                 experiments_dir=TEST_EXPERIMENTS)
    manifest = json.loads((tmp_path / "r" / "baseline" / "manifest.json").read_text())
    assert manifest["wall_seconds"]["train"]["cpu_workers"] == threads
    assert manifest["wall_seconds"]["attack"]["workers"] == threads
    for name in config.available(TEST_EXPERIMENTS):
        first, second = quick_results / name, tmp_path / "r" / name
        assert (first / "metrics.json").read_bytes() == (second / "metrics.json").read_bytes()
        strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]  # noqa: E731
        assert strip(json.loads((first / "history.json").read_text())) == \
            strip(json.loads((second / "history.json").read_text()))
        figures = sorted(f.relative_to(first) for f in (first / "figures").rglob("*.*"))
        assert figures == sorted(f.relative_to(second) for f in (second / "figures").rglob("*.*"))
        for f in figures:
            assert (first / f).read_bytes() == (second / f).read_bytes(), f


def test_changed_attack_settings_reuse_the_model_and_changed_training_retrains(tmp_path, tiny_npz):
    from conftest import TINY_EXPERIMENT, write_experiment
    exp = tmp_path / "experiments"
    write_experiment(exp, "tiny", TINY_EXPERIMENT)
    logs = []
    kwargs = dict(data_dir=str(tiny_npz), device="cpu", quick=False, results_root=tmp_path / "r",
                  cache_root=tmp_path / "c", progress=False, log=logs.append, experiments_dir=exp)

    def run(text):
        write_experiment(exp, "tiny", text)
        logs.clear()
        pipeline.run(["tiny"], **kwargs)
        return "\n".join(logs)
    assert "train: 2 epochs" in run(TINY_EXPERIMENT)
    # Other attack settings (repeats, percentages, grid): the trained model is reused.
    changed_attack = (TINY_EXPERIMENT.replace("repeats = 2", "repeats = 3")
                      .replace("[10, 50]", "[20, 40]").replace("= 128", "= 64"))
    out = run(changed_attack)
    assert "train: reusing" in out and "train: 2 epochs" not in out
    metrics = json.loads((tmp_path / "r" / "tiny" / "metrics.json").read_text())
    assert set(metrics["attack"]["results"]["cross_entropy"]) == {"20", "40"}
    # Another training setting: trained again.
    out = run(changed_attack.replace("batch_size = 64", "batch_size = 32"))
    assert "train: 2 epochs" in out and "train: reusing" not in out


def test_published_numbers_agree_with_the_arrays_they_come_from(quick_results, tiny_npz):
    """Recomputed independently from scores.npz: AUC with sklearn over all samples; each cell's
    summary from its repeats; summary.csv from metrics.json; the model's accuracy from its logits."""
    import csv

    import torch
    from sklearn.metrics import roc_auc_score

    from mia import architectures, datasets
    d = quick_results / "baseline"
    metrics = json.loads((d / "metrics.json").read_text())
    with np.load(d / "scores.npz") as f:
        s = dict(f)
    gap = metrics["all_samples"].pop("gap")  # member iff correct: the loss 1 - correct
    assert gap["auc"] == roc_auc_score(s["is_member"], s["correct"].astype(float))
    t = metrics["target"]
    # half the generalisation gap above chance, or chance when the model generalises (the best
    # threshold may admit nobody)
    assert gap["best_accuracy"] == pytest.approx(
        max(0.5, (t["train_accuracy"] + 1 - t["test_accuracy"]) / 2))
    for score, full in metrics["all_samples"].items():
        assert full["auc"] == roc_auc_score(s["is_member"], -s[score])
        assert 0 <= full["tpr_at_1pct_fpr"] <= 1
        assert full["tpr_at_0.1pct_fpr"] is None  # 200 non-members cannot resolve 0.1%
        assert "needs at least 1,000 non-members" in full["unresolved"]["tpr_at_0.1pct_fpr"]
    rows = {(r["score"], float(r["sampling_percentage"])): r
            for r in csv.DictReader((d / "summary.csv").open())}
    for score, by_p in metrics["attack"]["results"].items():
        for cell in by_p.values():
            acc = [r["accuracy"] for r in cell["repeats"]]
            assert cell["summary"]["accuracy"]["mean"] == np.mean(acc)
            assert np.isclose(cell["summary"]["accuracy"]["std"], np.std(acc, ddof=1))
            for r in cell["repeats"]:
                (tn, fp), (fn, tp) = r["confusion_matrix"]
                assert tn + fp == fn + tp == cell["n_eval_per_class"]
                assert r["accuracy"] == (tp + tn) / (2 * cell["n_eval_per_class"])
            row = rows[score, cell["sampling_percentage"]]
            assert float(row["auc_mean"]) == cell["summary"]["auc"]["mean"]
    # The target's accuracy from the saved weights and the data, not from the training log.
    ds = datasets.load("cifar10", tiny_npz)
    model = architectures.build("lenet5")
    model.load_state_dict(torch.load(d / "model.pt", weights_only=True))
    with torch.no_grad():
        logits = model.eval()(train.to_tensor(ds.x_train, torch.device("cpu"), datasets.CIFAR10))
    correct = (logits.argmax(1).numpy() == ds.y_train).mean()
    assert metrics["target"]["train_accuracy"] == correct
    assert metrics["target"]["n_train"] == int(s["is_member"].sum()) == len(ds.y_train)


def test_an_experiment_with_the_same_recipe_attacks_the_same_trained_target(tmp_path, tiny_npz):
    """baseline-refs50k shares the baseline's recipe: its target is copied, not trained again."""
    from conftest import TINY_EXPERIMENT, write_experiment
    exp = tmp_path / "experiments"
    write_experiment(exp, "tiny", TINY_EXPERIMENT)
    write_experiment(exp, "tiny_other_bank", TINY_EXPERIMENT.replace("tiny test", "another"))
    logs = []
    kwargs = dict(data_dir=str(tiny_npz), device="cpu", quick=False, results_root=tmp_path / "r",
                  cache_root=tmp_path / "c", progress=False, log=logs.append, experiments_dir=exp)
    pipeline.run(["tiny"], **kwargs)
    logs.clear()
    pipeline.run(["tiny_other_bank"], **kwargs)
    out = "\n".join(logs)
    assert "found a model with the same training hash" in out and "train: 2 epochs" not in out
    a, b = (json.loads((tmp_path / "r" / n / "metrics.json").read_text()) for n in ("tiny", "tiny_other_bank"))
    assert a["training_hash"] == b["training_hash"] and a["attack"] == b["attack"]
    assert (tmp_path / "r" / "tiny" / "model.pt").read_bytes() == (tmp_path / "r" / "tiny_other_bank" / "model.pt").read_bytes()


def test_retrain_trains_every_model_again_and_a_shared_one_once(tmp_path, tiny_npz):
    """--retrain takes nothing from the cache, the trajectory snapshots or results/; a bank two
    experiments share, and a trajectory two lengths share, are trained once in the run."""
    from conftest import TINY_EXPERIMENT, write_experiment
    exp = tmp_path / "experiments"
    bank = "[bank]\nmodels = 2\nseed = 7\n"  # one bank seed: a and b share their bank
    write_experiment(exp, "a", TINY_EXPERIMENT + bank)
    write_experiment(exp, "b", TINY_EXPERIMENT.replace("seed = 3", "seed = 4") + bank)
    write_experiment(exp, "a-longer", TINY_EXPERIMENT.replace("epochs = 2", "epochs = 3"))
    logs: list[str] = []
    kwargs = dict(data_dir=str(tiny_npz), device="cpu", quick=False, results_root=tmp_path / "r",
                  cache_root=tmp_path / "c", progress=False, log=logs.append, experiments_dir=exp)
    pipeline.run(None, **kwargs)
    first = {n: (tmp_path / "r" / n / "model.pt").read_bytes() for n in ("a", "b", "a-longer")}
    logs.clear()
    pipeline.run(None, retrain=True, **kwargs)
    text = "\n".join(logs)
    assert "[a] train: 2 epochs" in text and "[b] train: 2 epochs" in text
    assert "[a] train: starting from" not in text and "found a model" not in text
    assert "[a-longer] train: starting from epoch 2, a snapshot of the same run" in text
    bank = [json.loads((tmp_path / "r" / n / "manifest.json").read_text())["wall_seconds"]["bank"]
            for n in ("a", "b")]
    assert sorted(b["models_trained_this_run"] for b in bank) == [0, 2]
    for name, weights in first.items():  # trained again, to the same weights
        assert (tmp_path / "r" / name / "model.pt").read_bytes() == weights, name
