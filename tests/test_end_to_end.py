"""``invoke experiments --quick`` on a small dataset writes every file it promises."""
import json

import numpy as np

from conftest import invoke
from mia import config, pipeline, train

PER_SCORE_FIGURES = ("losses_sample", "densities", "confusion_matrix")


def test_quick_run_writes_the_results_tree(tmp_path, tiny_npz):
    results = tmp_path / "results"
    proc = invoke("experiments", "--quick", "--no-progress", "--data-dir", str(tiny_npz),
                  "--results-dir", str(results), env={"MIA_CACHE_DIR": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = config.available()
    assert sorted(p.name for p in results.iterdir()) == names  # no staging leftovers
    for name in names:
        d = results / name
        for f in ("config.json", "history.json", "scores.npz", "metrics.json", "summary.csv",
                  "summary.md", "manifest.json", "model.pt"):
            assert (d / f).is_file(), f"{name}/{f} missing"
        history = json.loads((d / "history.json").read_text())
        assert [h["epoch"] for h in history] == [1, 2]
        assert {"epoch", "train_loss", "train_acc", "test_loss", "test_acc"} <= set(history[0])
        with np.load(d / "scores.npz") as s:
            n = len(s["is_member"])
            assert n == 800 and s["is_member"][:600].all() and not s["is_member"][600:].any()
            assert s["is_member"].dtype == bool and s["label"].dtype.kind == "i"
            for score in ("cross_entropy", "probability_loss", "normalized_probability_loss"):
                assert s[score].shape == (n,) and s[score].dtype == np.float64
        metrics = json.loads((d / "metrics.json").read_text())
        res = metrics["attack"]["results"]
        assert set(res) == {"cross_entropy", "probability_loss", "normalized_probability_loss"}
        assert set(res["cross_entropy"]) == {"10", "50"}
        cell = res["cross_entropy"]["50"]
        assert len(cell["repeats"]) == 2 and cell["n_eval_per_class"] == 100
        manifest = json.loads((d / "manifest.json").read_text())
        for key in ("config", "config_hash", "seed", "git", "packages", "device", "data",
                    "wall_seconds"):
            assert key in manifest
        assert manifest["data"]["sha256"]["tiny.npz"]
        assert set(manifest["wall_seconds"]) == {"train", "scores", "attack", "plots", "report"}
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
                 cache_root=tmp_path / "c", progress=False, threads=threads, log=lambda *_: None)
    manifest = json.loads((tmp_path / "r" / "baseline" / "manifest.json").read_text())
    assert manifest["wall_seconds"]["train"]["cpu_workers"] == threads
    assert manifest["wall_seconds"]["attack"]["workers"] == threads
    for name in config.available():
        first, second = quick_results / name, tmp_path / "r" / name
        assert (first / "metrics.json").read_bytes() == (second / "metrics.json").read_bytes()
        strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]  # noqa: E731
        assert strip(json.loads((first / "history.json").read_text())) == \
            strip(json.loads((second / "history.json").read_text()))
        figures = sorted(f.relative_to(first) for f in (first / "figures").rglob("*.*"))
        assert figures == sorted(f.relative_to(second) for f in (second / "figures").rglob("*.*"))
        for f in figures:
            assert (first / f).read_bytes() == (second / f).read_bytes(), f


def test_changed_attack_settings_reuse_the_trained_model(tmp_path, tiny_npz):
    logs = []
    kwargs = dict(data_dir=str(tiny_npz), device="cpu", quick=True, results_root=tmp_path / "r",
                  cache_root=tmp_path / "c", progress=False, log=logs.append)
    pipeline.run(["baseline"], **kwargs)
    assert any("train: 2 epochs" in line for line in logs)
    logs.clear()
    pipeline.run(["baseline"], **kwargs)
    assert any("train: reusing" in line for line in logs)
    assert not any("train: 2 epochs" in line for line in logs)
