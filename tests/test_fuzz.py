"""A fuzz test over every file the project reads (issue 24, item 8).

One real small run (three experiments that share a target and a bank of two rounds) makes
the files; they are found by walking its results and cache folders, so a file added later is
covered without anyone listing it. Each file is, in turn:

- truncated to half; emptied; filled with random bytes;
- for weights (``.pt``): changed by one bit where it still loads;
- for JSON: replaced by valid JSON with each top-level key removed in turn;
- for ``.npz``/``.npy``: given zeros of the right shapes.

Then ``invoke experiments``, ``invoke slides`` (the deck's Markdown) and ``invoke verify``
(against the untouched results) run, in this process: with the cache as it was, and, for a
results file, also as on a fresh clone (no cache: the committed results are all there is). Each case must end in one of two ways:

- *refused*: a UserError (the CLI's one line and exit 2), with every results file as it was;
- *ran*: every experiment's results reproduce the untouched ones with the same weights, so
  that no changed artifact was used silently.

Anything else fails the test: a traceback (any other exception), a refused run that changed
results, or a run whose numbers or weights moved. The cases are sampled with a fixed seed to
keep the test near two minutes (``MIA_FUZZ_CASES``: how many, ``all`` for every case); the
test prints how many files and cases it found and tried. Figures are copied from the
untouched run instead of drawn (drawing is the slow part, and reads no file of these folders).
"""
from __future__ import annotations

import io
import json
import os
import random
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import write_experiment
from mia import pipeline, plots, studies, verify
from mia.deck import make, render
from mia.errors import UserError

SEED = 0
DEFAULT_CASES = 80
EXPERIMENT = """
description = "fuzz"
seed = 1
[data]
max_train = 400
max_test = 200
# the one-run audit's canaries and the per-sample scores: audit.json, attack_scores.npz,
# exposed.npz and their cache files are fuzzed too
canaries = 40
[train]
epochs = 1
batch_size = 64
[attack]
sampling_percentages = [50]
repeats = 1
kde_grid_points = 64
[bank]
models = 4
[calibrated]
per_sample = ["rmia_online", "loss"]
"""
EXPERIMENTS = ("baseline", "defended", "baseline-refs50k")  # the deck's study's experiments
SKIPPED = (".lock",)  # run locks: empty, and never read


def mutations(path: Path) -> list[str]:
    """The changes tried on one file."""
    found = ["truncate", "empty", "random"]
    if path.suffix == ".pt":
        found.append("bitflip")
    if path.suffix == ".json":
        try:
            obj = json.loads(path.read_text())
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            found += [f"drop:{key}" for key in obj]
    if path.suffix in (".npz", ".npy"):
        found.append("zeros")
    return found


def mutate(path: Path, how: str, rng: np.random.Generator) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "random":
        path.write_bytes(rng.integers(0, 256, max(len(data), 16), dtype=np.uint8).tobytes())
    elif how == "bitflip":  # one bit of one weight: the file still loads
        state = torch.load(path, map_location="cpu", weights_only=True)
        tensors = float_tensors(state)
        tensor = tensors[int(rng.integers(len(tensors)))]
        flat = tensor.view(-1).view(torch.int32)  # in place: the tensor is in ``state``
        flat[int(rng.integers(flat.numel()))] ^= 1 << int(rng.integers(0, 23))  # a mantissa bit
        buf = io.BytesIO()
        torch.save(state, buf)
        path.write_bytes(buf.getvalue())
    elif how.startswith("drop:"):
        obj = json.loads(data)
        del obj[how[5:]]
        path.write_text(json.dumps(obj))
    elif how == "zeros":
        if path.suffix == ".npy":
            a = np.load(path, allow_pickle=False)
            buf = io.BytesIO()
            np.save(buf, np.zeros_like(a))
        else:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: np.zeros_like(f[k]) for k in f.files}
            buf = io.BytesIO()
            np.savez(buf, **arrays)
        path.write_bytes(buf.getvalue())
    else:
        raise ValueError(how)


def float_tensors(obj) -> list[torch.Tensor]:
    """The floating-point tensors anywhere in a loaded .pt (a state dict, or a checkpoint
    holding one)."""
    if isinstance(obj, torch.Tensor):
        return [obj] if obj.is_floating_point() and obj.numel() and obj.is_contiguous() else []
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in float_tensors(v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in float_tensors(v)]
    return []


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.endswith(SKIPPED)}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, tiny_npz):
    """The untouched run: its experiments, results and cache, and its figures."""
    root = tmp_path_factory.mktemp("fuzz")
    exp = root / "experiments"
    for name in EXPERIMENTS:  # the study's roles; one target, one bank for all
        write_experiment(exp, name, EXPERIMENT)
    pipeline.run(None, data_dir=str(tiny_npz), device="cpu", quick=False,
                 results_root=root / "results", cache_root=root / "cache", progress=False,
                 threads=1, log=lambda *_: None, experiments_dir=exp,
                 studies_dir=studies.STUDIES_DIR)
    return {"root": root, "experiments": exp, "data": tiny_npz}


