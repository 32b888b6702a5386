"""The Marp deck, generated from ``results/``: ``invoke slides``.

``render`` fills ``slides/deck.md.j2`` (Jinja2) with numbers read from
``results/<experiment>/{metrics,history,manifest}.json`` and writes ``slides/deck.md``;
``build`` runs the pinned Marp CLI (``slides/package.json``) to make
``slides/build/deck.html`` and, when a Chromium is found, ``slides/build/deck.pdf``.
Sentences that judge a result are chosen here from the numbers, never typed in the template.
"""
from __future__ import annotations

import html as html_mod
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from . import illustrations, legibility
from .errors import UserError
from .evaluation.calibrated import strongest as strongest_of
from .io import read_json, write_text

REPO = Path(__file__).resolve().parent.parent
SLIDES = REPO / "slides"
IMG = REPO / "img"
EXPERIMENTS = ("baseline", "defended")
# The reference-size comparison: the same target, references that keep 30,000 of the 60,000
# images (the baseline's paired bank) or 50,000 (experiments/baseline-refs50k.toml). Its slide
# appears when both have calibrated results.
REFERENCE_SIZE = {"small": "baseline", "large": "baseline-refs50k"}
# Offline attacks use only OUT references: with one pair of the small bank and the one round
# of the large bank, every image has exactly one OUT reference in both (power-curve row of
# the small bank, study row of the large one).
REFERENCE_SIZE_ROWS = {"lira_offline": ("lira_offline/auto", "lira_offline/global"),
                       "rmia_offline": ("rmia_offline", "rmia_offline")}
SCORES = ("cross_entropy", "probability_loss", "normalized_probability_loss")
PRETTY = {"cross_entropy": "Cross-entropy", "probability_loss": "Probability loss",
          "normalized_probability_loss": "Normalized probability loss"}
FORMULA = {"cross_entropy": r"$-\log p_y$", "probability_loss": r"$1 - p_y$",
           "normalized_probability_loss":
               r"$1 - (p_y - \min_k p_k) \,/\, (\max_k p_k - \min_k p_k)$"}
CHANCE_MARGIN = 0.02  # attack accuracy within 2 points of 50% counts as "close to chance"


def load_results(results_root: Path) -> dict:
    out = {}
    for name in EXPERIMENTS + tuple(e for e in (REFERENCE_SIZE["large"],)
                                    if (results_root / e / "calibrated.json").is_file()):
        d = results_root / name
        missing = [f for f in ("metrics.json", "history.json", "manifest.json") if not (d / f).is_file()]
        if missing:
            raise UserError(f"no results in {d} (missing {', '.join(missing)}): run "
                            f"`invoke experiments` first (or `invoke experiments --quick` and "
                            f"`invoke slides --quick`)")
        out[name] = {"dir": d}
        for f in ("metrics", "history", "manifest") + (("calibrated",) if (d / "calibrated.json").is_file() else ()):
            try:
                out[name][f] = read_json(d / f"{f}.json")
            except ValueError as e:
                raise UserError(f"corrupt results file {d / f'{f}.json'} ({e}): rerun "
                                f"`invoke experiments`") from None
    return out


# The comparison table's rows on the slide (calibrated.json and calibrated.md have them all).
CALIBRATED_TABLE = {"loss": "Loss threshold",
                    "shokri": "Shokri shadow models",
                    "ml_leaks": "ML-Leaks (sorted vector)",
                    "lira_offline/global": "LiRA offline",
                    "lira_online/global": "LiRA online",
                    "lira_online/per_sample": "LiRA online, σ per sample",
                    "lira_online/global/flip": "LiRA online, + mirror",
                    "rmia_offline": "RMIA offline",
                    "rmia_online": "RMIA online",
                    "rmia_online/flip": "RMIA online, + mirror"}
PRETTY_ROWS = {**CALIBRATED_TABLE, "lira_offline/per_sample": "LiRA offline, σ per sample"}
POWER_NAMES = {"lira_offline/auto": "LiRA offline", "lira_online/auto": "LiRA online",
               "rmia_offline": "RMIA offline", "rmia_online": "RMIA online"}


def _pct_ci(row: dict, key: str) -> str:
    v = row.get(key)
    if v is None:
        return "n/a"
    lo, hi = row["ci95"][key]
    return f"{100 * v:.2f}% [{100 * lo:.2f}, {100 * hi:.2f}]"


