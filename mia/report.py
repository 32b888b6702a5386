"""The summary tables of an experiment: ``summary.csv`` and ``summary.md`` (the manifest is
``manifest.py``)."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from .io import write_text

SUMMARY_METRICS = ("accuracy", "precision", "recall", "f1", "auc", "advantage",
                   "tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr", "best_accuracy", "threshold")
MARKDOWN_METRICS = ("accuracy", "f1", "auc", "tpr_at_1pct_fpr", "best_accuracy")


def summary_rows(metrics: dict) -> list[dict]:
    """One row per (score, sampling percentage) with mean and std of each metric."""
    rows = []
    for score, by_p in metrics["attack"]["results"].items():
        for key, res in by_p.items():
            row = {"score": score, "sampling_percentage": res["sampling_percentage"],
                   "n_attacker_members": res["n_attacker_members"],
                   "n_attacker_nonmembers": res["n_attacker_nonmembers"],
                   "n_eval_per_class": res["n_eval_per_class"]}
            for m in SUMMARY_METRICS:
                row[f"{m}_mean"] = res["summary"][m]["mean"]
                row[f"{m}_std"] = res["summary"][m]["std"]
            rows.append(row)
    return rows


def write_summary(metrics: dict, directory: Path) -> None:
    rows = summary_rows(metrics)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(directory / "summary.csv", buf.getvalue())

    t = metrics["target"]
    lines = [
        f"# {metrics['experiment']}: {metrics['description']}",
        "",
        f"Target: train accuracy {t['train_accuracy']:.2%}, test accuracy {t['test_accuracy']:.2%}"
        + (f" (original study: {t['reference']['train_accuracy']:.2%} / "
           f"{t['reference']['test_accuracy']:.2%}, {t['reference'].get('source', 'not cited')})."
           if "reference" in t else " (the original study published no accuracy)."),
        f"Data: {metrics['data_notes'] or 'exact original pixels'}.",
        "",
        f"Attack `{metrics['attack']['name']}`, members are the positive class, balanced "
        f"evaluation, mean ± std over {metrics['attack']['repeats']} repeats.",
        "`best_accuracy` is the best threshold's accuracy on the evaluation set (an oracle).",
        "",
        "| score | p (%) | " + " | ".join(MARKDOWN_METRICS) + " |",
        "|---|---:|" + "---:|" * len(MARKDOWN_METRICS),
    ]
    for r in rows:
        cells = [f"{r[f'{m}_mean']:.4f} ± {r[f'{m}_std']:.4f}" if r[f"{m}_mean"] is not None
                 else "n/a (too few non-members)" for m in MARKDOWN_METRICS]
        lines.append(f"| {r['score']} | {r['sampling_percentage']:g} | " + " | ".join(cells) + " |")
    gap = metrics["attack"].get("gap")
    if gap:  # the reference every loss threshold is read against, on the same samples
        lines += ["", "Reference: the gap attack (member if and only if the target classifies the "
                      "sample correctly) needs no attacker samples. Its balanced accuracy on each "
                      "repeat's evaluation set, mean ± std over repeats:", "",
                  "| p (%) | gap attack accuracy |", "|---:|---:|"]
        lines += [f"| {p} | {v['accuracy']['mean']:.4f} ± {v['accuracy']['std']:.4f} |"
                  for p, v in gap.items()]
    write_text(directory / "summary.md", "\n".join(lines) + "\n")


CALIBRATED_METRICS = ("auc", "best_balanced_accuracy", "tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr",
                      "tpr_at_0.01pct_fpr", "members_at_zero_fp")


def _cell(row: dict, m: str) -> str:
    v = row.get(m)
    if v is None:
        return "n/a"
    if m == "members_at_zero_fp":
        return str(v)
    ci = row.get("ci95", {}).get(m)
    pct = m.startswith("tpr")
    fmt = (lambda x: f"{100 * x:.3g}%") if pct else (lambda x: f"{x:.4f}")
    return fmt(v) + (f" [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else "")


def _rows_table(rows: dict) -> list[str]:
    lines = ["| attack | " + " | ".join(CALIBRATED_METRICS) + " | OUT references (mean / min) |",
             "|---|" + "---:|" * (len(CALIBRATED_METRICS) + 1)]
    for row_key, row in rows.items():
        if "not_computed" in row:
            lines.append(f"| {row_key} | not computed: {row['not_computed']} |"
                         + " |" * len(CALIBRATED_METRICS))
            continue
        out = row.get("out_references")
        lines.append(f"| {row_key} | " + " | ".join(_cell(row, m) for m in CALIBRATED_METRICS)
                     + (f" | {out['mean']:g} / {out['min']} |" if out else " | |"))
    return lines


def _difference(v: float, metric: str) -> str:
    return f"{100 * v:+.3g} pp" if metric.startswith("tpr") else f"{v:+.4f}"


def _strongest_lines(strongest: dict) -> list[str]:
    """Per metric: the verdict, then every paired difference with the top row."""
    lines = []
    for metric, st in strongest.items():
        if not st.get("top") or not st.get("comparisons"):
            lines += [f"**{metric}**: {st.get('unresolved', 'no comparison')}.", ""]
            continue
        verdict = (f"strongest: {st['strongest']}" if st["strongest"] else
                   f"highest: {st['top']}, tied with " + ", ".join(st["tied_with_top"]))
        lines += [f"**{metric}**: {verdict}. Policy: {st['policy']}.", "",
                  f"| {st['top']} minus | difference [95% CI] | p | p (Holm) |", "|---|---:|---:|---:|"]
        for name, c in sorted(st["comparisons"].items(), key=lambda kv: kv[1]["p_holm"]):
            lo, hi = c["ci95"]
            lines.append(f"| {name} | {_difference(c['difference'], metric)} "
                         f"[{_difference(lo, metric)}, {_difference(hi, metric)}] | "
                         f"{c['p']:.3g} | {c['p_holm']:.3g} |")
        lines.append("")
    return lines


def _power_lines(power: dict) -> list[str]:
    lines = ["### attack power against the number of references", "",
             "At each size: distinct subsets of whole rounds of the bank (every one where there "
             "are few); mean over subsets [95% interval of that mean from resampling the "
             "samples, subsets held fixed] (min to max over subsets). Cost: the subset's "
             "reference models' training seconds (bank.json), mean over subsets. a: RMIA "
             "offline's a, tuned for AUC on the references of each subset.", "",
             "| references | attack | subsets | TPR@0.1% FPR | AUC | training seconds | a |",
             "|---:|---|---:|---:|---:|---:|---|"]

    def cell(v: dict, f) -> str:
        """mean [interval] (min to max), each written by ``f``."""
        if v.get("mean") is None:
            return "n/a"
        return f"{f(v['mean'])} [{f(v['ci95'][0])}, {f(v['ci95'][1])}] ({f(v['min'])} to {f(v['max'])})"

    def percent(x: float) -> str:
        return f"{100 * x:.3g}%"

    def four(x: float) -> str:
        return f"{x:.4f}"
    for size in sorted(power, key=int):
        for row, v in power[size].items():
            seconds = v.get("training_seconds")
            a = ", ".join(f"{x:g}" for x in v["a"]) if v.get("a") else ""
            lines.append(f"| {size} | {row} | {v['subsets']} | {cell(v['tpr_at_0.1pct_fpr'], percent)} | "
                         f"{cell(v['auc'], four)} | "
                         f"{'' if seconds is None else f'{seconds:,.0f}'} | {a} |")
    return lines + [""]


def _power_test_lines(tests: dict) -> list[str]:
    """The power curve's paired comparisons: steps between sizes, tuned minus fixed a."""
    lines = ["### paired comparisons on the power curve", "", tests["description"] + ".", "",
             "| row | metric | comparison | difference [95% CI] | p | p (Holm) |",
             "|---|---|---|---:|---:|---:|"]
    for kind, label in (("steps", "{} references minus {}"), ("tuned_minus_fixed", "a tuned minus fixed, {} references")):
        for row, by_metric in tests.get(kind, {}).items():
            for metric, comparisons in by_metric.items():
                for what, c in comparisons.items():
                    lo, hi = c["ci95"]
                    where = label.format(*what.split("-"))  # steps "4-2"; tuned minus fixed "2"
                    lines.append(f"| {row} | {metric} | {where} | {_difference(c['difference'], metric)} "
                                 f"[{_difference(lo, metric)}, {_difference(hi, metric)}] | "
                                 f"{c['p']:.3g} | {c['p_holm']:.3g} |")
    return lines + [""]


