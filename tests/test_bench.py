"""``invoke bench`` end to end on a small synthetic set: the JSON, the manifest, the doc."""
import json

import pytest

from mia import bench
from mia.training.engine import cpu_workers


def test_bench_writes_ratios_manifest_and_doc(tmp_path):
    out = tmp_path / "bench" / "cpu-test.json"
    report = bench.main(["--device", "cpu", "--steps", "3", "--ks", "2", "--samples", "1024",
                         "--attack-repeats", "1", "--rounds", "2", "--ray-banks", "2x100",
                         "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["variants"].keys() == report["variants"].keys()
    v = saved["variants"]
    assert v["reference_dataloader_b64"]["ratio_to_reference"] == 1.0
    for name in ("single_b64", "single_b128", "single_b128_1worker", "plain_b128_all_threads",
                 "many_k2_vmap", "many_k2_loop"):
        assert "error" not in v[name], v[name]
        assert v[name]["samples_per_s"] > 0
        assert abs(v[name]["ratio_to_reference"] - v[name]["samples_per_s"]
                   / v["reference_dataloader_b64"]["samples_per_s"]) < 1e-9
    # the pipeline's default engine: the config's shards over a worker per available core
    assert v["single_b128"]["engine"] == "cpu_sharded" and v["single_b128"]["cpu_shards"] == 2
    assert v["single_b128"]["cpu_workers"] == cpu_workers().n
    assert v["single_b128_1worker"]["cpu_workers"] == 1
    paired = saved["paired"]
    assert len(paired["ratios"]) == 2 and min(paired["ratios"]) <= paired["median_ratio"] <= max(paired["ratios"])
    assert paired["ratios"][0] == paired["single_b128_samples_per_s"][0] / paired["reference_samples_per_s"][0]
    assert saved["attack"]["fits"] == 21 and saved["attack"]["seconds_1worker"] > 0
    assert saved["scoring"]["samples"] == 1024 + bench.N_TEST
    # Ray's overhead: the same bank through both executors, the same weights
    ray_bank = saved["executors"]["banks"][0]
    assert (ray_bank["models"], ray_bank["images_per_model"], ray_bank["same_weights"]) == (2, 100, True)
    assert ray_bank["ray_warm_over_local"] == pytest.approx(
        ray_bank["ray_warm_seconds"] / ray_bank["local_seconds"], rel=0.01)
    manifest = json.loads((out.parent / "manifest.json").read_text())
    assert manifest["files"]["cpu-test.json"]["created"] == saved["created"]
    doc = bench.performance_doc(out.parent, tmp_path / "no-results")
    assert "## `cpu-test.json`" in doc and "| single_b128 |" in doc
    assert "target: single-model trainer >= 2.5x reference" in doc and "alternating rounds" in doc
    assert "Ray executor (its local instance; Ray started in" in doc


def test_cudnn_autotuner_is_on_only_inside_the_measurement():
    import torch

    before = torch.backends.cudnn.benchmark
    seen = bench.with_cudnn_autotuner(lambda n: {"n": n, "on": torch.backends.cudnn.benchmark}, 3)
    assert seen == {"n": 3, "on": True, "cudnn_benchmark": True}
    assert torch.backends.cudnn.benchmark == before
