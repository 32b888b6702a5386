"""The GPU targets (``--full``): one model x 100 epochs x 50k images, and 64 models x 100 epochs
x 25k images each through every K-model strategy, with each strategy's agreement with the loop
in float32 and float64."""
from __future__ import annotations

import torch

from ..config import TrainConfig
from ..training.engine import epoch_permutation, init_model, make_step, run_epoch
from ..training.many_models import train_many
from .synthetic import half_keep
from .timing import attempt, timed


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