def calibrated_markdown(calibrated: dict, name: str) -> str:
    """``calibrated.md``: every attack on both protocols, with 95% bootstrap intervals, which
    attack is strongest by paired differences, the power curve and the matched leave-one-out."""
    lines = [f"# {name}: attacks with reference models", "",
             "Members are the positive class. Intervals: 95% percentile bootstrap, every row of a "
             "protocol on the same resamples (study: members and non-members resampled "
             "separately; leave-one-out: whole images, each with its rows under every target). "
             "`best_balanced_accuracy` is at the best threshold on the evaluation set itself (an "
             "upper bound). TPR at an FPR is n/a when fewer than 1/FPR non-members are evaluated. "
             "Rows: attack / variance (LiRA) or a (RMIA offline) / `flip` = test-time "
             "horizontal-flip augmentation. pp: percentage points.", ""]
    for key, proto in calibrated["protocols"].items():
        lines += [f"## {key}: {proto['description']}", "",
                  f"{proto['n_members']:,} members and {proto['n_nonmembers']:,} non-members "
                  f"evaluated; resampled: {proto.get('resampled', 'members and non-members separately')}.",
                  ""]
        lines += _rows_table(proto["rows"])
        decided = {k: r for k, r in proto["rows"].items() if "at_decision" in r}
        if decided:
            lines += ["", f"### the attack models' own decisions (member when P(IN) > "
                          f"{proto.get('decision_threshold', 0.5)})", "",
                      "| attack | accuracy | precision | recall | F1 | fit and score (s) |",
                      "|---|---:|---:|---:|---:|---:|"]
            lines += [f"| {k} | {r['at_decision']['accuracy']:.2%} | "
                      f"{r['at_decision']['precision']:.3f} | {r['at_decision']['recall']:.3f} | "
                      f"{r['at_decision']['f1']:.3f} | {r.get('attack_seconds', float('nan')):.1f} |"
                      for k, r in decided.items()]
        lines += ["", "### which attack is strongest", ""]
        lines += _strongest_lines(proto["strongest"])
        if proto.get("power_vs_references"):
            lines += _power_lines(proto["power_vs_references"])
        if proto.get("power_comparisons"):
            lines += _power_test_lines(proto["power_comparisons"])
        for count, matched in proto.get("matched", {}).items():
            lines += [f"### leave-one-out with {count} references per target", "",
                      f"{matched['description']} ({', '.join(map(str, matched['subsets_per_target']))} "
                      f"per target); {matched['n_members']:,} member rows and "
                      f"{matched['n_nonmembers']:,} non-member rows of {matched['n_images']:,} images.", ""]
            lines += _rows_table(matched["rows"]) + [""] + _strongest_lines(matched["strongest"])
        if "leak_check" in proto:
            leak = proto["leak_check"]
            lines += ["### leak check", "", leak["description"] + ".", "",
                      "| score / target's round | auc | tpr_at_0.1pct_fpr |", "|---|---:|---:|"]
            lines += [f"| {k} | {_cell(v, 'auc')} | {_cell(v, 'tpr_at_0.1pct_fpr')} |"
                      for k, v in leak["rows"].items()]
            lines.append("")
    for key, why in calibrated.get("not_computed", {}).items():
        lines += [f"## {key}: not computed", "", why + ".", ""]
    return "\n".join(lines)
