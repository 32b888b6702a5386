"""``parallel.process_map`` and the stages that use it: same results on any number of workers."""
import json

import numpy as np
import pytest

from mia import config
from mia.evaluation import threshold
from mia.errors import UserError
from mia.parallel import process_map


def test_results_come_back_in_job_order_on_several_processes():
    jobs = [(base, 3) for base in range(12)]
    done = []
    assert process_map(pow, jobs, workers=2, on_done=lambda: done.append(1)) == \
        [b ** 3 for b in range(12)]
    assert len(done) == 12


def test_an_error_in_a_worker_is_raised_with_its_own_type():
    with pytest.raises(UserError, match="sampling percentage 0.1"):
        process_map(threshold.attacker_counts, [(1000, 500, 10), (1000, 500, 0.1)], workers=2)


def test_fewer_than_one_worker_is_refused():
    with pytest.raises(ValueError, match="at least one worker, got 0"):
        process_map(pow, [(2, 2)], workers=0)


def test_attack_stage_is_the_same_on_one_and_two_processes():
    rng = np.random.default_rng(0)
    is_member = np.r_[np.ones(3000, bool), np.zeros(1000, bool)]
    scores = {"is_member": is_member}
    for s in ("cross_entropy", "probability_loss"):
        scores[s] = np.where(is_member, rng.exponential(0.5, 4000), rng.exponential(1.0, 4000))
    cfg = config.ExperimentConfig(name="t", attack=config.AttackConfig(
        scores=("cross_entropy", "probability_loss"), sampling_percentages=(5, 50), repeats=3,
        kde_grid_points=256))
    serial = threshold.attack_stage(cfg, scores, progress=False, workers=1)
    parallel = threshold.attack_stage(cfg, scores, progress=False, workers=2)
    assert json.dumps(serial) == json.dumps(parallel)
    runs = serial["results"]["probability_loss"]["50"]["repeats"]
    assert [r["repeat"] for r in runs] == [0, 1, 2]
    assert len({r["threshold"] for r in runs}) == 3  # each repeat its own sample
