"""What epsilon means (``mia.laplace``): the Laplace mechanism's releases against its theory,
on the seeded right-skewed income sample."""
import numpy as np
import pytest

from mia import laplace


def test_the_income_sample_is_seeded_and_right_skewed():
    a, b = laplace.incomes(), laplace.incomes()
    assert np.array_equal(a, b) and len(a) == laplace.N
    assert a.mean() > np.median(a) and laplace._skewness(a) > 1
    assert not np.array_equal(a, laplace.incomes(seed=1))


def test_the_releases_are_unbiased_with_the_mechanisms_spread():
    """Each query at each epsilon: the mean of the releases within 4 standard errors of the
    truth, their standard deviation within 10% of sqrt(2) * sensitivity / epsilon."""
    result, _, releases = laplace.run()
    for name, q in result["queries"].items():
        for row in q["by_epsilon"]:
            se = row["expected_std"] / np.sqrt(laplace.REPEATS)
            assert abs(row["mean"] - q["true"]) < 4 * se, (name, row)
            assert row["std"] == pytest.approx(row["expected_std"], rel=0.1), (name, row)
    # sensitivities: the clipped sum and maximum move by the bound, the average by bound / n
    assert result["queries"]["average"]["sensitivity"] == laplace.BOUND / laplace.N
    assert result["queries"]["maximum"]["sensitivity"] == laplace.BOUND
    # ten times the budget, a tenth of the error (within sampling noise)
    errors = [r["dollar_error_median"] for r in result["queries"]["average"]["by_epsilon"]]
    assert errors[0] / errors[1] == pytest.approx(10, rel=0.2)


def test_a_budget_or_sensitivity_of_zero_is_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="epsilon and the sensitivity must be > 0"):
        laplace.private(1.0, 1.0, 0.0, rng, 10)


def test_the_four_figures_are_drawn(tmp_path):
    from mia.plots.base import Source
    result, data, releases = laplace.run()
    paths = laplace.figures(result, data, releases, tmp_path, Source(experiment="x", title="x"))
    assert sorted({p.stem for p in paths}) == sorted(laplace.FIGURES)
    assert all(p.is_file() for p in paths)
