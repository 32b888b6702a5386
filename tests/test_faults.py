"""The fault suite: bad input and faults never corrupt or mix results, and say so in one line.

Faults are injected deterministically (CI runs as root, so permissions cannot be used, and
kill timing is a race): a monkeypatched step, the ``MIA_FAULT_AT`` hook of ``mia.training.engine``
(``test_resume.py``), or a process killed at a known point. One tiny trained workspace is
shared where a test only needs finished results.
"""
import json
import os
import signal
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY_EXPERIMENT, invoke, write_experiment
from mia import config, io, locking, pipeline
from mia.training import engine as train
from mia.errors import UserError


def one_line_error(proc, *fragments):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith("error: ")
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def ws(tmp_path, tiny_npz):
    exp = tmp_path / "experiments"
    write_experiment(exp, "tiny", TINY_EXPERIMENT)
    return {"exp": exp, "results": tmp_path / "results", "cache": tmp_path / "cache",
            "data": tiny_npz, "tmp": tmp_path}


def run(ws, logs=None, **kw):
    return pipeline.run(["tiny"], data_dir=str(ws["data"]), device="cpu", quick=False,
                        results_root=ws["results"], cache_root=ws["cache"], progress=False,
                        experiments_dir=ws["exp"], log=(logs.append if logs is not None else
                                                        lambda *_: None), **kw)


def cli(ws, *extra):
    return invoke("experiments", "--no-progress", "--experiments-dir", str(ws["exp"]),
                  "--results-dir", str(ws["results"]), "--data-dir", str(ws["data"]), *extra,
                  env={"MIA_CACHE_DIR": str(ws["cache"])})


def run_dir(ws):
    return next((ws["cache"] / "runs").glob("tiny-*"))


# ---------------------------------------------------------------- silent corruption or mixing
def test_a_corrupt_cached_model_is_recomputed_never_copied(ws):
    """Empty the cached model while its scores are cached: the run warns, trains again, and
    the results hold a model that loads, with its checksum in the manifest."""
    run(ws)
    (run_dir(ws) / "model.pt").write_bytes(b"")
    shutil.rmtree(ws["results"] / "tiny")  # no results model to seed from either
    logs = []
    run(ws, logs)
    # its sha256 no longer matches the one recorded when it was written
    assert any("changed cached" in line and "model.pt" in line and "recomputing" in line
               for line in logs)
    assert any("train: 2 epochs" in line for line in logs)
    model = ws["results"] / "tiny" / "model.pt"
    assert model.stat().st_size > 1000
    manifest = json.loads((ws["results"] / "tiny" / "manifest.json").read_text())
    assert manifest["files"]["model.pt"] == io.sha256_file(model)
    for name, digest in manifest["files"].items():
        assert io.sha256_file(ws["results"] / "tiny" / name) == digest


def test_a_second_run_on_the_same_experiment_is_refused_naming_the_first(ws):
    with locking.exclusive(ws["results"] / ".tiny.lock", "results/tiny"):
        proc = cli(ws)
    line = one_line_error(proc, "in use by another run", f"pid {os.getpid()}")
    assert "wait for it to finish" in line
    assert not (ws["results"] / "tiny").exists()


def test_a_lock_dies_with_its_holder(tmp_path):
    """kill -9 of the holder frees the lock at once: no stale lock can block a later run."""
    lock = tmp_path / ".x.lock"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from mia import locking\n"
        f"with locking.exclusive(Path({str(lock)!r}), 'x'):\n"
        "    print('held', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(UserError, match="in use by another run"):
        with locking.exclusive(lock, "x"):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    with locking.exclusive(lock, "x"):
        pass


def test_duplicate_sampling_percentages_are_refused(ws):
    path = ws["exp"] / "tiny.toml"
    path.write_text(path.read_text().replace("[10, 50]", "[10, 10]"))
    one_line_error(cli(ws), "sampling_percentages lists 10 more than once", "[10, 10]")


