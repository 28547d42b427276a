"""McNemar's exact test and Newcombe's paired interval."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar

from audit.stats import compare_paired, mcnemar_exact, newcombe_paired_interval


def test_newcombe_paired_reference_example():
    # Fagerland, Lydersen & Laake (2017) ch. 8, Cavo et al. (2012): [[59, 6], [16, 80]];
    # published: estimate -0.0621, 95% CI -0.1186 to -0.0046 (Newcombe square-and-add).
    interval = newcombe_paired_interval(59, 6, 16, 80)
    assert round(interval.low, 4) == -0.1186
    assert round(interval.high, 4) == -0.0046


def test_mcnemar_exact_matches_statsmodels():
    exact, mid = mcnemar_exact(6, 16)
    assert exact == pytest.approx(mcnemar([[59, 6], [16, 80]], exact=True).pvalue, abs=1e-12)
    assert round(exact, 6) == 0.052479
    assert mid == pytest.approx(exact - sps.binom.pmf(6, 22, 0.5), abs=1e-12)
    assert mcnemar_exact(0, 0) == (1.0, 1.0)


def test_compare_paired_from_indicators():
    a = np.array([1] * 59 + [1] * 6 + [0] * 16 + [0] * 80 + [np.nan, 1], dtype=float)
    b = np.array([1] * 59 + [0] * 6 + [1] * 16 + [0] * 80 + [1, np.nan], dtype=float)
    result = compare_paired(a, b)
    assert (result.n, result.both, result.only_a, result.only_b, result.neither) == (
        161,
        59,
        6,
        16,
        80,
    )
    assert result.difference == pytest.approx(-10 / 161)
    assert result.ci.low < result.difference < result.ci.high
    swapped = compare_paired(b, a)
    assert (swapped.ci.low, swapped.ci.high) == pytest.approx((-result.ci.high, -result.ci.low))
    json.dumps(result.to_dict())


def test_identical_systems_give_zero_difference_and_p_one():
    a = np.array([1, 0, 1, 1, 0, 0, 0, 1], dtype=float)
    result = compare_paired(a, a)
    assert result.difference == 0 and result.p_value_exact == 1.0
    assert result.ci.low < 0 < result.ci.high
