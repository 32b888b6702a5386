import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mia import keep as keep_mod, metrics
from mia.evaluation import calibrated, power as power_mod
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
        view, truth, refs = calibrated.loo_view(t, logits, keep, labels, z_pool, 2)
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
        leaky, _, refs_leaky = calibrated.loo_view(t, logits, keep, labels, z_pool, folds=1)
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
    m = calibrated.score_metrics(truth, score, bootstrap=50, seed=0)
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


def test_the_table_judges_strongest_by_paired_differences_on_shared_resamples():
    """Every row of a table is resampled on the same samples: "strongest" needs every
    Holm-adjusted paired difference with the top row to exclude 0, and a row that is the top
    row plus a little noise ties with it."""
    rng = np.random.default_rng(5)
    n = 1500
    truth = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    base = rng.normal(0, 1, 2 * n)
    scored = {"strong": {"score": base + 1.0 * truth}, "weak": {"score": base + 0.2 * truth},
              "broken": {"not_computed": "too few references"}}
    rows, best = calibrated.table(truth, scored, bootstrap=200, seed=0, curves=False)
    assert rows["broken"] == {"not_computed": "too few references"}
    assert best["auc"]["strongest"] == "strong" and best["auc"]["tied_with_top"] == []
    assert set(best) == set(calibrated.STRONGEST_METRICS)
    lo, hi = rows["strong"]["ci95"]["auc"]
    assert lo < rows["strong"]["auc"] < hi
    scored["twin"] = {"score": scored["strong"]["score"] + rng.normal(0, 0.01, 2 * n)}
    _, best = calibrated.table(truth, scored, bootstrap=200, seed=0, curves=False)
    assert best["auc"]["strongest"] is None and len(best["auc"]["tied_with_top"]) == 1
    assert "Holm over the 2 comparisons" in best["auc"]["policy"]


def test_power_subsets_are_distinct_every_one_where_few_and_drawn_without_repeats_where_many():
    """8 pairs: 8 subsets of one pair (all), 28 of two (10 drawn), 70 of four (10 drawn)."""
    subsets = power_mod.power_subsets(16, [2, 4, 8, 16], repeats=10, seed=0)
    assert [len(subsets[s]) for s in (2, 4, 8, 16)] == [8, 10, 10, 1]
    for size, drawn in subsets.items():
        as_sets = {tuple(s) for s in drawn}
        assert len(as_sets) == len(drawn), size  # no subset twice
    assert sorted(tuple(s) for s in subsets[2]) == [(2 * j, 2 * j + 1) for j in range(8)]
    for seed in range(20):  # duplicates would appear quickly with replacement (28 choices)
        drawn = power_mod.power_subsets(16, [4], repeats=10, seed=seed)[4]
        assert len({tuple(s) for s in drawn}) == 10


def test_distinct_subsets_take_every_combination_up_to_the_draws():
    rng = np.random.default_rng(0)
    assert power_mod.distinct_subsets(4, 2, 6, rng) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    assert len(set(power_mod.distinct_subsets(7, 3, 5, rng))) == 5
    with pytest.raises(ValueError, match="a subset of 5 of 4"):
        power_mod.distinct_subsets(4, 5, 3, rng)


def test_every_row_scores_a_study_view_from_a_fake_bank():
    keep, labels, logits = fake_bank(k=8, n=400)
    target = logits[0]  # stands in for the study target (not in the references here)
    split = calibrated.study_split(300, 100, 40, 0)
    view, truth = calibrated.study_view(target, labels, logits[2:], keep[2:], split)
    rows = calibrated.score_rows(view, calibrated.DEFAULT_ROWS)
    assert set(rows) == {calibrated.row_key(*r) for r in calibrated.DEFAULT_ROWS}
    for key, entry in rows.items():
        assert entry["score"].shape == (len(truth),), key
    assert rows["lira_online/global/flip"]["variance"] == "global"
    assert 0 <= rows["rmia_offline"]["a"] <= 1


