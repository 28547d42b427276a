"""Trace a tuned model's error back to the training records that carry the same wrong claim.

An answer is traced when the judges flag it (an error, or disputed among them) and it states
something wrong that the base model's answer does not (``is_new_error``: claim by claim, so a
tuned error beside a different base error is still traced). Its *wrong facts* are
what the answer says that the reference answer does not: quantities (amounts, dates,
durations, percentages, via ``audit.judges.facts.extract_quantities``), entities (e-mail
addresses, form names, offices) and, for errors without either (a negated rule), the content
words the reference lacks. Candidate training records come from BM25 over the training
answers (``core.retrieval.SourceIndex`` with the answers as passages), queried with the wrong
answer; a candidate *carries* the claim when its answer holds at least one of the wrong
quantities or entities, or at least two of the wrong words. Each match shows what the
training audit said about it: "flagged by 2 of 3 judges", or that it was not in the sample.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from audit.judges.facts import Quantity, content_words, extract_quantities
from core.models import Passage, QARecord, sha256_text

_ENTITY = re.compile(
    r"[\w.+-]+@[\w-]+\.[\w.]+\w|\bForm [A-Z0-9-]+\b|\b[A-Z]{1,4}-\d+[A-Z]?\b"
    r"|\b(?:Office|Department|Center|Centre) of [A-Z][\w]+(?: [A-Z][\w]+)*"
)
_NEGATION = re.compile(r"\b(?:not|no|never|cannot)\b|n't\b", re.IGNORECASE)
CANDIDATES = 25  # BM25 candidates examined per traced error
MIN_SHARED_WORDS = 2


@dataclass(frozen=True)
class WrongFacts:
    quantities: list[Quantity]
    entities: list[str]
    words: list[str]

    def describe(self) -> list[str]:
        return [q.text for q in self.quantities] + self.entities + self.words

    @property
    def empty(self) -> bool:
        return not (self.quantities or self.entities or self.words)


def wrong_facts(answer: str, reference: str) -> WrongFacts:
    """What ``answer`` states that ``reference`` does not (quantities, entities, words)."""
    reference_q = extract_quantities(reference)
    quantities = [q for q in extract_quantities(answer)
                  if not any(q.equals(r) for r in reference_q)]
    reference_entities = {e.lower() for e in _ENTITY.findall(reference)}
    entities = list(dict.fromkeys(e for e in _ENTITY.findall(answer)
                                  if e.lower() not in reference_entities))
    quantity_words = {w for q in quantities for w in content_words(q.text)}
    entity_words = {w for e in entities for w in content_words(e)}
    reference_words = set(claim_words(reference))
    words = [w for w in dict.fromkeys(claim_words(answer))
             if w not in reference_words and w not in quantity_words and w not in entity_words
             and not w[0].isdigit()]
    return WrongFacts(quantities, entities, words)


def claim_words(text: str) -> list[str]:
    """Content-word stems, plus ``not`` for any negation (a stop word that flips a rule)."""
    return content_words(text) + (["not"] if _NEGATION.search(text) else [])


def shared_facts(facts: WrongFacts, text: str) -> tuple[list[str], list[str]]:
    """(strong: wrong quantities/entities found in ``text``, weak: wrong words found in it)."""
    found_q = extract_quantities(text)
    strong = [q.text for q in facts.quantities if any(q.equals(f) for f in found_q)]
    lowered = text.lower()
    strong += [e for e in facts.entities if e.lower() in lowered]
    words = set(claim_words(text))
    weak = [w for w in facts.words if w in words]
    return strong, weak


@dataclass
class AuditFlag:
    """What the training audit said about one record."""

    in_audit: bool
    flagged: int = 0  # judges whose decided verdict says error
    decided: int = 0
    judges: int = 0
    labels: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        if not self.in_audit:
            return "not in the audit sample"
        return f"flagged by {self.flagged} of {self.decided} judges" + (
            f" ({self.judges - self.decided} undecided)" if self.judges > self.decided else "")


def audit_flags(store: Any, audit_run_id: str | None) -> dict[str, AuditFlag]:
    """Per training record id, the training audit's judgments (``store.judgments``)."""
    if not audit_run_id:
        return {}
    flags: dict[str, AuditFlag] = {}
    for record in store.run_records(audit_run_id):
        flags[record["id"]] = AuditFlag(in_audit=True)
    for judgment in store.judgments(audit_run_id):
        flag = flags.setdefault(judgment.record_id, AuditFlag(in_audit=True))
        flag.judges += 1
        if judgment.decided:
            flag.decided += 1
            flag.flagged += int(judgment.verdict.is_error)
            flag.labels[judgment.judge] = judgment.verdict.label.value
        else:
            flag.labels[judgment.judge] = judgment.status.value
    return flags


@dataclass
class TraceMatch:
    record_id: str
    question: str
    answer: str
    bm25: float
    shared: list[str]
    shared_words: list[str]
    audit: AuditFlag

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"audit_text": self.audit.describe()}


@dataclass
class Trace:
    prompt_id: str
    question: str
    tuned_answer: str
    base_answer: str
    reference: str
    wrong_facts: list[str]
    matches: list[TraceMatch]
    state: str = "error"  # or "disputed": the judges disagree on the tuned answer

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "matches"} | {
            "matches": [m.to_dict() for m in self.matches]}


class TrainingIndex:
    """BM25 over the answers of the training records."""

    def __init__(self, records: list[QARecord]) -> None:
        from core.retrieval import SourceIndex

        self.records = {r.id: r for r in records}
        passages = [Passage(id=r.id, doc_id="train", text=r.answer, sha256=sha256_text(r.answer))
                    for r in records]
        self.index = SourceIndex(passages)

    def search(self, text: str, k: int = CANDIDATES) -> list[tuple[QARecord, float]]:
        return [(self.records[p.id], score) for p, score in self.index.search(text, k=k)]


def is_new_error(tuned_state: str, base_state: str, tuned: str, base: str,
                 reference: str) -> bool:
    """The tuned answer is flagged and says something wrong that the base answer does not."""
    flagged = ("error", "disputed")
    if tuned_state not in flagged:
        return False
    return base_state not in flagged or not wrong_facts(tuned, f"{reference}\n{base}").empty


def trace_error(prompt_id: str, question: str, tuned: str, base: str, reference: str,
                index: TrainingIndex, flags: dict[str, AuditFlag], top: int = 3,
                state: str = "error") -> Trace:
    """The training records (best first, at most ``top``) carrying ``tuned``'s wrong claim."""
    facts = wrong_facts(tuned, reference)
    matches = []
    if not facts.empty:
        for record, score in index.search(tuned):
            strong, weak = shared_facts(facts, record.answer)
            if strong or len(weak) >= MIN_SHARED_WORDS:
                flag = flags.get(record.id, AuditFlag(in_audit=False))
                matches.append(TraceMatch(record.id, record.question, record.answer, score,
                                          strong, weak, flag))
    matches.sort(key=lambda m: (-len(m.shared), -len(m.shared_words), -m.bm25))
    return Trace(prompt_id, question, tuned, base, reference, facts.describe(), matches[:top],
                 state)
