"""The interface of an architecture: a name and a builder from the input shape, the class
count and the architecture's options (keyword arguments). Every architecture takes ``dropout``
(the probability of zeroing a hidden unit in training; 0, the default, adds no dropout
module, so a model's parameter names and initialisation do not depend on the option), and
builds its dropout from ``SeededDropout``."""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import nn

_masks = threading.local()  # the generator this thread's dropout masks are drawn from


@contextlib.contextmanager
def dropout_masks_from(generator: torch.Generator) -> Iterator[None]:
    """Within this block, in this thread, every ``SeededDropout`` draws its masks from
    ``generator``: the CPU engine gives each shard of a batch a generator of its own, seeded
    by (seed, epoch, batch, shard), so that the masks, and so the weights, do not depend on
    which thread computed the shard."""
    previous = getattr(_masks, "generator", None)
    _masks.generator = generator
    try:
        yield
    finally:
        _masks.generator = previous


class SeededDropout(nn.Dropout):
    """``nn.Dropout`` whose masks come from the generator of ``dropout_masks_from`` when one is
    set in this thread (else from torch's global generator, as nn.Dropout's): each unit kept
    with probability 1 - p and scaled by 1 / (1 - p), so that its expectation is unchanged."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        generator = getattr(_masks, "generator", None)
        if generator is None or not self.training or self.p == 0:
            return super().forward(x)
        keep = torch.empty_like(x).bernoulli_(1 - self.p, generator=generator)
        return x * keep.div_(1 - self.p)


@dataclass(frozen=True)
class Architecture:
    name: str
    # build(input_shape (C, H, W), num_classes, **options) -> an initialised nn.Module, drawing
    # its initial weights from torch's global generator (the trainer seeds it); ValueError
    # naming the problem for an input shape or option it cannot take.
    build: Callable[..., nn.Module]
