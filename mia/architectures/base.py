"""The interface of an architecture: a name and a builder from the input shape, the class
count and the architecture's options (keyword arguments). Every architecture takes ``dropout``
(the probability of zeroing a hidden unit in training; 0, the default, adds no dropout
module, so a model's parameter names and initialisation do not depend on the option)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn


@dataclass(frozen=True)
class Architecture:
    name: str
    # build(input_shape (C, H, W), num_classes, **options) -> an initialised nn.Module, drawing
    # its initial weights from torch's global generator (the trainer seeds it); ValueError
    # naming the problem for an input shape or option it cannot take.
    build: Callable[..., nn.Module]
