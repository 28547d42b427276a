"""A judge against gold labels: confusion matrix, sensitivity, specificity, accuracy and κ.

Error is the positive class: *sensitivity* is the share of gold errors the judge calls errors,
*specificity* the share of gold-correct answers it lets pass. Proportions carry Wilson and
Clopper–Pearson intervals; Cohen's κ a percentile bootstrap interval over records. Only records
both the judge and the gold standard decided count (NaN = missing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.stats.agreement import cohen_kappa, confusion_matrix
from audit.stats.rates import error_rate
from audit.stats.results import AgreementResult, RateEstimate, Serialisable

_BINARY = [0.0, 1.0]


@dataclass(frozen=True)
class DiagnosticAccuracy(Serialisable):
    """How a judge's error calls match the gold labels on the records both decided.

    ``confusion[g][j]``: records gold labelled ``g`` and the judge ``j`` (0 = ok, 1 = error).
    """

    n: int
    confusion: list[list[int]]
    sensitivity: RateEstimate | None
    specificity: RateEstimate | None
    accuracy: RateEstimate | None
    kappa: AgreementResult


def _proportion(k: int, n: int, confidence: float) -> RateEstimate | None:
    return error_rate(k, n, confidence=confidence) if n else None


def diagnostic_accuracy(
    predicted, gold, *, confidence: float = 0.95, bootstrap: int = 1000, seed: int = 0
) -> DiagnosticAccuracy:
    """Score 0/1 ``predicted`` labels against 0/1 ``gold`` labels (NaN = no label)."""
    a, g = np.asarray(predicted, dtype=float), np.asarray(gold, dtype=float)
    table = confusion_matrix(g, a, _BINARY)
    (tn, fp), (fn, tp) = table.tolist()
    n = tn + fp + fn + tp
    return DiagnosticAccuracy(
        n=n,
        confusion=table.tolist(),
        sensitivity=_proportion(tp, tp + fn, confidence),
        specificity=_proportion(tn, tn + fp, confidence),
        accuracy=_proportion(tp + tn, n, confidence),
        kappa=cohen_kappa(g, a, categories=_BINARY, bootstrap=bootstrap,
                          confidence=confidence, seed=seed),
    )
