"""Agreement with the `krippendorff` package and statsmodels on random matrices with gaps."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from audit.stats import cohen_kappa, fleiss_kappa, krippendorff_alpha

SEEDS = range(12)


def random_labels(seed: int, *, missing: float = 0.2, values=None) -> np.ndarray:
    """Correlated ratings (a latent truth plus noise), with some values missing."""
    rng = np.random.default_rng(seed)
    units = int(rng.integers(20, 300))
    raters = int(rng.integers(2, 7))
    q = int(rng.integers(2, 6))
    values = np.asarray(values if values is not None else np.arange(q), dtype=float)
    truth = rng.integers(0, len(values), size=units)
    noise = rng.integers(0, len(values), size=(units, raters))
    keep = rng.random((units, raters)) < 0.7
    codes = np.where(keep, truth[:, None], noise)
    labels = values[codes]
    labels[rng.random(labels.shape) < missing] = np.nan
    return labels


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_alpha_matches_krippendorff_package(seed, level):
    # Unevenly spaced positive values, so interval/ratio metrics differ from the ordinal one.
    labels = random_labels(seed, values=[1.0, 2.0, 4.5, 5.0, 9.0])
    expected = krippendorff.alpha(reliability_data=labels.T, level_of_measurement=level)
    assert krippendorff_alpha(labels, level).value == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
def test_fleiss_complete_matches_statsmodels(seed):
    labels = random_labels(seed, missing=0.05)
    complete = labels[~np.isnan(labels).any(axis=1)]
    table, _ = aggregate_raters(complete.astype(int))
    expected = sm_fleiss(table, method="fleiss")
    assert fleiss_kappa(labels, missing="complete").value == pytest.approx(expected, abs=1e-9)
    # Without missing values Gwet's adjusted form is Fleiss' own.
    assert fleiss_kappa(complete, missing="adjusted").value == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
def test_cohen_matches_statsmodels_on_pairwise_complete_units(seed):
    labels = random_labels(seed)
    a, b = labels[:, 0], labels[:, 1]
    both = ~(np.isnan(a) | np.isnan(b))
    cats = np.unique(np.concatenate([a[both], b[both]]))
    table = np.zeros((len(cats), len(cats)))
    np.add.at(table, (np.searchsorted(cats, a[both]), np.searchsorted(cats, b[both])), 1)
    expected = cohens_kappa(table).kappa
    result = cohen_kappa(a, b)
    assert result.value == pytest.approx(expected, abs=1e-9)
    assert result.n_units == int(both.sum())


def test_missing_values_change_the_coefficients_rather_than_dropping_rows():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 3, size=(200, 4)).astype(float)
    labels[:, 1:] = np.where(rng.random((200, 3)) < 0.6, labels[:, :1], labels[:, 1:])
    labels[rng.random(labels.shape) < 0.3] = np.nan
    complete_rows = labels[~np.isnan(labels).any(axis=1)]
    # Krippendorff uses every pairable value, so it is not the complete-case value.
    assert krippendorff_alpha(labels).n_units > len(complete_rows)
    assert krippendorff_alpha(labels).value != pytest.approx(
        krippendorff_alpha(complete_rows).value
    )
