import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mia import bank, calibrated, metrics
from mia.errors import UserError


def fake_bank(k=8, n=400, c=3, seed=0):
    rng = np.random.default_rng(seed)
    keep = bank.paired_keep(k, n, seed)
    labels = rng.integers(0, c, n)
    logits = rng.normal(0, 1, (k, 2, n, c)) + 2.0 * keep[:, None, :, None] * np.eye(c)[labels]
    return keep, labels, logits.astype(np.float32)


def test_paired_keep_is_balanced_both_ways_and_pairs_are_complements():
    keep = bank.paired_keep(6, 100, 3)
    assert (keep.sum(1) == 50).all() and (keep.sum(0) == 3).all()
    for j in range(3):
        assert np.array_equal(keep[2 * j], ~keep[2 * j + 1])
        assert bank.partner(2 * j) == 2 * j + 1 and bank.partner(2 * j + 1) == 2 * j
    assert not np.array_equal(keep[0], keep[2])
    assert np.array_equal(keep, bank.paired_keep(6, 100, 3))  # seeded


@pytest.mark.parametrize("k, n, message", [(0, 10, "even number of models >= 2, got 0"),
                                           (3, 10, "even number of models >= 2, got 3"),
                                           (4, 11, "even number of samples, got 11")])
def test_bad_bank_shapes_are_one_line_errors(k, n, message):
    with pytest.raises(UserError, match=message):
        bank.paired_keep(k, n, 0)


def test_a_keep_matrix_that_does_not_match_the_data_is_named():
    keep = bank.paired_keep(4, 10, 0)
    with pytest.raises(UserError, match=r"keep-matrix has shape \(4, 10\) \(bool\), but the bank has 4 models over 12"):
        bank.check_keep(keep, 4, 12, "k.npz")
    bad = keep.copy()
    bad[1, 0] = ~bad[1, 0]
    with pytest.raises(UserError, match="model 1 keeps"):
        bank.check_keep(bad, 4, 10, "k.npz")


def test_leave_one_out_drops_the_target_and_its_partner_so_in_counts_carry_no_membership():
    """No leak through the keep-matrix: in every leave-one-out view each attacked sample is IN
    for exactly K/2 - 1 references, members and non-members of the target alike."""
    keep, labels, logits = fake_bank(k=8)
    z_pool = calibrated.loo_population(keep.shape[1], 40, 0)
    for t in range(8):
        view, truth, refs = calibrated.loo_view(t, logits, keep, labels, z_pool)
        assert t not in refs and bank.partner(t) not in refs and len(refs) == 6
        counts = view.ref_keep.sum(0)
        assert (counts == 3).all()
        assert truth.any() and (~truth).any()
        assert np.array_equal(truth, keep[t, np.setdiff1d(np.arange(400), z_pool)])
        assert np.array_equal(view.target_logits, logits[t][:, np.setdiff1d(np.arange(400), z_pool)])
        # z: pool samples the target did not train on
        assert not keep[t, z_pool][~keep[t, z_pool]].any()
        assert len(view.population_labels) == (~keep[t, z_pool]).sum()


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
            assert len(s) == size and all(bank.partner(m) in s for m in s)
    assert len(subsets[8]) == 1 and list(subsets[8][0]) == list(range(8))
    with pytest.raises(ValueError, match="even, between 2 and 8, got 1"):
        calibrated.power_subsets(8, [1], repeats=3, seed=0)


def test_every_row_scores_a_study_view_from_a_fake_bank():
    keep, labels, logits = fake_bank(k=8, n=400)
    target = logits[0]  # stands in for the study target (not in the references here)
    split = calibrated.study_split(300, 100, 40, 0)
    view, truth = calibrated.study_view(target, labels, logits[2:], keep[2:], split)
    rows = calibrated.score_rows(view)
    assert set(rows) == {calibrated.row_key(*r) for r in calibrated.ROWS}
    for key, entry in rows.items():
        assert entry["score"].shape == (len(truth),), key
    assert rows["lira_online/global/flip"]["variance"] == "global"
    assert 0 <= rows["rmia_offline"]["a"] <= 1


def test_the_verdict_judges_calibrated_point_estimates(tmp_path):
    """A rerun's calibrated.json is compared row by row: a TPR moved by 3 samples is a mismatch,
    by 1 sample is within tolerance; intervals are not judged."""
    from mia import verify
    from mia.io import write_json

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
