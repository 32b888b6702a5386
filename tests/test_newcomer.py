"""The README's path as a newcomer walks it: a fresh clone reuses the committed model, the
deck builds from those results, and the run ends with a reproduction verdict."""
import json
import shutil
import subprocess

import numpy as np
import pytest

from conftest import ROOT, TEST_EXPERIMENTS, invoke
from mia import manifest as manifest_mod, pipeline, plots, studies, study_results, verify
from mia.deck import make, render

EXPERIMENTS = ("baseline", "defended")  # the deck's two roles in tests/experiments/


@pytest.fixture(scope="module")
def reused(quick_results, tiny_npz, tmp_path_factory):
    """``quick_results`` copied as if committed, then rerun with an empty cache (a fresh clone)
    of a later commit (figures record the commit that drew them)."""
    root = tmp_path_factory.mktemp("clone")
    shutil.copytree(quick_results, root / "results")
    logs = []
    later = {"commit": "f" * 40, "code_dirty": False}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(manifest_mod, "git_commit", lambda *a, **k: later)
        mp.setattr(study_results, "git_commit", lambda *a, **k: later)
        pipeline.run(None, data_dir=str(tiny_npz), device="cpu", quick=True,
                     results_root=root / "results", cache_root=root / "empty-cache",
                     progress=False, log=logs.append, experiments_dir=TEST_EXPERIMENTS,
                     studies_dir=studies.STUDIES_DIR)
    return {"results": root / "results", "logs": logs, "committed": quick_results}


def test_a_fresh_clone_takes_in_the_committed_calibrated_results_with_the_same_key(reused):
    """Same weights, bank, settings and code: calibrated.json is taken in, not recomputed."""
    for name in EXPERIMENTS:
        committed = json.loads((reused["committed"] / name / "manifest.json").read_text())
        after = json.loads((reused["results"] / name / "manifest.json").read_text())
        assert after["calibrated_key"] == committed["calibrated_key"]
        assert after["wall_seconds"]["calibrated"] == {
            "seconds": committed["wall_seconds"]["calibrated"]["seconds"], "reused": True}
        assert any(line.startswith(f"[{name}] calibrated attacks: the committed results have the "
                                   f"same inputs and code") for line in reused["logs"])


def test_a_reused_model_keeps_the_training_time_of_the_run_that_trained_it(reused):
    assert any("train: reusing" in line for line in reused["logs"])
    assert not any("train: 2 epochs" in line for line in reused["logs"])
    for name in EXPERIMENTS:
        before = json.loads((reused["committed"] / name / "manifest.json").read_text())
        after = json.loads((reused["results"] / name / "manifest.json").read_text())
        train = after["wall_seconds"]["train"]
        assert train["reused"] is True
        assert train["seconds"] == before["wall_seconds"]["train"]["seconds"] > 0
        assert after["wall_seconds"]["scores"]["reused"] is False  # recomputed from the model


def test_the_rerun_ends_with_a_verdict(reused):
    text = "\n".join(reused["logs"])
    for name in EXPERIMENTS:
        assert f"{name}: REPRODUCED" in text
        manifest = json.loads((reused["results"] / name / "manifest.json").read_text())
        assert manifest["reproduction"]["verdict"] == "reproduced"
        assert manifest["reproduction"]["same_weights"] is True
    assert "Summary" in text and "invoke slides" in text
    assert str(reused["results"] / "baseline" / "summary.md") in text


def test_a_fresh_clone_that_reproduces_leaves_every_committed_file_but_the_manifests(reused):
    """``git status`` stays clean apart from the run's own record."""
    def files(root):  # as git sees them: not the ignored run locks nor unversioned figures
        return sorted(p.relative_to(root) for p in root.rglob("*")
                      if p.is_file() and not p.name.endswith(".lock")
                      and ("figures" not in p.relative_to(root).parts
                           or plots.versioned(p.relative_to(root).as_posix().split("/figures/", 1)[1])))
    committed = files(reused["committed"])
    assert committed == files(reused["results"])
    changed = [str(f) for f in committed
               if (reused["committed"] / f).read_bytes() != (reused["results"] / f).read_bytes()]
    assert changed and all(f.endswith("manifest.json") for f in changed), changed
    for name in EXPERIMENTS:  # the figures were kept, not redrawn with the later commit
        assert any(line.startswith(f"[{name}] figures: the versioned ones kept") for line in reused["logs"])
    assert any(line.startswith("study ") and "figure kept" in line for line in reused["logs"])


def test_the_deck_builds_from_results_with_a_reused_model(reused, tmp_path):
    md = render.render(make.prepare(reused["results"]), tmp_path / "deck.md")
    train = json.loads((reused["results"] / "baseline" / "manifest.json").read_text()
                       )["wall_seconds"]["train"]
    text = md.read_text()
    assert f"{round(train['seconds'] / 60, 1)} min on CPU" in text


def test_invoke_experiments_dash_h_prints_help():
    proc = invoke("experiments", "-h")
    assert proc.returncode == 0, proc.stderr
    assert "--threads" in proc.stdout and "-j" in proc.stdout


