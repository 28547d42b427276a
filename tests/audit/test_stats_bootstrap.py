"""The bootstrap engine: sufficient statistics reproduce recomputation from scratch."""

from __future__ import annotations

import numpy as np
import pytest

import audit.stats as stats
from audit.stats import agreement, bootstrap
from audit.stats.coding import category_counts, encode_labels


def labels_with_missing(seed=0, units=400, raters=5, q=3):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, q, size=units)
    labels = np.where(
        rng.random((units, raters)) < 0.7, truth[:, None], rng.integers(0, q, (units, raters))
    )
    labels = labels.astype(float)
    labels[rng.random(labels.shape) < 0.15] = np.nan
    return labels


def _statistic(kind: str, labels: np.ndarray) -> bootstrap.UnitStatistic:
    codes, cats = encode_labels(labels)
    counts = category_counts(codes, len(cats))
    if kind == "alpha_ordinal":
        return bootstrap.unit_statistic(
            counts, agreement._coincidence_terms, agreement._alpha_finalize("ordinal", cats)
        )
    if kind == "alpha_nominal":
        return bootstrap.unit_statistic(
            counts, agreement._coincidence_terms, agreement._alpha_finalize("nominal", cats)
        )
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind,public",
    [
        ("alpha_nominal", lambda x: agreement.krippendorff_alpha(x, "nominal").value),
        ("alpha_ordinal", lambda x: agreement.krippendorff_alpha(x, "ordinal").value),
    ],
)
def test_resampled_sums_equal_recomputation_on_resampled_units(kind, public):
    labels = labels_with_missing()
    stat = _statistic(kind, labels)
    rng = np.random.default_rng(5)
    for _ in range(10):
        idx = rng.integers(0, len(labels), size=len(labels))
        weights = np.bincount(stat.inverse[idx], minlength=stat.multiplicity.size)
        via_sums = stat.finalize((weights @ stat.stats)[None, :])[0]
        assert via_sums == pytest.approx(public(labels[idx]), abs=1e-12)


@pytest.mark.parametrize("ratio", [0, 10**12])  # multinomial over patterns / unit indices
@pytest.mark.parametrize(
    "name", ["percent_agreement", "gwet_ac1", "fleiss_kappa", "krippendorff_alpha"]
)
def test_bootstrap_interval_agrees_with_naive_bootstrap(name, ratio, monkeypatch):
    labels = labels_with_missing(seed=2, units=300)
    fn = getattr(agreement, name)
    monkeypatch.setattr(bootstrap, "_MULTINOMIAL_COST_RATIO", ratio)
    ours = fn(labels, bootstrap=2000, seed=1)
    rng = np.random.default_rng(9)
    naive = [fn(labels[rng.integers(0, len(labels), len(labels))]).value for _ in range(600)]
    low, high = np.quantile(naive, [0.025, 0.975])
    assert ours.ci.low == pytest.approx(low, abs=0.015)
    assert ours.ci.high == pytest.approx(high, abs=0.015)
    assert ours.ci.low < ours.value < ours.ci.high


def test_cohen_bootstrap_interval_agrees_with_naive_bootstrap():
    labels = labels_with_missing(seed=4, units=300, raters=2)
    ours = agreement.cohen_kappa(labels[:, 0], labels[:, 1], bootstrap=2000, seed=3)
    rng = np.random.default_rng(11)
    naive = []
    for _ in range(600):
        idx = rng.integers(0, len(labels), len(labels))
        naive.append(agreement.cohen_kappa(labels[idx, 0], labels[idx, 1]).value)
    low, high = np.quantile(naive, [0.025, 0.975])
    assert (ours.ci.low, ours.ci.high) == pytest.approx((low, high), abs=0.02)


def test_bootstrap_is_seeded():
    labels = labels_with_missing()
    first = agreement.gwet_ac1(labels, bootstrap=300, seed=4)
    assert agreement.gwet_ac1(labels, bootstrap=300, seed=4).ci == first.ci
    assert agreement.gwet_ac1(labels, bootstrap=300, seed=5).ci != first.ci
    assert first.replicates == 300 and first.to_dict()["ci"]["low"] == first.ci.low


def test_index_resampling_path_matches_multinomial_path(monkeypatch):
    labels = labels_with_missing(seed=6, units=500)
    monkeypatch.setattr(bootstrap, "_MULTINOMIAL_COST_RATIO", 0)
    fast = agreement.krippendorff_alpha(labels, bootstrap=3000, seed=0)
    monkeypatch.setattr(bootstrap, "_MULTINOMIAL_COST_RATIO", 10**12)
    monkeypatch.setattr(bootstrap, "_CHUNK_ELEMENTS", 100_000)  # several chunks
    slow = agreement.krippendorff_alpha(labels, bootstrap=3000, seed=0)
    assert slow.value == fast.value
    assert (slow.ci.low, slow.ci.high) == pytest.approx((fast.ci.low, fast.ci.high), abs=0.01)


def test_undefined_coefficients_are_none():
    constant = np.zeros((10, 3))
    assert agreement.krippendorff_alpha(constant).value is None
    assert agreement.fleiss_kappa(constant, bootstrap=50).ci is None
    assert agreement.cohen_kappa(constant[:, 0], constant[:, 1]).value is None


def test_group_patterns_wide_rows_fall_back_to_unique_rows():
    rows = np.array([[0, 10**12], [0, 10**12], [5, 0]] * 3)
    first, inverse, counts = bootstrap.group_patterns(np.column_stack([rows, rows * 7, rows * 3]))
    assert counts.tolist() == [3, 6] or counts.tolist() == [6, 3]
    assert inverse.size == 9 and len(first) == 2


def test_public_exports_are_sorted_and_complete():
    assert stats.__all__ == sorted(stats.__all__)
    for name in stats.__all__:
        assert getattr(stats, name) is not None
    modules = [
        stats.agreement,
        stats.rates,
        stats.paired,
        stats.consensus,
        stats.plan,
        stats.results,
        stats.ppi,
        stats.active,
        stats.diagnostic,
    ]
    internal = {"finite_or_none", "Serialisable"}  # the base of the result types
    for module in modules:
        for name, obj in vars(module).items():
            if name.startswith("_") or name in internal or not callable(obj):
                continue
            if getattr(obj, "__module__", None) == module.__name__:
                assert name in stats.__all__, f"{module.__name__}.{name} is not exported"
