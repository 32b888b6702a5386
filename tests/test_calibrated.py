import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mia import keep as keep_mod, metrics
from mia.evaluation import calibrated
from mia.errors import UserError


def fake_bank(k=8, n=400, c=3, seed=0):
    rng = np.random.default_rng(seed)
    keep = keep_mod.paired_keep(k, n, seed)
    labels = rng.integers(0, c, n)
    logits = rng.normal(0, 1, (k, 2, n, c)) + 2.0 * keep[:, None, :, None] * np.eye(c)[labels]
    return keep, labels, logits.astype(np.float32)


def test_paired_keep_is_balanced_both_ways_and_pairs_are_complements():
    keep = keep_mod.paired_keep(6, 100, 3)
    assert (keep.sum(1) == 50).all() and (keep.sum(0) == 3).all()
    for j in range(3):
        assert np.array_equal(keep[2 * j], ~keep[2 * j + 1])
        assert keep_mod.partner(2 * j) == 2 * j + 1 and keep_mod.partner(2 * j + 1) == 2 * j
    assert not np.array_equal(keep[0], keep[2])
    assert np.array_equal(keep, keep_mod.paired_keep(6, 100, 3))  # seeded


def test_fold_keep_leaves_every_sample_out_once_per_round():
    keep = keep_mod.fold_keep(12, 60, 6, 5)
    assert (keep.sum(1) == 50).all() and (keep.sum(0) == 10).all()
    for r in range(2):
        block = keep[6 * r:6 * r + 6]
        assert ((~block).sum(0) == 1).all()  # each sample OUT for exactly one model of the round
        assert keep_mod.round_of(6 * r + 4, 6) == list(range(6 * r, 6 * r + 6))
    assert not np.array_equal(~keep[0], ~keep[6])  # rounds draw their own folds
    keep_mod.check_keep(keep, 12, 60, "k.npz", folds=6)
    with pytest.raises(UserError, match="model 0 keeps 50 samples, expected 30"):
        keep_mod.check_keep(keep, 12, 60, "k.npz", folds=2)


def test_fold_keep_with_two_folds_is_the_paired_design_committed_banks_were_drawn_with():
    """The committed banks' keep-matrices were drawn by this generator, rewritten here."""
    rng = np.random.default_rng(np.random.SeedSequence([7, keep_mod._SEED_TAG, 2]))
    old = np.zeros((6, 100), dtype=bool)
    for j in range(3):
        old[2 * j, rng.permutation(100)[:50]] = True
        old[2 * j + 1] = ~old[2 * j]
    assert np.array_equal(keep_mod.fold_keep(6, 100, 2, 7), old)


@pytest.mark.parametrize("k, n, folds, message", [
    (0, 10, 2, r"positive multiple of folds \(2\) models, got 0"),
    (3, 10, 2, r"positive multiple of folds \(2\) models, got 3"),
    (4, 11, 2, "split into 2 equal folds, got 11 samples"),
    (6, 2500, 6, "split into 6 equal folds, got 2500 samples")])
def test_bad_bank_shapes_are_one_line_errors(k, n, folds, message):
    with pytest.raises(UserError, match=message):
        keep_mod.fold_keep(k, n, folds, 0)


def test_a_keep_matrix_that_does_not_match_the_data_is_named():
    keep = keep_mod.paired_keep(4, 10, 0)
    with pytest.raises(UserError, match=r"keep-matrix has shape \(4, 10\) \(bool\), but the bank has 4 models over 12"):
        keep_mod.check_keep(keep, 4, 12, "k.npz")
    bad = keep.copy()
    bad[1, 0] = ~bad[1, 0]
    with pytest.raises(UserError, match="model 1 keeps"):
        keep_mod.check_keep(bad, 4, 10, "k.npz")


def test_leave_one_out_drops_the_target_and_its_partner_so_in_counts_carry_no_membership():
    """No leak through the keep-matrix: in every leave-one-out view each attacked sample is IN
    for exactly K/2 - 1 references, members and non-members of the target alike."""
    keep, labels, logits = fake_bank(k=8)
    z_pool = calibrated.loo_population(keep.shape[1], 40, 0)
    for t in range(8):
        view, truth, refs = calibrated.loo_view(t, logits, keep, labels, z_pool)
        assert t not in refs and keep_mod.partner(t) not in refs and len(refs) == 6
        counts = view.ref_keep.sum(0)
        assert (counts == 3).all()
        assert truth.any() and (~truth).any()
        assert np.array_equal(truth, keep[t, np.setdiff1d(np.arange(400), z_pool)])
        assert np.array_equal(view.target_logits, logits[t][:, np.setdiff1d(np.arange(400), z_pool)])
        # z: pool samples the target did not train on
        assert not keep[t, z_pool][~keep[t, z_pool]].any()
        assert len(view.population_labels) == (~keep[t, z_pool]).sum()


