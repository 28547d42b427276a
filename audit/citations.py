"""Citation verification: every quote must occur in the passage it cites.

Matching ignores case, whitespace runs, and typographic quote/dash variants, and tolerates
a small share of differing characters (``tolerance``), so a judge that drops a comma is not
punished while a judge that invents a sentence is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from core.models import Passage, Verdict

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


def verify_citations(verdict: Verdict, passages: dict[str, Passage]) -> CitationCheck:
    """Check each citation of ``verdict`` against the passage it names.

    A non-supported verdict must cite at least one passage: an error claim without evidence
    is not accepted.
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
    return CitationCheck(valid=not problems, problems=problems)
