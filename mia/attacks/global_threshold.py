"""The global loss threshold of the MNIST loss-threshold study (reference 000): one threshold
on the loss, the one with the highest balanced accuracy on the losses of the members and
non-members the attacker was given (``SignalView``), every observed loss a candidate.

The study chose its threshold on the very samples it then reported the accuracy of: an
oracle. Here the threshold is fitted on the attacker's sample and evaluated on a disjoint
balanced set (``mia.evaluation.threshold``); the oracle is what ``metrics.loss_metrics``
records of the evaluation set itself (``best_accuracy`` at ``best_threshold``), and reports
label it so.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Attack, SignalView
from .kde_threshold import best_observed_threshold


@dataclass
class GlobalThreshold(Attack):
    """Member iff loss < threshold, the threshold the best of every observed loss on the
    attacker's sample, compared exactly, ties to the smallest
    (``kde_threshold.best_observed_threshold``)."""

    name = "global_threshold"
    threshold_title = "global threshold (the best on the attacker's sample)"
    fitted = {"threshold": "threshold", "threshold_method": "method"}
    view_type = SignalView
    threshold: float = float("nan")
    method: str = "best_on_attacker_sample"

    def fit(self, view: SignalView) -> "GlobalThreshold":
        self.threshold = best_observed_threshold(np.asarray(view.known_members, float),
                                                 np.asarray(view.known_nonmembers, float))
        return self

    def score(self, view: SignalView) -> np.ndarray:
        """-loss: higher = member."""
        return -np.asarray(view.signal)

    def predict(self, view: SignalView) -> np.ndarray:
        """Member when the loss is below the threshold (True = member)."""
        return np.asarray(view.signal) < self.threshold