# ---------------------------------------------------------------- the results folder swap
def test_a_kill_between_the_renames_of_the_swap_is_finished_at_the_next_start(ws):
    """SIGKILL right after the old results are renamed aside, before the new ones move in
    (a real kill: no cleanup runs). The next start finishes the swap."""
    run(ws)
    before = (ws["results"] / "tiny" / "metrics.json").read_bytes()
    script = (
        "import os, signal\n"
        "from pathlib import Path\n"
        "from mia import io, pipeline\n"
        "io._after_first_rename = lambda: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"pipeline.run(['tiny'], data_dir={str(ws['data'])!r}, device='cpu', quick=False,\n"
        f"             results_root=Path({str(ws['results'])!r}), cache_root=Path({str(ws['cache'])!r}),\n"
        f"             progress=False, experiments_dir=Path({str(ws['exp'])!r}), threads=1,\n"
        "             log=lambda *_: None)\n")
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not (ws["results"] / "tiny").exists() and (ws["results"] / ".tiny.old").exists()
    assert (ws["results"] / ".tiny.staging" / "manifest.json").exists()
    logs = []
    run(ws, logs)  # the next start recovers, then runs as usual
    assert any("finished the swap" in line for line in logs)
    assert (ws["results"] / "tiny" / "metrics.json").read_bytes() == before  # same config, same numbers
    assert sorted(p.name for p in ws["results"].iterdir() if p.suffix != ".lock") == [
        "experiments.csv", "experiments.json", "experiments.md", "figures.json", "figures.md",
        "tiny"]


def test_an_incomplete_swap_restores_the_previous_results(tmp_path):
    final = tmp_path / "tiny"
    (tmp_path / ".tiny.old").mkdir()
    (tmp_path / ".tiny.old" / "metrics.json").write_text("old")
    (tmp_path / ".tiny.staging").mkdir()  # no manifest: the new results never completed
    logs = []
    io.recover_swap(final, logs.append)
    assert (final / "metrics.json").read_text() == "old" and "restored" in logs[0]
    assert not (tmp_path / ".tiny.staging").exists() and not (tmp_path / ".tiny.old").exists()


def test_old_results_that_cannot_be_removed_are_set_aside(tmp_path, monkeypatch):
    """A read-only old folder (simulated: CI runs as root) neither fails the swap nor blocks
    the next one."""
    real_rmtree = shutil.rmtree

    def rmtree(path, *a, **k):
        if str(path).endswith(".old"):
            raise PermissionError(13, "Permission denied")
        return real_rmtree(path, *a, **k)
    monkeypatch.setattr(io.shutil, "rmtree", rmtree)
    final = tmp_path / "exp"
    for i in range(2):
        staging = tmp_path / ".exp.staging"
        staging.mkdir()
        (staging / "n").write_text(str(i))
        logs = []
        io.replace_directory(staging, final, logs.append)
        assert (final / "n").read_text() == str(i)
    assert any("could not remove the previous results" in line for line in logs)
    assert not (tmp_path / ".exp.old").exists()


def test_worker_processes_die_with_their_parent(tmp_path):
    script = (
        "import os, time\n"
        "from mia import parallel\n"
        "print(' '.join(str(p) for p in parallel.process_map(os.getpid, [()] * 8, 2)), flush=True)\n"
        "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    workers = {int(p) for p in parent.stdout.readline().split()}
    assert workers and parent.pid not in workers
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=30)
    deadline = time.time() + 20
    while time.time() < deadline and any(os.path.exists(f"/proc/{p}") and
                                         "Z" not in open(f"/proc/{p}/stat").read().split()[2]
                                         for p in workers):
        time.sleep(0.2)
    alive = [p for p in workers if os.path.exists(f"/proc/{p}")
             and open(f"/proc/{p}/stat").read().split()[2] != "Z"]
    assert not alive


# ---------------------------------------------------------------- a line, not a traceback
@pytest.mark.parametrize("replace, fragments", [
    (("seed = 3", "seed = -1"), ("seed must be between 0 and 4294967295, got -1",)),
    (("seed = 3", f"seed = {2**63 - 1}"), ("seed must be between 0", str(2**63 - 1))),
    (("epochs = 2", "epochs = 2\nweight_decay = nan"), ("weight_decay must be a finite number", "nan")),
    (("epochs = 2", "epochs = 2\nlearning_rate = inf"), ("learning_rate must be a finite number", "inf")),
])
def test_bad_numbers_are_refused_before_any_work(ws, replace, fragments):
    path = ws["exp"] / "tiny.toml"
    path.write_text(path.read_text().replace(*replace))
    one_line_error(cli(ws), *fragments)
    assert not ws["cache"].exists() or not any((ws["cache"] / "runs").glob("tiny-*"))


def test_training_that_diverges_stops_naming_the_epoch(tmp_path):
    import torch
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(96, 3, 32, 32, generator=g) * 1e6, torch.randint(0, 10, (96,), generator=g)
    with pytest.raises(UserError, match="training diverged at epoch 1"):
        train.train(config.TrainConfig(epochs=3, batch_size=32, learning_rate=1e30), 0,
                    x[:64], y[:64], x[64:], y[64:], tmp_path, progress=False)


@pytest.mark.parametrize("name, garbage, recomputed", [
    ("scores.npz", b"PK\x03\x04 not a zip", "scores: 3 scores"),
    ("timings.json", b"{not json", "unreadable cache file"),
    ("history.json", b"[{", "train: 2 epochs"),
])
def test_a_corrupt_cache_file_is_recomputed_with_a_warning(ws, name, garbage, recomputed):
    run(ws)
    shutil.rmtree(ws["results"] / "tiny")  # so the history cannot be re-seeded from the results
    (run_dir(ws) / name).write_bytes(garbage)
    logs = []
    run(ws, logs)
    text = "\n".join(logs)
    assert "warning:" in text and recomputed in text
    json.loads((ws["results"] / "tiny" / "metrics.json").read_text())


def test_a_corrupt_results_model_in_a_fresh_clone_is_named(ws):
    run(ws)
    shutil.rmtree(ws["cache"])  # a fresh clone: results, no cache
    (ws["results"] / "tiny" / "model.pt").write_bytes(b"\x00" * 10)
    line = one_line_error(cli(ws), "is not the file its manifest records",
                          str(ws["results"] / "tiny" / "model.pt"))
    assert "--retrain" in line
    # results from before the manifest recorded checksums: the model is loaded, and named
    manifest = json.loads((ws["results"] / "tiny" / "manifest.json").read_text())
    del manifest["files"]
    (ws["results"] / "tiny" / "manifest.json").write_text(json.dumps(manifest))
    line = one_line_error(cli(ws), "corrupt model file", str(ws["results"] / "tiny" / "model.pt"))
    assert "--retrain" in line


def test_an_edited_results_model_in_a_fresh_clone_stops_the_run_and_replaces_nothing(ws):
    """A model edited so that it still loads (one weight moved) is not the file the manifest
    records: the run stops naming it, and every result stays as it was."""
    import torch

    run(ws)
    shutil.rmtree(ws["cache"])  # a fresh clone: results, no cache
    final = ws["results"] / "tiny"
    state = torch.load(final / "model.pt", weights_only=True)
    next(iter(state.values())).view(-1)[0] += 1e-3
    torch.save(state, final / "model.pt")
    before = {p.name: p.read_bytes() for p in final.iterdir() if p.is_file()}
    line = one_line_error(cli(ws), str(final / "model.pt"), "is not the file its manifest records",
                          "--retrain")
    assert "sha256" in line
    assert {p.name: p.read_bytes() for p in final.iterdir() if p.is_file()} == before
    (final / "manifest.json").write_text("{")
    one_line_error(cli(ws), "corrupt", str(final / "manifest.json"), "--retrain")


@pytest.mark.parametrize("kind", ["file", "under_a_file"])
def test_a_results_dir_that_cannot_hold_results_fails_before_training(ws, kind):
    blocker = ws["tmp"] / "a-file"
    blocker.write_text("not a folder")
    ws["results"] = blocker if kind == "file" else blocker / "results"
    one_line_error(cli(ws), str(blocker))
    assert not (ws["cache"] / "runs").exists()


# ---------------------------------------------------------------- smaller
def test_result_files_respect_the_umask(ws):
    old = os.umask(0o022)
    try:
        run(ws)
    finally:
        os.umask(old)
    for name in ("metrics.json", "model.pt", "manifest.json"):
        assert (ws["results"] / "tiny" / name).stat().st_mode & 0o777 == 0o644, name


def test_model_bytes_are_stable_between_identical_runs(ws, tmp_path):
    run(ws)
    first = (ws["results"] / "tiny" / "model.pt").read_bytes()
    shutil.rmtree(ws["cache"])
    shutil.rmtree(ws["results"])
    run(ws)
    assert (ws["results"] / "tiny" / "model.pt").read_bytes() == first


def test_a_rerun_within_tolerance_keeps_the_numbers_it_replaces(ws, monkeypatch):
    """As on another CPU: scores that differ in the last digits give metrics within tolerance,
    so the verdict is REPRODUCED and every file but the manifest stays byte for byte; scores
    moved beyond tolerance replace them."""
    from mia.pipeline import experiment, stages

    run(ws)
    d = ws["results"] / "tiny"
    before = {p: p.read_bytes() for p in d.rglob("*") if p.is_file() and p.name != "manifest.json"}

    def moved(change):
        def load(path):
            return {k: change(v) if v.dtype.kind == "f" else v
                    for k, v in stages.load_scores(path).items()}
        return load
    # every score scaled by 1 + 1e-9: the same ranks, so the same rates, but other thresholds
    monkeypatch.setattr(experiment, "load_scores", moved(lambda v: v * (1 + 1e-9)))
    logs = []
    run(ws, logs)
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["reproduction"]["verdict"] == "reproduced", logs
    assert "note:" not in "\n".join(logs)  # the manifest's hashes were compared too
    assert [p for p, b in before.items() if p.read_bytes() != b] == []
    assert manifest["files"]["metrics.json"] == io.sha256_file(d / "metrics.json")
    # far beyond tolerance, the new numbers replace the old
    rng = np.random.default_rng(0)
    monkeypatch.setattr(experiment, "load_scores",
                        moved(lambda v: v + 0.5 * rng.standard_normal(v.shape)))
    run(ws)
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["reproduction"]["verdict"] == "not reproduced"
    assert (d / "metrics.json").read_bytes() != before[d / "metrics.json"]


def test_the_manifest_command_can_be_pasted_back(ws, monkeypatch):
    from mia.pipeline.results import command_line

    monkeypatch.delenv("MIA_DATA_DIR", raising=False)
    monkeypatch.setattr(sys, "argv", ["invoke", "experiments", "--data-dir", "my data/x.npz"])
    run(ws)
    manifest = json.loads((ws["results"] / "tiny" / "manifest.json").read_text())
    assert manifest["command"] == "invoke experiments --data-dir 'my data/x.npz'"
    # the data chosen by the environment variable is part of the command too
    monkeypatch.setenv("MIA_DATA_DIR", "../shared/my data.npz")
    monkeypatch.setattr(sys, "argv", ["invoke", "experiments"])
    assert command_line() == "MIA_DATA_DIR='../shared/my data.npz' invoke experiments"
    assert manifest["wall_seconds"]["train"]["attempts"] == 1
    assert manifest["wall_seconds"]["train"]["epochs_seconds_all_attempts"] > 0
    with np.load(ws["results"] / "tiny" / "scores.npz") as f:
        assert len(f["is_member"]) == 800


# ---------------------------------------------------------------- disk full
def test_disk_full_while_writing_results_is_one_line_and_loses_nothing(ws, monkeypatch):
    import errno

    from mia.plots import base, calibrated, loss_threshold
    run(ws)
    before = (ws["results"] / "tiny" / "metrics.json").read_bytes()
    calls = []
    real_save = base.save

    def save(fig, path, **kwargs):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path) + ".png")
        real_save(fig, path, **kwargs)
    for module in (loss_threshold, calibrated):  # each calls the save it imported
        monkeypatch.setattr(module, "save", save)
    with pytest.raises(UserError, match="no space left on device while writing .*intact"):
        run(ws, threads=1)  # one process: the patched save is the one that runs
    assert (ws["results"] / "tiny" / "metrics.json").read_bytes() == before
    assert sorted(p.name for p in ws["results"].iterdir() if p.suffix != ".lock") == [
        "experiments.csv", "experiments.json", "experiments.md", "figures.json", "figures.md",
        "tiny"]