def test_the_verdict_judges_calibrated_point_estimates(tmp_path):
    """A rerun's calibrated.json is compared row by row: a TPR moved by 3 samples is a mismatch,
    by 1 sample is within tolerance; an interval's ends are judged too (twice as wide)."""
    from mia import verify

    row = {"auc": 0.7, "tpr_at_1pct_fpr": 0.05, "tpr_at_0.1pct_fpr": 0.01, "tpr_at_0.01pct_fpr": None,
           "best_balanced_accuracy": 0.6, "members_at_zero_fp": 7, "ci95": {"auc": [0.6, 0.8]}}
    ref = {"protocols": {"study": {"n_members": 1000, "n_nonmembers": 1000, "rows": {"loss": row}}}}
    near = {**row, "tpr_at_0.1pct_fpr": 0.011, "ci95": {"auc": [0.6 + 1.9e-4, 0.8 - 1.9e-4]}}
    far = {**row, "tpr_at_0.1pct_fpr": 0.013, "ci95": {"auc": [0.6, 0.8 + 2.1e-4]}}
    v = verify.Verdict("x")
    verify._check_calibrated(v, ref, {"protocols": {"study": {**ref["protocols"]["study"], "rows": {"loss": near}}}})
    assert v.reproduced
    v = verify.Verdict("x")
    verify._check_calibrated(v, ref, {"protocols": {"study": {**ref["protocols"]["study"], "rows": {"loss": far}}}})
    assert sorted(m["name"] for m in v.mismatches) == ["calibrated.study.loss.ci95.auc[1]",
                                                        "calibrated.study.loss.tpr_at_0.1pct_fpr"]
    # the verdict's line says what the tolerance is in samples, not a rate called samples
    assert v.summary().splitlines()[1] == (
        "  calibrated.study.loss.tpr_at_0.1pct_fpr: 0.01 vs 0.013 (|diff| 0.003, tolerance "
        "0.002 = 2 samples of 1,000)")


def test_power_curve_cells_name_what_each_subset_resolved():
    keep, labels, logits = fake_bank(k=8, n=400)
    split = calibrated.study_split(300, 100, 40, 0)
    view, truth = calibrated.study_view(logits[0], labels, logits, keep, split)
    seconds = np.arange(1.0, 9.0)
    power, tests = power_mod.power_curve(view, truth, 8, seed=0, folds=2, repeats=2, model_seconds=seconds)
    assert sorted(power, key=int) == ["2", "4", "8"]
    for size, cell in power.items():
        draws = 1 if size == "8" else 2
        assert cell["rmia_offline"]["subsets"] == draws and len(cell["rmia_offline"]["a"]) == draws
        assert all(0 <= a <= 1 for a in cell["rmia_offline"]["a"])
        assert "a" not in cell["rmia_online"] and cell["lira_online/auto"]["variance"] == ["global"]
        assert "a" not in cell["rmia_offline/0.3"]  # fixed: nothing tuned
        assert cell["rmia_offline/0.3"]["reference_models"] == int(size)
        auc = cell["lira_online/auto"]["auc"]
        assert auc["min"] <= auc["mean"] <= auc["max"] and auc["ci95"][0] <= auc["ci95"][1]
    assert power["8"]["rmia_online"]["training_seconds"] == seconds.sum()
    assert power_mod.power_curve(view, truth, 6, seed=0, folds=6) == ({}, {})  # one round
    # paired steps between sizes, and tuned minus each fixed a, on the same resamples
    step = tests["steps"]["lira_online/auto"]["auc"]
    assert set(step) == {"4-2", "8-4"}
    auc = {k: power[k]["lira_online/auto"]["auc"]["mean"] for k in ("2", "4")}
    assert step["4-2"]["difference"] == pytest.approx(auc["4"] - auc["2"])
    assert step["4-2"]["p_holm"] >= step["4-2"]["p"]
    assert set(tests["tuned_minus_fixed"]) == {"rmia_offline/0", "rmia_offline/0.3", "rmia_offline/1"}
    assert set(tests["tuned_minus_fixed"]["rmia_offline/1"]["auc"]) == {"2", "4", "8"}


