"""The defended target against the calibrated attacks: the highest-scoring attack on it, on
the study's target and in leave-one-out, against the undefended target with as many
references. Empty unless both targets have calibrated results."""
from __future__ import annotations

from ..results import POWER_NAMES, PRETTY_ROWS, Deck, pct_ci
from .calibrated import operating_point, top_row

ROLES = ("undefended", "defended")
USES: tuple[str, ...] = ()  # no other section's facts
# The undefended target "with the same references" is the power curve's mean ± std at the
# defended bank's size; a drop counts beyond SPREAD_STDS standard deviations.
SPREAD_STDS = 2
# Chance at an FPR: a random guess finds that share of members.
CHANCE = {"tpr_at_0.1pct_fpr": 0.001, "tpr_at_1pct_fpr": 0.01}


def judgements(base: dict, dfd: dict) -> dict:
    """Sentences about the defended target (``dfd``: its calibrated.json; ``base``: the
    undefended target's)."""
    study = base["protocols"]["study"]
    rows = study["rows"]
    key, fpr_text = operating_point(rows)
    best = rows[top_row(rows, key)]
    out = {}
    d_rows = dfd["protocols"]["study"]["rows"]
    d_best_key = max((k for k, v in d_rows.items() if v.get(key) is not None and "ci95" in v),
                     key=lambda k: d_rows[k][key])  # the highest point estimate
    d_best = d_rows[d_best_key]
    chance = CHANCE[key]
    chance_hi = d_best["ci95"][key][0] <= chance  # interval reaches down to chance
    out["defended_top_name"] = PRETTY_ROWS.get(d_best_key, d_best_key)
    # Undefended with as many references as the defended bank has: the highest mean of the
    # power curve at that size (the full-bank rows would compare 16 references with 8).
    d_refs = dfd["protocols"]["study"]["references"]
    same = study["power_vs_references"].get(str(d_refs), {})
    same = {k: v[key] for k, v in same.items() if v.get(key, {}).get("mean") is not None}
    if d_refs != study["references"] and same:
        s_key = max(same, key=lambda k: same[k]["mean"])
        s_mean, s_std = same[s_key]["mean"], same[s_key]["std"] or 0.0
        falls = d_best["ci95"][key][1] < s_mean - SPREAD_STDS * s_std
        versus = (f"against {100 * s_mean:.2f} ± {100 * s_std:.2f}% undefended with the same "
                  f"{d_refs} references ({POWER_NAMES.get(s_key, s_key)}, mean ± std over "
                  f"subsets): ")
        gap = "a drop beyond the spread" if falls else "the difference is within the spread"
    else:
        falls = d_best["ci95"][key][1] < best["ci95"][key][0]
        versus = f"against {pct_ci(best, key)} undefended: "
        gap = "a drop beyond the intervals" if falls else "the intervals overlap"
    out["defense"] = (
        f"Study's target: the highest-scoring attack ({out['defended_top_name']}) finds "
        f"{pct_ci(d_best, key)} at {fpr_text} FPR, {versus}{gap}"
        + (f"; its interval reaches chance ({fpr_text})." if chance_hi else
           f"; still above chance ({fpr_text})."))
    d_loo = dfd["protocols"]["leave_one_out"]
    d_top = top_row(d_loo["rows"], key)
    d_row = d_loo["rows"][d_top]
    undefended_loo = base["protocols"]["leave_one_out"]["rows"][d_top]
    out["defense_loo"] = (
        f"Leave-one-out ({d_loo['targets']} defended models): {PRETTY_ROWS.get(d_top, d_top)} finds "
        f"{pct_ci(d_row, key)}, against {pct_ci(undefended_loo, key)} undefended"
        + ("; still above chance." if d_row["ci95"][key][0] > chance else "; within reach of chance."))
    loo_above = d_row["ci95"][key][0] > chance
    out["defense_short"] = (
        f"Against L2, the calibrated attacks find {pct_ci(d_best, key)} at {fpr_text} FPR on the "
        f"study's target" + (" (its interval reaches chance)" if chance_hi else "")
        + f" and {pct_ci(d_row, key)} in leave-one-out, over many more samples: "
        + ("L2 reduces the leak without removing it." if loo_above and (falls or chance_hi) else
           "it removes what these attacks can measure." if not loo_above and chance_hi else
           "the reduction is within the intervals."))
    out["defended_chance"] = chance_hi
    return out


def facts(deck: Deck) -> dict:
    base, dfd = (deck.r[role].get("calibrated") for role in ROLES)
    if base is None or dfd is None:
        return {}
    return judgements(base, dfd)
