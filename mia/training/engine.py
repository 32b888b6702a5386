"""Train the target model: the whole dataset as one tensor, seeded permutation batches.

The training set lives on the device as one normalised float tensor; each epoch draws a
permutation from a generator seeded by (seed, epoch), so the batch order of epoch e does
not depend on how many epochs ran before it in this process. Together with checkpoints
that hold the model, the optimizer and the RNG state, an interrupted run resumes and ends
with exactly the weights of an uninterrupted one (on CPU).

Per-epoch metrics are accumulated on the device and read once per epoch (no host
synchronisation inside the step loop).

Engines: on CUDA the whole step is replayed from a CUDA graph (``GraphedStep``). On CPU the
batch is cut into ``cpu_shards`` fixed shards whose gradients are computed in parallel, one
per worker thread, each with a single PyTorch thread, and summed in a fixed order
(``ShardedStep``); the weights therefore depend on the shard count and never on how many
cores did the work. Worker threads wait passively, so a busy machine slows training down
but never stalls it (``invoke bench --contended``).
"""
from __future__ import annotations

import contextlib
import copy
import math
import os
import signal
import threading
import time
from itertools import repeat
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..architectures import CIFAR_SHAPE, build
from ..architectures.base import SeededDropout, dropout_masks_from
from ..config import TrainConfig
from ..datasets.base import DatasetSpec
from ..errors import UserError
from ..io import atomic_path
from ..parallel import available_cpus  # noqa: F401 (engine API: the pipeline reads it here)
from ..recipes import get as recipe_of
from ..recipes.adam import epoch_permutation  # noqa: F401  (the engine's callers use it)
from .cpu import SERIAL, CpuWorkers, configure_cpu, cpu_workers, keep_freed_memory  # noqa: F401  (the engine's API)

CHECKPOINT = "checkpoint.pt"
# A stream of the training seed of its own: the dropout masks of the sharded CPU step.
MASK_STREAM = 0xD809
# Test hook: ``MIA_FAULT_AT=batch:E:B`` kills the process (SIGKILL) after batch B of epoch E,
# ``MIA_FAULT_AT=checkpoint:E`` while epoch E's checkpoint is being written (the temporary
# file written, not yet renamed). The fault tests use it to interrupt training at an exact
# step; it is read once, at import, and does nothing when unset.
FAULT_AT = tuple(os.environ.get("MIA_FAULT_AT", "").split(":")) if os.environ.get("MIA_FAULT_AT") else ()


def _fault(*where) -> None:
    if FAULT_AT and FAULT_AT == tuple(str(w) for w in where):
        os.kill(os.getpid(), signal.SIGKILL)


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise UserError(f"unknown device {device!r} (use auto, cpu or cuda)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r} requested but CUDA is not available")
    return torch.device(device)


def to_tensor(images: np.ndarray, device: torch.device, spec: DatasetSpec) -> torch.Tensor:
    """uint8 (N,H,W,C) HWC -> float32 (N,C,H,W), normalised per channel with the dataset's
    statistics: (x/255 - mean)/std."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    x = x.permute(0, 3, 1, 2).float().div_(255)
    channels = x.shape[1]
    mean = torch.tensor(spec.mean, device=device).view(1, channels, 1, 1)
    std = torch.tensor(spec.std, device=device).view(1, channels, 1, 1)
    return ((x - mean) / std).contiguous()


def _chunkwise(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
               batch_size: int) -> torch.Tensor:
    """``forward`` on ``x`` in chunks of ``batch_size``, without gradients, concatenated. On CPU
    the chunks run on the worker threads; each chunk's result does not depend on which thread
    computed it."""
    def run(chunk):
        with torch.no_grad():  # grad mode is per thread
            return forward(chunk)
    chunks = x.split(batch_size)
    if x.device.type != "cpu":
        return torch.cat([run(c) for c in chunks])
    return torch.cat(cpu_workers().map(run, chunks))


def predict_logits(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 2500) -> torch.Tensor:
    """Logits (N, C) for inputs (N,3,32,32), in evaluation mode, in chunks of ``batch_size``."""
    model.eval()
    return _chunkwise(model, x, batch_size)


# The logits every published number comes from (the target's scores, its and the bank's logits
# for the calibrated attacks) are computed in float64 and rounded to float32. In float32 the
# convolution kernels of an AVX-512 and of an AVX2 CPU sum in different orders: on the committed
# target the two differ by up to 5.7e-5 (91% of the values; measured on one machine by forcing
# the AVX2 code paths: ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2), which moves the
# boosted classifiers of the Shokri and ML-Leaks attacks. In float64 the two agreed to the bit,
# and a difference of a few float64 ulps almost never survives the rounding to float32.
# Recorded as ``target.json``'s "logits".
LOGITS = "float64, rounded to float32"
# Chunks of 32 images keep every float64 buffer of LeNet-5 small enough for glibc to reuse it:
# chunks of 2,500 spent most of their time faulting freshly mapped pages in (5.2 s for 5,000
# images on one thread, 2.8 s of it in the kernel, against 1.5 s in chunks of 32; float32 in
# chunks of 2,500: 0.9 s).
EVALUATION_BATCH = 32


def evaluation_logits(model: torch.nn.Module, x: torch.Tensor,
                      batch_size: int = EVALUATION_BATCH) -> torch.Tensor:
    """float32 logits (N, C) of ``model`` on ``x``, computed in float64 (``LOGITS``) by a copy
    of the model, chunk by chunk (the whole input is never held in float64)."""
    exact = copy.deepcopy(model).double().eval()
    return _chunkwise(lambda chunk: exact(chunk.double()).float(), x, batch_size)


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (fraction) of ``model`` on (x, y)."""
    logits = predict_logits(model, x)
    loss = F.cross_entropy(logits, y)
    acc = (logits.argmax(1) == y).float().mean()
    return float(loss), float(acc)


