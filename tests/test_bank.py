"""The reference bank: trains what is missing, resumes at model granularity, seeds a fresh cache."""
import numpy as np
import pytest
import torch

from mia import config, io, keep as keep_mod, manifest
from mia.datasets import CIFAR10, Dataset
from mia.training import bank, bank_training
from mia.errors import UserError
from mia.io import read_json, write_json, write_npz


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    ds = Dataset(rng.integers(0, 256, (200, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 200),
                 rng.integers(0, 256, (56, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 56),
                 {"sha256": "tiny"}, CIFAR10)
    cfg = config.from_dict({"train": {"epochs": 1, "batch_size": 32}, "bank": {"models": 4}}, "tiny")
    return cfg, ds


def weights(bank_dir, k):
    return [bank.load_state(bank.model_path(bank_dir, m)) for m in range(k)]


def test_bank_trains_every_model_then_only_what_is_missing(tiny, tmp_path):
    cfg, ds = tiny
    d = tmp_path / "bank"
    logs = []
    info = bank_training.train_bank(cfg, ds, d, torch.device("cpu"), progress=False, log=logs.append)
    assert info["trained_this_run"] == 4 and sorted(info["train_seconds"]) == ["0", "1", "2", "3"]
    first = weights(d, 4)
    keep, seeds = bank.read_keep(d / "keep.npz")
    keep_mod.check_keep(keep, 4, 256, "keep")
    assert np.array_equal(seeds, keep_mod.model_seeds(cfg.seed, 4))
    # an interrupted bank: one model never written, one cut off mid-file
    bank.model_path(d, 2).unlink()
    bank.model_path(d, 3).write_bytes(bank.model_path(d, 3).read_bytes()[:100])
    logs.clear()
    info = bank_training.train_bank(cfg, ds, d, torch.device("cpu"), progress=False, log=logs.append)
    assert info["trained_this_run"] == 2
    assert any("model-003.pt is unreadable or changed; training model 3 again" in line for line in logs)
    assert any("training 2 of 4 models" in line and "2 already trained" in line for line in logs)
    again = weights(d, 4)
    for a, b in zip(first, again):  # the same seeds give the same weights
        assert all(torch.equal(a[n], b[n]) for n in a)
    assert bank_training.train_bank(cfg, ds, d, torch.device("cpu"), progress=False, log=logs.append)["trained_this_run"] == 0


def test_a_cached_model_or_logits_file_that_changed_since_it_was_written_is_not_used(tiny, tmp_path):
    """A model edited so that it still loads, and logits replaced by zeros of the right shape,
    differ from the sha256 recorded when they were written: retrained and recomputed, with a
    warning naming them, to the same bytes as before."""
    cfg, ds = tiny
    d = tmp_path / "bank"
    cpu = torch.device("cpu")
    bank_training.train_bank(cfg, ds, d, cpu, progress=False, log=lambda _: None)
    logits = bank.bank_logits(cfg, ds, d, cpu, progress=False, log=lambda _: None)
    original = bank.model_path(d, 1).read_bytes()
    state = bank.load_state(bank.model_path(d, 1))
    next(iter(state.values())).view(-1)[0] += 1e-3
    torch.save(state, bank.model_path(d, 1))
    np.save(d / bank.LOGITS_FILE, np.zeros_like(logits))
    logs = []
    assert bank_training.train_bank(cfg, ds, d, cpu, progress=False, log=logs.append)["trained_this_run"] == 1
    assert any(f"{bank.model_path(d, 1)} changed since it was written" in line for line in logs)
    assert bank.model_path(d, 1).read_bytes() == original
    # retraining a model removed the logits computed from the old one; zeros again:
    np.save(d / bank.LOGITS_FILE, np.zeros_like(logits))
    write_json(d / io.CHECKSUMS_FILE, {**read_json(d / io.CHECKSUMS_FILE),
                                        bank.LOGITS_FILE: "0" * 64})
    logs.clear()
    assert np.array_equal(bank.bank_logits(cfg, ds, d, cpu, progress=False, log=logs.append), logits)
    assert any(f"{d / bank.LOGITS_FILE} changed since it was written" in line for line in logs)
    # logits with no record of what was written are computed again
    (d / io.CHECKSUMS_FILE).write_text("{")
    logs.clear()
    assert np.array_equal(bank.bank_logits(cfg, ds, d, cpu, progress=False, log=logs.append), logits)
    assert any("unreadable" in line and io.CHECKSUMS_FILE in line for line in logs)
    assert any("has no recorded sha256; computing the logits again" in line for line in logs)
    logs.clear()
    bank.bank_logits(cfg, ds, d, cpu, progress=False, log=logs.append)
    assert logs == []  # recorded now: read from the cache


@pytest.mark.parametrize("garbage", ['{"models": 4', "{}", "[]"])
def test_an_unreadable_cached_bank_description_is_written_again_with_a_warning(tiny, tmp_path, garbage):
    cfg, ds = tiny
    d = tmp_path / "bank"
    info = bank_training.train_bank(cfg, ds, d, torch.device("cpu"), progress=False, log=lambda _: None)
    (d / "bank.json").write_text(garbage)
    logs = []
    again = bank_training.train_bank(cfg, ds, d, torch.device("cpu"), progress=False, log=logs.append)
    assert again["trained_this_run"] == 0 and again["bank_hash"] == info["bank_hash"]
    stored = read_json(d / "bank.json")  # written again: whole, without the lost times
    assert stored["bank_hash"] == info["bank_hash"] and stored["models"] == 4
    assert stored["train_seconds"] == {}
    assert any(f"unreadable {d / 'bank.json'}" in line and "training times it held are lost" in line
               for line in logs)


def test_models_really_train_on_their_own_half(tiny, tmp_path):
    cfg, ds = tiny
    d = tmp_path / "bank"
    bank_training.train_bank(cfg, ds, d, torch.device("cpu"), progress=False, log=lambda _: None)
    w = weights(d, 4)
    assert not torch.equal(w[0]["features.0.weight"], w[1]["features.0.weight"])


def test_a_keep_matrix_from_another_seed_is_refused_with_what_to_do(tiny, tmp_path):
    cfg, ds = tiny
    d = tmp_path / "bank"
    d.mkdir()
    write_npz(d / "keep.npz", keep=keep_mod.paired_keep(4, 256, 99), seeds=keep_mod.model_seeds(cfg.seed, 4))
    with pytest.raises(UserError, match=r"keep-matrix or seeds differ from those of seed 0; delete"):
        bank_training.train_bank(cfg, ds, d, torch.device("cpu"), progress=False, log=lambda _: None)


def test_a_corrupt_cached_keep_matrix_is_written_again_from_the_seed(tiny, tmp_path):
    cfg, ds = tiny
    d = tmp_path / "bank"
    d.mkdir()
    (d / "keep.npz").write_bytes(b"not a zip")
    logs = []
    bank_training.train_bank(cfg, ds, d, torch.device("cpu"), progress=False, log=logs.append)
    assert any("unreadable" in line and "writing it again from the seed" in line for line in logs)
    assert np.array_equal(bank.read_keep(d / "keep.npz")[0], keep_mod.paired_keep(4, 256, cfg.seed))


def test_a_fresh_cache_is_seeded_from_committed_results(tiny, tmp_path):
    cfg, ds = tiny
    trained = tmp_path / "trained"
    bank_training.train_bank(cfg, ds, trained, torch.device("cpu"), progress=False, log=lambda _: None)
    committed = tmp_path / "results" / "bank"
    bank.copy_bank(trained, committed, 4)
    assert not list(committed.glob("logits*.npy"))
    names = [f"bank/{p.name}" for p in sorted(committed.iterdir())]
    write_json(committed.parent / "manifest.json", {"files": manifest.file_checksums(committed.parent, names)})
    fresh = tmp_path / "fresh"
    logs = []
    assert bank.seed_from_results(cfg, ds, committed, fresh, logs.append)
    assert bank_training.train_bank(cfg, ds, fresh, torch.device("cpu"), progress=False, log=logs.append)["trained_this_run"] == 0
    # another K is another bank: not seeded
    other = config.from_dict({"train": {"epochs": 1, "batch_size": 32}, "bank": {"models": 2}}, "tiny")
    assert not bank.seed_from_results(other, ds, committed, tmp_path / "other", logs.append)
    # a committed model edited so that it still loads is named, and not used
    state = torch.load(bank.model_path(committed, 1), weights_only=True)
    next(iter(state.values())).view(-1)[0] += 1e-3
    torch.save(state, bank.model_path(committed, 1))
    with pytest.raises(UserError, match=r"results/bank/model-001.pt is not the file its manifest "
                                        r"records \(sha256 [0-9a-f]{12}\.\.\.\); restore it from git"):
        bank.seed_from_results(cfg, ds, committed, tmp_path / "fresh2", logs.append)
    assert not (tmp_path / "fresh2" / "keep.npz").exists()
    # with no manifest to check against, nothing is taken in
    (committed.parent / "manifest.json").unlink()
    with pytest.raises(UserError, match=r"manifest.json is missing or unreadable \(FileNotFoundError\)"):
        bank.seed_from_results(cfg, ds, committed, tmp_path / "fresh3", logs.append)
    # nor from an unreadable bank description
    (committed / "bank.json").write_text("{")
    with pytest.raises(UserError, match=r"corrupt committed bank description .*bank.json: not valid JSON"):
        bank.seed_from_results(cfg, ds, committed, tmp_path / "fresh4", logs.append)
    (committed / "bank.json").write_text("{}")  # JSON, but not a bank description
    with pytest.raises(UserError, match=r"bank.json: bank_hash is missing; restore it from git"):
        bank.seed_from_results(cfg, ds, committed, tmp_path / "fresh5", logs.append)


@pytest.mark.parametrize("models, folds, message", [
    (-2, 2, r"\[bank\] models must be 0 \(no bank\) or a multiple of folds \(2\): models come in "
            r"rounds of 2, got -2"),
    (3, 2, r"multiple of folds \(2\).*got 3"),
    (8, 6, r"multiple of folds \(6\).*got 8"),
    (6, 1, r"\[bank\] folds must be >= 2 \(each model leaves out one of them\), got 1")])
def test_bank_size_must_be_whole_rounds(models, folds, message):
    with pytest.raises(UserError, match=message):
        config.from_dict({"bank": {"models": models, "folds": folds}}, "t")


def test_a_bank_of_folds_trains_models_that_keep_all_but_one_fold(tmp_path):
    rng = np.random.default_rng(1)
    ds = Dataset(rng.integers(0, 256, (100, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 100),
                 rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 20),
                 {"sha256": "tiny"}, CIFAR10)
    cfg = config.from_dict({"train": {"epochs": 1, "batch_size": 32},
                            "bank": {"models": 3, "folds": 3}}, "t")
    info = bank_training.train_bank(cfg, ds, tmp_path / "b", torch.device("cpu"), progress=False,
                           log=lambda _: None)
    assert info["keeps"] == 80 and info["folds"] == 3
    keep, _ = bank.read_keep(tmp_path / "b" / "keep.npz")
    assert ((~keep).sum(0) == 1).all()
    paired = config.from_dict({"train": {"epochs": 1, "batch_size": 32}, "bank": {"models": 4}}, "t")
    assert bank.bank_hash(cfg, "x", 120) != bank.bank_hash(paired, "x", 120)


def test_bank_logits_are_cached_and_shaped(tiny, tmp_path):
    cfg, ds = tiny
    d = tmp_path / "bank"
    bank_training.train_bank(cfg, ds, d, torch.device("cpu"), progress=False, log=lambda _: None)
    logits = bank.bank_logits(cfg, ds, d, torch.device("cpu"), progress=False)
    assert logits.shape == (4, 2, 256, 10) and logits.dtype == np.float32
    # plain and mirrored differ; a second call reads the cache
    assert not np.array_equal(logits[:, 0], logits[:, 1])
    assert np.array_equal(bank.bank_logits(cfg, ds, d, torch.device("cpu"), progress=False), logits)


def test_every_bank_model_is_more_accurate_on_what_it_kept_than_on_what_it_left_out(tmp_path):
    """A tiny real training run: random images with random labels, which a model can only get
    right by having trained on them. Each model's accuracy on the samples its keep row says it
    trained on must beat its accuracy on the rest: a bank that paired models with the wrong
    rows, or logits with the wrong models, fails."""
    rng = np.random.default_rng(3)
    ds = Dataset(rng.integers(0, 256, (96, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 96),
                 rng.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 32),
                 {"sha256": "random-labels"}, CIFAR10)
    cfg = config.from_dict({"train": {"epochs": 40, "batch_size": 16, "learning_rate": 0.003},
                            "bank": {"models": 4}}, "memorise")
    d = tmp_path / "bank"
    bank_training.train_bank(cfg, ds, d, torch.device("cpu"), progress=False, log=lambda _: None)
    logits = bank.bank_logits(cfg, ds, d, torch.device("cpu"), progress=False)  # (K, A, N, C)
    keep, _ = bank.read_keep(d / "keep.npz")
    _, labels = bank.population(ds)
    for m in range(4):
        correct = logits[m, 0].argmax(-1) == labels
        kept, left = correct[keep[m]].mean(), correct[~keep[m]].mean()
        assert kept > left + 0.3, (m, kept, left)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_a_longer_bank_starts_from_a_shorter_banks_snapshots_with_the_same_weights(tiny, tmp_path, dropout):
    """Banks of 1 and then 3 epochs of one recipe: the 3-epoch bank's models start from the
    1-epoch bank's snapshots and end bitwise where a 3-epoch bank trained from the seeds ends
    (dropout included: its masks depend on (seed, epoch, batch, shard) only)."""
    import dataclasses
    cfg, ds = tiny
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, dropout=dropout))
    longer = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=3))
    cpu = torch.device("cpu")
    snapshots = bank_training.snapshot_dir_for(cfg, ds, tmp_path / "cache")
    assert snapshots == bank_training.snapshot_dir_for(longer, ds, tmp_path / "cache")  # one trajectory
    assert bank.bank_hash(cfg, ds.key, 256) != bank.bank_hash(longer, ds.key, 256)
    bank_training.train_bank(cfg, ds, tmp_path / "short", cpu, progress=False, log=lambda _: None,
                    snapshots=snapshots)
    assert sorted(p.name for p in (snapshots / "model-002").iterdir()) == ["checksums.json",
                                                                      "epoch-0001.pt"]
    # model 1's snapshot cut off mid-file, model 2's changed in a byte (it still loads): both
    # removed, and those models train from their seeds
    path = bank_training.snapshot_path(snapshots, 1, 1)
    path.write_bytes(path.read_bytes()[:100])
    changed = bytearray(bank_training.snapshot_path(snapshots, 2, 1).read_bytes())
    changed[-200] ^= 1
    bank_training.snapshot_path(snapshots, 2, 1).write_bytes(bytes(changed))
    logs = []
    info = bank_training.train_bank(longer, ds, tmp_path / "long", cpu, progress=False, log=logs.append,
                           snapshots=snapshots)
    assert info["trained_from_epoch"] == {"0": 1, "3": 1}
    assert any("changed since it was written" in line and "model-001" in line for line in logs)
    assert any("changed since it was written" in line and "model-002" in line for line in logs)
    assert read_json(tmp_path / "long" / "bank.json")["trained_from_epoch"] == {"0": 1, "3": 1}
    bank_training.train_bank(longer, ds, tmp_path / "scratch", cpu, progress=False, log=lambda _: None)
    for a, b in zip(weights(tmp_path / "long", 4), weights(tmp_path / "scratch", 4)):
        assert all(torch.equal(a[n], b[n]) for n in a)
    assert not (tmp_path / "scratch" / "bank.json").read_text().count("trained_from_epoch")
    # model 0 trained again from its seed (its file lost, its snapshots gone): its entry goes
    bank.model_path(tmp_path / "long", 0).unlink()
    for path in (snapshots / "model-000").glob("epoch-*.pt"):
        path.unlink()
    bank_training.train_bank(longer, ds, tmp_path / "long", cpu, progress=False, log=lambda _: None,
                    snapshots=snapshots)
    assert read_json(tmp_path / "long" / "bank.json")["trained_from_epoch"] == {"3": 1}
    for a, b in zip(weights(tmp_path / "short", 4), weights(tmp_path / "long", 4)):
        assert not all(torch.equal(a[n], b[n]) for n in a)  # two more epochs changed them


def test_a_recipe_whose_epochs_are_not_prefixes_has_no_bank_snapshots(tiny, tmp_path, monkeypatch):
    from mia.recipes import RECIPES
    cfg, ds = tiny
    monkeypatch.setattr(RECIPES[cfg.train.recipe], "epochs_are_prefixes", False)
    assert bank_training.snapshot_dir_for(cfg, ds, tmp_path) is None
