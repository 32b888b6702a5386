"""The training loop of a differentially private recipe (``Recipe.per_sample_gradients``: DP-SGD's
clipped, noised gradient; ``mia.recipes.dp_adam``), through Opacus.

Read top to bottom, one epoch is

    for each of the epoch's Poisson batches B (a function of (seed, epoch)):
        loss = mean_{i in B} CE(f(x_i), y_i)
        backward -> Opacus's GradSampleModule leaves each sample's gradient g_i
        DPOptimizer: g_i clipped to norm C, summed, N(0, sigma^2 C^2) added, / batch_size,
                     then the recipe's update (Adam); the noise drawn from (seed, epoch)
        the accountant records one step of noise sigma at sampling rate q

and a checkpoint after every epoch holds the weights, the update's state, the accountant's
history and the epochs' records, so that a run resumed at any epoch ends with the weights of
an uninterrupted one (the batches and the noise of epoch e depend only on (seed, e)).

The single-model engine's sharded step (``engine.ShardedStep``) and CUDA graphs do not apply:
per-sample gradients run in one process, on PyTorch's own threads.
"""
from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..config import TrainConfig
from ..errors import UserError
from ..io import atomic_path
from ..parallel import available_cpus
from ..recipes import get as recipe_of
from .engine import CHECKPOINT, evaluate, init_model, load_checkpoint

# Opacus's hooks see inputs that need no gradient (the images): PyTorch warns once per module,
# and nothing is wrong (the per-sample gradients are those of the parameters).
warnings.filterwarnings("ignore", message="Full backward hook is firing when gradients are "
                                          "computed with respect to module outputs")


def private_parts(cfg: TrainConfig, seed: int, n: int, device: torch.device, input_shape,
                  num_classes: int):
    """The model (plain, as saved), its per-sample-gradient wrapper, the DP optimizer and the
    accountant of a fresh run of ``cfg`` on ``n`` samples."""
    from opacus import GradSampleModule
    from opacus.accountants import create_accountant
    from opacus.optimizers import DPOptimizer
    cpu_cfg = cfg if device.type != "cpu" else _contiguous(cfg)
    model, update = init_model(cpu_cfg, seed, device, input_shape=input_shape,
                               num_classes=num_classes)
    recipe = recipe_of(cfg.recipe)
    # per-sample gradients by torch.func (vmap of each layer's gradient): measured 10% faster
    # than Opacus's hooks on LeNet-5 on 2 CPU threads (2,300 against 2,080 images a second)
    wrapped = GradSampleModule(model, loss_reduction="mean", force_functorch=True)
    optimizer = DPOptimizer(update, noise_multiplier=recipe.noise_multiplier(cfg, n),
                            max_grad_norm=cfg.dp_max_grad_norm,
                            expected_batch_size=cfg.batch_size, loss_reduction="mean")
    return model, wrapped, optimizer, create_accountant(mechanism=cfg.dp_accountant)


def _contiguous(cfg: TrainConfig) -> TrainConfig:
    """Per-sample convolution gradients (unfold) run on NCHW tensors: the model stays so."""
    import dataclasses
    return dataclasses.replace(cfg, cpu_memory_format="contiguous")


