"""Runs of one recipe that differ only in their length share one trajectory: a longer run
starts from the snapshot a shorter one left, and ends with the weights of a run from scratch."""
import re

from conftest import TINY_EXPERIMENT, write_experiment

from mia import pipeline


def _run(exp_dir, names, tiny_npz, root):
    lines = []
    pipeline.run(names, data_dir=str(tiny_npz), device="cpu", quick=False,
                 results_root=root / "results", cache_root=root / "cache", progress=False,
                 experiments_dir=exp_dir, log=lines.append)
    return "\n".join(lines)


def test_a_longer_run_starts_from_a_shorter_runs_snapshot(tmp_path, tiny_npz):
    exp = tmp_path / "experiments"
    write_experiment(exp, "short", TINY_EXPERIMENT)
    write_experiment(exp, "long", TINY_EXPERIMENT.replace("epochs = 2", "epochs = 3"))
    log = _run(exp, ["long", "short"], tiny_npz, tmp_path / "shared")  # run shortest first
    assert re.search(r"\[long\] train: starting from epoch 2, a snapshot of the same run", log)
    from mia.io import read_json
    train = read_json(tmp_path / "shared" / "results" / "long" / "manifest.json")["wall_seconds"]["train"]
    assert train["attempts"] == 1 and train["from_snapshot_epoch"] == 2  # the snapshot's run is not an attempt
    alone = _run(exp, ["long"], tiny_npz, tmp_path / "alone")
    assert "starting from epoch" not in alone
    shared = (tmp_path / "shared" / "results" / "long" / "model.pt").read_bytes()
    assert shared == (tmp_path / "alone" / "results" / "long" / "model.pt").read_bytes()
    # the history of the shared run covers every epoch, the first two from the snapshot
    from mia.io import read_json
    history = read_json(tmp_path / "shared" / "results" / "long" / "history.json")
    assert [h["epoch"] for h in history] == [1, 2, 3]
    # a shorter run cannot start from a longer run's snapshot
    assert "starting from epoch" not in _run(exp, ["short"], tiny_npz, tmp_path / "alone")


def test_an_unreadable_or_changed_snapshot_is_removed_and_not_used(tmp_path, tiny_npz):
    """A snapshot cut short, or changed in one byte where it still loads: its sha256 differs
    from the one recorded when it was written, so it is removed and the run trains from its
    seed; one that does not load and has no record (an older cache) is removed too."""
    exp = tmp_path / "experiments"
    write_experiment(exp, "short", TINY_EXPERIMENT)
    write_experiment(exp, "long", TINY_EXPERIMENT.replace("epochs = 2", "epochs = 3"))
    _run(exp, ["short"], tiny_npz, tmp_path / "c")
    (snapshot,) = (tmp_path / "c" / "cache" / "trajectories").glob("*/epoch-0002.pt")
    changed = bytearray(snapshot.read_bytes())
    changed[-300] ^= 1
    snapshot.write_bytes(bytes(changed))
    log = _run(exp, ["long"], tiny_npz, tmp_path / "c")
    assert f"{snapshot} changed since it was written" in log and "starting from epoch" not in log
    assert not snapshot.exists()
    _run(exp, ["short"], tiny_npz, tmp_path / "d")
    (snapshot,) = (tmp_path / "d" / "cache" / "trajectories").glob("*/epoch-0002.pt")
    (snapshot.parent / "checksums.json").unlink()  # a cache from before the records
    snapshot.write_bytes(b"not a checkpoint")
    log = _run(exp, ["long"], tiny_npz, tmp_path / "d")
    assert f"unreadable snapshot {snapshot}" in log and "starting from epoch" not in log
    assert not snapshot.exists() or snapshot.read_bytes() != b"not a checkpoint"


def test_only_a_recipe_whose_runs_are_prefixes_shares_a_trajectory(monkeypatch):
    """Adam declares that a shorter run is a prefix of a longer one; a recipe that does not
    (a schedule, noise scaled to the run's length) keeps its epochs in the trajectory key."""
    import dataclasses

    from mia import config
    from mia.recipes import RECIPES
    from mia.training import jobs

    short = config.from_dict({"train": {"epochs": 20}}, "short")
    long = dataclasses.replace(short, train=dataclasses.replace(short.train, epochs=100))
    assert RECIPES["adam"].epochs_are_prefixes
    assert jobs.trajectory_hash(short, "d") == jobs.trajectory_hash(long, "d")
    assert jobs.trajectory_hash(short, "d") != jobs.trajectory_hash(short, "e")
    scheduled = type("Scheduled", (RECIPES["adam"],), {"epochs_are_prefixes": False})
    monkeypatch.setitem(jobs.RECIPES, "adam", scheduled)
    assert jobs.trajectory_hash(short, "d") != jobs.trajectory_hash(long, "d")