def test_leave_one_out_drops_the_targets_whole_round_in_a_bank_of_folds():
    keep = keep_mod.fold_keep(18, 120, 6, 1)
    labels = np.zeros(120, dtype=np.int64)
    logits = np.zeros((18, 1, 120, 2), dtype=np.float32)
    z_pool = calibrated.loo_population(120, 12, 0)
    for t in (0, 7, 17):
        view, truth, refs = calibrated.loo_view(t, logits, keep, labels, z_pool, folds=6)
        assert not set(keep_mod.round_of(t, 6)) & set(refs) and len(refs) == 12
        assert (view.ref_keep.sum(0) == 10).all()  # two rounds, each sample IN for 5 of each
        leaky, _, refs_leaky = calibrated.loo_view(t, logits, keep, labels, z_pool, folds=6,
                                                   keep_round=True)
        assert len(refs_leaky) == 17
        counts = leaky.ref_keep.sum(0)  # the round kept: members are IN for one model fewer
        assert (counts[truth] == 14).all() and (counts[~truth] == 15).all()


def test_the_leak_check_finds_the_in_count_only_where_the_round_is_kept():
    """Measured, not just constructed: the keep-matrix-only probe is exactly chance under the
    protocol and a perfect classifier with the target's partner among the references."""
    keep, labels, logits = fake_bank(k=6, n=600)
    loo = calibrated.leave_one_out(logits, keep, labels, seed=0, folds=2,
                                   rows=(("loss", {}, 1), ("rmia_online", {}, 1)), progress=False)
    leak = loo["leak_check"]["rows"]
    # the protocol's own RMIA online row, recomputed (same view, the image as it is)
    assert leak["rmia_online/round_dropped"]["auc"] == loo["rows"]["rmia_online"]["auc"]
    assert leak["in_count/round_dropped"]["auc"] == pytest.approx(0.5)
    assert leak["in_count/round_kept"]["auc"] == pytest.approx(1.0)
    assert leak["rmia_online/round_kept"]["auc"] > leak["rmia_online/round_dropped"]["auc"]


def test_study_split_is_disjoint_balanced_and_seeded():
    s = calibrated.study_split(500, 100, 30, 0)
    assert len(s.population) == 30 and len(s.eval_nonmembers) == 70 and len(s.eval_members) == 70
    assert set(s.population).isdisjoint(s.eval_nonmembers)
    assert (s.population >= 500).all() and (s.eval_nonmembers >= 500).all() and (s.eval_members < 500).all()
    again = calibrated.study_split(500, 100, 30, 0)
    assert np.array_equal(s.eval_members, again.eval_members)


def test_score_metrics_agree_with_sklearn_and_the_study_metrics_including_ties():
    rng = np.random.default_rng(0)
    truth = rng.random(3000) < 0.5
    score = np.round(rng.normal(truth * 0.8, 1), 1)  # rounded: many ties
    m = calibrated.score_metrics(truth, score, bootstrap=50)
    assert m["auc"] == pytest.approx(roc_auc_score(truth, score), abs=1e-12)
    ref = metrics.threshold_free(truth, score)
    assert m["tpr_at_1pct_fpr"] == pytest.approx(ref["tpr_at_1pct_fpr"], abs=1e-12)
    assert m["tpr_at_0.1pct_fpr"] == pytest.approx(ref["tpr_at_0.1pct_fpr"], abs=1e-12)
    assert m["tpr_at_0.01pct_fpr"] is None and m["ci95"]["tpr_at_0.01pct_fpr"] is None  # < 10,000 non-members
    assert m["best_balanced_accuracy"] == ref["best_accuracy"]
    lo, hi = m["ci95"]["auc"]
    assert lo < m["auc"] < hi and hi - lo < 0.06


def test_members_at_zero_false_positives_counts_members_above_every_nonmember():
    truth = np.array([1, 1, 1, 0, 1, 0, 0], bool)
    score = np.array([9.0, 8.0, 5.0, 5.0, 4.0, 1.0, 0.0])  # the 5.0 tie is not above the non-member
    m = calibrated.score_metrics(truth, score, bootstrap=0)
    assert m["members_at_zero_fp"] == 2