def test_offline_rows_record_how_many_out_references_each_sample_has():
    keep, labels, logits = fake_bank(k=8, n=400)
    split = calibrated.study_split(300, 100, 40, 0)
    view, _ = calibrated.study_view(logits[0], labels, logits[2:], keep[2:], split)
    rows = calibrated.score_rows(view, calibrated.DEFAULT_ROWS)
    out = (~view.ref_keep).sum(0)
    for key in ("lira_offline/global", "lira_offline/per_sample", "rmia_offline"):
        assert rows[key]["out_references"] == {"mean": float(out.mean()), "min": int(out.min())}
    for key in ("lira_online/global", "rmia_online", "loss", "gap", "shokri"):
        assert "out_references" not in rows[key], key


def test_rmia_offline_takes_a_fixed_a_from_its_row_key():
    from mia.attacks import parse_row
    assert parse_row("rmia_offline/0.3")[:2] == ("rmia_offline", {"a": "0.3"})
    keep, labels, logits = fake_bank(k=8, n=400)
    split = calibrated.study_split(300, 100, 40, 0)
    view, _ = calibrated.study_view(logits[0], labels, logits[2:], keep[2:], split)
    rows = calibrated.score_rows(view, (("rmia_offline", {"a": "0.3"}, 1), ("rmia_offline", {}, 1)))
    assert rows["rmia_offline/0.3"]["a"] == 0.3
    for bad, why in (("rmia_offline/x", "got 'x'"), ("rmia_offline/1.5", "got '1.5'"),
                     ("rmia_offline/tuned", "omit it to tune a"),
                     ("rmia_online/0.3", "takes no options")):
        with pytest.raises(ValueError, match=why):
            parse_row(bad)


def test_too_few_resamples_for_holm_leave_strongest_unresolved():
    """13 comparisons at alpha 0.05: a bootstrap of 200 cannot give an adjusted p below
    13 x 2 / 201 = 0.129, so it must not name a winner (nor a tie)."""
    from mia.evaluation import paired
    rng = np.random.default_rng(0)
    truth = np.r_[np.ones(300, bool), np.zeros(300, bool)]
    scores = {f"r{i}": rng.normal(size=600) + truth * 0.15 * i for i in range(14)}
    st = paired.strongest(truth, scores, "auc", bootstrap=200, seed=0)
    assert st["strongest"] is None and st["tied_with_top"] == [] and st["top"] == "r13"
    assert "smallest Holm-adjusted p-value they can give is 0.129" in st["unresolved"]
    assert paired.strongest(truth, scores, "auc", bootstrap=600, seed=0)["strongest"] == "r13"


def test_the_gap_attack_on_each_repeats_evaluation_samples():
    """Members 0..3 (correct: 1, 1, 1, 0), non-members 0..3 (correct: 1, 0, 0, 0). A repeat
    evaluating members {0, 3} and non-members {1, 2}: recall 1/2, specificity 1, balanced
    accuracy 3/4; members {0, 1} and non-members {0, 1}: 1 and 1/2, so 3/4 again."""
    from mia.evaluation.threshold import Split, gap_on_splits
    correct = np.array([1, 1, 1, 0, 1, 0, 0, 0], bool)
    is_member = np.r_[np.ones(4, bool), np.zeros(4, bool)]
    none = np.array([], int)
    splits = {16: [Split(none, none, np.array([0, 3]), np.array([1, 2])),
                   Split(none, none, np.array([0, 1]), np.array([0, 1]))]}
    got = gap_on_splits(correct, is_member, splits)
    assert got == {"16": {"accuracy": {"mean": 0.75, "std": 0.0}, "repeats": [0.75, 0.75]}}
