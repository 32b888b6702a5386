"""The interface of a training recipe: how a model's parameters are updated (the optimiser) and
which samples each step sees (the batch sampler).

A recipe is a subclass of ``Recipe`` with a ``name`` (``[train] recipe``):

    optimizer(params, cfg, device, capturable) -> torch.optim.Optimizer
    epoch_batches(seed, epoch, n, batch_size, device) -> list of index tensors: the batches of
        one epoch over n samples, a function of (seed, epoch) only, so that a run resumed at
        any epoch sees the batches an uninterrupted one would
    fixed_batch_size -> bool: every batch but an epoch's last has batch_size samples (a CUDA
        graph can replay the step); False for Poisson sampling
    per_sample_gradients -> bool: the step needs each sample's gradient (DP-SGD's clipping)
    privacy(cfg, n) -> dict | None: what the manifest records of the recipe's guarantee (an
        accountant's epsilon at delta); None when it gives none
    relative_cpu_cost -> float: an epoch's CPU time against Adam's (the plan's estimate)
    epochs_are_prefixes -> bool: the first E epochs of a longer run are a run of E epochs,
        bitwise (nothing depends on the total number of epochs: no schedule, no noise scaled to
        the run's length), so a longer run may start from a shorter run's snapshot
        (``training.jobs.trajectory_hash``). False unless a recipe declares it

The members are ``Adam`` with seeded permutations (``adam.py``) and DP-SGD's private gradient
with Adam's update (``dp_adam.py``, through Opacus: Poisson sampling, per-sample clipping,
noise, the accountants' epsilon), which returns False from ``fixed_batch_size``, True from
``per_sample_gradients`` (its models train in ``mia.training.private``'s loop) and a dict from
``privacy``.
"""
from __future__ import annotations

from typing import ClassVar

import torch


class Recipe:
    name: ClassVar[str]
    fixed_batch_size: ClassVar[bool] = True
    per_sample_gradients: ClassVar[bool] = False
    epochs_are_prefixes: ClassVar[bool] = False
    # An epoch's CPU time against Adam's on the fast CPU engine, for the plan's estimate of
    # what a run would train (mia.pipeline.plan): an estimate, not a measurement of this run.
    relative_cpu_cost: ClassVar[float] = 1.0

    def optimizer(self, params, cfg, device: torch.device, capturable: bool = False
                  ) -> torch.optim.Optimizer:
        raise NotImplementedError

    def epoch_batches(self, seed: int, epoch: int, n: int, batch_size: int,
                      device: torch.device) -> list[torch.Tensor]:
        raise NotImplementedError

    def privacy(self, cfg, n: int) -> dict | None:
        return None
