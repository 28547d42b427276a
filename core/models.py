"""Pydantic data models shared by every Assay package (see DESIGN.md, "Core objects")."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the input of every content hash."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_hash(value: Any) -> str:
    """sha256 of the canonical JSON of ``value`` (pydantic models are dumped first)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return sha256_text(canonical_json(value))


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Label(str, Enum):
    supported = "supported"
    contradicted = "contradicted"
    not_in_sources = "not_in_sources"  # the evidence neither supports nor contradicts


class Outcome(str, Enum):
    """What a verdict means for the data: the three outcomes reports keep apart.

    ``error``: the answer is wrong. ``unverifiable``: the evidence neither supports nor
    contradicts it. ``ok``: supported. ``not_in_sources`` is an error only in a *closed-world*
    audit (sources declared complete, as the bundled example's are); otherwise unverifiable.
    """

    error = "error"
    unverifiable = "unverifiable"
    ok = "ok"


class Severity(str, Enum):
    """Ordinal: none < minor < major < critical."""

    none = "none"
    minor = "minor"
    major = "major"
    critical = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class Category(str, Enum):
    """What kind of error a verdict reports (``none`` when the answer is supported)."""

    none = "none"
    wrong_number = "wrong_number"
    wrong_date = "wrong_date"
    outdated_rule = "outdated_rule"
    negated_rule = "negated_rule"
    wrong_entity = "wrong_entity"
    overgeneralisation = "overgeneralisation"
    invented_policy = "invented_policy"
    unsupported_claim = "unsupported_claim"
    unanswerable = "unanswerable"
    other = "other"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Passage(_Model):
    """A chunk of a source document; ``id`` is ``doc_id#n`` and stable across runs."""

    id: str
    doc_id: str
    text: str
    sha256: str


class EvidenceRef(_Model):
    """A passage a judge was shown, as stored with its judgment: id and content hash."""

    id: str
    sha256: str

    @classmethod
    def of(cls, passages: list[Passage]) -> list[EvidenceRef]:
        return [cls(id=p.id, sha256=p.sha256) for p in passages]


class Provenance(_Model):
    """Where a generated record came from."""

    teacher_provider: str | None = None
    teacher_model: str | None = None
    template_sha256: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    source_passages: dict[str, str] = Field(default_factory=dict)  # passage id -> sha256
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    created: str | None = None


class Turn(_Model):
    role: Literal["system", "user", "assistant"]
    content: str


class QARecord(_Model):
    """One auditable question/answer unit.

    ``context`` holds the turns before the question in a multi-turn conversation.
    """

    id: str
    question: str
    answer: str
    rationale: str | None = None
    source_ids: list[str] = Field(default_factory=list)
    topic: str | None = None
    context: list[Turn] = Field(default_factory=list)
    provenance: Provenance | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id", "question", "answer")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class JudgeSpec(_Model):
    """A judge of a panel: ``provider`` is openai, gemini, local, rules or human."""

    name: str
    provider: Literal["openai", "gemini", "local", "rules", "human"]
    model: str = ""
    params: dict[str, Any] = Field(default_factory=dict)


class Citation(_Model):
    passage_id: str
    quote: str


class Verdict(_Model):
    """A judge's structured answer about one record."""

    label: Label
    category: Category = Category.none
    severity: Severity = Severity.none
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    citations: list[Citation] = Field(default_factory=list)
    rationale: str = ""

    @property
    def is_error(self) -> bool:
        """The closed-world reading: anything not supported is an error (``outcome`` reads a
        verdict for either kind of audit)."""
        return self.label is not Label.supported

    def outcome(self, closed_world: bool) -> Outcome:
        """Error, unverifiable or ok; ``closed_world``: the sources are declared complete, so
        what they do not state counts as an error."""
        if self.label is Label.supported:
            return Outcome.ok
        if self.label is Label.contradicted or closed_world:
            return Outcome.error
        return Outcome.unverifiable


class JudgmentStatus(str, Enum):
    ok = "ok"
    abstain = "abstain"  # the judge declined to decide; never counted as agreement
    invalid_citation = "invalid_citation"  # a quote is not in its passage
    failed = "failed"  # provider error or unparseable output after retries


class Judgment(_Model):
    run_id: str
    record_id: str
    judge: str
    status: JudgmentStatus
    verdict: Verdict | None = None
    error: str | None = None
    raw: str | None = None
    latency_s: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    cache_hit: bool = False
    evidence: list[EvidenceRef] = Field(default_factory=list)  # shown to the judge, in order

    @property
    def decided(self) -> bool:
        """True when the judgment carries a usable label."""
        return self.status is JudgmentStatus.ok and self.verdict is not None


class GateDecision(_Model):
    status: Literal["pass", "fail", "inconclusive"]
    reasons: list[str]
    dataset_sha256: str
    audit_run_id: str
    policy: dict[str, Any]
    created: str = Field(default_factory=utcnow)
