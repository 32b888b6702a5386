"""Train the target model: the whole dataset as one tensor, seeded permutation batches.

The training set lives on the device as one normalised float tensor; each epoch draws a
permutation from a generator seeded by (seed, epoch), so the batch order of epoch e does
not depend on how many epochs ran before it in this process. Together with checkpoints
that hold the model, the optimizer and the RNG state, an interrupted run resumes and ends
with exactly the weights of an uninterrupted one (on CPU).

Per-epoch metrics are accumulated on the device and read once per epoch (no host
synchronisation inside the step loop).
"""
from __future__ import annotations

import time
from itertools import repeat
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .config import TrainConfig
from .data import CHANNEL_MEAN, CHANNEL_STD
from .errors import UserError
from .io import atomic_path
from .models import build

CHECKPOINT = "checkpoint.pt"


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise UserError(f"unknown device {device!r} (use auto, cpu or cuda)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r} requested but CUDA is not available")
    return torch.device(device)


def to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (N,32,32,3) HWC -> float32 (N,3,32,32), normalised per channel: (x/255 - mean)/std."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    x = x.permute(0, 3, 1, 2).float().div_(255)
    mean = torch.tensor(CHANNEL_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(CHANNEL_STD, device=device).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def epoch_permutation(seed: int, epoch: int, n: int, device: torch.device) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g).to(device)


@torch.no_grad()
def predict_logits(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 2500) -> torch.Tensor:
    """Logits (N, C) for inputs (N,3,32,32), in evaluation mode, batch by batch."""
    model.eval()
    return torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (fraction) of ``model`` on (x, y)."""
    logits = predict_logits(model, x)
    loss = F.cross_entropy(logits, y)
    acc = (logits.argmax(1) == y).float().mean()
    return float(loss), float(acc)


def init_model(cfg: TrainConfig, seed: int, device: torch.device, capturable: bool = False
               ) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """The model initialised from ``seed`` and its Adam optimizer (L2 penalty = weight_decay)."""
    torch.manual_seed(seed)
    model = build(cfg.architecture).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate,
                                 weight_decay=cfg.weight_decay, capturable=capturable)
    return model, optimizer


class Step:
    """One Adam step on the batch ``x[idx], y[idx]``; accumulates loss sum and correct count.

    Accumulators live on the device and are read once per epoch, never inside the loop.
    """

    def __init__(self, model, optimizer, x, y):
        self.model, self.optimizer, self.x, self.y = model, optimizer, x, y
        self.loss_sum = torch.zeros((), device=x.device)
        self.correct = torch.zeros((), device=x.device, dtype=torch.long)

    def __call__(self, idx: torch.Tensor) -> None:
        xb, yb = self.x[idx], self.y[idx]
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


def make_step(model, optimizer, x, y, batch_size: int, cuda_graph: bool) -> Step:
    if cuda_graph and x.device.type == "cuda" and len(x) >= batch_size:
        return GraphedStep(model, optimizer, x, y, batch_size)
    return Step(model, optimizer, x, y)


def run_epoch(step: Step, perm: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass over ``perm`` in batches; returns (loss sum, correct count) as device tensors."""
    step.reset()
    for i in range(0, len(perm), batch_size):
        step(perm[i:i + batch_size])
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
) -> tuple[torch.nn.Module, list[dict]]:
    """Train ``cfg.architecture`` for ``cfg.epochs`` with Adam; resume from ``run_dir`` if possible.

    Returns the model and the history: one record per epoch with ``epoch``, ``train_loss``,
    ``train_acc`` (averaged over the epoch's batches), ``test_loss``, ``test_acc`` and ``seconds``.
    ``cuda_graph`` (default: on CUDA) replays each full-size training step from a CUDA graph.
    """
    device = x_train.device
    if cuda_graph is None:
        cuda_graph = device.type == "cuda"
    model, optimizer = init_model(cfg, seed, device, capturable=cuda_graph)
    history: list[dict] = []
    start = 0
    ckpt_path = run_dir / CHECKPOINT
    if ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["torch_rng"])
            history, start = list(state["history"]), int(state["epoch"])
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise UserError(f"corrupt checkpoint {ckpt_path} ({type(e).__name__}); delete it or "
                            f"run with --retrain") from None

    n = len(x_train)
    step = make_step(model, optimizer, x_train, y_train, cfg.batch_size, cuda_graph)
    bar = tqdm(total=cfg.epochs, initial=start, desc="train", unit="epoch", disable=not progress)
    for epoch in range(start + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        loss_sum, correct = run_epoch(step, epoch_permutation(seed, epoch, n, device),
                                      cfg.batch_size)
        test_loss, test_acc = evaluate(model, x_test, y_test)
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
                            "torch_rng": torch.get_rng_state(), "history": history}, tmp)
        bar.update(1)
        bar.set_postfix(train_acc=f"{history[-1]['train_acc']:.3f}", test_acc=f"{test_acc:.3f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch)
    bar.close()
    model.eval()
    return model, history
