"""Target architectures. Adding one: write the module, register it in ``ARCHITECTURES``."""
from __future__ import annotations

import torch
from torch import nn


class LeNet5(nn.Module):
    """Classic LeNet-5 for 3x32x32 inputs (about 62k parameters).

    conv(3->6, 5x5) -> ReLU -> maxpool 2 -> conv(6->16, 5x5) -> ReLU -> maxpool 2
    -> fc 400->120 -> ReLU -> fc 120->84 -> ReLU -> fc 84->10 (logits).
    Shapes: (B,3,32,32) -> (B,6,28,28) -> (B,6,14,14) -> (B,16,10,10) -> (B,16,5,5) -> (B,10).

    Each block pools before its ReLU: ReLU is monotone, so max(relu(a)) = relu(max(a)) exactly,
    and the gradient reaches the same element (the window's first maximum if it is > 0,
    nothing otherwise), so outputs and trained weights are bitwise those of conv -> ReLU ->
    pool, with the ReLU on a quarter of the elements. The parameter names are unchanged
    (features.0 and features.3 are the convolutions).
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 5), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(6, 16, 5), nn.MaxPool2d(2), nn.ReLU(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


ARCHITECTURES = {"lenet5": LeNet5}


def build(architecture: str, num_classes: int = 10) -> nn.Module:
    return ARCHITECTURES[architecture](num_classes)