_GLOBAL_RNG_LOCK = threading.Lock()


def init_model(cfg: TrainConfig, seed: int, device: torch.device, capturable: bool = False,
               input_shape: tuple[int, int, int] = CIFAR_SHAPE, num_classes: int = 10
               ) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """The model for inputs of ``input_shape`` (C, H, W) initialised from ``seed``, and the
    optimizer of its recipe (``[train] recipe``: Adam, L2 penalty = weight_decay)."""
    with _GLOBAL_RNG_LOCK:  # CPU workers may build models concurrently
        torch.manual_seed(seed)
        model = build(cfg.architecture, input_shape, num_classes, **cfg.model_options()).to(device)
    if device.type == "cpu" and cfg.cpu_memory_format == "channels_last":
        model = model.to(memory_format=torch.channels_last)  # values unchanged, layout NHWC
    optimizer = recipe_of(cfg.recipe).optimizer(model.parameters(), cfg, device, capturable)
    return model, optimizer


def memory_format_of(model: torch.nn.Module) -> torch.memory_format:
    """``channels_last`` if the model's convolution weights are stored NHWC (``init_model`` on
    CPU by default), else ``contiguous_format``. Batches are fed in the same layout."""
    for p in model.parameters():
        if p.dim() == 4:
            return (torch.channels_last if not p.is_contiguous()
                    and p.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format)
    return torch.contiguous_format


class Step:
    """One Adam step on the batch ``x[idx], y[idx]``; accumulates loss sum and correct count.

    Accumulators live on the device and are read once per epoch, never inside the loop.
    The batch is gathered in the model's memory layout (``memory_format_of``).
    """

    def __init__(self, model, optimizer, x, y):
        self.model, self.optimizer, self.x, self.y = model, optimizer, x, y
        self.memory_format = memory_format_of(model)
        self.loss_sum = torch.zeros((), device=x.device)
        self.correct = torch.zeros((), device=x.device, dtype=torch.long)

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[idx].contiguous(memory_format=self.memory_format), self.y[idx]

    def __call__(self, idx: torch.Tensor) -> None:
        xb, yb = self.batch(idx)
        logits = self.model(xb)
        loss = F.cross_entropy(logits, yb)
        self.optimizer.zero_grad(set_to_none=False)
        loss.backward()
        self.optimizer.step()
        self.loss_sum += loss.detach() * len(idx)
        self.correct += (logits.detach().argmax(1) == yb).sum()

    def reset(self) -> None:
        self.loss_sum.zero_()
        self.correct.zero_()


class GraphedStep(Step):
    """``Step`` captured once in a CUDA graph and replayed for every full-size batch.

    The batch indices are copied into a static buffer before each replay. Warm-up steps
    needed for the capture run on copies of the model and optimizer state, which are
    restored in place afterwards, so the result equals the eager step's.
    """

    def __init__(self, model, optimizer, x, y, batch_size: int):
        super().__init__(model, optimizer, x, y)
        self.batch_size = batch_size
        self.idx = torch.arange(batch_size, device=x.device)
        params = [p.detach().clone() for p in model.parameters()]
        fresh = not optimizer.state  # a fresh Adam creates zeroed state at its first step
        state = [] if fresh else [t.detach().clone() for t in self._optimizer_tensors()]
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                super().__call__(self.idx)
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            super().__call__(self.idx)
        with torch.no_grad():  # undo the warm-up, in place: the graph holds these tensors
            for p, saved in zip(model.parameters(), params):
                p.copy_(saved)
            for t, saved in zip(self._optimizer_tensors(), state or repeat(None)):
                t.zero_() if fresh else t.copy_(saved)
        self.reset()

    def _optimizer_tensors(self):
        for state in self.optimizer.state.values():
            yield from (v for v in state.values() if torch.is_tensor(v))

    def __call__(self, idx: torch.Tensor) -> None:
        if len(idx) != self.batch_size:
            return super().__call__(idx)  # the epoch's last, smaller batch runs eagerly
        self.idx.copy_(idx)
        self.graph.replay()


