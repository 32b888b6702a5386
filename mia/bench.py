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
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .config import AttackConfig, ExperimentConfig, TrainConfig
from .datasets import CIFAR10
from .evaluation.threshold import attack_stage
from .io import read_json, write_json, write_text
from .manifest import environment, git_commit, now
from .parallel import available_cpus
from .scores import SCORES, compute
from .training.engine import (CpuWorkers, Step, cpu_workers, epoch_permutation, init_model,
                              make_step, predict_logits, resolve_device, run_epoch, to_tensor)
from .training.many_models import VMAP_MIN_MODELS, train_many

N_TRAIN, N_TEST = 50_000, 10_000


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device) -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def reference_runner(images, labels, device, batch_size: int = 64):
    """The field's usual loop: per-sample ToTensor + Normalize in a DataLoader, copy per batch.

    Returns ``(run, info)``; ``run(n)`` trains n steps on PyTorch's default thread count.
    """
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(CIFAR10.mean, CIFAR10.std)])

    class Images(Dataset):
        def __len__(self):
            return len(images)

        def __getitem__(self, i):
            return tf(images[i]), int(labels[i])

    workers = 2 if (os.cpu_count() or 1) > 4 else 0
    loader = DataLoader(Images(), batch_size=batch_size, shuffle=True, num_workers=workers,
                        pin_memory=device.type == "cuda", drop_last=True)
    # contiguous (NCHW) tensors, as users write it (the project's CPU default is channels-last)
    model, _ = init_model(TrainConfig(cpu_memory_format="contiguous"), 0, device)
    opt = torch.optim.Adam(model.parameters(), lr=TrainConfig().learning_rate)  # as users write it
    loss_fn = torch.nn.CrossEntropyLoss()

    def run(n):
        if device.type == "cpu":
            torch.set_num_threads(os.cpu_count() or 1)  # PyTorch's default, as users run it
        for i, (xb, yb) in enumerate(loader):
            if i == n:
                break
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            loss.item()  # the usual per-step logging sync
    return run, {"batch_size": batch_size, "dataloader_workers": workers}


def single_runner(x, y, device, batch_size: int, cuda_graph: bool | None = None,
                  workers: int | None = None, plain_threads: int | None = None):
    """The project's trainer (on CPU: ``workers`` threads, default all cores, over the config's
    shards); or, with ``plain_threads``, a plain full-batch step on that many PyTorch threads.

    Returns ``(run, info)``; ``run(n)`` trains n steps.
    """
    cfg = TrainConfig(batch_size=batch_size)
    graph = device.type == "cuda" if cuda_graph is None else cuda_graph
    model, opt = init_model(cfg, 0, device, capturable=graph)
    threads = 1
    if plain_threads:
        opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)  # PyTorch's defaults
        threads = plain_threads
        step, engine = Step(model, opt, x, y), {"engine": "plain", "torch_threads": plain_threads}
    else:
        pool = (CpuWorkers(workers) if workers else cpu_workers()) if device.type == "cpu" else None
        step = make_step(model, opt, x, y, batch_size, graph, cfg.cpu_shards, pool)
        engine = ({"engine": "cpu_sharded", "cpu_shards": cfg.cpu_shards, "cpu_workers": pool.n}
                  if pool else {"engine": "cuda_graph" if graph else "eager"})
    perm = epoch_permutation(0, 1, len(x), device)

    def run(n):
        if device.type == "cpu":
            torch.set_num_threads(threads)
        run_epoch(step, perm[: n * batch_size], batch_size)
    return run, {"batch_size": batch_size, **engine}


def measure(runner, device, steps: int, warmup: int = 5) -> dict:
    """samples/s of ``runner = (run, info)`` over ``steps`` steps after ``warmup`` steps."""
    run, info = runner
    run(warmup)
    seconds = timed(lambda: run(steps), device)
    return {**info, "steps": steps, "seconds": seconds,
            "samples_per_s": steps * info["batch_size"] / seconds}


