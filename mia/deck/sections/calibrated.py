"""Calibrated attacks on the undefended target: the reference models, every attack at low
false-positive rates (with the defended target's column in the comparison table), the papers'
leave-one-out protocol, and attack power against the number of references. Empty when the
undefended target has no calibrated results (no bank)."""
from __future__ import annotations

from ...attacks import parse_row
from ...evaluation.calibrated import SEGMENT_ONLY
from ...evaluation.paired import ALPHA
from ..results import CALIBRATED_TABLE, PRETTY_ROWS, Deck, pct_ci

ROLES = ("undefended",)
USES: tuple[str, ...] = ()  # no other section's facts
PART = "Evidence: every attack at low false-positive rates"
# The operating point: 0.1% FPR where the evaluation set resolves it, else 1%.
LOW_FPR, FALLBACK_FPR = "tpr_at_0.1pct_fpr", "tpr_at_1pct_fpr"
# "N× as many" members as the loss threshold, said only from this ratio up.
TIMES_FROM = 2
POWER_ROW = "lira_online/auto"
# The attack whose numbers the deck's sentences quote: LiRA online with the global variance,
# the LiRA paper's attack and this deck's power-curve attack. Quoting the highest of the rows
# instead would report a maximum over 14 without accounting for the choice.
HEADLINE_ROW = "lira_online/global"
FIXED_A = ("0", "0.3", "1")  # RMIA offline's fixed a on the power curve
FLIP_ROWS = ("lira_online/global", "rmia_online")  # measured with and without the mirror image


def operating_point(rows: dict) -> tuple[str, str]:
    """(metric key, FPR as text) of the study protocol's rows: 0.1% where the loss row (else
    any row: they share the evaluation set) resolves it."""
    judged = [rows["loss"]] if "loss" in rows else list(rows.values())
    key = LOW_FPR if any(v.get(LOW_FPR) is not None for v in judged) else FALLBACK_FPR
    return key, "0.1%" if key == LOW_FPR else "1%"


def has_loss(rows: dict) -> bool:
    """Whether the loss threshold is among the rows (a legal [calibrated] attacks leaves it
    out): the sentences that compare with it are then not made."""
    return "loss" in rows and "not_computed" not in rows["loss"]


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
    tuned = (" (with its parameter a tuned for AUC; backup)" if st["top"] == "rmia_offline"
             else "")
    return (f"{top}{tuned} is highest at {fpr_text} FPR, but paired comparisons (Holm) cannot "
            f"tell it from {len(st['tied_with_top'])} of the {len(st['comparisons'])} others.")


def flip_sentence(rows: dict, key: str, fpr_text: str) -> str:
    """Test-time augmentation, measured both ways, as paired differences (flip minus plain)."""
    parts = []
    for plain in FLIP_ROWS:
        c = rows.get(plain + "/flip", {}).get("vs_plain", {})
        if key in c and "auc" in c:
            parts.append(f"{PRETTY_ROWS[plain]} TPR {paired_text(c[key], key)}, AUC "
                         f"{paired_text(c['auc'], 'auc')}")
    if not parts:
        return ""
    return (f"Mirror image averaged in, minus the plain image (paired, {fpr_text} FPR): "
            + "; ".join(parts) + ".")


def judgements(base: dict) -> dict:
    """Sentences about the attacks with reference models, from the undefended target's
    calibrated.json. Every "A beats B" is a paired difference on the same samples; the value
    quoted is HEADLINE_ROW's, not the highest row's (which would carry its selection)."""
    study = base["protocols"]["study"]
    rows = study["rows"]
    key, fpr_text = operating_point(rows)
    st = study["strongest"][key]
    top = st["strongest"] or st["top"]
    head = HEADLINE_ROW if rows.get(HEADLINE_ROW, {}).get(key) is not None else top
    out = {"top": top, "top_name": PRETTY_ROWS.get(top, top), "key": key, "fpr": fpr_text,
           "head_name": PRETTY_ROWS.get(head, head), "not_made": []}
    out["strongest"] = strongest_sentence(study, key, fpr_text)
    out.update(loss_sentences(study, head, key, fpr_text) if has_loss(rows) else
               no_loss_sentences(study, head, key, fpr_text, out["not_made"]))
    out["flip"] = flip_sentence(rows, key, fpr_text)
    out.update(leave_one_out(base, head, top, key, fpr_text, out["not_made"]))
    out.update(power(study))
    if not out["has_power"]:
        out["not_made"].append("attack power against the number of references: the bank has one "
                               "round, so there is no smaller subset of whole rounds to compare")
    return out


