"""Did a rerun reproduce the results? A verdict per experiment, within stated tolerances.

``compare(reference, candidate)`` reads two results folders of one experiment and checks
every number of ``metrics.json`` and ``calibrated.json`` and every array of ``scores.npz``; ``invoke experiments``
calls it against the results it is about to replace, and ``invoke verify`` against any
given results without overwriting them.

Tolerances (defended in the README, "Reproducing the results"):

- *Scores* (float64 from float32 logits): |a - b| <= SCORE_ATOL + SCORE_RTOL * |a|. Another
  CPU rounds float32 sums differently: with the same weights, two EPYC machines gave scores
  up to 4.2e-5 apart, both at cross-entropies near 30 (relative 1.4e-6) and at normalized
  probability losses near 0.09 (the min-max normalisation turns relative into absolute
  error). SCORE_ATOL is 5x that absolute difference, SCORE_RTOL 70x that relative one.
- *Continuous metrics* (AUC, losses, KDE thresholds): AUC within AUC_TOL (a tenth of the
  smallest spread over attacker samples in the study, 0.001); losses and thresholds like
  scores.
- *Thresholded metrics* (accuracy, precision, recall, F1, TPR at FPR, advantage, confusion
  matrices) move in steps of one sample: within STEP_SAMPLES samples of the evaluation set
  (for a rate over n samples, STEP_SAMPLES / n). A score moved by 1e-5 changes the side of a
  threshold only for samples that close to it: about one in 10^4 here.
- Standard deviations over repeats: twice the tolerance of their metric.
- ``calibrated.json``: see ``_check_calibrated``.
- Labels (``threshold_method``, integer arrays, names): exactly.

The verdict holds for the *same weights* (the reuse path). When the candidate's weights differ
from the reference's (``--retrain`` on another machine), the comparison is between two
trainings, not a reproduction test: the honest yardstick is the spread between training
seeds, which the study does not measure yet. The verdict says so.
"""
from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .audit_verdict import check_audit
from .errors import UserError
from .io import read_json

SCORE_ATOL, SCORE_RTOL = 2e-4, 1e-4
AUC_TOL = 1e-4
STEP_SAMPLES = 2
STEP_METRICS = {"accuracy", "precision", "recall", "f1", "advantage", "best_accuracy",
                "tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr", "train_accuracy", "test_accuracy"}
# continuous values judged like scores: losses, and a fitted mean of a score (study 003's rule
# records the known members' mean loss: another CPU moves it by ~1e-15, as it moves scores)
FLOAT_METRICS = {"train_loss", "test_loss", "known_member_mean"}
THRESHOLDS = {"threshold", "best_threshold"}
HASHES = ("config_hash", "training_hash")  # manifest.json: compared exactly


@dataclass
class Verdict:
    experiment: str
    checked: int = 0
    mismatches: list[dict] = field(default_factory=list)
    worst: dict | None = None  # the check with the largest |difference| / tolerance
    same_weights: bool | None = None
    notes: list[str] = field(default_factory=list)
    thresholds_checked: int = 0
    thresholds_moved: list[str] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        return not self.mismatches

    def record(self, name: str, ref, cand, tol: float, unit: str = "", count: int = 1) -> None:
        self.checked += count
        diff = abs(float(cand) - float(ref))
        ratio = diff / tol if tol > 0 else (0.0 if diff == 0 else math.inf)
        entry = {"name": name, "reference": ref, "candidate": cand, "difference": diff,
                 "tolerance": tol, "ratio": ratio, "unit": unit}
        if not diff <= tol:
            self.mismatches.append(entry)
        if self.worst is None or ratio > self.worst["ratio"]:
            self.worst = entry

    def exact(self, name: str, ref, cand) -> None:
        self.checked += 1
        if ref != cand:
            self.mismatches.append({"name": name, "reference": ref, "candidate": cand,
                                    "difference": None, "tolerance": 0, "ratio": math.inf,
                                    "unit": "exact"})

    def summary(self, limit: int = 5) -> str:
        head = f"{self.experiment}: "
        if self.same_weights is False:
            head += ("weights differ from the reference (retrained), so this compares two "
                     "trainings and is not a reproduction test; ")
        if self.reproduced:
            head += f"REPRODUCED: all {self.checked:,} numbers within tolerance"
            if self.worst and self.worst["difference"]:
                head += f"; largest difference {_describe(self.worst)}"
            lines = [head]
        else:
            head += (f"NOT REPRODUCED: {len(self.mismatches):,} of {self.checked:,} numbers outside "
                     f"tolerance; largest:")
            worst = sorted(self.mismatches, key=lambda m: -m["ratio"])[:limit]
            lines = [head] + [f"  {_describe(m)}" for m in worst]
        notes = list(self.notes)
        if self.thresholds_moved:
            notes.append(f"{len(self.thresholds_moved)} of {self.thresholds_checked} thresholds "
                         f"moved (judged by the rates they give), e.g. {self.thresholds_moved[0]}")
        return "\n".join(lines + [f"  note: {n}" for n in notes])

    def to_dict(self) -> dict:
        return {"verdict": "reproduced" if self.reproduced else "not reproduced",
                "same_weights": self.same_weights, "numbers_checked": self.checked,
                "mismatches": len(self.mismatches),
                "largest": None if self.worst is None else _describe(self.worst),
                "thresholds_moved": len(self.thresholds_moved), "notes": self.notes}


