"""Cross-record consistency: answers that state different figures for the same thing.

Synthetic datasets repeat questions; when two answers give different values for the same
measure of the same named thing ("minimum GMAT score" of Oxford: 700 in one, 650 in another),
at least one of them is wrong, and no source document is needed to see it.

A value is compared only with a value of the same kind (``Quantity.kind``; counts only with
counts of the same noun) whose sentence names the same things (the named bodies, tests and
places of the sentence and of the question it answers: one sentence names all the other does,
Jaccard >= ``SUBJECT_OVERLAP``) and
whose nearby words say the same measure (at least ``MIN_SHARED_MEASURE`` shared content words
besides the names; for dates, amounts, durations and percentages one, if it is most of them).
Among the other record's candidates the best-matching value is taken; if that record also
states the same value, there is no conflict. Years are never compared (they date a statement
more often than they state one), and figures of sentences dated by different years are not
compared either ("in 2022 ..." and "in 2023 ..." may both be true). Deterministic and offline.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from audit.claims import Claim, ClaimList, NameBook, list_claims, subject_words
from audit.judges.facts import Quantity, comparable, content_words
from core.models import QARecord

SUBJECT_OVERLAP = 0.5
MIN_SHARED_MEASURE = 2
HEDGED_TOLERANCE = 0.15  # "about 5 lakh" and "about 4.8 lakh" do not conflict


@dataclass(frozen=True)
class Fact:
    record_id: str
    claim: Claim
    quantity: Quantity
    subject: frozenset[str]
    measure: frozenset[str]

    @property
    def value(self) -> str:
        """The value as written, with the noun a count counts: ``"5 lakh"``, ``"125 seats"``."""
        q = self.quantity
        if q.kind != "count":
            return q.text
        noun = re.match(r"\s*[\w-]+", self.claim.sentence[q.end:])
        return q.text + (noun.group(0) if noun else "")


@dataclass(frozen=True)
class Conflict:
    """Two records that state different values for the same measure of the same thing."""

    a: Fact
    b: Fact
    subject: tuple[str, ...]  # the names both sentences share
    measure: tuple[str, ...]  # the words that say what is measured

    def row(self) -> dict:
        return {
            "record_a": self.a.record_id, "value_a": self.a.value,
            "sentence_a": self.a.claim.sentence,
            "record_b": self.b.record_id, "value_b": self.b.value,
            "sentence_b": self.b.claim.sentence,
            "kind": self.a.quantity.kind, "subject": list(self.subject),
            "measure": list(self.measure),
        }

    def seen_from(self, record_id: str) -> tuple[Fact, Fact]:
        """(this record's fact, the other record's fact)."""
        return (self.a, self.b) if self.a.record_id == record_id else (self.b, self.a)


def find_conflicts(records: Sequence[QARecord], claims: ClaimList | None = None,
                   book: NameBook | None = None, *,
                   only: set[str] | None = None) -> list[Conflict]:
    """Every pair of records stating conflicting values, in record order; with ``only``
    (record ids), just the pairs with one of those records (cost: |only| x dataset, not
    dataset squared: what a run's report needs for its sample)."""
    book = book or NameBook(records)
    claims = claims or list_claims(records, book)
    by_id = {r.id: r for r in records}
    facts = [f for c in claims.claims for f in _facts(c, by_id[c.record_id], book)]
    buckets: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, fact in enumerate(facts):
        for word in fact.subject:
            buckets[(fact.quantity.kind, word)].append(i)
    by_record: dict[tuple[int, str], list[int]] = defaultdict(list)
    for members in buckets.values():
        chosen = members if only is None else [i for i in members if facts[i].record_id in only]
        for i in chosen:
            for j in members:
                if facts[i].record_id != facts[j].record_id:
                    by_record[(i, facts[j].record_id)].append(j)
                    if only is not None:  # both directions: j's best match may be i's record
                        by_record[(j, facts[i].record_id)].append(i)
    found: dict[tuple, Conflict] = {}
    for (i, _other), candidates in sorted(by_record.items()):
        conflict = _conflict(facts[i], [facts[j] for j in dict.fromkeys(candidates)])
        if conflict is not None:
            key = tuple(sorted([(conflict.a.record_id, conflict.a.quantity.start,
                                 conflict.a.claim.start),
                                (conflict.b.record_id, conflict.b.quantity.start,
                                 conflict.b.claim.start)]))
            found.setdefault(key, conflict)
    order = {r.id: n for n, r in enumerate(records)}
    ordered = [c if order[c.a.record_id] <= order[c.b.record_id] else
               Conflict(c.b, c.a, c.subject, c.measure) for c in found.values()]
    return sorted(ordered, key=lambda c: (order[c.a.record_id], order[c.b.record_id]))


def conflicts_by_record(conflicts: Sequence[Conflict]) -> dict[str, list[Conflict]]:
    """Each record's conflicts: a conflict shows on both of its records."""
    out: dict[str, list[Conflict]] = defaultdict(list)
    for conflict in conflicts:
        out[conflict.a.record_id].append(conflict)
        out[conflict.b.record_id].append(conflict)
    return dict(out)


def _conflict(fact: Fact, others: list[Fact]) -> Conflict | None:
    scored = []
    for other in others:
        if not comparable(fact.quantity, other.quantity) or not _same_scale(fact, other):
            continue
        shared = fact.subject & other.subject
        if not _same_subject(fact.subject, other.subject):
            continue
        if _different_years(fact, other):
            continue  # "in 2022 ... 3.5 lakh" and "in 2023 ... 5 lakh" may both be true
        measure = fact.measure & other.measure
        if _same_measure(fact, other, measure):
            scored.append((len(measure), other, shared, measure))
    if not scored:
        return None
    best = max(s[0] for s in scored)
    top = [s for s in scored if s[0] == best]
    if any(_same(fact.quantity, s[1].quantity) for s in top):
        return None
    _, other, shared, measure = top[0]
    a, b = sorted([fact, other], key=lambda f: (f.record_id, f.quantity.start))
    return Conflict(a, b, tuple(sorted(shared)), tuple(sorted(measure)))


_SCALE = {"minute": "hours", "hour": "hours", "day": "days", "week": "days", "month": "months",
          "year": "months"}


def _scale(q: Quantity) -> str | None:
    unit = re.search(r"(minute|hour|day|week|month|year)s?\W*$", q.text, re.IGNORECASE)
    return _SCALE[unit.group(1).lower()] if unit else None


def _same_scale(a: Fact, b: Fact) -> bool:
    """Durations of one scale: "20 hours" (a week's work) and "12 months" (of CPT), or "90
    days" and "6 months", measure different things; "12 months" and "one year" do not."""
    if a.quantity.kind not in ("duration", "bduration"):
        return True
    return _scale(a.quantity) == _scale(b.quantity)


def _same_subject(a: frozenset[str], b: frozenset[str]) -> bool:
    """One sentence names all the other does (and more: "Oxford" / "Oxford's Said Business
    School"), and they share at least ``SUBJECT_OVERLAP`` of their names: "MS in Data Science
    at Cambridge" and "MS in Computer Science at Cambridge" are not the same subject."""
    return (a <= b or b <= a) and len(a & b) / len(a | b) >= SUBJECT_OVERLAP


def _years(fact: Fact) -> set[float]:
    return {q.values[0] for q in fact.claim.quantities if q.kind == "year"}


def _different_years(a: Fact, b: Fact) -> bool:
    """Both sentences are dated, and by different years: figures of different times."""
    ya, yb = _years(a), _years(b)
    return bool(ya and yb and not ya & yb)


def _same_measure(a: Fact, b: Fact, shared: frozenset[str]) -> bool:
    """Enough shared words; a typed value (a date, an amount, ...) needs fewer when the words
    around both values are mostly the same ("deadline" / "deadline")."""
    if len(shared) >= MIN_SHARED_MEASURE:
        return True
    typed = a.quantity.kind not in ("number", "count")
    return typed and bool(shared) and len(shared) / len(a.measure | b.measure) >= 0.5


def _same(a: Quantity, b: Quantity) -> bool:
    if a.equals(b):
        return True
    if (a.hedged or b.hedged) and a.kind == b.kind and a.kind not in ("date", "weekday", "time"):
        x, y = a.values[0], b.values[0]
        return abs(x - y) <= HEDGED_TOLERANCE * max(abs(x), abs(y))
    return False


def _facts(claim: Claim, record: QARecord, book: NameBook) -> list[Fact]:
    quantities = [q for q in claim.quantities if q.kind != "year"
                  and not _in_range(claim.sentence, q)]
    if not quantities:
        return []
    subject = subject_words(claim.entities) | _question_subject(record, book)
    if not subject:
        return []  # a figure about no named thing cannot be matched with another
    names = {w for e in claim.entities for w in content_words(e)} | subject
    out = []
    for q, words in zip(quantities, _nearest_words(claim.sentence, quantities), strict=True):
        measure = frozenset(w for w in words if w not in names)
        out.append(Fact(record.id, claim, q, subject, measure))
    return out


_RANGE_BEFORE = re.compile(r"\d\s*(?:-|–|to)\s*$")
_RANGE_AFTER = re.compile(r"^\s*(?:-|–|to)\s*\d")


def _in_range(sentence: str, q: Quantity) -> bool:
    """An end of a range ("3-4", "8-12 weeks", "161 to 169"): not a value of its own."""
    return bool(_RANGE_BEFORE.search(sentence[max(0, q.start - 6):q.start])
                or _RANGE_AFTER.match(sentence[q.end:q.end + 6]))


def _question_subject(record: QARecord, book: NameBook) -> frozenset[str]:
    """Names in the question, or else in the nearest earlier user turn that has some: a
    follow-up ("How should I prepare?") is about what the conversation was about."""
    turns = [record.question, *(t.content for t in reversed(record.context) if t.role == "user")]
    for text in turns:
        words = subject_words(book.entities(text))
        if words:
            return words
    return frozenset()


_CLAUSE_BREAK = re.compile(r"[;:()]|,\s|\s(?:but|while|whereas|although|though|unless)\s")


def _clauses(sentence: str, quantities: list[Quantity]) -> list[int]:
    """Start offsets of the sentence's clauses (never inside a value: "November 1, 2023")."""
    starts = [0]
    for m in _CLAUSE_BREAK.finditer(sentence):
        if not any(q.start <= m.start() < q.end for q in quantities):
            starts.append(m.end())
    return starts


def _nearest_words(sentence: str, quantities: list[Quantity]) -> list[frozenset[str]]:
    """Each content word goes to the nearest value of its own clause ("20 hours in term, 40
    hours in breaks": "breaks" belongs to the 40; in "If you miss the early deadline, apply by
    the regular deadline of January 4" the date is the regular deadline's); the values' own
    words are left out."""
    starts = _clauses(sentence, quantities)
    clause = lambda pos: sum(s <= pos for s in starts)  # noqa: E731
    own: list[set[str]] = [set() for _ in quantities]
    for m in re.finditer(r"[A-Za-z][\w'’-]*", sentence):
        if any(q.start <= m.start() < q.end for q in quantities):
            continue
        words = [w for w in content_words(m.group(0)) if not w[0].isdigit()]
        here = [i for i, q in enumerate(quantities) if clause(q.start) == clause(m.start())]
        if not words or not here:
            continue
        distances = {i: min(abs(m.start() - quantities[i].start), abs(m.start() - quantities[i].end))
                     for i in here}
        own[min(distances, key=distances.__getitem__)].update(words)
    return [frozenset(words) for words in own]


__all__ = ["Conflict", "Fact", "conflicts_by_record", "find_conflicts"]
