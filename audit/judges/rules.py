"""The ``rules`` judge: deterministic checks of an answer against its evidence passages.

No model is involved; the same record and evidence always give the same verdict, fast.
High precision by design:

- ``contradicted`` only with a conflicting quote: an evidence sentence holding a different
  value of the same kind (amount, percentage, date, time, weekday, duration, GPA, year,
  count) whose surrounding words match the answer's, while the answer's value appears
  nowhere in the evidence; or a rule whose modality the answer flips ("not required" where
  the evidence says "must", "may" where it says "may not").
- ``supported`` only when every claim was checked: each sentence of the answer holds a value
  found in the evidence, no value is unmatched and most of its content words are in the
  evidence too, citing the sentences that hold them. An answer it cannot check (an entity, a
  condition, a yes/no without a value) gets no ``supported`` vote: it abstains.
- a date contradicts only a date about the same thing: an event's date in the answer is
  never compared with a period bound in the evidence ("submitted on December 15" against
  "submit by January 15"), unless the answer names the bound itself ("the deadline is ...").
- ``not_in_sources`` when most of the answer's content words occur nowhere in the evidence.
- otherwise it abstains (verdict ``None``).

The answer is untrusted data: text addressed to a judge (instructions, fake JSON verdicts)
is removed before anything is compared, so it can never move the verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from audit.judges.alignment import Aligner, Difference
from audit.judges.base import JudgeOutcome, closed_book_verdict
from audit.judges.facts import (
    CONFLICTS,
    MODAL_WORDS,
    Quantity,
    clause_spans,
    comparable,
    content_words,
    extract_quantities,
    markdown_heading,
    modality,
    sentence_spans,
)
from core.models import Category, Citation, JudgeSpec, Label, Passage, QARecord, Severity, Verdict

if TYPE_CHECKING:
    from core.store import Store

DEFAULTS = {
    "support_coverage": 0.8,  # share of answer content words found in the evidence
    "unsupported_coverage": 0.6,  # below this share: not_in_sources
    "min_overlap": 2,  # shared context words needed to align two values
    "negation_overlap": 0.6,  # share of a rule clause's words an evidence clause must share
    # An equal value elsewhere in the evidence rules out a conflict when its sentence shares at
    # least this many words with the answer's (0: a value anywhere in the evidence protects).
    "protect_overlap": 0,
}
_DATE_KINDS = {"date", "time", "weekday", "year"}
_CRITICAL = re.compile(
    r"\b(?:fee|fees|tuition|cost|costs|charge|charged|refund|deposit|fine|copay|pay|paid|"
    r"deadline|due|last day|no later|before|within|until|by|hours?|work|employment|gpa|"
    r"grade point|credit|credits|minimum|maximum|at least|up to|grace period)\b",
    re.IGNORECASE,
)
# Text addressed to a judge rather than to a student: dropped before any comparison.
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,60}\b(?:instructions?|prompts?|rules?|"
    r"above|previous|prior|context|evidence|sources?)\b"
    r"|\b(?:judge|grader|evaluator|auditor|assistant|ai|model|llm|system)\b[^.\n]{0,60}"
    r"\b(?:must|should|shall|will|answer|respond|reply|output|return|mark|label|rate|say)\b"
    r"|\b(?:verdict|label|rating|score)\s*[:=]"
    r"|\b(?:respond|reply|answer|output|return|mark|label|rate)\b[^.\n]{0,40}"
    r"\b(?:supported|correct|true|verified|accurate|passes|pass)\b[^.\n]{0,20}$"
    r"|\bsystem\s*(?:prompt|message|override|:)|\bnew instructions?\b|\byou are now\b"
    r"|\b(?:begin|end)\s+(?:system|instructions?)\b"
    # chat-template and end-of-data markers ("[/INST]", "END OF RECORD", "record has ended")
    r"|\[/?INST\]|<\|im_(?:start|end)\|>|\bend of (?:the )?(?:data|record|input|evidence)\b"
    r"|\brecord has ended\b|>>>",
    re.IGNORECASE,
)
_REFUSAL = re.compile(
    r"\b(?:(?:can(?:no|')t|cannot|unable to|not able to) (?:answer|say|tell|confirm|advise)|"
    r"(?:do(?:es)?n'?t|do(?:es)? not) (?:cover|say|mention|address|specify|include)|"
    r"not (?:covered|mentioned|addressed|specified|stated) (?:in|by)|"
    r"(?:no|not enough) information (?:about|on|in)|please (?:ask|contact|check with))\b",
    re.IGNORECASE,
)
_BLOCKS = re.compile(r"```.*?(?:```|$)|<!--.*?(?:-->|$)|<\s*/?\s*\w+[^>]*>|\{[^{}]*\}", re.S)


def strip_injection(text: str) -> str:
    """``text`` without code blocks, JSON-like objects, tags, sentences aimed at a judge and
    Markdown headings (a topic's name states nothing: joined to the next sentence it would)."""
    text = _BLOCKS.sub(" ", text)
    kept = []
    for start, end in sentence_spans(text):
        sentence = text[start:end]
        if not _INJECTION.search(sentence) and not markdown_heading(text, start):
            kept.append(sentence)
    return " ".join(kept)


@dataclass(frozen=True)
class _Sentence:
    passage: Passage
    text: str
    words: frozenset[str]
    heading: frozenset[str]
    is_heading: bool = False


@dataclass(frozen=True)
class _Fact:
    quantity: Quantity
    sentence: _Sentence | None
    context: frozenset[str]  # words of the sentence (+ heading, or + the question)
    near: frozenset[str] = frozenset()  # words right around the value
    own: frozenset[str] = frozenset()  # words nearer to this value than to any other one
    offset: int = 0  # where the quantity's sentence starts in the answer
    text: str = ""  # the answer sentence that holds the quantity
    about: frozenset[str] = frozenset()
    """Answer values: the words around the value that are not the question's. Not empty when
    the answer says what its value is (a deadline, a fee), not only whom it is about (the
    question's university); the value then meets only evidence values with shared nearby words."""


@dataclass(frozen=True)
class _Conflict:
    kind: str  # "value" or "modality"
    answer_text: str
    evidence: _Sentence
    evidence_text: str
    category: Category
    severity: Severity
    confidence: float
    overlap: int


class RulesJudge:
    """Deterministic judge; ``spec.params`` may override the thresholds in ``DEFAULTS``."""

    def __init__(self, spec: JudgeSpec, store: Store | None = None, *,
                 closed_book: bool = False) -> None:
        self.spec = spec
        self.store = store  # unused: nothing here is worth caching
        self.params = {**DEFAULTS, **spec.params}
        self.closed_book = closed_book  # no sources: nothing to compare with (unverifiable)

    async def judge(self, record: QARecord, evidence: list[Passage]) -> JudgeOutcome:
        if self.closed_book:
            if _REFUSAL.search(strip_injection(record.answer)):
                return JudgeOutcome(verdict=None)  # declines to answer: nothing to check
            return JudgeOutcome(verdict=closed_book_verdict("rules"))
        return JudgeOutcome(verdict=self.decide(record, evidence))

    def decide(self, record: QARecord, evidence: list[Passage]) -> Verdict | None:
        """The verdict for ``record`` given ``evidence``; None to abstain."""
        answer = strip_injection(record.answer)
        sentences = _evidence_sentences(evidence)
        if _REFUSAL.search(answer):
            return None  # declining to answer is judged by others: there is nothing to check
        if not sentences or not (content_words(answer) or _YES_NO.match(answer)):
            return None
        question_words = frozenset(_context_words(record.question))
        answer_facts = _answer_facts(answer, question_words)
        evidence_facts = [f for s in sentences for f in _sentence_facts(s)]
        conflicts, matched, unmatched = self._check_values(answer_facts, evidence_facts)
        conflicts += self._check_modality(answer, record.question, sentences)
        if conflicts:
            return _contradiction(max(conflicts, key=lambda c: (c.confidence, c.overlap)))
        aligner = Aligner(evidence, record.question)
        differences = aligner.differences(answer)
        compared = aligner.comparison(record.question, answer)
        differences += [compared] if compared else []
        if differences:
            return _difference_verdict(max(differences, key=lambda d: d.confidence))
        if not content_words(answer):
            return None  # a bare yes/no that states no rule of the evidence
        coverage, _ = _coverage(_without(answer, matched), sentences)
        if coverage < self.params["unsupported_coverage"]:
            return _not_in_sources(
                Category.unsupported_claim,
                round(0.55 + 0.3 * (self.params["unsupported_coverage"] - coverage), 3),
                f"only {coverage:.0%} of the answer's content words occur in the evidence")
        missing = _missing(aligner, answer, bool(matched))
        if missing:
            return missing
        return self._support(record.question, aligner, answer, matched, unmatched, sentences)

    def _support(self, question: str, aligner: Aligner, answer: str,
                 matched: list[tuple[_Fact, _Fact | None]], unmatched: list[_Fact],
                 sentences: list[_Sentence]) -> Verdict | None:
        """``supported`` when every claim was checked, else None (abstain).

        ``ok`` means every checkable claim was verified: each sentence that asserts
        something (questions and interjections do not) holds a value found in the evidence,
        states a rule the evidence states alike, or is stated by one evidence sentence; a
        sentence with nothing checkable is beyond this judge, which then abstains."""
        asserted = aligner.asserted(answer)
        coverage, best = _coverage(_without(asserted, matched), sentences)
        if (unmatched or coverage < self.params["support_coverage"]
                or not content_words(asserted)
                or not self._every_sentence_checked(asserted, question, matched, sentences,
                                                    aligner)):
            return None
        cited = _dedupe([e.sentence for _, e in matched if e and e.sentence] + best)[:3]
        return Verdict(
            label=Label.supported,
            confidence=round(0.55 + 0.3 * coverage, 3),
            citations=[Citation(passage_id=s.passage.id, quote=s.text) for s in cited],
            rationale=f"{len(matched)} checkable value(s) found in the evidence and "
            f"{coverage:.0%} of the answer's content words occur in it",
        )

    def _every_sentence_checked(self, answer: str, question: str,
                                matched: list[tuple[_Fact, _Fact | None]],
                                sentences: list[_Sentence], aligner: Aligner) -> bool:
        """True when every answer sentence with content words holds a verified value, states
        a rule the evidence states the same way, or is stated by one evidence sentence."""
        holding: dict[int, list[tuple[str, str]]] = {}
        for fact, found in matched:
            holding.setdefault(fact.offset, []).extend(
                [(found.sentence.text, found.quantity.text)] if found and found.sentence else [])
        claims = [(start, answer[start:end]) for start, end in sentence_spans(answer)
                  if content_words(answer[start:end])]
        return bool(claims) and all(
            start in holding and aligner.grounded(text, holding[start])
            or self._modality_verified(text, question, sentences)
            or aligner.verified(text) for start, text in claims)

    def _check_values(
        self, answer_facts: list[_Fact], evidence_facts: list[_Fact]
    ) -> tuple[list[_Conflict], list[tuple[_Fact, _Fact | None]], list[_Fact]]:
        conflicts: list[_Conflict] = []
        matched: list[tuple[_Fact, _Fact | None]] = []
        unmatched: list[_Fact] = []
        for fact in answer_facts:
            q = fact.quantity
            same_kind = [e for e in evidence_facts if comparable(q, e.quantity)]
            equal = [e for e in same_kind if q.equals(e.quantity)]
            # An equal value protects the answer unless it sits in an unrelated sentence.
            protect = self.params["protect_overlap"]
            equal = [e for e in equal if len(fact.context & e.context) >= protect]
            if equal:
                best = max(equal, key=lambda e: _score(fact, e))
                if self._misplaced(fact, best, same_kind):
                    unmatched.append(fact)  # the value exists, but in another context
                else:
                    matched.append((fact, best))
                continue
            if _derived(fact, answer_facts, [e.quantity for e in same_kind], evidence_facts):
                matched.append((fact, None))  # a sum or multiple of evidence values: arithmetic
                continue
            unmatched.append(fact)
            if q.hedged or q.kind == "number":
                continue
            conflict = self._aligned(fact, same_kind)
            if conflict:
                conflicts.append(conflict)
        return conflicts, matched, unmatched

    def _misplaced(self, fact: _Fact, equal: _Fact, same_kind: list[_Fact]) -> bool:
        """True when a different value sits in a clearly closer context than the equal one.

        Not a contradiction (the value occurs in the evidence), but not support either."""
        here, here_sentence = _score(fact, equal), len(fact.context & equal.context)
        return any(
            _score(fact, e) >= here + 2 and len(fact.context & e.context) >= here_sentence
            for e in same_kind
            if not fact.quantity.equals(e.quantity)
            and len(fact.context & e.context) >= self.params["min_overlap"]
        )

    def _aligned(self, fact: _Fact, candidates: list[_Fact]) -> _Conflict | None:
        """The evidence value that the answer's value replaces, when the contexts agree."""
        # A value contradicts only a value about the same thing: when the answer says what its
        # value is ("the deadline for scores is December 15, 2022"), a word next to it must also
        # stand next to the evidence value; sharing the question's subject ("Dhaka University
        # ... in 2023, 3.5 lakh applied") is not enough.
        scored = [
            (_score(fact, e), e, e.sentence) for e in candidates
            if e.sentence and len(fact.context & e.context) >= self.params["min_overlap"]
            and (not fact.about or fact.near & e.near)
            and not _year_within_bound(fact, e)
        ]
        if not scored:
            return None
        overlap, best, sentence = max(scored, key=lambda scored_fact: scored_fact[0])
        # A tie between different values in different contexts leaves the alignment unclear.
        rivals = {e.quantity.text for n, e, s in scored if n == overlap and s != sentence}
        if rivals - {best.quantity.text}:
            return None
        q = fact.quantity
        category = Category.wrong_date if q.kind in _DATE_KINDS else Category.wrong_number
        critical = q.kind in {"money", "gpa"} or _CRITICAL.search(sentence.text)
        return _Conflict(
            kind="value",
            answer_text=q.text,
            evidence=sentence,
            evidence_text=best.quantity.text,
            category=category,
            severity=Severity.major if critical else Severity.minor,
            confidence=0.9 if overlap >= 3 else 0.8,
            overlap=overlap,
        )

    def _check_modality(
        self, answer: str, question: str, sentences: list[_Sentence]
    ) -> list[_Conflict]:
        return self._modality(answer, question, sentences)[0]

    def _modality_verified(self, text: str, question: str, sentences: list[_Sentence]) -> bool:
        """True when ``text`` states a rule (must / may / may not ...) and the evidence states
        each of its rules the same way: a checked claim without a value."""
        conflicts, agreed, stated = self._modality(text, question, sentences)
        return not conflicts and stated > 0 and agreed == stated

    def _modality(
        self, answer: str, question: str, sentences: list[_Sentence]
    ) -> tuple[list[_Conflict], int, int]:
        """(conflicts, rule clauses the evidence states alike, rule clauses compared)."""
        evidence_clauses = [
            (s, label, words)
            for s in sentences
            for label, words in _clauses(s.text)
            if label is not None
        ]
        conflicts = []
        agreed = stated = 0
        for label, words, bare in _answer_clauses(answer, question):
            if label is None or len(words) < 2:
                continue
            floor = 3 if len(words) >= 4 else 2
            need = max(floor, round(self.params["negation_overlap"] * len(words)))
            if bare:  # a bare "No." is about the question's whole subject
                need = max(floor, len(words) - 1)
            agreeing = best = None
            for sentence, ev_label, ev_words in evidence_clauses:
                shared = len(words & ev_words)
                if shared < need:
                    continue
                if frozenset({label, ev_label}) in CONFLICTS:
                    if best is None or shared > best[0]:
                        best = (shared, sentence, ev_label)
                elif label == ev_label or {label, ev_label} == {"required", "permitted"}:
                    agreeing = max(agreeing or 0, shared)
            stated += 1
            # verified: the evidence states the same rule with every word of the clause (a
            # changed entity, "domestic" for "international", is not verified)
            if agreeing == len(words) and best is None:
                agreed += 1
            if best and (agreeing is None or agreeing < best[0]):
                conflicts.append(
                    _Conflict(
                        kind="modality",
                        answer_text=label,
                        evidence=best[1],
                        evidence_text=best[2],
                        category=Category.negated_rule,
                        severity=Severity.major,
                        confidence=0.85 if best[0] >= 3 else 0.75,
                        overlap=best[0],
                    )
                )
        return conflicts, agreed, stated


# --- helpers -------------------------------------------------------------------------------


def _context_words(text: str) -> list[str]:
    return [w for w in content_words(text) if not w[0].isdigit()]


def _heading_words(passage: Passage) -> frozenset[str]:
    first = passage.text.lstrip().split("\n", 1)[0]
    return frozenset(_context_words(first)) if first.startswith("#") else frozenset()


def _evidence_sentences(evidence: list[Passage]) -> list[_Sentence]:
    out = []
    for passage in evidence:
        heading = _heading_words(passage)
        for start, end in sentence_spans(passage.text):
            text = passage.text[start:end]
            line_start = passage.text.rfind("\n", 0, start) + 1
            is_heading = passage.text[line_start:start].lstrip().startswith("#")
            words = frozenset(content_words(text))
            out.append(_Sentence(passage, text, words, heading, is_heading))
    return out


def _score(a: _Fact, e: _Fact) -> int:
    """How well two values' contexts agree: shared sentence words, plus shared nearby words."""
    return len(a.own & e.context) + len(a.near & e.near)


def _window(text: str, q: Quantity, chars: int = 50) -> frozenset[str]:
    before = text[max(0, q.start - chars) : q.start]
    after = text[q.end : q.end + chars]
    return frozenset(_context_words(before) + _context_words(after))


_BOUND = re.compile(
    r"\b(?:before|after|until|till|since|by|from|prior to|no later than|no earlier than|"
    r"earlier than|later than|as of|up to|through)\s+(?:the\s+)?(?:[A-Za-z]+\.?\s+)?$",
    re.IGNORECASE,
)


def _is_bound(fact: _Fact) -> bool:
    """True when the date opens or closes a period ("before January 2026", "since 2020")."""
    q = fact.quantity
    text = fact.sentence.text if fact.sentence is not None else fact.text
    return q.kind in _DATE_KINDS and bool(_BOUND.search(text[max(0, q.start - 40):q.start]))


_DEADLINE_WORDS = frozenset({"deadline", "deadlines", "due", "last", "latest", "cutoff",
                             "close", "closes", "closing", "expire", "expires", "expiry"})


def _year_within_bound(answer: _Fact, evidence: _Fact) -> bool:
    """An event's date in the answer ("in 2023", "submitted on December 15, 2022") against a
    period bound in the evidence ("taken before January 2026", "submitted by January 15"): a
    range is not a date, so it cannot contradict the event's date; they are about different
    things. Compared still: a wrong bound ("before 2024" against "before 2026") and an answer
    that names the bound itself ("the deadline is January 25")."""
    return (answer.quantity.kind in _DATE_KINDS and _is_bound(evidence)
            and not _is_bound(answer) and not (answer.near & _DEADLINE_WORDS))


def _sentence_facts(sentence: _Sentence) -> list[_Fact]:
    quantities = extract_quantities(sentence.text)
    text = _blank(sentence.text, quantities)
    context = frozenset(_context_words(text)) | sentence.heading
    return [_Fact(q, sentence, context, _window(text, q)) for q in quantities]


def _blank(text: str, quantities: list[Quantity]) -> str:
    """``text`` with the quantities' own words (month names, units) replaced by spaces."""
    chars = list(text)
    for q in quantities:
        chars[q.start : q.end] = " " * (q.end - q.start)
    return "".join(chars)


def _answer_facts(answer: str, question_words: frozenset[str]) -> list[_Fact]:
    facts = []
    for start, end in sentence_spans(answer):
        quantities = extract_quantities(answer[start:end])
        text = _blank(answer[start:end], quantities)
        context = frozenset(_context_words(text)) | question_words
        for q, own in zip(quantities, _nearest_words(text, quantities), strict=True):
            near = _window(text, q)
            facts.append(_Fact(q, None, context, near, own | question_words, start, text,
                               near - question_words))
    return facts


def _nearest_words(text: str, quantities: list[Quantity]) -> list[frozenset[str]]:
    """Each content word of ``text`` goes to the quantity nearest to it, so that in
    "20 hours in term, 40 hours in breaks" the word "breaks" belongs to the 40."""
    own: list[set[str]] = [set() for _ in quantities]
    for m in re.finditer(r"[A-Za-z][\w'’-]*", text):
        words = _context_words(m.group(0))
        if not words or not quantities:
            continue
        centre = m.start()
        distances = [
            0 if q.start <= centre < q.end else min(abs(centre - q.start), abs(centre - q.end))
            for q in quantities
        ]
        own[distances.index(min(distances))].update(words)
    return [frozenset(words) for words in own]


def _derived(
    fact: _Fact, answer_facts: list[_Fact], evidence: list[Quantity], evidence_facts: list[_Fact]
) -> bool:
    """True when the answer shows its arithmetic: another value of the same kind in the same
    sentence is confirmed by the evidence, and this one is a sum of two values or a small
    multiple of that one ("$1,425 per semester, so $2,850 a year")."""
    q = fact.quantity
    if q.kind in {"date", "time", "weekday", "year", "gpa"}:
        return False
    shown = [
        f.quantity.values[0] for f in answer_facts
        if f is not fact and f.text == fact.text and comparable(q, f.quantity)
        and any(f.quantity.equals(e.quantity) for e in evidence_facts)
    ]
    value = q.values[0]
    # "for two terms ... $2,500": a count in the same sentence times an evidence value.
    times = [
        f.quantity.values[0] for f in answer_facts
        if f is not fact and f.text == fact.text and f.quantity.kind in {"count", "number"}
        and 2 <= f.quantity.values[0] <= 52
    ]
    if any(abs(e.values[0] * m - value) < 1e-6 for e in evidence for m in times):
        return True
    if not shown:
        return False
    numbers = sorted({e.values[0] for e in evidence} | set(shown))
    if any(abs(a + b - value) < 1e-6 for i, a in enumerate(numbers) for b in numbers[i:]):
        return True
    return any(
        a and abs(value / a - round(value / a)) < 1e-6 and 2 <= round(value / a) <= 52
        for a in shown
    )


def _clauses(text: str) -> list[tuple[str | None, frozenset[str]]]:
    out = []
    for start, end in clause_spans(text, 0, len(text)):
        clause = text[start:end]
        words = frozenset(w for w in _context_words(clause) if w not in MODAL_WORDS)
        out.append((modality(clause), words))
    return out


_YES_NO = re.compile(r"^\W*(yes|no)\s*(?:[,.;:!—–-]|$)", re.IGNORECASE)
_QUESTION_MODAL = (
    ("required", "optional", re.compile(r"\b(?:required|mandatory|must|need|have to)\b", re.I)),
    ("permitted", "forbidden", re.compile(r"\b(?:can|may|allowed|permitted|eligible|accepted)\b",
                                          re.I)),
)


def _answer_clauses(
    answer: str, question: str
) -> list[tuple[str | None, frozenset[str], bool]]:
    """Clauses of the answer: (modality, words, from a bare yes/no answering the question)."""
    clauses: list[tuple[str | None, frozenset[str], bool]] = []
    for start, end in sentence_spans(answer):
        clauses.extend((label, words, False) for label, words in _clauses(answer[start:end]))
    question_words = frozenset(w for w in _context_words(question) if w not in MODAL_WORDS)
    yes_no = _YES_NO.match(answer)
    if yes_no and (not clauses or clauses[0][0] is None):
        for if_yes, if_no, pattern in _QUESTION_MODAL:
            if pattern.search(question):
                label = if_yes if yes_no.group(1).lower() == "yes" else if_no
                clauses.insert(0, (label, question_words, True))
                break
    # Short clauses ("No, it is not required.") borrow the question's subject.
    return [(label, words if len(words) >= 3 else words | question_words, bare)
            for label, words, bare in clauses]


def _without(answer: str, matched: list[tuple[_Fact, _Fact | None]]) -> str:
    """The answer with its confirmed values blanked: they are checked, not counted as words."""
    chars = list(answer)
    for fact, _ in matched:
        start = fact.offset + fact.quantity.start
        chars[start : fact.offset + fact.quantity.end] = " " * (fact.quantity.end - fact.quantity.start)
    return "".join(chars)


def _coverage(answer: str, sentences: list[_Sentence]) -> tuple[float, list[_Sentence]]:
    """Share of the answer's content words found in the evidence, and the best sentences."""
    words = content_words(answer)
    if not words:  # everything left was a confirmed value
        return 1.0, []
    vocabulary = frozenset().union(*(s.words for s in sentences))
    coverage = sum(w in vocabulary for w in words) / len(words)
    wanted = set(words)
    body = [s for s in sentences if not s.is_heading]
    ranked = sorted(body, key=lambda s: -len(wanted & s.words))
    best = [s for s in ranked[:2] if wanted & s.words]
    return coverage, best


def _dedupe(sentences: list[_Sentence]) -> list[_Sentence]:
    seen, out = set(), []
    for s in sentences:
        key = (s.passage.id, s.text)
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


def _contradiction(conflict: _Conflict) -> Verdict:
    quote = conflict.evidence.text
    if conflict.kind == "value":
        why = (f"the answer says {conflict.answer_text!r} but the source gives "
               f"{conflict.evidence_text!r} in the same context")
    else:
        why = (f"the answer states the rule as {conflict.answer_text} but the source states it "
               f"as {conflict.evidence_text}")
    return Verdict(
        label=Label.contradicted,
        category=conflict.category,
        severity=conflict.severity,
        confidence=conflict.confidence,
        citations=[Citation(passage_id=conflict.evidence.passage.id, quote=quote)],
        rationale=why,
    )


def _not_in_sources(category: Category, confidence: float, rationale: str) -> Verdict:
    return Verdict(label=Label.not_in_sources, category=category, severity=Severity.minor,
                   confidence=confidence, rationale=rationale)


def _missing(aligner: Aligner, answer: str, values_found: bool) -> Verdict | None:
    """What the evidence does not hold although most of the answer's words are in it: a
    name it names nowhere, or (no value of the answer found) claims no evidence sentence is
    about, stated without hedge: a confident answer the sources retrieved do not give."""
    claims = aligner.unanswered(answer)
    if claims and not values_found:
        return _not_in_sources(
            Category.unanswerable, 0.6,
            f"no evidence sentence is about any of the answer's {claims} claim(s): the "
            "sources retrieved do not answer it")
    unknown = aligner.unknown_names(aligner.asserted(answer))
    if unknown:
        return _not_in_sources(
            Category.unsupported_claim, 0.6,
            f"the answer names {', '.join(dict.fromkeys(unknown))}, found nowhere in the "
            "evidence")
    return None


def _difference_verdict(difference: Difference) -> Verdict:
    """A contradiction found by aligning an answer sentence with an evidence sentence."""
    sentence = difference.sentence
    if difference.kind == "condition":
        why = (f"the answer states the rule without condition ({difference.answer_text!r}) but "
               f"the source makes it conditional: {difference.evidence_text!r}")
    elif difference.kind == "comparison" and difference.category is Category.wrong_date:
        why = (f"the answer puts {difference.answer_text} but the source's dates say otherwise: "
               f"{difference.evidence_text}")
    elif difference.kind == "comparison":
        why = (f"the answer chooses {difference.answer_text!r} but the source states what the "
               f"question describes of {difference.evidence_text}")
    elif difference.kind == "polarity":
        why = f"the answer {difference.answer_text} where the aligned source sentence does not"
    else:
        why = (f"the answer says {difference.answer_text!r} where the aligned source sentence "
               f"says {difference.evidence_text!r}")
    return Verdict(
        label=Label.contradicted,
        category=difference.category,
        severity=Severity.major,
        confidence=difference.confidence,
        citations=[Citation(passage_id=s.passage.id, quote=s.text)
                   for s in (sentence, *difference.also)],
        rationale=why,
    )
