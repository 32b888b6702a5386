"""The loss attack (Yeom et al., CSF 2018) as a membership score: -CE of the target.

The study's KDE attack thresholds the same loss; here it is scored threshold-free on the same
evaluation set as the calibrated attacks, on the image as it is (no augmentation)."""
from __future__ import annotations

import numpy as np

from .base import Attack, TargetView, cross_entropy


class Loss(Attack):
    name = "loss"

    def score(self, view: TargetView) -> np.ndarray:
        return -cross_entropy(view.target_logits[0], view.labels)