def _describe(m: dict) -> str:
    if m["difference"] is None:
        return f"{m['name']}: {m['reference']!r} vs {m['candidate']!r}"
    unit = f" {m['unit']}" if m["unit"] else ""
    return (f"{m['name']}: {m['reference']:.6g} vs {m['candidate']:.6g} "
            f"(|diff| {m['difference']:.3g}, tolerance {m['tolerance']:.3g}{unit})")


def _float_tol(x: float) -> float:
    return SCORE_ATOL + SCORE_RTOL * abs(x)


def _denominators(cm, n: int) -> dict:
    """How many samples each thresholded rate is counted over, for one (or a mean) confusion
    matrix [[TN, FP], [FN, TP]] of a balanced evaluation with ``n`` samples per class.

    A rate over d samples moves by 1/d per sample; precision and F1 have moving
    denominators, so theirs is reduced by the samples allowed to move (a safe bound)."""
    (_, fp), (fn, tp) = np.asarray(cm)
    slack = 3 * STEP_SAMPLES
    return {"accuracy": 2 * n, "best_accuracy": 2 * n, "recall": n, "advantage": n,
            "tpr_at_1pct_fpr": n, "tpr_at_0.1pct_fpr": n,
            "precision": max(tp + fp - STEP_SAMPLES, 1),
            "f1": max((2 * tp + fp + fn - slack) / 3, 1)}


def _check_metric(v: Verdict, name: str, key: str, ref, cand, n: float | None = None,
                  std: bool = False) -> None:
    """One metric value; ``n``: the sample count a thresholded metric's steps are counted in
    (the other kinds have no steps)."""
    scale = 2 if std else 1
    if ref is None or cand is None:  # an unresolved metric: both must be unresolved
        v.exact(name, ref, cand)
    elif key == "auc":
        v.record(name, ref, cand, scale * AUC_TOL)
    elif key in STEP_METRICS:
        v.record(name, ref, cand, scale * STEP_SAMPLES / n, f"= {STEP_SAMPLES} samples of {n:,.0f}")
    elif key in THRESHOLDS:
        # A threshold is an argmax over candidates: when two classify almost equally well, a
        # one-sample change may move it far. It is judged by the rates it produces (checked
        # above and below); here it is only counted when it moved.
        v.thresholds_checked += 1
        if abs(float(cand) - float(ref)) > scale * _float_tol(ref):
            v.thresholds_moved.append(name)
    elif key in FLOAT_METRICS:
        v.record(name, ref, cand, scale * _float_tol(ref))
    else:
        v.exact(name, ref, cand)


def _check_dict(v: Verdict, where: str, a: dict, b: dict, n_for) -> None:
    """Every key of ``a`` that ``b`` also has (a missing key is a mismatch, the rest go on)."""
    _same_keys(v, where, a, b)
    for key in sorted(a.keys() & b.keys()):
        _check_metric(v, f"{where}.{key}", key, a[key], b[key], n_for(key))