class ShardedStep(Step):
    """CPU: one Adam step whose batch gradient is a fixed-order sum over ``shards`` shards.

    The batch indices are cut into S contiguous shards (``tensor_split``). Shard s gives
    g_s = d/dw sum_{i in s} loss_i, computed on one thread; the step uses
    grad = (g_1 + ... + g_S) / B, summed in shard order. Every g_s and the order of the sum
    depend only on the data and S, so 1 worker and S workers give bitwise the same weights.

    The shards share the parameters read-only; ``torch.autograd.grad`` returns each shard's
    gradient without accumulating into ``.grad``. Dropout draws each shard's masks from a
    generator of its own, seeded by (``mask_seed``, epoch, batch, shard) (``SeededDropout``),
    so the masks too are the same on any thread. Batch statistics (batch norm) would need
    shard-wise statistics, and dropout without a mask seed the global generator's order:
    both refused with more than one shard.
    """

    def __init__(self, model, optimizer, x, y, shards: int, workers: CpuWorkers,
                 mask_seed: int | None = None):
        super().__init__(model, optimizer, x, y)
        dropout = [m for m in model.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd)]
        unsupported = [type(m).__name__ for m in model.modules()
                       if isinstance(m, torch.nn.modules.batchnorm._NormBase)
                       or m in dropout and not (isinstance(m, SeededDropout) and mask_seed is not None)]
        if unsupported and shards > 1:
            raise ValueError(f"sharded CPU steps do not support {', '.join(unsupported)} (batch "
                             f"statistics, or dropout without per-shard masks: SeededDropout "
                             f"and a mask seed)")
        self.shards, self.workers = shards, workers
        self.params = list(model.parameters())
        self.mask_seed = mask_seed if dropout else None
        self.epoch, self.batch_number = 0, 0  # which masks: set by the training loop

    def reset(self) -> None:
        super().reset()
        self.batch_number = 0

    def _masks(self, shard: int):
        """Where this shard's dropout masks come from (nothing to draw without dropout)."""
        if self.mask_seed is None:
            return contextlib.nullcontext()
        words = np.random.SeedSequence([self.mask_seed, MASK_STREAM, self.epoch,
                                        self.batch_number, shard]).generate_state(2)
        generator = torch.Generator().manual_seed(int(words[0]) << 32 | int(words[1]))
        return dropout_masks_from(generator)

    def _shard(self, shard: int, idx: torch.Tensor):
        xb, yb = self.batch(idx)
        with self._masks(shard):
            logits = self.model(xb)
        loss = F.cross_entropy(logits, yb, reduction="sum")
        grads = torch.autograd.grad(loss, self.params)
        return grads, loss.detach(), (logits.detach().argmax(1) == yb).sum()

    def __call__(self, idx: torch.Tensor) -> None:
        self.batch_number += 1
        shards = idx.tensor_split(min(self.shards, len(idx)))
        parts = self.workers.map(lambda job: self._shard(*job), list(enumerate(shards)))
        for j, p in enumerate(self.params):
            grad = parts[0][0][j]
            for grads, _, _ in parts[1:]:
                grad = grad + grads[j]
            p.grad = grad.div_(len(idx))
        self.optimizer.step()
        for _, loss, correct in parts:
            self.loss_sum += loss
            self.correct += correct


def make_step(model, optimizer, x, y, batch_size: int, cuda_graph: bool,
              cpu_shards: int = TrainConfig.cpu_shards, workers: CpuWorkers | None = None,
              mask_seed: int | None = None) -> Step:
    """The fastest step for the device: CUDA graph, sharded CPU step, or the plain eager step.

    ``workers`` (CPU) defaults to the pool of ``configure_cpu``; ``mask_seed`` (CPU) seeds the
    dropout masks of each shard (``ShardedStep``); elsewhere dropout draws from torch's
    generator, which the trainer seeds.
    """
    if x.device.type == "cpu":
        workers = workers or cpu_workers()
        torch.set_num_threads(1)  # the calling thread may run shards too (SERIAL)
        return ShardedStep(model, optimizer, x, y, cpu_shards, workers, mask_seed)
    if cuda_graph and len(x) >= batch_size:
        return GraphedStep(model, optimizer, x, y, batch_size)
    return Step(model, optimizer, x, y)