def loss_sentences(study: dict, head: str, key: str, fpr_text: str) -> dict:
    """The sentences that set the headline row against the loss threshold (paired)."""
    rows, st = study["rows"], study["strongest"][key]
    loss, best = rows["loss"], rows[head]
    out = {}
    head_name = PRETTY_ROWS.get(head, head)
    # the rows with reference models (not the gap attack) that find more than the loss
    versus = {r: c for r, c in st.get("versus_baseline", {}).get("rows", {}).items()
              if parse_row(r)[3]}
    above = [r for r, c in versus.items() if c["above"]]
    out["beats_loss"] = bool(above)
    out["title"] = ("Calibrated attacks find members where the loss threshold cannot" if above
                    else "Calibrated attacks and the loss threshold at low false-positive rates")
    vs = versus.get(head)
    ratio = best[key] / loss[key] if loss[key] else float("inf")
    # a ratio only where the loss's interval stays above zero (else it is unbounded)
    times = (f", {ratio:.0f}× as many" if loss["ci95"][key][0] > 0 and ratio >= TIMES_FROM else "")
    apart = (f"paired difference {paired_text(vs, key)}, Holm-adjusted p = {vs['p_holm']:.2g}"
             if vs else "not compared")
    out["vs_loss"] = (f"{head_name} finds {pct_ci(best, key)} of members at {fpr_text} FPR, "
                      f"the loss threshold {pct_ci(loss, key)}{times}: {apart}. "
                      f"{len(above)} of the {len(versus)} rows with reference models (attack "
                      f"variants) find more members than the loss threshold (paired, Holm).")
    out["vs_loss_short"] = (f"{head_name} finds {pct_ci(best, key)} of members at {fpr_text} "
                            f"FPR, the loss threshold {pct_ci(loss, key)}"
                            + (f" (paired difference {paired_text(vs, key)})" if vs else "")
                            + f". {len(above)} of the {len(versus)} attack variants with "
                              f"reference models find more than the loss threshold.")
    out["conclusion"] = (f"with reference models, {head_name} finds {pct_ci(best, key)} of "
                         f"members at {fpr_text} FPR and the loss threshold {pct_ci(loss, key)}, on "
                         f"the same {study['n_members']:,} members and {study['n_nonmembers']:,} "
                         f"non-members; {len(above)} of the {len(versus)} attack variants with "
                         f"reference models find more than the loss threshold (paired, Holm).")
    low, high = loss["ci95"]["tpr_at_1pct_fpr"]
    out["loss_low_fpr"] = (
        f"at 1% false positives the loss threshold finds {pct_ci(loss, 'tpr_at_1pct_fpr')} of "
        f"members, and {pct_ci(loss, key)} at {fpr_text} ({study['n_members']:,} members, "
        f"{study['n_nonmembers']:,} non-members): about what a random guess finds."
        if low <= 0.01 <= high else
        f"at 1% false positives the loss threshold finds {pct_ci(loss, 'tpr_at_1pct_fpr')} of "
        f"members ({study['n_members']:,} members, {study['n_nonmembers']:,} non-members): no "
        f"more than the 1% of a random guess." if high < 0.01 else
        f"at 1% false positives the loss threshold finds {pct_ci(loss, 'tpr_at_1pct_fpr')} of "
        f"members ({study['n_members']:,} members, {study['n_nonmembers']:,} non-members); a "
        f"random guess finds 1%.")
    out["loss_below_chance"] = high < 0.01
    out["low_fpr_more"] = (f"{len(above)} of the {len(versus)} attack variants with reference "
                           f"models find more members there than the loss threshold (paired, "
                           f"Holm; see \"Calibrated attacks\")" if above else
                           "the calibrated attacks do not find more members there than the loss "
                           "threshold in a paired comparison")
    return out


def no_loss_sentences(study: dict, head: str, key: str, fpr_text: str, not_made: list) -> dict:
    """The same sentences where the rows leave out the loss threshold: what the headline row
    finds, and that it was not compared."""
    best, head_name = study["rows"][head], PRETTY_ROWS.get(head, head)
    said = "not compared with the loss threshold, which the [calibrated] attacks leave out"
    not_made.append("the calibrated attacks against the loss threshold (paired): the "
                    "undefended experiment's [calibrated] attacks leave out the loss row")
    return {"beats_loss": False,
            "title": "Calibrated attacks at low false-positive rates",
            "vs_loss": f"{head_name} finds {pct_ci(best, key)} of members at {fpr_text} FPR; {said}.",
            "vs_loss_short": f"{head_name} finds {pct_ci(best, key)} of members at {fpr_text} FPR; {said}.",
            "conclusion": (f"with reference models, {head_name} finds {pct_ci(best, key)} of "
                           f"members at {fpr_text} FPR, on {study['n_members']:,} members and "
                           f"{study['n_nonmembers']:,} non-members ({said})."),
            "loss_low_fpr": "", "low_fpr_more": said, "loss_below_chance": False}


