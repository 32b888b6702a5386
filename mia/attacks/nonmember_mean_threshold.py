"""Study 003's threshold rule (../shared/reference/normalized-confidence.md): average the
statistic over the members and over the non-members the attacker was given, and take the
non-members' average as the threshold; a sample is a member when its statistic exceeds it.

The study's statistic s (higher = more confident) is the score ``normalized_confidence_loss``
= 1 - s, so "s above the non-members' mean of s" is "loss below the non-members' mean loss".
The rule reads any loss the same way. It is taken as the study took it: nothing is tuned, and
the members' mean, which the study computed too, is recorded but decides nothing. Fitted on
the attacker's sample and judged on a disjoint balanced set (``mia.evaluation.threshold``),
so the accuracy is not measured on the samples that set the threshold.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Attack, SignalView


@dataclass
class NonmemberMeanThreshold(Attack):
    """Member iff loss < the mean loss of the known non-members."""

    name = "nonmember_mean_threshold"
    threshold_title = "non-members' mean threshold (study 003's rule)"
    fitted = {"threshold": "threshold", "threshold_method": "method",
              "known_member_mean": "member_mean"}
    view_type = SignalView
    threshold: float = float("nan")
    member_mean: float = float("nan")
    method: str = "mean_of_known_nonmembers"

    def fit(self, view: SignalView) -> "NonmemberMeanThreshold":
        self.threshold = float(np.mean(np.asarray(view.known_nonmembers, float)))
        self.member_mean = float(np.mean(np.asarray(view.known_members, float)))
        return self

    def score(self, view: SignalView) -> np.ndarray:
        """-loss: higher = member (the rule's ROC, threshold-free)."""
        return -np.asarray(view.signal, float)

    def predict(self, view: SignalView) -> np.ndarray:
        """Member when the loss is below the non-members' mean (True = member)."""
        return np.asarray(view.signal) < self.threshold
