"""Attribute-sampling sizes against the textbook figures and an independent closed form."""
import math

import pytest

from scoring.sampling.size import sample_size


@pytest.mark.parametrize("confidence, tolerable, expected, size", [
    (0.95, 0.05, 0.0, 59),   # the textbook figure (AICPA table; jfa planning())
    (0.95, 0.01, 0.0, 299),  # jfa's test of planning(materiality = 0.01)
    (0.90, 0.05, 0.0, 45),   # AICPA, 90% confidence
    (0.95, 0.05, 0.01, 93),  # AICPA, one expected deviation
    (0.95, 0.10, 0.0, 29),   # AICPA, 10% tolerable
])
def test_large_populations_give_the_table_figures(confidence, tolerable, expected, size):
    assert sample_size(confidence, tolerable, expected) == size


def _zero_deviation_hypergeometric(confidence, tolerable, population):
    """Smallest n with C(N-K, n) / C(N, n) < alpha, K = ceil(tolerable N): the chance that a sample of
    n shows none of the K, as a product, with no library."""
    bad = math.ceil(tolerable * population)
    p = 1.0
    for n in range(1, population + 1):
        p *= (population - bad - (n - 1)) / (population - (n - 1))
        if p < 1 - confidence:
            return n
    return population


@pytest.mark.parametrize("population", [20, 30, 60, 200, 1000, 5000])
def test_a_finite_stratum_needs_the_hypergeometric_size(population):
    n = sample_size(0.95, 0.05, 0.0, population=population)
    assert n == _zero_deviation_hypergeometric(0.95, 0.05, population)
    assert n <= 59 and n <= population


def test_small_strata_need_fewer_and_large_ones_approach_59():
    sizes = [sample_size(0.95, 0.05, 0.0, population=N) for N in (30, 100, 500, 5000, 100_000)]
    assert sizes == sorted(sizes) and sizes[-1] in (58, 59)


@pytest.mark.parametrize("args", [(1.0, 0.05, 0.0), (0.95, 0.0, 0.0), (0.95, 0.05, 0.05), (0.95, 0.05, -0.1)])
def test_impossible_settings_are_refused(args):
    with pytest.raises(ValueError):
        sample_size(*args)