def bench_reference(images, labels, device, steps: int, batch_size: int = 64) -> dict:
    return measure(reference_runner(images, labels, device, batch_size), device, steps)


def bench_single(x, y, device, steps: int, batch_size: int, **kwargs) -> dict:
    return measure(single_runner(x, y, device, batch_size, **kwargs), device, steps)


def with_cudnn_autotuner(fn, *args, **kwargs) -> dict:
    """``fn(*args, **kwargs)`` with cuDNN's autotuner on, then off again: at the first call
    for each input shape it times the convolution algorithms and keeps the fastest. A
    candidate for the CUDA engine's default, measured here before it becomes one."""
    old = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        return {**fn(*args, **kwargs), "cudnn_benchmark": True}
    finally:
        torch.backends.cudnn.benchmark = old


def bench_paired(images, labels, x, y, device, steps: int, rounds: int) -> dict:
    """The reference loop and the single-model trainer (batch 128), timed alternately.

    On a shared machine the speed drifts by a third between minutes; alternating short
    blocks exposes both to the same drift. The ratio reported is the median over rounds.
    """
    ref, ours = reference_runner(images, labels, device), single_runner(x, y, device, 128)
    rows = [(measure(ref, device, steps), measure(ours, device, steps)) for _ in range(rounds)]
    ratios = [o["samples_per_s"] / r["samples_per_s"] for r, o in rows]
    return {"rounds": rounds, "steps": steps,
            "reference_samples_per_s": [r["samples_per_s"] for r, _ in rows],
            "single_b128_samples_per_s": [o["samples_per_s"] for _, o in rows],
            "ratios": ratios, "median_ratio": float(np.median(ratios))}


