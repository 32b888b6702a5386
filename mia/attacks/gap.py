"""The gap attack (Yeom et al., CSF 2018): a sample is a member if and only if the target
classifies it correctly.

Its balanced accuracy on equal members and non-members is (train accuracy + 1 - test
accuracy) / 2, half the generalisation gap above chance: the baseline every loss-based
number is read against. The score takes two values (1 correct, 0 wrong), so its ROC is one
straight segment and its TPR at a low FPR is that segment's interpolation. The image as it is
(no augmentation); no references.
"""
from __future__ import annotations

import numpy as np

from .base import Attack, TargetView


def correct(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(..., n) 1.0 where the top logit over the last axis of ``logits`` (..., n, C) is the
    label's, else 0.0 (ties: the first maximum)."""
    return np.where(np.argmax(logits, axis=-1) == labels, 1.0, 0.0)


class Gap(Attack):
    name = "gap"

    def score(self, view: TargetView) -> np.ndarray:
        return correct(view.target_logits[0], view.labels)
