"""Inter-rater agreement: percent agreement, Cohen's κ, Fleiss' κ, Krippendorff's α, Gwet's AC1.

Inputs are label matrices ``(n_units, n_raters)`` with NaN for a missing value. Missing values
(no judgment, abstention, failure) are handled as each coefficient's literature defines:

- Krippendorff's α: only *pairable* values count, i.e. units with at least two values; a unit
  with ``m_u`` values contributes ``(n_uc n_uk - [c=k] n_uc) / (m_u - 1)`` to the coincidence
  matrix (Krippendorff 2011).
- Percent agreement, Gwet's AC1 and the ``adjusted`` Fleiss' κ follow Gwet (2014, ch. 2–4,
  as in irrCAC's ``*.raw`` functions): observed agreement averages, over units with at least
  two ratings, the share of agreeing rater pairs; the category shares ``π_k`` average
  ``n_uk / m_u`` over units with at least one rating; units with no rating are left out.
- Fleiss' κ as Fleiss (1971) defined it needs the same number of raters on every unit:
  ``missing="complete"`` restricts it to units rated by every rater (what statsmodels'
  ``fleiss_kappa`` computes on those units); ``missing="adjusted"`` (default) is Gwet's
  generalisation above, identical to Fleiss' when nothing is missing.
- Cohen's κ (two raters) uses the units both raters rated.

Every coefficient can carry a percentile bootstrap interval over units (seeded), computed
from per-unit sufficient statistics (see ``audit.stats.bootstrap``).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Literal

import numpy as np

from audit.stats.bootstrap import Finalize, percentile_interval, unit_statistic
from audit.stats.coding import MISSING, as_label_matrix, category_counts, encode_labels
from audit.stats.results import AgreementResult, finite_or_none
from core.errors import ConfigError

Level = Literal["nominal", "ordinal", "interval", "ratio"]
_LEVELS = ("nominal", "ordinal", "interval", "ratio")


def _check_options(confidence: float, bootstrap: int) -> None:
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence}")
    if bootstrap < 0:
        raise ConfigError(f"bootstrap must be 0 (off) or a number of replicates, got {bootstrap}")


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1), np.nan)


def _result(stat, method: str, n_units: int, bootstrap: int, confidence: float, seed: int):
    if n_units == 0:  # nothing pairable (e.g. every judge abstained or failed): no estimate
        return AgreementResult(value=None, ci=None, n_units=0, replicates=bootstrap,
                               confidence=confidence, method=method)
    ci = None
    if bootstrap:
        ci = percentile_interval(stat.replicates(bootstrap, seed), confidence)
    return AgreementResult(
        value=finite_or_none(stat.value()),
        ci=ci,
        n_units=n_units,
        replicates=bootstrap,
        confidence=confidence,
        method=method,
    )


# --- per-unit terms on category-count rows -------------------------------------------------


def _pair_agreement(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Share of agreeing rater pairs per unit, and whether the unit has >= 2 ratings."""
    m = counts.sum(axis=1).astype(float)
    has2 = m >= 2
    agree = _divide((counts * (counts - 1)).sum(axis=1).astype(float), m * (m - 1))
    return np.where(has2, agree, 0.0), has2.astype(float)


def _gwet_terms(counts: np.ndarray) -> np.ndarray:
    """[agree, has2, n_uk/m_u ..., has1]: the sums behind Gwet's p_a and π_k."""
    agree, has2 = _pair_agreement(counts)
    m = counts.sum(axis=1, keepdims=True).astype(float)
    shares = np.where(m > 0, counts / np.where(m > 0, m, 1), 0.0)
    return np.column_stack([agree, has2, shares, (m[:, 0] > 0).astype(float)])


