"""Citation verification: every quote must occur in the passage it cites.

Matching ignores case, whitespace runs, and typographic quote/dash variants, and tolerates
a small share of differing characters (``tolerance``), so a judge that drops a comma is not
punished while a judge that invents a sentence is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from audit.judges.facts import content_words
from core.models import Label, Passage, Verdict

_TRANSLATE = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-"})
MIN_QUOTE_CHARS = 8


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(_TRANSLATE)).strip().lower()


def quote_in_passage(quote: str, passage_text: str, tolerance: float = 0.05) -> bool:
    """True when ``quote`` occurs in ``passage_text`` up to ``tolerance`` differing chars."""
    q, p = normalise(quote), normalise(passage_text)
    if len(q) < MIN_QUOTE_CHARS:
        return False
    if q in p:
        return True
    # Fuzziness may forgive punctuation or a typo, never a changed number.
    if not set(re.findall(r"\d+(?:[.,]\d+)*", q)) <= set(re.findall(r"\d+(?:[.,]\d+)*", p)):
        return False
    allowed = int(len(q) * tolerance)
    if allowed == 0 or len(p) < len(q) - allowed:
        return False
    # Anchor on the longest common block, then compare the aligned window.
    matcher = SequenceMatcher(None, p, q, autojunk=False)
    block = matcher.find_longest_match(0, len(p), 0, len(q))
    start = max(0, block.a - block.b)
    window = p[start : start + len(q) + allowed]
    aligned = SequenceMatcher(None, window, q, autojunk=False)
    matched = sum(b.size for b in aligned.get_matching_blocks())
    return len(q) - matched <= allowed


@dataclass(frozen=True)
class CitationCheck:
    valid: bool
    problems: list[str]


# Words that name no subject of their own: a question about "any other requirements for
# CPT approval" is about CPT approval, not about requirements in general.
_GENERIC = frozenset({"requirement", "rule", "policy", "other", "need", "thing", "information",
                      "question", "answer", "student", "know", "tell", "help", "get", "way"})


def subject_words(question: str, answer: str = "") -> frozenset[str]:
    """The words that say what a record is about: the question's content words (numbers and
    generic words left out), or the answer's when the question has none."""
    def words(text: str) -> frozenset[str]:
        return frozenset(w for w in content_words(text) if not w[0].isdigit()) - _GENERIC

    return words(question) or words(answer)


def _key(word: str) -> str:
    return word[:5] if len(word) >= 5 else word


def unrelated_citation(verdict: Verdict, passages: dict[str, Passage], question: str,
                       answer: str = "") -> str | None:
    """Why a contradicted verdict's evidence is about something else, or None.

    A contradiction needs a cited passage about the record's subject: at least one cited
    passage (its whole text, or the quote when the passage is unknown) must share a subject
    word (``subject_words``; words of five letters or more match on their first five, so
    "refundable" finds "refund"). A scholarship's GPA rule cannot contradict an answer about
    CPT approval.
    """
    if verdict.label is not Label.contradicted or not verdict.citations:
        return None
    subject = subject_words(question, answer)
    if not subject:
        return None
    keys = {_key(w) for w in subject}
    for citation in verdict.citations:
        passage = passages.get(citation.passage_id)
        text = passage.text if passage else citation.quote
        if keys & {_key(w) for w in content_words(text)}:
            return None
    return ("the cited evidence is about something else: no cited passage shares a word with "
            f"the question's subject ({', '.join(sorted(subject)[:6])})")


def verify_citations(verdict: Verdict, passages: dict[str, Passage], question: str | None = None,
                     answer: str = "") -> CitationCheck:
    """Check each citation of ``verdict`` against the passage it names.

    A non-supported verdict must cite at least one passage: an error claim without evidence
    is not accepted. With ``question``, a contradiction must also cite a passage about the
    record's subject (``unrelated_citation``).
    """
    problems = []
    for citation in verdict.citations:
        passage = passages.get(citation.passage_id)
        if passage is None:
            problems.append(f"cites unknown passage {citation.passage_id!r}")
        elif not quote_in_passage(citation.quote, passage.text):
            problems.append(f"quote not found in {citation.passage_id}: {citation.quote[:80]!r}")
    if verdict.label.value == "contradicted" and not verdict.citations:
        problems.append("a contradicted verdict cites no evidence")
    if question is not None and not problems:
        unrelated = unrelated_citation(verdict, passages, question, answer)
        if unrelated:
            problems.append(unrelated)
    return CitationCheck(valid=not problems, problems=problems)