def test_the_first_failing_job_stops_the_pool():
    """One failing job among thirty half-second ones on two workers: the call raises as soon
    as the failure is known and the running jobs end, not after all thirty (7.5 s)."""
    from mia import parallel
    t0 = time.perf_counter()
    with pytest.raises(TypeError):
        parallel.process_map(time.sleep, [("not a number",)] + [(0.5,)] * 30, 2)
    assert time.perf_counter() - t0 < 4


# ---------------------------------------------------------------- sample sizes
def test_sizes_that_leave_too_few_samples_to_evaluate_are_refused(ws):
    path = ws["exp"] / "tiny.toml"
    path.write_text(path.read_text().replace("[10, 50]", "[50]")
                    + "[data]\nmax_train = 3\nmax_test = 3\n")
    one_line_error(cli(ws), "leaves 1 samples per class to evaluate on", "need at least 10")


def test_tpr_at_an_fpr_the_evaluation_cannot_resolve_is_null_with_the_reason():
    """500 non-members resolve 1% FPR (5 false positives) but not 0.1% (half of one)."""
    from mia import metrics
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(500, bool), np.zeros(500, bool)]
    got = metrics.threshold_free(y, rng.normal(size=1000) + y)
    assert got["tpr_at_1pct_fpr"] is not None and got["tpr_at_0.1pct_fpr"] is None
    assert got["unresolved"] == {"tpr_at_0.1pct_fpr":
                                 "needs at least 1,000 non-members, the evaluation has 500"}
    assert metrics.mean_std([None, 0.5]) == {"mean": None, "std": None}
    json.dumps(got, allow_nan=False)


