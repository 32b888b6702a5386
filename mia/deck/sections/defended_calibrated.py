"""The defended target against the calibrated attacks, matched with the undefended target:
the same attacks with as many references, on both protocols. Study protocol: the defended
target with its whole bank against the undefended target's power curve at that size (mean
over distinct subsets of its bank). Leave-one-out: each defended bank model with the other
rounds against the undefended bank subsampled to as many references per target
(``[calibrated] leave_one_out_references``). Empty unless both targets have calibrated
results."""
from __future__ import annotations

from ..results import PRETTY_ROWS, Deck
from .calibrated import operating_point

ROLES = ("undefended", "defended")
USES: tuple[str, ...] = ()  # no other section's facts
PART = "The defence: L2 weight decay, its privacy and its utility"
# Chance at an FPR: a random guess finds that share of members.
CHANCE = {"tpr_at_0.1pct_fpr": 0.001, "tpr_at_1pct_fpr": 0.01}
# The attacks compared (defended row -> undefended power-curve row at the same references);
# LiRA's "auto" resolves to the global variance below 32 models per side (checked).
MATCHED = {"lira_offline/global": "lira_offline/auto", "lira_online/global": "lira_online/auto",
           "rmia_offline": "rmia_offline", "rmia_online": "rmia_online"}


def _ci(v: float, ci: list[float]) -> str:
    return f"{100 * v:.2f}% [{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]"


def _verdict(d: tuple[float, list], u: tuple[float, list]) -> str:
    """'lower' / 'higher' where the two 95% intervals do not overlap (a conservative test of
    two estimates from different models), else 'overlap'."""
    if d[1][1] < u[1][0]:
        return "lower"
    if d[1][0] > u[1][1]:
        return "higher"
    return "overlap"


def matched_rows(base: dict, dfd: dict, key: str) -> tuple[list[dict], dict]:
    """One row per MATCHED attack: the defended and the undefended value with as many
    references, on each protocol; and the counts of references used."""
    d_study, b_study = dfd["protocols"]["study"], base["protocols"]["study"]
    refs = d_study["references"]
    power = b_study["power_vs_references"].get(str(refs), {})
    d_loo = dfd["protocols"].get("leave_one_out")
    loo_refs = d_loo["references_per_target"] if d_loo else None
    b_loo = base["protocols"].get("leave_one_out", {})
    same = (b_loo.get("rows") if b_loo.get("references_per_target") == loo_refs
            else b_loo.get("matched", {}).get(str(loo_refs), {}).get("rows"))
    rows = []
    for d_key, p_key in MATCHED.items():
        d_row = d_study["rows"].get(d_key, {})
        if refs == b_study["references"]:
            u = b_study["rows"].get(d_key, {})
            u_study = (u.get(key), (u.get("ci95") or {}).get(key))
        else:
            cell = power.get(p_key, {})
            if "variance" in cell and cell["variance"] != ["global"]:
                continue  # auto resolved to another variance: not the same attack
            u_study = (cell.get(key, {}).get("mean"), cell.get(key, {}).get("ci95"))
        if d_row.get(key) is None or u_study[0] is None:
            continue
        row = {"key": d_key, "name": PRETTY_ROWS.get(d_key, d_key),
               "study": {"defended": (d_row[key], d_row["ci95"][key]), "undefended": u_study}}
        if d_loo and same and d_key in same and same[d_key].get(key) is not None:
            dl, ul = d_loo["rows"][d_key], same[d_key]
            row["loo"] = {"defended": (dl[key], dl["ci95"][key]), "undefended": (ul[key], ul["ci95"][key])}
        rows.append(row)
    return rows, {"study": refs, "loo": loo_refs}


