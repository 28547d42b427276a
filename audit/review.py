"""The human judge: ``audit review RUN_ID`` walks a person through a run's sampled records.

Each answer is saved at once as one more judge's judgment, with its citations verified like
any other judge's, so a review can be stopped at any point (q, Ctrl-C, Ctrl-D) and resumed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from audit.citations import verify_citations
from core.errors import ConfigError
from core.models import (
    Category,
    Citation,
    Judgment,
    JudgmentStatus,
    Label,
    Passage,
    QARecord,
    Severity,
    Verdict,
)
from core.store import Store

LABEL_KEYS = {"s": Label.supported, "c": Label.contradicted, "n": Label.not_in_sources}


@dataclass
class ReviewItem:
    record: QARecord
    evidence: list[Passage]
    position: int
    total: int


def pending_items(store: Store, run_id: str, judge: str, evidence_of) -> list[ReviewItem]:
    """Sampled records of ``run_id`` that ``judge`` has not reviewed yet, in sample order."""
    records = [QARecord.model_validate(r) for r in store.run_records(run_id)]
    if not records:
        raise ConfigError(f"no audit run {run_id!r} with a sample; see `audit runs`")
    done = {rid for rid, name in store.done_keys(run_id) if name == judge}
    return [
        ReviewItem(record, evidence_of(record), i + 1, len(records))
        for i, record in enumerate(records)
        if record.id not in done
    ]


def save_review(
    store: Store,
    run_id: str,
    judge: str,
    item: ReviewItem,
    label: Label,
    citations: list[Citation],
    note: str = "",
    severity: Severity = Severity.none,
) -> Judgment:
    """Store one human verdict (citations are checked like every judge's; a closed-book run
    shows no evidence, so its verdicts are uncited and there is nothing to check)."""
    verdict = Verdict(
        label=label,
        category=Category.none if label is Label.supported else Category.other,
        severity=severity,
        confidence=1.0,
        citations=citations,
        rationale=note,
    )
    if not item.evidence:  # closed-book: nothing to quote
        verdict = verdict.model_copy(update={"citations": []})
    check = verify_citations(verdict, {p.id: p for p in item.evidence}) if item.evidence else None
    judgment = Judgment(
        run_id=run_id,
        record_id=item.record.id,
        judge=judge,
        status=JudgmentStatus.ok if check is None or check.valid
        else JudgmentStatus.invalid_citation,
        verdict=verdict,
        error=None if check is None or check.valid else "; ".join(check.problems),
    )
    store.save_judgment(judgment)
    return judgment


def review_loop(
    store: Store,
    run_id: str,
    judge: str,
    items: list[ReviewItem],
    ask: Callable[[str], str],
    show: Callable[[ReviewItem], None],
    say: Callable[[str], None],
) -> int:
    """Ask about each item until done or the person quits; returns how many were saved."""
    saved = 0
    for item in items:
        show(item)
        key = ""
        while key not in LABEL_KEYS:
            key = ask("[s]upported  [c]ontradicted  [n]ot in sources (unverifiable)  [q]uit"
                      ).strip().lower()[:1]
            if key == "q":
                return saved
        citations = []
        passage_id = ask("cite passage id (empty for none)").strip() if item.evidence else ""
        if passage_id:
            quote = ask("verbatim quote from that passage").strip()
            citations.append(Citation(passage_id=passage_id, quote=quote))
        note = ask("note (optional)").strip()
        severity = Severity.none
        if key != "s":
            level = ask("severity [1] minor [2] major [3] critical").strip()
            severity = {"1": Severity.minor, "3": Severity.critical}.get(level, Severity.major)
        judgment = save_review(store, run_id, judge, item, LABEL_KEYS[key], citations, note,
                               severity)
        if judgment.status is JudgmentStatus.invalid_citation:
            say(f"saved, but the citation is invalid: {judgment.error}")
        saved += 1
    return saved
