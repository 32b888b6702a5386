"""On paper: the wall time of a 256-reference study on N GPUs through ``--executor ray``, from
the per-model GPU times ``invoke bench --full`` measured (``full_gpu``), and what would limit it.
Nothing is timed here; every input is named in the text it writes."""
from __future__ import annotations

import math
from pathlib import Path

from ..pipeline.concurrent import MAX_CONCURRENT
from ..training.ray_executor import GPU_BATCH

DATASETS, DEFENCES, REFERENCES = 3, 5, 256
MODELS_PER_TASK = GPU_BATCH           # a GPU task's models, trained together (ray_executor.GPU_BATCH)
BENCH_IMAGES, BANK_IMAGES = 25_000, 30_000  # per model: the bench's, a CIFAR-10 bank's (half of 60,000)
DATA_BYTES = 60_000 * 32 * 32 * 3           # one dataset's uint8 images in the object store
GPUS = (1, 8, 64)


def estimate_lines(gpu_bench: dict, model_file: Path) -> list[str]:
    """The section's lines; none when the bench file has no 100-epoch GPU numbers (or the
    model file whose size it quotes is missing)."""
    f = gpu_bench.get("full_gpu", {})
    # what a GPU task runs: the many-models trainer's "auto" strategy on CUDA, vmap
    stacked = f.get("many_64_models_100_epochs_s_vmap")
    single = f.get("single_100_epochs_s")
    if not stacked or not single or not model_file.exists():
        return []
    gpu = gpu_bench["device"].get("gpu", "the GPU")
    banks = DATASETS * DEFENCES
    models = banks * (REFERENCES + 1)
    per_bank = math.ceil(REFERENCES / MODELS_PER_TASK)  # a task takes models of one bank
    tasks = banks * per_bank
    task_s = stacked * BANK_IMAGES / BENCH_IMAGES  # per task of 64 models, at 30,000 images each
    target_s = single  # a target: one model, 100 epochs of 50,000 images (the bench's single run)
    size = model_file.stat().st_size  # a committed LeNet-5 bank model
    most = MAX_CONCURRENT * per_bank  # GPUs the built study can keep busy at once
    out = ["## On paper: a 256-reference study on N GPUs", "",
           f"{DATASETS} datasets x {DEFENCES} defences: {banks} experiments, each a target and a "
           f"bank of {REFERENCES} references, {models:,} LeNet-5 models of 100 epochs "
           f"(CIFAR-sized images: an upper bound for MNIST's smaller ones). Through "
           f"`--executor ray` a target is one task on one GPU, and a bank {per_bank} tasks of "
           f"{MODELS_PER_TASK} models each ({tasks} bank tasks), sent when its target is done; "
           f"the {banks} experiments share no bank, so up to {MAX_CONCURRENT} run side by side "
           f"(`--side-by-side`, default {MAX_CONCURRENT}: `mia/pipeline/concurrent.py`). Measured on {gpu} (`full_gpu` "
           f"above): {MODELS_PER_TASK} models x 100 epochs over {BENCH_IMAGES:,} images each in "
           f"{stacked:.1f} s (float32, `vmap`, the strategy a task of {MODELS_PER_TASK} runs on "
           f"CUDA; the grouped network in bfloat16 took "
           f"{f.get('many_64_models_100_epochs_s', float('nan')):.1f} s), so {task_s:.0f} s per "
           f"task at a bank's {BANK_IMAGES:,} images; one model of 50,000 images alone in "
           f"{single:.1f} s, a target's task. The experiments being alike, they are counted in "
           f"waves of {MAX_CONCURRENT} that start and finish together: a wave's targets, then "
           f"its banks' tasks, in rounds over the GPUs.", "",
           f"| GPUs | training, by default ({MAX_CONCURRENT} experiments side by side) "
           f"| `--side-by-side {banks}` | banks as one model per task |",
           "|---:|---:|---:|---:|"]
    for n in GPUS:
        alone = (math.ceil(banks / n) * target_s
                 + math.ceil(banks * REFERENCES / n) * single * BANK_IMAGES / 50_000)
        out.append(f"| {n} | {_duration(_waves(n, banks, MAX_CONCURRENT, per_bank, target_s, task_s))} "
                   f"| {_duration(_waves(n, banks, banks, per_bank, target_s, task_s))} "
                   f"| {_duration(alone)} |")
    out += ["",
            f"- What limits it. First, the study's own concurrency: with {MAX_CONCURRENT} "
            f"experiments side by side (the default) at most {most} tasks run at once, so GPUs "
            f"beyond {most} stay idle (the middle column: `--side-by-side {banks}`; each "
            f"experiment holds its dataset's images in the command's memory, about "
            f"0.8 GB for CIFAR-10). Then the serial part on the command's machine, not counted "
            f"above and not measured on a GPU: each experiment's scores, its {REFERENCES} "
            f"references' logits and the attacks run there, {MAX_CONCURRENT} threads at a time. "
            f"Not the scheduler: {tasks + banks} tasks, the bank tasks of about "
            f"{task_s / 60:.0f} minutes, where Ray's scheduling cost per task is milliseconds "
            f"(Ray's documentation; not measured here); with one model per task "
            f"({banks * REFERENCES:,} tasks of seconds each) each task's fixed cost (the worker's "
            f"start and the data's deserialisation: `executors` above, on CPU) begins to count, "
            f"and one model leaves a GPU mostly idle (the last column, with every experiment side "
            f"by side). Not the data: {DATA_BYTES / 1e6:.0f} MB of images per dataset, sent once "
            f"to each node's object store (about {DATA_BYTES * 8 / 10e9:.1f} s at 10 Gbit/s). Not "
            f"the artifact store: every model ({size / 1e3:.0f} kB) returns to the command's "
            f"machine and is written there, {models * size / 1e9:.1f} GB in all, seconds of disk "
            f"and network.",
            f"- With every experiment side by side, beyond {tasks} GPUs nothing gains: a task "
            f"is the unit of work, and a bank's tasks wait for its target, so at most the "
            f"{tasks} bank tasks run at once.",
            "- Not measured: a real cluster's network, Ray's object store with "
            f"{DATASETS} datasets at once, and each task's GPU warm-up.",
            ""]
    return out


def _waves(gpus: int, experiments: int, side_by_side: int, tasks_per_bank: int, target_s: float,
           task_s: float) -> float:
    """Training wall time: waves of ``side_by_side`` experiments; in each, its targets in
    rounds over ``gpus``, then its banks' tasks in rounds."""
    total = 0.0
    for first in range(0, experiments, side_by_side):
        wave = min(side_by_side, experiments - first)
        total += (math.ceil(wave / gpus) * target_s
                  + math.ceil(wave * tasks_per_bank / gpus) * task_s)
    return total


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"