def cases(pristine) -> list[tuple[str, str, str]]:
    """Every (setting, file, change) of the untouched run's results and cache folders: with
    the cache as it was ("cached"), and for a results file also as a fresh clone would meet
    it, with no cache ("fresh")."""
    found = []
    for folder in ("results", "cache"):
        for path in sorted((pristine["root"] / folder).rglob("*")):
            if not path.is_file() or path.name.endswith(SKIPPED) or path.suffix in (".png", ".pdf"):
                continue
            rel = str(path.relative_to(pristine["root"]))
            settings = ("cached", "fresh") if folder == "results" else ("cached",)
            found += [(setting, rel, how) for setting in settings for how in mutations(path)]
    return found


def run_case(pristine, work: Path, setting: str, rel: str, how: str) -> str:
    """One case in ``work``: 'refused' or 'ran', or an AssertionError saying what went wrong."""
    if work.exists():
        shutil.rmtree(work)
    for folder in ("results", "cache") if setting == "cached" else ("results",):
        shutil.copytree(pristine["root"] / folder, work / folder)
    before = snapshot(work / "results")
    mutate(work / rel, how, np.random.default_rng(SEED))
    kw = dict(data_dir=str(pristine["data"]), device="cpu", quick=False, progress=False,
              threads=1, log=lambda *_: None, experiments_dir=pristine["experiments"],
              studies_dir=studies.STUDIES_DIR)
    try:
        pipeline.run(None, results_root=work / "results", cache_root=work / "cache", **kw)
    except UserError as e:
        assert "\n" not in str(e), f"{rel} {how}: a message of more than one line: {e}"
        # nothing lost: an experiment's results are as they were, or (one that finished
        # before the refusal) reproduce them with the same weights
        after = snapshot(work / "results")
        changed = {k.split("/")[0] for k in set(before) | set(after)
                   if before.get(k) != after.get(k) and k != rel.removeprefix("results/")}
        for name in sorted(changed):
            v = (verify.compare(pristine["root"] / "results" / name, work / "results" / name)
                 if name in EXPERIMENTS else None)
            assert v is not None and v.reproduced and v.same_weights, (
                f"{rel} {how}: refused ({e}) but changed results/{name}")
        return "refused"
    for name in EXPERIMENTS:  # nothing changed was used: the same numbers, the same weights
        v = verify.compare(pristine["root"] / "results" / name, work / "results" / name)
        assert v.reproduced and v.same_weights, f"{rel} {how}: {v.summary()}"
    try:
        render.render(make.prepare(work / "results"), work / "deck.md")
    except UserError as e:
        assert "\n" not in str(e), f"{rel} {how}: slides: {e}"
    try:
        verify.compare_trees(pristine["root"] / "results", work / "results")
    except UserError as e:
        assert "\n" not in str(e), f"{rel} {how}: verify: {e}"
    return "ran"


def test_fuzz_every_file_the_project_reads(pristine, tmp_path, monkeypatch, capsys):
    figures = {name: pristine["root"] / "results" / name / "figures" for name in EXPERIMENTS}

    def copy_figures(config, scores, history, metrics, out_dir, **_):
        shutil.copytree(figures[config.name], out_dir, dirs_exist_ok=True)
    monkeypatch.setattr(plots, "experiment_figures", copy_figures)
    monkeypatch.setattr(plots, "calibrated_figures", lambda *a, **k: None)

    every = cases(pristine)
    wanted = os.environ.get("MIA_FUZZ_CASES", str(DEFAULT_CASES))
    chosen = every if wanted == "all" else random.Random(SEED).sample(every, min(int(wanted), len(every)))
    files = {rel for _, rel, _ in every}
    t0 = time.perf_counter()
    outcomes, failures = Counter(), []
    for setting, rel, how in chosen:
        try:
            outcomes[f"{setting}: {run_case(pristine, tmp_path / 'work', setting, rel, how)}"] += 1
        except AssertionError as e:
            failures.append(f"{setting} {str(e).splitlines()[0]}")
        except Exception as e:  # a traceback a user would see
            failures.append(f"{setting} {rel} {how}: {type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''}")
    with capsys.disabled():
        print(f"\nfuzz: {len(files)} files, {len(every)} cases, {len(chosen)} tried in "
              f"{time.perf_counter() - t0:.0f} s: {dict(outcomes)}, {len(failures)} failed")
    assert not failures, "\n".join(failures)
