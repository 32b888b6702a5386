"""The command line as a user meets it: bad input gives one line, exit 2, nothing overwritten."""
import json

import numpy as np
import pytest

from conftest import ROOT, TINY_EXPERIMENT, invoke, make_npz, write_experiment
from mia import config, datasets, pipeline
from mia.errors import UserError

SENTINEL = '{"earlier": "results"}\n'


@pytest.fixture
def workspace(tmp_path, tiny_npz):
    """An experiments folder, a results folder holding earlier results, a private cache."""
    exp = tmp_path / "experiments"
    write_experiment(exp, "tiny", TINY_EXPERIMENT)
    results = tmp_path / "results"
    (results / "tiny").mkdir(parents=True)
    (results / "tiny" / "metrics.json").write_text(SENTINEL)
    return {"exp": exp, "results": results, "data": tiny_npz,
            "env": {"MIA_CACHE_DIR": str(tmp_path / "cache")}}


def run_cli(ws, *extra):
    return invoke("experiments", "--no-progress", "--experiments-dir", str(ws["exp"]),
                  "--results-dir", str(ws["results"]), "--data-dir", str(ws["data"]), *extra,
                  env=ws["env"])


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for f in fragments:
        assert f in lines[0], lines[0]


def assert_untouched(ws):
    assert (ws["results"] / "tiny" / "metrics.json").read_text() == SENTINEL
    assert sorted(p.name for p in ws["results"].iterdir() if p.suffix != ".lock") == ["tiny"]


@pytest.mark.parametrize("replace, fragments", [
    (("[10, 50]", "[0, 50]"), ("sampling percentage must be in (0, 100)", "got 0")),
    (("[10, 50]", "[10, 100]"), ("sampling percentage must be in (0, 100)", "got 100")),
    (("[10, 50]", "[-5]"), ("sampling percentage", "got -5")),
    (("repeats = 2", 'repeats = 2\nscores = ["loss3"]'), ("unknown score name 'loss3'",)),
    (("epochs = 2", "epochs = 0"), ("epochs must be > 0, got 0",)),
    (("epochs = 2", "epochs = [2"), ("malformed TOML", "tiny.toml")),
    (("epochs = 2", "epoch = 2"), ("unknown key 'epoch'",)),
])
def test_bad_experiment_file(workspace, replace, fragments):
    path = workspace["exp"] / "tiny.toml"
    path.write_text(path.read_text().replace(*replace))
    assert_one_line_error(run_cli(workspace), *fragments)
    assert_untouched(workspace)


@pytest.mark.parametrize("threads, fragment", [("0", "threads must be >= 1, got 0"),
                                               ("two", "--threads must be a whole number, got 'two'")])
def test_bad_thread_count(workspace, threads, fragment):
    assert_one_line_error(run_cli(workspace, "--threads", threads), fragment)
    assert_untouched(workspace)


@pytest.mark.parametrize("count, fragment", [
    ("two", "--side-by-side must be a whole number, got 'two'"),
    ("2", "--side-by-side 2 needs --executor ray")])
def test_bad_side_by_side(workspace, count, fragment):
    assert_one_line_error(run_cli(workspace, "--side-by-side", count), fragment)
    assert_untouched(workspace)


def test_unknown_experiment(workspace):
    assert_one_line_error(run_cli(workspace, "--only", "nope"), "unknown experiment 'nope'", "tiny")
    assert_untouched(workspace)


def test_unknown_study_and_only_with_study(workspace):
    assert_one_line_error(run_cli(workspace, "--study", "nope"), "unknown study 'nope'")
    assert_one_line_error(run_cli(workspace, "--only", "tiny", "--study", "nope"),
                          "give --only or --study, not both")
    assert_untouched(workspace)


def test_bad_npz(workspace, tmp_path):
    bad = make_npz(tmp_path / "bad.npz", y_train=np.full(600, 12, np.uint8))
    workspace["data"] = bad
    assert_one_line_error(run_cli(workspace), "label 12 outside 0..9", str(bad))
    assert_untouched(workspace)