# metrics.json's labels: compared exactly (a rerun that reproduced keeps the reference's file)
METRICS_LABELS = ("experiment", "description", "data_notes", "config_hash", "training_hash")


def _check_metrics(v: Verdict, ref: dict, cand: dict) -> None:
    _same_keys(v, "metrics.json", ref, cand)
    for key in METRICS_LABELS:
        if key in ref or key in cand:
            v.exact(f"metrics.{key}", ref.get(key), cand.get(key))
    rt, ct = ref["target"], cand["target"]
    for key, n in (("train_accuracy", rt["n_train"]), ("test_accuracy", rt["n_test"]),
                   ("train_loss", None), ("test_loss", None)):
        _check_metric(v, f"target.{key}", key, rt[key], ct[key], n)
    n_m, n_n = rt["n_train"], rt["n_test"]
    full = {"tpr_at_1pct_fpr": n_m, "tpr_at_0.1pct_fpr": n_m, "advantage": min(n_m, n_n),
            "best_accuracy": 2 * min(n_m, n_n)}
    _same_keys(v, "all_samples", ref["all_samples"], cand["all_samples"])
    for s in sorted(ref["all_samples"].keys() & cand["all_samples"].keys()):
        _check_dict(v, f"all_samples.{s}", ref["all_samples"][s], cand["all_samples"][s],
                    full.get)
    rr, cr = ref["attack"]["results"], cand["attack"]["results"]
    _same_keys(v, "attack.results", rr, cr)
    for s in sorted(rr.keys() & cr.keys()):
        _same_keys(v, f"attack.results.{s}", rr[s], cr[s])
        for p in sorted(rr[s].keys() & cr[s].keys()):
            a, b = rr[s][p], cr[s][p]
            where, n = f"{s}.p{p}", a["n_eval_per_class"]
            for key in ("n_attacker_members", "n_attacker_nonmembers", "n_eval_per_class"):
                v.exact(f"{where}.{key}", a[key], b[key])
            mean_cm = a["confusion_matrix"]["mean_counts"]
            d = _denominators(mean_cm, n)
            _same_keys(v, f"{where}.summary", a["summary"], b["summary"])
            for key in sorted(a["summary"].keys() & b["summary"].keys()):
                for stat in ("mean", "std"):
                    _check_metric(v, f"{where}.{stat}.{key}", key, a["summary"][key][stat],
                                  b["summary"][key][stat], d.get(key), std=stat == "std")
            for i, (x, y) in enumerate(zip(np.ravel(mean_cm),
                                           np.ravel(b["confusion_matrix"]["mean_counts"]))):
                v.record(f"{where}.confusion_mean_counts[{i}]", x, y, STEP_SAMPLES, "samples")
            v.exact(f"{where}.repeats", len(a["repeats"]), len(b["repeats"]))
            for ra, rb in zip(a["repeats"], b["repeats"]):
                here = f"{where}.repeat{ra['repeat']}"
                d = _denominators(ra["confusion_matrix"], n)
                cm_a, cm_b = np.ravel(ra["confusion_matrix"]), np.ravel(rb.get("confusion_matrix", []))
                v.exact(f"{here}.confusion_matrix (size)", cm_a.size, cm_b.size)  # 0: missing
                for i, (x, y) in enumerate(zip(cm_a, cm_b)):
                    v.record(f"{here}.confusion_matrix[{i}]", x, y, STEP_SAMPLES, "samples")
                skip = ("repeat", "confusion_matrix")
                _check_dict(v, here, {k: x for k, x in ra.items() if k not in skip},
                            {k: x for k, x in rb.items() if k not in skip}, d.get)
    # the gap attack on each repeat's evaluation set (results from before it have none)
    ga, gb = ref["attack"].get("gap", {}), cand["attack"].get("gap", {})
    _same_keys(v, "attack.gap", ga, gb)
    for p in sorted(ga.keys() & gb.keys()):
        n = next(iter(rr.values()))[p]["n_eval_per_class"]
        for stat in ("mean", "std"):
            _check_metric(v, f"gap.p{p}.{stat}.accuracy", "accuracy", ga[p]["accuracy"][stat],
                          gb[p]["accuracy"][stat], 2 * n, std=stat == "std")