def leave_one_out(base: dict, head: str, top: str, key: str, fpr_text: str, not_made: list) -> dict:
    """The sentences of the papers' protocol, or {"loo": ""} where the bank has none (one
    round: leaving out a target's round leaves no references)."""
    loo = base["protocols"].get("leave_one_out")
    if loo is None:
        reason = base.get("not_computed", {}).get("leave_one_out", "not in calibrated.json")
        not_made.append(f"the leave-one-out protocol: {reason}")
        return {"loo": ""}
    out = {}
    l_head = head if loo["rows"].get(head, {}).get(key) is not None else top_row(loo, key)
    out["loo_strongest"] = strongest_sentence(loo, key, fpr_text)
    loss = (f", the loss threshold {pct_ci(loo['rows']['loss'], key)}" if has_loss(loo["rows"])
            else "")
    out["loo"] = (f"{loo['targets']} targets, {loo['n_members']:,} members and "
                  f"{loo['n_nonmembers']:,} non-members pooled ({loo['n_images']:,} images): "
                  f"{PRETTY_ROWS.get(l_head, l_head)} finds {pct_ci(loo['rows'][l_head], key)} at "
                  f"{fpr_text} FPR{loss}.")
    leak = loo.get("leak_check", {}).get("rows", {})
    if leak:
        kept, dropped = leak["in_count/round_kept"], leak["in_count/round_dropped"]
        out["leak"] = (f"Kept in, the IN count alone would reach AUC {kept['auc']:.2f} (here "
                       f"{dropped['auc']:.2f}), and RMIA online "
                       f"{pct_ci(leak['rmia_online/round_kept'], key)} instead of "
                       f"{pct_ci(leak['rmia_online/round_dropped'], key)}.")
    return out


def _mean_ci(v: dict) -> str:
    lo, hi = v["ci95"]
    return f"{100 * v['mean']:.2f}% [{100 * lo:.2f}, {100 * hi:.2f}]"


def power(study: dict) -> dict:
    """Sentences about attack power against the number of references: LiRA online from the
    smallest to the largest subset, and RMIA offline with a tuned or fixed. A step "rises"
    only where its paired difference (the same resamples at every size, Holm over the row's
    steps) says so; conditional on the subsets drawn."""
    power = study.get("power_vs_references", {})
    tests = study.get("power_comparisons", {})
    sizes = sorted(int(k) for k in power)
    out = {"power": "", "power_a": "", "has_power": len(sizes) > 1}
    pts = [(k, power[str(k)][POWER_ROW][LOW_FPR]) for k in sizes if POWER_ROW in power[str(k)]]
    pts = [(k, v) for k, v in pts if v.get("mean") is not None]
    if len(pts) > 1:
        (k0, first), (k2, last) = pts[0], pts[-1]
        k1 = pts[-2][0]
        step = tests.get("steps", {}).get(POWER_ROW, {}).get(LOW_FPR, {}).get(f"{k2}-{k1}")
        grows = step is not None and step["difference"] > 0 and step["p_holm"] < ALPHA
        said = (f"{paired_text(step, LOW_FPR)}, Holm p = {step['p_holm']:.2g}" if step
                else "not compared")
        out["power"] = (f"LiRA online finds {_mean_ci(first)} at 0.1% FPR with {k0} references "
                        f"and {_mean_ci(last)} with {k2}"
                        + (f": still rising from {k1} to {k2} (paired: {said}), so more "
                           f"references may find more." if grows else
                           f". The step from {k1} to {k2} (paired: {said}) is not told from 0: "
                           f"this bank cannot tell whether more references find more."))
    tuned = [(k, power[str(k)]["rmia_offline"]) for k in sizes if "rmia_offline" in power[str(k)]]
    if tuned and any(c.get("a") for _, c in tuned):
        out["power_a"] = rmia_a_sentence(tuned, tests.get("tuned_minus_fixed", {}))
    return out