def test_strongest_needs_an_interval_above_the_rest():
    table = {"a": {"x": 0.3, "ci95": {"x": [0.25, 0.35]}}, "b": {"x": 0.1, "ci95": {"x": [0.05, 0.15]}},
             "c": {"x": 0.28, "ci95": {"x": [0.2, 0.33]}}}
    assert calibrated.strongest(table, "x") == {"metric": "x", "strongest": None, "top": "a",
                                                "tied_with_top": ["c"]}
    del table["c"]
    assert calibrated.strongest(table, "x")["strongest"] == "a"


def test_power_subsets_use_whole_pairs():
    subsets = calibrated.power_subsets(8, [2, 4, 8], repeats=3, seed=0)
    for size in (2, 4):
        for s in subsets[size]:
            assert len(s) == size and all(keep_mod.partner(m) in s for m in s)
    assert len(subsets[8]) == 1 and list(subsets[8][0]) == list(range(8))
    with pytest.raises(ValueError, match="multiples of 2, between 2 and 8, got 1"):
        calibrated.power_subsets(8, [1], repeats=3, seed=0)
    for s in calibrated.power_subsets(18, [6, 12], repeats=2, seed=0, folds=3)[12]:
        assert len(s) == 12 and all(set(keep_mod.round_of(m, 3)) <= set(s) for m in s)


def test_every_row_scores_a_study_view_from_a_fake_bank():
    keep, labels, logits = fake_bank(k=8, n=400)
    target = logits[0]  # stands in for the study target (not in the references here)
    split = calibrated.study_split(300, 100, 40, 0)
    view, truth = calibrated.study_view(target, labels, logits[2:], keep[2:], split)
    rows = calibrated.score_rows(view)
    assert set(rows) == {calibrated.row_key(*r) for r in calibrated.DEFAULT_ROWS}
    for key, entry in rows.items():
        assert entry["score"].shape == (len(truth),), key
    assert rows["lira_online/global/flip"]["variance"] == "global"
    assert 0 <= rows["rmia_offline"]["a"] <= 1


def test_the_verdict_judges_calibrated_point_estimates(tmp_path):
    """A rerun's calibrated.json is compared row by row: a TPR moved by 3 samples is a mismatch,
    by 1 sample is within tolerance; intervals are not judged."""
    from mia import verify

    row = {"auc": 0.7, "tpr_at_1pct_fpr": 0.05, "tpr_at_0.1pct_fpr": 0.01, "tpr_at_0.01pct_fpr": None,
           "best_balanced_accuracy": 0.6, "members_at_zero_fp": 7, "ci95": {"auc": [0.6, 0.8]}}
    ref = {"protocols": {"study": {"n_members": 1000, "n_nonmembers": 1000, "rows": {"loss": row}}}}
    near = {**row, "tpr_at_0.1pct_fpr": 0.011, "ci95": {"auc": [0.1, 0.9]}}
    far = {**row, "tpr_at_0.1pct_fpr": 0.013}
    v = verify.Verdict("x")
    verify._check_calibrated(v, ref, {"protocols": {"study": {**ref["protocols"]["study"], "rows": {"loss": near}}}})
    assert v.reproduced
    v = verify.Verdict("x")
    verify._check_calibrated(v, ref, {"protocols": {"study": {**ref["protocols"]["study"], "rows": {"loss": far}}}})
    assert [m["name"] for m in v.mismatches] == ["calibrated.study.loss.tpr_at_0.1pct_fpr"]
    # the verdict's line says what the tolerance is in samples, not a rate called samples
    assert v.summary().splitlines()[1] == (
        "  calibrated.study.loss.tpr_at_0.1pct_fpr: 0.01 vs 0.013 (|diff| 0.003, tolerance "
        "0.002 = 2 samples of 1,000)")


def test_power_curve_cells_name_what_each_subset_resolved():
    keep, labels, logits = fake_bank(k=8, n=400)
    split = calibrated.study_split(300, 100, 40, 0)
    view, truth = calibrated.study_view(logits[0], labels, logits, keep, split)
    power = calibrated.power_curve(view, truth, 8, seed=0, repeats=2)
    assert sorted(power, key=int) == ["2", "4", "8"]
    for size, cell in power.items():
        draws = 1 if size == "8" else 2
        assert cell["rmia_offline"]["subsets"] == draws and len(cell["rmia_offline"]["a"]) == draws
        assert all(0 <= a <= 1 for a in cell["rmia_offline"]["a"])
        assert "a" not in cell["rmia_online"] and cell["lira_online/auto"]["variance"] == ["global"]
    assert calibrated.power_curve(view, truth, 6, seed=0, folds=6) == {}  # one round: no curve
