"""Does the references' training-set size matter? The undefended target attacked by the offline
attacks with one OUT reference per image: from its own bank (references that keep 30,000 of
the 60,000 images) and from the ``large_references`` experiment's bank (50,000). Empty without
both experiments' calibrated results."""
from __future__ import annotations

from ..results import PRETTY_ROWS, Deck

ROLES = ("undefended",)
USES: tuple[str, ...] = ()  # no other section's facts
SMALL, LARGE = "undefended", "large_references"  # the roles whose banks are compared
KEY = "tpr_at_0.1pct_fpr"
# Offline attacks use only OUT references: with one pair of the small bank and the one round
# of the large bank, every image has exactly one OUT reference in both (power-curve row of the
# small bank, study row of the large one).
ROWS = {"lira_offline": ("lira_offline/auto", "lira_offline/global"),
        "rmia_offline": ("rmia_offline", "rmia_offline")}
# A difference is "beyond the spread" outside the small bank's mean ± SPREAD_STDS std (and with
# that mean outside the large bank's 95% interval).
SPREAD_STDS = 2
# The large bank must be folds (one OUT model per image), not pairs.
MIN_LARGE_FOLDS = 3


def judge(small_cell: dict, large_row: dict, metric: str) -> tuple[bool, str]:
    m, sd = small_cell[metric]["mean"], small_cell[metric]["std"] or 0.0
    v = large_row[metric]
    lo, hi = large_row["ci95"][metric]
    beyond = abs(v - m) > SPREAD_STDS * sd and not lo <= m <= hi
    return beyond, (("higher" if v > m else "lower") + " beyond the spread" if beyond
                    else "within the spread")


def comparison(r: dict) -> dict:
    """The reference-size comparison at 0.1% FPR, or {} without both roles' calibrated results.

    Small: the offline attacks with one pair of the 30,000-image bank (mean ± std over random
    pairs). Large: the same attacks with the 50,000-image round. A difference is "beyond the
    spread" when the large bank's value lies outside the small one's mean ± 2 std and the
    small mean outside the large one's 95% bootstrap interval."""
    small, large = (r.get(role, {}).get("calibrated") for role in (SMALL, LARGE))
    if small is None or large is None:
        return {}
    power = small["protocols"]["study"]["power_vs_references"]
    one = power.get(str(min(int(k) for k in power))) if power else None
    ls = large["protocols"]["study"]
    if ls["folds"] < MIN_LARGE_FOLDS:
        return {}
    if one is None:
        return {"not_made": ["the references' training-set size: the undefended bank has one "
                             "round, so no pair of it to set against the large bank's round"]}
    rows, absent, unresolved = [], [], []
    for small_key, large_key in ROWS.values():
        a, b = one.get(small_key), ls["rows"].get(large_key)
        if a is None or b is None:  # a legal [calibrated] attacks leaves it out
            absent.append(PRETTY_ROWS.get(large_key, large_key))
            continue
        if a[KEY]["mean"] is None or b.get(KEY) is None:
            unresolved.append(PRETTY_ROWS.get(large_key, large_key))
            continue
        lo, hi = b["ci95"][KEY]
        m, sd = a[KEY]["mean"], a[KEY]["std"] or 0.0
        beyond, verdict = judge(a, b, KEY)
        auc_beyond, auc_verdict = judge(a, b, "auc") if "auc" in b.get("ci95", {}) else (False, "")
        a_lo, a_hi = b.get("ci95", {}).get("auc", (None, None))
        rows.append({
            "name": PRETTY_ROWS.get(large_key, large_key),
            "small": f"{100 * m:.2f}% ± {100 * sd:.2f} pp",
            "small_auc": f"{a['auc']['mean']:.3f} ± {a['auc']['std']:.3f}",
            "large": f"{100 * b[KEY]:.2f}% [{100 * lo:.2f}, {100 * hi:.2f}]",
            "large_auc": f"{b['auc']:.3f}" + (f" [{a_lo:.3f}, {a_hi:.3f}]" if a_lo is not None else ""),
            "beyond": beyond, "auc_beyond": auc_beyond, "auc_gain": b["auc"] - a["auc"]["mean"],
            "verdict": f"TPR at 0.1% FPR {verdict}" + (f", AUC {auc_verdict}" if auc_verdict else "")})
    if rows:
        if any(x["beyond"] for x in rows):
            tpr = "At 0.1% FPR: the 50,000-image references differ beyond the spread"
        else:
            tpr = "At 0.1% FPR: no difference detectable (within the spread)"
        gains = [x["auc_gain"] for x in rows]
        if all(x["auc_beyond"] for x in rows):
            auc = (f". AUC: {min(gains):+.3f} to {max(gains):+.3f} with the 50,000-image "
                   f"references, beyond the spread.")
        else:
            auc = ". AUC: within the spread for at least one attack."
        message = tpr + auc
    else:
        return {"not_made": ["the references' training-set size: "
                             + (f"{', '.join(unresolved)}: the evaluation set is too small to "
                                f"resolve a TPR at 0.1% FPR" if unresolved else
                                "neither offline attack (LiRA, RMIA) was measured on both banks")]}
    lb, sb = r[LARGE], small["protocols"]["study"]
    return {"rows": rows, "message": message,
            "tpr_short": (("50,000-image references changed TPR at 0.1% FPR beyond the spread"
                           if any(x["beyond"] for x in rows) else
                           "50,000-image references: no change detectable at 0.1% FPR (a "
                           "low-power test)")
                          + (f", AUC {min(gains):+.3f} to {max(gains):+.3f}"
                             if all(x["auc_beyond"] for x in rows) else "")),
            "pairs": one[next(k for k, _ in ROWS.values() if k in one)]["subsets"],
            **({"not_made": [f"the references' training-set size for {', '.join(absent)}: the "
                             f"[calibrated] attacks leave it out"]} if absent else {}),
            "large_models": ls["references"], "large_folds": ls["folds"],
            "keeps": lb["manifest"]["wall_seconds"]["bank"].get("keeps"),
            "minutes": round((lb["manifest"]["wall_seconds"]["bank"].get("seconds") or 0) / 60),
            "n_members": sb["n_members"],
            "any_beyond": any(x["beyond"] for x in rows),
            "a": ls["rows"]["rmia_offline"].get("a") if "rmia_offline" in ls["rows"] else None}


def facts(deck: Deck) -> dict:
    return comparison(deck.r)
