"""Turn label matrices into integer codes and per-unit category counts.

A label matrix is a float array of shape ``(n_units, n_raters)`` with ``np.nan`` for a
missing value (no judgment, abstention, failure). Categories are numbers; for nominal data
they are arbitrary codes, for ordinal/interval data their order and values matter.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.errors import ConfigError

MISSING = -1


def as_label_matrix(labels: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """``labels`` as a 2-D float64 array (``None`` becomes NaN)."""
    array = np.asarray(labels, dtype=float)
    if array.ndim != 2:
        raise ConfigError(
            f"a label matrix must be 2-D (units x raters), got shape {array.shape}; "
            "reshape a single rater's labels with labels[:, None]"
        )
    return array


def encode_labels(
    labels: np.ndarray, categories: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (``MISSING`` = -1) and the sorted category values they index.

    ``categories`` fixes the category set (values outside it raise ``ConfigError``);
    by default it is the set of observed values.
    """
    labels = as_label_matrix(labels)
    present = ~np.isnan(labels)
    values = labels[present]
    if categories is None:
        cats = _observed_categories(values)
    else:
        cats = np.unique(np.asarray(categories, dtype=float))
    codes = np.full(labels.shape, MISSING, dtype=np.int64)
    if values.size:
        found = _small_integer_codes(values, cats)
        if found is None:
            found = np.clip(np.searchsorted(cats, values), 0, max(len(cats) - 1, 0))
        if len(cats) == 0 or np.any(cats[found] != values):
            bad = values[(len(cats) == 0) | (cats[found] != values)][:5]
            raise ConfigError(
                f"labels {bad.tolist()} are not among the categories {cats.tolist()}; "
                "pass every category that can occur"
            )
        codes[present] = found
    return codes, cats


def _integer_span(values: np.ndarray) -> tuple[float, float] | None:
    """(min, max) when every value is an integer within a small range, else None."""
    if not values.size:
        return None
    low, high = float(values.min()), float(values.max())
    if high - low >= 1_000_000 or not np.array_equal(values, np.floor(values)):
        return None
    return low, high


def _observed_categories(values: np.ndarray) -> np.ndarray:
    # Small integer codes are the common case: a bincount is O(n), a sort is not.
    span = _integer_span(values)
    if span is None:
        return np.unique(values)
    used = np.flatnonzero(np.bincount((values - span[0]).astype(np.int64)))
    return used.astype(float) + span[0]


def _small_integer_codes(values: np.ndarray, cats: np.ndarray) -> np.ndarray | None:
    """Codes by table lookup when values and categories are small integers."""
    span = _integer_span(values)
    if span is None or not cats.size or _integer_span(cats) is None:
        return None
    low = min(span[0], float(cats[0]))
    high = max(span[1], float(cats[-1]))
    if high - low >= 1_000_000:
        return None
    table = np.zeros(int(high - low) + 1, dtype=np.int64)  # unknown values map to 0, then fail
    table[(cats - low).astype(np.int64)] = np.arange(len(cats))
    return table[(values - low).astype(np.int64)]


def category_counts(codes: np.ndarray, n_categories: int) -> np.ndarray:
    """``(n_units, n_categories)`` int matrix: how many raters chose each category per unit."""
    n_units = codes.shape[0]
    if n_categories <= 16:  # a few vectorised comparisons beat scatter-adding
        counts = np.empty((n_units, n_categories), dtype=np.int64)
        for category in range(n_categories):
            counts[:, category] = (codes == category).sum(axis=1)
        return counts
    rows, cols = np.nonzero(codes != MISSING)
    flat = rows * n_categories + codes[rows, cols]
    counts = np.bincount(flat, minlength=n_units * n_categories)
    return counts.reshape(n_units, n_categories)


def labels_from_counts(counts: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
    """Expand a ``units x categories`` count table into a label matrix (codes 0..q-1).

    Units with fewer raters than the widest unit get NaN in the remaining columns.
    """
    counts = np.asarray(counts, dtype=np.int64)
    width = int(counts.sum(axis=1).max()) if counts.size else 0
    labels = np.full((counts.shape[0], width), np.nan)
    for unit, row in enumerate(counts):
        values = np.repeat(np.arange(counts.shape[1], dtype=float), row)
        labels[unit, : values.size] = values
    return labels