def _gwet_pa_pi(sums: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
    pa = _divide(sums[:, 0], sums[:, 1])
    pi = _divide(sums[:, 2 : 2 + q], sums[:, -1:])
    return pa, pi


def _counts_of(labels, categories) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    codes, cats = encode_labels(as_label_matrix(labels), categories)
    return codes, cats, category_counts(codes, len(cats))


# --- coefficients ---------------------------------------------------------------------------


def percent_agreement(
    labels,
    *,
    bootstrap: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> AgreementResult:
    """Share of agreeing rater pairs, averaged over units with >= 2 ratings (Gwet 2014)."""
    _check_options(confidence, bootstrap)
    _, _, counts = _counts_of(labels, None)
    stat = unit_statistic(
        counts,
        lambda c: np.column_stack(_pair_agreement(c)),
        lambda s: _divide(s[:, 0], s[:, 1]),
    )
    n_units = int((counts.sum(axis=1) >= 2).sum())
    return _result(stat, "percent_agreement", n_units, bootstrap, confidence, seed)


def gwet_ac1(
    labels,
    *,
    categories: Sequence[float] | None = None,
    bootstrap: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> AgreementResult:
    """Gwet's AC1 with missing ratings as in Gwet (2014) / irrCAC ``gwet.ac1.raw``.

    ``q`` (the number of categories in the chance term) is ``len(categories)``, by default
    the number of observed categories.
    """
    _check_options(confidence, bootstrap)
    _, cats, counts = _counts_of(labels, categories)
    q = len(cats)

    def finalize(sums: np.ndarray) -> np.ndarray:
        pa, pi = _gwet_pa_pi(sums, q)
        pe = (pi * (1 - pi)).sum(axis=1) / (q - 1) if q > 1 else np.full(len(sums), np.nan)
        return _divide(pa - pe, 1 - pe)

    stat = unit_statistic(counts, _gwet_terms, finalize)
    n_units = int((counts.sum(axis=1) >= 2).sum())
    return _result(stat, "gwet_ac1", n_units, bootstrap, confidence, seed)


def fleiss_kappa(
    labels,
    *,
    missing: Literal["adjusted", "complete"] = "adjusted",
    bootstrap: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> AgreementResult:
    """Fleiss' κ; see the module docstring for the two ways of handling missing ratings."""
    _check_options(confidence, bootstrap)
    labels = as_label_matrix(labels)
    _, cats, counts = _counts_of(labels, None)
    q = len(cats)
    if missing == "adjusted":

        def finalize(sums: np.ndarray) -> np.ndarray:
            pa, pi = _gwet_pa_pi(sums, q)
            pe = (pi**2).sum(axis=1)
            return _divide(pa - pe, 1 - pe)

        stat = unit_statistic(counts, _gwet_terms, finalize)
        n_units = int((counts.sum(axis=1) >= 2).sum())
    elif missing == "complete":
        raters = labels.shape[1]
        stat = unit_statistic(counts, _fleiss_complete_terms(raters), _fleiss_complete(q, raters))
        n_units = int((counts.sum(axis=1) == raters).sum())
    else:
        raise ConfigError(f"missing must be 'adjusted' or 'complete', got {missing!r}")
    return _result(stat, f"fleiss_kappa/{missing}", n_units, bootstrap, confidence, seed)


def _fleiss_complete_terms(raters: int):
    def terms(counts: np.ndarray) -> np.ndarray:
        complete = (counts.sum(axis=1) == raters).astype(float)
        p_unit = (counts * (counts - 1)).sum(axis=1) / max(raters * (raters - 1), 1)
        return np.column_stack([p_unit * complete, counts * complete[:, None], complete])

    return terms


def _fleiss_complete(q: int, raters: int) -> Finalize:
    def finalize(sums: np.ndarray) -> np.ndarray:
        p_bar = _divide(sums[:, 0], sums[:, -1])
        p_cat = _divide(sums[:, 1 : 1 + q], sums[:, -1:] * raters)
        pe = (p_cat**2).sum(axis=1)
        return _divide(p_bar - pe, 1 - pe)

    return finalize


def coincidence_matrix(labels, categories: Sequence[float] | None = None) -> np.ndarray:
    """Krippendorff's coincidence matrix ``o_ck`` over pairable values."""
    _, _, counts = _counts_of(labels, categories)
    q = counts.shape[1]
    return _coincidence_terms(counts).sum(axis=0).reshape(q, q)


def _coincidence_terms(counts: np.ndarray) -> np.ndarray:
    m = counts.sum(axis=1).astype(float)
    scale = np.where(m >= 2, 1 / np.where(m >= 2, m - 1, 1), 0.0)
    outer = counts[:, :, None] * counts[:, None, :].astype(float)
    q = counts.shape[1]
    idx = np.arange(q)
    outer[:, idx, idx] -= counts
    return (outer * scale[:, None, None]).reshape(len(counts), q * q)


def _alpha_finalize(level: str, values: np.ndarray) -> Finalize:
    q = len(values)
    if level == "nominal":
        fixed = 1.0 - np.eye(q)
    elif level == "interval":
        fixed = (values[:, None] - values[None, :]) ** 2
    elif level == "ratio":
        total = values[:, None] + values[None, :]
        fixed = _divide(values[:, None] - values[None, :], total) ** 2
        fixed = np.nan_to_num(fixed, nan=0.0)
    else:
        fixed = None

    def finalize(sums: np.ndarray) -> np.ndarray:
        o = sums.reshape(-1, q, q)
        n_c = o.sum(axis=2)
        n = n_c.sum(axis=1)
        if fixed is None:  # ordinal: the metric depends on the marginals of each replicate
            mid = np.cumsum(n_c, axis=1) - n_c / 2
            delta = (mid[:, :, None] - mid[:, None, :]) ** 2
        else:
            delta = np.broadcast_to(fixed, o.shape)
        observed = (o * delta).sum(axis=(1, 2))
        expected = np.einsum("bc,bk,bck->b", n_c, n_c, delta)
        return 1 - _divide((n - 1) * observed, expected)

    return finalize


def krippendorff_alpha(
    labels,
    level: Level = "nominal",
    *,
    categories: Sequence[float] | None = None,
    bootstrap: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> AgreementResult:
    """Krippendorff's α at the given level of measurement, over pairable values.

    For ``interval``/``ratio`` the category *values* are used as numbers; for ``ordinal`` only
    their order and the observed marginal frequencies matter (Krippendorff's ordinal metric).
    """
    _check_options(confidence, bootstrap)
    if level not in _LEVELS:
        raise ConfigError(f"level must be one of {', '.join(_LEVELS)}, got {level!r}")
    _, cats, counts = _counts_of(labels, categories)
    stat = unit_statistic(counts, _coincidence_terms, _alpha_finalize(level, cats))
    n_units = int((counts.sum(axis=1) >= 2).sum())
    return _result(stat, f"krippendorff_alpha/{level}", n_units, bootstrap, confidence, seed)


def cohen_kappa_table(table: np.ndarray | Sequence[Sequence[float]]) -> float | None:
    """Unweighted Cohen's κ of a square contingency table (rows rater A, columns rater B)."""
    table = np.asarray(table, dtype=float)
    return finite_or_none(_cohen_finalize(table.shape[0])(table.reshape(1, -1))[0])


def _cohen_finalize(q: int) -> Finalize:
    def finalize(sums: np.ndarray) -> np.ndarray:
        t = sums.reshape(-1, q, q)
        n = t.sum(axis=(1, 2))
        po = _divide(np.trace(t, axis1=1, axis2=2), n)
        pe = _divide((t.sum(axis=2) * t.sum(axis=1)).sum(axis=1), n**2)
        return _divide(po - pe, 1 - pe)

    return finalize


def cohen_kappa(
    a,
    b,
    *,
    categories: Sequence[float] | None = None,
    bootstrap: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> AgreementResult:
    """Cohen's κ between two raters on the units both rated (NaN = missing)."""
    _check_options(confidence, bootstrap)
    pair = np.column_stack([np.asarray(a, dtype=float), np.asarray(b, dtype=float)])
    codes, cats = encode_labels(pair, categories)
    q = len(cats)

    def per_pattern(pattern: np.ndarray) -> np.ndarray:
        out = np.zeros((len(pattern), q * q))
        both = (pattern != MISSING).all(axis=1)
        out[np.flatnonzero(both), pattern[both, 0] * q + pattern[both, 1]] = 1.0
        return out

    stat = unit_statistic(codes, per_pattern, _cohen_finalize(q))
    n_units = int((codes != MISSING).all(axis=1).sum())
    return _result(stat, "cohen_kappa", n_units, bootstrap, confidence, seed)


def _rater_names(labels: np.ndarray, names: Sequence[str] | None) -> list[str]:
    names = list(names) if names is not None else [str(i) for i in range(labels.shape[1])]
    if len(names) != labels.shape[1]:
        raise ConfigError(f"got {len(names)} rater names for {labels.shape[1]} label columns")
    return names


def pairwise_cohen_kappa(
    labels,
    names: Sequence[str] | None = None,
    *,
    categories: Sequence[float] | None = None,
    bootstrap: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[tuple[str, str], AgreementResult]:
    """Cohen's κ for every pair of raters (columns), keyed by their names."""
    labels = as_label_matrix(labels)
    names = _rater_names(labels, names)
    return {
        (names[i], names[j]): cohen_kappa(
            labels[:, i],
            labels[:, j],
            categories=categories,
            bootstrap=bootstrap,
            confidence=confidence,
            seed=seed,
        )
        for i, j in combinations(range(labels.shape[1]), 2)
    }


def confusion_matrix(a, b, categories: Sequence[float]) -> np.ndarray:
    """Counts ``[i, j]`` of units rater A labelled ``categories[i]`` and B ``categories[j]``."""
    codes, cats = encode_labels(
        np.column_stack([np.asarray(a, dtype=float), np.asarray(b, dtype=float)]), categories
    )
    both = (codes != MISSING).all(axis=1)
    flat = codes[both, 0] * len(cats) + codes[both, 1]
    return np.bincount(flat, minlength=len(cats) ** 2).reshape(len(cats), len(cats))


def pairwise_confusion(
    labels, names: Sequence[str] | None = None, *, categories: Sequence[float]
) -> dict[tuple[str, str], np.ndarray]:
    """Judge-vs-judge confusion matrices for every pair of columns."""
    labels = as_label_matrix(labels)
    names = _rater_names(labels, names)
    return {
        (names[i], names[j]): confusion_matrix(labels[:, i], labels[:, j], categories)
        for i, j in combinations(range(labels.shape[1]), 2)
    }
