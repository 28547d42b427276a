"""Gold labels in a run: which judge is gold, its labels, and every other judge against it.

A run's gold labels come from one named judge: an API judge of its panel, a person who used
``audit review``, or a file brought in with ``audit import-labels``. Judges that are not in
the run's configured panel (reviewers, imported labels) are the natural candidates: when there
is exactly one, it is the gold judge unless another is named.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from audit.predictions import decided_verdicts
from audit.stats.consensus import majority_vote
from audit.stats.diagnostic import DiagnosticAccuracy, diagnostic_accuracy
from core.errors import ConfigError
from core.models import Judgment, Outcome
from core.runs import StoredRun

PANEL_CONSENSUS = "panel consensus"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JudgeVersusGold(_Model):
    judge: str = Field(description=f"a judge of the run, or '{PANEL_CONSENSUS}' (their majority)")
    scores: DiagnosticAccuracy


class GoldComparison(_Model):
    """Every other judge of a run scored against its gold judge (error = positive class)."""

    gold_judge: str
    gold_labels: int = Field(description="records the gold judge decided")
    gold_errors: int
    confidence: float
    judges: list[JudgeVersusGold]


def gold_candidates(run: StoredRun, judgments: list[Judgment]) -> list[str]:
    """Judges with decided labels in the run that are not in its configured panel."""
    panel = set(run.audit.panel)
    return sorted({j.judge for j in judgments if j.decided and j.judge not in panel})


def resolve_gold_judge(run: StoredRun, judgments: list[Judgment], gold: str | None) -> str | None:
    """``gold`` if the run has judgments from it; else the one candidate, or None."""
    names = sorted({j.judge for j in judgments})
    if gold is not None:
        if gold not in names:
            raise ConfigError(f"no judge {gold!r} in run {run.id}; its judges: "
                              f"{', '.join(names) or 'none'}")
        return gold
    candidates = gold_candidates(run, judgments)
    return candidates[0] if len(candidates) == 1 else None


def require_gold_judge(run: StoredRun, judgments: list[Judgment], gold: str | None) -> str:
    """Like ``resolve_gold_judge``, but a clear error when no single gold judge is found."""
    found = resolve_gold_judge(run, judgments, gold)
    if found is not None:
        return found
    candidates = gold_candidates(run, judgments)
    if candidates:
        raise ConfigError(f"run {run.id} has several judges outside its panel "
                          f"({', '.join(candidates)}): name the gold one with --gold "
                          "(in a gate policy: gold_judge)")
    raise ConfigError(
        f"run {run.id} has no gold labels: review it (`audit review {run.id}`), import "
        "them (`audit import-labels FILE --name NAME`), or name an API judge with --gold "
        "(in a gate policy: gold_judge)")


def label_vector(judgments: list[Judgment], record_ids: list[str], judge: str,
                 hard_rank: int | None = None, closed_world: bool = True) -> np.ndarray:
    """1 (error), 0 (ok or, in an open-world run, unverifiable) or NaN (not decided) per
    record; with ``hard_rank`` only errors of at least that severity count as 1."""
    verdicts = decided_verdicts(judgments, {judge})
    out = np.full(len(record_ids), np.nan)
    for i, rid in enumerate(record_ids):
        verdict = verdicts.get((rid, judge))
        if verdict is not None:
            error = (verdict.outcome(closed_world) is Outcome.error
                     and (hard_rank is None or verdict.severity.rank >= hard_rank))
            out[i] = float(error)
    return out


def compare_with_gold(
    judgments: list[Judgment],
    record_ids: list[str],
    gold_judge: str,
    *,
    confidence: float = 0.95,
    bootstrap: int = 1000,
    seed: int = 0,
    closed_world: bool = True,
) -> GoldComparison:
    """Each other judge, and their majority, against ``gold_judge`` on the records both decided."""
    gold = label_vector(judgments, record_ids, gold_judge, closed_world=closed_world)
    others = sorted({j.judge for j in judgments} - {gold_judge})

    def score(labels: np.ndarray) -> DiagnosticAccuracy:
        return diagnostic_accuracy(labels, gold, confidence=confidence, bootstrap=bootstrap,
                                   seed=seed)

    columns = [label_vector(judgments, record_ids, name, closed_world=closed_world)
               for name in others]
    rows = [JudgeVersusGold(judge=name, scores=score(column))
            for name, column in zip(others, columns, strict=True)]
    if len(others) >= 2:
        vote = majority_vote(np.column_stack(columns), [0.0, 1.0]).labels
        rows.append(JudgeVersusGold(judge=PANEL_CONSENSUS, scores=score(vote)))
    present = gold[~np.isnan(gold)]
    return GoldComparison(gold_judge=gold_judge, gold_labels=int(present.size),
                          gold_errors=int(present.sum()), confidence=confidence, judges=rows)
