"""Numbers that do not depend on the CPU: the logits every published number comes from are
computed in float64 and rounded to float32 (``engine.evaluation_logits``).

Measured (README, "Reproducing the results"): in float32, the committed target's logits differ
by up to 5.7e-5 between the AVX-512 and the AVX2 code paths of one machine, and the boosted
classifiers of Shokri and ML-Leaks turn such differences into other scores; computed in
float64, the two code paths gave the same bits."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT
from mia import config
from mia.attacks import TargetView, build
from mia.training import engine

# The AVX2 code paths on an AVX-512 machine: PyTorch's own kernels, oneDNN's and MKL's.
AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
FLOAT32_CPU_DIFFERENCE = 5.7e-5  # the largest logit difference measured between those paths

LOGITS = """
import sys, numpy as np, torch
from mia.architectures import build
from mia.training import engine
torch.manual_seed(1)
model = build("lenet5")  # as the pipeline loads a model: contiguous (NCHW) weights
x = torch.randn(600, 3, 32, 32)
np.savez(sys.argv[1], exact=engine.evaluation_logits(model, x).numpy(),
         float32=engine.predict_logits(model, x).numpy(),
         capability=np.array(torch.backends.cpu.get_cpu_capability()))
"""


def _logits(path, env=None):
    import os
    proc = subprocess.run([sys.executable, "-c", LOGITS, str(path)], cwd=ROOT, capture_output=True,
                          text=True, env=dict(os.environ, OMP_NUM_THREADS="1", **(env or {})))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return np.load(path)


def test_evaluation_logits_are_the_float64_forward_rounded_to_float32():
    cfg = config.from_dict({}, "x").train
    model = engine.init_model(cfg, 0, torch.device("cpu"))[0]
    x = torch.randn(300, 3, 32, 32)
    got = engine.evaluation_logits(model, x, batch_size=128)
    assert next(model.parameters()).dtype == torch.float32  # the caller's model is left alone
    with torch.no_grad():
        want = model.double()(x.double()).float()
    assert got.dtype == torch.float32 and torch.equal(got, want)


def test_evaluation_logits_agree_between_the_avx512_and_avx2_code_paths(tmp_path):
    native, avx2 = _logits(tmp_path / "native.npz"), _logits(tmp_path / "avx2.npz", AVX2)
    assert str(avx2["capability"]) == "AVX2"
    assert np.array_equal(native["exact"], avx2["exact"])
    if str(native["capability"]) == "AVX512":  # then the float32 paths do differ: the check bites
        assert not np.array_equal(native["float32"], avx2["float32"])
        assert np.abs(native["float32"] - avx2["float32"]).max() < 10 * FLOAT32_CPU_DIFFERENCE


def _view(logits: np.ndarray, keep: np.ndarray, labels: np.ndarray) -> TargetView:
    """References 1.. attack reference 0 (its logits are the target's)."""
    refs = logits[1:, None]
    return TargetView(logits[0][None], labels, refs, keep[1:], logits[0][None, :1], labels[:1],
                      refs[:, :, :1], keep[1:, :1])


@pytest.mark.parametrize("attack", ["shokri", "ml_leaks"])
def test_classifier_attacks_see_no_float64_difference_and_do_see_a_float32_one(attack):
    """Logits computed in float64 on two CPUs differ by a few float64 ulps at most (none were
    measured): after the rounding to float32 the attack's inputs, and so its scores, are the
    same bits. A float32-sized difference, as between float32 kernels, changes the scores."""
    rng = np.random.default_rng(0)
    k, n, c = 9, 4000, 10
    labels = rng.integers(0, c, n)
    keep = rng.random((k, n)) < 0.5
    exact = rng.normal(0, 3, (k, n, c))
    exact[np.arange(k)[:, None], np.arange(n), labels] += 4 * keep  # members: confident
    other_cpu = exact + exact * np.finfo(np.float64).eps * rng.uniform(-4, 4, exact.shape)
    a, b = exact.astype(np.float32), other_cpu.astype(np.float32)
    assert np.array_equal(a, b)

    def scores(logits):
        view = _view(logits, keep, labels)
        return build(attack, max_rows=4000).fit(view).score(view)
    base = scores(a)
    assert np.array_equal(base, scores(b))
    float32_cpu = a + rng.uniform(-FLOAT32_CPU_DIFFERENCE, FLOAT32_CPU_DIFFERENCE, a.shape
                                  ).astype(np.float32)
    assert not np.array_equal(base, scores(float32_cpu))


def test_the_manifest_records_the_code_paths_a_run_used():
    import json
    import os
    code = ("import json, torch; from mia.manifest import environment; "
            "print(json.dumps(environment(torch.device('cpu'))['device']))")
    env = dict(os.environ, ATEN_CPU_CAPABILITY="avx2")
    for k in ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "NPY_DISABLE_CPU_FEATURES",
              "OPENBLAS_CORETYPE"):
        env.pop(k, None)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    device = json.loads(proc.stdout)
    assert device["torch_cpu_capability"] == "AVX2"
    assert device["forced_code_paths"] == {"ATEN_CPU_CAPABILITY": "avx2"}