def test_more_threads_than_cores_is_warned_about(ws):
    logs = []
    run(ws, logs, threads=train.available_cpus() + 1)
    assert any("warning: --threads" in line and "more cannot run faster" in line for line in logs)


def test_slides_from_a_truncated_metrics_file_is_one_line(ws):
    run(ws)
    for name in ("baseline", "defended"):  # the deck reads both experiments
        shutil.copytree(ws["results"] / "tiny", ws["tmp"] / "deck-results" / name)
    metrics = ws["tmp"] / "deck-results" / "baseline" / "metrics.json"
    metrics.write_text(metrics.read_text()[:100])
    proc = invoke("slides", "--results-dir", str(ws["tmp"] / "deck-results"), "--no-pdf")
    one_line_error(proc, "corrupt results file", str(metrics))


def test_a_bank_too_large_for_memory_is_refused_before_any_work(ws):
    """[bank] models = 10**9: the bank's logits alone would need terabytes. Refused in one line
    before the data's first stage (it used to be a numpy MemoryError after three stages)."""
    write_experiment(ws["exp"], "tiny", TINY_EXPERIMENT + "[bank]\nmodels = 1000000000\n")
    with pytest.raises(UserError, match=r"^\[bank\] models = 1,000,000,000 needs [\d.,]+ TiB for "
                                        r"the bank's logits alone \(1,000,000,000 models x 2 views x "
                                        r"[\d,]+ images x 10 classes, float32\); this machine has "):
        run(ws)
    assert not (ws["cache"] / "runs").exists() and not (ws["results"] / "tiny").exists()


