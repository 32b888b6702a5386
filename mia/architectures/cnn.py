"""A plain convolutional network of ``depth`` weight layers, to set beside a dense network of
the same depth (study 004): depth - 1 convolutions, then one Linear layer."""
from __future__ import annotations

from torch import nn

from .base import Architecture, SeededDropout

NAME = "cnn"


def build(input_shape: tuple[int, int, int], num_classes: int, depth: int = 4, width: int = 32,
          dropout: float = 0.0) -> nn.Module:
    """depth - 1 blocks of a 3x3 convolution (``width`` channels, padding 1) and a ReLU, a 2x2
    max-pool after each block while the image is larger than 4x4, then a global average pool
    and a Linear layer to the logits (with dropout before it when above 0)."""
    if depth < 2:
        raise ValueError(f"a convolutional network needs depth >= 2 (a convolution and the "
                         f"output), got {depth}")
    if width < 1:
        raise ValueError(f"a convolutional network needs width >= 1 channels, got {width}")
    channels, size, _ = input_shape
    layers: list[nn.Module] = []
    for _ in range(depth - 1):
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
        channels = width
        if size > 4:
            layers.append(nn.MaxPool2d(2))
            size //= 2
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    layers += [SeededDropout(dropout)] if dropout > 0 else []
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


ARCHITECTURE = Architecture(NAME, build)
