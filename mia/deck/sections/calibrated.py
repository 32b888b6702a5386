"""Calibrated attacks on the undefended target: the reference models, every attack at low
false-positive rates (with the defended target's column in the comparison table), the papers'
leave-one-out protocol, and attack power against the number of references. Empty when the
undefended target has no calibrated results (no bank)."""
from __future__ import annotations

from ...evaluation.paired import ALPHA
from ..results import CALIBRATED_TABLE, PRETTY_ROWS, Deck, pct_ci

ROLES = ("undefended",)
USES: tuple[str, ...] = ()  # no other section's facts
TABLE_ROLES = ("undefended", "defended")  # the comparison table's columns, where present
# The operating point: 0.1% FPR where the evaluation set resolves it, else 1%.
LOW_FPR, FALLBACK_FPR = "tpr_at_0.1pct_fpr", "tpr_at_1pct_fpr"
# "N× as many" members as the loss threshold, said only from this ratio up.
TIMES_FROM = 2
POWER_ROW = "lira_online/auto"
FIXED_A = ("0", "0.3", "1")  # RMIA offline's fixed a on the power curve
FLIP_ROWS = ("lira_online/global", "rmia_online")  # measured with and without the mirror image


def operating_point(rows: dict) -> tuple[str, str]:
    """(metric key, FPR as text) of the study protocol's rows."""
    key = LOW_FPR if rows["loss"].get(LOW_FPR) is not None else FALLBACK_FPR
    return key, "0.1%" if key == LOW_FPR else "1%"


def top_row(protocol: dict, key: str) -> str:
    """The strongest row by paired differences, or the highest where several tie."""
    st = protocol["strongest"][key]
    return st["strongest"] or st["top"]


def pp(d: float) -> str:
    return f"{100 * d:+.2f} pp"


def paired_text(c: dict, metric: str) -> str:
    """'+0.41 pp [0.20, 0.65]' (rates) or '+0.031 [0.02, 0.04]' (AUC): a paired difference."""
    lo, hi = c["ci95"]
    if metric == "auc":
        return f"{c['difference']:+.3f} [{lo:+.3f}, {hi:+.3f}]"
    return f"{pp(c['difference'])} [{100 * lo:+.2f}, {100 * hi:+.2f}]"


def strongest_sentence(protocol: dict, key: str, fpr_text: str) -> str:
    st = protocol["strongest"][key]
    top = PRETTY_ROWS.get(st["top"], st["top"])
    if st["strongest"]:
        return (f"{top} is the strongest attack at {fpr_text} FPR: its paired difference with each "
                f"of the {len(st['comparisons'])} others excludes 0 (bootstrap, Holm-adjusted).")
    if st.get("unresolved"):
        return f"{top} is highest at {fpr_text} FPR; {st['unresolved']}."
    return (f"{top} is highest at {fpr_text} FPR, but a paired bootstrap with Holm's adjustment "
            f"cannot tell it from {len(st['tied_with_top'])} of the "
            f"{len(st['comparisons'])} others.")


def flip_sentence(rows: dict, key: str, fpr_text: str) -> str:
    """Test-time augmentation, measured both ways, as paired differences (flip minus plain)."""
    parts = []
    for plain in FLIP_ROWS:
        c = rows.get(plain + "/flip", {}).get("vs_plain", {})
        if key in c and "auc" in c:
            parts.append(f"{PRETTY_ROWS[plain]}: TPR {paired_text(c[key], key)}, AUC "
                         f"{paired_text(c['auc'], 'auc')}")
    if not parts:
        return ""
    return ("Adding the mirror image (test-time augmentation), paired difference with the plain "
            f"image at {fpr_text} FPR [95% CI]: " + "; ".join(parts)
            + ". The models never trained on mirrored images.")


