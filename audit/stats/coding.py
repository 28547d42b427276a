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
    codes = np.full(labels.shape, MISSING, dtype=np.int64)
    span = _integer_span(values)
    if categories is None and span is not None:
        # Small integer codes, the common case: a bincount is O(n), a sort is not.
        offsets = (values - span[0]).astype(np.int64)
        used = np.flatnonzero(np.bincount(offsets))
        table = np.zeros(int(span[1] - span[0]) + 1, dtype=np.int64)
        table[used] = np.arange(used.size)
        codes[present] = table[offsets]
        return codes, used.astype(float) + span[0]
    cats = np.unique(values if categories is None else np.asarray(categories, dtype=float))
    if values.size:
        if len(cats) == 0:
            raise ConfigError("no categories given; pass every category that can occur")
        found = np.clip(np.searchsorted(cats, values), 0, len(cats) - 1)
        unknown = cats[found] != values
        if unknown.any():
            raise ConfigError(
                f"labels {values[unknown][:5].tolist()} are not among the categories "
                f"{cats.tolist()}; pass every category that can occur"
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


def category_counts(codes: np.ndarray, n_categories: int) -> np.ndarray:
    """``(n_units, n_categories)`` int matrix: how many raters chose each category per unit."""
    n_units = codes.shape[0]
    width = n_categories + 1  # one extra slot per unit collects the missing values
    slots = np.where(codes == MISSING, n_categories, codes)
    slots += np.arange(n_units, dtype=np.int64)[:, None] * width
    counts = np.bincount(slots.ravel(), minlength=n_units * width)
    return counts.reshape(n_units, width)[:, :n_categories]


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
