"""Which images leak (``mia.exposure``): slices at one threshold, overlaps of the top scores, and
the gallery, on synthetic per-sample scores with known answers."""
import json

import numpy as np
import pytest

from mia import exposure
from mia.intervals import wilson


def test_one_threshold_flags_the_stated_share_of_non_members():
    rng = np.random.default_rng(0)
    non = rng.normal(size=10_000)
    t = exposure.threshold(non, 0.01)
    assert (non > t).mean() <= 0.01 and (non >= t).mean() >= 0.01


def test_slices_find_the_class_that_leaks():
    """Class 1's members score high, class 0's like non-members: class 1's TPR at the global
    1% threshold is far above 1%, class 0's near it, and the FPRs near 1% for both."""
    rng = np.random.default_rng(1)
    n = 20_000
    label = rng.integers(0, 2, n)
    member = rng.random(n) < 0.5
    score = rng.normal(size=n) + 3.0 * (member & (label == 1))
    rows = {r["group"]: r for r in exposure.slice_rates(score, member, label, {0: "a", 1: "b"})}
    assert rows["b"]["tpr"]["rate"] > 0.5 and rows["a"]["tpr"]["rate"] < 0.03
    for r in rows.values():
        lo, hi = r["fpr"]["ci95"]
        assert lo <= 0.01 <= hi + 0.005
    assert rows["b"]["auc"] > 0.9 and abs(rows["a"]["auc"] - 0.5) < 0.05


def test_top_overlap_is_one_for_the_same_scores_and_near_chance_for_independent_ones():
    rng = np.random.default_rng(2)
    a = rng.normal(size=20_000)
    same = exposure.top_overlap(a, a)
    assert same["share"] == 1.0 and same["k"] == 200
    independent = exposure.top_overlap(a, rng.normal(size=20_000))
    assert independent["share"] < 0.05 and independent["chance"] == 0.01


def test_exposure_reads_the_baselines_seeds_and_draws_its_figures(tmp_path):
    rng = np.random.default_rng(3)
    names = ["none-seed0", "none-seed1"]
    for seed, name in enumerate(names):
        d = tmp_path / name
        d.mkdir()
        n = 4000
        member = np.r_[np.ones(n // 2, bool), np.zeros(n // 2, bool)]
        index = np.r_[rng.permutation(3000)[: n // 2], 3000 + np.arange(n // 2)]
        label = rng.integers(0, 10, n)
        score = rng.normal(size=n) + member * (label == 3)
        np.savez(d / "attack_scores.npz", population_index=index, is_member=member, label=label,
                 correct=rng.random(n) < 0.6, cross_entropy=rng.random(n),
                 rmia_online=score, loss=score + rng.normal(size=n))
        np.savez(d / "exposed.npz", image=rng.integers(0, 255, (24, 32, 32, 3)).astype(np.uint8),
                 population_index=np.arange(24), label=rng.integers(0, 10, 24),
                 score=rng.random(24), cross_entropy=rng.random(24),
                 most=np.r_[np.ones(12, bool), np.zeros(12, bool)], attack=np.array("rmia_online"))
    classes = tuple(f"c{i}" for i in range(10))
    read = {}
    out = exposure.exposure(tmp_path, names, "rmia_online", classes, read)
    assert [r["group"] for r in out["classes"]] == list(classes)
    leaky = max(out["classes"], key=lambda r: r["tpr"]["rate"])
    assert leaky["group"] == "c3"
    assert [o["a"] for o in out["across_attacks"]] == ["rmia_online"]
    assert out["across_seeds"][0]["common_members"] > 100
    assert set(read) == set(names) and "exposed.npz" in read[names[0]]
    json.dumps(out)  # what exposure.json holds
    assert "| c3 |" in exposure.markdown(out)
    from mia.plots.base import Source
    source = Source(experiment="studies/x", title="x")
    assert all(p.is_file() for p in exposure.figure(out, tmp_path / "exposure", source))
    assert all(p.is_file() for p in exposure.gallery(out, classes, tmp_path / "gallery", source))


@pytest.mark.parametrize("k, n", [(0, 10), (10, 10), (3, 7)])
def test_wilson_holds_the_proportion(k, n):
    lo, hi = wilson(k, n)
    assert 0 <= lo <= k / n <= hi <= 1