def judgements(base: dict) -> dict:
    """Sentences about the attacks with reference models, from the undefended target's
    calibrated.json. Every "A beats B" is a paired difference on the same samples."""
    study = base["protocols"]["study"]
    rows = study["rows"]
    key, fpr_text = operating_point(rows)
    st = study["strongest"][key]
    top = st["strongest"] or st["top"]
    loss = rows["loss"]
    best = rows[top]
    out = {"top": top, "top_name": PRETTY_ROWS.get(top, top), "key": key, "fpr": fpr_text}
    out["strongest"] = strongest_sentence(study, key, fpr_text)
    vs = st["comparisons"].get("loss")
    out["beats_loss"] = vs is not None and vs["p_holm"] < ALPHA and vs["difference"] > 0
    ratio = best[key] / loss[key] if loss[key] else float("inf")
    # a ratio only where the loss's interval stays above zero (else it is unbounded)
    times = (f", {ratio:.0f}× as many" if loss["ci95"][key][0] > 0 and ratio >= TIMES_FROM else "")
    apart = (f"paired difference {paired_text(vs, key)}, Holm-adjusted p = {vs['p_holm']:.2g}"
             + ("" if out["beats_loss"] else ", not told apart")) if vs else "not compared"
    out["vs_loss"] = (f"At {fpr_text} false positives it finds {pct_ci(best, key)} of members, "
                      f"against the loss threshold's {pct_ci(loss, key)}{times}: {apart} "
                      f"({study['n_members']:,} members, {study['n_nonmembers']:,} non-members).")
    n_tied = len(st["tied_with_top"])
    out["conclusion"] = (f"with reference models, {out['top_name']} finds {pct_ci(best, key)} of members "
                         f"at {fpr_text} FPR" + (f" ({n_tied} others tie)" if n_tied else "")
                         + f"; the loss threshold {pct_ci(loss, key)}, on the same "
                         f"{study['n_members']:,} members and {study['n_nonmembers']:,} non-members.")
    out["loss_low_fpr"] = (
        f"at 1% false positives the loss threshold finds {pct_ci(loss, 'tpr_at_1pct_fpr')} of "
        f"members, and {pct_ci(loss, key)} at {fpr_text} ({study['n_members']:,} members, "
        f"{study['n_nonmembers']:,} non-members): about what a random guess finds."
        if loss["ci95"]["tpr_at_1pct_fpr"][0] <= 0.01 <= loss["ci95"]["tpr_at_1pct_fpr"][1] else
        f"at 1% false positives the loss threshold finds {pct_ci(loss, 'tpr_at_1pct_fpr')} of "
        f"members ({study['n_members']:,} members, {study['n_nonmembers']:,} non-members); a "
        f"random guess finds 1%.")
    out["flip"] = flip_sentence(rows, key, fpr_text)
    out["low_fpr_more"] = (f"{out['top_name']}, calibrated with reference models, finds more "
                           f"members there, beyond chance in a paired comparison (see \"Calibrated "
                           f"attacks\")" if out["beats_loss"] else
                           "the calibrated attacks do not find more members there in a paired "
                           "comparison")
    loo = base["protocols"]["leave_one_out"]
    l_top = top_row(loo, key)
    out["loo_strongest"] = strongest_sentence(loo, key, fpr_text)
    out["loo"] = (f"{loo['targets']} targets, {loo['n_members']:,} members and "
                  f"{loo['n_nonmembers']:,} non-members pooled ({loo['n_images']:,} images): "
                  f"{PRETTY_ROWS.get(l_top, l_top)} finds {pct_ci(loo['rows'][l_top], key)} at "
                  f"{fpr_text} FPR, the loss threshold {pct_ci(loo['rows']['loss'], key)}.")
    leak = loo.get("leak_check", {}).get("rows", {})
    if leak:
        kept, dropped = leak["in_count/round_kept"], leak["in_count/round_dropped"]
        out["leak"] = (f"Kept in, the IN count alone would reach AUC {kept['auc']:.2f} (here "
                       f"{dropped['auc']:.2f}), and RMIA online "
                       f"{pct_ci(leak['rmia_online/round_kept'], key)} instead of "
                       f"{pct_ci(leak['rmia_online/round_dropped'], key)}.")
    out.update(power(study))
    return out


def _mean_ci(v: dict) -> str:
    lo, hi = v["ci95"]
    return f"{100 * v['mean']:.2f}% [{100 * lo:.2f}, {100 * hi:.2f}]"


def power(study: dict) -> dict:
    """Sentences about attack power against the number of references: LiRA online from the
    smallest to the largest subset, and RMIA offline with a tuned or fixed. A step "rises"
    only where the two 95% intervals do not overlap (a conservative test: the subsets are
    nested in one bank, so the two means are not independent)."""
    power = study["power_vs_references"]
    sizes = sorted(int(k) for k in power)
    out = {"power": "", "power_a": ""}
    pts = [(k, power[str(k)][POWER_ROW][LOW_FPR]) for k in sizes if POWER_ROW in power[str(k)]]
    pts = [(k, v) for k, v in pts if v.get("mean") is not None]
    if len(pts) > 1:
        (k0, first), (k1, prev), (k2, last) = pts[0], pts[-2], pts[-1]
        grows = last["ci95"][0] > prev["ci95"][1]
        out["power"] = (f"LiRA online finds {_mean_ci(first)} at 0.1% FPR with {k0} references "
                        f"and {_mean_ci(last)} with {k2}"
                        + (f": still rising from {k1} to {k2} beyond the intervals, so more "
                           f"references may find more." if grows else
                           f"; from {k1} ({_mean_ci(prev)}) to {k2} the intervals overlap, so "
                           f"this bank cannot tell whether more references find more."))
    tuned = [(k, power[str(k)]["rmia_offline"]) for k in sizes if "rmia_offline" in power[str(k)]]
    if tuned and any(c.get("a") for _, c in tuned):
        a_text = "; ".join(f"{k} → {' or '.join(f'{x:g}' for x in sorted(set(c['a'])))}"
                           for k, c in tuned if c.get("a"))
        fixed = [f"a = {a}: " + ", ".join(
                     f"{100 * power[str(k)][f'rmia_offline/{a}'][LOW_FPR]['mean']:.2f}%"
                     for k in sizes if f"rmia_offline/{a}" in power[str(k)])
                 for a in FIXED_A if any(f"rmia_offline/{a}" in power[str(k)] for k in sizes)]
        out["power_a"] = (f"RMIA offline's a, tuned for AUC on each subset's references, by "
                          f"number of references: {a_text}. Tuned: "
                          + ", ".join(f"{100 * c[LOW_FPR]['mean']:.2f}%" for _, c in tuned)
                          + (f"; fixed {'; '.join(fixed)}" if fixed else "")
                          + f" (TPR at 0.1% FPR at {', '.join(map(str, sizes))} references).")
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
