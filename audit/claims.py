"""Specific, checkable claims in answers, and the ones to check first (no sources needed).

A *claim* is one sentence of an answer that states something a person (or a judge with the
web) can check: a figure (number, amount, date, duration), a named form, law or office, or a
requirement of a named body ("Dhaka University requires ..."). ``extract_claims`` lists them
per record, so they can be exported and checked by hand.

*Unverified specifics* are claims worth checking first, never errors: a specific figure stated
for a named institution with no hedge at all, and a form, law, office or acronym that no other
conversation of the dataset mentions (teachers writing from memory invent these: "IRCC Form
IMM-5709-B", "Oxford's OUCAS"). Everything here is deterministic and offline.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from audit.judges.facts import STOPWORDS, Quantity, extract_quantities, sentence_spans
from core.models import QARecord

# Words that make a capitalised run an institution (or office) rather than any other name.
INSTITUTION_WORDS = frozenset(
    """university universities college school institute institution academy ministry office
    department service services agency embassy consulate commission bureau authority
    directorate board council centre center foundation trust""".split()
)
# Office-like words: a named run with one of them is a named office to check.
_OFFICE_WORDS = INSTITUTION_WORDS - {"university", "universities", "college", "school",
                                     "institute", "institution", "academy", "centre", "center",
                                     "foundation", "trust"}
# Capitalised words that say nothing about which body a figure belongs to.
_GENERIC_NAME_WORDS = INSTITUTION_WORDS | frozenset(
    """the of and for in at on business graduate admission admissions application applications
    program programme programs programmes national international state government
    official evidence examples example association score scores requirement requirements
    test tests exam entrance sop""".split()
)
# Subject words that say what is studied, not who: never a sign of a named institution
# ("Department of Computer Science" does not make "computer" one).
_FIELD_WORDS = frozenset(
    """science sciences computer technology data management medical medicine engineering
    arts law health research studies education""".split()
)
# Nouns that count parts of the answer itself ("3-4 key points"), not facts.
DISCOURSE_NOUNS = frozenset(
    """key point step tip way thing reason factor section part example question idea element
    aspect strategy stage""".split()
)
_MONTH_DAY_NAMES = frozenset(
    """january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday""".split()
)
HEDGES = re.compile(
    r"\b(?:about|approximately|approx|around|roughly|nearly|almost|typically|usually|generally|"
    r"often|may|might|could|can vary|vary|varies|varying|depend|depends|depending|estimated|"
    r"expected|likely|most|many|some|several|check|verify|confirm|as of|subject to|range|"
    r"ranges|between)\b",
    re.IGNORECASE,
)
_REQUIREMENT = re.compile(
    r"\b(?:requires?|required|must|mandatory|compulsory|minimum|maximum|deadline|eligible|"
    r"eligibility|needs? to|not allowed|prohibited|at least|no more than)\b",
    re.IGNORECASE,
)
_MARKUP = re.compile(r"\*\*|__|`|^[ \t]*#+[ \t]|^[ \t]*(?:[-*+•>]|\d+[.)])[ \t]+", re.MULTILINE)
_NAME_TOKEN = re.compile(r"[A-Z][\w’'&.-]*[\w]|[A-Z]")
_RUN = re.compile(
    r"(?<![\w’'-])(?:[A-Z][\w’'&-]*)(?:\s+(?:(?:of|and|the|de)\s+)?(?:[A-Z][\w’'&-]*))*"
)
_FORM = re.compile(r"\b(?:[Ff]orm\s+)?[A-Z]{1,5}-\d+[A-Z0-9]*(?:-[A-Z0-9]+)*\b|\b[Ff]orm\s+\d+[A-Z]?\b")
_LAW = re.compile(
    r"\b(?:[A-Z][\w’'-]*\s+){1,6}(?:Act|Regulations?|Ordinance|Directive)\b"
    r"(?:\s+(?:of\s+)?\d{4})?|\b(?:Section|Article)\s+\d+[A-Za-z]?\s+of\s+the\s+[A-Z][\w ]+"
)
_PAREN_ACRONYM = re.compile(r"\(([A-Z][A-Z0-9&]{1,9})\)")


# A sentence without a digit, a number word or a month holds no value: skip the extractors.
_MAY_HOLD_VALUE = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
    r"fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|"
    r"seventy|eighty|ninety|hundred|first|second|third|noon|midday|midnight|"
    r"jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Claim:
    """One checkable sentence of a record's answer (``start``: its offset in the answer)."""

    record_id: str
    sentence: str
    start: int
    kinds: tuple[str, ...]  # of: figure, named, requirement
    quantities: tuple[Quantity, ...]
    entities: tuple[str, ...]  # named bodies, tests and places, as written
    named: tuple[str, ...]  # forms, laws, offices, acronyms, as written
    hedged: bool
    unverified: tuple[str, ...] = field(default=())  # why it is worth checking first

    def row(self) -> dict:
        """The export form: one flat, JSON-ready dict."""
        return {
            "record_id": self.record_id,
            "sentence": self.sentence,
            "kinds": list(self.kinds),
            "values": [f"{q.text} ({q.kind})" for q in self.quantities],
            "entities": list(self.entities),
            "named": list(self.named),
            "hedged": self.hedged,
            "unverified": list(self.unverified),
        }


