"""Paired comparison of two error rates on the same units (same prompts, two models).

McNemar's exact test conditions on the discordant pairs: ``only_a ~ Binomial(b + c, 1/2)``
under equal rates (``scipy.stats.binomtest``). The interval for ``rate_a - rate_b`` is
Newcombe's (1998, *Stat Med* 17:2635) method 10: Wilson score limits for each rate combined
with the correlation ``φ`` of the paired table (with Newcombe's correction that sets small
positive ``φ`` to zero), as in Fagerland, Lydersen & Laake (2017) ch. 8.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from audit.stats.rates import wilson_interval, z_value
from audit.stats.results import Interval, PairedComparison
from core.errors import ConfigError


def mcnemar_exact(only_a: int, only_b: int) -> tuple[float, float]:
    """Two-sided exact and mid-p McNemar p-values from the discordant counts."""
    discordant = only_a + only_b
    if discordant == 0:
        return 1.0, 1.0
    exact = float(sps.binomtest(only_a, discordant, 0.5).pvalue)
    smaller = min(only_a, only_b)
    lower_tail = sps.binom.cdf(smaller, discordant, 0.5)
    mid = 2 * (lower_tail - 0.5 * sps.binom.pmf(smaller, discordant, 0.5))
    return exact, float(min(1.0, mid))


def _phi(both: int, only_a: int, only_b: int, neither: int) -> float:
    n = both + only_a + only_b + neither
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    if margins == 0:
        return 0.0
    cross: float = both * neither - only_a * only_b
    if cross > n / 2:
        cross -= n / 2
    elif cross >= 0:
        cross = 0.0
    return cross / math.sqrt(margins)


def newcombe_paired_interval(
    both: int, only_a: int, only_b: int, neither: int, confidence: float = 0.95
) -> Interval:
    """Newcombe's method-10 interval for ``rate_a - rate_b`` from the paired 2x2 table."""
    n = both + only_a + only_b + neither
    if n == 0:
        return Interval(-1.0, 1.0)
    p1, p2 = (both + only_a) / n, (both + only_b) / n
    l1, u1 = _limits(wilson_interval(both + only_a, n, confidence))
    l2, u2 = _limits(wilson_interval(both + only_b, n, confidence))
    phi = _phi(both, only_a, only_b, neither)
    diff = p1 - p2
    down = (p1 - l1) ** 2 + (u2 - p2) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2)
    up = (p2 - l2) ** 2 + (u1 - p1) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1)
    low = diff - math.sqrt(max(down, 0.0))
    high = diff + math.sqrt(max(up, 0.0))
    return Interval(max(-1.0, low), min(1.0, high))


def _limits(interval: Interval) -> tuple[float, float]:
    return interval.low, interval.high


def compare_paired(errors_a, errors_b, *, confidence: float = 0.95) -> PairedComparison:
    """Compare two systems' error indicators (1 = error, 0 = ok, NaN = missing) unit by unit.

    Units missing in either system are left out, since the test needs pairs.
    """
    z_value(confidence)
    a = np.asarray(errors_a, dtype=float)
    b = np.asarray(errors_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ConfigError(f"need two 1-D arrays of the same length, got {a.shape} and {b.shape}")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep] != 0, b[keep] != 0
    both, only_a = int((a & b).sum()), int((a & ~b).sum())
    only_b, neither = int((~a & b).sum()), int((~a & ~b).sum())
    n = int(keep.sum())
    exact, mid = mcnemar_exact(only_a, only_b)
    rate_a = (both + only_a) / n if n else float("nan")
    rate_b = (both + only_b) / n if n else float("nan")
    return PairedComparison(
        n=n,
        both=both,
        only_a=only_a,
        only_b=only_b,
        neither=neither,
        rate_a=rate_a,
        rate_b=rate_b,
        difference=rate_a - rate_b,
        ci=newcombe_paired_interval(both, only_a, only_b, neither, confidence),
        p_value_exact=exact,
        p_value_mid=mid,
        confidence=confidence,
    )