def _same_keys(v: Verdict, name: str, a: dict, b: dict) -> None:
    v.exact(f"{name} (keys)", sorted(a), sorted(b))


def _check_scores(v: Verdict, ref: Path, cand: Path, label: str = "scores") -> None:
    """Every array of an .npz of per-sample scores: labels and integers exactly, scores within
    SCORE_ATOL + SCORE_RTOL |x|."""
    with np.load(ref) as a, np.load(cand) as b:  # numpy's default refuses pickled objects
        _same_keys(v, f"{label}.npz", dict.fromkeys(a.files), dict.fromkeys(b.files))
        for k in sorted(set(a.files) & set(b.files)):
            x, y = a[k], b[k]
            if x.shape != y.shape or x.dtype.kind in ("b", "i", "u"):  # booleans, integers
                v.exact(f"{label}.{k}", x.tobytes() if x.shape == y.shape else x.shape,
                        y.tobytes() if x.shape == y.shape else y.shape)
                continue
            ratio = np.abs(y - x) / (SCORE_ATOL + SCORE_RTOL * np.abs(x))
            i = int(np.argmax(ratio))  # the value nearest (or furthest past) its tolerance
            v.record(f"{label}.{k}[{i}]", x[i], y[i], SCORE_ATOL + SCORE_RTOL * abs(x[i]),
                     count=x.size)


CALIBRATED_STEP = ("tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr", "tpr_at_0.01pct_fpr",
                   "best_balanced_accuracy")
# a shadow bank's classifiers' own decisions (disjoint.at_decision): rates of the members
# (recall; precision and F1, approximately: their counts are near the members' in a balanced
# set) or of the whole balanced set (accuracy)
DECISION_RATES = ("accuracy", "precision", "recall", "f1")
CALIBRATED_METRICS = ("auc", *CALIBRATED_STEP, *DECISION_RATES)
# A p-value counts bootstrap resamples on one side of zero: scores within tolerance move
# only resamples whose difference is near zero, which no tolerance on the scores bounds.
# 0.02 (40 of 2,000 resamples) is a judgement, not a derivation; the decisions the deck
# states from p-values ("strongest", "tied_with_top", "above") are compared exactly.
P_TOL = 0.02
PROSE = frozenset({"description", "policy", "resampled"})  # sentences, not numbers
RECORDS = frozenset({"training_seconds", "attack_seconds"})  # how long this machine took, not a result
DIFFERENCES = frozenset({"comparisons", "vs_plain", "versus_baseline", "power_comparisons"})
SPREADS = frozenset({"ci95", "std"})
UNLABELLED = frozenset({"protocols", "rows"})  # containers whose key names leave out


@dataclass(frozen=True)
class _Context:
    """What a number of ``calibrated.json`` is, gathered on the way down to it."""

    metric: str | None = None    # the metric it measures, or a difference or spread of
    n_pos: int | None = None     # members it is counted over (the nearest ``n_members``)
    n_neg: int | None = None     # non-members likewise
    scale: int = 1               # x2 in a difference of two rows, x2 in a spread
    roc: bool = False            # inside a thinned ROC curve

    def tolerance(self, key: str) -> tuple[float, str] | None:
        """(tolerance, unit) of a float leaf ``key``, or None: compared exactly."""
        if key in ("p", "p_holm"):
            return P_TOL, ""
        metric = ("tpr_at_1pct_fpr" if key == "tpr" else "fpr") if self.roc else self.metric
        if metric == "auc":
            return self.scale * AUC_TOL, ""
        both = 2 * min(self.n_pos, self.n_neg) if self.n_pos and self.n_neg else None
        n = {"fpr": self.n_neg, "best_balanced_accuracy": both, "accuracy": both}.get(
            metric, self.n_pos if metric in CALIBRATED_STEP + DECISION_RATES else None)
        if not n:
            return None
        return self.scale * STEP_SAMPLES / n, f"= {self.scale * STEP_SAMPLES} samples of {n:,}"


