"""What a run will train, said before it trains (``mia.pipeline.plan``): a run that would train
for long on CPU stops first, in one line, with what, why and how long, unless told to go on."""
import json

import pytest

from conftest import TINY_EXPERIMENT, invoke, write_experiment
from mia import config, datasets, pipeline
from mia.errors import UserError
from mia.pipeline import plan

LONG = TINY_EXPERIMENT.replace("epochs = 2", "epochs = 20000")  # 20,000 x 450 images / 14,000 a second


@pytest.fixture
def tiny(tiny_npz):
    return {"cifar10": datasets.load("cifar10", str(tiny_npz))}


def test_nothing_trained_yet_is_planned_once_per_target_and_bank(tmp_path, tiny):
    cfg = config.from_dict({"train": {"epochs": 3}, "bank": {"models": 4}}, "a")
    same = config.from_dict({"train": {"epochs": 3}, "bank": {"models": 4}}, "b")  # shares both
    found = plan.planned_training([cfg, same], tiny, tmp_path / "results", None, tmp_path / "cache")
    assert [(p.kind, p.models) for p in found] == [("target", 1), ("bank", 4)]
    n = len(tiny["cifar10"].y_train)
    assert found[0].seconds == pytest.approx(3 * n / plan.IMAGES_PER_SECOND)
    keeps = (n + len(tiny["cifar10"].y_test)) // 2
    assert found[1].seconds == pytest.approx(4 * 3 * keeps / plan.IMAGES_PER_SECOND)
    assert found[0].why == "there is no trained model for it in the cache or in the results"
    plan.check_training_time(found, cores=2)  # seconds: goes on without a word


def test_runs_of_one_trajectory_are_counted_for_the_longest_run_only(tmp_path, tiny):
    """20-, 50- and 100-epoch runs of one recipe: the longer start from the shorter's snapshots
    (targets and banks), so the plan counts 100 epochs of each, whatever the order."""
    configs = [config.from_dict({"train": {"epochs": e}, "bank": {"models": 2}}, f"e{e}")
               for e in (50, 100, 20)]
    found = plan.planned_training(configs, tiny, tmp_path / "results", None, tmp_path / "cache")
    n = len(tiny["cifar10"].y_train)
    keeps = (n + len(tiny["cifar10"].y_test)) // 2
    targets = sum(p.seconds for p in found if p.kind == "target")
    banks = sum(p.seconds for p in found if p.kind == "bank")
    assert len(found) == 6
    assert targets == pytest.approx(100 * n / plan.IMAGES_PER_SECOND)
    assert banks == pytest.approx(2 * 100 * keeps / plan.IMAGES_PER_SECOND)
    other_seed = config.from_dict({"seed": 1, "train": {"epochs": 20}}, "s1")  # its own trajectory
    found = plan.planned_training(configs + [other_seed], tiny, tmp_path / "results", None,
                                  tmp_path / "cache")
    assert sum(p.seconds for p in found if p.kind == "target") == pytest.approx(
        120 * n / plan.IMAGES_PER_SECOND)


def test_a_long_run_stops_in_one_line_saying_what_why_and_how_long(tmp_path, tiny):
    cfg = config.from_dict({"train": {"epochs": 20000}}, "long")
    found = plan.planned_training([cfg], tiny, tmp_path / "results", None, tmp_path / "cache")
    minutes = 20000 * len(tiny["cifar10"].y_train) / plan.IMAGES_PER_SECOND / 60
    with pytest.raises(UserError) as e:
        plan.check_training_time(found, cores=2)
    said = str(e.value)
    assert "\n" not in said
    assert said.startswith(f"this run would train 1 target (the target of long (20000 epochs on "
                           f"{len(tiny['cifar10'].y_train):,} images)): about {minutes:.0f} min on 2 "
                           f"CPU cores")
    assert "To go on, add --train (make TRAIN=1)" in said
    plan.check_training_time(found, cores=2 * 20)  # 20 times the cores: under 10 minutes


def test_data_other_than_the_committed_models_were_made_from_is_named(tmp_path, tiny):
    cfg = config.from_dict({"train": {"epochs": 20000}}, "exp")
    committed = tmp_path / "results" / "exp"
    committed.mkdir(parents=True)
    (committed / "manifest.json").write_text(json.dumps({
        "training_hash": "other", "config_hash": cfg.hash(),
        "data": {"path": "../shared/data/cifar10.npz", "sha256": {"cifar10.npz": "61040fee" + "0" * 56},
                 "notes": "LOSSY copy"}}))
    (found,) = plan.planned_training([cfg], tiny, tmp_path / "results", None, tmp_path / "cache")
    mine = "/".join(v[:12] for v in sorted(tiny["cifar10"].key.values()))
    assert found.why == (f"your data ({tiny['cifar10'].source['path']}, sha256 {mine}) is not the "
                         f"data the committed models were made from (../shared/data/cifar10.npz, "
                         f"sha256 61040fee0000, LOSSY copy)")


def test_what_a_run_can_reuse_is_not_planned(tmp_path, tiny, tiny_npz):
    exp = tmp_path / "experiments"
    write_experiment(exp, "tiny", TINY_EXPERIMENT + "[bank]\nmodels = 2\n")
    pipeline.run(["tiny"], data_dir=str(tiny_npz), device="cpu", quick=False,
                 results_root=tmp_path / "results", cache_root=tmp_path / "cache", progress=False,
                 log=lambda *_: None, experiments_dir=exp)
    cfg = config.load_named("tiny", exp)
    assert plan.planned_training([cfg], tiny, tmp_path / "results", None, tmp_path / "cache") == []
    # a fresh clone: no cache, the committed model and bank
    assert plan.planned_training([cfg], tiny, tmp_path / "results", None, tmp_path / "empty") == []


def test_invoke_experiments_stops_a_long_run_before_any_work(tmp_path, tiny_npz):
    write_experiment(tmp_path / "exp", "long", LONG)
    proc = invoke("experiments", "--no-progress", "--experiments-dir", str(tmp_path / "exp"),
                  "--results-dir", str(tmp_path / "results"), "--data-dir", str(tiny_npz),
                  env={"MIA_CACHE_DIR": str(tmp_path / "cache")})
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith("error: this run would train 1 target") and "--train" in lines[0]
    assert not (tmp_path / "cache" / "runs").exists() or not any((tmp_path / "cache" / "runs").iterdir())
    assert not (tmp_path / "results" / "long").exists()


def test_canaries_do_not_hide_a_bank_and_a_private_recipe_costs_more(tmp_path, tiny):
    """A target with canaries shares the bank of its recipe without them (one bank planned for
    both); a DP-SGD recipe's epochs count ``relative_cpu_cost`` times an Adam epoch."""
    plain = config.from_dict({"train": {"epochs": 3}, "bank": {"models": 4}}, "a")
    audited = config.from_dict({"data": {"canaries": 50}, "train": {"epochs": 3},
                                "bank": {"models": 4}}, "b")
    found = plan.planned_training([plain, audited], tiny, tmp_path / "results", None,
                                  tmp_path / "cache")
    assert [p.kind for p in found] == ["target", "bank", "target"]
    from mia import recipes
    private = config.from_dict({"train": {"epochs": 3, "recipe": "dp_adam", "dp_epsilon": 4.0}}, "p")
    found = plan.planned_training([private], tiny, tmp_path / "results", None, tmp_path / "cache")
    n = len(tiny["cifar10"].y_train)
    assert found[0].seconds == pytest.approx(
        3 * n / plan.IMAGES_PER_SECOND * recipes.get("dp_adam").relative_cpu_cost)