def test_missing_data_offline(workspace, tmp_path):
    workspace["data"] = tmp_path / "no-such-dir"
    assert_one_line_error(run_cli(workspace), str(tmp_path / "no-such-dir"), "--data-dir")
    assert_untouched(workspace)


def test_corrupt_checkpoint_leaves_results_intact(workspace, tmp_path):
    cfg = config.load(workspace["exp"] / "tiny.toml")
    ds = datasets.load("cifar10", workspace["data"]).subset(cfg.data.max_train, cfg.data.max_test)
    run_dir = tmp_path / "cache" / "runs" / f"tiny-{pipeline.training_hash(cfg, ds.key)[:16]}"
    run_dir.mkdir(parents=True)
    (run_dir / "checkpoint.pt").write_bytes(b"\x00garbage")
    proc = run_cli(workspace)
    assert_one_line_error(proc, "corrupt checkpoint", str(run_dir / "checkpoint.pt"))
    assert_untouched(workspace)


def test_percentage_too_small_for_the_data_fails_before_training(workspace):
    path = workspace["exp"] / "tiny.toml"
    path.write_text(path.read_text().replace("[10, 50]", "[0.2]"))
    assert_one_line_error(run_cli(workspace), "sampling percentage 0.2")
    assert_untouched(workspace)
    assert not (workspace["results"].parent / "cache" / "runs").exists()


@pytest.mark.parametrize("table, message", [
    ({"calibrated": {"attacks": ["lira_online"]}},
     "[calibrated] attack 'lira_online' needs reference models, but this experiment has no bank "
     "([bank] models = 0)"),
    ({"calibrated": {"references": 4}}, "the calibrated evaluation needs reference models"),
    ({"bank": {"models": 8}, "calibrated": {"references": 10}},
     "[calibrated] references = 10, but the bank holds 8 models ([bank] models)"),
    ({"bank": {"models": 8}, "calibrated": {"references": 3}},
     "[calibrated] references must be 0 (the whole bank) or a multiple of [bank] folds (2), got 3"),
    ({"bank": {"models": 8}, "calibrated": {"attacks": ["lira"]}}, "unknown attack 'lira' in 'lira'"),
    ({"bank": {"models": 8}, "calibrated": {"attacks": ["lira_online/median"]}},
     "'lira_online/median': unknown LiRA variance 'median'"),
    ({"bank": {"models": 8}, "calibrated": {"attacks": ["rmia_online/0.3"]}},
     "attack 'rmia_online' takes no options (and /flip), got 0.3"),
    ({"bank": {"models": 8}, "calibrated": {"power_attacks": ["loss", "loss"]}},
     "[calibrated] power_attacks has duplicates: 'loss' and 'loss' name the same attack"),
    ({"bank": {"models": 8}, "calibrated": {"attacks": ["lira_online", "loss", "lira_online/auto"]}},
     "[calibrated] attacks has duplicates: 'lira_online' and 'lira_online/auto' name the same attack"),
    ({"bank": {"models": 8}, "calibrated": {"attacks": ["rmia_offline/0.3", "rmia_offline/0.30"]}},
     "'rmia_offline/0.3' and 'rmia_offline/0.30' name the same attack"),
])
def test_calibrated_section_bad_input_is_one_line(table, message):
    with pytest.raises(UserError) as e:
        config.from_dict(table, "t")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_calibrated_rows_are_data_named_as_in_the_tables():
    from mia.evaluation import calibrated

    c = config.from_dict({"bank": {"models": 8}, "calibrated": {
        "attacks": ["loss", "lira_online/per_sample/flip", "rmia_offline"],
        "power_attacks": ["lira_offline"], "references": 4}}, "t")
    rows, power = calibrated.configured_rows(c.calibrated)
    assert rows == (("loss", {}, 1), ("lira_online", {"variance": "per_sample"}, 2),
                    ("rmia_offline", {}, 1))
    assert power == (("lira_offline", {}, 1),)
    assert [calibrated.row_key(*r) for r in rows] == list(c.calibrated.attacks)
    for row in calibrated.DEFAULT_ROWS:  # every default row round-trips through its key
        assert calibrated.parse_row(calibrated.row_key(*row))[:3] == row
    defaults = calibrated.configured_rows(config.from_dict({"bank": {"models": 8}}, "t").calibrated)
    assert defaults == (calibrated.DEFAULT_ROWS, calibrated.DEFAULT_POWER)