def _check_calibrated(v: Verdict, ref, cand) -> None:
    """Every number of ``calibrated.json``, walked down both trees side by side.

    - point estimates, power-curve means, minima and maxima: AUC within AUC_TOL, a rate
      within STEP_SAMPLES of the count it is a rate of, members at zero false positives
      within STEP_SAMPLES;
    - intervals, standard deviations and differences of two rows: twice that each (a
      bootstrap quantile moves no further than the resamples it orders; a difference
      carries both rows' movements);
    - p-values within P_TOL; the decisions and every label, count, choice and setting exactly;
    - prose (descriptions, policies) and this machine's training times are not judged.

    A number is named by its path, with the ``protocols`` and ``rows`` levels left out:
    ``calibrated.study.lira.auc``."""
    _walk(v, "calibrated", "", ref, cand, _Context())


def _walk(v: Verdict, label: str, key: str, a, b, ctx: _Context) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        if any(isinstance(d.get("not_computed"), str) for d in (a, b)):  # a row not computed
            v.exact(f"{label}.not_computed", a.get("not_computed"), b.get("not_computed"))
            return
        _same_keys(v, label, a, b)
        counts = {k: a[k] for k in ("n_members", "n_nonmembers")
                  if isinstance(a.get(k), int) and not isinstance(a.get(k), bool)}
        ctx = replace(ctx, n_pos=counts.get("n_members", ctx.n_pos),
                      n_neg=counts.get("n_nonmembers", ctx.n_neg))
        prefix = label.rsplit(".", 1)[0] if key in UNLABELLED else label
        for k in sorted(a.keys() & b.keys()):
            if k in PROSE or k in RECORDS:
                continue
            inner = ctx
            if k in CALIBRATED_METRICS:
                inner = replace(inner, metric=k)
            if k in DIFFERENCES or k in SPREADS:
                inner = replace(inner, scale=2 * inner.scale)
            if k == "roc":
                inner = replace(inner, roc=True)
            _walk(v, f"{prefix}.{k}", k, a[k], b[k], inner)
    elif isinstance(a, list) and isinstance(b, list):
        v.exact(f"{label} (length)", len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            _walk(v, f"{label}[{i}]", key, x, y, ctx)
    elif key == "members_at_zero_fp" and _is_number(a) and _is_number(b):
        v.record(label, a, b, STEP_SAMPLES, "samples")
    elif (_is_number(a) and _is_number(b) and float in (type(a), type(b))
          and (tol := ctx.tolerance(key)) is not None):
        v.record(label, a, b, *tol)
    else:  # labels, counts, settings, None, and a number on one side only
        v.exact(label, a, b)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _same_weights(ref: Path, cand: Path) -> tuple[bool, float]:
    """(identical?, the largest absolute difference) of two state dicts; UserError naming
    the file that is not one."""
    import pickle

    import torch

    def load(p: Path) -> dict:
        try:
            state = torch.load(p, weights_only=True,  # pragma: no mutate (None: torch's default, True)
                               map_location="cpu",  # pragma: no mutate (a GPU-saved file on a CPU: no GPU in tests)
                               )
        except (pickle.UnpicklingError, RuntimeError, OSError, ValueError, EOFError) as e:
            raise UserError(f"{p} is not a readable state dict: {str(e).splitlines()[0]}") from None
        if not isinstance(state, dict) or not all(isinstance(t, torch.Tensor) for t in state.values()):
            raise UserError(f"{p} is not a state dict of tensors")
        return state

    a, b = load(ref), load(cand)
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        return False, math.inf
    diff = max(float((a[k].double() - b[k].double()).abs().max()) for k in a)
    return diff == 0.0, diff


def compare(reference: Path, candidate: Path) -> Verdict:
    """Compare the results of one experiment in ``candidate`` with those in ``reference``."""
    reference, candidate = Path(reference), Path(candidate)
    for d in (reference, candidate):
        if not (d / "metrics.json").is_file():
            raise UserError(f"no results to compare in {d} (metrics.json missing)")
    try:
        ref_m, cand_m = read_json(reference / "metrics.json"), read_json(candidate / "metrics.json")
    except ValueError as e:
        raise UserError(f"corrupt metrics.json in {reference} or {candidate}: {e}") from None
    for d, m in ((reference, ref_m), (candidate, cand_m)):
        if not isinstance(m, dict):
            raise UserError(f"corrupt metrics.json in {d}: not a JSON object")
    v = Verdict(cand_m.get("experiment", candidate.name))
    if _present_in_both(v, reference, candidate, "model.pt"):
        try:
            v.same_weights, diff = _same_weights(reference / "model.pt", candidate / "model.pt")
        except UserError as e:
            v.exact("model.pt", "a state dict", str(e))
        else:
            if not v.same_weights:
                v.notes.append(f"largest weight difference {diff:.3g}; no seed study exists yet "
                               f"to say how far apart two trainings may be")
    try:
        ref_manifest, cand_manifest = (read_json(d / "manifest.json") for d in (reference, candidate))
        ref_env, cand_env = (m.get("packages", {}) for m in (ref_manifest, cand_manifest))
        changed = sorted(k for k in set(ref_env) | set(cand_env) if ref_env.get(k) != cand_env.get(k))
        if changed:
            v.notes.append("package versions differ: " + ", ".join(
                f"{k} {ref_env.get(k)} -> {cand_env.get(k)}" for k in changed))
        # the same experiment: its settings (config) and what its weights were trained from
        for key in HASHES:
            if key in ref_manifest or key in cand_manifest:
                v.exact(f"manifest.{key}", ref_manifest.get(key), cand_manifest.get(key))
    except (OSError, ValueError, AttributeError):  # missing, not JSON, not an object
        v.notes.append("no readable manifest to compare package versions or hashes")
    try:
        _check_metrics(v, ref_m, cand_m)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        v.exact("metrics.json structure", "reference layout", f"differs at {e!r}")
    if _present_in_both(v, reference, candidate, "scores.npz"):
        try:
            _check_scores(v, reference / "scores.npz", candidate / "scores.npz")
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # not an npz, or pickles
            v.exact("scores.npz", "readable arrays", f"unreadable: {str(e).splitlines()[0]}")
    if _present_in_both(v, reference, candidate, "calibrated.json"):
        try:
            _check_calibrated(v, read_json(reference / "calibrated.json"),
                              read_json(candidate / "calibrated.json"))
        except (OSError, ValueError) as e:  # not UTF-8, not JSON
            v.exact("calibrated.json", "readable JSON", f"unreadable: {str(e).splitlines()[0]}")
    if _present_in_both(v, reference, candidate, "attack_scores.npz"):
        try:
            _check_scores(v, reference / "attack_scores.npz", candidate / "attack_scores.npz",
                          "attack_scores")
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            v.exact("attack_scores.npz", "readable arrays", f"unreadable: {str(e).splitlines()[0]}")
    if _present_in_both(v, reference, candidate, "audit.json"):
        try:
            check_audit(v, read_json(reference / "audit.json"), read_json(candidate / "audit.json"),
                        STEP_SAMPLES)
        except (OSError, ValueError) as e:
            v.exact("audit.json", "readable JSON", f"unreadable: {str(e).splitlines()[0]}")
        except (KeyError, TypeError, AttributeError) as e:
            v.exact("audit.json structure", "reference layout", f"differs at {e!r}")
    return v


def _present_in_both(v: Verdict, reference: Path, candidate: Path, name: str) -> bool:
    """True where both folders hold ``name``; a file that only one holds is a mismatch (a
    results file went missing, or the reference has none to compare with)."""
    has = [(d / name).is_file() for d in (reference, candidate)]
    if any(has):
        v.exact(f"{name} (present)", "present" if has[0] else "missing",
                "present" if has[1] else "missing")
    return all(has)


def compare_trees(reference_root: Path, candidate_root: Path, names: list[str] | None = None
                  ) -> list[Verdict]:
    """``compare`` for every experiment in ``candidate_root`` (or ``names``)."""
    if names is None:
        names = sorted(d.name for d in Path(candidate_root).iterdir()
                       if (d / "metrics.json").is_file())
    if not names:
        raise UserError(f"no results to compare in {candidate_root}")
    return [compare(Path(reference_root) / n, Path(candidate_root) / n) for n in names]