def _anchor_process(steps: int, batch_size: int, seed: int, barrier, results) -> None:
    """One process of the anchor: a plain training loop on one PyTorch thread, contiguous
    (NCHW) tensors, Adam as users write it, on its own synthetic half-pool. Waits at
    ``barrier`` so that all processes time the same seconds."""
    torch.set_num_threads(1)
    images, labels = synthetic(N_TRAIN // 2, seed)
    x, y = to_tensor(images, torch.device("cpu"), CIFAR10), torch.from_numpy(labels)
    model, _ = init_model(TrainConfig(cpu_memory_format="contiguous"), seed, x.device)
    step = Step(model, torch.optim.Adam(model.parameters(), lr=TrainConfig().learning_rate), x, y)
    perm = epoch_permutation(seed, 1, len(x), x.device)
    run_epoch(step, perm[: 5 * batch_size], batch_size)  # warm-up
    barrier.wait()
    t0 = time.perf_counter()
    run_epoch(step, perm[: steps * batch_size], batch_size)
    results.put(time.perf_counter() - t0)


def bench_anchor(steps: int, batch_size: int = 128) -> dict:
    """The anchor of the engine-speed issue: one plain single-thread process per core, each
    training its own model, all at once; samples/s counts every process's samples."""
    import multiprocessing
    n = available_cpus()
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_anchor_process, args=(steps, batch_size, i, barrier, results))
             for i in range(n)]
    for p in procs:
        p.start()
    seconds = [results.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join()
    return {"processes": n, "batch_size": batch_size, "steps": steps, "seconds": max(seconds),
            "samples_per_s": n * steps * batch_size / max(seconds), "engine": "plain processes"}


def bench_bank_rounds(x, y, device, steps: int, rounds: int) -> dict:
    """The bank trainer (many-models loop, one model per worker) in channels-last and in
    contiguous layout, and the anchor (``bench_anchor``), timed alternately ``rounds`` times
    (the machine drifts between minutes); the ratios to the anchor are medians over rounds."""
    k = available_cpus()
    runs: dict[str, list[float]] = {"anchor_plain_processes": [], "bank_channels_last": [],
                                    "bank_contiguous": []}
    for _ in range(rounds):
        runs["anchor_plain_processes"].append(bench_anchor(steps)["samples_per_s"])
        for fmt in ("channels_last", "contiguous"):
            runs[f"bank_{fmt}"].append(
                bench_many(x, y, device, k, steps, "loop", memory_format=fmt)["samples_per_s"])
    anchor = np.array(runs["anchor_plain_processes"])
    return {"rounds": rounds, "steps": steps, "models": k, "samples_per_s": runs,
            "median_samples_per_s": {name: float(np.median(v)) for name, v in runs.items()},
            "median_ratio_to_anchor": {name: float(np.median(np.array(v) / anchor))
                                       for name, v in runs.items() if name != "anchor_plain_processes"}}


def bench_profile(x, y, steps: int = 40, top: int = 6) -> dict:
    """Where a CPU training step spends its time: ``torch.profiler`` over ``steps`` steps of
    one model on one thread (the bank trainer's unit of work, channels-last), the ``top``
    operators by self time, as shares of the total."""
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(1)
    cfg = TrainConfig()
    model, opt = init_model(cfg, 0, x.device)
    step = make_step(model, opt, x, y, cfg.batch_size, False, cfg.cpu_shards, CpuWorkers(1))
    perm = epoch_permutation(0, 1, len(x), x.device)
    run_epoch(step, perm[: 5 * cfg.batch_size], cfg.batch_size)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run_epoch(step, perm[: steps * cfg.batch_size], cfg.batch_size)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return {"steps": steps, "ms_per_step": total / 1000 / steps,
            "top_ops": [{"op": e.key, "share": e.self_cpu_time_total / total,
                         "ms_per_step": e.self_cpu_time_total / 1000 / steps} for e in events[:top]]}


def half_keep(k: int, n: int, seed: int = 0) -> torch.Tensor:
    """(k, n) keep-matrix: each model keeps its own random half of the pool (as in LiRA)."""
    g = torch.Generator().manual_seed(seed)
    keep = torch.zeros(k, n, dtype=torch.bool)
    for row in keep:
        row[torch.randperm(n, generator=g)[: n // 2]] = True
    return keep


def bench_many(x, y, device, k: int, steps: int, strategy: str, batch_size: int = 128,
               memory_format: str = TrainConfig.cpu_memory_format) -> dict:
    """K models, each on its own half of the pool; samples/s counts every model's samples."""
    keep = half_keep(k, len(x))
    cfg = TrainConfig(batch_size=batch_size, cpu_memory_format=memory_format)
    train_many(cfg, list(range(k)), keep, x, y, strategy=strategy, max_steps=3, progress=False)
    seconds = timed(lambda: train_many(cfg, list(range(k)), keep, x, y, strategy=strategy,
                                       max_steps=steps, progress=False), device)
    return {"k": k, "strategy": strategy, "batch_size": batch_size, "steps": steps,
            "seconds": seconds, "samples_per_s": k * steps * batch_size / seconds,
            "samples_per_s_per_model": steps * batch_size / seconds,
            **({"cpu_memory_format": memory_format} if device.type == "cpu" else {})}


def bench_scoring(x_all, y_all, device) -> dict:

    model, _ = init_model(TrainConfig(), 0, device)

    def run():
        compute(list(SCORES), predict_logits(model, x_all), y_all)
    run()
    seconds = timed(run, device)
    return {"samples": len(x_all), "seconds": seconds, "samples_per_s": len(x_all) / seconds}


def bench_attack(repeats: int) -> dict:
    """The study's attack stage (3 scores x 7 percentages) on synthetic member/non-member losses,
    on the pipeline's default worker processes (one per available core; their start-up
    included, as a run of the pipeline pays it) and on one."""

    rng = np.random.default_rng(0)
    is_member = np.r_[np.ones(N_TRAIN, bool), np.zeros(N_TEST, bool)]
    base = np.where(is_member, rng.gamma(1.0, 0.3, len(is_member)), rng.gamma(2.0, 0.6, len(is_member)))
    scores = {"cross_entropy": base, "probability_loss": -np.expm1(-base),
              "normalized_probability_loss": np.clip(base / base.max(), 0, 1), "is_member": is_member}
    cfg = ExperimentConfig(name="bench", attack=AttackConfig(repeats=repeats))
    workers = available_cpus()
    seconds = {}
    for n in dict.fromkeys((workers, 1)):  # once only on a one-core machine
        t0 = time.perf_counter()
        attack_stage(cfg, scores, progress=False, workers=n)
        seconds[n] = time.perf_counter() - t0
    fits = len(cfg.attack.scores) * len(cfg.attack.sampling_percentages) * repeats
    return {"repeats": repeats, "fits": fits, "workers": workers, "seconds": seconds[workers],
            "seconds_per_fit": seconds[workers] / fits, "seconds_1worker": seconds[1]}


def bench_full_gpu(x, y, device, epochs: int = 100) -> dict:
    """The GPU targets: one model x 100 epochs x 50k; 64 models x 100 epochs x 25k each.

    Each run trains ``epochs`` epochs and is scaled to 100 (epochs take equal time once the
    first has warmed up the kernels, which the warm-up steps before each timing do). The 64
    models run through every K-model strategy: vmap, and the grouped network in float32,
    with a CUDA graph, and in bfloat16 autocast with a graph."""
    scale = 100 / epochs
    cfg = TrainConfig(epochs=epochs, batch_size=128)
    model, opt = init_model(cfg, 0, device, capturable=True)
    step = make_step(model, opt, x, y, cfg.batch_size, True)

    def single():
        for epoch in range(1, cfg.epochs + 1):
            run_epoch(step, epoch_permutation(0, epoch, len(x), device), cfg.batch_size)
    out = {"epochs_timed": epochs, "scaled_to_epochs": 100,
           "single_100_epochs_s": timed(single, device) * scale}
    keep = half_keep(64, len(x))
    variants = {"vmap": dict(strategy="vmap"),
                "grouped_fp32": dict(strategy="grouped"),
                "grouped_fp32_graph": dict(strategy="grouped", cuda_graph=True),
                "grouped_bf16_graph": dict(strategy="grouped", cuda_graph=True, bf16=True)}
    for name, kw in variants.items():
        def run(kw=kw):
            train_many(cfg, list(range(64)), keep, x, y, max_steps=5, progress=False, **kw)  # warm-up
            return timed(lambda: train_many(cfg, list(range(64)), keep, x, y, progress=False, **kw),
                         device) * scale
        out[f"many_64_models_100_epochs_s_{name}"] = attempt(lambda: {"s": run()}).get("s")
    times = {k.rsplit("_s_", 1)[1]: v for k, v in out.items()
             if k.startswith("many_64_models_100_epochs_s_") and v is not None}
    out["many_64_fastest"] = min(times, key=times.get)
    out["many_64_models_100_epochs_s"] = times[out["many_64_fastest"]]
    # Agreement with the loop after 50 steps (float32 rounding; bf16 rounds far more)
    ref = train_many(cfg, list(range(4)), keep[:4], x, y, strategy="loop", max_steps=50, progress=False)
    for name, kw in variants.items():
        def error(kw=kw):
            got = train_many(cfg, list(range(4)), keep[:4], x, y, max_steps=50, progress=False, **kw)
            return {"e": max(float((g[n] - r[n]).norm() / r[n].norm()) for g, r in zip(got, ref) for n in r)}
        out[f"relative_error_vs_loop_50_steps_{name}"] = attempt(error).get("e")
    # The same in float64, where rounding cannot hide a wrong computation: 4 models, 50 steps
    # on a 2,560-image pool (float32 keep-matrix rows reused), every strategy vs the loop.
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        x64, y64, keep64 = x[:2560].double(), y[:2560], half_keep(4, 2560)
        ref64 = train_many(cfg, list(range(4)), keep64, x64, y64, strategy="loop", max_steps=50,
                           progress=False)
        for name, kw in variants.items():
            if kw.get("bf16"):
                continue  # bfloat16 rounds by design
            def error64(kw=kw):
                got = train_many(cfg, list(range(4)), keep64, x64, y64, max_steps=50, progress=False, **kw)
                return {"e": max(float((g[n] - r[n]).norm() / r[n].norm()) for g, r in zip(got, ref64) for n in r)}
            out[f"relative_error_vs_loop_50_steps_float64_{name}"] = attempt(error64).get("e")
    finally:
        torch.set_default_dtype(old)
    return out


def contended(args) -> dict:
    """The single-model trainer idle and while another process spins one core, each in a fresh
    process (OpenMP reads its wait policy at start-up): the project's defaults (a worker per
    core, one PyTorch thread each, passive waiting) against PyTorch's (a plain step on one
    PyTorch thread per core, spin-waiting)."""
    settings = {"project_default": ("PASSIVE", []),
                "pytorch_default": ("ACTIVE", ["--plain-threads", str(os.cpu_count() or 1)])}
    results = {}
    for name, (policy, extra) in settings.items():
        env = dict(os.environ, OMP_WAIT_POLICY=policy)
        for load in ("idle", "contended"):
            spinner = None
            if load == "contended":
                spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                proc = subprocess.run([sys.executable, "-m", "mia.bench", "--worker-single",
                                       "--steps", str(args.steps), "--device", "cpu", *extra],
                                      capture_output=True, text=True, env=env, timeout=1800)
            finally:
                if spinner:
                    spinner.kill()
            results[f"{name}_{load}"] = json.loads(proc.stdout.strip().splitlines()[-1])
        results[f"{name}_slowdown"] = (results[f"{name}_idle"]["samples_per_s"]
                                       / results[f"{name}_contended"]["samples_per_s"])
    return results


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


def attempt(fn, *args, **kwargs) -> dict:
    """Run one measurement; a failure is recorded in the report instead of ending the run."""
    try:
        return fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - the bench must report what it could measure
        return {"error": f"{type(e).__name__}: {e}"}


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
    ap.add_argument("--doc-only", action="store_true",
                    help="only regenerate docs/performance.md from results/bench/*.json")
    ap.add_argument("--worker-single", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--plain-threads", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.doc_only:
        print(f"wrote {write_doc(Path(__file__).resolve().parent.parent)}")
        return {}
    device = resolve_device(args.device)
    cpu = device.type == "cpu"
    args.steps = args.steps or (150 if cpu else 300)
    images, labels = synthetic(args.samples)
    x = to_tensor(images, device, CIFAR10)
    y = torch.from_numpy(labels).to(device)
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


def write_doc(repo: Path) -> Path:
    out = repo / "docs" / "performance.md"
    write_text(out, performance_doc(repo / "results" / "bench", repo / "results"))
    return out


TARGETS = """\
Targets (from the engine issue), checked against the numbers above:
- CPU, 2 cores: single-model trainer >= 2.5x the reference loop's samples/s; many-models path at
  K=16 at least as fast per model as the single-model trainer.
- CPU, 2 cores (engine-speed issue): the bank trainer (many-models loop) >= 1.5x the anchor, plain
  single-thread PyTorch processes with contiguous tensors, one per core (median of alternating
  rounds).
- Contended CPU: default settings within 2x of their idle speed while another process spins a core.
- GPU: one model, batch 128, 100 epochs of 50,000 images <= 10 s; 64 models x 100 epochs over
  25,000 images each <= 60 s.
"""

ENGINE = """## What the variants are

- `single_*`: the pipeline's trainer (`mia.train`). On CPU (`engine: cpu_sharded`) each batch is
  cut into `cpu_shards` shards (default 2) whose gradients run in parallel on worker threads
  (default one per core), each on one PyTorch thread, and are summed in shard order; fused
  Adam; glibc keeps freed buffers (`keep_freed_memory`). The weights do not depend on the
  worker count. On CUDA the whole step is replayed from a CUDA graph.
- `single_b128_1worker`: the same computation on one thread (same weights, one core).
- `plain_b128_all_threads`: a plain full-batch step on one PyTorch thread per core, PyTorch's
  own threading; its weights change with the thread count, and it is the setting that falls
  off the cliff in the contended run.
- `many_k*_loop`: K models, one per worker thread on CPU, one after another on CUDA;
  `many_k*_vmap`: K models stacked through `torch.func.vmap`; on the GPU targets also
  `grouped_*`: the K models as one network of grouped convolutions and batched matrix
  products (`many_models.GroupedLeNet5`), in float32, with the whole step in a CUDA graph,
  and under bfloat16 autocast. Each is compared with the loop after 50 steps, in float32 and
  in float64 (`relative_error_vs_loop_*`): float64 shows whether the computation is the
  same; in float32 the GPU's TF32 convolutions and Adam's division by small running
  magnitudes amplify rounding on random data, for the vmap path too.
- `bank rounds`: the many-models loop with one model per worker (how a reference bank is
  trained), in channels-last (the default, `cpu_memory_format`) and in contiguous layout,
  against the anchor: one plain training process per core, one PyTorch thread each,
  contiguous tensors, Adam with PyTorch's defaults, each on its own synthetic half-pool.
- `*_cudnn_autotune` (CUDA only): the same with cuDNN's autotuner on
  (`torch.backends.cudnn.benchmark`); a candidate for the CUDA default, not yet the default.
"""


def verdicts(r: dict) -> list[str]:
    """Each target of TARGETS that this bench file can check, met or not, from its numbers."""
    v, out = r["variants"], []

    def ok(flag: bool) -> str:
        return "met" if flag else "NOT met"
    if r["device"]["torch_device"] == "cpu":
        one, serial = v["single_b128"], v.get("single_b128_1worker", {})
        paired = r.get("paired", {})
        if "median_ratio" in paired:  # alternating rounds: the robust number
            out.append(f"single-model trainer >= 2.5x reference: {ok(paired['median_ratio'] >= 2.5)} "
                       f"(median of {paired['rounds']} alternating rounds {paired['median_ratio']:.2f}x, "
                       f"range {min(paired['ratios']):.2f}-{max(paired['ratios']):.2f}; in the table "
                       f"above {one['ratio_to_reference']:.2f}x with {one.get('cpu_workers', '?')} "
                       f"workers, {serial.get('ratio_to_reference', float('nan')):.2f}x with 1)")
        else:
            out.append(f"single-model trainer >= 2.5x reference: {ok(one['ratio_to_reference'] >= 2.5)} "
                       f"({one['ratio_to_reference']:.2f}x with {one.get('cpu_workers', '?')} workers, "
                       f"the default; {serial.get('ratio_to_reference', float('nan')):.2f}x with 1)")
        k16 = v.get("many_k16_loop")  # strategy auto on CPU
        if k16 and "error" not in k16:
            out.append(f"many models at K=16 (auto = loop) as fast per model as the single-model "
                       f"trainer, within 5% (run-to-run noise): "
                       f"{ok(k16['samples_per_s'] >= 0.95 * one['samples_per_s'])} "
                       f"({k16['samples_per_s']:,.0f} vs {one['samples_per_s']:,.0f} samples/s)")
        bank = r.get("bank_rounds", {})
        if "median_ratio_to_anchor" in bank:
            ratio = bank["median_ratio_to_anchor"]["bank_channels_last"]
            out.append(f"bank trainer >= 1.5x the anchor (plain single-thread processes, "
                       f"contiguous, one per core): {ok(ratio >= 1.5)} (median of "
                       f"{bank['rounds']} alternating rounds {ratio:.2f}x; contiguous layout "
                       f"{bank['median_ratio_to_anchor']['bank_contiguous']:.2f}x)")
        if "contended" in r:
            slow = r["contended"]["project_default_slowdown"]
            out.append(f"contended within 2x of idle: {ok(slow <= 2)} (idle / contended speed {slow:.2f})")
    elif "full_gpu" in r and "error" not in r["full_gpu"]:
        f = r["full_gpu"]
        out.append(f"one model x 100 epochs (batch 128, CUDA graph) <= 10 s: "
                   f"{ok(f['single_100_epochs_s'] <= 10)} "
                   f"({f['single_100_epochs_s']:.1f} s)")
        how = f.get("many_64_fastest", "vmap")
        scaled = (f" (timed over {f['epochs_timed']} epochs, scaled to 100)"
                  if f.get("epochs_timed", 100) != 100 else "")
        out.append(f"64 models x 100 epochs over 25,000 images each <= 60 s: "
                   f"{ok(f['many_64_models_100_epochs_s'] <= 60)} "
                   f"({f['many_64_models_100_epochs_s']:.1f} s, fastest strategy: {how}{scaled})")

    return out


def gpu_details(r: dict) -> list[str]:
    """Every K-model strategy's time for the 64-model target, and its agreement with the loop."""
    f = r.get("full_gpu", {})
    if "error" in f or not f:
        return []
    def num(v, fmt):
        return "failed" if v is None else format(v, fmt)
    lines = [f"- 64 models x 100 epochs, {k.rsplit('_s_', 1)[1]}: {num(f[k], '.1f')} s"
             for k in f if k.startswith("many_64_models_100_epochs_s_")]
    lines += [f"- weights after 50 steps vs the loop (max relative error over parameters), "
              f"{k.rsplit('_steps_', 1)[1].replace('float64_', '')}"
              f"{' in float64' if '_float64_' in k else ' in float32'}: {num(f[k], '.1e')}"
              for k in f if k.startswith("relative_error_vs_loop")]
    return lines + ([""] if lines else [])


def performance_doc(bench_dir: Path, results_root: Path) -> str:
    """docs/performance.md, generated from results/bench/*.json and the experiment manifests."""

    out = ["# Performance", "",
           "Generated by `invoke bench` from `results/bench/*.json` and `results/*/manifest.json`;",
           "do not edit by hand. Synthetic CIFAR-shaped data; ratios are to the reference loop",
           "(per-sample torchvision transforms through a `DataLoader`, batch 64) measured in the",
           "same run. Compare rows only within one machine.", ""]
    made = (read_json(bench_dir / "manifest.json")["files"]
            if (bench_dir / "manifest.json").exists() else {})
    for path in sorted(bench_dir.glob("*.json")):
        if path.name == "manifest.json":
            continue
        r = read_json(path)
        dev = r["device"]
        where = dev.get("gpu") or f"{dev['processor']} ({dev['cpu_count']} cores)"
        git = made.get(path.name, {}).get("git", {})
        code = (f", code at commit {git['commit'][:10]}" + (" with local changes" if git.get("code_dirty") else "")
                if git.get("commit") else "")
        out += [f"## `{path.name}`: {where}", "",
                f"torch {r['packages']['torch']}, {r['created']}{code}, {r['data']}.", "",
                "| variant | samples/s (all models) | s per 50,000 samples | x reference |",
                "|---|---:|---:|---:|"]
        for name, v in r["variants"].items():
            if "error" in v:
                out.append(f"| {name} | failed: {v['error']} | | |")
            else:
                out.append(f"| {name} | {v['samples_per_s']:,.0f} | {N_TRAIN / v['samples_per_s']:.2f} "
                           f"| {v['ratio_to_reference']:.2f} |")
        out.append("")
        if "paired" in r:
            out.append(f"- {paired_line(r['paired'])}")
        if "bank_rounds" in r:
            out.append(f"- {bank_line(r['bank_rounds'])}")
        if "top_ops" in r.get("profile", {}):
            pr = r["profile"]
            out.append(f"- where one model's CPU step goes (torch.profiler, one thread, channels-last, "
                       f"{pr['ms_per_step']:.1f} ms per step of 128): "
                       + ", ".join(f"{o['op']} {100 * o['share']:.0f}%" for o in pr["top_ops"]))
        if "error" not in r.get("scoring", {"error": 1}):
            out.append(f"- scoring pass, per-sample losses of {r['scoring']['samples']:,} images: "
                       f"{r['scoring']['seconds']:.2f} s")
        if "error" not in r.get("attack", {"error": 1}):
            a = r["attack"]
            line = (f"- attack stage (3 scores x 7 percentages x {a['repeats']} repeats = {a['fits']} "
                    f"KDE fits, CPU): {a['seconds']:.1f} s, {a['seconds_per_fit']:.2f} s per fit")
            if "seconds_1worker" in a:
                line += (f", on {a['workers']} worker processes ({a['seconds_1worker']:.1f} s on one,"
                         f" {a['seconds_1worker'] / a['seconds']:.2f}x)")
            out.append(line)
        if "contended" in r:
            c = r["contended"]
            out.append(f"- contended (another process spinning one core), training speed as a "
                       f"fraction of idle: the project's defaults (a worker per core, one PyTorch thread "
                       f"each, OMP_WAIT_POLICY=PASSIVE) "
                       f"{1 / c['project_default_slowdown']:.2f}; PyTorch's defaults (all cores, "
                       f"spin-waiting) {1 / c['pytorch_default_slowdown']:.2f}")
        out += [f"- {n}" for n in r.get("notes", [])] + [""]
        out += [f"- target: {t}" for t in verdicts(r)] + [""]
        out += gpu_details(r)
    out += [TARGETS, ENGINE, "## The study on this project's machines", ""]
    total, all_fresh = 0.0, True
    for manifest in sorted(results_root.glob("*/manifest.json")):
        if manifest.parent.name == "bench":
            continue
        m = read_json(manifest)
        w = m["wall_seconds"]
        parts = ", ".join(f"{k} {v['seconds']:.0f} s"
                          + (f" ({v['workers']} processes)" if v.get("workers") else "")
                          + (" (reused)" if v.get("reused") else "")
                          for k, v in w.items() if v.get("seconds") is not None)
        total += sum(v["seconds"] for v in w.values() if v.get("seconds") is not None)
        all_fresh &= not any(v.get("reused") for v in w.values())
        train = w.get("train", {})
        if "cpu_workers" in train:
            how = (f"trained on {train['device']}, {train['cpu_shards']} shards on "
                   f"{train['cpu_workers']} worker threads")
        elif "device" in train:
            how = f"trained on {train['device']} ({train.get('engine', 'see the manifest')})"
        else:
            how = "training conditions: see the manifest"
        out.append(f"- `{m['experiment']}` on {m['device']['processor']} ({how}), finished "
                   f"{m.get('finished', m.get('created'))}: {parts}")
    if total:
        out.append(f"- every experiment, all stages: {total / 60:.1f} min"
                   + ("" if all_fresh else " (some stages reused a cached result: see above)"))
    out.append("")
    return "\n".join(out)


def update_manifest(out: Path, report: dict) -> None:
    """results/bench/manifest.json: how each bench file in the folder was made."""

    path = out.parent / "manifest.json"
    manifest = read_json(path) if path.exists() else {"description": __doc__.splitlines()[0],
                                                      "files": {}}
    manifest["files"][out.name] = {
        "created": report["created"], "command": " ".join(sys.argv),
        "git": git_commit(Path(__file__).resolve().parent.parent),
        "packages": report["packages"], "device": report["device"], "data": report["data"],
    }
    write_json(path, manifest)


if __name__ == "__main__":
    main()
