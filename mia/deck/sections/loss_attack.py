"""Results of the loss-threshold attack (KDE threshold on a per-sample loss) on the undefended
and the defended target: the attacker's samples, densities, confusion matrices, the summary
tables, accuracy against the sampling percentage, and power at low false-positive rates."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from ..results import (PRETTY, SCORES, Deck, cell, mean, normalized_zeros, percentages, points,
                       representative_percentage)

ROLES = ("undefended", "defended")
USES: tuple[str, ...] = ()  # no other section's facts (calibrated's where the study has it)
PART = "The loss threshold: the original study's analysis"
# Two scores' metrics are "the same" (cross-entropy and probability loss) within this relative
# difference: a sum's last bits, not a difference in ranking.
SAME_REL_TOL = 1e-12
# The sampling percentage of the figures, when the attack ran at it (else the middle one).
PERCENTAGE = "16"
# Attack accuracy within CHANCE_MARGIN of 50% counts as "close to chance".
CHANCE_MARGIN = 0.02
# At 1% FPR, a TPR up to GUESSING_TPR is "no better than guessing (1%)".
GUESSING_TPR = 0.015
# The normalized loss's TPR at 1% FPR is "what a random pick among its tied zeros gives" when it
# is within TIES_TOLERANCE of 1% x (members at 0) / (non-members at 0).
TIES_TOLERANCE = 0.001
# The share of non-members flagged is "close to the test accuracy" within this distance.
FLAGGED_NEAR_TEST_ACCURACY = 0.05
TABLE_METRICS = ("accuracy", "f1", "auc", "tpr_at_1pct_fpr")
# The loss distributions "overlap" (the densities page's title) below this AUC of the first
# score on all samples; above it, they are "apart".
OVERLAP_AUC = 0.9
# The sampling percentage "hardly matters" when no score's mean accuracy moves by more than
# this between the smallest and the largest p.
HARDLY_MATTERS = 0.02


def _same(a, b) -> bool:
    """Two metrics equal but for floating-point rounding (relative 1e-12)."""
    return a == b or (a is not None and b is not None and math.isclose(a, b, rel_tol=SAME_REL_TOL))


def settings(exp: dict) -> list[dict]:
    """Every (score, p) setting of an experiment with its mean and std attack accuracy."""
    return [{"score": sc, "p": p, "mean": c["summary"]["accuracy"]["mean"],
             "std": c["summary"]["accuracy"]["std"]}
            for sc, by_p in exp["metrics"]["attack"]["results"].items() for p, c in by_p.items()]


def top_settings(exp: dict) -> dict:
    """The highest mean accuracy and the settings indistinguishable from it.

    Two settings are indistinguishable when their means differ by no more than the sum of
    their standard deviations over attacker samples. That spread understates the real
    uncertainty (every repeat attacks the same target), so nothing here is called "best":
    without confidence intervals over targets the deck names the group, not a winner.
    """
    cells = settings(exp)
    top = max(cells, key=lambda c: c["mean"])
    tied = [c for c in cells if top["mean"] - c["mean"] <= top["std"] + c["std"]]
    return {"top": top, "tied": tied, "n": len(cells),
            "lo": min(c["mean"] for c in cells), "hi": top["mean"]}


def fixed_setting(exp: dict, p: str) -> dict:
    """The first score at percentage ``p``: mean and std accuracy over repeats, and how it
    compares with the gap attack on the same evaluation samples (a paired difference per
    repeat, with a 95% t interval of its mean: the spread over attacker samples; the
    evaluation samples' own sampling error is not in it, since every repeat evaluates nearly
    the same samples)."""
    c = cell(exp, SCORES[0], p)
    acc = c["summary"]["accuracy"]
    out = {"mean": acc["mean"], "std": acc["std"] or 0.0, "repeats": len(c["repeats"]),
           "n_eval": c["n_eval_per_class"], "gap_relation": ""}
    gap = exp["metrics"]["attack"].get("gap", {}).get(p)
    if gap is None:
        return out
    d = np.array([r["accuracy"] for r in c["repeats"]]) - np.array(gap["repeats"])
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.inf
    lo, hi = d.mean() - half, d.mean() + half
    g = gap["accuracy"]["mean"]
    where = (f"{points(d.mean())} above" if lo > 0 else f"{points(-d.mean())} below" if hi < 0
             else "not distinguishable from")
    out["gap_relation"] = (f"{where} the gap attack's {g:.1%} on the same samples "
                           f"({100 * d.mean():+.2f} pp [{100 * lo:+.2f}, {100 * hi:+.2f}] over "
                           f"attacker samples)")
    return out


def table(r: dict) -> dict:
    """The summary tables: per score, per sampling percentage, each target's mean and std."""
    return {s: [{"p": q, **{role: {m: cell(r[role], s, q)["summary"][m] for m in TABLE_METRICS}
                            for role in ROLES}} for q in percentages(r["undefended"])]
            for s in SCORES}


