"""``invoke bench``: training, scoring and attack throughput on synthetic CIFAR-shaped data.

Runs anywhere (synthetic data needs no download). Every variant is timed in the same run,
and its samples/s is reported as a ratio to the reference loop typical of the field: a
torchvision-style per-sample transform pipeline through a ``DataLoader`` at batch 64.

    python -m mia.bench [--device auto] [--out results/bench/NAME.json] [--contended] [--full]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import torch

from ..datasets import CIFAR10
from ..io import read_json, write_json
from ..locations import REPO
from ..manifest import environment, git_commit, now
from ..training.engine import resolve_device, to_tensor
from ..training.many_models import VMAP_MIN_MODELS
from .contended import contended
from .doc import write_doc
from .executors import BANKS, bench_executors
from .gpu_targets import bench_full_gpu
from .runners import (bench_attack, bench_bank_rounds, bench_many, bench_paired, bench_profile,
                      bench_reference, bench_scoring, bench_single)
from .synthetic import N_TEST, N_TRAIN, synthetic
from .tables import table
from .timing import attempt, with_cudnn_autotuner


REPO_ROOT = REPO


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per variant")
    ap.add_argument("--ks", default="4,16,64")
    ap.add_argument("--samples", type=int, default=N_TRAIN, help="synthetic training images")
    ap.add_argument("--attack-repeats", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5,
                    help="CPU: rounds of reference vs single-model trainer, timed alternately")
    ap.add_argument("--contended", action="store_true")
    ap.add_argument("--full", action="store_true", help="also the 100-epoch GPU targets")
    ap.add_argument("--target-epochs", type=int, default=100,
                    help="with --full: epochs actually timed, scaled to 100")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--ray-banks", default=BANKS,
                    help="banks timed through Ray and locally: MODELSxIMAGES, comma-separated")
    ap.add_argument("--executors-only", action="store_true",
                    help="only time the Ray executor against the local one, into --out's "
                         "existing report")
    ap.add_argument("--doc-only", action="store_true",
                    help="only regenerate docs/performance.md from results/bench/*.json")
    ap.add_argument("--worker-single", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--plain-threads", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.doc_only:
        print(f"wrote {write_doc(REPO_ROOT)}")
        return {}
    device = resolve_device(args.device)
    cpu = device.type == "cpu"
    args.steps = args.steps or (150 if cpu else 300)
    images, labels = synthetic(args.samples)
    x = to_tensor(images, device, CIFAR10)
    y = torch.from_numpy(labels).to(device)
    if args.executors_only:
        report = read_json(args.out)
        report["executors"] = _executors(device, args.ray_banks)
        print(table(report))
        write_json(args.out, report)
        update_manifest(args.out, report)
        return report
    if args.worker_single:
        print(json.dumps(bench_single(x, y, device, args.steps, 128,
                                      plain_threads=args.plain_threads)))
        return {}

    report = {"created": now(), "machine": platform.node(), **environment(device),
              "data": f"synthetic, {args.samples:,} CIFAR-shaped uint8 images", "variants": {},
              "notes": []}
    v = report["variants"]
    v["reference_dataloader_b64"] = bench_reference(images, labels, device, args.steps)
    v["single_b64"] = attempt(bench_single, x, y, device, args.steps, 64)
    v["single_b128"] = attempt(bench_single, x, y, device, args.steps, 128)
    if not cpu:
        v["single_b128_eager"] = attempt(bench_single, x, y, device, args.steps, 128, cuda_graph=False)
        v["single_b128_cudnn_autotune"] = attempt(with_cudnn_autotuner, bench_single, x, y, device,
                                                  args.steps, 128)
    else:
        v["single_b128_1worker"] = attempt(bench_single, x, y, device, args.steps, 128, workers=1)
        v["plain_b128_all_threads"] = attempt(bench_single, x, y, device, args.steps, 128,
                                              plain_threads=os.cpu_count())
    many_steps = max(5, args.steps // 4) if cpu else args.steps // 2
    for k in (int(s) for s in args.ks.split(",")):
        v[f"many_k{k}_vmap"] = attempt(bench_many, x, y, device, k, many_steps, "vmap")
        v[f"many_k{k}_loop"] = attempt(bench_many, x, y, device, k, many_steps, "loop")
        if not cpu and k == 64:
            v["many_k64_vmap_cudnn_autotune"] = attempt(with_cudnn_autotuner, bench_many, x, y,
                                                        device, k, many_steps, "vmap")
    ratios = {k: v[f"many_k{k}_vmap"]["samples_per_s"] / v[f"many_k{k}_loop"]["samples_per_s"]
              for k in (int(s) for s in args.ks.split(","))
              if "error" not in v[f"many_k{k}_vmap"] and "error" not in v[f"many_k{k}_loop"]}
    report["vmap_over_loop"] = ratios
    report["notes"].append(
        f"{device.type}: per-model speed of vmap / loop: "
        + ", ".join(f"K={k}: {r:.2f}x" for k, r in ratios.items())
        + f"; strategy 'auto' uses {'loop' if cpu else f'vmap from K={VMAP_MIN_MODELS}, else loop'}"
          f" on {device.type}")
    x_all = torch.cat([x, to_tensor(synthetic(N_TEST, 1)[0], device, CIFAR10)])
    y_all = torch.cat([y, torch.from_numpy(synthetic(N_TEST, 1)[1]).to(device)])
    if cpu and args.rounds > 0:
        report["paired"] = attempt(bench_paired, images, labels, x, y, device, args.steps, args.rounds)
        report["bank_rounds"] = attempt(bench_bank_rounds, x, y, device, args.steps, args.rounds)
        report["profile"] = attempt(bench_profile, x, y)
    report["scoring"] = attempt(bench_scoring, x_all, y_all, device)
    report["attack"] = attempt(bench_attack, args.attack_repeats)
    report["executors"] = _executors(device, args.ray_banks)
    if args.contended:
        report["contended"] = contended(args)
    if args.full and not cpu:
        report["full_gpu"] = attempt(bench_full_gpu, x, y, device, args.target_epochs)
    ref = v["reference_dataloader_b64"]["samples_per_s"]
    for r in (r for r in v.values() if "error" not in r):
        r["ratio_to_reference"] = r["samples_per_s"] / ref
        if "samples_per_s_per_model" in r:
            r["per_model_ratio_to_reference"] = r["samples_per_s_per_model"] / ref
    print(table(report))
    if args.out:
        write_json(args.out, report)
        update_manifest(args.out, report)
        print(f"wrote {args.out}")
    return report


def _executors(device, banks: str) -> dict:
    """``bench_executors``, or why not (Ray is an extra: `make cluster`)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return {"error": "Ray is not installed (make cluster)"}
    return {"created": now(), **attempt(bench_executors, device, banks)}


def update_manifest(out: Path, report: dict) -> None:
    """results/bench/manifest.json: how each bench file in the folder was made."""

    path = out.parent / "manifest.json"
    manifest = read_json(path) if path.exists() else {"description": __doc__.splitlines()[0],
                                                      "files": {}}
    manifest["files"][out.name] = {
        "created": report["created"], "command": " ".join(sys.argv),
        "git": git_commit(REPO_ROOT),
        "packages": report["packages"], "device": report["device"], "data": report["data"],
    }
    write_json(path, manifest)
