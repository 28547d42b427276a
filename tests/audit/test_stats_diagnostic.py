"""A judge against gold labels: confusion matrix, sensitivity, specificity, κ."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from audit.stats import diagnostic_accuracy, wilson_interval

NAN = float("nan")


def test_counts_rates_and_kappa_by_hand_and_against_scikit_learn():
    judge = [1, 1, 0, 0, 1, 0, 0, 1, NAN, 0]
    gold = [1, 1, 1, 0, 0, 0, 0, 1, 1, NAN]
    result = diagnostic_accuracy(judge, gold, bootstrap=200)
    # Both decided on 8 records: TP 3 (0, 1, 7), FN 1 (2), FP 1 (4), TN 3 (3, 5, 6).
    assert result.n == 8
    assert result.confusion == [[3, 1], [1, 3]]
    assert (result.sensitivity.k, result.sensitivity.n) == (3, 4)
    assert (result.specificity.k, result.specificity.n) == (3, 4)
    assert (result.accuracy.k, result.accuracy.n) == (6, 8)
    assert result.sensitivity.wilson == wilson_interval(3, 4)
    pairs = [(j, g) for j, g in zip(judge, gold, strict=True) if not (np.isnan(j) or np.isnan(g))]
    js, gs = zip(*pairs, strict=True)
    assert result.kappa.value == pytest.approx(cohen_kappa_score(gs, js))  # 0.5
    assert confusion_matrix(gs, js).tolist() == result.confusion
    assert result.kappa.ci is not None and result.kappa.ci.low <= 0.5 <= result.kappa.ci.high


def test_a_class_the_gold_never_uses_has_no_rate():
    result = diagnostic_accuracy([0, 1, 0], [0, 0, 0], bootstrap=0)
    assert result.sensitivity is None
    assert (result.specificity.k, result.specificity.n) == (2, 3)
