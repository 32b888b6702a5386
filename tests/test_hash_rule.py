"""The hash rule: the committed models and banks keep their keys, and a setting added later
enters a key only when it differs from its default (README, "Experiments: the hash rule")."""
import dataclasses

import pytest

from mia import config, pipeline
from mia.training import bank

# The data key of ../shared/data/cifar10.npz (Dataset.key of that file: its sha256), under
# which every committed model and bank was trained.
CIFAR_NPZ_KEY = {"cifar10.npz": "61040feefc0f145d17cb154db606f9d3a602b461f4328a3cf10bd8eab431944e"}
POPULATION = 60_000

# Read off results/<experiment>/manifest.json and bank/bank.json as committed. baseline's
# config hash changed on 2026-12-01 when baseline.toml set [calibrated]
# leave_one_out_references = [6] (a value other than the default, so it enters the key); its
# training and bank hashes did not, and the other experiments' config hashes did not either.
COMMITTED = {
    "baseline": ("801e8919befed2cf94caf63c4b79765f238d7d1d9b0ee95d3ec3d649249aee60",
                 "76ddf0ffcda296274105cef66bfb599b4169fe02eeb10bbe6830a1daa3c87fab",
                 "c61878f2ddca3c9be058ef4186d79110928daa474d9700556ac8f73b510960c9"),
    "defended": ("2052c2043cb09c0546d6e2acfef74e38f8bfcc25dfb845eb94f46109c81999f6",
                 "b856ade440cabad6a18a9f7f05306f884b254b84cb8103618a522ffa177ab8a7",
                 "5e1d644eb0e22ee8ef2a4d24b4cb256e81ae2018d36fee1708b47c10dae5532e"),
    "baseline-refs50k": ("801e8919befed2cf94caf63c4b79765f238d7d1d9b0ee95d3ec3d649249aee60",
                         "2863ded5b65124f9839c4f06367cbc6a5c10b20f5acf1c7c8dc15d512daace98",
                         "6b958741709500b5f32da9213a2d876abeadfa274d1995ff2b48359186babd66"),
}


@pytest.mark.parametrize("name", sorted(COMMITTED))
def test_committed_hashes_are_pinned(name):
    cfg = config.load_named(name)
    training, config_hash, bank_hash = COMMITTED[name]
    assert pipeline.training_hash(cfg, CIFAR_NPZ_KEY) == training
    assert cfg.hash() == config_hash
    assert bank.bank_hash(cfg, CIFAR_NPZ_KEY, POPULATION) == bank_hash


def test_the_pinned_values_are_the_committed_ones():
    """The table above is what results/ holds, so that the pin cannot drift from it."""
    from mia.io import read_json

    for name, (training, config_hash, bank_hash) in COMMITTED.items():
        manifest = read_json(config.EXPERIMENTS_DIR.parent / "results" / name / "manifest.json")
        assert (manifest["training_hash"], manifest["config_hash"]) == (training, config_hash)
        info = read_json(config.EXPERIMENTS_DIR.parent / "results" / name / "bank" / "bank.json")
        assert info["bank_hash"] == bank_hash


def _sections(cfg):
    return [cfg.data, cfg.train, cfg.attack, cfg.bank, cfg.calibrated]


def test_every_section_is_under_the_rule():
    cfg = config.ExperimentConfig(name="x")
    for section in _sections(cfg):
        names = {f.name for f in dataclasses.fields(section)}
        before = set(config.KEYED_BEFORE_THE_RULE[type(section).__name__])
        assert before <= names, f"{type(section).__name__} lists fields it does not have"


def test_a_later_field_enters_the_key_only_off_its_default(monkeypatch):
    """Pretend ``weight_decay`` was added after the rule: at its default it is not in the key
    (so the key equals that of a config without it), and any other value is."""
    train_fields = tuple(f for f in config.KEYED_BEFORE_THE_RULE["TrainConfig"] if f != "weight_decay")
    monkeypatch.setitem(config.KEYED_BEFORE_THE_RULE, "TrainConfig", train_fields)
    plain = config.ExperimentConfig(name="x")
    assert "weight_decay" not in plain.training_key()["train"]
    decayed = dataclasses.replace(plain, train=dataclasses.replace(plain.train, weight_decay=0.01))
    assert decayed.training_key()["train"]["weight_decay"] == 0.01
    assert pipeline.training_hash(decayed, "d") != pipeline.training_hash(plain, "d")


def test_bank_seed_at_its_default_changes_no_key():
    """``[bank] seed`` came after the rule: -1 (the experiment's seed) keeps every key."""
    cfg = config.load_named("baseline")
    assert "seed" not in config.keyed(cfg.bank)
    explicit = dataclasses.replace(cfg, bank=dataclasses.replace(cfg.bank, seed=cfg.seed))
    # the same bank, drawn from the same seed, named explicitly: the same bank key
    assert bank.bank_hash(explicit, CIFAR_NPZ_KEY, POPULATION) == COMMITTED["baseline"][2]


def test_attack_settings_invalidate_no_trained_model():
    cfg = config.load_named("baseline")
    other = dataclasses.replace(
        cfg, attack=dataclasses.replace(cfg.attack, repeats=3, kde_grid_points=64),
        calibrated=dataclasses.replace(cfg.calibrated, references=8),
        description="another description")
    assert pipeline.training_hash(other, "d") == pipeline.training_hash(cfg, "d")
    assert bank.bank_hash(other, "d", 10) == bank.bank_hash(cfg, "d", 10)
    assert other.hash() != cfg.hash()


def test_targets_of_several_seeds_share_one_bank():
    cfg = config.load_named("baseline")
    shared = dataclasses.replace(cfg, bank=dataclasses.replace(cfg.bank, seed=7))
    reseeded = dataclasses.replace(shared, seed=123)
    assert pipeline.training_hash(reseeded, "d") != pipeline.training_hash(shared, "d")
    assert bank.bank_hash(reseeded, "d", 10) == bank.bank_hash(shared, "d", 10)
    # and the bank of seed 7 is the bank a seed-7 target gets by default
    target7 = dataclasses.replace(cfg, seed=7)
    assert bank.bank_hash(target7, "d", 10) == bank.bank_hash(shared, "d", 10)
    # its keep-matrix and model seeds come from the bank's seed, not the target's
    assert bank.bank_seed(reseeded) == 7 and bank.bank_seed(cfg) == cfg.seed


@pytest.mark.parametrize("bad", [-2, 2**32, True])
def test_bad_bank_seed_is_one_line(bad):
    from mia.errors import UserError

    with pytest.raises(UserError, match=r"\[bank\] seed"):
        config.from_dict({"bank": {"models": 2, "seed": bad}}, "x")


def test_every_committed_config_json_is_what_its_experiment_writes_today():
    """A setting added later and left at its default changes no committed config.json (and so
    no figures' key, which hashes the same settings): ``config.WRITTEN_WHEN_SET``."""
    import json

    results = config.EXPERIMENTS_DIR.parent / "results"
    checked = 0
    for name in config.available():
        path = results / name / "config.json"
        if path.is_file():
            written = json.loads(json.dumps(config.load_named(name).to_dict()))
            assert written == json.loads(path.read_text()), name
            checked += 1
    assert checked >= 20
