"""The interface of an attack, and what an attacker may see.

An attack is a class (``Attack``) with

    name: str                  how experiments, tables and figures name it
    options: tuple[str, ...]   its constructor's options, in the order a row key lists them
                               ("lira_online/global": variance = "global")
    needs_references: bool     True if it reads reference models
    fitted: dict[str, str]     what ``fit`` learned: record key -> attribute name (RMIA's
                               ``a``, LiRA's resolved variance, the KDE threshold)
    tuned: tuple[str, ...]     the keys of ``fitted`` tuned on the references
    out_only: bool             True if it reads only the references that did not train on a
                               sample (an offline attack): the evaluation records how many
                               there are per sample
    threshold_title: str       a sampling-protocol attack (``SignalView``): how captions
                               name its threshold ("KDE threshold")
    fit(view) -> self          learns from what the attacker may see, and nothing else
    score(view) -> (n,) float  membership scores of the attacked samples: higher = member

``view`` is one of two typed inputs, each holding only what the attacker is allowed to see:

- ``TargetView`` (reference-model attacks): the target's logits on the attacked samples, the
  reference models' logits on them and which of them each reference trained on (the attacker
  trained the references, so it knows), and population samples ``z`` that are known
  non-members of the target (RMIA compares with them). Logits carry an augmentation axis A:
  index 0 is the image as it is, index 1 (when present) flipped left-right. Fitting uses the
  references only (RMIA's ``a``, Shokri's classifiers).
- ``SignalView`` (the study's sampling protocol): one per-sample signal, a loss (lower = more
  likely a member), of the attacked samples, and of the samples whose membership the
  attacker was given (p% of each class). Fitting uses the known samples only.

Neither holds the target's membership of the attacked samples: the evaluation keeps that.
Adding an attack touches one file plus its test: a module of ``mia.attacks`` with one or
more registered ``Attack`` subclasses (``ATTACKS`` finds them).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.special import logsumexp, softmax


class Attack:
    """The contract every attack keeps (module docstring). A subclass with a ``name`` is a
    member of the family; classes without one (shared bases) are not."""

    name: ClassVar[str]
    options: ClassVar[tuple[str, ...]] = ()
    needs_references: ClassVar[bool] = False
    fitted: ClassVar[dict[str, str]] = {}
    # the keys of ``fitted`` whose values are tuned on the references (RMIA offline's a): the
    # power curve records them for every subset of references
    tuned: ClassVar[tuple[str, ...]] = ()
    out_only: ClassVar[bool] = False
    threshold_title: ClassVar[str] = ""
    view_type: ClassVar[type] = None  # TargetView or SignalView, set below

    def fit(self, view) -> "Attack":
        """Learn what the attack needs from what the attacker may see (nothing, by default)."""
        return self

    def score(self, view) -> np.ndarray:
        """(n,) membership scores of the attacked samples, higher = more likely a member."""
        raise NotImplementedError

    def fitted_values(self) -> dict:
        """What ``fit`` learned, under the keys the results record it by."""
        return {key: getattr(self, attribute) for key, attribute in self.fitted.items()}


@dataclass(frozen=True)
class SignalView:
    """The attacker's view in the sampling protocol: a loss per sample (lower = member)."""

    known_members: np.ndarray      # (k_m,) the losses of the members the attacker was given
    known_nonmembers: np.ndarray   # (k_n,) and of the non-members
    signal: np.ndarray | None = None  # (n,) the losses of the attacked samples


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


Attack.view_type = TargetView  # the default; the sampling protocol's attacks set SignalView


def softmax64(logits: np.ndarray) -> np.ndarray:
    """softmax(z) over the last axis of ``logits`` (..., C), computed in float64."""
    return softmax(np.asarray(logits, dtype=np.float64), axis=-1)


def logit_confidence(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """phi = log(p_y / (1 - p_y)) per sample, over the last axis of ``logits`` (..., n, C).

    Computed without forming p: phi = z_y - log sum_{k != y} exp(z_k), in float64, so it stays
    finite where p_y rounds to 1 (LiRA's scaled confidence)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.broadcast_to(labels, z.shape[:-1])[..., None]
    z_y = np.take_along_axis(z, y)[..., 0]  # numpy's default axis is the last
    others = z.copy()
    np.put_along_axis(others, y, -np.inf, axis=-1)
    return z_y - logsumexp(others, axis=-1)


def true_class_probability(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """p_y = softmax(z)_y per sample, float64, over the last axis of ``logits`` (..., n, C)."""
    p = softmax64(logits)
    y = np.broadcast_to(labels, p.shape[:-1])[..., None]
    return np.take_along_axis(p, y)[..., 0]  # numpy's default axis is the last


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """-log p_y per sample (softplus of -phi), float64."""
    return np.logaddexp(0.0, -logit_confidence(logits, labels))


