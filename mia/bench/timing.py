"""How a measurement is taken: wall-clock seconds with the device synchronized, samples/s of a
runner after warm-up steps, cuDNN's autotuner around one measurement, and a failure recorded
instead of ending the run."""
from __future__ import annotations

import time

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device) -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def measure(runner, device, steps: int, warmup: int = 5) -> dict:
    """samples/s of ``runner = (run, info)`` over ``steps`` steps after ``warmup`` steps."""
    run, info = runner
    run(warmup)
    seconds = timed(lambda: run(steps), device)
    return {**info, "steps": steps, "seconds": seconds,
            "samples_per_s": steps * info["batch_size"] / seconds}


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


def attempt(fn, *args, **kwargs) -> dict:
    """Run one measurement; a failure is recorded in the report instead of ending the run."""
    try:
        return fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - the bench must report what it could measure
        return {"error": f"{type(e).__name__}: {e}"}
