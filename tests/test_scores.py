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


def test_losses_keep_precision_when_the_model_is_sure():
    """p_y = 1 - 2e-26 rounds to 1 even in float64; the losses must not round to 0."""
    logits = torch.tensor([[0.0, -60.0, -60.0], [0.0, -61.0, -61.0]])
    labels = torch.tensor([0, 0])
    ce = scores.cross_entropy(logits, labels).numpy()
    pl = scores.probability_loss(logits, labels).numpy()
    np.testing.assert_allclose(ce, [2 * math.exp(-60), 2 * math.exp(-61)], rtol=1e-12)
    np.testing.assert_allclose(pl, [2 * math.exp(-60), 2 * math.exp(-61)], rtol=1e-12)
    assert ce[0] > ce[1] > 0  # no ties: the ranking of confident samples survives


def test_large_losses_are_exact_too():
    logits = torch.tensor([[-50.0, 0.0]])
    assert scores.cross_entropy(logits, torch.tensor([0])).item() == pytest.approx(
        50 + math.log1p(math.exp(-50)), rel=1e-12)
    assert scores.probability_loss(logits, torch.tensor([0])).item() == pytest.approx(1.0)


def test_compute_returns_every_requested_score():
    out = scores.compute(["cross_entropy", "probability_loss"], logits_for(P), Y)
    assert set(out) == {"cross_entropy", "probability_loss"}
    assert all(v.dtype == np.float64 and v.shape == (3,) for v in out.values())


def test_confidence_loss_is_one_minus_the_top_probability_whatever_the_label():
    got = scores.confidence_loss(logits_for(P), Y).numpy()
    np.testing.assert_allclose(got, [0.3, 0.4, 0.5], rtol=1e-12)
    other = scores.confidence_loss(logits_for(P), torch.tensor([2, 1, 0])).numpy()
    assert np.array_equal(got, other)  # it reads no label


def test_confidence_loss_keeps_precision_when_the_model_is_sure():
    z = torch.tensor([[40.0, 0.0, 0.0], [60.0, 0.0, 0.0]], dtype=torch.float64)
    got = scores.confidence_loss(z, torch.tensor([1, 2])).numpy()
    np.testing.assert_allclose(got, [2 * math.exp(-40), 2 * math.exp(-60)], rtol=1e-9)
    assert got[0] > got[1] > 0  # not both rounded to 0


# ---------------------------------------------------------------- study 003's statistic
def study_003_statistic(p):
    """The study's recipe, literally: min-max normalise the vector, then average the
    differences between its maximum and each of its other entries."""
    q = (p - p.min()) / (p.max() - p.min())
    top = int(np.argmax(q))
    return float(np.mean([q[top] - q[j] for j in range(len(q)) if j != top]))


def test_normalized_confidence_loss_by_hand():
    """[0.7, 0.2, 0.1] -> q = [1, 1/6, 0]: differences 5/6 and 1, s = 11/12, loss 1/12.
    [0.1, 0.3, 0.6] -> q = [0, 0.4, 1]: s = (1 + 0.6) / 2 = 0.8. [0.25, 0.25, 0.5] -> q =
    [0, 0, 1]: s = 1, loss 0."""
    got = scores.normalized_confidence_loss(logits_for(P), Y).numpy()
    np.testing.assert_allclose(got, [1 / 12, 0.2, 0.0], rtol=1e-12, atol=1e-15)
    four = scores.normalized_confidence_loss(logits_for([[0.1, 0.4, 0.3, 0.2]]), torch.tensor([0]))
    np.testing.assert_allclose(four.numpy(), [1 / 3], rtol=1e-12)  # q = [0, 1, 2/3, 1/3]
    other = scores.normalized_confidence_loss(logits_for(P), torch.tensor([2, 1, 0])).numpy()
    assert np.array_equal(got, other)  # it reads no label


def test_normalized_confidence_loss_is_one_minus_the_studys_statistic():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.full(10, 0.3), size=200)
    got = scores.normalized_confidence_loss(logits_for(p.tolist()), torch.zeros(200, dtype=torch.long))
    np.testing.assert_allclose(got.numpy(), [1 - study_003_statistic(row) for row in p], rtol=1e-10)


def test_normalized_confidence_loss_of_a_constant_vector_is_one_and_sure_samples_keep_digits():
    flat = scores.normalized_confidence_loss(torch.zeros(2, 4, dtype=torch.float64), torch.tensor([0, 3]))
    assert flat.tolist() == [1.0, 1.0]  # every difference 0: s = 0
    z = torch.tensor([[40.0, 1.0, 0.0]], dtype=torch.float64)
    got = scores.normalized_confidence_loss(z, torch.tensor([0])).numpy()
    exact = (math.exp(-39) - math.exp(-40)) / (1 - math.exp(-40)) / 2
    np.testing.assert_allclose(got, [exact], rtol=1e-9)
