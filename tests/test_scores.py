import math

import numpy as np
import pytest
import torch

from mia import scores


def logits_for(probabilities):
    """Logits whose softmax is exactly the given probability rows (log p)."""
    return torch.log(torch.tensor(probabilities, dtype=torch.float64))


P = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.25, 0.25, 0.5]]
Y = torch.tensor([0, 0, 1])


def test_cross_entropy_by_hand():
    got = scores.cross_entropy(logits_for(P), Y).numpy()
    np.testing.assert_allclose(got, [-math.log(0.7), -math.log(0.1), -math.log(0.25)], rtol=1e-12)


def test_probability_loss_by_hand():
    got = scores.probability_loss(logits_for(P), Y).numpy()
    np.testing.assert_allclose(got, [0.3, 0.9, 0.75], rtol=1e-12)


def test_normalized_probability_loss_by_hand():
    got = scores.normalized_probability_loss(logits_for(P), Y).numpy()
    # row 0: p_y is the max -> 0; row 1: p_y is the min -> 1; row 2: (0.25-0.25)/(0.5-0.25) = 0 -> 1
    np.testing.assert_allclose(got, [0.0, 1.0, 1.0], atol=1e-12)
    p = [[0.2, 0.5, 0.3]]
    got = scores.normalized_probability_loss(logits_for(p), torch.tensor([2])).numpy()
    np.testing.assert_allclose(got, [1 - (0.3 - 0.2) / (0.5 - 0.2)], rtol=1e-12)


def test_normalized_probability_loss_constant_vector_is_defined():
    got = scores.normalized_probability_loss(torch.zeros(1, 10), torch.tensor([4])).numpy()
    assert got.tolist() == [0.5]


def test_probability_loss_keeps_precision_near_one():
    # p_y = 1 - 1e-12: float32 softmax would round 1 - p_y to 0.
    logits = torch.tensor([[0.0, -30.0, -30.0]])
    got = scores.probability_loss(logits, torch.tensor([0])).item()
    assert got == pytest.approx(2 * math.exp(-30), rel=1e-6)


def test_compute_returns_every_requested_score():
    out = scores.compute(["cross_entropy", "probability_loss"], logits_for(P), Y)
    assert set(out) == {"cross_entropy", "probability_loss"}
    assert all(v.dtype == np.float64 and v.shape == (3,) for v in out.values())
