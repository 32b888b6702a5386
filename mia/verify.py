"""Did a rerun reproduce the results? A verdict per experiment, within stated tolerances.

``compare(reference, candidate)`` reads two results folders of one experiment and checks
every number of ``metrics.json`` and every array of ``scores.npz``; ``invoke experiments``
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
- Labels (``threshold_method``, integer arrays, names): exactly.

The verdict holds for the *same weights* (the reuse path). When the candidate's weights differ
from the reference's (``--retrain`` on another machine), the comparison is between two
trainings, not a reproduction test: the honest yardstick is the spread between training
seeds, which the study does not measure yet. The verdict says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import UserError
from .io import read_json

SCORE_ATOL, SCORE_RTOL = 2e-4, 1e-4
AUC_TOL = 1e-4
STEP_SAMPLES = 2
STEP_METRICS = {"accuracy", "precision", "recall", "f1", "advantage", "best_accuracy",
                "tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr", "train_accuracy", "test_accuracy"}
FLOAT_METRICS = {"threshold", "best_threshold", "train_loss", "test_loss"}


@dataclass
class Verdict:
    experiment: str
    checked: int = 0
    mismatches: list[dict] = field(default_factory=list)
    worst: dict | None = None  # the check with the largest |difference| / tolerance
    same_weights: bool | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        return not self.mismatches

    def record(self, name: str, ref, cand, tol: float, unit: str = "") -> None:
        self.checked += 1
        diff = abs(float(cand) - float(ref))
        ratio = diff / tol if tol > 0 else (0.0 if diff == 0 else float("inf"))
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
                                    "difference": None, "tolerance": 0, "ratio": float("inf"),
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
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])

    def to_dict(self) -> dict:
        return {"verdict": "reproduced" if self.reproduced else "not reproduced",
                "same_weights": self.same_weights, "numbers_checked": self.checked,
                "mismatches": len(self.mismatches),
                "largest": None if self.worst is None else _describe(self.worst),
                "notes": self.notes}


def _describe(m: dict) -> str:
    if m["difference"] is None:
        return f"{m['name']}: {m['reference']!r} vs {m['candidate']!r}"
    unit = f" {m['unit']}" if m["unit"] else ""
    return (f"{m['name']}: {m['reference']:.6g} vs {m['candidate']:.6g} "
            f"(|diff| {m['difference']:.3g}, tolerance {m['tolerance']:.3g}{unit})")


def _float_tol(x: float) -> float:
    return SCORE_ATOL + SCORE_RTOL * abs(x)


def _check_metric(v: Verdict, name: str, key: str, ref, cand, n: int, std: bool = False) -> None:
    """One metric value; ``n`` = the sample count its steps are measured in."""
    scale = 2 if std else 1
    if key == "auc":
        v.record(name, ref, cand, scale * AUC_TOL)
    elif key in STEP_METRICS:
        v.record(name, ref, cand, scale * STEP_SAMPLES / n, f"= {STEP_SAMPLES} samples of {n:,}")
    elif key in FLOAT_METRICS:
        v.record(name, ref, cand, scale * _float_tol(ref))
    else:
        v.exact(name, ref, cand)


def _check_metrics(v: Verdict, ref: dict, cand: dict) -> None:
    rt, ct = ref["target"], cand["target"]
    for key, n in (("train_accuracy", rt["n_train"]), ("test_accuracy", rt["n_test"]),
                   ("train_loss", 1), ("test_loss", 1)):
        _check_metric(v, f"target.{key}", key, rt[key], ct[key], n)
    n_all = min(rt["n_train"], rt["n_test"])
    _same_keys(v, "all_samples", ref["all_samples"], cand["all_samples"])
    for s in set(ref["all_samples"]) & set(cand["all_samples"]):
        for key, value in ref["all_samples"][s].items():
            _check_metric(v, f"all_samples.{s}.{key}", key, value, cand["all_samples"][s][key], n_all)
    rr, cr = ref["attack"]["results"], cand["attack"]["results"]
    _same_keys(v, "attack.results", rr, cr)
    for s in set(rr) & set(cr):
        _same_keys(v, f"attack.results.{s}", rr[s], cr[s])
        for p in set(rr[s]) & set(cr[s]):
            a, b = rr[s][p], cr[s][p]
            where, n = f"{s}.p{p}", a["n_eval_per_class"]
            for key in ("n_attacker_members", "n_attacker_nonmembers", "n_eval_per_class"):
                v.exact(f"{where}.{key}", a[key], b[key])
            for key, stats in a["summary"].items():
                _check_metric(v, f"{where}.mean.{key}", key, stats["mean"], b["summary"][key]["mean"], n)
                _check_metric(v, f"{where}.std.{key}", key, stats["std"], b["summary"][key]["std"], n,
                              std=True)
            for i, (x, y) in enumerate(zip(np.ravel(a["confusion_matrix"]["mean_counts"]),
                                           np.ravel(b["confusion_matrix"]["mean_counts"]))):
                v.record(f"{where}.confusion_mean_counts[{i}]", x, y, STEP_SAMPLES, "samples")
            v.exact(f"{where}.repeats", len(a["repeats"]), len(b["repeats"]))
            for ra, rb in zip(a["repeats"], b["repeats"]):
                here = f"{where}.repeat{ra['repeat']}"
                for key, value in ra.items():
                    if key == "confusion_matrix":
                        for i, (x, y) in enumerate(zip(np.ravel(value), np.ravel(rb[key]))):
                            v.record(f"{here}.confusion_matrix[{i}]", x, y, STEP_SAMPLES, "samples")
                    elif key != "repeat":
                        _check_metric(v, f"{here}.{key}", key, value, rb.get(key), n)


def _same_keys(v: Verdict, name: str, a: dict, b: dict) -> None:
    v.exact(f"{name} (keys)", sorted(a), sorted(b))


def _check_scores(v: Verdict, ref: Path, cand: Path) -> None:
    with np.load(ref, allow_pickle=False) as a, np.load(cand, allow_pickle=False) as b:
        _same_keys(v, "scores.npz", dict.fromkeys(a.files), dict.fromkeys(b.files))
        for k in set(a.files) & set(b.files):
            x, y = a[k], b[k]
            if x.shape != y.shape or x.dtype.kind in "biu":
                v.exact(f"scores.{k}", x.tobytes() if x.shape == y.shape else x.shape,
                        y.tobytes() if x.shape == y.shape else y.shape)
                continue
            excess = np.abs(y - x) - (SCORE_ATOL + SCORE_RTOL * np.abs(x))
            i = int(np.argmax(excess))
            v.record(f"scores.{k}[{i}]", x[i], y[i], SCORE_ATOL + SCORE_RTOL * abs(x[i]))


def _same_weights(ref: Path, cand: Path) -> tuple[bool, float]:
    import torch

    a, b = (torch.load(p, map_location="cpu", weights_only=True) for p in (ref, cand))
    if a.keys() != b.keys():
        return False, float("inf")
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
    v = Verdict(cand_m.get("experiment", candidate.name))
    if (reference / "model.pt").is_file() and (candidate / "model.pt").is_file():
        v.same_weights, diff = _same_weights(reference / "model.pt", candidate / "model.pt")
        if not v.same_weights:
            v.notes.append(f"largest weight difference {diff:.3g}; no seed study exists yet to "
                           f"say how far apart two trainings may be")
    try:
        ref_env, cand_env = (read_json(d / "manifest.json").get("packages", {})
                             for d in (reference, candidate))
        changed = sorted(k for k in set(ref_env) | set(cand_env) if ref_env.get(k) != cand_env.get(k))
        if changed:
            v.notes.append("package versions differ: " + ", ".join(
                f"{k} {ref_env.get(k)} -> {cand_env.get(k)}" for k in changed))
    except (OSError, ValueError):
        v.notes.append("no readable manifest to compare package versions")
    try:
        _check_metrics(v, ref_m, cand_m)
    except (KeyError, TypeError) as e:
        v.exact("metrics.json structure", "reference layout", f"differs at {e}")
    if (reference / "scores.npz").is_file() and (candidate / "scores.npz").is_file():
        _check_scores(v, reference / "scores.npz", candidate / "scores.npz")
    return v


def compare_trees(reference_root: Path, candidate_root: Path, names: list[str] | None = None
                  ) -> list[Verdict]:
    """``compare`` for every experiment in ``candidate_root`` (or ``names``)."""
    if names is None:
        names = sorted(d.name for d in Path(candidate_root).iterdir()
                       if (d / "metrics.json").is_file())
    if not names:
        raise UserError(f"no results to compare in {candidate_root}")
    return [compare(Path(reference_root) / n, Path(candidate_root) / n) for n in names]