def run_epoch(step: Step, perm: torch.Tensor, batch_size: int,
              after_batch: Callable[[int], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass over ``perm`` in consecutive batches of ``batch_size``; see ``run_batches``."""
    return run_batches(step, perm.split(batch_size), after_batch)


def run_batches(step: Step, batches, after_batch: Callable[[int], None] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """One step per batch of indices; returns (loss sum, correct count) as device tensors.
    ``after_batch(b)`` is called after batch b (1-based)."""
    step.reset()
    for b, idx in enumerate(batches, start=1):
        step(idx)
        if after_batch is not None:
            after_batch(b)
    return step.loss_sum.clone(), step.correct.clone()


def load_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"corrupt checkpoint {path} ({type(e).__name__}); delete it or run "
                        f"with --retrain") from None


def train(
    cfg: TrainConfig,
    seed: int,
    x_train: torch.Tensor, y_train: torch.Tensor,
    x_test: torch.Tensor, y_test: torch.Tensor,
    run_dir: Path,
    on_epoch_end: Callable[[int], None] | None = None,
    progress: bool = True,
    cuda_graph: bool | None = None,
    log: Callable[[str], None] | None = None,
    num_classes: int = 10,
) -> tuple[torch.nn.Module, list[dict]]:
    """Train ``cfg.architecture`` for ``cfg.epochs`` with its recipe (``[train] recipe``: the
    optimiser and each epoch's batches); resume from ``run_dir`` if possible.

    Returns the model and the history: one record per epoch with ``epoch``, ``train_loss``,
    ``train_acc`` (averaged over the epoch's batches), ``test_loss``, ``test_acc`` and ``seconds``.
    ``cuda_graph`` (default: on CUDA) replays each full-size training step from a CUDA graph.
    """
    device = x_train.device
    if cuda_graph is None:
        cuda_graph = device.type == "cuda"
    model, optimizer = init_model(cfg, seed, device, capturable=cuda_graph,
                                  input_shape=tuple(x_train.shape[1:]), num_classes=num_classes)
    history: list[dict] = []
    start, attempts = 0, 1
    ckpt_path = run_dir / CHECKPOINT
    if ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["torch_rng"])
            history, start = list(state["history"]), int(state["epoch"])
            attempts = int(state.get("attempts", 1)) + 1
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise UserError(f"corrupt checkpoint {ckpt_path} ({type(e).__name__}); delete it or "
                            f"run with --retrain") from None
        if log is not None:
            log(f"resuming from epoch {start} of {cfg.epochs} ({ckpt_path})")

    n = len(x_train)
    recipe = recipe_of(cfg.recipe)
    step = make_step(model, optimizer, x_train, y_train, cfg.batch_size,
                     cuda_graph and recipe.fixed_batch_size, cfg.cpu_shards, mask_seed=seed)
    bar = tqdm(total=cfg.epochs, initial=start, desc="train", unit="epoch", disable=not progress)
    for epoch in range(start + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        step.epoch = epoch  # the dropout masks' stream (ShardedStep)
        loss_sum, correct = run_batches(step, recipe.epoch_batches(seed, epoch, n, cfg.batch_size,
                                                                   device),
                                        (lambda b, e=epoch: _fault("batch", e, b)) if FAULT_AT else None)
        test_loss, test_acc = evaluate(model, x_test, y_test)
        if not math.isfinite(float(loss_sum)):
            raise UserError(f"training diverged at epoch {epoch}: the training loss is "
                            f"{float(loss_sum) / n} (learning_rate {cfg.learning_rate}); nothing "
                            f"was written past the last checkpoint")
        history.append({
            "epoch": epoch,
            "train_loss": float(loss_sum) / n,
            "train_acc": int(correct) / n,
            "test_loss": test_loss,
            "test_acc": test_acc,
            "seconds": round(time.perf_counter() - t0, 3),
        })
        if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs:
            with atomic_path(ckpt_path) as tmp:
                torch.save({"epoch": epoch, "model": model.state_dict(),
                            "optimizer": optimizer.state_dict(),
                            "torch_rng": torch.get_rng_state(), "history": history,
                            "attempts": attempts}, tmp)
                _fault("checkpoint", epoch)
        bar.update(1)
        bar.set_postfix(train_acc=f"{history[-1]['train_acc']:.3f}", test_acc=f"{test_acc:.3f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch)
    bar.close()
    model.eval()
    return model, history
