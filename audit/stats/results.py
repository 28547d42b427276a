"""Small, JSON-serialisable result types shared by the statistics modules.

Every result has ``to_dict()`` returning plain JSON types (floats, ints, strings, lists,
``None`` for undefined values: never NaN).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


def finite_or_none(value: float | None) -> float | None:
    """``value`` as a float, or ``None`` when it is missing, NaN or infinite."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class Serialisable:
    """Base of the result dataclasses: ``to_dict`` for JSON reports."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class Interval(Serialisable):
    """A closed confidence interval ``[low, high]``."""

    low: float
    high: float

    @property
    def width(self) -> float:
        return self.high - self.low

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


@dataclass(frozen=True)
class RateEstimate(Serialisable):
    """``k`` events in ``n`` trials with Wilson and Clopper–Pearson intervals.

    With ``fpc_applied`` the Wilson interval carries the finite-population correction and
    ``clopper_pearson`` is the exact hypergeometric interval for a population of ``population``.
    """

    k: int
    n: int
    rate: float | None
    wilson: Interval | None
    clopper_pearson: Interval | None
    confidence: float
    fpc_applied: bool = False
    population: int | None = None


@dataclass(frozen=True)
class AgreementResult(Serialisable):
    """An agreement coefficient with its percentile bootstrap interval over units.

    ``value`` is ``None`` when the coefficient is undefined (for example, only one category
    was ever used); ``ci`` is ``None`` without bootstrap or with too few defined replicates.
    """

    value: float | None
    ci: Interval | None = None
    n_units: int = 0
    replicates: int = 0
    confidence: float = 0.95
    method: str = ""


@dataclass(frozen=True)
class PairedComparison(Serialisable):
    """Two paired error rates (same units, two systems): McNemar and Newcombe interval."""

    n: int
    both: int
    only_a: int
    only_b: int
    neither: int
    rate_a: float
    rate_b: float
    difference: float  # rate_a - rate_b
    ci: Interval
    p_value_exact: float
    p_value_mid: float
    confidence: float


@dataclass(frozen=True)
class RateRange(Serialisable):
    """The spread of per-judge rates and one sentence saying why it is that wide."""

    low: float
    high: float
    low_judges: list[str] = field(default_factory=list)
    high_judges: list[str] = field(default_factory=list)
    why: str = ""
