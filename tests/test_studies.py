"""Studies as data: the loader's validation (one line naming the problem and the value), every
committed study file, and a study's results folder written from committed results."""
import csv
import json
import shutil
import subprocess
import sys
import tomllib

import pytest

from conftest import ROOT
from mia import studies, study_results
from mia.deck.make import prepare
from mia.deck.render import check, template_of
from mia.deck.sections import SECTIONS
from mia.errors import UserError
from mia.io import sha256_file

VALID = """
description = "a test study"
sections = ["title", "loss_attack"]
figure = "tpr"
[experiments]
undefended = "a"
defended = "b"
[table]
attacks = ["loss", "rmia_online"]
"""


def write_study(tmp_path, text=VALID, name="s", experiments=("a", "b")):
    exp_dir = tmp_path / "experiments"
    (exp_dir / "studies").mkdir(parents=True, exist_ok=True)
    for e in experiments:
        (exp_dir / f"{e}.toml").write_text("")  # the loader checks that the file exists
    path = exp_dir / "studies" / f"{name}.toml"
    path.write_text(text)
    return path


def test_a_valid_study_loads_with_its_roles_in_order(tmp_path):
    s = studies.load(write_study(tmp_path))
    assert s.name == "s" and s.description == "a test study"
    assert s.experiments == (("undefended", "a"), ("defended", "b"))
    assert s.roles == {"undefended": "a", "defended": "b"} and s.experiment("defended") == "b"
    assert s.sections == ("title", "loss_attack") and s.table_attacks == ("loss", "rmia_online")
    assert s.figure == "tpr"
    with pytest.raises(UserError, match="names no experiment for role 'other'"):
        s.experiment("other")


