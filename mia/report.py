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
        f"Target: train accuracy {t['train_accuracy']:.2%}, test accuracy {t['test_accuracy']:.2%} "
        f"(original study: {t['reference']['train_accuracy']:.2%} / "
        f"{t['reference']['test_accuracy']:.2%}, {t['reference'].get('source', 'not cited')}).",
        f"Data: {metrics['data_notes'] or 'exact CIFAR-10 pixels'}.",
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


def calibrated_markdown(calibrated: dict, name: str) -> str:
    """``calibrated.md``: every attack on both protocols, with 95% bootstrap intervals."""
    lines = [f"# {name}: attacks with reference models", "",
             "Members are the positive class. Intervals: 95% bootstrap (members and non-members "
             "resampled separately). `best_balanced_accuracy` is at the best threshold on the "
             "evaluation set itself (an upper bound). TPR at an FPR is n/a when fewer than "
             "1/FPR non-members are evaluated. Rows: attack / variance / `flip` = test-time "
             "horizontal-flip augmentation.", ""]
    for key, proto in calibrated["protocols"].items():
        lines += [f"## {key}: {proto['description']}", "",
                  f"{proto['n_members']:,} members and {proto['n_nonmembers']:,} non-members evaluated.",
                  "", "| attack | " + " | ".join(CALIBRATED_METRICS) + " |",
                  "|---|" + "---:|" * len(CALIBRATED_METRICS)]
        for row_key, row in proto["rows"].items():
            if "not_computed" in row:
                lines.append(f"| {row_key} | not computed: {row['not_computed']} |" + " |" * (len(CALIBRATED_METRICS) - 1))
                continue
            lines.append(f"| {row_key} | " + " | ".join(_cell(row, m) for m in CALIBRATED_METRICS) + " |")
        st = proto["strongest"]
        if st.get("strongest"):
            lines += ["", f"Strongest at {st['metric']}: {st['strongest']} (its interval lies above every other's)."]
        elif st.get("top"):
            lines += ["", f"Highest {st['metric']}: {st['top']}, tied (overlapping intervals) with "
                          + ", ".join(st["tied_with_top"]) + "."]
        else:
            lines += ["", st.get("unresolved", "")]
        lines.append("")
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
