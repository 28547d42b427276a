"""Sample sizes for a target interval half-width, and the sampler's early-stopping rule.

``sample_size_for_margin`` backs ``audit plan --margin 0.05 --expected 0.3 [--population N]``.
``method="wald"`` is the textbook ``n0 = z² p(1-p) / m²`` with the finite-population
correction ``n = n0 / (1 + (n0 - 1) / N)``; ``method="wilson"`` (default, what the audit
reports) is the smallest ``n`` whose Wilson interval at ``p̂ = expected`` has half-width
``<= margin``, with the same correction applied inside the Wilson interval.
"""

from __future__ import annotations

import math
from typing import Literal

from audit.stats.rates import fpc_factor, z_value
from core.errors import ConfigError

_MAX_N = 10**9


def _check(margin: float, expected: float, population: int | None) -> None:
    if not 0 < margin < 1:
        raise ConfigError(f"margin must be between 0 and 1 (e.g. 0.05), got {margin}")
    if not 0 <= expected <= 1:
        raise ConfigError(f"expected rate must be between 0 and 1 (e.g. 0.3), got {expected}")
    if population is not None and population < 1:
        raise ConfigError(f"population must be a positive number of records, got {population}")


def wilson_half_width(
    rate: float, n: int, confidence: float = 0.95, population: int | None = None
) -> float:
    """Half-width of the Wilson interval at observed rate ``rate`` with ``n`` records."""
    if n <= 0:
        return 0.5
    z2 = z_value(confidence) ** 2 * fpc_factor(n, population)
    return math.sqrt(z2) * math.sqrt(rate * (1 - rate) / n + z2 / (4 * n * n)) / (1 + z2 / n)


def sample_size_for_margin(
    margin: float,
    expected: float,
    confidence: float = 0.95,
    population: int | None = None,
    *,
    method: Literal["wilson", "wald"] = "wilson",
) -> int:
    """Records to sample so the interval half-width is at most ``margin`` at ``expected``."""
    _check(margin, expected, population)
    z = z_value(confidence)
    cap = population if population is not None else _MAX_N
    if method == "wald":
        n0 = z * z * expected * (1 - expected) / margin**2
        n = n0 if population is None else n0 / (1 + (n0 - 1) / population)
        return int(min(cap, max(1, math.ceil(n - 1e-9))))
    if method != "wilson":
        raise ConfigError(f"method must be 'wilson' or 'wald', got {method!r}")
    lo, hi = 1, cap
    if wilson_half_width(expected, hi, confidence, population) > margin:
        return hi
    while lo < hi:  # the half-width shrinks as n grows: bisect for the first n that fits
        mid = (lo + hi) // 2
        if wilson_half_width(expected, mid, confidence, population) <= margin:
            hi = mid
        else:
            lo = mid + 1
    return lo


def margin_reached(
    errors: int,
    n: int,
    margin: float,
    confidence: float = 0.95,
    population: int | None = None,
    *,
    min_n: int = 10,
) -> bool:
    """True once ``n >= min_n`` and the Wilson half-width at ``errors/n`` is ``<= margin``.

    The sampler calls this after each decided record. ``min_n`` guards against stopping
    on a lucky streak at tiny ``n``.
    """
    if n < max(min_n, 1):
        return False
    if population is not None and n >= population:
        return True
    return wilson_half_width(errors / n, n, confidence, population) <= margin
