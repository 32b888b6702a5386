"""What is timed: the reference loop typical of the field, the project's single-model trainer,
the many-models trainer (one strategy at a time; the bank trainer against the anchor of plain
single-thread processes), where a CPU step spends its time, the scoring pass and the attack
stage. Each ``bench_*`` returns a dict of the report."""
from __future__ import annotations

import os
import time

import numpy as np
import torch

from ..config import AttackConfig, ExperimentConfig, TrainConfig
from ..datasets import CIFAR10
from ..evaluation.threshold import attack_stage
from ..parallel import available_cpus
from ..scores import SCORES, compute
from ..training.engine import (CpuWorkers, Step, cpu_workers, epoch_permutation, init_model,
                               make_step, predict_logits, run_epoch, to_tensor)
from ..training.many_models import train_many
from .synthetic import N_TEST, N_TRAIN, half_keep, synthetic
from .timing import measure, timed


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


def bench_reference(images, labels, device, steps: int, batch_size: int = 64) -> dict:
    return measure(reference_runner(images, labels, device, batch_size), device, steps)


def bench_single(x, y, device, steps: int, batch_size: int, **kwargs) -> dict:
    return measure(single_runner(x, y, device, batch_size, **kwargs), device, steps)


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