def test_the_two_readme_commands_are_make_targets():
    readme = (ROOT / "README.md").read_text()
    assert "make                 # set up" in readme and "make test" in readme
    proc = subprocess.run(["make", "-n", "all", "test"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "invoke experiments" in proc.stdout and "invoke slides" in proc.stdout
    assert "invoke test" in proc.stdout


def test_ci_runs_the_readme_test_command():
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("make test")


def test_every_locked_requirement_is_pinned_with_a_hash():
    for lock in ("requirements.txt", "requirements-dev.txt", "requirements-cluster.txt"):
        text = (ROOT / lock).read_text()
        entries = [e for e in text.split("\n") if e and not e.startswith((" ", "#"))]
        assert entries
        for entry in entries:
            assert "==" in entry, f"{lock}: {entry} is not pinned"
        assert text.count("--hash=sha256:") >= len(entries)
    dev = (ROOT / "requirements-dev.txt").read_text()
    for name in ("hypothesis==", "mutmut==", "pytest==", "numpy==", "scipy==", "scikit-learn=="):
        assert name in dev


def pins(lock: str) -> dict[str, str]:
    entries = [e.split(" ")[0] for e in (ROOT / lock).read_text().split("\n")
               if e and not e.startswith((" ", "#"))]
    return dict(e.split("==") for e in entries)


def test_the_cluster_lock_adds_ray_to_the_default_set_at_the_same_versions():
    """`make cluster` installs Ray beside the default set without changing any of its versions,
    and `make test` installs it for the Ray tests."""
    cluster, default = pins("requirements-cluster.txt"), pins("requirements.txt")
    assert cluster["ray"] == "2.60.0"
    assert {name: cluster[name] for name in default} == default
    assert "ray" not in default and "ray" not in pins("requirements-dev.txt")
    proc = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True)
    assert "requirements-cluster.txt" in proc.stdout or (ROOT / ".venv/.installed-cluster").exists()


# ---------------------------------------------------------------- the verdict itself
def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def _edit_metrics(d, edit):
    m = json.loads((d / "metrics.json").read_text())
    edit(m)
    (d / "metrics.json").write_text(json.dumps(m))


def test_verdict_is_reproduced_for_identical_results(quick_results):
    v = verify.compare(quick_results / "baseline", quick_results / "baseline")
    assert v.reproduced and v.same_weights and v.checked > 100


def test_a_thresholded_metric_within_two_samples_passes_and_beyond_fails(quick_results, tmp_path):
    ref = quick_results / "baseline"
    cell = json.loads((ref / "metrics.json").read_text())["attack"]["results"]["cross_entropy"]["50"]
    n = cell["n_eval_per_class"]

    def shift(samples):
        def edit(m):
            m["attack"]["results"]["cross_entropy"]["50"]["repeats"][1]["recall"] += samples / n
        return edit
    near = _copy(ref, tmp_path / "near")
    _edit_metrics(near, shift(1))
    assert verify.compare(ref, near).reproduced
    far = _copy(ref, tmp_path / "far")
    _edit_metrics(far, shift(3))
    v = verify.compare(ref, far)
    assert not v.reproduced
    assert [m["name"] for m in v.mismatches] == ["cross_entropy.p50.repeat1.recall"]
    assert "NOT REPRODUCED: 1 of" in v.summary() and "repeat1.recall" in v.summary()


def test_moved_scores_and_a_changed_auc_are_mismatches(quick_results, tmp_path):
    ref = quick_results / "baseline"
    cand = _copy(ref, tmp_path / "cand")
    with np.load(ref / "scores.npz") as f:
        arrays = dict(f)
    arrays["cross_entropy"] = arrays["cross_entropy"] * (1 + 1e-3)
    np.savez_compressed(cand / "scores.npz", **arrays)
    _edit_metrics(cand, lambda m: m["all_samples"]["cross_entropy"].update(
        auc=m["all_samples"]["cross_entropy"]["auc"] + 5e-4))
    names = {m["name"].split("[")[0] for m in verify.compare(ref, cand).mismatches}
    assert names == {"scores.cross_entropy", "all_samples.cross_entropy.auc"}


def test_other_weights_are_not_called_a_reproduction(quick_results, tmp_path):
    import torch
    ref = quick_results / "baseline"
    cand = _copy(ref, tmp_path / "cand")
    state = torch.load(ref / "model.pt", weights_only=True)
    last = list(state)[-1]  # the output layer's bias
    state[last] = state[last] + 1e-3
    torch.save(state, cand / "model.pt")
    v = verify.compare(ref, cand)
    assert v.same_weights is False
    assert "not a reproduction test" in v.summary()


def test_invoke_verify_compares_without_overwriting(quick_results, tmp_path):
    cand = _copy(quick_results, tmp_path / "cand")
    before = (quick_results / "baseline" / "metrics.json").read_bytes()
    ok = invoke("verify", "--reference", str(quick_results), "--candidate", str(cand))
    assert ok.returncode == 0, ok.stderr
    assert "baseline: REPRODUCED" in ok.stdout and "defended: REPRODUCED" in ok.stdout
    _edit_metrics(cand / "defended", lambda m: m["target"].update(test_accuracy=0.0))
    bad = invoke("verify", "--reference", str(quick_results), "--candidate", str(cand))
    assert bad.returncode == 1
    assert "defended: NOT REPRODUCED" in bad.stdout and "target.test_accuracy" in bad.stdout
    assert (quick_results / "baseline" / "metrics.json").read_bytes() == before


def test_invoke_verify_says_which_reference_it_used(quick_results, tmp_path):
    """By default the committed results (git HEAD), not a working tree a run may have
    rewritten; --reference says it was given."""
    given = invoke("verify", "--reference", str(quick_results), "--candidate", str(quick_results))
    assert given.stdout.splitlines()[0] == f"reference: {quick_results} (given with --reference)"
    default = invoke("verify", "--candidate", str(quick_results),
                     env={"MIA_CACHE_DIR": str(tmp_path / "cache")})
    first = default.stdout.splitlines()[0]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    assert first.startswith(f"reference: results/ as committed at {head[:12]} (copied to "
                            f"{tmp_path / 'cache' / 'verify-reference' / 'results'})"), first


def test_invoke_verify_reruns_on_the_reference_models_without_retraining(quick_results, tiny_npz,
                                                                         tmp_path):
    """On a fresh clone (empty cache) `invoke verify` reuses the reference's models and leaves
    the reference untouched."""
    reference = _copy(quick_results, tmp_path / "reference")
    before = {p: p.read_bytes() for p in reference.rglob("*") if p.is_file()}
    proc = invoke("verify", "--quick", "--reference", str(reference), "--data-dir", str(tiny_npz),
                  "--no-progress", "--experiments-dir", str(TEST_EXPERIMENTS), env={"MIA_CACHE_DIR": str(tmp_path / "empty-cache")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "baseline: REPRODUCED" in proc.stdout and "defended: REPRODUCED" in proc.stdout
    assert {p: p.read_bytes() for p in reference.rglob("*") if p.is_file()} == before
    rerun = tmp_path / "empty-cache" / "verify" / "results"
    for name in EXPERIMENTS:  # the models were reused, never trained again
        manifest = json.loads((rerun / name / "manifest.json").read_text())
        assert manifest["wall_seconds"]["train"]["reused"] is True
        assert manifest["wall_seconds"]["calibrated"]["reused"] is False  # recomputed


def test_a_missing_repeat_key_is_one_mismatch_and_the_rest_is_still_checked(quick_results, tmp_path):
    ref = quick_results / "baseline"
    cand = _copy(ref, tmp_path / "cand")
    _edit_metrics(cand, lambda m: m["attack"]["results"]["cross_entropy"]["50"]["repeats"][0]
                  .pop("f1"))
    v = verify.compare(ref, cand)
    assert [m["name"] for m in v.mismatches] == ["cross_entropy.p50.repeat0 (keys)"]
    assert v.checked > 100


def test_weights_of_another_shape_are_not_the_same_weights(quick_results, tmp_path):
    import torch
    ref = quick_results / "baseline"
    cand = _copy(ref, tmp_path / "cand")
    state = torch.load(ref / "model.pt", weights_only=True)
    last = list(state)[-1]
    state[last] = torch.zeros(3)
    torch.save(state, cand / "model.pt")
    assert verify.compare(ref, cand).same_weights is False


def test_the_code_version_changes_with_any_source_it_covers(tmp_path, monkeypatch):
    from mia import locations
    from mia.pipeline import stages

    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "sub" / "b.py").write_text("y = 2\n")
    (tmp_path / "one.py").write_text("z = 3\n")
    monkeypatch.setattr(locations, "REPO", tmp_path)
    first = stages.code_version(("pkg", "one.py"))
    assert stages.code_version(("pkg", "one.py")) == first
    (tmp_path / "pkg" / "sub" / "b.py").write_text("y = 3\n")
    second = stages.code_version(("pkg", "one.py"))
    assert second != first
    (tmp_path / "pkg" / "notes.txt").write_text("not code")  # only Python sources count
    assert stages.code_version(("pkg", "one.py")) == second
    assert set(stages.CALIBRATED_CODE) >= {"mia/attacks/base.py", "mia/evaluation/calibrated.py", "mia/metrics.py"}


def test_the_calibrated_code_is_the_experiments_own_members_and_nothing_else():
    """An attack, dataset or architecture the calibrated results do not run is not in their
    key: adding a member to a family keeps every committed calibrated.json."""
    from mia import config
    from mia.pipeline import stages

    baseline = stages.calibrated_code(config.load_named("baseline"))
    members = set(baseline) - set(stages.CALIBRATED_CODE)
    assert members == {"mia/attacks/gap.py", "mia/attacks/lira.py", "mia/attacks/loss.py",
                       "mia/attacks/rmia.py", "mia/attacks/shadow.py",
                       "mia/datasets/cifar10.py", "mia/architectures/lenet5.py"}
    assert all((stages.locations.REPO / f).exists() for f in baseline)
    mnist = config.load_named("mnist-loss-threshold")
    assert "mia/datasets/mnist.py" in stages.calibrated_code(mnist)
    assert "mia/attacks/global_threshold.py" not in baseline