def rmia_a_sentence(tuned: list[tuple[int, dict]], versus_fixed: dict) -> str:
    """What the tuned a was at each size, and where the tuned curve differs from a = 1 (p(x) =
    p_OUT(x)) at 0.1% FPR: paired differences, Holm over the sizes."""
    a_text = ", ".join(f"{k} → {'/'.join(f'{x:g}' for x in sorted(set(c['a'])))}"
                       for k, c in tuned if c.get("a"))
    text = f"Tuned a (references → a): {a_text}."
    diffs = versus_fixed.get("rmia_offline/1", {}).get(LOW_FPR, {})
    fewer = [f"{k} references ({paired_text(c, LOW_FPR)})" for k, c in diffs.items()
             if c["p_holm"] < ALPHA and c["difference"] < 0]
    more = [f"{k} references ({paired_text(c, LOW_FPR)})" for k, c in diffs.items()
            if c["p_holm"] < ALPHA and c["difference"] > 0]
    parts = ([f"fewer with {', '.join(fewer)}"] if fewer else []) + (
        [f"more with {', '.join(more)}"] if more else [])
    return text + (" At 0.1% FPR, tuned minus a = 1 (paired, Holm over sizes): " + "; ".join(parts)
                   + "." if parts else
                   " At 0.1% FPR the tuned a and a = 1 are not told apart at any size (paired, Holm).")


# Rows that need no reference models: only the target's outputs on the image.
WITHOUT_REFERENCES = ("loss", "gap")


def cost(manifest: dict, metrics: dict, references: int, rows: int) -> str:
    """What each attack family costs, from this run's record (manifest ``wall_seconds``):
    the loss threshold's fits, the bank's training, the calibrated evaluation as a whole
    (the attacks' own compute is not timed per family)."""
    ws = manifest["wall_seconds"]
    attack, bank, calibrated = ws.get("attack", {}), ws.get("bank", {}), ws.get("calibrated", {})
    repeats = metrics["attack"]["repeats"]
    fits = repeats * sum(len(by_p) for by_p in metrics["attack"]["results"].values())
    parts = []
    if attack.get("seconds") is not None:
        parts.append(f"the loss threshold needs only the target's losses: its {fits} KDE fits took "
                     f"{attack['seconds']:.0f} s")
    if bank.get("seconds"):
        parts.append(f"every other row needs the {references} reference models, "
                     f"{bank['seconds'] / 60:.0f} min of training on "
                     f"{(bank.get('device') or 'cpu').upper()}")
    if calibrated.get("seconds"):
        parts.append(f"then all {rows} rows on both protocols, bootstraps included, took "
                     f"{calibrated['seconds'] / 60:.0f} min together (not timed per attack)")
    return ("; ".join(parts) + ".")[:1].upper() + ("; ".join(parts) + ".")[1:] if parts else ""


def table(r: dict, role: str = "undefended") -> list[dict]:
    """Cells of the slide's comparison table (study protocol, the ``role``'s target), as text.
    A two-valued score (SEGMENT_ONLY) has no TPR at a low FPR of its own: its cells say so."""
    def pct(v):
        return "n/a" if v is None else f"{100 * v:.2f}%"

    def with_ci(v: dict, key: str) -> str:
        if v.get(key) is None:
            return "n/a"
        lo, hi = v["ci95"][key]
        return f"{100 * v[key]:.2f}% [{100 * lo:.2f}, {100 * hi:.2f}]"
    rows = []
    study = r[role]["calibrated"]["protocols"]["study"]
    c = study["rows"]
    for key, name in CALIBRATED_TABLE.items():
        if key not in c:  # a row the [calibrated] attacks leave out is left out here too
            continue
        v = c[key]
        segment = key in SEGMENT_ONLY
        rows.append({"name": name, "auc": "n/a" if v.get("auc") is None else f"{v['auc']:.3f}",
                     "tpr1": "one segment" if segment else pct(v.get("tpr_at_1pct_fpr")),
                     "tpr01": "one segment" if segment else with_ci(v, "tpr_at_0.1pct_fpr"),
                     "zero": "n/a" if v.get("members_at_zero_fp") is None else f"{v['members_at_zero_fp']:,}",
                     "needs": "target's outputs" if key in WITHOUT_REFERENCES else
                              f"{study['references']} references"})
    return rows


def facts(deck: Deck) -> dict:
    base = deck.r["undefended"].get("calibrated")
    if base is None:
        return {"not_made": [f"the calibrated attacks: {deck.r['undefended']['experiment']} has "
                             f"no [bank], so no reference models"]}
    undefended = deck.r["undefended"]
    study = base["protocols"]["study"]
    return {**judgements(base), "table": table(deck.r),
            "cost": cost(undefended["manifest"], undefended["metrics"], study["references"],
                         len(study["rows"]))}
