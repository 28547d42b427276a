"""Published reference values (../shared/data/agreement) reproduced to the printed precision."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audit.stats import (
    cohen_kappa,
    cohen_kappa_table,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    labels_from_counts,
    percent_agreement,
)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "agreement"  # conftest.SHARED_DATA


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def assert_printed(value: float | None, published: float) -> None:
    """|value - published| within half a unit of the published value's last printed digit."""
    text = repr(float(published))
    decimals = len(text.split(".")[1]) if "." in text and "e" not in text else 10
    assert value is not None
    assert abs(value - published) <= 0.5 * 10**-decimals + 1e-12, (value, published)


def table_to_labels(table) -> np.ndarray:
    """Two-rater label matrix from a contingency table (rows rater A, columns rater B)."""
    table = np.asarray(table)
    rows, cols = np.nonzero(table)
    reps = table[rows, cols]
    return np.column_stack([np.repeat(rows, reps), np.repeat(cols, reps)]).astype(float)


def test_cohen_sas_table10():
    data = load("cohen_sas_table10_statsmodels.json")
    assert_printed(cohen_kappa_table(data["table"]), data["published_values"]["kappa"])


def test_cohen_wikipedia_and_its_ac1():
    data = load("cohen_wikipedia.json")
    labels = table_to_labels(data["table"])
    assert_printed(cohen_kappa(labels[:, 0], labels[:, 1]).value, data["kappa"])
    assert_printed(percent_agreement(labels).value, data["p_o"])
    assert_printed(gwet_ac1(labels).value, data["gwet_ac1_by_formula"])


@pytest.mark.parametrize(
    "example", ["worked_example", "same_agreement_example_1", "same_agreement_example_2"]
)
def test_cohen_wikipedia_2x2_examples(example):
    data = load("cohen_wikipedia_2x2_examples.json")
    labels = table_to_labels(data["tables"][example])
    assert_printed(cohen_kappa(labels[:, 0], labels[:, 1]).value, data["published_values"][example])


@pytest.mark.parametrize("missing", ["adjusted", "complete"])
def test_fleiss_1971_diagnoses(missing):
    data = load("fleiss1971_diagnoses_30patients_6raters.json")
    labels = np.array(data["units_x_raters"], dtype=float)
    value = fleiss_kappa(labels, missing=missing).value
    assert_printed(value, data["published_values"]["fleiss_kappa_R_irr"])
    assert_printed(value, data["published_values"]["fleiss_kappa"])


@pytest.mark.parametrize(
    "name", ["fleiss_wikipedia.json", "fleiss_wikipedia_10subjects_14raters.json"]
)
def test_fleiss_wikipedia(name):
    data = load(name)
    published = data.get("published_values", data)
    labels = labels_from_counts(data["counts"])
    assert_printed(fleiss_kappa(labels).value, 0.210)  # printed as 0.210 on the page
    assert_printed(
        fleiss_kappa(labels).value, published.get("fleiss_kappa", published.get("kappa"))
    )
    # With equal raters per subject, P-bar is Gwet's percent agreement.
    assert_printed(percent_agreement(labels).value, published["P_bar"])


def test_gwet_cont3x3_abstractors():
    data = load("gwet_cont3x3abstractors.json")
    published = data["published_values"]
    labels = table_to_labels(data["table"])
    assert_printed(cohen_kappa(labels[:, 0], labels[:, 1]).value, published["cohen_kappa"])
    assert_printed(gwet_ac1(labels).value, published["gwet_ac1"])
    assert_printed(krippendorff_alpha(labels).value, published["krippendorff_alpha"])
    assert_printed(percent_agreement(labels).value, published["percent_agreement"])


def test_gwet_distrib_6raters():
    data = load("gwet_distrib_6raters_15subjects.json")
    published = data["published_values"]
    labels = labels_from_counts(data["counts"])
    assert_printed(gwet_ac1(labels).value, published["gwet_ac1"])
    assert_printed(fleiss_kappa(labels).value, published["fleiss_kappa"])
    assert_printed(krippendorff_alpha(labels).value, published["krippendorff_alpha"])
    assert_printed(percent_agreement(labels).value, published["percent_agreement"])


