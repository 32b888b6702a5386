"""Membership inference attacks that read a target's outputs, optionally against reference models.

Every attack here is a class registered with ``@register`` in its own module, with

    name: str                 how experiments, tables and figures name it
    needs_references: bool    False only for attacks that read the target alone
    score(view) -> (n,) float64 membership scores, higher = more likely a member

where ``view`` (a ``TargetView``) holds everything an attacker is allowed to see: the
target's logits on the samples it attacks, the reference models' logits on those samples and
which of them each reference trained on (the attacker trained the references, so it knows),
and population samples ``z`` that are known non-members of the target (RMIA compares with
them). The view never holds the target's membership labels; the evaluation keeps those.
Logits carry an augmentation axis A: index 0 is the image as it is, index 1 (when present)
flipped left-right. Adding an attack: one module with one registered class, imported below.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp, softmax

ATTACKS: dict[str, type] = {}


def register(cls: type) -> type:
    ATTACKS[cls.name] = cls  # pragma: no mutate (runs at import)
    return cls


@dataclass(frozen=True)
class TargetView:
    """The attacker's view of one target (R reference models, n attacked samples, m population
    samples, C classes, A augmentations)."""

    target_logits: np.ndarray        # (A, n, C) the target's logits on the attacked samples
    labels: np.ndarray               # (n,) their labels
    ref_logits: np.ndarray           # (R, A, n, C) the references' logits on them
    ref_keep: np.ndarray             # (R, n) bool: reference r trained on sample i
    population_target: np.ndarray    # (A, m, C) the target's logits on the population z
    population_labels: np.ndarray    # (m,)
    population_refs: np.ndarray      # (R, A, m, C)
    population_keep: np.ndarray      # (R, m) bool

    @property
    def references(self) -> int:
        return len(self.ref_logits)

    def augmentations(self, use: int) -> "TargetView":
        """The same view with only the first ``use`` augmentations (1: no test-time flip)."""
        return TargetView(self.target_logits[:use], self.labels, self.ref_logits[:, :use],
                          self.ref_keep, self.population_target[:use], self.population_labels,
                          self.population_refs[:, :use], self.population_keep)

    def references_subset(self, idx: np.ndarray) -> "TargetView":
        return TargetView(self.target_logits, self.labels, self.ref_logits[idx], self.ref_keep[idx],
                          self.population_target, self.population_labels,
                          self.population_refs[idx], self.population_keep[idx])


def logit_confidence(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """phi = log(p_y / (1 - p_y)) per sample, over the last axis of ``logits`` (..., n, C).

    Computed without forming p: phi = z_y - log sum_{k != y} exp(z_k), in float64, so it stays
    finite where p_y rounds to 1 (LiRA's scaled confidence)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.broadcast_to(labels, z.shape[:-1])[..., None]
    z_y = np.take_along_axis(z, y, axis=-1)[..., 0]
    others = z.copy()
    np.put_along_axis(others, y, -np.inf, axis=-1)
    return z_y - logsumexp(others, axis=-1)


def true_class_probability(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """p_y = softmax(z)_y per sample, float64, over the last axis of ``logits`` (..., n, C)."""
    p = softmax(np.asarray(logits, dtype=np.float64), axis=-1)
    y = np.broadcast_to(labels, p.shape[:-1])[..., None]
    return np.take_along_axis(p, y, axis=-1)[..., 0]


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """-log p_y per sample (softplus of -phi), float64."""
    return np.logaddexp(0.0, -logit_confidence(logits, labels))


def build(name: str, **options):
    if name not in ATTACKS:
        raise KeyError(name)
    return ATTACKS[name](**options)


from . import lira, loss, rmia, shadow  # noqa: E402,F401  (registers the attacks)
