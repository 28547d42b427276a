"""Topics for records that have no topic field, so the gate's critical-topic rule can work.

A record's own ``topic`` always wins. Otherwise the question (and the user turns before it)
is matched against each topic's keywords (the policy's ``topic_keywords`` for that topic, else
the built-in ones below, else the topic's own name): whole words or phrases, case-insensitive,
never inside another word ("work" does not match "network" or "homework"). The topic with
most matched keywords wins; ties go to the topic listed first. Answers are not read: an
answer about GMAT scores that mentions "work experience" is not about the right to work.

Optionally (the policy's ``topic_min_similarity``), a record no keyword places gets the topic
whose description (name and keywords) is most similar to what was asked, by the packaged
embedding model, if the cosine reaches the threshold: on 10 questions (4 of the study's), four
a topic fits scored 0.38-0.49, five none fits 0.11-0.30, and one a topic fits only 0.18.

Topic names match critical topics word by word, never by substring: the critical topic "work"
matches the topics "work" and "work_authorisation", not "network".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from core.models import QARecord

# Built-in keywords of common critical topics of advising data, the ones the bundled example's
# policy.toml names (English; a policy's topic_keywords replace them topic by topic).
DEFAULT_TOPIC_KEYWORDS: dict[str, list[str]] = {
    # "Medical School" names a place to study, not care: no bare "medical" or "health".
    "healthcare": ["healthcare", "health care", "health insurance", "health services",
                   "medical insurance", "medical care", "medical treatment", "hospital",
                   "doctor", "clinic", "NHS", "vaccination", "vaccine", "mental health", "GP"],
    "admissions": ["admission", "admissions", "admitted", "apply", "applying", "application",
                   "applications", "eligibility", "SOP", "MCAT", "LSAT", "ACT",
                   "get into", "getting into", "acceptance", "accepted",
                   "entrance exam", "admission test", "GRE", "GMAT", "SAT", "IELTS", "TOEFL",
                   "Duolingo English Test", "PTE", "offer letter", "statement of purpose",
                   "letter of recommendation", "transcript", "UCAS", "minimum score"],
    "scholarships": ["scholarship", "scholarships", "bursary", "bursaries", "funding",
                     "stipend", "fellowship", "grant", "tuition waiver", "financial aid"],
    "immigration": ["visa", "visas", "immigration", "study permit", "residence permit",
                    "passport", "IRCC", "UKVI", "biometrics", "CAS", "I-20", "SEVIS",
                    "embassy", "consulate", "post-study", "PR", "permanent residence"],
    "work": ["work", "working", "job", "jobs", "part-time", "full-time", "employment",
             "employer", "internship", "work permit", "work hours", "earn"],
}
DEFAULT_TOPIC_KEYWORDS["work_authorisation"] = DEFAULT_TOPIC_KEYWORDS["work"]  # the example's


@dataclass(frozen=True)
class TopicAssignment:
    """The topic a record is read under, and how: ``field`` (its own), ``rule`` (keywords)
    or None (no topic)."""

    record_id: str
    topic: str | None
    how: str | None
    matched: tuple[str, ...] = ()
    score: float | None = None  # cosine similarity, for ``how == "embedding"``

    def words(self) -> str:
        """``"admissions (by keyword: GMAT)"``, ``"work (by embedding: 0.49)"``,
        ``"admissions"`` or ``"no topic"``."""
        if self.topic is None:
            return "no topic"
        if self.how == "rule":
            return f"{self.topic} (by keyword: {', '.join(self.matched)})"
        if self.how == "embedding":
            return f"{self.topic} (by embedding: {self.score:.2f})"
        return self.topic


class TopicRules:
    """Keyword rules for ``topics``: a topic's keywords from ``keywords``, else the built-in
    ones, else its name."""

    def __init__(self, topics: Iterable[str], keywords: Mapping[str, Sequence[str]] | None = None):
        keywords = keywords or {}
        self.patterns: list[tuple[str, list[tuple[str, re.Pattern[str]]]]] = []
        self.descriptions: dict[str, str] = {}  # what embeddings compare a question with
        for topic in topics:
            given: Sequence[str] = keywords.get(topic) or DEFAULT_TOPIC_KEYWORDS.get(topic, [])
            words = list(given) or [topic.replace("_", " ")]
            self.patterns.append((topic, [(w, _phrase(w)) for w in words]))
            self.descriptions[topic] = f"{topic.replace('_', ' ')}: {', '.join(words)}"

    def assign(self, record: QARecord) -> TopicAssignment:
        if record.topic and record.topic.strip():
            return TopicAssignment(record.id, record.topic, "field")
        text = asked_text(record)
        best: tuple[str, tuple[str, ...]] | None = None
        for topic, patterns in self.patterns:
            matched = tuple(word for word, pattern in patterns if pattern.search(text))
            if matched and (best is None or len(matched) > len(best[1])):
                best = (topic, matched)
        if best is None:
            return TopicAssignment(record.id, None, None)
        return TopicAssignment(record.id, best[0], "rule", best[1])


def asked_text(record: QARecord) -> str:
    """The user turns of the conversation up to and including the question."""
    return "\n".join([*(t.content for t in record.context if t.role == "user"), record.question])


def _phrase(keyword: str) -> re.Pattern[str]:
    """Whole words, any spacing or hyphen between them; acronyms keep their case."""
    parts = [re.escape(p) for p in re.split(r"[\s_-]+", keyword.strip()) if p]
    body = r"[\s-]+".join(parts)
    flags = 0 if keyword.isupper() and len(keyword) <= 5 else re.IGNORECASE
    return re.compile(rf"(?<![\w-]){body}(?![\w-])", flags)


def assign_topics(records: Sequence[QARecord], topics: Iterable[str],
                  keywords: Mapping[str, Sequence[str]] | None = None, *,
                  min_similarity: float | None = None) -> list[TopicAssignment]:
    """One assignment per record, in order. With ``min_similarity``, a record no keyword
    places gets the topic whose description (its name and keywords) is most similar to what
    was asked, by the packaged embedding model's cosine, when that is at least
    ``min_similarity`` (ConfigError when the model is not installed)."""
    rules = TopicRules(topics, keywords)
    assigned = [rules.assign(r) for r in records]
    if min_similarity is not None:
        assigned = _by_embedding(records, assigned, rules.descriptions, min_similarity)
    return assigned


def _by_embedding(records: Sequence[QARecord], assigned: list[TopicAssignment],
                  descriptions: dict[str, str], threshold: float) -> list[TopicAssignment]:
    from core.embeddings import embed

    open_ = [i for i, a in enumerate(assigned) if a.how is None]
    if not open_ or not descriptions:
        return assigned
    names = list(descriptions)
    similarity = embed([asked_text(records[i]) for i in open_]) @ embed(
        [descriptions[n] for n in names]).T
    out = list(assigned)
    for row, i in zip(similarity, open_, strict=True):
        best = int(row.argmax())
        if float(row[best]) >= threshold:
            out[i] = TopicAssignment(records[i].id, names[best], "embedding",
                                     score=round(float(row[best]), 4))
    return out


def topic_matches(topic: str | None, critical: Iterable[str]) -> str | None:
    """The critical topic that ``topic`` is: the same name, case-insensitive, never a part of
    it ("work" is not "network", nor "work_authorisation"). None when none matches."""
    if not topic:
        return None
    whole = topic.strip().casefold()
    return next((name for name in critical if name.strip().casefold() == whole), None)


__all__ = ["DEFAULT_TOPIC_KEYWORDS", "TopicAssignment", "TopicRules", "asked_text",
           "assign_topics", "topic_matches"]
