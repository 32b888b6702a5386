"""The reproduction verdict (mia.verify) on small hand-made results folders: fast, so that
mutation testing can run it against every planted bug. Each tolerance is tried just inside
and just outside its bound, and every kind of number is moved once."""
import json

import numpy as np
import pytest
import torch

from mia import verify
from mia.verify import Verdict
from mia.errors import UserError

N_TRAIN, N_TEST, N_EVAL = 1000, 400, 300  # members, non-members, evaluated per class


def _repeat(r: int) -> dict:
    return {"repeat": r, "threshold": 0.5 + r / 100, "threshold_method": "kde_crossing",
            "accuracy": 0.6, "precision": 0.6, "recall": 0.6, "f1": 0.6, "auc": 0.65,
            "advantage": 0.2, "tpr_at_1pct_fpr": 0.02, "tpr_at_0.1pct_fpr": None,
            "best_threshold": 0.4, "best_accuracy": 0.62,
            "confusion_matrix": [[180, 120], [120, 180]]}


def metrics() -> dict:
    summary = {k: {"mean": 0.6, "std": 0.01} for k in ("accuracy", "precision", "recall", "f1")}
    summary["auc"] = {"mean": 0.65, "std": 0.002}
    summary["tpr_at_0.1pct_fpr"] = {"mean": None, "std": None}
    return {
        "experiment": "exp",
        "target": {"train_accuracy": 0.9, "test_accuracy": 0.6, "train_loss": 0.3,
                   "test_loss": 1.5, "n_train": N_TRAIN, "n_test": N_TEST},
        "all_samples": {"cross_entropy": {"auc": 0.66, "advantage": 0.3, "tpr_at_1pct_fpr": 0.01,
                                          "tpr_at_0.1pct_fpr": 0.002, "best_threshold": 0.9,
                                          "best_accuracy": 0.65}},
        "attack": {"results": {"cross_entropy": {"50": {
            "n_attacker_members": 500, "n_attacker_nonmembers": 200, "n_eval_per_class": N_EVAL,
            "summary": summary,
            "confusion_matrix": {"mean_counts": [[180.0, 120.0], [120.0, 180.0]]},
            "repeats": [_repeat(0), _repeat(1)]}}},
            "gap": {"50": {"accuracy": {"mean": 0.65, "std": 0.004}, "repeats": [0.646, 0.654]}}},
    }


def calibrated() -> dict:
    row = {"auc": 0.7, "tpr_at_1pct_fpr": 0.05, "tpr_at_0.1pct_fpr": 0.01,
           "tpr_at_0.01pct_fpr": None, "best_balanced_accuracy": 0.6, "members_at_zero_fp": 7,
           "variance": "global"}
    return {"protocols": {"study": {"n_members": 1000, "n_nonmembers": 400,
                                    "rows": {"lira": row, "broken": {"not_computed": "few"},
                                             "rmia": {**row, "a": 0.3}}}}}


def score_arrays() -> dict:
    """scores.npz: a float score, integer labels, booleans and unsigned integers."""
    return {"cross_entropy": np.linspace(0.0, 3.0, 50), "label": np.arange(50) % 10,
            "is_member": np.arange(50) < 30, "correct": (np.arange(50) % 3 > 0).astype(np.uint8)}


