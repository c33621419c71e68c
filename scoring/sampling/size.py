"""Attribute-sampling sample sizes (ISA 530; the AICPA audit sampling tables; jfa's ``planning``).

The smallest sample ``n`` from a stratum of ``population`` policies such that, if the sample
shows no more than ``ceil(expected × n)`` policies with the attribute (missing service), one can
say with ``confidence`` that the stratum's rate is below ``tolerable``: the upper bound of the
rate is below the tolerable rate. For a large population the count in the sample is binomial;
for a finite one it is hypergeometric with ``ceil(tolerable × population)`` policies carrying
the attribute, which makes the sample smaller (the finite-population correction). 95%
confidence, 5% tolerable and none expected give the textbook 59 for a large stratum.
"""
from __future__ import annotations

import math

from scipy.stats import binom, hypergeom


def sample_size(confidence: float, tolerable: float, expected: float = 0.0, population: int | None = None,
                limit: int = 100_000) -> int:
    """The attribute-sampling size for a stratum (all of it when the stratum is smaller than that).

    Parameters
    ----------
    confidence : the one-sided confidence of the upper bound, e.g. 0.95.
    tolerable : the tolerable rate the upper bound must stay below, e.g. 0.05.
    expected : the rate expected in the sample (``ceil(expected × n)`` deviations allowed); < tolerable.
    population : the stratum's size; None for a population large enough to be binomial.

    Returns
    -------
    int : the sample size, at most ``population``.
    """
    if not 0 < confidence < 1 or not 0 < tolerable < 1 or not 0 <= expected < tolerable:
        raise ValueError(f"need 0 < confidence < 1, 0 <= expected < tolerable < 1; got {confidence}, {expected}, {tolerable}")
    alpha = 1 - confidence
    if population is not None:
        if population <= 0:
            return 0
        bad = math.ceil(tolerable * population)
    top = limit if population is None else population
    for n in range(1, top + 1):
        allowed = math.ceil(expected * n)
        if allowed >= n:
            continue
        if population is None:
            p = binom.cdf(allowed, n, tolerable)
        else:
            p = hypergeom.cdf(allowed, population, bad, n)
        if p < alpha:
            return n
    return top