def test_quick_says_what_it_changes():
    from mia.pipeline.experiment import check_memory, quick_changes
    from mia.datasets import CIFAR10

    full = config.from_dict({"train": {"epochs": 100}, "bank": {"models": 16}}, "x")
    small = config.quick(full)
    assert quick_changes(full, small) == (
        "[x] --quick: 2,000 training and 500 test images; 100 -> 2 epochs; sampling percentages "
        f"{list(full.attack.sampling_percentages)} -> [10, 50], 2 repeats; [bank] models 16 -> 6")
    check_memory(full, 60_000, CIFAR10, memory=16 * 2 * 60_000 * 10 * 4)  # exactly enough
    with pytest.raises(UserError, match=r"needs 73.2 MiB .* this machine has 73.2 MiB"):
        check_memory(full, 60_000, CIFAR10, memory=16 * 2 * 60_000 * 10 * 4 - 1)


# ----------------------------------------- the 21 cases of issue 24, each with its test, by name
# (number, the case as the issue found it, "file::test" that now checks what it should do)
ISSUE_24_CASES = [
    (1, "results model.pt edited: reused silently, or replaced by garbage results",
     "test_faults.py::test_an_edited_results_model_in_a_fresh_clone_stops_the_run_and_replaces_nothing"),
    (2, "a bank model edited so that it still loads was reused",
     "test_bank.py::test_a_cached_model_or_logits_file_that_changed_since_it_was_written_is_not_used"),
    (3, "bank logits replaced by zeros of the right shape were used",
     "test_bank.py::test_a_cached_model_or_logits_file_that_changed_since_it_was_written_is_not_used"),
    (4, "a cached bank.json of {} was copied into the results",
     "test_bank.py::test_an_unreadable_cached_bank_description_is_written_again_with_a_warning"),
    (5, "invoke verify said REPRODUCED with a results file deleted, a hash changed, or the "
        "power curve, an interval or 'strongest' edited",
     "test_verify.py::test_every_number_of_calibrated_json_is_judged_at_its_tolerance"),
    (6, "invoke verify compared against results/ that make had just overwritten",
     "test_newcomer.py::test_invoke_verify_says_which_reference_it_used"),
    (7, "a truncated cached bank.json: JSONDecodeError on every rerun",
     "test_bank.py::test_an_unreadable_cached_bank_description_is_written_again_with_a_warning"),
    (8, "invoke slides on a bank of one round: KeyError 'leave_one_out'",
     "test_slides.py::test_a_bank_of_one_round_leaves_out_leave_one_out_and_the_power_curve"),
    (9, "invoke slides with [calibrated] attacks without loss: KeyError 'loss'",
     "test_slides.py::test_without_a_loss_row_the_deck_says_it_did_not_compare_with_it"),
    (10, "invoke slides on a calibrated.json of {}: KeyError",
     "test_slides.py::test_a_calibrated_json_the_deck_cannot_read_is_one_line"),
    (11, "invoke slides on quick and full results mixed: KeyError '10'",
     "test_slides.py::test_quick_and_full_results_never_mix_in_one_deck"),
    (12, "invoke verify on a garbage model.pt or scores.npz: traceback",
     "test_verify.py::test_unreadable_weights_and_scores_are_mismatches_not_tracebacks"),
    (13, "[bank] models = 10**9: MemoryError after three stages",
     "test_faults.py::test_a_bank_too_large_for_memory_is_refused_before_any_work"),
    (14, "--quick capped the bank at 6 without a word",
     "test_faults.py::test_quick_says_what_it_changes"),
    (15, "Ctrl-C during the bank: exit 1, nothing printed",
     "test_faults.py::test_a_real_ctrl_c_during_the_bank_is_one_line_exit_130_and_keeps_the_finished_models"),
    (16, "a truncated committed bank.json: the committed models ignored, the bank retrained",
     "test_bank.py::test_a_fresh_cache_is_seeded_from_committed_results"),
    (17, "lira_online and lira_online/auto both accepted: one attack as two rows",
     "test_cli.py::test_calibrated_section_bad_input_is_one_line"),
    (18, "a missing calibrated.json dropped its slides with exit 0",
     "test_slides.py::test_a_calibrated_json_the_deck_cannot_read_is_one_line"),
    (19, "the verdict printed a rate tolerance as '4.55e-06 samples'",
     "test_calibrated.py::test_the_verdict_judges_calibrated_point_estimates"),
    (20, "a fresh clone that reproduced rewrote 79 committed files",
     "test_newcomer.py::test_a_fresh_clone_that_reproduces_leaves_every_committed_file_but_the_manifests"),
    (21, "make ended with exit 0 and the verdict buried in the log",
     "test_cli.py::test_make_ends_with_the_recorded_verdicts_and_fails_on_a_non_reproduction"),
]


