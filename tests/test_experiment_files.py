"""Every file in experiments/ is checked without being run: it parses, its settings are valid,
and its sizes fit its dataset (the end-to-end tests run the fixed set in tests/experiments/)."""
import pytest

from conftest import TEST_EXPERIMENTS
from mia import config, datasets, pipeline

EXPERIMENTS = config.available()


def test_there_are_experiments():
    assert EXPERIMENTS, f"no experiment files in {config.EXPERIMENTS_DIR}"


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_file_is_valid_and_fits_its_data(name):
    cfg = config.load_named(name)  # parse + every setting's validation (UserError otherwise)
    spec = datasets.DATASETS[cfg.data.dataset]
    pipeline.check_sizes(cfg, *pipeline.experiment_sizes(cfg, *spec.sizes, spec.num_classes))


def test_the_test_set_is_small_and_valid():
    """The fixed set the end-to-end tests run: a few files, each valid, each named in its README."""
    names = config.available(TEST_EXPERIMENTS)
    assert 1 <= len(names) <= 5
    readme = (TEST_EXPERIMENTS / "README.md").read_text()
    for name in names:
        config.load_named(name, TEST_EXPERIMENTS)
        assert f"`{name}.toml`" in readme


def test_a_bad_experiment_file_fails_the_check(tmp_path):
    """The check above can fail: a file whose bank does not split the population."""
    (tmp_path / "bad.toml").write_text("[bank]\nmodels = 7\nfolds = 7\n")
    cfg = config.load_named("bad", tmp_path)
    from mia.errors import UserError

    with pytest.raises(UserError, match="does not split into 7 equal folds"):
        pipeline.check_sizes(cfg, *pipeline.experiment_sizes(cfg, *datasets.CIFAR10.sizes))


# --- seed sweeps (mia.experiment_files) -------------------------------------------------------

SWEEP = 'description = "an arm"\nseeds = [2, 0, 1]\n[train]\nepochs = 3\n'


def test_a_sweep_declares_one_experiment_per_seed_identical_to_a_file_with_that_seed(tmp_path):
    from mia import experiment_files

    (tmp_path / "arm.toml").write_text(SWEEP)
    (tmp_path / "single.toml").write_text('seed = 1\ndescription = "an arm"\n[train]\nepochs = 3\n')
    assert config.available(tmp_path) == ["arm-seed0", "arm-seed1", "arm-seed2", "single"]
    member = config.load_named("arm-seed1", tmp_path)
    single = config.load_named("single", tmp_path)
    assert (member.name, member.seed, member.train.epochs) == ("arm-seed1", 1, 3)
    # the same settings: the same training key, so the same cached or committed model
    assert member.training_key() == single.training_key()
    # a sweep's stem stands for its members, in the file's seed order
    assert experiment_files.expand(["arm"], tmp_path) == ["arm-seed2", "arm-seed0", "arm-seed1"]
    assert experiment_files.expand(["single", "arm-seed0", "arm"], tmp_path) == [
        "single", "arm-seed0", "arm-seed2", "arm-seed1"]


@pytest.mark.parametrize("text, message", [
    ("seeds = []\n", r"seeds in .*arm.toml must be a non-empty list of integers, got \[\]"),
    ("seeds = 3\n", "must be a non-empty list of integers, got 3"),
    ("seeds = [0, -1]\n", "each must be an integer between 0 and 4294967295, got -1"),
    ("seeds = [0, true]\n", "got True"),
    ("seeds = [1, 1]\n", r"repeats a seed: \[1, 1\]"),
    ("seed = 3\nseeds = [1]\n", "sets both seed and seeds"),
])
def test_a_bad_sweep_is_one_line_naming_the_file_and_value(tmp_path, text, message):
    from mia.errors import UserError

    (tmp_path / "arm.toml").write_text(text)
    with pytest.raises(UserError, match=message):
        config.available(tmp_path)


def test_unknown_names_and_clashes_are_errors(tmp_path):
    from mia import experiment_files
    from mia.errors import UserError

    (tmp_path / "arm.toml").write_text(SWEEP)
    with pytest.raises(UserError, match="unknown experiment 'arm-seed5' .*known: arm, arm-seed0"):
        experiment_files.expand(["arm-seed5"], tmp_path)
    with pytest.raises(UserError, match="unknown experiment 'arm-seed5'"):
        config.load_named("arm-seed5", tmp_path)
    with pytest.raises(UserError, match="is a seed sweep over seeds .*arm-seed2"):
        config.load(tmp_path / "arm.toml")
    with pytest.raises(UserError, match="is a seed sweep over seeds .*got seed 7"):
        config.load(tmp_path / "arm.toml", seed=7)
    (tmp_path / "arm-seed0.toml").write_text("")
    with pytest.raises(UserError, match="two experiments are named 'arm-seed0'"):
        config.available(tmp_path)


def test_a_study_role_may_name_a_sweep_and_stands_for_its_members(tmp_path):
    from mia import studies
    from mia.pipeline import study_stage

    (tmp_path / "arm.toml").write_text(SWEEP)
    (tmp_path / "other.toml").write_text("")
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "s.toml").write_text('[experiments]\nwide = "arm"\nsolo = "other"\n')
    s = studies.load(tmp_path / "studies" / "s.toml")
    assert s.experiments_of("wide") == ("arm-seed2", "arm-seed0", "arm-seed1")
    assert s.experiments_of("solo") == ("other",)
    assert s.all_experiments == ["arm-seed2", "arm-seed0", "arm-seed1", "other"]
    assert study_stage.studies_of(["arm-seed0"], tmp_path, tmp_path / "studies") == [s]