def loo_row_of(calibrated: dict, row: str, key: str) -> dict:
    return calibrated["protocols"]["leave_one_out"]["rows"][row]


def calibrated_judgements(r: dict) -> dict:
    """Sentences about the attacks with reference models, from calibrated.json (both targets)."""
    base, dfd = r["baseline"].get("calibrated"), r["defended"].get("calibrated")
    if base is None:
        return {}
    study = base["protocols"]["study"]
    rows = study["rows"]
    # 0.1% FPR where the evaluation set resolves it (>= 1,000 non-members), else 1%
    key = "tpr_at_0.1pct_fpr" if rows["loss"].get("tpr_at_0.1pct_fpr") is not None else "tpr_at_1pct_fpr"
    fpr_text = "0.1%" if key == "tpr_at_0.1pct_fpr" else "1%"
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
    times = (f", {ratio:.0f}× as many" if loss["ci95"][key][0] > 0 and ratio >= 2 else "")
    apart = ("the intervals do not overlap" if out["beats_loss"] else "the intervals overlap")
    out["vs_loss"] = (f"At {fpr_text} false positives it finds {_pct_ci(best, key)} of members, "
                      f"against the loss threshold's {_pct_ci(loss, key)}{times}: {apart} "
                      f"({study['n_members']:,} members, {study['n_nonmembers']:,} non-members).")
    n_tied = len(st["tied_with_top"])
    out["conclusion"] = (f"with reference models, {out['top_name']} finds {_pct_ci(best, key)} of members "
                         f"at {fpr_text} FPR" + (f" ({n_tied} others tie)" if n_tied else "")
                         + f"; the loss threshold {_pct_ci(loss, key)}.")
    # Test-time augmentation, measured both ways: does adding the mirror image help?
    flips = []

    def moves(a: dict, b: dict, metric: str, fmt) -> str:
        """'drops from A to B' / 'rises ...' where the intervals do not overlap, else 'A vs B
        (intervals overlap)'."""
        if b["ci95"][metric][1] < a["ci95"][metric][0]:
            return f"drops from {fmt(a[metric])} to {fmt(b[metric])}"
        if b["ci95"][metric][0] > a["ci95"][metric][1]:
            return f"rises from {fmt(a[metric])} to {fmt(b[metric])}"
        return f"{fmt(a[metric])} vs {fmt(b[metric])} (intervals overlap)"
    for plain in ("lira_online/global", "rmia_online"):
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
    if dfd is not None:
        d_rows = dfd["protocols"]["study"]["rows"]
        d_best_key = max((k for k, v in d_rows.items() if v.get(key) is not None and "ci95" in v),
                         key=lambda k: d_rows[k][key])  # the highest point estimate
        d_best = d_rows[d_best_key]
        chance = 0.001 if key == "tpr_at_0.1pct_fpr" else 0.01
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
            falls = d_best["ci95"][key][1] < s_mean - 2 * s_std
            versus = (f"against {100 * s_mean:.2f} ± {100 * s_std:.2f}% undefended with the same "
                      f"{d_refs} references ({POWER_NAMES.get(s_key, s_key)}, mean ± std over "
                      f"subsets): ")
            gap = "a drop beyond the spread" if falls else "the difference is within the spread"
        else:
            falls = d_best["ci95"][key][1] < best["ci95"][key][0]
            versus = f"against {_pct_ci(best, key)} undefended: "
            gap = "a drop beyond the intervals" if falls else "the intervals overlap"
        out["defense"] = (
            f"Study's target: the highest-scoring attack ({out['defended_top_name']}) finds "
            f"{_pct_ci(d_best, key)} at {fpr_text} FPR, {versus}{gap}"
            + (f"; its interval reaches chance ({fpr_text})." if chance_hi else
               f"; still above chance ({fpr_text})."))
        d_loo = dfd["protocols"]["leave_one_out"]
        d_l = strongest_of(d_loo["rows"], key)
        d_top = d_l["strongest"] or d_l["top"]
        d_row = d_loo["rows"][d_top]
        out["defense_loo"] = (
            f"Leave-one-out ({d_loo['targets']} defended models): {PRETTY_ROWS.get(d_top, d_top)} finds "
            f"{_pct_ci(d_row, key)}, against {_pct_ci(loo_row_of(base, d_top, key), key)} undefended"
            + (f"; still above chance." if d_row["ci95"][key][0] > chance else f"; within reach of chance."))
        loo_above = d_row["ci95"][key][0] > chance
        out["defense_short"] = (
            f"Against L2, the calibrated attacks find {_pct_ci(d_best, key)} at {fpr_text} FPR on the "
            f"study's target" + (" (its interval reaches chance)" if chance_hi else "")
            + f" and {_pct_ci(d_row, key)} in leave-one-out, over many more samples: "
            + ("L2 reduces the leak without removing it." if loo_above and (falls or chance_hi) else
               "it removes what these attacks can measure." if not loo_above and chance_hi else
               "the reduction is within the intervals."))
        out["defended_chance"] = chance_hi
    loo = base["protocols"]["leave_one_out"]
    l_st = strongest_of(loo["rows"], key)
    l_top = l_st["strongest"] or l_st["top"]
    out["loo"] = (f"{loo['targets']} targets, {loo['n_members']:,} members and "
                  f"{loo['n_nonmembers']:,} non-members pooled: {PRETTY_ROWS.get(l_top, l_top)} finds "
                  f"{_pct_ci(loo['rows'][l_top], key)} at {fpr_text} FPR, the loss threshold "
                  f"{_pct_ci(loo['rows']['loss'], key)}.")
    leak = loo.get("leak_check", {}).get("rows", {})
    if leak:
        kept, dropped = leak["in_count/round_kept"], leak["in_count/round_dropped"]
        out["leak"] = (f"Kept in, the IN count alone would reach AUC {kept['auc']:.2f} (here "
                       f"{dropped['auc']:.2f}), and RMIA online "
                       f"{_pct_ci(leak['rmia_online/round_kept'], key)} instead of "
                       f"{_pct_ci(leak['rmia_online/round_dropped'], key)}.")
    power = study["power_vs_references"]
    sizes = sorted(int(k) for k in power)
    online = "lira_online/auto"
    pts = [(k, power[str(k)][online]["tpr_at_0.1pct_fpr"]["mean"]) for k in sizes]
    pts = [(k, v) for k, v in pts if v is not None]
    out["power"] = ""
    a_by_size = {k: power[str(k)].get("rmia_offline", {}).get("a") for k in sizes}
    out["power_a"] = ("RMIA offline's a (tuned on each subset's references), by number of "
                      "references: " + "; ".join(
                          f"{k} → {' or '.join(f'{x:g}' for x in sorted(set(a)))}"
                          for k, a in a_by_size.items() if a) + ".") if any(a_by_size.values()) else ""
    if len(pts) > 1:
        # The full bank is one subset: its own bootstrap interval (the study row of the variance
        # that "auto" resolved to) must clear the previous size's mean + 2 std.
        prev = power[str(pts[-2][0])][online]["tpr_at_0.1pct_fpr"]
        variance = (power[str(pts[-1][0])][online].get("variance") or ["global"])[0]
        full = rows.get(f"lira_online/{variance}", {}).get("ci95", {}).get("tpr_at_0.1pct_fpr")
        grows = full is not None and full[0] > prev["mean"] + 2 * (prev["std"] or 0.0)
        out["power"] = (f"LiRA online finds {100 * pts[0][1]:.2f}% at 0.1% FPR with {pts[0][0]} "
                        f"references and {100 * pts[-1][1]:.2f}% with {pts[-1][0]}"
                        + (": still rising beyond the spread at the largest bank, so more references "
                           "may find more." if grows else
                           f"; from {pts[-2][0]} to {pts[-1][0]} the step is within the spread "
                           f"(subsets and the full bank's interval), so this bank cannot tell "
                           f"whether more references find more."))
    return out


