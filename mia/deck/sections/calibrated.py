"""Calibrated attacks on the undefended target: the reference models, every attack at low
false-positive rates (with the defended target's column in the comparison table), the papers'
leave-one-out protocol, and attack power against the number of references. Empty when the
undefended target has no calibrated results (no bank)."""
from __future__ import annotations

from ...evaluation.calibrated import strongest as strongest_of
from ..results import CALIBRATED_TABLE, PRETTY_ROWS, Deck, pct_ci

ROLES = ("undefended",)
USES: tuple[str, ...] = ()  # no other section's facts
TABLE_ROLES = ("undefended", "defended")  # the comparison table's columns, where present
# The operating point: 0.1% FPR where the evaluation set resolves it, else 1%.
LOW_FPR, FALLBACK_FPR = "tpr_at_0.1pct_fpr", "tpr_at_1pct_fpr"
# "N× as many" members as the loss threshold, said only from this ratio up.
TIMES_FROM = 2
# A step of the power curve counts when the full bank's interval clears the previous size's
# mean + SPREAD_STDS standard deviations over subsets.
SPREAD_STDS = 2
POWER_ROW = "lira_online/auto"
FLIP_ROWS = ("lira_online/global", "rmia_online")  # measured with and without the mirror image


def operating_point(rows: dict) -> tuple[str, str]:
    """(metric key, FPR as text) of the study protocol's rows."""
    key = LOW_FPR if rows["loss"].get(LOW_FPR) is not None else FALLBACK_FPR
    return key, "0.1%" if key == LOW_FPR else "1%"


def top_row(rows: dict, key: str) -> str:
    """The strongest row, or the highest where several tie."""
    st = strongest_of(rows, key)
    return st["strongest"] or st["top"]


def moves(a: dict, b: dict, metric: str, fmt) -> str:
    """'drops from A to B' / 'rises ...' where the intervals do not overlap, else 'A vs B
    (intervals overlap)'."""
    if b["ci95"][metric][1] < a["ci95"][metric][0]:
        return f"drops from {fmt(a[metric])} to {fmt(b[metric])}"
    if b["ci95"][metric][0] > a["ci95"][metric][1]:
        return f"rises from {fmt(a[metric])} to {fmt(b[metric])}"
    return f"{fmt(a[metric])} vs {fmt(b[metric])} (intervals overlap)"


def judgements(base: dict) -> dict:
    """Sentences about the attacks with reference models, from the undefended target's
    calibrated.json."""
    study = base["protocols"]["study"]
    rows = study["rows"]
    key, fpr_text = operating_point(rows)
    st = strongest_of(rows, key)
    top = st["strongest"] or st["top"]
    loss = rows["loss"]
    best = rows[top]
    out = {"top": top, "top_name": PRETTY_ROWS.get(top, top), "key": key, "fpr": fpr_text}
    tied = [PRETTY_ROWS.get(t, t) for t in st["tied_with_top"]]
    ratio = best[key] / loss[key] if loss[key] else float("inf")
    strongest = (f"{out['top_name']} is the strongest attack at {fpr_text} FPR (its 95% interval "
                 f"lies above every other's)" if st["strongest"] else
                 f"{out['top_name']} is highest at {fpr_text} FPR; {len(tied)} other attacks tie with "
                 f"it within the 95% intervals")
    out["strongest"] = strongest + "."
    out["beats_loss"] = best["ci95"][key][0] > loss["ci95"][key][1]
    # a ratio only where the loss's interval stays above zero (else it is unbounded)
    times = (f", {ratio:.0f}× as many" if loss["ci95"][key][0] > 0 and ratio >= TIMES_FROM else "")
    apart = ("the intervals do not overlap" if out["beats_loss"] else "the intervals overlap")
    out["vs_loss"] = (f"At {fpr_text} false positives it finds {pct_ci(best, key)} of members, "
                      f"against the loss threshold's {pct_ci(loss, key)}{times}: {apart} "
                      f"({study['n_members']:,} members, {study['n_nonmembers']:,} non-members).")
    n_tied = len(st["tied_with_top"])
    out["conclusion"] = (f"with reference models, {out['top_name']} finds {pct_ci(best, key)} of members "
                         f"at {fpr_text} FPR" + (f" ({n_tied} others tie)" if n_tied else "")
                         + f"; the loss threshold {pct_ci(loss, key)}.")
    # Test-time augmentation, measured both ways: does adding the mirror image help?
    flips = []
    for plain in FLIP_ROWS:
        a, b = rows.get(plain, {}), rows.get(plain + "/flip", {})
        if a.get(key) is not None and b.get(key) is not None:
            flips.append(f"{PRETTY_ROWS[plain]}: TPR {moves(a, b, key, lambda v: f'{100 * v:.2f}%')}, "
                         f"AUC {moves(a, b, 'auc', lambda v: f'{v:.3f}')}")
    out["flip"] = ("With the mirror image averaged in (test-time augmentation), at " + fpr_text
                   + " FPR: " + "; ".join(flips) + ". The models never trained on mirrored images."
                   ) if flips else ""
    out["low_fpr_more"] = (f"{out['top_name']}, calibrated with reference models, finds more "
                           f"members there, beyond the intervals (see \"Calibrated attacks\")"
                           if out["beats_loss"] else
                           "the calibrated attacks do not find more members there beyond the "
                           "intervals")
    loo = base["protocols"]["leave_one_out"]
    l_top = top_row(loo["rows"], key)
    out["loo"] = (f"{loo['targets']} targets, {loo['n_members']:,} members and "
                  f"{loo['n_nonmembers']:,} non-members pooled: {PRETTY_ROWS.get(l_top, l_top)} finds "
                  f"{pct_ci(loo['rows'][l_top], key)} at {fpr_text} FPR, the loss threshold "
                  f"{pct_ci(loo['rows']['loss'], key)}.")
    leak = loo.get("leak_check", {}).get("rows", {})
    if leak:
        kept, dropped = leak["in_count/round_kept"], leak["in_count/round_dropped"]
        out["leak"] = (f"Kept in, the IN count alone would reach AUC {kept['auc']:.2f} (here "
                       f"{dropped['auc']:.2f}), and RMIA online "
                       f"{pct_ci(leak['rmia_online/round_kept'], key)} instead of "
                       f"{pct_ci(leak['rmia_online/round_dropped'], key)}.")
    out.update(power(study))
    return out


