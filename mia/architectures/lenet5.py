"""LeNet-5, for any image shape whose two conv-pool blocks leave at least one pixel."""
from __future__ import annotations

import torch
from torch import nn

from .base import Architecture, SeededDropout

NAME = "lenet5"


class LeNet5(nn.Module):
    """Classic LeNet-5 (about 62k parameters on 3x32x32).

    conv(C->6, 5x5) -> maxpool 2 -> ReLU -> conv(6->16, 5x5) -> maxpool 2 -> ReLU
    -> fc 16*s*s->120 -> ReLU -> fc 120->84 -> ReLU -> fc 84->classes (logits), where
    s = ((H - 4) // 2 - 4) // 2: 5 for 32x32 inputs, 4 for MNIST's 28x28.
    Shapes on CIFAR-10: (B,3,32,32) -> (B,6,28,28) -> (B,6,14,14) -> (B,16,10,10) -> (B,16,5,5) -> (B,10).

    Each block pools before its ReLU: ReLU is monotone, so max(relu(a)) = relu(max(a)) exactly,
    and the gradient reaches the same element (the window's first maximum if it is > 0,
    nothing otherwise), so outputs and trained weights are bitwise those of conv -> ReLU ->
    pool, with the ReLU on a quarter of the elements. The parameter names are unchanged
    (features.0 and features.3 are the convolutions).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, size: int = 32,
                 dropout: float = 0.0):
        super().__init__()
        side = ((size - 4) // 2 - 4) // 2
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(6, 16, 5), nn.MaxPool2d(2), nn.ReLU(),
        )
        # dropout > 0: after each hidden fully connected layer's ReLU. At 0 no module is added,
        # so the parameter names and the initialisation are those of the plain network.
        def drop() -> list[nn.Module]:
            return [SeededDropout(dropout)] if dropout > 0 else []
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * side * side, 120), nn.ReLU(), *drop(),
            nn.Linear(120, 84), nn.ReLU(), *drop(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build(input_shape: tuple[int, int, int], num_classes: int, dropout: float = 0.0) -> nn.Module:
    channels, height, width = input_shape
    if height != width or ((height - 4) // 2 - 4) // 2 < 1:
        raise ValueError(f"LeNet-5 needs square images of at least 16x16 pixels, got {height}x{width}")
    return LeNet5(num_classes, channels, height, dropout)


ARCHITECTURE = Architecture(NAME, build)