def write(d, m=None, cal=None, scores=None, packages=None, weights=None):
    """A results folder: metrics.json, calibrated.json, scores.npz, manifest.json, model.pt."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "metrics.json").write_text(json.dumps(metrics() if m is None else m))
    (d / "calibrated.json").write_text(json.dumps(calibrated() if cal is None else cal))
    arrays = score_arrays() if scores is None else scores
    np.savez(d / "scores.npz", **arrays)
    (d / "manifest.json").write_text(json.dumps({"packages": packages or {"numpy": "2.0"},
                                                 "config_hash": "c1", "training_hash": "t1"}))
    torch.save(weights or {"w": torch.zeros(3)}, d / "model.pt")
    return d


@pytest.fixture
def ref(tmp_path):
    return write(tmp_path / "ref")


def edited(tmp_path, edit, name="cand"):
    m = metrics()
    edit(m)
    return write(tmp_path / name, m=m)


def names(v) -> list[str]:
    return sorted(x["name"] for x in v.mismatches)


def test_identical_folders_reproduce_and_every_number_is_counted(ref):
    v = verify.compare(ref, ref)
    assert v.reproduced and v.same_weights is True and v.notes == []
    # metrics.json: keys 1 + experiment 1 | target 4 | all_samples: keys 1 + cross_entropy keys 1 + 5 metrics (best_threshold is a
    # threshold, counted apart) = 7 | attack.results keys 1 + score keys 1 = 2 | the cell: 3
    # counts, summary keys 1 + 6 metrics x (mean, std) = 13, mean confusion 4, repeats 1, each
    # repeat confusion size 1 + 4 + keys 1 + threshold_method 1 + 9 metrics = 16 -> 53 | gap:
    # keys 1 + mean + std = 3 | scores: keys 1 + 50 values + label + is_member + correct = 54 |
    # calibrated: keys of the file, protocols, study 3 + n_members, n_nonmembers 2 + rows
    # keys 1 + lira keys 1 + (auc, 4 rates, members at 0 FP, variance) 7 + broken 1 + rmia
    # keys 1 + 7 + a 1 = 24 | model.pt, scores.npz, calibrated.json present: 3 | manifest
    # hashes: 2
    assert v.checked == 2 + 4 + 7 + 2 + 53 + 3 + 54 + 24 + 3 + 2
    assert v.thresholds_checked == 5  # all_samples' best threshold, two per repeat
    assert v.summary().startswith("exp: REPRODUCED: all ")
    assert v.to_dict()["verdict"] == "reproduced" and v.to_dict()["mismatches"] == 0


@pytest.mark.parametrize("path, n, unit", [
    (("target", "train_accuracy"), N_TRAIN, 1), (("target", "test_accuracy"), N_TEST, 1),
    (("all_samples", "cross_entropy", "tpr_at_1pct_fpr"), N_TRAIN, 1),
    (("all_samples", "cross_entropy", "advantage"), N_TEST, 1),
    (("all_samples", "cross_entropy", "best_accuracy"), N_TEST, 2),
])
def test_rates_move_in_samples_of_their_denominator(ref, tmp_path, path, n, unit):
    """Two samples (of n, or of 2n for a balanced accuracy) are within tolerance, three not."""
    def shift(samples):
        def edit(m):
            d = m
            for k in path[:-1]:
                d = d[k]
            d[path[-1]] += samples / (unit * n)
        return edit
    assert verify.compare(ref, edited(tmp_path, shift(1.9), "near")).reproduced
    v = verify.compare(ref, edited(tmp_path, shift(2.1), "far"))
    assert names(v) == [".".join(path)]


def test_summary_metrics_use_the_cells_denominators_and_stds_twice_the_tolerance(ref, tmp_path):
    def move(stat, samples):
        def edit(m):
            m["attack"]["results"]["cross_entropy"]["50"]["summary"]["recall"][stat] += samples / N_EVAL
        return edit
    assert verify.compare(ref, edited(tmp_path, move("mean", 1.9), "a")).reproduced
    assert names(verify.compare(ref, edited(tmp_path, move("mean", 2.1), "b"))) == [
        "cross_entropy.p50.mean.recall"]
    assert verify.compare(ref, edited(tmp_path, move("std", 3.9), "c")).reproduced
    assert names(verify.compare(ref, edited(tmp_path, move("std", 4.1), "d"))) == [
        "cross_entropy.p50.std.recall"]


def test_the_accuracy_of_a_balanced_set_counts_over_both_classes(ref, tmp_path):
    def move(samples):
        def edit(m):
            m["attack"]["results"]["cross_entropy"]["50"]["repeats"][0]["accuracy"] += samples / (2 * N_EVAL)
        return edit
    assert verify.compare(ref, edited(tmp_path, move(1.9), "a")).reproduced
    assert names(verify.compare(ref, edited(tmp_path, move(2.1), "b"))) == [
        "cross_entropy.p50.repeat0.accuracy"]


def test_auc_losses_and_confusion_counts(ref, tmp_path):
    def set_(path, value):
        def edit(m):
            d = m
            for k in path[:-1]:
                d = d[k]
            d[path[-1]] = value
        return edit
    cases = [(("all_samples", "cross_entropy", "auc"), 0.66 + 0.9e-4, 0.66 + 1.1e-4,
              "all_samples.cross_entropy.auc"),
             (("target", "train_loss"), 0.3 + 0.9 * (2e-4 + 0.3e-4), 0.3 + 1.1 * (2e-4 + 0.3e-4),
              "target.train_loss")]
    for i, (path, ok, bad, name) in enumerate(cases):
        assert verify.compare(ref, edited(tmp_path, set_(path, ok), f"ok{i}")).reproduced, name
        assert names(verify.compare(ref, edited(tmp_path, set_(path, bad), f"bad{i}"))) == [name]

    def cm(counts):
        def edit(m):
            m["attack"]["results"]["cross_entropy"]["50"]["repeats"][1]["confusion_matrix"][0][1] = counts
        return edit
    assert verify.compare(ref, edited(tmp_path, cm(122), "cm_ok")).reproduced
    assert names(verify.compare(ref, edited(tmp_path, cm(123), "cm_bad"))) == [
        "cross_entropy.p50.repeat1.confusion_matrix[1]"]


def test_labels_counts_and_unresolved_metrics_must_match_exactly(ref, tmp_path):
    def edit(m):
        cell = m["attack"]["results"]["cross_entropy"]["50"]
        cell["repeats"][0]["threshold_method"] = "best_on_sample"
        cell["n_attacker_members"] = 501
        cell["repeats"][1]["tpr_at_0.1pct_fpr"] = 0.001
    v = verify.compare(ref, edited(tmp_path, edit))
    assert names(v) == ["cross_entropy.p50.n_attacker_members",
                        "cross_entropy.p50.repeat0.threshold_method",
                        "cross_entropy.p50.repeat1.tpr_at_0.1pct_fpr"]


def test_a_missing_repeat_or_key_is_a_mismatch(ref, tmp_path):
    def drop(m):
        m["attack"]["results"]["cross_entropy"]["50"]["repeats"].pop()
        del m["all_samples"]["cross_entropy"]["advantage"]
    assert names(verify.compare(ref, edited(tmp_path, drop))) == [
        "all_samples.cross_entropy (keys)", "cross_entropy.p50.repeats"]


def test_a_moved_threshold_is_counted_not_failed(ref, tmp_path):
    def edit(m):
        m["attack"]["results"]["cross_entropy"]["50"]["repeats"][0]["threshold"] += 0.1
    v = verify.compare(ref, edited(tmp_path, edit))
    assert v.reproduced and v.thresholds_moved == ["cross_entropy.p50.repeat0.threshold"]
    assert v.thresholds_checked == 5
    assert "1 of 5 thresholds moved" in v.summary()


def test_the_gap_attack_is_checked_per_percentage(ref, tmp_path):
    def move(samples, stat="mean"):
        def edit(m):
            m["attack"]["gap"]["50"]["accuracy"][stat] += samples / (2 * N_EVAL)
        return edit
    assert verify.compare(ref, edited(tmp_path, move(1.9), "a")).reproduced
    assert names(verify.compare(ref, edited(tmp_path, move(2.1), "b"))) == ["gap.p50.mean.accuracy"]
    assert names(verify.compare(ref, edited(tmp_path, move(4.1, "std"), "c"))) == ["gap.p50.std.accuracy"]

    def drop(m):
        del m["attack"]["gap"]
    assert names(verify.compare(ref, edited(tmp_path, drop, "d"))) == ["attack.gap (keys)"]


def test_scores_within_their_tolerance_and_integer_arrays_exactly(ref, tmp_path):
    base = score_arrays()
    tol = verify.SCORE_ATOL + verify.SCORE_RTOL * 3.0
    near = dict(base, cross_entropy=base["cross_entropy"] + np.r_[np.zeros(49), 0.9 * tol])
    assert verify.compare(ref, write(tmp_path / "near", scores=near)).reproduced
    far = dict(base, cross_entropy=base["cross_entropy"] + np.r_[np.zeros(49), 1.1 * tol])
    v = verify.compare(ref, write(tmp_path / "far", scores=far))
    assert names(v) == ["scores.cross_entropy[49]"]
    labels = dict(base, label=np.r_[base["label"][:-1], 3])
    assert names(verify.compare(ref, write(tmp_path / "labels", scores=labels))) == ["scores.label"]
    short = dict(base, cross_entropy=base["cross_entropy"][:10])
    assert names(verify.compare(ref, write(tmp_path / "short", scores=short))) == ["scores.cross_entropy"]
    fewer = {k: v for k, v in base.items() if k != "label"}
    assert names(verify.compare(ref, write(tmp_path / "fewer", scores=fewer))) == ["scores.npz (keys)"]


def test_calibrated_rows_moved_or_resolved_differently(ref, tmp_path):
    def cand(edit, name):
        c = calibrated()
        edit(c["protocols"]["study"]["rows"])
        return write(tmp_path / name, cal=c)
    n_pos = 1000
    assert verify.compare(ref, cand(lambda r: r["lira"].update(tpr_at_1pct_fpr=0.05 + 1.9 / n_pos), "a")).reproduced
    assert names(verify.compare(ref, cand(lambda r: r["lira"].update(tpr_at_1pct_fpr=0.05 + 2.1 / n_pos), "b"))) == [
        "calibrated.study.lira.tpr_at_1pct_fpr"]
    # balanced accuracy over 2 x min(members, non-members) = 800 samples
    assert verify.compare(ref, cand(lambda r: r["lira"].update(best_balanced_accuracy=0.6 + 1.9 / 800), "c")).reproduced
    assert names(verify.compare(ref, cand(lambda r: r["lira"].update(best_balanced_accuracy=0.6 + 2.1 / 800), "d"))) == [
        "calibrated.study.lira.best_balanced_accuracy"]
    assert names(verify.compare(ref, cand(lambda r: r["rmia"].update(a=0.4), "e"))) == ["calibrated.study.rmia.a"]
    assert names(verify.compare(ref, cand(lambda r: r["lira"].update(variance="per_sample"), "f"))) == [
        "calibrated.study.lira.variance"]
    assert names(verify.compare(ref, cand(lambda r: r["lira"].update(members_at_zero_fp=10), "g"))) == [
        "calibrated.study.lira.members_at_zero_fp"]
    assert names(verify.compare(ref, cand(lambda r: r["lira"].update(auc=0.7 + 2e-4), "h"))) == [
        "calibrated.study.lira.auc"]
    assert names(verify.compare(ref, cand(lambda r: r["lira"].__setitem__("tpr_at_0.01pct_fpr", 0.001), "i"))) == [
        "calibrated.study.lira.tpr_at_0.01pct_fpr"]
    assert names(verify.compare(ref, cand(lambda r: r["broken"].update(not_computed="other"), "j"))) == [
        "calibrated.study.broken.not_computed"]


def test_weights_packages_and_missing_files(ref, tmp_path):
    other = write(tmp_path / "other", weights={"w": torch.tensor([0.0, 0.5, 0.0])},
                  packages={"numpy": "2.1", "torch": "2.5"})
    v = verify.compare(ref, other)
    assert v.reproduced and v.same_weights is False
    assert v.notes[0].startswith("largest weight difference 0.5")
    assert v.notes[1] == "package versions differ: numpy 2.0 -> 2.1, torch None -> 2.5"
    assert v.summary().startswith("exp: weights differ from the reference (retrained)")
    (other / "calibrated.json").unlink()
    assert names(verify.compare(ref, other)) == ["calibrated.json (present)"]
    (other / "metrics.json").unlink()
    with pytest.raises(UserError, match="metrics.json missing"):
        verify.compare(ref, other)
    bad = write(tmp_path / "bad")
    (bad / "metrics.json").write_text("{")
    with pytest.raises(UserError, match="corrupt metrics.json"):
        verify.compare(ref, bad)


def test_the_summary_names_the_worst_mismatches_first(ref, tmp_path):
    def edit(m):
        m["target"]["train_accuracy"] += 10 / N_TRAIN   # 5 x its tolerance
        m["target"]["test_accuracy"] += 40 / N_TEST     # 20 x
    v = verify.compare(ref, edited(tmp_path, edit))
    lines = v.summary(limit=1).splitlines()
    assert lines[0] == f"exp: NOT REPRODUCED: 2 of {v.checked:,} numbers outside tolerance; largest:"
    assert lines[1].startswith("  target.test_accuracy: 0.6 vs 0.7 (|diff| 0.1, tolerance 0.005")
    assert len(lines) == 2
    assert v.to_dict()["mismatches"] == 2 and v.to_dict()["verdict"] == "not reproduced"


# ---------------------------------------------------------------- the verdict's own arithmetic
def test_a_zero_tolerance_is_exact_and_the_ratio_is_the_difference_over_the_tolerance():
    v = verify.Verdict("x")
    v.record("same", 3, 3, 0)
    assert v.reproduced and v.worst["ratio"] == 0.0
    v.record("off", 1.0, 1.5, 0.25)
    assert v.mismatches == [{"name": "off", "reference": 1.0, "candidate": 1.5, "difference": 0.5,
                             "tolerance": 0.25, "ratio": 2.0, "unit": ""}]
    v.record("moved", 3, 4, 0)
    assert v.mismatches[-1]["ratio"] == float("inf") and v.worst["name"] == "moved"
    assert v.checked == 3


def test_the_worst_is_the_first_of_equal_ratios_and_exact_mismatches_are_recorded_whole():
    v = verify.Verdict("x")
    v.record("a", 0.0, 0.1, 0.2)
    v.record("b", 0.0, 0.1, 0.2)
    assert v.worst["name"] == "a"
    v.exact("label", "kde", "gmm")
    assert v.mismatches == [{"name": "label", "reference": "kde", "candidate": "gmm",
                             "difference": None, "tolerance": 0, "ratio": float("inf"),
                             "unit": "exact"}]
    assert v.worst["name"] == "a"  # an exact mismatch is listed, not ranked


def test_the_summary_and_the_record_say_what_was_compared():
    empty = verify.Verdict("x")
    assert empty.summary() == "x: REPRODUCED: all 0 numbers within tolerance"
    assert empty.to_dict() == {"verdict": "reproduced", "same_weights": None, "numbers_checked": 0,
                               "mismatches": 0, "largest": None, "thresholds_moved": 0, "notes": []}
    v = verify.Verdict("x", same_weights=False, notes=["n1"])
    v.record("r", 0.5, 0.5001, 0.001, "= 2 samples of 2,000")
    v.record("s", 0.5, 0.5, 0.001)
    v.thresholds_checked, v.thresholds_moved = 3, ["t1", "t2"]
    assert v.summary().splitlines() == [
        "x: weights differ from the reference (retrained), so this compares two trainings and "
        "is not a reproduction test; REPRODUCED: all 2 numbers within tolerance; largest "
        "difference r: 0.5 vs 0.5001 (|diff| 0.0001, tolerance 0.001 = 2 samples of 2,000)",
        "  note: n1",
        "  note: 2 of 3 thresholds moved (judged by the rates they give), e.g. t1"]
    assert v.to_dict() == {"verdict": "reproduced", "same_weights": False, "numbers_checked": 2,
                           "mismatches": 0,
                           "largest": "r: 0.5 vs 0.5001 (|diff| 0.0001, tolerance 0.001 = 2 "
                                      "samples of 2,000)",
                           "thresholds_moved": 2, "notes": ["n1"]}
    v.record("u", 1.0, 2.0, 0.5)
    v.exact("e", "a", "b")
    assert v.summary().splitlines()[1:3] == ["  e: 'a' vs 'b'",
                                             "  u: 1 vs 2 (|diff| 1, tolerance 0.5)"]


def test_the_summary_lists_five_mismatches_unless_told_otherwise():
    v = verify.Verdict("x")
    for i in range(7):
        v.record(f"m{i}", 0.0, 1.0 + i, 0.5)
    lines = v.summary().splitlines()
    assert len(lines) == 6 and lines[1].startswith("  m6: ") and lines[5].startswith("  m2: ")
    assert len(v.summary(limit=2).splitlines()) == 3


def test_rate_denominators_of_a_confusion_matrix():
    """[[TN, FP], [FN, TP]] = [[180, 120], [100, 200]], 300 per class: precision over the
    predicted members less the 2 that may move (320 - 2), F1 over (2 TP + FP + FN - 6) / 3."""
    assert verify._denominators([[180, 120], [100, 200]], 300) == {
        "accuracy": 600, "best_accuracy": 600, "recall": 300, "advantage": 300,
        "tpr_at_1pct_fpr": 300, "tpr_at_0.1pct_fpr": 300, "precision": 318,
        "f1": (400 + 120 + 100 - 6) / 3}
    degenerate = verify._denominators([[0, 0], [0, 0]], 5)
    assert degenerate["precision"] == 1 and degenerate["f1"] == 1


def test_one_metric_checked_by_its_kind():
    v = verify.Verdict("x")
    verify._check_metric(v, "m.tpr", "tpr_at_1pct_fpr", 0.5, None, 300)
    assert v.mismatches[0]["reference"] == 0.5 and v.mismatches[0]["candidate"] is None
    verify._check_metric(v, "m.recall", "recall", 0.5, 0.52, 300)
    assert verify._describe(v.mismatches[1]) == (
        "m.recall: 0.5 vs 0.52 (|diff| 0.02, tolerance 0.00667 = 2 samples of 300)")
    verify._check_metric(v, "m.t1", "threshold", 0.0, 2e-4, 1)      # exactly its tolerance
    verify._check_metric(v, "m.t2", "threshold", 0.0, 2.0001e-4, 1)
    assert v.thresholds_checked == 2 and v.thresholds_moved == ["m.t2"]


def test_a_fitted_mean_of_a_score_is_judged_like_a_score():
    """Study 003's rule records the known members' mean loss: the last digits another CPU
    rounds differently (measured: 0.22699516101789713 on Intel, ...854 on AMD EPYC, from the
    same weights) reproduce; a moved mean does not."""
    v = verify.Verdict("x")
    verify._check_metric(v, "m.k", "known_member_mean", 0.22699516101789713, 0.22699516101789854)
    assert v.mismatches == []
    verify._check_metric(v, "m.k2", "known_member_mean", 0.227, 0.2275)
    assert [m["name"] for m in v.mismatches] == ["m.k2"]


# ---------------------------------------------------------------- what a comparison reads
@pytest.mark.parametrize("name", ["model.pt", "scores.npz", "calibrated.json"])
def test_a_results_file_in_only_one_folder_is_a_mismatch(ref, tmp_path, name):
    cand = write(tmp_path / "cand")
    (cand / name).unlink()
    v = verify.compare(ref, cand)
    assert [(m["name"], m["reference"], m["candidate"]) for m in v.mismatches] == [
        (f"{name} (present)", "present", "missing")]
    v = verify.compare(cand, ref)
    assert [(m["name"], m["reference"], m["candidate"]) for m in v.mismatches] == [
        (f"{name} (present)", "missing", "present")]


def test_unreadable_weights_and_scores_are_mismatches_not_tracebacks(ref, tmp_path):
    import datetime

    for i, bad in enumerate([b"not a torch file", None, {"w": 1}]):
        cand = write(tmp_path / f"w{i}")
        if bad is None:  # a pickle that only a full unpickler would run
            torch.save(datetime.date(2020, 1, 1), cand / "model.pt")
        elif isinstance(bad, bytes):
            (cand / "model.pt").write_bytes(bad)
        else:
            torch.save(bad, cand / "model.pt")
        v = verify.compare(ref, cand)
        assert names(v) == ["model.pt"] and v.same_weights is None, i
        assert v.mismatches[0]["reference"] == "a state dict"
        if i < 2:  # refused by the weights-only unpickler: its first line is quoted
            with pytest.raises(Exception) as refused:
                torch.load(cand / "model.pt", weights_only=True)
            assert v.mismatches[0]["candidate"] == (f"{cand / 'model.pt'} is not a readable state "
                                                    f"dict: {str(refused.value).splitlines()[0]}")
        else:
            assert v.mismatches[0]["candidate"] == f"{cand / 'model.pt'} is not a state dict of tensors"
    cand = write(tmp_path / "s")
    (cand / "scores.npz").write_bytes(b"PK\x03\x04 truncated")
    assert names(verify.compare(ref, cand)) == ["scores.npz"]
    np.savez(cand / "scores.npz", **dict(score_arrays(), cross_entropy=np.array([{"a": 1}], dtype=object)))
    with pytest.raises(ValueError) as refused:  # what numpy says of a pickled array
        np.load(cand / "scores.npz")["cross_entropy"]
    for v in (verify.compare(ref, cand), verify.compare(cand, ref)):  # either side
        assert [(m["name"], m["reference"], m["candidate"]) for m in v.mismatches] == [
            ("scores.npz", "readable arrays", f"unreadable: {str(refused.value).splitlines()[0]}")]


def test_a_missing_confusion_matrix_is_a_mismatch(ref, tmp_path):
    def drop(m):
        del m["attack"]["results"]["cross_entropy"]["50"]["repeats"][1]["confusion_matrix"]
    assert names(verify.compare(ref, edited(tmp_path, drop))) == [
        "cross_entropy.p50.repeat1.confusion_matrix (size)"]


def test_keys_in_only_the_candidate_are_named_and_the_rest_is_still_compared(ref, tmp_path):
    def add(m):
        m["all_samples"]["extra"] = {"auc": 0.5}
        m["attack"]["results"]["extra"] = {}
        cell = m["attack"]["results"]["cross_entropy"]
        cell["10"] = cell["50"]
        cell["50"]["summary"]["extra"] = {"mean": 1, "std": 0}
        m["target"]["train_accuracy"] += 3 / N_TRAIN   # and one real mismatch
    assert names(verify.compare(ref, edited(tmp_path, add))) == [
        "all_samples (keys)", "attack.results (keys)", "attack.results.cross_entropy (keys)",
        "cross_entropy.p50.summary (keys)", "target.train_accuracy"]
    c = calibrated()
    c["protocols"]["extra"] = {}
    c["protocols"]["study"]["rows"]["extra"] = {}
    c["protocols"]["study"]["rows"]["lira"]["a"] = 0.3
    c["protocols"]["study"]["rows"]["rmia"]["tpr_at_1pct_fpr"] = None
    c["protocols"]["study"]["rows"]["broken"] = calibrated()["protocols"]["study"]["rows"]["lira"]
    v = verify.compare(ref, write(tmp_path / "cal", cal=c))
    assert names(v) == ["calibrated.protocols (keys)", "calibrated.study.broken.not_computed",
                        "calibrated.study.lira (keys)", "calibrated.study.rmia.tpr_at_1pct_fpr",
                        "calibrated.study.rows (keys)"]
    by_name = {m["name"]: m for m in v.mismatches}
    assert (by_name["calibrated.study.broken.not_computed"]["reference"],
            by_name["calibrated.study.broken.not_computed"]["candidate"]) == ("few", None)
    assert by_name["calibrated.study.lira (keys)"]["candidate"] == [
        "a", "auc", "best_balanced_accuracy", "members_at_zero_fp", "tpr_at_0.01pct_fpr",
        "tpr_at_0.1pct_fpr", "tpr_at_1pct_fpr", "variance"]
    assert (by_name["calibrated.study.rmia.tpr_at_1pct_fpr"]["reference"],
            by_name["calibrated.study.rmia.tpr_at_1pct_fpr"]["candidate"]) == (0.05, None)


def test_counts_are_judged_in_samples(ref, tmp_path):
    def edit(m):
        m["attack"]["results"]["cross_entropy"]["50"]["confusion_matrix"]["mean_counts"][0][1] += 3
        m["attack"]["results"]["cross_entropy"]["50"]["repeats"][0]["confusion_matrix"][1][0] += 3
        m["attack"]["gap"]["50"]["accuracy"]["std"] += 3.9 / (2 * N_EVAL)  # within 2 x 2 samples
    v = verify.compare(ref, edited(tmp_path, edit))
    assert [verify._describe(m) for m in sorted(v.mismatches, key=lambda m: m["name"])] == [
        "cross_entropy.p50.confusion_mean_counts[1]: 120 vs 123 (|diff| 3, tolerance 2 samples)",
        "cross_entropy.p50.repeat0.confusion_matrix[2]: 120 vs 123 (|diff| 3, tolerance 2 samples)"]
    c = calibrated()
    c["protocols"]["study"]["rows"]["lira"]["members_at_zero_fp"] = 10
    v = verify.compare(ref, write(tmp_path / "cal", cal=c))
    assert verify._describe(v.mismatches[0]) == (
        "calibrated.study.lira.members_at_zero_fp: 7 vs 10 (|diff| 3, tolerance 2 samples)")


def test_a_score_array_is_reported_at_the_value_nearest_its_tolerance(ref, tmp_path):
    """Tolerance 2e-4 + 1e-4 |x|: at x = 0 a move of 1.9e-4 is 0.95 of it; at x = 3 a larger
    move of 4e-4 is 0.8 of 5e-4: the first is reported, the nearest to its tolerance."""
    base = score_arrays()
    moved = base["cross_entropy"].copy()
    moved[0] += 1.9e-4   # 0.95 of its tolerance
    moved[49] += 4e-4    # 0.8 of its tolerance, and the largest move
    v = verify.compare(ref, write(tmp_path / "near", scores=dict(base, cross_entropy=moved)))
    assert v.reproduced and v.worst["name"] == "scores.cross_entropy[0]"
    assert v.worst["ratio"] == pytest.approx(0.95)
    labels = dict(base, label=np.r_[base["label"][:-1], 3])
    v = verify.compare(ref, write(tmp_path / "labels", scores=labels))
    assert v.mismatches[0]["reference"] == base["label"].tobytes()
    short = dict(base, cross_entropy=base["cross_entropy"][:10])
    v = verify.compare(ref, write(tmp_path / "short", scores=short))
    assert (v.mismatches[0]["reference"], v.mismatches[0]["candidate"]) == ((50,), (10,))


def test_manifests_compare_package_versions_or_say_they_could_not(ref, tmp_path):
    cand = write(tmp_path / "cand")
    (cand / "manifest.json").write_text(json.dumps({"device": {}}))  # no packages recorded
    v = verify.compare(ref, cand)
    assert v.notes == ["package versions differ: numpy 2.0 -> None"]
    assert names(v) == ["manifest.config_hash", "manifest.training_hash"]  # and no hashes
    (cand / "manifest.json").write_text(json.dumps({"packages": {"numpy": "2.0"},
                                                    "config_hash": "c1", "training_hash": "t2"}))
    v = verify.compare(ref, cand)
    assert [(m["name"], m["reference"], m["candidate"]) for m in v.mismatches] == [
        ("manifest.training_hash", "t1", "t2")]
    # a reference that recorded no hashes cannot vouch for the candidate's
    (ref / "manifest.json").write_text(json.dumps({"packages": {"numpy": "2.0"}}))
    assert names(verify.compare(ref, cand)) == ["manifest.config_hash", "manifest.training_hash"]
    (cand / "manifest.json").write_text(json.dumps({"packages": {"numpy": "2.0"}}))
    v = verify.compare(ref, cand)
    assert v.reproduced and v.checked == verify.compare(cand, cand).checked  # none to compare
    (cand / "manifest.json").write_text("[1, 2]")
    assert verify.compare(ref, cand).notes == ["no readable manifest to compare package versions or hashes"]
    (cand / "manifest.json").unlink()
    assert verify.compare(ref, cand).notes == ["no readable manifest to compare package versions or hashes"]


def test_a_layout_the_verdict_cannot_read_is_one_mismatch(ref, tmp_path):
    def drop(m):
        del m["target"]
    v = verify.compare(ref, edited(tmp_path, drop))
    assert [(m["name"], m["reference"], m["candidate"]) for m in v.mismatches] == [
        ("metrics.json (keys)", ["all_samples", "attack", "experiment", "target"],
         ["all_samples", "attack", "experiment"]),
        ("metrics.json structure", "reference layout", "differs at KeyError('target')")]
    v = verify.compare(ref, write(tmp_path / "cal", cal={}))
    assert [(m["name"], m["reference"], m["candidate"]) for m in v.mismatches] == [
        ("calibrated (keys)", ["protocols"], [])]
    v = verify.compare(ref, write(tmp_path / "list", cal=[1]))
    assert [m["name"] for m in v.mismatches] == ["calibrated"]
    (tmp_path / "list" / "calibrated.json").write_bytes(b"\xff{")
    assert [(m["name"], m["candidate"][:11]) for m in verify.compare(ref, tmp_path / "list").mismatches
            ] == [("calibrated.json", "unreadable:")]


def test_a_gap_table_in_only_the_reference_or_a_row_computed_on_one_side_only(ref, tmp_path):
    m = metrics()
    del m["attack"]["gap"]
    old = write(tmp_path / "old", m=m)  # a reference from before the gap attack
    assert names(verify.compare(old, write(tmp_path / "new"))) == ["attack.gap (keys)"]
    c = calibrated()
    c["protocols"]["study"]["rows"]["lira"] = {"not_computed": "few"}
    v = verify.compare(ref, write(tmp_path / "cal", cal=c))
    assert [(m["name"], m["reference"], m["candidate"]) for m in v.mismatches] == [
        ("calibrated.study.lira.not_computed", None, "few")]


def test_weights_compared_by_name_shape_and_value(tmp_path):
    one = write(tmp_path / "one", weights={"w": torch.ones(3), "b": torch.ones(1)})
    moved = write(tmp_path / "moved", weights={"w": torch.tensor([1.0, 1.5, 1.0]), "b": torch.ones(1)})
    v = verify.compare(one, moved)
    assert v.same_weights is False and v.notes[0].startswith("largest weight difference 0.5;")
    for other in ({"w": torch.ones(3)}, {"w": torch.ones(3), "c": torch.ones(1)},
                  {"w": torch.ones(4), "b": torch.ones(1)}):
        v = verify.compare(one, write(tmp_path / f"o{len(other)}{other['w'].numel()}", weights=other))
        assert v.same_weights is False and v.notes[0].startswith("largest weight difference inf")
    assert verify._same_weights(one / "model.pt", one / "model.pt") == (True, 0.0)


def test_the_experiment_is_named_by_its_metrics_or_else_by_its_folder(ref, tmp_path):
    m = metrics()
    del m["experiment"]
    assert verify.compare(ref, write(tmp_path / "folder-name", m=m)).experiment == "folder-name"
    assert verify.compare(ref, ref).experiment == "exp"


def test_trees_compare_every_experiment_the_candidate_holds_or_those_named(tmp_path):
    for root in ("a", "b"):
        write(tmp_path / root / "one")
        write(tmp_path / root / "two")
    (tmp_path / "b" / "not-results").mkdir()
    m = metrics()
    m["target"]["train_accuracy"] += 5 / N_TRAIN
    write(tmp_path / "b" / "two", m=m)
    verdicts = verify.compare_trees(tmp_path / "a", tmp_path / "b")
    assert [v.experiment for v in verdicts] == ["exp", "exp"]
    assert [v.reproduced for v in verdicts] == [True, False]
    assert [v.reproduced for v in verify.compare_trees(tmp_path / "a", tmp_path / "b", ["two"])] == [False]
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=rf"^no results to compare in {tmp_path / 'empty'}$"):
        verify.compare_trees(tmp_path / "a", tmp_path / "empty")


def rich_calibrated() -> dict:
    """A calibrated.json with every kind of number the walk judges: a row with its own
    counts, intervals and a thinned ROC; the power curve; the paired comparisons and the
    decisions drawn from them; prose and training times, which it does not judge."""
    row = {"auc": 0.7, "tpr_at_1pct_fpr": 0.05, "best_balanced_accuracy": 0.6,
           "members_at_zero_fp": 7, "n_members": 500, "n_nonmembers": 250, "bootstrap": 200,
           "ci95": {"auc": [0.65, 0.75], "tpr_at_1pct_fpr": [0.04, 0.06]},
           "roc": {"fpr": [0.0, 0.5, 1.0], "tpr": [0.1, 0.6, 1.0]}}
    comparison = {"difference": 0.1, "ci95": [0.05, 0.15], "p": 0.01, "p_holm": 0.03}
    return json.loads(json.dumps({"protocols": {"study": {
        "description": "prose", "n_members": 1000, "n_nonmembers": 400,
        "rows": {"lira": row},
        "strongest": {"auc": {"metric": "auc", "top": "lira", "strongest": "lira",
                              "tied_with_top": ["rmia"], "policy": "prose",
                              "comparisons": {"loss": comparison},
                              "versus_baseline": {"rows": {"lira": {**comparison, "above": True}}}}},
        "power_vs_references": {"4": {"lira": {
            "tpr_at_1pct_fpr": {"mean": 0.05, "std": 0.01, "min": 0.04, "max": 0.06},
            "training_seconds": 12.5, "subsets": 3, "a": [0.25, 0.5]}}},
    }}, "fprs": {"tpr_at_1pct_fpr": 0.01}, "not_computed": {}}))  # no shared lists


def walk(edit) -> Verdict:
    ref, cand = rich_calibrated(), rich_calibrated()
    edit(cand["protocols"]["study"])
    v = Verdict("x")
    verify._check_calibrated(v, ref, cand)
    return v


def _set(path, value):
    def edit(study):
        d = study
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value(d[path[-1]]) if callable(value) else value
    return edit


# (path under the protocol, the tolerance it is judged at, its name in the verdict)
TOLERANCES = [
    (("rows", "lira", "auc"), 1e-4, "calibrated.study.lira.auc"),
    # the row's own members (500) and non-members (250), not the protocol's
    (("rows", "lira", "tpr_at_1pct_fpr"), 2 / 500, "calibrated.study.lira.tpr_at_1pct_fpr"),
    (("rows", "lira", "best_balanced_accuracy"), 2 / 500, "calibrated.study.lira.best_balanced_accuracy"),
    (("rows", "lira", "members_at_zero_fp"), 2, "calibrated.study.lira.members_at_zero_fp"),
    (("rows", "lira", "ci95", "auc", 1), 2e-4, "calibrated.study.lira.ci95.auc[1]"),
    (("rows", "lira", "ci95", "tpr_at_1pct_fpr", 0), 4 / 500, "calibrated.study.lira.ci95.tpr_at_1pct_fpr[0]"),
    (("rows", "lira", "roc", "fpr", 1), 2 / 250, "calibrated.study.lira.roc.fpr[1]"),
    (("rows", "lira", "roc", "tpr", 1), 2 / 500, "calibrated.study.lira.roc.tpr[1]"),
    (("strongest", "auc", "comparisons", "loss", "difference"), 2e-4,
     "calibrated.study.strongest.auc.comparisons.loss.difference"),
    (("strongest", "auc", "comparisons", "loss", "ci95", 0), 4e-4,
     "calibrated.study.strongest.auc.comparisons.loss.ci95[0]"),
    (("strongest", "auc", "comparisons", "loss", "p"), 0.02,
     "calibrated.study.strongest.auc.comparisons.loss.p"),
    (("strongest", "auc", "versus_baseline", "rows", "lira", "p_holm"), 0.02,
     "calibrated.study.strongest.auc.versus_baseline.lira.p_holm"),
    # the power curve: the protocol's 1,000 members
    (("power_vs_references", "4", "lira", "tpr_at_1pct_fpr", "mean"), 2 / 1000,
     "calibrated.study.power_vs_references.4.lira.tpr_at_1pct_fpr.mean"),
    (("power_vs_references", "4", "lira", "tpr_at_1pct_fpr", "std"), 4 / 1000,
     "calibrated.study.power_vs_references.4.lira.tpr_at_1pct_fpr.std"),
    (("power_vs_references", "4", "lira", "tpr_at_1pct_fpr", "max"), 2 / 1000,
     "calibrated.study.power_vs_references.4.lira.tpr_at_1pct_fpr.max"),
]


@pytest.mark.parametrize("path, tol, name", TOLERANCES, ids=[t[2] for t in TOLERANCES])
def test_every_number_of_calibrated_json_is_judged_at_its_tolerance(path, tol, name):
    assert walk(_set(path, lambda x: x + 0.95 * tol)).reproduced
    v = walk(_set(path, lambda x: x + 1.05 * tol))
    assert [m["name"] for m in v.mismatches] == [name]
    assert v.mismatches[0]["tolerance"] == pytest.approx(tol)


@pytest.mark.parametrize("path, value, name", [
    (("strongest", "auc", "strongest"), None, "calibrated.study.strongest.auc.strongest"),
    (("strongest", "auc", "top"), "rmia", "calibrated.study.strongest.auc.top"),
    (("strongest", "auc", "tied_with_top"), ["loss"], "calibrated.study.strongest.auc.tied_with_top[0]"),
    (("strongest", "auc", "tied_with_top"), [], "calibrated.study.strongest.auc.tied_with_top (length)"),
    (("strongest", "auc", "versus_baseline", "rows", "lira", "above"), False,
     "calibrated.study.strongest.auc.versus_baseline.lira.above"),
    (("power_vs_references", "4", "lira", "a", 0), 0.2500001, "calibrated.study.power_vs_references.4.lira.a[0]"),
    (("power_vs_references", "4", "lira", "subsets"), 4, "calibrated.study.power_vs_references.4.lira.subsets"),
    (("rows", "lira", "bootstrap"), 201, "calibrated.study.lira.bootstrap"),
    (("n_members",), 1001, "calibrated.study.n_members"),
    (("rows", "lira", "auc"), None, "calibrated.study.lira.auc"),
])
def test_decisions_labels_counts_and_settings_are_compared_exactly(path, value, name):
    assert [m["name"] for m in walk(_set(path, value)).mismatches] == [name]


def test_prose_and_training_times_are_not_judged_and_a_missing_number_is_named():
    def edit(study):
        study["description"] = "other prose"
        study["strongest"]["auc"]["policy"] = "other policy"
        study["power_vs_references"]["4"]["lira"]["training_seconds"] = 99.0
    v = walk(edit)
    assert v.reproduced and v.checked == walk(lambda s: None).checked
    v = walk(lambda s: s["power_vs_references"]["4"]["lira"]["tpr_at_1pct_fpr"].pop("min"))
    assert [m["name"] for m in v.mismatches] == [
        "calibrated.study.power_vs_references.4.lira.tpr_at_1pct_fpr (keys)"]
    # the top-level rates are settings (no counts above them): exact
    ref, cand = rich_calibrated(), rich_calibrated()
    cand["fprs"]["tpr_at_1pct_fpr"] = 0.0100001
    v = Verdict("x")
    verify._check_calibrated(v, ref, cand)
    assert [m["name"] for m in v.mismatches] == ["calibrated.fprs.tpr_at_1pct_fpr"]