def run_private_epoch(cfg: TrainConfig, seed: int, epoch: int, wrapped, optimizer, accountant,
                      x: torch.Tensor, y: torch.Tensor, subset: torch.Tensor | None = None
                      ) -> tuple[float, int, int]:
    """One epoch of DP steps on ``x[subset]`` (all of x when None); returns the sum of the
    batches' losses times their sizes, the correct count and the samples seen."""
    recipe = recipe_of(cfg.recipe)
    n = len(x) if subset is None else len(subset)
    q = min(1.0, cfg.batch_size / n)
    optimizer.generator = recipe.noise_generator(seed, epoch)
    wrapped.train()
    loss_sum, correct, seen = 0.0, 0, 0
    for idx in recipe.epoch_batches(seed, epoch, n, cfg.batch_size, x.device):
        if subset is not None:
            idx = subset[idx]
        if len(idx) == 0:  # q = batch_size / n makes this vanishingly rare; never silent
            raise UserError(f"an empty Poisson batch at epoch {epoch} (sampling rate {q:.3g}); "
                            f"raise [train] batch_size")
        logits = wrapped(x[idx])
        loss = F.cross_entropy(logits, y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()  # clip, sum, noise, average, update
        accountant.step(noise_multiplier=optimizer.noise_multiplier, sample_rate=q)
        loss_sum += float(loss.detach()) * len(idx)
        correct += int((logits.detach().argmax(1) == y[idx]).sum())
        seen += len(idx)
    return loss_sum, correct, seen


def train(cfg: TrainConfig, seed: int, x_train: torch.Tensor, y_train: torch.Tensor,
          x_test: torch.Tensor, y_test: torch.Tensor, run_dir: Path,
          on_epoch_end: Callable[[int], None] | None = None, progress: bool = True,
          log: Callable[[str], None] | None = None, num_classes: int = 10, **_unused
          ) -> tuple[torch.nn.Module, list[dict]]:
    """``engine.train``'s contract for a private recipe: train for ``cfg.epochs``, resuming from
    ``run_dir``'s checkpoint; each epoch's record adds the epsilon spent so far (the run's
    ``dp_accountant``)."""
    device = x_train.device
    if device.type == "cpu":
        torch.set_num_threads(available_cpus())
    n = len(x_train)
    model, wrapped, optimizer, accountant = private_parts(
        cfg, seed, n, device, tuple(x_train.shape[1:]), num_classes)
    history: list[dict] = []
    start, attempts = 0, 1
    path = run_dir / CHECKPOINT
    if path.exists():
        state = load_checkpoint(path)
        try:
            model.load_state_dict(state["model"])
            optimizer.original_optimizer.load_state_dict(state["optimizer"])
            accountant.load_state_dict(state["accountant"])
            history, start = list(state["history"]), int(state["epoch"])
            attempts = int(state.get("attempts", 1)) + 1
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise UserError(f"corrupt checkpoint {path} ({type(e).__name__}); delete it or run "
                            f"with --retrain") from None
        if log is not None:
            log(f"resuming from epoch {start} of {cfg.epochs} ({path})")
    bar = tqdm(total=cfg.epochs, initial=start, desc="train (DP)", unit="epoch", disable=not progress)
    for epoch in range(start + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        loss_sum, correct, seen = run_private_epoch(cfg, seed, epoch, wrapped, optimizer,
                                                    accountant, x_train, y_train)
        if not math.isfinite(loss_sum):
            raise UserError(f"training diverged at epoch {epoch}: the training loss is "
                            f"{loss_sum / max(seen, 1)} (learning_rate {cfg.learning_rate}); "
                            f"nothing was written past the last checkpoint")
        test_loss, test_acc = evaluate(model, x_test, y_test)
        history.append({"epoch": epoch, "train_loss": loss_sum / seen, "train_acc": correct / seen,
                        "test_loss": test_loss, "test_acc": test_acc,
                        "epsilon": float(accountant.get_epsilon(delta=cfg.dp_delta)),
                        "seconds": round(time.perf_counter() - t0, 3)})
        with atomic_path(path) as tmp:
            torch.save({"epoch": epoch, "model": model.state_dict(),
                        "optimizer": optimizer.original_optimizer.state_dict(),
                        "accountant": accountant.state_dict(), "history": history,
                        "attempts": attempts}, tmp)
        bar.update(1)
        bar.set_postfix(test_acc=f"{test_acc:.3f}", eps=f"{history[-1]['epsilon']:.2f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch)
    bar.close()
    model.eval()
    return model, history


def train_subset(cfg: TrainConfig, seed: int, subset: torch.Tensor, x: torch.Tensor,
                 y: torch.Tensor, num_classes: int = 10) -> dict:
    """A bank model: ``cfg.epochs`` of DP steps on ``x[subset]`` from ``seed`` (the same steps
    ``train`` takes on those samples). Returns ``{"epoch", "model", "optimizer"}`` as
    ``many_models``' loop does."""
    model, wrapped, optimizer, accountant = private_parts(
        cfg, seed, len(subset), x.device, tuple(x.shape[1:]), num_classes)
    for epoch in range(1, cfg.epochs + 1):
        run_private_epoch(cfg, seed, epoch, wrapped, optimizer, accountant, x, y, subset)
    return {"epoch": cfg.epochs,
            "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "optimizer": optimizer.original_optimizer.state_dict()}
