"""Percentile bootstrap over units, built on per-unit sufficient statistics.

Every coefficient here is ``finalize(sum over units of s_u)`` for a per-unit vector ``s_u``
(coincidence contributions for Krippendorff's α, pairwise-agreement terms for κ/AC1, ...).
Units with the same rating pattern have the same ``s_u``, so the units are grouped into
distinct patterns first. A bootstrap replicate resamples ``n`` units with replacement, which
is the same as drawing pattern multiplicities from a multinomial; the replicate's sums are
then one matrix product ``M @ S`` for all replicates at once. With few patterns (the usual
case: binary or ordinal labels, a handful of judges) 1,000 replicates cost milliseconds; with
many distinct patterns the units are resampled by index in chunks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from audit.stats.results import Interval

Finalize = Callable[[np.ndarray], np.ndarray]  # (B, d) sums -> (B,) coefficient values

# A binomial draw in numpy's multinomial costs about as much as drawing and counting ~30 unit
# indices, so the multinomial over patterns is used while patterns * 30 <= units.
_MULTINOMIAL_COST_RATIO = 30
_CHUNK_ELEMENTS = 5_000_000  # replicate x unit indices drawn per chunk on the slow path


@dataclass(frozen=True)
class UnitStatistic:
    """Per-pattern statistics of a coefficient, ready for point estimate and bootstrap.

    ``stats[p]`` is the sufficient-statistic vector of pattern ``p``; ``multiplicity[p]``
    how many units have it; ``inverse[u]`` the pattern of unit ``u``.
    """

    stats: np.ndarray
    multiplicity: np.ndarray
    inverse: np.ndarray
    finalize: Finalize

    @property
    def n_units(self) -> int:
        return int(self.inverse.size)

    def value(self) -> float:
        """The coefficient on all units (NaN when undefined)."""
        total = self.multiplicity.astype(float) @ self.stats
        return float(self.finalize(total[None, :])[0])

    def replicates(self, replicates: int, seed: int) -> np.ndarray:
        """``replicates`` bootstrap values of the coefficient (NaN where undefined)."""
        rng = np.random.default_rng(seed)
        n = self.n_units
        if n == 0 or replicates <= 0:
            return np.full(max(replicates, 0), np.nan)
        patterns = self.multiplicity.size
        if patterns * _MULTINOMIAL_COST_RATIO <= n:
            counts = rng.multinomial(n, self.multiplicity / n, size=replicates)
            sums = counts.astype(float) @ self.stats
            return self.finalize(sums)
        # Many distinct patterns: resample unit indices. A per-row bincount stays in cache,
        # and the per-unit statistics turn each chunk of replicates into one matrix product.
        per_unit = self.stats[self.inverse]
        out = np.empty(replicates)
        chunk = max(1, _CHUNK_ELEMENTS // n)
        for start in range(0, replicates, chunk):
            b = min(chunk, replicates - start)
            drawn = rng.integers(0, n, size=(b, n))
            weights = np.empty((b, n))
            for row in range(b):
                weights[row] = np.bincount(drawn[row], minlength=n)
            out[start : start + b] = self.finalize(weights @ per_unit)
        return out


def group_patterns(patterns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows of an integer ``(n, k)`` matrix: (distinct rows, inverse, counts)."""
    patterns = np.asarray(patterns, dtype=np.int64)
    if patterns.shape[0] == 0:
        empty = np.zeros(0, dtype=np.int64)
        return patterns[:0], empty, empty
    if patterns.shape[1] == 0:  # no columns (no categories observed): one empty pattern
        n = patterns.shape[0]
        return patterns[:1], np.zeros(n, dtype=np.int64), np.array([n])
    low = patterns.min(axis=0)
    span = patterns.max(axis=0) - low + 1
    if np.sum(np.log2(span.astype(float))) >= 62:
        rows, inverse, counts = np.unique(
            patterns, axis=0, return_inverse=True, return_counts=True
        )
        return rows, inverse.ravel(), counts
    # Mixed-radix key per row: one integer per pattern, decoded back into the row.
    radix = np.concatenate([[1], np.cumprod(span[:-1])])
    keys = (patterns - low) @ radix
    if int(np.prod(span)) <= 4 * len(keys) + 1024:  # small key space: count, do not sort
        counts = np.bincount(keys, minlength=int(np.prod(span)))
        distinct = np.flatnonzero(counts)
        remap = np.zeros(counts.size, dtype=np.int64)
        remap[distinct] = np.arange(distinct.size)
        inverse, counts = remap[keys], counts[distinct]
    else:
        distinct, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    rows = (distinct[:, None] // radix[None, :]) % span[None, :] + low[None, :]
    return rows, inverse.ravel(), counts


def unit_statistic(
    patterns: np.ndarray, per_pattern: Callable[[np.ndarray], np.ndarray], finalize: Finalize
) -> UnitStatistic:
    """Group units by ``patterns`` rows and compute ``per_pattern`` on one row per group."""
    rows, inverse, counts = group_patterns(patterns)
    stats = np.asarray(per_pattern(rows), dtype=float)
    return UnitStatistic(stats=stats, multiplicity=counts, inverse=inverse, finalize=finalize)


def percentile_interval(values: np.ndarray, confidence: float) -> Interval | None:
    """Percentile interval of the finite replicate values; ``None`` if under half are finite."""
    finite = values[np.isfinite(values)]
    if finite.size < 2 or finite.size < values.size / 2:
        return None
    tail = (1 - confidence) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    return Interval(float(low), float(high))