def test_gwet_raw5observers_with_missing():
    data = load("gwet_raw5observers_15units.json")
    published = data["published_values"]
    labels = np.array([data["observers"][k] for k in sorted(data["observers"])], dtype=float).T
    assert np.isnan(labels).sum() == 17  # missing ratings are part of the example
    assert_printed(gwet_ac1(labels).value, published["gwet"])
    assert_printed(fleiss_kappa(labels).value, published["fleiss"])
    assert_printed(krippendorff_alpha(labels).value, published["krippendorff"])
    assert_printed(percent_agreement(labels).value, published["pa_gwet_fleiss_conger_bp"])


def test_krippendorff_2011_section_a_binary():
    data = load("krippendorff2011_A_binary_2observers_10units.json")
    labels = np.array(data["reliability_data"], dtype=float).T
    assert_printed(
        krippendorff_alpha(labels).value, data["published_values"]["krippendorff_alpha_nominal"]
    )


def _ben_gerry(data: dict, unit10_missing: bool = False) -> np.ndarray:
    codes = {letter: float(i) for i, letter in enumerate("abcde")}
    labels = np.array([[codes[x] for x in data["observers"][k]] for k in ("Ben", "Gerry")]).T
    if unit10_missing:
        labels[9, 1] = np.nan
    return labels


def test_krippendorff_2011_section_b_nominal():
    data = load("krippendorff2011_B_nominal_2observers_12units.json")
    assert_printed(
        krippendorff_alpha(_ben_gerry(data)).value,
        data["published_values"]["krippendorff_alpha_nominal"],
    )
    variant = data["irrCAC_variant_unit10_missing_computed"]
    assert_printed(krippendorff_alpha(_ben_gerry(data, True)).value, variant["irrCAC_krippendorff"])
    assert_printed(gwet_ac1(_ben_gerry(data, True)).value, variant["irrCAC_gwet_ac1"])


@pytest.mark.parametrize(
    "name", ["krippendorff2011_C_4observers_12units.json", "krippendorff_2011.json"]
)
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_krippendorff_2011_section_c_levels(name, level):
    data = load(name)
    published = (
        data["published_values"]["krippendorff_alpha"]
        if "published_values" in data
        else data["alpha"]
    )
    labels = np.array(data["reliability_data"], dtype=float).T
    assert_printed(krippendorff_alpha(labels, level).value, published[level])


def test_krippendorff_2011_section_c_irrcac_coefficients():
    data = load("krippendorff2011_C_4observers_12units.json")
    published = data["published_values"]["irrCAC_R_readme"]
    labels = np.array(data["units_x_raters"], dtype=float)
    assert_printed(gwet_ac1(labels).value, published["gwet"])
    assert_printed(fleiss_kappa(labels).value, published["fleiss"])
    assert_printed(krippendorff_alpha(labels).value, published["krippendorff"])
    assert_printed(percent_agreement(labels).value, published["percent_agreement"])


def test_r_irr_anxiety_cohen():
    data = load("r_irr_anxiety_20subjects_3raters.json")
    labels = np.array(data["units_x_raters"], dtype=float)
    value = cohen_kappa(labels[:, 1], labels[:, 2]).value
    assert_printed(value, data["published_values"]["kappa_r2_r3_unweighted"])


@pytest.mark.parametrize(
    "level,key",
    [("nominal", "nominal_6dp_krippendorff_pkg"), ("interval", "interval_6dp_krippendorff_pkg")],
)
def test_wikipedia_krippendorff_3coders(level, key):
    data = load("wikipedia_krippendorff_3coders_15units.json")
    labels = np.array(data["reliability_data"], dtype=float).T
    result = krippendorff_alpha(labels, level)
    assert_printed(result.value, data["published_values"][key])
    assert_printed(result.value, data["published_values"][level])
    assert result.n_units == 12  # units 1, 2 and 14 have fewer than two values: not pairable