def conversation_of(record: QARecord) -> str:
    """The conversation a record belongs to: chat turns ``"7:3"`` share ``"7"``."""
    head, _, turn = record.id.rpartition(":")
    return head if head and turn.isdigit() else record.id


def plain(text: str) -> str:
    """``text`` with Markdown emphasis, headings and list markers blanked (offsets kept)."""
    return _MARKUP.sub(lambda m: " " * len(m.group(0)), text)


def sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` line by line: in a chat answer every line (a heading, a list
    item) ends what it says, so "Evidence & Examples" never runs into the next line."""
    spans, pos = [], 0
    for line in text.split("\n"):
        spans += [(pos + a, pos + b) for a, b in sentence_spans(line)]
        pos += len(line) + 1
    return spans


class NameBook:
    """What the dataset as a whole says about names (needed to read each sentence).

    ``names``: words written capitalised somewhere not at a sentence start, so that a
    sentence-initial "Oxford" is a name and "Submit" is not. ``institutions``: name words that
    appear in a run with an institution word ("Oxford University", "Dhaka University").
    """

    def __init__(self, records: Sequence[QARecord]) -> None:
        self.names: set[str] = set()
        self.institutions: set[str] = set()
        # Each text once (a chat's earlier turns are the context of every later one), names
        # first, so that no record's reading depends on where it sits in the file.
        texts = list(dict.fromkeys(t for record in records for t in _texts(record)))
        for text in texts:
            for start, end in sentences(text):
                for m in _NAME_TOKEN.finditer(text, start, end):
                    if m.start() > start:
                        self.names.add(_key(m.group(0)))
        for text in texts:
            for entity in self.entities(text):
                words = [_key(w) for w in entity.split()]
                if any(w in INSTITUTION_WORDS for w in words):
                    self.institutions.update(w for w in words
                                             if w not in _GENERIC_NAME_WORDS | _FIELD_WORDS)

    def entities(self, sentence: str) -> list[str]:
        """Named things in ``sentence`` (runs of capitalised words), as written."""
        out = []
        for m in _RUN.finditer(sentence):
            words = m.group(0).split()
            if m.start() == _first_word(sentence) and not self._is_name(words[0]):
                words = words[1:]
            words = [w for w in words if _key(w) not in STOPWORDS | _MONTH_DAY_NAMES or _acronym(w)]
            out += [" ".join(part).rstrip(".’'") for part in _split_possessive(words) if part]
        return out

    def _is_name(self, word: str) -> bool:
        return _acronym(word) or _key(word) in self.names


def _split_possessive(words: list[str]) -> list[list[str]]:
    """"Harvard Business School's MBA" names two things: the school, and its MBA."""
    parts: list[list[str]] = [[]]
    for word in words:
        parts[-1].append(word)
        if re.search(r"['’]s$", word):
            parts.append([])
    return parts


def subject_words(entities: Iterable[str]) -> frozenset[str]:
    """The distinctive words of named things: ``"Dhaka University"`` → ``{"dhaka"}``."""
    return frozenset(
        w for e in entities for w in (_key(x) for x in e.split())
        if w not in _GENERIC_NAME_WORDS and w not in STOPWORDS and len(w) > 1
    )


def named_specifics(sentence: str, book: NameBook) -> list[str]:
    """Forms, laws and named offices (with their acronym, if one follows in brackets) in
    ``sentence``; an office needs a name of its own ("the Admissions Office" has none)."""
    found: list[str] = []
    for m in _FORM.finditer(sentence):
        found.append(m.group(0))
    for m in _LAW.finditer(sentence):
        found.append(m.group(0).strip())
    for m in _RUN.finditer(sentence):
        words = m.group(0).split()
        if m.start() == _first_word(sentence) and not book._is_name(words[0]):
            words = words[1:]
        name = " ".join(_split_possessive(words)[-1])  # the office ends the run
        if name and _key(name.split()[-1]) in _OFFICE_WORDS and subject_words([name]):
            acronym = _PAREN_ACRONYM.match(sentence, m.end() + 1)
            found.append(name + (f" {acronym.group(0)}" if acronym else ""))
    return list(dict.fromkeys(found))


def extract_claims(record: QARecord, book: NameBook) -> list[Claim]:
    """The checkable sentences of ``record``'s answer, in order (markers not yet set)."""
    text = plain(record.answer)
    claims = []
    for start, end in sentences(text):
        sentence = " ".join(text[start:end].split())
        if sentence.endswith("?"):
            continue
        found = extract_quantities(sentence) if _MAY_HOLD_VALUE.search(sentence) else []
        quantities = tuple(q for q in found if not _trivial(q, found))
        entities = tuple(book.entities(sentence))
        named = tuple(named_specifics(sentence, book))
        kinds = []
        if quantities:
            kinds.append("figure")
        if named:
            kinds.append("named")
        if entities and _REQUIREMENT.search(sentence):
            kinds.append("requirement")
        if kinds:
            claims.append(Claim(record.id, sentence, start, tuple(kinds), quantities, entities,
                                named, bool(HEDGES.search(sentence))))
    return claims


@dataclass
class ClaimList:
    """Every record's claims, with the unverified-specifics markers set."""

    n_records: int
    claims: list[Claim]

    @property
    def unverified(self) -> list[Claim]:
        return [c for c in self.claims if c.unverified]

    def per_record(self) -> dict[str, list[Claim]]:
        out: dict[str, list[Claim]] = {}
        for claim in self.claims:
            out.setdefault(claim.record_id, []).append(claim)
        return out


def list_claims(records: Sequence[QARecord], book: NameBook | None = None) -> ClaimList:
    """Claims of every record; ``unverified`` says why a claim is worth checking first."""
    book = book or NameBook(records)
    conversations = _mentions(records)
    claims = []
    for record in records:
        here = conversation_of(record)
        for claim in extract_claims(record, book):
            reasons = _risk_reasons(claim, book, conversations, here)
            claims.append(Claim(**{**claim.__dict__, "unverified": tuple(reasons)}))
    return ClaimList(n_records=len(records), claims=claims)


def _risk_reasons(claim: Claim, book: NameBook, conversations: dict[str, str],
                  here: str) -> list[str]:
    reasons = []
    figures = [q for q in claim.quantities if q.kind != "year"]
    bodies = sorted(w for w in subject_words(claim.entities) if w in book.institutions)
    if figures and bodies and not claim.hedged:
        shown = ", ".join(q.text for q in figures[:3])
        reasons.append(f"figure stated without a hedge for a named institution "
                       f"({', '.join(bodies)}): {shown}")
    for name in claim.named:
        if not _mentioned_elsewhere(name, conversations, here):
            reasons.append(f"{name!r} is named by no other conversation in the dataset")
    return reasons


def _mentions(records: Sequence[QARecord]) -> dict[str, str]:
    """Each conversation's whole text (questions, context and answers), case-folded."""
    texts: dict[str, list[str]] = {}
    for record in records:
        texts.setdefault(conversation_of(record), []).extend(_texts(record))
    return {k: "\n".join(v).casefold() for k, v in texts.items()}


def _mentioned_elsewhere(name: str, conversations: dict[str, str], here: str) -> bool:
    variants = [name, *_PAREN_ACRONYM.findall(name), _PAREN_ACRONYM.sub("", name)]
    patterns = [re.compile(rf"(?<!\w){re.escape(' '.join(v.split()).casefold())}(?!\w)")
                for v in variants if v.strip()]
    return any(p.search(text) for key, text in conversations.items() if key != here
               for p in patterns)


def _texts(record: QARecord) -> list[str]:
    return [*(t.content for t in record.context if t.role != "system"), record.question,
            plain(record.answer)]


def _trivial(q: Quantity, found: Sequence[Quantity]) -> bool:
    """A small bare number ("one of"), or a year that is part of a date found too."""
    if q.kind == "year":
        return any(o.kind == "date" and o.start <= q.start < o.end for o in found)
    if q.kind == "count" and q.unit[0] in DISCOURSE_NOUNS:
        return True
    return q.kind == "number" and q.values[0] < 2 and "." not in q.text


def _key(word: str) -> str:
    return word.casefold().replace("’", "'").removesuffix("'s").strip(".'")


def _acronym(word: str) -> bool:
    letters = re.sub(r"[^A-Za-z]", "", word)
    return len(letters) >= 2 and letters.isupper()


def _first_word(sentence: str) -> int:
    m = re.search(r"\w", sentence)
    return m.start() if m else 0


__all__ = ["DISCOURSE_NOUNS", "HEDGES", "INSTITUTION_WORDS", "Claim", "ClaimList", "NameBook",
           "conversation_of", "extract_claims", "list_claims", "named_specifics", "plain",
           "sentences", "subject_words"]
