"""Early stopping at the epoch of best held-out accuracy (``[train] early_stopping_patience``).

The target holds out a share of its training images (``mia.membership``: never trained on,
never evaluated). After every epoch its held-out accuracy is measured; the weights kept are
those of the best epoch so far (the first of equals), and training stops once
``early_stopping_patience`` epochs have passed without a better one. A reference model does the
same on a share of its own images (``holdout_split``), so that the attacker's references
follow the target's recipe.

The target's stopper (``TargetStopper``) is ``engine.train``'s ``on_epoch_end``: it reads the
epoch's checkpoint that the engine has just written, so the engine's loop is unchanged, and it
keeps its record (``early_stopping.json``) and the best weights (``best.pt``) beside the
checkpoint: a run killed at any point resumes to the same choice.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from ..architectures import build, weights_bytes
from ..config import TrainConfig
from ..io import read_json, write_bytes, write_json
from ..membership import holdout_size
from .engine import CHECKPOINT, evaluate, load_checkpoint

STATE, BEST = "early_stopping.json", "best.pt"
# A stream of each reference model's seed of its own: which of its images it holds out.
HOLDOUT_STREAM = 0x401E


class StopEarly(Exception):
    """Raised by the stopper when the patience has run out (engine.train stops there)."""


def is_better(accuracy: float, best: float | None) -> bool:
    return best is None or accuracy > best


def holdout_split(subset: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A reference model's (trained, held-out) indices: a seeded share ``fraction`` of its
    ``subset`` held out, both kept in the subset's order."""
    n = len(subset)
    rng = np.random.default_rng([seed, HOLDOUT_STREAM])
    held = np.zeros(n, bool)
    held[rng.choice(n, size=holdout_size(fraction, n), replace=False)] = True
    mask = torch.from_numpy(held).to(subset.device)
    return subset[~mask], subset[mask]


class TargetStopper:
    """``engine.train``'s ``on_epoch_end`` for a target trained with early stopping."""

    def __init__(self, run_dir, cfg: TrainConfig, x_held: torch.Tensor, y_held: torch.Tensor,
                 input_shape, num_classes: int):
        self.run_dir, self.cfg, self.x, self.y = run_dir, cfg, x_held, y_held
        self.model = build(cfg.architecture, input_shape, num_classes, **cfg.model_options())
        state = read_json(run_dir / STATE) if (run_dir / STATE).exists() else {}
        self.accuracies = {int(e): a for e, a in state.get("accuracies", {}).items()}
        self.best_epoch = state.get("best_epoch")
        self.stopped_at = state.get("stopped_at")
        checkpoint = run_dir / CHECKPOINT
        if checkpoint.exists() and self.stopped_at is None:  # killed before its epoch's record
            epoch = int(load_checkpoint(checkpoint)["epoch"])
            if epoch not in self.accuracies:
                try:
                    self(epoch)
                except StopEarly:
                    pass

    @property
    def stopped(self) -> bool:
        return self.stopped_at is not None

    def __call__(self, epoch: int) -> None:
        state = load_checkpoint(self.run_dir / CHECKPOINT)
        self.model.load_state_dict(state["model"])
        accuracy = evaluate(self.model, self.x, self.y)[1]
        self.accuracies[epoch] = accuracy
        if is_better(accuracy, self.accuracies.get(self.best_epoch)):
            self.best_epoch = epoch
            write_bytes(self.run_dir / BEST, weights_bytes(state["model"]))
        if epoch - self.best_epoch >= self.cfg.early_stopping_patience:
            self.stopped_at = epoch
        self._write()
        if self.stopped:
            raise StopEarly

    def _write(self) -> None:
        write_json(self.run_dir / STATE, {
            "best_epoch": self.best_epoch, "stopped_at": self.stopped_at,
            "patience": self.cfg.early_stopping_patience,
            "held_out": len(self.y), "accuracies": {str(e): a for e, a in sorted(self.accuracies.items())}})

    def finish(self, last_epoch: int) -> dict:
        """After the last epoch (stopped or not): the record, and the best weights' state."""
        if self.stopped_at is None:
            self.stopped_at = last_epoch
            self._write()
        weights = torch.load(self.run_dir / BEST, map_location="cpu", weights_only=True)
        return {"best_epoch": self.best_epoch, "stopped_at": self.stopped_at,
                "accuracies": dict(self.accuracies), "weights": weights}


def annotate(history: list[dict], record: dict) -> list[dict]:
    """The epochs' records with each epoch's held-out accuracy and the one kept."""
    return [dict(h, held_out_acc=record["accuracies"].get(h["epoch"]),
                 **({"kept": True} if h["epoch"] == record["best_epoch"] else {}))
            for h in history]


class ModelStopper:
    """A reference model's early stopping inside ``many_models``' loop: the best epoch's
    weights and optimiser state in memory."""

    def __init__(self, cfg: TrainConfig, x: torch.Tensor, y: torch.Tensor, held: torch.Tensor):
        self.cfg, self.x, self.y, self.held = cfg, x, y, held
        self.best_epoch, self.best_accuracy, self.best = None, None, None

    def after_epoch(self, epoch: int, model: torch.nn.Module, optimizer) -> bool:
        """Record epoch ``epoch``; True when training should stop."""
        accuracy = _accuracy(model, self.x[self.held], self.y[self.held])
        if is_better(accuracy, self.best_accuracy):
            self.best_epoch, self.best_accuracy = epoch, accuracy
            self.best = {"model": {k: v.detach().clone() for k, v in model.state_dict().items()},
                         "optimizer": _copy(optimizer.state_dict())}
        return epoch - self.best_epoch >= self.cfg.early_stopping_patience


def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 1000) -> float:
    """Accuracy in this thread, without the CPU worker pool (a reference model trains on one of
    its workers: handing chunks back to the busy pool could wait for ever)."""
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(xb).argmax(1) == yb).sum()) for xb, yb in zip(x.split(chunk), y.split(chunk)))
    model.train()
    return correct / len(y)


def _copy(state):
    return copy.deepcopy(state)