def test_each_of_the_21_cases_of_issue_24_has_its_test():
    """The cases by name: each test named here exists (renaming or deleting one fails this)."""
    import ast
    from pathlib import Path

    assert [n for n, _, _ in ISSUE_24_CASES] == list(range(1, 22))
    here = Path(__file__).parent
    for n, case, where in ISSUE_24_CASES:
        file, name = where.split("::")
        defined = {f.name for f in ast.parse((here / file).read_text()).body
                   if isinstance(f, ast.FunctionDef)}
        assert name in defined, f"case {n} ({case}): no test {where}"


def test_a_real_ctrl_c_during_the_bank_is_one_line_exit_130_and_keeps_the_finished_models(tmp_path):
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it, once the first bank
    models are written: one line, exit 130, those models kept, and the rerun resumes."""
    from conftest import ROOT, make_npz

    data = make_npz(tmp_path / "data.npz", n_train=2000, n_test=400)
    write_experiment(tmp_path / "exp", "tiny", TINY_EXPERIMENT.replace("epochs = 2", "epochs = 3")
                     + "[bank]\nmodels = 6\n")
    env = dict(os.environ, MIA_CACHE_DIR=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    cmd = [shutil.which("invoke", path=str(Path(sys.executable).parent)), "experiments",
           "--no-progress", "--experiments-dir", str(tmp_path / "exp"),
           "--results-dir", str(tmp_path / "results"), "--data-dir", str(data)]
    # as from a terminal: SIGINT handled by default (a shell ignores it in the background
    # jobs it starts, and an ignored signal stays ignored across exec)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while not list((tmp_path / "cache").glob("banks/*/model-*.pt")) and time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert [line for line in err.splitlines() if line.strip()] == [
        "interrupted: results/ holds only whole experiments (each is swapped in when finished); "
        "every finished stage and bank model is kept in the cache, and the same command resumes "
        "from them"]
    kept = sorted(p.name for p in (tmp_path / "cache").glob("banks/*/model-*.pt"))
    assert kept and not (tmp_path / "results" / "tiny").exists()
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{len(kept)} already trained" in again.stdout or len(kept) == 6, again.stdout[-2000:]
