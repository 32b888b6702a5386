"""The verdict's check of audit.json (``verify.compare``): a rerun of the one-run audit
(``mia.privacy_audit``) reproduces when its settings are the same, each guess's correct count
is within ``step`` samples, and each bound within the bounds those counts allow. ``v`` is the
verdict being filled (``verify.Verdict``: ``exact``, ``record``, ``checked``, ``mismatches``)."""
from __future__ import annotations

import math

from . import privacy_audit


# audit.json's settings and counts of the design: compared exactly
AUDIT_EXACT = ("m", "included", "delta", "confidence", "attack", "references", "population_z")


def check_audit(v, ref: dict, cand: dict, step: int) -> None:
    """The one-run audit (``privacy_audit``): its settings exactly; each guess's correct count
    within step (scores within tolerance can swap canaries at the cut); each bound,
    and the reported one, within the bounds that step more or fewer correct guesses
    would give (a bound is a function of the count, ``privacy_audit.epsilon_lower_bound``)."""
    for key in AUDIT_EXACT:
        v.exact(f"audit.{key}", ref.get(key), cand.get(key))
    v.exact("audit.guesses (length)", len(ref["guesses"]), len(cand["guesses"]))
    level = 1 - (1 - ref["confidence"]) / max(1, len(ref["guesses"]))
    lows, highs = [], []
    for a, b in zip(ref["guesses"], cand["guesses"]):
        k = a["k_plus"]
        v.exact(f"audit.k{k}.k", (a["k_plus"], a["k_minus"]), (b["k_plus"], b["k_minus"]))
        v.record(f"audit.k{k}.correct", a["correct"], b["correct"], step, "samples")
        r = a["k_plus"] + a["k_minus"]
        low, high = (privacy_audit.epsilon_lower_bound(ref["m"], r, min(r, max(0, a["correct"] + d)),
                                                       ref["delta"], level)
                     for d in (-step, step))
        lows.append(low)
        highs.append(high)
        _within(v, step, f"audit.k{k}.epsilon_lower_bound", a["epsilon_lower_bound"],
                b["epsilon_lower_bound"], low, high)
    _within(v, step, "audit.epsilon_lower_bound", ref["epsilon_lower_bound"],
            cand["epsilon_lower_bound"], max(lows, default=0.0), max(highs, default=0.0))


def _within(v, step: int, name: str, ref: float, cand: float, low: float, high: float) -> None:
    """``cand`` in [low, high] (an interval around ``ref``, not symmetric): a mismatch outside."""
    v.checked += 1
    if not low - 1e-12 <= cand <= high + 1e-12:
        diff = abs(cand - ref)
        v.mismatches.append({"name": name, "reference": ref, "candidate": cand,
                             "difference": diff, "tolerance": max(ref - low, high - ref),
                             "ratio": math.inf,
                             "unit": f"(outside [{low:.4g}, {high:.4g}], the bounds at "
                                     f"+-{step} correct guesses)"})