def power(study: dict) -> dict:
    """Sentences about attack power against the number of references."""
    power = study["power_vs_references"]
    rows = study["rows"]
    sizes = sorted(int(k) for k in power)
    pts = [(k, power[str(k)][POWER_ROW]["tpr_at_0.1pct_fpr"]["mean"]) for k in sizes]
    pts = [(k, v) for k, v in pts if v is not None]
    out = {"power": ""}
    a_by_size = {k: power[str(k)].get("rmia_offline", {}).get("a") for k in sizes}
    out["power_a"] = ("RMIA offline's a (tuned on each subset's references), by number of "
                      "references: " + "; ".join(
                          f"{k} → {' or '.join(f'{x:g}' for x in sorted(set(a)))}"
                          for k, a in a_by_size.items() if a) + ".") if any(a_by_size.values()) else ""
    if len(pts) > 1:
        # The full bank is one subset: its own bootstrap interval (the study row of the variance
        # that "auto" resolved to) must clear the previous size's mean + 2 std.
        prev = power[str(pts[-2][0])][POWER_ROW]["tpr_at_0.1pct_fpr"]
        variance = (power[str(pts[-1][0])][POWER_ROW].get("variance") or ["global"])[0]
        full = rows.get(f"lira_online/{variance}", {}).get("ci95", {}).get("tpr_at_0.1pct_fpr")
        grows = full is not None and full[0] > prev["mean"] + SPREAD_STDS * (prev["std"] or 0.0)
        out["power"] = (f"LiRA online finds {100 * pts[0][1]:.2f}% at 0.1% FPR with {pts[0][0]} "
                        f"references and {100 * pts[-1][1]:.2f}% with {pts[-1][0]}"
                        + (": still rising beyond the spread at the largest bank, so more references "
                           "may find more." if grows else
                           f"; from {pts[-2][0]} to {pts[-1][0]} the step is within the spread "
                           f"(subsets and the full bank's interval), so this bank cannot tell "
                           f"whether more references find more."))
    return out


def table(r: dict) -> list[dict]:
    """Cells of the slide's comparison table (study protocol, both targets), as text."""
    def pct(v):
        return "n/a" if v is None else f"{100 * v:.2f}%"

    def with_ci(v: dict, key: str) -> str:
        if v.get(key) is None:
            return "n/a"
        lo, hi = v["ci95"][key]
        return f"{100 * v[key]:.2f}% [{100 * lo:.2f}, {100 * hi:.2f}]"
    rows = []
    for key, name in CALIBRATED_TABLE.items():
        row = {"name": name}
        for role in TABLE_ROLES:
            c = r.get(role, {}).get("calibrated")
            v = c["protocols"]["study"]["rows"].get(key, {}) if c else {}
            row[role] = {"auc": "n/a" if v.get("auc") is None else f"{v['auc']:.3f}",
                         "tpr1": pct(v.get("tpr_at_1pct_fpr")),
                         "tpr01": with_ci(v, "tpr_at_0.1pct_fpr"),
                         "zero": "n/a" if v.get("members_at_zero_fp") is None else f"{v['members_at_zero_fp']:,}"}
        rows.append(row)
    return rows


def facts(deck: Deck) -> dict:
    base = deck.r["undefended"].get("calibrated")
    if base is None:
        return {}
    return {**judgements(base), "table": table(deck.r)}