@pytest.mark.parametrize("change, message", [
    (("description =", "colour = 1\ndescription ="), "unknown key 'colour'"),
    (("attacks =", "rows = 1\nattacks ="), "unknown key 'rows' in \\[table\\]"),
    (('defended = "b"', 'defended = "missing"'), "defended = 'missing'.*declares no such experiment or seed sweep"),
    (('"loss_attack"]', '"loss_attak"]'), "unknown section 'loss_attak'"),
    (('"loss_attack"]', '"title"]'), "names 'title' twice"),
    (('sections = ["title", "loss_attack"]', 'sections = "title"'), "sections .* must be a list"),
    (('undefended = "a"', 'Undefended = "a"'), "role 'Undefended'"),
    (('undefended = "a"', 'undefended = 3'), "undefended .* must be an experiment's name, got 3"),
    (('figure = "tpr"', 'figure = "a/b"'), "figure .* must be a file name"),
    (('attacks = ["loss", "rmia_online"]', 'attacks = []'), "figure 'tpr' .* names none"),
    (('"rmia_online"]', '"rmia_onlin"]'), r"\[table\] attacks .*unknown attack 'rmia_onlin'"),
    (('"rmia_online"]', '"lira_online/nope"]'), r"\[table\] attacks .*'lira_online/nope'"),
    (("[experiments]", "[experiments]\n[other]"), "unknown key 'other'"),
    (('description = "a test study"', 'description = "a test study"\nsections = ['), "malformed TOML"),
])
def test_a_bad_study_is_one_line_naming_the_value(tmp_path, change, message):
    old, new = change
    assert old in VALID
    path = write_study(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(UserError, match=message) as e:
        studies.load(path)
    assert "\n" not in str(e.value)


def test_a_study_needs_experiments(tmp_path):
    path = write_study(tmp_path, 'description = "none"\n')
    with pytest.raises(UserError, match=r"needs an \[experiments\] table"):
        studies.load(path)


def test_load_named_and_available(tmp_path):
    path = write_study(tmp_path, name="mine")
    assert studies.available(path.parent) == ["mine"]
    assert studies.load_named("mine", path.parent).roles["undefended"] == "a"
    with pytest.raises(UserError, match="unknown study 'other'.*mine"):
        studies.load_named("other", path.parent)
    with pytest.raises(UserError, match="study file not found"):
        studies.load(path.parent / "gone.toml")


def test_the_known_sections_are_the_deck_modules_each_with_its_template():
    assert studies.known_sections() == list(SECTIONS)
    for name, module in SECTIONS.items():
        assert (ROOT / "slides" / template_of(name)).is_file(), name
        assert callable(module.facts) and isinstance(module.ROLES, tuple), name


@pytest.mark.parametrize("name", studies.available())
def test_every_committed_study_loads_and_names_existing_experiments(name):
    s = studies.load_named(name)
    assert s.path.parent == ROOT / "experiments" / "studies"
    for role, experiment in s.experiments:
        assert (ROOT / "experiments" / f"{experiment.split('-seed')[0]}.toml").is_file(), (role, experiment)
        assert s.experiments_of(role), role
    for section in s.sections:
        for used in getattr(SECTIONS[section], "USES", ()):
            assert used in s.sections, (section, used)
        for role in SECTIONS[section].ROLES:
            assert role in s.roles, (section, role)


def test_the_deck_presents_a_committed_study():
    settings = tomllib.loads((ROOT / "slides" / "deck.toml").read_text())
    assert settings["study"] in studies.available()


@pytest.fixture()
def results_copy(tmp_path):
    """The files a study's results are made from, copied from the committed results/."""
    s = studies.load_named("baseline-vs-defended")
    root = tmp_path / "results"
    for _, experiment in s.experiments:
        (root / experiment).mkdir(parents=True)
        for f in ("metrics.json", "calibrated.json"):
            shutil.copy(ROOT / "results" / experiment / f, root / experiment / f)
    return s, root


def test_study_results_from_the_committed_results(results_copy):
    s, root = results_copy
    out = study_results.write(s, root, log=lambda *_: None)
    assert out == root / "studies" / s.name
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json", "report", "table.csv", "table.md", f"{s.figure}.pdf", f"{s.figure}.png"]
    assert sorted(p.name for p in (out / "report").iterdir()) == [
        f"{s.figure}_{layout}.{fmt}" for layout in ("one_column", "two_column")
        for fmt in ("pdf", "png")]
    with open(out / "table.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["role"], r["experiment"]) for r in rows] == list(s.experiments)
    for r in rows:
        metrics = json.loads((root / r["experiment"] / "metrics.json").read_text())
        calibrated = json.loads((root / r["experiment"] / "calibrated.json").read_text())
        assert float(r["train_accuracy"]) == metrics["target"]["train_accuracy"]
        assert float(r["test_accuracy"]) == metrics["target"]["test_accuracy"]
        assert float(r["auc_cross_entropy"]) == metrics["all_samples"]["cross_entropy"]["auc"]
        assert r["config_hash"] == metrics["config_hash"]
        for a in s.table_attacks:
            row = calibrated["protocols"]["study"]["rows"][a]
            assert float(r[f"{a} tpr_at_0.1pct_fpr"]) == row["tpr_at_0.1pct_fpr"]
            assert [float(r[f"{a} ci95_low"]), float(r[f"{a} ci95_high"])] == row["ci95"]["tpr_at_0.1pct_fpr"]
    md = (out / "table.md").read_text()
    assert "| undefended | baseline | 91.67% | 57.02% |" in md
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["study"] == s.name and manifest["study_file"]["sha256"] == sha256_file(s.path)
    assert manifest["git"]["commit"] and manifest["written"]
    for role, experiment in s.experiments:
        m = manifest["experiments"][role]
        assert m["experiment"] == experiment
        for f, sha in m["read"].items():
            assert sha == sha256_file(root / experiment / f)
        committed = json.loads((ROOT / "results" / experiment / "manifest.json").read_text())
        assert m["config_hash"] == committed["config_hash"]
        assert m["read"]["metrics.json"] == committed["files"]["metrics.json"]
    assert manifest["files"] == {p.relative_to(out).as_posix(): sha256_file(p)
                                 for p in out.rglob("*") if p.is_file() and p.name != "manifest.json"}
    index = json.loads((root / "studies" / "manifest.json").read_text())
    assert index["studies"] == {s.name: {"manifest_sha256": sha256_file(out / "manifest.json")}}
    # a rerun replaces the folder whole: the same tables, no leftovers
    table = (out / "table.csv").read_bytes()
    study_results.write(s, root, log=lambda *_: None)
    assert (out / "table.csv").read_bytes() == table
    assert sorted(p.name for p in (root / "studies").iterdir()) == sorted(["manifest.json", s.name])


def test_study_results_without_an_experiments_results_is_one_line(results_copy):
    s, root = results_copy
    (root / "defended" / "metrics.json").unlink()
    with pytest.raises(UserError, match="defended = 'defended'.*run `invoke experiments` first") as e:
        study_results.write(s, root)
    assert "\n" not in str(e.value) and not (root / "studies").exists()


def test_study_results_name_an_attack_no_experiment_has(results_copy, tmp_path):
    """A valid row (the loader accepts it) that no experiment's calibrated.json computed: a
    legal config that leaves it out. Its cells are empty, and the log and the manifest say so."""
    s, root = results_copy
    text = s.path.read_text().replace('"rmia_online"]', '"lira_offline/per_sample/flip"]')
    exp_dir = tmp_path / "experiments"
    (exp_dir / "studies").mkdir(parents=True)
    for _, experiment in s.experiments:
        (exp_dir / f"{experiment}.toml").write_text("")
    (exp_dir / "studies" / "typo.toml").write_text(text)
    logs = []
    out = study_results.write(studies.load(exp_dir / "studies" / "typo.toml"), root, log=logs.append)
    said = [line for line in logs if line.startswith("warning: ")]
    assert said == ["warning: [table] attack 'lira_offline/per_sample/flip' of study 'typo' is in "
                    "none of its experiments' calibrated.json: its cells are empty (add it to "
                    "their [calibrated] attacks)"]
    assert json.loads((out / "manifest.json").read_text())["left_out"] == [said[0][len("warning: "):]]
    rows = [line for line in (out / "table.md").read_text().splitlines() if line.startswith("| ")][1:]
    assert rows and all(row.rstrip(" |").endswith("n/a") for row in rows)


def test_study_results_without_calibrated_results_say_n_a(results_copy):
    s, root = results_copy
    for _, experiment in s.experiments:
        (root / experiment / "calibrated.json").unlink()
    logs = []
    out = study_results.write(s, root, log=logs.append)
    assert [line for line in logs if line.startswith("warning: ")] == [
        f"warning: no experiment of study {s.name!r} has calibrated results (no [bank]): the "
        f"table's attack cells are empty"]
    rows = [line for line in (out / "table.md").read_text().splitlines() if line.startswith("| ")][1:]
    assert len(rows) == len(s.experiments)
    assert all(row.count("| n/a") == len(s.table_attacks) for row in rows)


@pytest.mark.parametrize("text, message", [
    (VALID.replace('defended = "b"\n', ""), "section 'loss_attack' needs the role 'defended'"),
    (VALID.replace('["title", "loss_attack"]', '["title", "conclusion"]'),
     "section 'conclusion' reads section 'loss_attack'"),
])
def test_the_deck_refuses_a_study_its_sections_cannot_use(tmp_path, text, message):
    with pytest.raises(UserError, match=message) as e:
        check(studies.load(write_study(tmp_path, text)))
    assert "\n" not in str(e.value)


def test_the_deck_says_which_study_to_set(tmp_path):
    settings = tmp_path / "deck.toml"
    settings.write_text('presenter = "me"\n')
    with pytest.raises(UserError, match="which study does the deck present"):
        prepare(tmp_path, settings_path=settings)
    settings.write_text('study = "baseline-vs-defended"\nslides = 3\n')
    with pytest.raises(UserError, match="unknown key 'slides'"):
        prepare(tmp_path, settings_path=settings)


def test_the_loader_and_the_writer_need_neither_torch_nor_the_experiment_configs():
    code = ("import sys, mia.studies, mia.study_results; "
            "assert 'mia.config' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_invoke_experiments_writes_the_study_of_its_experiments(quick_results):
    """The pipeline writes results/studies/<name>/ after the experiments it compares, from the
    results it has just written."""
    out = quick_results / "studies" / "baseline-vs-defended"
    manifest = json.loads((out / "manifest.json").read_text())
    for role, experiment in studies.load_named("baseline-vs-defended").experiments:
        m = manifest["experiments"][role]
        assert m["read"]["metrics.json"] == sha256_file(quick_results / experiment / "metrics.json")
    assert manifest["files"] == {p.relative_to(out).as_posix(): sha256_file(p)
                                 for p in out.rglob("*") if p.is_file() and p.name != "manifest.json"}


def test_the_pipeline_takes_the_studies_of_the_experiments_it_runs(tmp_path):
    from mia.pipeline import study_stage as run

    path = write_study(tmp_path)
    exp_dir, studies_dir = path.parent.parent, path.parent
    (exp_dir / "c.toml").write_text("")
    assert [s.name for s in run.studies_of(["a"], exp_dir, studies_dir)] == ["s"]
    assert run.studies_of(["c"], exp_dir, studies_dir) == []
    # a study of another folder of experiments (none of its experiments here) is left out
    (studies_dir / "elsewhere.toml").write_text("[experiments]\nx = \"missing\"\n")
    assert [s.name for s in run.studies_of(["a"], exp_dir, studies_dir)] == ["s"]
    (studies_dir / "broken.toml").write_text("[experiments]\nx = \"c\"\ny = \"missing\"\n")
    with pytest.raises(UserError, match="broken.toml.*declares no such experiment"):
        run.studies_of(["a"], exp_dir, studies_dir)  # checked before any work, even when unused


def test_a_study_missing_an_experiments_results_is_named_and_not_written(results_copy):
    from mia.pipeline import study_stage as run

    s, root = results_copy
    (root / "defended" / "metrics.json").unlink()
    logs = []
    assert run.write_studies([s], root, logs.append) == []
    assert logs == [f"study {s.name}: not written, no results in {root} for defended = "
                    f"'defended' (run `invoke experiments` for them)"]
    assert not (root / "studies").exists()
    (root / "defended").rename(root / "defended-gone")
    shutil.copytree(ROOT / "results" / "defended", root / "defended",
                    ignore=shutil.ignore_patterns("*.pt", "*.npz", "*.png", "*.pdf"))
    assert run.write_studies([s], root, logs.append) == [root / "studies" / s.name]


@pytest.mark.parametrize("what, load", [("experiment file", lambda p: __import__("mia.config").config.load(p)),
                                        ("study file", studies.load)])
def test_an_unreadable_toml_file_is_one_line_naming_it(tmp_path, what, load):
    """Experiment and study files share one reader (mia.io.read_toml): not UTF-8, a folder, a
    missing file, malformed TOML: each one line naming the file."""
    (tmp_path / "studies").mkdir()
    latin = tmp_path / "studies" / "latin.toml"
    latin.write_bytes(b'description = "caf\xe9"\n')
    folder = tmp_path / "studies" / "folder.toml"
    folder.mkdir()
    for path, message in ((latin, rf"{what} .*latin.toml is not UTF-8 text \(byte 18: 0xe9\)"),
                          (folder, rf"cannot read {what} .*folder.toml"),
                          (tmp_path / "studies" / "gone.toml", f"{what} not found: .*gone.toml")):
        with pytest.raises(UserError, match=message) as e:
            load(path)
        assert "\n" not in str(e.value)


@pytest.mark.parametrize("name, content, problem", [
    ("metrics.json", '{"experiment": "x"}', "target is missing"),
    ("metrics.json", "[1, 2", "not valid JSON"),
    ("calibrated.json", '{"protocols": {}, "not_computed": {}}', "protocols.study is missing"),
])
def test_a_results_file_the_study_cannot_read_is_one_line_and_writes_nothing(results_copy, name,
                                                                            content, problem):
    s, root = results_copy
    path = root / s.experiments[0][1] / name
    path.write_text(content)
    with pytest.raises(UserError) as e:
        study_results.write(s, root, log=lambda *_: None)
    assert str(e.value).startswith(f"corrupt results file {path}: {problem}")
    assert "\n" not in str(e.value)
    assert not (root / "studies" / s.name).exists()


# ---------------------------------------------------------------- [[comparisons]] of arms
def test_a_studys_comparisons_are_written_from_the_seeds_scores(tmp_path):
    """Two arms of two seeds each, made of the committed baseline's and defended's numbers
    (their scores.npz and metrics.json; the seeds of an arm are copies, so the seed spread is
    zero): the comparison is paired (the same images), its difference is defended minus
    undefended for every seed, and the figure and the tables are written."""
    import json

    exp_dir, root = tmp_path / "experiments", tmp_path / "results"
    (exp_dir / "studies").mkdir(parents=True)
    for arm, source in (("und", "baseline"), ("def", "defended")):
        (exp_dir / f"{arm}.toml").write_text("seeds = [0, 1]\n")
        for seed in (0, 1):
            d = root / f"{arm}-seed{seed}"
            d.mkdir(parents=True)
            for f in ("metrics.json", "scores.npz"):
                shutil.copy(ROOT / "results" / source / f, d / f)
    path = exp_dir / "studies" / "arms.toml"
    path.write_text('description = "arms"\n[experiments]\nundefended = "und"\ndefended = "def"\n'
                    '[[comparisons]]\nname = "l2"\nquestion = "Does L2 leak less?"\n'
                    'a = "undefended"\nb = "defended"\n')
    s = studies.load(path)
    out = study_results.write(s, root, log=lambda *_: None)
    found = json.loads((out / "comparisons.json").read_text())["comparisons"][0]
    assert found["same_samples"] is True and found["seeds"] == 2
    auc = found["metrics"]["auc"]
    undefended = json.loads((ROOT / "results" / "baseline" / "metrics.json").read_text())
    defended = json.loads((ROOT / "results" / "defended" / "metrics.json").read_text())
    assert auc["a"]["per_seed"] == [pytest.approx(undefended["all_samples"]["cross_entropy"]["auc"])] * 2
    assert auc["difference"] == pytest.approx(defended["all_samples"]["cross_entropy"]["auc"]
                                              - undefended["all_samples"]["cross_entropy"]["auc"])
    gap = found["metrics"]["generalisation_gap"]
    assert gap["a"]["mean"] == pytest.approx(undefended["target"]["train_accuracy"]
                                             - undefended["target"]["test_accuracy"])
    assert gap["difference_ci95"][0] == gap["difference_ci95"][1]  # copies: no seed spread
    assert {"comparisons.png", "comparisons.pdf", "comparisons.csv", "comparisons.md"} <= {
        p.name for p in out.iterdir()}
    md = (out / "comparisons.md").read_text()
    assert "## l2: Does L2 leak less?" in md and "paired, on the same" in md
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["experiments"]["undefended"]["members"]) == {"und-seed0", "und-seed1"}
    assert "scores.npz" in manifest["experiments"]["undefended"]["members"]["und-seed0"]["read"]
    # a rerun with the same scores and code keeps the comparisons and the figure
    png = (out / "comparisons.png").read_bytes()
    said = []
    study_results.write(s, root, log=said.append)
    assert (out / "comparisons.png").read_bytes() == png
    assert any("comparisons kept" in line for line in said)
    assert json.loads((out / "manifest.json").read_text())["comparisons_key"] == manifest["comparisons_key"]
    # changed scores: computed again
    shutil.copy(ROOT / "results" / "baseline" / "scores.npz", root / "def-seed1" / "scores.npz")
    said.clear()
    study_results.write(s, root, log=said.append)
    assert not any("comparisons kept" in line for line in said)
    changed = json.loads((out / "comparisons.json").read_text())["comparisons"][0]["metrics"]["auc"]
    assert changed["b"]["per_seed"][1] == pytest.approx(auc["a"]["per_seed"][0])


@pytest.mark.parametrize("text, message", [
    ('[[comparisons]]\nname = "x"\nquestion = "q"\na = "undefended"\nb = "nobody"\n',
     "b = 'nobody' is no role of the study"),
    ('[[comparisons]]\nname = "x"\nquestion = "q"\na = "undefended"\nb = "undefended"\n',
     "compares role 'undefended' with itself"),
    ('[[comparisons]]\nname = "x"\nquestion = "q"\na = "undefended"\n', "needs b"),
    ('[[comparisons]]\nname = "X"\nquestion = "q"\na = "undefended"\nb = "defended"\n',
     "name 'X': lower-case"),
    ('[[comparisons]]\nname = "x"\nquestion = "q"\na = "undefended"\nb = "defended"\nc = 1\n',
     "unknown key 'c'"),
    ('comparisons = 3\n', "must be \\[\\[comparisons\\]\\] tables"),
])
def test_bad_comparisons_are_one_line(tmp_path, text, message):
    base = '[experiments]\nundefended = "a"\ndefended = "b"\n'
    # a top-level key comes before the first table; [[comparisons]] after [experiments]
    path = write_study(tmp_path, text + base if text.startswith("comparisons") else base + text)
    with pytest.raises(UserError, match=message):
        studies.load(path)


def test_arms_of_unequal_seeds_are_refused(tmp_path):
    path = write_study(tmp_path, '[experiments]\nundefended = "a"\ndefended = "b"\n'
                                 '[[comparisons]]\nname = "x"\nquestion = "q"\na = "undefended"\n'
                                 'b = "defended"\n')
    (path.parent.parent / "a.toml").write_text("seeds = [0, 1]\n")
    with pytest.raises(UserError, match="undefended has 2 seeds and defended 1"):
        studies.load(path)
