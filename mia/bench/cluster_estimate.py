"""On paper: the wall time of a 256-reference study on N GPUs through ``--executor ray``, from
the per-model GPU times ``invoke bench --full`` measured (``full_gpu``), and what would limit it.
Nothing is timed here; every input is named in the text it writes."""
from __future__ import annotations

import math
from pathlib import Path

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
    tasks = banks * math.ceil(REFERENCES / MODELS_PER_TASK)  # a task takes models of one bank
    task_s = stacked * BANK_IMAGES / BENCH_IMAGES  # per task of 64 models, at 30,000 images each
    target_s = single  # a target: one model, 100 epochs of 50,000 images (the bench's single run)
    size = model_file.stat().st_size  # a committed LeNet-5 bank model
    out = ["## On paper: a 256-reference study on N GPUs", "",
           f"{DATASETS} datasets x {DEFENCES} defences: {banks} banks of {REFERENCES} references "
           f"and {banks} targets, {models:,} LeNet-5 models of 100 epochs (CIFAR-sized images: an "
           f"upper bound for MNIST's smaller ones). Through `--executor ray` each bank goes out as "
           f"tasks of {MODELS_PER_TASK} models on one GPU ({tasks} tasks); the targets train on "
           f"the command's machine, one after another (they are not sent to Ray yet). Measured "
           f"on {gpu} (`full_gpu` above): {MODELS_PER_TASK} models x 100 epochs over "
           f"{BENCH_IMAGES:,} images each in {stacked:.1f} s (float32, `vmap`, the strategy a "
           f"task of {MODELS_PER_TASK} runs on CUDA; the grouped network in bfloat16 took "
           f"{f.get('many_64_models_100_epochs_s', float('nan')):.1f} s), so {task_s:.0f} s per "
           f"task at a bank's {BANK_IMAGES:,} images; one model of 50,000 images alone in "
           f"{single:.1f} s, so the {banks} targets {_duration(banks * target_s)} on one GPU.", "",
           "| GPUs | rounds of bank tasks | banks' training | with the targets on the command's GPU "
           "| banks as one model per task |",
           "|---:|---:|---:|---:|---:|"]
    for n in GPUS:
        rounds = math.ceil(tasks / n)
        alone = math.ceil(banks * REFERENCES / n) * single * BANK_IMAGES / 50_000
        out.append(f"| {n} | {rounds} | {_duration(rounds * task_s)} | "
                   f"{_duration(rounds * task_s + banks * target_s)} | {_duration(alone)} |")
    out += ["",
            f"- What would limit it. Not the scheduler: {tasks} tasks of about "
            f"{task_s / 60:.0f} minutes, where Ray's scheduling cost per task is milliseconds "
            f"(Ray's documentation; not measured here); with one model per task "
            f"({banks * REFERENCES:,} tasks of seconds each) each task's fixed cost (the worker's "
            f"start and the data's deserialisation: `executors` above, on CPU) begins to count, "
            f"and one model leaves a GPU mostly idle (the last column). Not the data: "
            f"{DATA_BYTES / 1e6:.0f} MB of images per dataset, sent once to each node's object "
            f"store (about {DATA_BYTES * 8 / 10e9:.1f} s at 10 Gbit/s). The artifact store, "
            f"partly: every model ({size / 1e3:.0f} kB) returns to the command's machine and is "
            f"written there, {models * size / 1e9:.1f} GB in all, seconds of disk and network; "
            f"but that machine then computes every bank's logits and the attacks, and trains the "
            f"targets, one experiment after another. That serial part is the floor once N is "
            f"large{_crossover(tasks, task_s, banks * target_s)}.",
            f"- Beyond {tasks} GPUs the banks gain nothing: a task is the unit of work, and the "
            f"rounds are whole ({tasks} tasks on 8 GPUs leave the last round partly idle).",
            "- Not measured: a real cluster's network, Ray's object store with "
            f"{DATASETS} datasets at once, and each task's GPU warm-up.",
            ""]
    return out


def _crossover(tasks: int, task_s: float, targets_s: float) -> str:
    """Where in GPUS the targets, trained on one machine, start to take longer than the banks."""
    for n in GPUS:
        if math.ceil(tasks / n) * task_s < targets_s:
            return f": on {n} GPUs the targets alone take longer than the banks"
    return ""


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"
