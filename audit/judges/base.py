"""The judge contract shared by every judge kind.

A judge gets one record and the evidence passages retrieved for it and returns a
``JudgeOutcome``: a ``Verdict``, or ``None`` to abstain. Provider failures raise
``ProviderError``; output that cannot be parsed raises ``JudgeOutputError``. The audit
runner verifies citations and stores the judgment, so judges never touch the store directly.

A judge may also define ``async def prepare(self) -> None``: cheap checks and one-time set-up
(the local model's first-use conversion), run once before its first record. An error it raises
with ``persistent`` set (a missing package, key or model) makes the judge unusable for the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.models import Category, JudgeSpec, Label, Passage, QARecord, Severity, Verdict


@dataclass
class JudgeOutcome:
    verdict: Verdict | None  # None = abstain
    raw: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    cache_hit: bool = False


class Judge(Protocol):
    spec: JudgeSpec

    async def judge(self, record: QARecord, evidence: list[Passage]) -> JudgeOutcome: ...


def closed_book_verdict(judge_kind: str) -> Verdict:
    """What an evidence-only judge honestly says in a closed-book run: it cannot tell a true
    claim from an invented one without sources, so the answer is unverifiable to it (never an
    error, never supported)."""
    return Verdict(
        label=Label.not_in_sources,
        category=Category.none,
        severity=Severity.none,
        confidence=1.0,
        rationale=f"closed-book run (no sources): the {judge_kind} judge only compares an "
        "answer with evidence, so it cannot check this answer: unverifiable",
    )