def reference_size(r: dict) -> dict:
    """The reference-size comparison at 0.1% FPR, or {} without both experiments' results.

    Small: the offline attacks with one pair of the 30,000-image bank (mean ± std over random
    pairs). Large: the same attacks with the 50,000-image round. A difference is "beyond the
    spread" when the large bank's value lies outside the small one's mean ± 2 std and the
    small mean outside the large one's 95% bootstrap interval."""
    small, large = (r.get(REFERENCE_SIZE[k], {}).get("calibrated") for k in ("small", "large"))
    if small is None or large is None:
        return {}
    key = "tpr_at_0.1pct_fpr"
    power = small["protocols"]["study"]["power_vs_references"]
    one = power.get(str(min(int(k) for k in power))) if power else None
    ls = large["protocols"]["study"]
    if one is None or ls["folds"] < 3:
        return {}
    def judge(small_cell: dict, large_row: dict, metric: str) -> tuple[bool, str]:
        m, sd = small_cell[metric]["mean"], small_cell[metric]["std"] or 0.0
        v = large_row[metric]
        lo, hi = large_row["ci95"][metric]
        beyond = abs(v - m) > 2 * sd and not lo <= m <= hi
        return beyond, (("higher" if v > m else "lower") + " beyond the spread" if beyond
                        else "within the spread")

    rows = []
    for name, (small_key, large_key) in REFERENCE_SIZE_ROWS.items():
        a, b = one[small_key], ls["rows"][large_key]
        if a[key]["mean"] is None or b.get(key) is None:
            continue
        lo, hi = b["ci95"][key]
        m, sd = a[key]["mean"], a[key]["std"] or 0.0
        beyond, verdict = judge(a, b, key)
        auc_beyond, auc_verdict = judge(a, b, "auc") if "auc" in b.get("ci95", {}) else (False, "")
        a_lo, a_hi = b.get("ci95", {}).get("auc", (None, None))
        rows.append({
            "name": PRETTY_ROWS.get(large_key, large_key),
            "small": f"{100 * m:.2f} ± {100 * sd:.2f}%",
            "small_auc": f"{a['auc']['mean']:.3f} ± {a['auc']['std']:.3f}",
            "large": f"{100 * b[key]:.2f}% [{100 * lo:.2f}, {100 * hi:.2f}]",
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
        message = ""
    lb, sb = r[REFERENCE_SIZE["large"]], small["protocols"]["study"]
    return {"rows": rows, "message": message,
            "pairs": one[REFERENCE_SIZE_ROWS["lira_offline"][0]]["subsets"],
            "large_models": ls["references"], "large_folds": ls["folds"],
            "keeps": lb["manifest"]["wall_seconds"]["bank"].get("keeps"),
            "minutes": round((lb["manifest"]["wall_seconds"]["bank"].get("seconds") or 0) / 60),
            "n_members": sb["n_members"],
            "any_beyond": any(x["beyond"] for x in rows),
            "a": ls["rows"]["rmia_offline"].get("a") if "rmia_offline" in ls["rows"] else None}


def calibrated_table(r: dict) -> list[dict]:
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
        for e in EXPERIMENTS:
            c = r[e].get("calibrated")
            v = c["protocols"]["study"]["rows"].get(key, {}) if c else {}
            row[e] = {"auc": "n/a" if v.get("auc") is None else f"{v['auc']:.3f}",
                      "tpr1": pct(v.get("tpr_at_1pct_fpr")),
                      "tpr01": with_ci(v, "tpr_at_0.1pct_fpr"),
                      "zero": "n/a" if v.get("members_at_zero_fp") is None else f"{v['members_at_zero_fp']:,}"}
        rows.append(row)
    return rows


def cell(exp: dict, score: str, p: str) -> dict:
    return exp["metrics"]["attack"]["results"][score][p]


def mean(exp: dict, score: str, p: str, metric: str) -> float:
    return cell(exp, score, p)["summary"][metric]["mean"]


def representative_percentage(exp: dict, wanted: str = "16") -> str:
    ps = list(exp["metrics"]["attack"]["results"][SCORES[0]])
    if wanted in ps:
        return wanted
    return ps[len(ps) // 2]


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


def _points(x: float) -> str:
    """A difference of two fractions, in percentage points."""
    return f"{100 * x:.1f} percentage points"


def judgements(r: dict, p: str, zeros: dict | None = None) -> dict:
    """Sentences whose wording depends on the measured numbers (``zeros``: the baseline's
    ``normalized_zeros``, read from its scores when not given)."""
    base, dfd = r["baseline"], r["defended"]
    bt, dt = base["metrics"]["target"], dfd["metrics"]["target"]
    tb, td = top_settings(base), top_settings(dfd)
    b_acc, d_acc = tb["hi"], td["hi"]
    ps = list(base["metrics"]["attack"]["results"][SCORES[0]])
    lo, hi = ps[0], ps[-1]
    out = {}
    gap_b = bt["train_accuracy"] - bt["test_accuracy"]
    gap_d = dt["train_accuracy"] - dt["test_accuracy"]
    out["overfitting"] = (
        f"The undefended model is {_points(gap_b)} more accurate on its training images than on "
        f"unseen ones: " + ("it has memorised a good part of its training set." if gap_b > 0.15
                            else "a moderate generalisation gap." if gap_b > 0.05
                            else "it generalises well."))
    if b_acc - 0.5 <= CHANCE_MARGIN:
        out["leak"] = (f"On the undefended model no setting reaches more than {b_acc:.1%} "
                       f"accuracy: close to chance (50%).")
    else:
        out["leak"] = (f"On the undefended model the attack reaches {tb['lo']:.1%} to {b_acc:.1%} "
                       f"accuracy across all {tb['n']} settings, up to {_points(b_acc - 0.5)} "
                       f"above chance: the losses leak membership.")
    out["leaks"] = b_acc - 0.5 > CHANCE_MARGIN
    if len(tb["tied"]) > 1:
        out["tied"] = (f"{len(tb['tied'])} of the {tb['n']} settings are within the spread over "
                       f"attacker samples of the highest ({b_acc:.1%}), so none is singled out "
                       f"as best.")
    else:
        top = (tb["top"]["score"], tb["top"]["p"])
        second = max((c["mean"] for c in settings(base) if (c["score"], c["p"]) != top),
                     default=b_acc)
        out["tied"] = (f"The highest setting ({PRETTY[tb['top']['score']].lower()}, p = "
                       f"{tb['top']['p']}%: {b_acc:.1%}) is beyond the spread over attacker "
                       f"samples of every other (next: {second:.1%}); that spread understates "
                       f"the uncertainty, since every repeat attacks the same target.")
    tests = (f"test accuracy goes from {bt['test_accuracy']:.2%} to {dt['test_accuracy']:.2%}")
    if d_acc - 0.5 <= CHANCE_MARGIN:
        out["defense"] = (f"With L2 weight decay the highest attack accuracy falls from {b_acc:.1%} "
                          f"to {d_acc:.1%}, close to chance for this attack, while {tests}.")
    elif d_acc < b_acc - (tb["top"]["std"] + td["top"]["std"]):
        out["defense"] = (f"With L2 weight decay the highest attack accuracy falls from {b_acc:.1%} "
                          f"to {d_acc:.1%}, still {_points(d_acc - 0.5)} above chance; {tests}.")
    elif d_acc > b_acc + (tb["top"]["std"] + td["top"]["std"]):
        out["defense"] = (f"L2 weight decay makes this attack stronger: its highest accuracy "
                          f"rises from {b_acc:.1%} to {d_acc:.1%}; {tests}.")
    else:
        out["defense"] = (f"L2 weight decay does not weaken this attack ({b_acc:.1%} without, "
                          f"{d_acc:.1%} with, within the spread).")
    out["gap_defended"] = gap_d
    # Does knowing more samples help the attacker? Each score, smallest vs largest p: a
    # change counts only beyond the sum of the two standard deviations over repeats.
    moves = {"rises": [], "falls": []}
    for s in SCORES:
        a, b = cell(base, s, lo)["summary"]["accuracy"], cell(base, s, hi)["summary"]["accuracy"]
        if abs(b["mean"] - a["mean"]) > a["std"] + b["std"]:
            moves["rises" if b["mean"] > a["mean"] else "falls"].append(
                f"{PRETTY[s].lower()} {a['mean']:.1%} → {b['mean']:.1%}")
    ce_lo, ce_hi = mean(base, SCORES[0], lo, "accuracy"), mean(base, SCORES[0], hi, "accuracy")
    if not moves["rises"] and not moves["falls"]:
        out["sampling"] = (f"A small sample is enough: p = {lo}% does as well as p = {hi}% "
                           f"({PRETTY[SCORES[0]].lower()}: {ce_lo:.1%} vs {ce_hi:.1%}), within "
                           f"the spread over repeats.")
    else:
        parts = [f"rises for the {', '.join(moves['rises'])}" if moves["rises"] else "",
                 f"falls for the {', '.join(moves['falls'])}" if moves["falls"] else ""]
        largest = max(abs(cell(base, s, hi)["summary"]["accuracy"]["mean"]
                          - cell(base, s, lo)["summary"]["accuracy"]["mean"]) for s in SCORES)
        out["sampling"] = (f"From p = {lo}% to p = {hi}% accuracy changes by at most "
                           f"{_points(largest)}: it " + " and ".join(x for x in parts if x)
                           + " (beyond the spread over repeats).")
    # Cost of the KDE threshold against the best threshold on the evaluation set.
    costs = [c["summary"]["best_accuracy"]["mean"] - c["summary"]["accuracy"]["mean"]
             for by_p in base["metrics"]["attack"]["results"].values() for c in by_p.values()]
    out["threshold_cost_mean"] = sum(costs) / len(costs)
    out["threshold_cost_max"] = max(costs)
    c = cell(base, SCORES[0], p)
    out["missed_members"] = 1 - c["summary"]["recall"]["mean"]
    out["false_members"] = c["confusion_matrix"]["mean_normalized"][0][1]
    # Low-FPR power over all samples. Cross-entropy and probability loss are monotone in the
    # same p_y, so their curve metrics coincide: say so once instead of ranking them.
    full = base["metrics"]["all_samples"]
    same = all(full["cross_entropy"][k] == full["probability_loss"][k]
               for k in ("auc", "tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr"))
    out["same_ranking"] = same
    tpr = full["cross_entropy"]["tpr_at_1pct_fpr"]
    tpr_n = full["normalized_probability_loss"]["tpr_at_1pct_fpr"]
    out["tpr_low"] = tpr
    loss_name = "the loss" if same else "cross-entropy"
    out["low_fpr"] = (f"at 1% false positives {loss_name} finds {tpr:.1%} of members and the "
                      f"normalized probability loss {tpr_n:.1%}: "
                      + ("no better than guessing (1%)." if max(tpr, tpr_n) <= 0.015 else
                         f"at most {max(tpr, tpr_n) / 0.01:.1f}× the 1% a random guess finds."))
    out["top"], out["top_defended"] = tb, td
    # Threshold rule actually used, counted over every fit of both models.
    methods = [rep["threshold_method"] for e in (base, dfd)
               for by_p in e["metrics"]["attack"]["results"].values()
               for c in by_p.values() for rep in c["repeats"]]
    out["methods"] = {m: methods.count(m) for m in sorted(set(methods))}
    out["n_fits"] = len(methods)
    # The normalized loss is 0 whenever the prediction is correct: ranking its tied zeros at
    # random gives TPR = FPR x (share of members at 0) / (share of non-members at 0).
    z = normalized_zeros(base) if zeros is None else zeros
    predicted = 0.01 * z["members"] / z["nonmembers"] if z["nonmembers"] > 0 else float("nan")
    out["low_fpr_ties"] = (
        f"The normalized loss's {tpr_n:.1%} is what a random pick among its tied zeros gives "
        f"(1% × {z['members']:.0%} / {z['nonmembers']:.0%} = {predicted:.1%}): correctness, not "
        f"per-sample confidence." if abs(predicted - tpr_n) < 0.001 else "")
    found, flagged = 1 - out["missed_members"], out["false_members"]
    out["confusion"] = (f"The {PRETTY[SCORES[0]].lower()} attack finds {found:.0%} of members and "
                        f"flags {flagged:.0%} of non-members")
    if abs(flagged - bt["test_accuracy"]) < 0.05:
        out["confusion"] += (f", close to the test accuracy ({bt['test_accuracy']:.0%}): the "
                             f"non-members it flags are largely those the model classifies "
                             f"correctly.")
    else:
        out["confusion"] += "."
    return out


def presentation(config_path: Path, presenter: str | None, date: str | None, r: dict) -> dict:
    """Title-slide lines: ``--presenter``/``--date``, else ``slides/deck.toml``, else the date
    of the results (when the last experiment finished)."""
    import tomllib

    settings_ = {}
    if config_path.is_file():
        try:
            settings_ = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise UserError(f"malformed TOML in {config_path}: {e}") from None
    unknown = set(settings_) - {"presenter", "date"}
    if unknown:
        raise UserError(f"unknown key {sorted(unknown)[0]!r} in {config_path} (known: presenter, date)")
    finished = max(e["manifest"].get("finished", "") for e in r.values())[:10]
    return {"presenter": presenter or settings_.get("presenter", ""),
            "date": date or settings_.get("date") or finished}


def _fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}"


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


def _thousands(n: int) -> str:
    return f"{int(n):,}"


def normalized_zeros(exp: dict) -> dict:
    """Shares of members and non-members whose normalized probability loss is exactly 0."""
    with np.load(exp["dir"] / "scores.npz", allow_pickle=False) as f:
        s, m = f["normalized_probability_loss"], f["is_member"]
    return {"members": float((s[m] == 0).mean()), "nonmembers": float((s[~m] == 0).mean())}


def context(results_root: Path, percentage: str = "16", presenter: str | None = None,
            date: str | None = None) -> dict:
    r = load_results(results_root)
    base = r["baseline"]
    p = representative_percentage(base, percentage)
    percentages = list(base["metrics"]["attack"]["results"][SCORES[0]])
    table = {s: [{"p": q, **{f"{m}_{e}": cell(r[e], s, q)["summary"][m]
                             for m in ("accuracy", "f1", "auc", "tpr_at_1pct_fpr")
                             for e in EXPERIMENTS}} for q in percentages] for s in SCORES}
    manifest = base["manifest"]
    zeros = normalized_zeros(base)
    return {
        "r": r, "p": p, "percentages": percentages, "scores": SCORES, "pretty": PRETTY,
        "formula": FORMULA, "table": table, "j": judgements(r, p, zeros),
        "manifest": manifest, "results_root": results_root,
        "train_config": manifest["config"]["train"],
        "attack_config": manifest["config"]["attack"],
        "data": manifest["data"],
        "commit": (manifest["git"].get("commit") or "unknown")[:10],
        "title": presentation(SLIDES / "deck.toml", presenter, date, r),
        "zeros": zeros,
        "cal": calibrated_judgements(r),
        "cal_table": calibrated_table(r) if "calibrated" in base else [],
        "refsize": reference_size(r),
        # Loss-sample slides: the probability loss ranks like cross-entropy, so its strip plot
        # repeats cross-entropy's (it stays in results/).
        "sample_scores": [s for s in SCORES if s != "probability_loss"],
    }


def render(results_root: Path, md_path: Path, image_root: Path | None = None,
           percentage: str = "16", presenter: str | None = None, date: str | None = None) -> Path:
    """Write the deck's Markdown to ``md_path``; images are linked relative to ``image_root``."""
    image_root = image_root or md_path.parent
    ctx = context(results_root, percentage, presenter, date)

    def img(path: str | Path) -> str:
        """Relative link from the deck to a file, which must exist."""
        target = Path(path)
        if not target.is_absolute():
            target = REPO / target
        if not target.is_file():
            raise UserError(f"the deck needs {target}, which does not exist")
        return os.path.relpath(target, image_root).replace(os.sep, "/")

    def fig(exp: str, name: str) -> str:
        return img(Path(ctx["r"][exp]["dir"]) / "figures" / name)

    env = Environment(loader=FileSystemLoader(SLIDES), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(fmt=_fmt, pct=_pct, thousands=_thousands)
    text = env.get_template("deck.md.j2").render(img=img, fig=fig, **ctx)
    write_text(md_path, text)
    return md_path


def marp_command() -> list[str]:
    exe = SLIDES / "node_modules" / ".bin" / "marp"
    if not exe.exists():
        raise UserError(f"Marp CLI not installed ({exe} missing): run `npm ci --prefix slides`")
    return [str(exe), "--theme-set", str(SLIDES / "theme.css"), "--allow-local-files", "--html"]


def find_chromium() -> str | None:
    for candidate in (os.environ.get("CHROME_PATH"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("google-chrome"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def build(md_path: Path, build_dir: Path, pdf: bool = True, log=print) -> dict:
    """Marp: ``md_path`` -> ``build_dir/deck.html`` (and ``deck.pdf`` when a Chromium exists)."""
    build_dir.mkdir(parents=True, exist_ok=True)
    outputs = {}
    html = build_dir / "deck.html"
    _run(marp_command() + [str(md_path), "-o", str(html)])
    outputs["html"] = html
    chromium = find_chromium()
    if not pdf:
        log("PDF skipped (--no-pdf)")
    elif chromium is None:
        log("PDF skipped: no Chromium found (install Debian's chromium or set CHROME_PATH)")
    else:
        out = build_dir / "deck.pdf"
        _run(marp_command() + ["--pdf", str(md_path), "-o", str(out)],
             env=dict(os.environ, CHROME_PATH=chromium))
        outputs["pdf"] = out
    return outputs


def _run(cmd: list[str], env: dict | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise UserError(f"marp failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")


OVERFLOW_JS = """
<script>
window.addEventListener('load', () => setTimeout(() => {
  const bad = [];
  const slides = Array.from(document.querySelectorAll('svg[data-marpit-svg]'));
  slides.forEach((svg, i) => {
    svg.querySelectorAll('section').forEach((s) => {
      const role = s.getAttribute('data-marpit-advanced-background');
      if (role === 'background' || role === 'pseudo') return;
      if (s.scrollHeight > s.clientHeight + 1 || s.scrollWidth > s.clientWidth + 1)
        bad.push({slide: i + 1, scrollHeight: s.scrollHeight, height: s.clientHeight,
                  scrollWidth: s.scrollWidth, width: s.clientWidth});
    });
  });
  const out = document.createElement('pre');
  out.id = 'overflow-report';
  out.textContent = JSON.stringify({slides: slides.length, overflow: bad});
  document.body.appendChild(out);
}, 500));
</script>
"""


def overflow_report(html: Path, chromium: str) -> dict:
    """Load the built HTML in headless Chromium and list slides whose content is cut off."""
    probe = html.with_name(".overflow-probe.html")
    probe.write_text(html.read_text(encoding="utf-8").replace("</body>", OVERFLOW_JS + "</body>"),
                     encoding="utf-8")
    try:
        with tempfile.TemporaryDirectory() as profile:
            proc = subprocess.run(
                [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--allow-file-access-from-files",
                 "--virtual-time-budget=5000", "--window-size=1280,720", "--dump-dom",
                 probe.as_uri()], capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink(missing_ok=True)
    match = re.search(r'<pre id="overflow-report">(.*?)</pre>', proc.stdout, re.S)
    if not match:
        raise RuntimeError(f"no overflow report from Chromium: {proc.stderr[-500:]}")
    return json.loads(html_mod.unescape(match.group(1)))


def main(quick: bool = False, results_dir: Path | None = None, pdf: bool = True,
         check_overflow: bool = True, out_dir: Path | None = None, presenter: str | None = None,
         date: str | None = None, log=print) -> dict:
    """``invoke slides``: render, draw the illustrations, check that every figure's text is
    readable, build, check for overflow."""
    t0 = time.perf_counter()
    default = REPO / "results" / "quick" if quick else REPO / "results"
    results_root = (results_dir or default).resolve()
    if out_dir is not None:
        md_path = out_dir / "deck.md"
        build_dir = out_dir
    elif quick or results_dir is not None and results_root != (REPO / "results").resolve():
        md_path = SLIDES / "build" / results_root.name / "deck.md"
        build_dir = md_path.parent
    else:
        md_path, build_dir = SLIDES / "deck.md", SLIDES / "build"
    load_results(results_root)  # fail early, before anything is written
    illustrations.draw_all(IMG)
    render(results_root, md_path, presenter=presenter, date=date)
    found = legibility.figures(md_path)
    small = legibility.too_small(found)
    if small:
        raise UserError(f"figure text too small on a {legibility.SLIDE[0]}x{legibility.SLIDE[1]} "
                        f"slide (minimum {legibility.MIN_TEXT_PX} px): "
                        + "; ".join(f"{f['image']} {f['text_px']:.1f} px" for f in small))
    log(f"readability check: {len(found)} figures, smallest text "
        f"{min((f['text_px'] for f in found), default=float('nan')):.1f} px")
    build_md = build_dir / "deck.md"
    if build_md != md_path:  # the built HTML lives in build/: links must be relative to it
        render(results_root, build_md, presenter=presenter, date=date)
    outputs = build(build_md, build_dir, pdf=pdf, log=log)
    if build_md != md_path:
        build_md.unlink()
    chromium = find_chromium()
    if check_overflow and chromium:
        rep = overflow_report(outputs["html"], chromium)
        outputs["slides"] = rep["slides"]
        if rep["overflow"]:
            raise UserError(f"content cut off on slides {[o['slide'] for o in rep['overflow']]}: "
                            f"{rep['overflow']}")
        log(f"overflow check: {rep['slides']} slides, none cut off")
    elif check_overflow:
        log("overflow check skipped: no Chromium found")
    outputs["markdown"] = md_path
    log(f"wrote {md_path}, " + ", ".join(str(outputs[k]) for k in ("html", "pdf") if k in outputs)
        + f" in {time.perf_counter() - t0:.1f} s")
    return outputs
