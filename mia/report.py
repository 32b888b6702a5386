"""Tables and the manifest: ``summary.csv``, ``summary.md`` and ``manifest.json``."""
from __future__ import annotations

import csv
import io
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from .io import write_text

SUMMARY_METRICS = ("accuracy", "precision", "recall", "f1", "auc", "advantage",
                   "tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr", "best_accuracy", "threshold")
MARKDOWN_METRICS = ("accuracy", "f1", "auc", "tpr_at_1pct_fpr", "best_accuracy")
PACKAGES = ("torch", "torchvision", "numpy", "scipy", "scikit-learn", "matplotlib", "invoke",
            "tqdm", "jinja2")


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
        f"(reference study: {t['reference']['train_accuracy']:.2%} / "
        f"{t['reference']['test_accuracy']:.2%}).",
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
        cells = [f"{r[f'{m}_mean']:.4f} ± {r[f'{m}_std']:.4f}" for m in MARKDOWN_METRICS]
        lines.append(f"| {r['score']} | {r['sampling_percentage']:g} | " + " | ".join(cells) + " |")
    write_text(directory / "summary.md", "\n".join(lines) + "\n")


def git_commit(repo: Path) -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", "mia", "experiments",
                         "tasks.py", "pyproject.toml"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "code_dirty": None}
    return {"commit": commit or None, "code_dirty": dirty}


def environment(device) -> dict:
    import torch

    from .train import available_cpus

    versions = {"python": sys.version.split()[0]}
    for p in PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = None
    dev = {"torch_device": str(device), "platform": platform.platform(),
           "processor": _cpu_model(), "cpu_vector_flags": _cpu_vector_flags(),
           "cpu_count": os.cpu_count(),
           "torch_threads": torch.get_num_threads(), "cpus_available": available_cpus()}
    if device.type == "cuda":
        dev["gpu"] = torch.cuda.get_device_name(device)
    return {"packages": versions, "device": dev}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _cpu_vector_flags() -> list[str]:
    """The CPU's vector instruction sets (avx*, amx*, fma): PyTorch picks float32 kernels by
    them, so two CPUs with the same model name can round differently (README, the verdict)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return sorted(f for f in line.split(":", 1)[1].split()
                              if f.startswith(("avx", "amx", "fma")))
    except OSError:
        pass
    return []


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