@pytest.mark.parametrize("appended, fragments", [
    ('[calibrated]\nattacks = ["loss", "rmia_online"]\n',  # a reference attack without a bank
     ("attack 'rmia_online' needs reference models", "[bank] models = 0")),
    ("[bank]\nmodels = 4\n[calibrated]\nreferences = 6\n",  # more references than the bank holds
     ("references = 6, but the bank holds 4 models",)),
    ("[bank]\nmodels = 7\nfolds = 7\n",  # a population that does not split into the folds
     ("[bank] folds = 7: the population of 800 images", "does not split into 7 equal folds")),
])
def test_bank_and_calibrated_bad_input_fails_before_any_work(workspace, appended, fragments):
    path = workspace["exp"] / "tiny.toml"
    path.write_text(path.read_text() + "\n" + appended)
    assert_one_line_error(run_cli(workspace), *fragments)
    assert_untouched(workspace)
    assert not (workspace["results"].parent / "cache" / "runs").exists()


def test_config_validation_through_the_api():
    with pytest.raises(UserError, match="got 'x'"):
        config.from_dict({"attack": {"sampling_percentages": ["x"]}}, "t")
    with pytest.raises(UserError, match="repeats must be > 0"):
        config.from_dict({"attack": {"repeats": 0}}, "t")
    assert config.from_dict({}, "t").train.epochs == 100


@pytest.mark.parametrize("task", ["experiments", "verify"])
def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, tmp_path, task):
    """The tasks turn a KeyboardInterrupt into the shell's code for SIGINT and one line saying
    what was kept (finished stages and bank models are written as they finish: test_bank,
    test_resume)."""
    import importlib.util

    from invoke import Context, Exit

    from mia import pipeline

    spec = importlib.util.spec_from_file_location("mia_tasks", ROOT / "tasks.py")
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(pipeline, "run", interrupted)
    monkeypatch.setattr(pipeline, "DEFAULT_CACHE", tmp_path / "cache")
    with pytest.raises(Exit) as e:
        getattr(tasks, task).body(Context())
    assert e.value.code == 130 and e.value.message == tasks.INTERRUPTED
    assert "\n" not in tasks.INTERRUPTED and tasks.INTERRUPTED.startswith("interrupted: ")


def test_make_ends_with_the_recorded_verdicts_and_fails_on_a_non_reproduction(tmp_path):
    """`invoke verdict` (the last step of `make`): a line per experiment from its manifest, then
    one for all; exit 1 when one was NOT REPRODUCED, so that a script can tell."""
    def results(name, manifest):
        d = tmp_path / "results" / name
        d.mkdir(parents=True)
        (d / "metrics.json").write_text("{}")
        (d / "manifest.json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    results("a", {"reproduction": {"verdict": "reproduced", "numbers_checked": 1234}})
    results("b", {"reproduction": None})
    (tmp_path / "results" / "studies").mkdir()  # not an experiment
    proc = invoke("verdict", "--results-dir", str(tmp_path / "results"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "  a: reproduced (1,234 numbers)", "  b: nothing earlier to compare with",
        f"verdict: every experiment in {tmp_path / 'results'} reproduced the results it replaced, "
        f"or had none to replace"]
    results("c", {"reproduction": {"verdict": "not reproduced", "mismatches": 3,
                                   "largest": "x: 1 vs 2"}})
    results("d", "{")
    proc = invoke("verdict", "--results-dir", str(tmp_path / "results"))
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[2:] == [
        "  c: NOT REPRODUCED: 3 numbers outside tolerance; largest x: 1 vs 2",
        "  d: no readable manifest.json", "verdict: NOT REPRODUCED: c, d"]
    assert invoke("verdict", "--results-dir", str(tmp_path / "nowhere")).returncode == 2
