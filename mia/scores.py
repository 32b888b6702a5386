"""Per-sample membership scores computed from a model's logits.

Each score is a loss: low for samples the model fits well, so *low score = member*.
All are computed in float64 from the logits ``z`` (N, C) and labels ``y`` (N,), with
``p = softmax(z)``:

- ``cross_entropy``:               -log p_y
- ``probability_loss``:            1 - p_y
- ``normalized_probability_loss``: 1 - (p_y - min_k p_k) / (max_k p_k - min_k p_k)
- ``confidence_loss``:             1 - max_k p_k (the output confidence; reads no label)
- ``normalized_confidence_loss``:  1 - s, with s study 003's statistic: the mean over the
                                   other classes of max_k q_k - q_j, q the min-max
                                   normalised probability vector (reads no label)

Adding a score: write a function ``(logits, labels) -> (N,) float64 array`` and decorate
it with ``@register("name")``, and bump ``VERSION`` when a score's values change (cached
scores of another version are recomputed).

Precision: for a confidently classified sample p_y rounds to 1 and ``-log p_y`` to exactly 0,
which would tie thousands of samples at the bottom of the ranking (and zero out TPR at low
FPR). So both losses are computed from a = log sum_{k != y} exp(z_k - z_y), without
cancellation: -log p_y = log(1 + e^a) = softplus(a) and 1 - p_y = e^a / (1 + e^a) = sigmoid(a).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

VERSION = 3  # 3: scores.npz also holds ``correct`` (the gap attack's signal)
ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SCORES: dict[str, ScoreFn] = {}


def register(name: str) -> Callable[[ScoreFn], ScoreFn]:
    def deco(fn: ScoreFn) -> ScoreFn:
        SCORES[name] = fn  # pragma: no mutate (runs at import; tested through scores.compute)
        return fn
    return deco


def _log_odds_against_true(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """a = log sum_{k != y} exp(z_k - z_y), shape (N,), in float64."""
    z = logits.double()
    margin = z - z.gather(1, labels.view(-1, 1))
    margin.scatter_(1, labels.view(-1, 1), -math.inf)  # leave out k = y
    return torch.logsumexp(margin, dim=1)


@register("cross_entropy")
def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """-log p_y, the usual training loss of each sample (= softplus(a), see module doc)."""
    return torch.nn.functional.softplus(_log_odds_against_true(logits, labels))


@register("probability_loss")
def probability_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """1 - p_y (= sigmoid(a), see module doc)."""
    return torch.sigmoid(_log_odds_against_true(logits, labels))


@register("normalized_probability_loss")
def normalized_probability_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """1 - (p_y - min_k p_k) / (max_k p_k - min_k p_k): the probability vector min-max normalised.

    0 when the true class has the top probability, 1 when it has the lowest.
    A constant probability vector (max = min) leaves the ratio undefined; it is set to 0.5.
    """
    p = torch.softmax(logits.double(), dim=1)
    p_y = p.gather(1, labels.view(-1, 1)).squeeze(1)
    lo, hi = p.min(dim=1).values, p.max(dim=1).values
    span = hi - lo
    normalized = torch.where(span > 0, (p_y - lo) / torch.where(span > 0, span, 1.0), 0.5)
    return 1.0 - normalized


@register("confidence_loss")
def confidence_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """1 - max_k p_k: the output confidence (the top softmax probability) as a loss. It reads
    no label: a sample the model is sure of, whatever class it picks, scores low. Computed as
    the sigmoid of a' = log sum_{k != top} exp(z_k - z_top), as ``probability_loss`` is for the
    true class, so that confident samples do not all round to 0."""
    top = logits.argmax(dim=1)
    return torch.sigmoid(_log_odds_against_true(logits, top))


@register("normalized_confidence_loss")
def normalized_confidence_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """1 - s, where s is the statistic of study 003 (../shared/reference/normalized-confidence.md):
    min-max normalise the probability vector, q_j = (p_j - min p) / (max p - min p), and average
    the differences max_k q_k - q_j = 1 - q_j over the K - 1 classes j other than the top one.
    So the loss is the mean of the other classes' q_j: 0 when every other class has the lowest
    probability, 1 when they all tie with the top. Higher s (lower loss): more confident.

    With r_j = p_j / max p = exp(z_j - max z), q_j = (r_j - min r) / (1 - min r), which keeps
    the digits a confident sample's p rounds away. A constant vector (min r = 1) has no
    normalisation: every difference is 0, s = 0, the loss 1. Reads no label."""
    z = logits.double()
    r = torch.exp(z - z.max(dim=1, keepdim=True).values)
    r_min = r.min(dim=1, keepdim=True).values
    above_min = (r - r_min).scatter(1, z.argmax(dim=1, keepdim=True), 0.0)  # the top one left out
    span = (1.0 - r_min).squeeze(1)
    mean_q = above_min.sum(dim=1) / ((z.shape[1] - 1) * torch.where(span > 0, span, 1.0))
    return torch.where(span > 0, mean_q, 1.0)


def compute(names: list[str] | tuple[str, ...], logits: torch.Tensor, labels: torch.Tensor
            ) -> dict[str, np.ndarray]:
    """Each named score as a float64 numpy array of shape (N,)."""
    return {name: SCORES[name](logits, labels).cpu().numpy() for name in names}
