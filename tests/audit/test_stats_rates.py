"""Error rates, intervals, finite-population correction, the range across judges, sample size."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from audit.stats import (
    RateEstimate,
    clopper_pearson_interval,
    error_rate,
    hypergeometric_interval,
    margin_reached,
    rate_range,
    sample_size_for_margin,
    wilson_half_width,
    wilson_interval,
)
from core.errors import ConfigError


def test_issue_numbers_hard_and_inclusive():
    hard = error_rate(11, 40)
    inclusive = error_rate(16, 40)
    assert hard.rate == 0.275 and inclusive.rate == 0.4
    assert (round(hard.wilson.low, 3), round(hard.wilson.high, 3)) == (0.161, 0.428)
    assert (round(inclusive.wilson.low, 3), round(inclusive.wilson.high, 3)) == (0.263, 0.554)
    assert not hard.fpc_applied


@pytest.mark.parametrize("k,n", [(0, 10), (1, 10), (11, 40), (40, 40), (7, 300)])
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_intervals_match_independent_implementations(k, n, confidence):
    wilson = wilson_interval(k, n, confidence)
    low, high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    assert (wilson.low, wilson.high) == pytest.approx((low, high), abs=1e-12)
    exact = clopper_pearson_interval(k, n, confidence)
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    assert (exact.low, exact.high) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_confidence_is_configurable():
    narrow, wide = error_rate(11, 40, confidence=0.8), error_rate(11, 40, confidence=0.99)
    assert narrow.wilson.width < wide.wilson.width
    assert narrow.clopper_pearson.width < wide.clopper_pearson.width


def test_fpc_applies_only_when_the_sample_is_a_large_share():
    plain = error_rate(11, 40)
    assert error_rate(11, 40, population=1_000_000).wilson == plain.wilson
    corrected = error_rate(11, 40, population=100)
    assert corrected.fpc_applied and corrected.population == 100
    assert corrected.wilson.width < plain.wilson.width
    assert corrected.clopper_pearson.width < plain.clopper_pearson.width
    assert corrected.wilson.low < 0.275 < corrected.wilson.high


def test_census_has_zero_width():
    census = error_rate(11, 40, population=40)
    assert census.wilson.low == pytest.approx(0.275) and census.wilson.high == pytest.approx(0.275)
    assert (census.clopper_pearson.low, census.clopper_pearson.high) == (0.275, 0.275)


def test_hypergeometric_interval_tends_to_clopper_pearson():
    big = hypergeometric_interval(11, 40, 10_000_000)
    exact = clopper_pearson_interval(11, 40)
    assert (big.low, big.high) == pytest.approx((exact.low, exact.high), abs=1e-5)


def test_hypergeometric_interval_has_exact_coverage():
    population, n, confidence = 60, 20, 0.9
    intervals = [hypergeometric_interval(k, n, population, confidence) for k in range(n + 1)]
    for big_k in range(population + 1):
        pmf = sps.hypergeom.pmf(np.arange(n + 1), population, big_k, n)
        covered = [iv.low <= big_k / population <= iv.high for iv in intervals]
        assert pmf[covered].sum() >= confidence - 1e-12


def test_rate_estimate_is_json_serialisable():
    payload = json.dumps(error_rate(3, 12, population=50).to_dict())
    assert json.loads(payload)["wilson"]["low"] > 0
    assert error_rate(0, 0).rate is None


def test_range_across_judges_explains_its_width():
    estimates = {"a": error_rate(11, 40), "b": error_rate(16, 40), "c": error_rate(14, 40)}
    spread = rate_range(estimates, disagreements=9)
    assert (spread.low, spread.high) == (0.275, 0.4)
    assert spread.low_judges == ["a"] and spread.high_judges == ["b"]
    assert "27.5%–40.0%" in spread.why and "9 record" in spread.why and "n=40" in spread.why
    assert rate_range({}) is None
    single = rate_range({"a": error_rate(11, 40)})
    assert single.low == single.high == 0.275 and "Wilson" in single.why


@pytest.mark.parametrize("bad", [dict(k=5, n=4), dict(k=-1, n=4), dict(k=1, n=4, population=3)])
def test_invalid_counts_raise_config_error(bad):
    with pytest.raises(ConfigError):
        error_rate(**bad)
    with pytest.raises(ConfigError, match="confidence"):
        error_rate(1, 4, confidence=95)


def test_sample_size_wald_textbook_value():
    # n0 = 1.96² · 0.3 · 0.7 / 0.05² = 322.7 -> 323; with N = 1000: 322.7 / (1 + 321.7/1000) -> 245
    assert sample_size_for_margin(0.05, 0.3, method="wald") == 323
    assert sample_size_for_margin(0.05, 0.3, population=1000, method="wald") == 245


@pytest.mark.parametrize("population", [None, 1000, 200])
def test_sample_size_wilson_is_the_smallest_n_that_meets_the_margin(population):
    n = sample_size_for_margin(0.05, 0.3, population=population)
    assert wilson_half_width(0.3, n, 0.95, population) <= 0.05
    assert wilson_half_width(0.3, n - 1, 0.95, population) > 0.05
    if population:
        assert n < sample_size_for_margin(0.05, 0.3)


def test_sample_size_validates_inputs():
    with pytest.raises(ConfigError, match="margin"):
        sample_size_for_margin(0, 0.3)
    with pytest.raises(ConfigError, match="expected"):
        sample_size_for_margin(0.05, 1.3)


def test_margin_reached_for_early_stopping():
    assert not margin_reached(3, 8, 0.5)  # below min_n
    assert not margin_reached(30, 100, 0.05)  # ±0.09
    assert margin_reached(96, 320, 0.05)  # 0.3 at n=320 -> ±0.0499
    assert margin_reached(5, 50, 0.05, population=50)  # census


def test_rate_estimate_fields():
    est = error_rate(2, 5)
    assert isinstance(est, RateEstimate)
    assert (est.k, est.n, est.confidence) == (2, 5, 0.95)
