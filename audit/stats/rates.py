"""Error rates with Wilson and Clopper–Pearson intervals and a finite-population correction.

When the sample is a large share of the dataset (``n / population`` above ``fpc_threshold``),
sampling without replacement makes the binomial intervals too wide. Then:

- Wilson: the score interval is solved with the variance ``p(1-p)/n * (N-n)/(N-1)``, which is
  the usual Wilson formula with ``z**2`` scaled by the correction factor;
- Clopper–Pearson: the exact interval is inverted from the hypergeometric distribution of the
  sample count given ``K`` errors in the population (reported as ``K/N``).

A census (``n == population``) gives a zero-width interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from scipy import stats as sps

from audit.stats.results import Interval, RateEstimate, RateRange
from core.errors import ConfigError

FPC_THRESHOLD = 0.05


def z_value(confidence: float) -> float:
    """Two-sided standard-normal quantile for ``confidence`` (0.95 -> 1.96)."""
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence}")
    return float(sps.norm.ppf(1 - (1 - confidence) / 2))


def _check_counts(k: int, n: int, population: int | None = None) -> None:
    if n < 0 or k < 0 or k > n:
        raise ConfigError(f"need 0 <= k <= n, got k={k}, n={n}")
    if population is not None and population < n:
        raise ConfigError(
            f"population ({population}) is smaller than the sample ({n}); pass the number of "
            "records in the whole dataset"
        )


def fpc_factor(n: int, population: int | None) -> float:
    """``(N - n) / (N - 1)``: the variance shrink factor of sampling without replacement."""
    if population is None or population <= 1:
        return 1.0
    return max(population - n, 0) / (population - 1)


def wilson_interval(
    k: int, n: int, confidence: float = 0.95, *, population: int | None = None
) -> Interval:
    """Wilson score interval for ``k/n`` (with the finite-population correction if given)."""
    _check_counts(k, n, population)
    if n == 0:
        return Interval(0.0, 1.0)
    z2 = z_value(confidence) ** 2 * fpc_factor(n, population)
    p = k / n
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) * math.sqrt(z2) / (1 + z2 / n)
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def clopper_pearson_interval(k: int, n: int, confidence: float = 0.95) -> Interval:
    """Exact (Clopper–Pearson) binomial interval from beta quantiles."""
    _check_counts(k, n)
    if n == 0:
        return Interval(0.0, 1.0)
    tail = (1 - confidence) / 2
    z_value(confidence)  # validates confidence
    low = 0.0 if k == 0 else float(sps.beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(sps.beta.ppf(1 - tail, k + 1, n - k))
    return Interval(low, high)


def hypergeometric_interval(k: int, n: int, population: int, confidence: float = 0.95) -> Interval:
    """Exact interval for the population share ``K/N`` when ``n`` of ``N`` were drawn."""
    _check_counts(k, n, population)
    tail = (1 - confidence) / 2
    z_value(confidence)
    if n == 0:
        return Interval(0.0, 1.0)
    # P(X >= k | K) grows with K; P(X <= k | K) shrinks with K. Integer bisection on each.
    lowest, highest = k, population - (n - k)
    low = k if k == 0 else _first_true(
        lowest, highest, lambda big_k: sps.hypergeom.sf(k - 1, population, big_k, n) > tail
    )
    high = population - (n - k) if k == n else _last_true(
        lowest, highest, lambda big_k: sps.hypergeom.cdf(k, population, big_k, n) > tail
    )
    return Interval(low / population, high / population)


def _first_true(lo: int, hi: int, predicate) -> int:
    while lo < hi:
        mid = (lo + hi) // 2
        if predicate(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _last_true(lo: int, hi: int, predicate) -> int:
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if predicate(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def error_rate(
    k: int,
    n: int,
    *,
    confidence: float = 0.95,
    population: int | None = None,
    fpc_threshold: float = FPC_THRESHOLD,
) -> RateEstimate:
    """``k`` errors in ``n`` decided records, with both intervals.

    The finite-population correction is applied when ``population`` is given and the sample
    is more than ``fpc_threshold`` of it.
    """
    _check_counts(k, n, population)
    z_value(confidence)
    fpc = population is not None and n > 0 and n / population > fpc_threshold
    if n == 0:
        return RateEstimate(k, n, None, None, None, confidence, False, population)
    if fpc:
        assert population is not None
        wilson = wilson_interval(k, n, confidence, population=population)
        exact = hypergeometric_interval(k, n, population, confidence)
    else:
        wilson = wilson_interval(k, n, confidence)
        exact = clopper_pearson_interval(k, n, confidence)
    return RateEstimate(k, n, k / n, wilson, exact, confidence, fpc, population)


def rate_range(
    estimates: Mapping[str, RateEstimate], *, disagreements: int | None = None
) -> RateRange | None:
    """Min and max of per-judge rates, with one sentence on why the range is as wide as it is.

    ``disagreements`` (records on which decided judges differ) sharpens the explanation.
    """
    rated = {name: est for name, est in estimates.items() if est.rate is not None}
    rates = {name: est.rate for name, est in estimates.items() if est.rate is not None}
    if not rates:
        return None
    low, high = min(rates.values()), max(rates.values())
    low_names = sorted(name for name, rate in rates.items() if rate == low)
    high_names = sorted(name for name, rate in rates.items() if rate == high)
    return RateRange(low, high, low_names, high_names, _why(rated, low, high, disagreements))


def _why(rated: Mapping[str, RateEstimate], low: float, high: float, disagree: int | None) -> str:
    sizes = sorted({est.n for est in rated.values()})
    n_text = f"n={sizes[0]}" if len(sizes) == 1 else f"n={sizes[0]}–{sizes[-1]}"
    halves = [est.wilson.half_width for est in rated.values() if est.wilson is not None]
    half = max(halves) * 100 if halves else 0.0
    conf = round(next(iter(rated.values())).confidence * 100)
    span = f"Per-judge rates span {low:.1%}–{high:.1%} across {len(rated)} judge(s)"
    if len(rated) == 1:
        return f"{span}; with {n_text} its {conf}% Wilson interval alone is ±{half:.0f} points."
    cause = "the judges disagree"
    if disagree is not None:
        cause = f"the judges disagree on {disagree} record(s)"
    return (
        f"{span} because {cause} and each rate rests on {n_text} "
        f"(its {conf}% Wilson interval is up to ±{half:.0f} points on its own)."
    )
