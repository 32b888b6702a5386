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