def judgements(r: dict, p: str, zeros: dict | None = None) -> dict:
    """Sentences whose wording depends on the measured numbers (``r``: role -> results;
    ``zeros``: the undefended target's ``normalized_zeros``, read from its scores when not
    given)."""
    base, dfd = r["undefended"], r["defended"]
    bt, dt = base["metrics"]["target"], dfd["metrics"]["target"]
    tb, td = top_settings(base), top_settings(dfd)
    b_acc = tb["hi"]
    ps = percentages(base)
    lo, hi = ps[0], ps[-1]
    out = {}
    # The headline is the setting fixed in advance (the first score at the representative p),
    # not the highest of all settings, and it is read against the gap attack on the same
    # evaluation samples.
    fb, fd = fixed_setting(base, p), fixed_setting(dfd, p)
    b_fix, d_fix = fb["mean"], fd["mean"]
    out["fixed_name"] = f"{PRETTY[SCORES[0]].lower()}, p = {p}%"
    out["fixed_accuracy"] = b_fix
    auc = base["metrics"]["all_samples"][SCORES[0]]["auc"]
    out["densities_title"] = ("The loss threshold: members' and non-members' losses "
                              + ("overlap" if auc < OVERLAP_AUC else "lie apart"))
    out["fixed_points"] = points(b_fix - 0.5)
    out["gap_relation"] = fb["gap_relation"]
    if b_fix - 0.5 <= CHANCE_MARGIN:
        out["leak"] = (f"On the undefended model the attack reaches {b_fix:.1%} accuracy at the "
                       f"setting fixed in advance ({out['fixed_name']}): close to chance (50%).")
    else:
        out["leak"] = (f"On the undefended model the attack reaches {b_fix:.1%} ± {100 * fb['std']:.1f} points "
                       f"accuracy ({out['fixed_name']}, fixed in advance), {points(b_fix - 0.5)} "
                       f"above chance: {fb['gap_relation']}.")
    out["leaks"] = b_fix - 0.5 > CHANCE_MARGIN
    out["defended_fixed"] = (f"Defended, {out['fixed_name']} (fixed in advance): {d_fix:.1%} ± "
                             f"{100 * fd['std']:.1f} points, {fd['gap_relation']}.")
    if len(tb["tied"]) > 1:
        out["tied"] = (f"{len(tb['tied'])} of the {tb['n']} settings are within the spread over "
                       f"attacker samples of the highest, so none is singled out as best.")
    else:
        top = (tb["top"]["score"], tb["top"]["p"])
        second = max((c["mean"] for c in settings(base) if (c["score"], c["p"]) != top),
                     default=b_acc)
        out["tied"] = (f"The highest setting ({PRETTY[tb['top']['score']].lower()}, p = "
                       f"{tb['top']['p']}%: {b_acc:.1%}) is beyond the spread over attacker "
                       f"samples of every other (next: {second:.1%}); that spread understates "
                       f"the uncertainty, since every repeat attacks the same target.")
    tests = (f"test accuracy goes from {bt['test_accuracy']:.2%} to {dt['test_accuracy']:.2%}")
    spread = fb["std"] + fd["std"]
    if d_fix - 0.5 <= CHANCE_MARGIN:
        out["defense"] = (f"With L2 weight decay the attack's accuracy ({out['fixed_name']}) falls "
                          f"from {b_fix:.1%} to {d_fix:.1%}, close to chance for this attack, "
                          f"while {tests}.")
    elif d_fix < b_fix - spread:
        out["defense"] = (f"With L2 weight decay the attack's accuracy ({out['fixed_name']}) falls "
                          f"from {b_fix:.1%} to {d_fix:.1%}, still {points(d_fix - 0.5)} above "
                          f"chance; {tests}.")
    elif d_fix > b_fix + spread:
        out["defense"] = (f"L2 weight decay makes this attack stronger ({out['fixed_name']}): "
                          f"{b_fix:.1%} without, {d_fix:.1%} with; {tests}.")
    else:
        out["defense"] = (f"L2 weight decay does not weaken this attack ({out['fixed_name']}: "
                          f"{b_fix:.1%} without, {d_fix:.1%} with, within the spread).")
    # Does knowing more samples help the attacker? Each score, smallest vs largest p: a
    # change counts only beyond the sum of the two standard deviations over repeats.
    moves = {"rises": [], "falls": []}
    for s in SCORES:
        a, b = cell(base, s, lo)["summary"]["accuracy"], cell(base, s, hi)["summary"]["accuracy"]
        if abs(b["mean"] - a["mean"]) > a["std"] + b["std"]:
            moves["rises" if b["mean"] > a["mean"] else "falls"].append(
                f"{PRETTY[s].lower()} {a['mean']:.1%} → {b['mean']:.1%}")
    ce_lo, ce_hi = mean(base, SCORES[0], lo, "accuracy"), mean(base, SCORES[0], hi, "accuracy")
    largest = max(abs(cell(base, s, hi)["summary"]["accuracy"]["mean"]
                      - cell(base, s, lo)["summary"]["accuracy"]["mean"]) for s in SCORES)
    out["sampling_title"] = ("How much the attacker knows hardly matters" if largest <= HARDLY_MATTERS
                             else "How much the attacker knows matters")
    if not moves["rises"] and not moves["falls"]:
        out["sampling"] = (f"A small sample is enough: p = {lo}% does as well as p = {hi}% "
                           f"({PRETTY[SCORES[0]].lower()}: {ce_lo:.1%} vs {ce_hi:.1%}), within "
                           f"the spread over repeats.")
    else:
        parts = [f"rises for the {', '.join(moves['rises'])}" if moves["rises"] else "",
                 f"falls for the {', '.join(moves['falls'])}" if moves["falls"] else ""]
        out["sampling"] = (f"From p = {lo}% to p = {hi}% accuracy changes by at most "
                           f"{points(largest)}: it " + " and ".join(x for x in parts if x)
                           + " (beyond the spread over repeats).")
    # Cost of the KDE threshold against the best threshold on the evaluation set.
    costs = [c["summary"]["best_accuracy"]["mean"] - c["summary"]["accuracy"]["mean"]
             for by_p in base["metrics"]["attack"]["results"].values() for c in by_p.values()]
    out["threshold_cost_mean"] = sum(costs) / len(costs)
    fixed_cost = cell(base, SCORES[0], p)["summary"]
    out["threshold_cost_fixed"] = fixed_cost["best_accuracy"]["mean"] - fixed_cost["accuracy"]["mean"]
    c = cell(base, SCORES[0], p)
    out["missed_members"] = 1 - c["summary"]["recall"]["mean"]
    out["false_members"] = c["confusion_matrix"]["mean_normalized"][0][1]
    # Low-FPR power over all samples. Cross-entropy and probability loss are monotone in the
    # same p_y, so their curve metrics coincide: say so once instead of ranking them. Equal up
    # to the last bits of a sum (an AUC of 0.657351658 against 0.6573516580000001 once made
    # this a coin toss), not to the bit.
    full = base["metrics"]["all_samples"]
    same = all(_same(full["cross_entropy"][k], full["probability_loss"][k])
               for k in ("auc", "tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr"))
    out["same_ranking"] = same
    tpr = full["cross_entropy"]["tpr_at_1pct_fpr"]
    tpr_n = full["normalized_probability_loss"]["tpr_at_1pct_fpr"]
    out["tpr_low"] = tpr
    loss_name = "the loss" if same else "cross-entropy"
    out["low_fpr"] = (f"at 1% false positives {loss_name} finds {tpr:.1%} of members and the "
                      f"normalized probability loss {tpr_n:.1%}: "
                      + ("no better than guessing (1%)." if max(tpr, tpr_n) <= GUESSING_TPR else
                         f"at most {max(tpr, tpr_n) / 0.01:.1f}× the 1% a random guess finds."))
    out["top"], out["top_defended"] = tb, td
    # The normalized loss is 0 whenever the prediction is correct: ranking its tied zeros at
    # random gives TPR = FPR x (share of members at 0) / (share of non-members at 0).
    z = normalized_zeros(base) if zeros is None else zeros
    predicted = 0.01 * z["members"] / z["nonmembers"] if z["nonmembers"] > 0 else float("nan")
    out["low_fpr_ties"] = (
        f"The normalized loss's {tpr_n:.1%} is what a random pick among its tied zeros gives "
        f"(1% × {z['members']:.0%} / {z['nonmembers']:.0%} = {predicted:.1%}): correctness, not "
        f"per-sample confidence." if abs(predicted - tpr_n) < TIES_TOLERANCE else "")
    found, flagged = 1 - out["missed_members"], out["false_members"]
    out["confusion"] = (f"The {PRETTY[SCORES[0]].lower()} attack finds {found:.0%} of members and "
                        f"flags {flagged:.0%} of non-members")
    if abs(flagged - bt["test_accuracy"]) < FLAGGED_NEAR_TEST_ACCURACY:
        out["confusion"] += (f", close to the test accuracy ({bt['test_accuracy']:.0%}): the "
                             f"non-members it flags are largely those the model classifies "
                             f"correctly.")
    else:
        out["confusion"] += "."
    return out


def gap_reference(r: dict) -> str:
    """The gap attack's accuracy on the summary tables' evaluation samples, per role: the range
    over sampling percentages of its mean over repeats ('' for results without it)."""
    parts = []
    for role, name in (("undefended", "undefended"), ("defended", "defended")):
        gap = r[role]["metrics"]["attack"].get("gap")
        if gap:
            means = [v["accuracy"]["mean"] for v in gap.values()]
            parts.append(f"{min(means):.3f} to {max(means):.3f} {name}")
    return (("Reference: the gap attack (correct = member) on the same samples reaches accuracy "
             + " and ".join(parts) + ".") if parts else "")


def facts(deck: Deck) -> dict:
    undefended = deck.r["undefended"]
    p = representative_percentage(undefended, PERCENTAGE)
    zeros = normalized_zeros(undefended)
    return {**judgements(deck.r, p, zeros), "p": p, "percentages": percentages(undefended),
            "zeros": zeros, "table": table(deck.r), "gap_reference": gap_reference(deck.r),
            # Loss-sample slides: the probability loss ranks like cross-entropy, so its strip
            # plot repeats cross-entropy's (it stays in results/).
            "sample_scores": [s for s in SCORES if s != "probability_loss"]}
