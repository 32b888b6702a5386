"""The printed table of a bench run, and the one-line summaries of the alternating rounds that
the table and docs/performance.md share."""
from __future__ import annotations

import json

from .executors import executors_line
from .synthetic import N_TRAIN


def paired_line(p: dict) -> str:
    if "error" in p:
        return f"paired rounds: failed: {p['error']}"
    return (f"paired rounds (reference, then single_b128, {p['rounds']} times): ratios "
            + ", ".join(f"{r:.2f}" for r in p["ratios"]) + f"; median {p['median_ratio']:.2f}x")


def bank_line(b: dict) -> str:
    if "error" in b:
        return f"bank rounds: failed: {b['error']}"
    med, ratio = b["median_samples_per_s"], b["median_ratio_to_anchor"]
    return (f"bank rounds ({b['models']} models on {b['models']} workers vs the anchor, "
            f"{b['rounds']} alternating rounds of {b['steps']} steps), median samples/s: "
            + ", ".join(f"{name} {v:,.0f}" for name, v in med.items())
            + "; median ratio to the anchor: "
            + ", ".join(f"{name} {v:.2f}x" for name, v in ratio.items()))


def table(report: dict) -> str:
    ref = report["variants"]["reference_dataloader_b64"]["samples_per_s"]
    lines = [f"{'variant (samples/s: all models)':<34} {'samples/s':>11} {'s per 50k':>10} "
             f"{'x reference':>12}"]
    for name, v in report["variants"].items():
        if "error" in v:
            lines.append(f"{name:<34} failed: {v['error']}")
            continue
        sps = v["samples_per_s"]
        lines.append(f"{name:<34} {sps:>11.0f} {N_TRAIN / sps:>10.2f} {sps / ref:>12.2f}")
    if "paired" in report:
        lines.append(paired_line(report["paired"]))
    if "bank_rounds" in report:
        lines.append(bank_line(report["bank_rounds"]))
    for key in ("scoring", "attack"):
        if "error" in report[key]:
            lines.append(f"{key}: failed: {report[key]['error']}")
            continue
        lines.append(f"{key}: {json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in report[key].items()})}")
    if "executors" in report:
        lines.append(executors_line(report["executors"]))
    if "contended" in report:
        c = report["contended"]
        lines.append(f"contended: project defaults (worker per core, passive) slowdown "
                     f"{c['project_default_slowdown']:.2f}x, PyTorch defaults (all cores, spin) "
                     f"slowdown {c['pytorch_default_slowdown']:.2f}x")
    if "full_gpu" in report:
        lines.append(f"full GPU runs: {report['full_gpu']}")
    if report.get("notes"):
        lines += [f"note: {n}" for n in report["notes"]]
    return "\n".join(lines)
