"""A dense network (multilayer perceptron) of ``depth`` weight layers and ``width`` units per
hidden layer, for study 004's question of depth and capacity."""
from __future__ import annotations

import math

from torch import nn

from .base import Architecture, SeededDropout

NAME = "mlp"


def build(input_shape: tuple[int, int, int], num_classes: int, depth: int = 4, width: int = 256,
          dropout: float = 0.0) -> nn.Module:
    """Flatten, then depth - 1 hidden layers (Linear -> ReLU, and dropout when above 0), then
    a Linear layer to the logits: ``depth`` Linear layers in all. On 3x32x32 inputs with width
    w the parameters are 3073 w + (depth - 2)(w + 1) w + (w + 1) num_classes."""
    if depth < 2:
        raise ValueError(f"a dense network needs depth >= 2 (a hidden layer and the output), got {depth}")
    if width < 1:
        raise ValueError(f"a dense network needs width >= 1, got {width}")
    layers: list[nn.Module] = [nn.Flatten()]
    inputs = math.prod(input_shape)
    for _ in range(depth - 1):
        layers += [nn.Linear(inputs, width), nn.ReLU()]
        layers += [SeededDropout(dropout)] if dropout > 0 else []
        inputs = width
    layers.append(nn.Linear(inputs, num_classes))
    return nn.Sequential(*layers)


ARCHITECTURE = Architecture(NAME, build)
