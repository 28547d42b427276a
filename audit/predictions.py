"""A run's judges as one cheap predictor: per record, the panel's P(error) or its consensus.

``p_error``: each deciding judge's verdict becomes a probability — its confidence if it says
error, one minus its confidence if it says supported — and the panel's prediction is their mean.
For the *hard* rate a judge's probability of a hard error is its confidence when it reports an
error of at least the hard severity, zero when it reports a lesser error, and one minus its
confidence when it says supported. ``consensus``: the majority label (1 error, 0 ok), 0.5 for a
tie. A record no panel judge decided gets 0.5: any fixed prediction keeps PPI valid; an
uninformative one only makes it less useful on that record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from audit.stats.consensus import majority_vote
from core.models import Judgment, Label, Outcome, Verdict

PredictionKind = Literal["p_error", "consensus"]
PREDICTION_KINDS: tuple[str, ...] = ("p_error", "consensus")
UNDECIDED = 0.5


@dataclass
class PanelPredictions:
    """Predictions of the panel ``judges`` for ``record_ids`` (same order)."""

    record_ids: list[str]
    judges: list[str]
    kind: str
    inclusive: np.ndarray
    hard: np.ndarray
    undecided: int  # records no panel judge decided (prediction 0.5)


def verdict_p_error(verdict: Verdict, closed_world: bool = True) -> float:
    """The verdict's P(error); an unverifiable verdict (open world) predicts no error."""
    outcome = verdict.outcome(closed_world)
    if outcome is Outcome.ok:
        return 1.0 - verdict.confidence
    return verdict.confidence if outcome is Outcome.error else 0.0


def verdict_p_hard(verdict: Verdict, hard_rank: int, closed_world: bool = True) -> float:
    if verdict.label is Label.supported:
        return 1.0 - verdict.confidence
    is_error = verdict.outcome(closed_world) is Outcome.error
    return verdict.confidence if is_error and verdict.severity.rank >= hard_rank else 0.0


def decided_verdicts(judgments: list[Judgment], judges: set[str]) -> dict[tuple[str, str], Verdict]:
    """(record id, judge) → the decided verdict, for the named judges."""
    return {(j.record_id, j.judge): j.verdict for j in judgments
            if j.judge in judges and j.decided and j.verdict is not None}


def panel_predictions(
    judgments: list[Judgment],
    record_ids: list[str],
    judges: list[str],
    *,
    kind: str = "p_error",
    hard_rank: int = 2,
    closed_world: bool = True,
) -> PanelPredictions:
    """One prediction per record from the decided verdicts of ``judges`` (``closed_world``:
    the run's sources are declared complete, so ``not_in_sources`` is an error)."""
    if kind not in PREDICTION_KINDS:
        raise ValueError(f"prediction must be one of {PREDICTION_KINDS}, got {kind!r}")
    verdicts = decided_verdicts(judgments, set(judges))
    shape = (len(record_ids), len(judges))
    p_err, p_hard = np.full(shape, np.nan), np.full(shape, np.nan)
    err, hard = np.full(shape, np.nan), np.full(shape, np.nan)
    for i, rid in enumerate(record_ids):
        for j, judge in enumerate(judges):
            verdict = verdicts.get((rid, judge))
            if verdict is not None:
                is_error = verdict.outcome(closed_world) is Outcome.error
                p_err[i, j] = verdict_p_error(verdict, closed_world)
                p_hard[i, j] = verdict_p_hard(verdict, hard_rank, closed_world)
                err[i, j] = float(is_error)
                hard[i, j] = float(is_error and verdict.severity.rank >= hard_rank)
    undecided = int(np.isnan(err).all(axis=1).sum()) if judges else len(record_ids)
    if kind == "p_error":
        return PanelPredictions(list(record_ids), list(judges), kind, _row_mean(p_err),
                                _row_mean(p_hard), undecided)
    return PanelPredictions(list(record_ids), list(judges), kind, _majority(err),
                            _majority(hard), undecided)


def _row_mean(matrix: np.ndarray) -> np.ndarray:
    out = np.full(matrix.shape[0], UNDECIDED)
    some = ~np.isnan(matrix).all(axis=1) if matrix.shape[1] else np.zeros(matrix.shape[0], bool)
    out[some] = np.nanmean(matrix[some], axis=1)
    return out


def _majority(labels: np.ndarray) -> np.ndarray:
    if labels.shape[1] == 0:
        return np.full(labels.shape[0], UNDECIDED)
    vote = majority_vote(labels, [0.0, 1.0]).labels
    return np.where(np.isnan(vote), UNDECIDED, vote)