def judgements(base: dict, dfd: dict) -> dict:
    """Sentences and the table of the defended slide (``dfd``: its calibrated.json; ``base``:
    the undefended target's)."""
    key, fpr_text = operating_point(base["protocols"]["study"]["rows"])
    chance = CHANCE[key]
    rows, refs = matched_rows(base, dfd, key)
    if not rows:
        return {"not_made": [f"the defended target against the undefended with as many "
                             f"references ({refs['study']}): no attack of {', '.join(MATCHED)} "
                             f"has both"]}
    table = []
    for r in rows:
        cells = {"name": r["name"], "loo": None}
        for proto in ("study", "loo"):
            if proto in r:
                d, u = r[proto]["defended"], r[proto]["undefended"]
                cells[proto] = {"defended": _ci(*d), "undefended": _ci(*u), "verdict": _verdict(d, u)}
        table.append(cells)
    out = {"matched_table": table, "references": refs, "fpr": fpr_text}
    counts = {}
    for proto in ("study", "loo"):
        have = [r for r in rows if proto in r]
        counts[proto] = {"n": len(have),
                         "lower": sum(_verdict(r[proto]["defended"], r[proto]["undefended"]) == "lower"
                                      for r in have),
                         "above_chance": sum(r[proto]["defended"][1][0] > chance for r in have)}
    s, lo = counts["study"], counts["loo"]
    out["defense"] = (f"Study's target, {refs['study']} references for each target: {s['lower']} of the "
                      f"{s['n']} attacks find fewer members with L2 beyond the intervals; "
                      f"{s['above_chance']} stay above chance ({fpr_text}) on the defended target.")
    if not lo["n"]:
        out["not_made"] = ["the L2-defended target on the leave-one-out protocol, matched with "
                           "the undefended: "
                           + (dfd.get("not_computed", {}).get("leave_one_out")
                              or "the undefended bank has no leave-one-out rows with as many "
                                 "references")]
    if lo["n"]:
        out["defense_loo"] = (f"Leave-one-out, {refs['loo']} references per target for both: "
                              f"{lo['lower']} of the {lo['n']} attacks find fewer members with L2 "
                              f"beyond the intervals; {lo['above_chance']} stay above chance.")
    reduced = lo["n"] and lo["lower"] == lo["n"]
    remains = lo["n"] and lo["above_chance"] > 0
    out["title"] = (
        ("L2 reduces the leak; above chance only in leave-one-out"
         if s["above_chance"] == 0 else "L2 reduces the leak without removing it")
        if reduced and remains else "L2 reduces the leak to chance" if reduced else
        "L2: not fewer members beyond the intervals" if lo["n"] else
        f"L2: {s['lower']} of {s['n']} attacks find fewer members")
    out["answer_line"] = (
        f"in leave-one-out ({refs['loo']} references per target) {lo['lower']} of {lo['n']} "
        f"attacks find fewer members, {lo['above_chance']} still above chance; on the single "
        f"target ({refs['study']} references) {s['n'] - s['above_chance']} of {s['n']} intervals "
        f"include chance" if lo["n"] else
        f"{s['lower']} of {s['n']} attacks find fewer members, {s['above_chance']} above chance")
    study_part = (f" On the study's single target ({refs['study']} references), the intervals "
                  f"of {s['n'] - s['above_chance']} of {s['n']} include chance." if lo["n"] else "")
    out["defense_short"] = (
        f"Against L2, with as many references: in leave-one-out ({refs['loo']} per target) "
        f"{lo['lower']} of {lo['n']} attacks find fewer members at {fpr_text} FPR beyond the "
        f"intervals and {lo['above_chance']} stay above chance: "
        + ("L2 reduces the leak without removing it." if reduced and remains else
           "L2 reduces what these attacks can measure to chance." if reduced else
           "the reduction is not beyond the intervals for every attack.") + study_part
        + " One training per setting: the spread between trainings is not measured.") if lo["n"] else (
        f"Against L2, with {refs['study']} references: {s['lower']} of {s['n']} attacks find fewer "
        f"members beyond the intervals.")
    return out


def facts(deck: Deck) -> dict:
    base, dfd = (deck.r[role].get("calibrated") if role in deck.r else None for role in ROLES)
    if base is None or dfd is None:
        if base is not None and "defended" in deck.r:  # (no bank on either: said once, above)
            return {"not_made": [f"the calibrated attacks on the L2-defended target: "
                                 f"{deck.r['defended']['experiment']} has no [bank]"]}
        return {}
    return judgements(base, dfd)
