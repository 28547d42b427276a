"""The gate: turn an audit run into pass / fail / inconclusive, bound to the dataset's hash.

Rules that show the data is bad (error rate, critical errors, a changed dataset, a stale
audit) fail it. Rules that show the audit is too weak to vouch for the data (too few records,
judges that do not agree, too many failed or invalid judgments) make it inconclusive: such an
audit can still fail data, but it cannot pass anything.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import ConfigError
from core.models import GateDecision

EXIT_CODES = {"pass": 0, "fail": 1, "inconclusive": 3}
UNREADABLE = "unreadable"  # GateEvidence.current_dataset_sha256 of a file that fails to load


class GatePolicy(BaseModel):
    """What an audit must show before its dataset may train a model."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    max_error_rate: float = Field(0.10, gt=0, le=1)
    """Largest acceptable consensus error rate, judged on the upper bound of its interval."""
    confidence: float = Field(0.95, gt=0, lt=1)
    """Confidence level of that interval (Wilson)."""
    rate: str = "inclusive"
    """Which rate the bound applies to: inclusive (any error) or hard (severe errors only)."""
    critical_topics: list[str] = Field(
        default_factory=lambda: ["healthcare", "admissions", "scholarships", "immigration", "work"]
    )
    """Topics where any consensus error is critical. A record's topic matches when it is one of
    them or has one as a word (case-insensitive, split at _ - / and spaces; never a substring:
    "work" matches "work_authorisation", not "network")."""
    topic_keywords: dict[str, list[str]] | None = None
    """Keywords that give a record without a topic field its topic (whole words, matched in
    the question and the user turns before it), per topic; a topic not listed keeps the
    built-in keywords of the default critical topics, or else is its own keyword (``audit
    topics`` shows what they assign)."""
    critical_categories: list[str] = Field(default_factory=list)
    """Error categories that are critical wherever they occur."""
    max_critical_errors: int = Field(0, ge=0)
    """Most consensus errors allowed in critical topics or categories."""
    min_sample: int = Field(30, ge=1)
    """Fewest audited records that can pass a dataset."""
    min_alpha: float = Field(0.2, ge=-1, le=1)
    """Krippendorff's alpha (nominal, error vs not) below which the audit is inconclusive."""
    max_unusable_share: float = Field(0.2, ge=0, le=1)
    """Largest share of judgments that failed or cited invalid evidence."""
    max_unverifiable_share: float = Field(0.2, ge=0, le=1)
    """Largest share of records whose consensus is unverifiable (the evidence neither supports
    nor contradicts them) before the audit is inconclusive: the error rate is then only a lower
    bound, so an upper bound above max_error_rate cannot fail the data either (a lower bound
    above it still does). Unverifiable records are never counted as errors; in a closed-world
    run (sources declared complete) there are none."""
    max_age_days: float = Field(30, gt=0)
    """Oldest audit (in days) that can still decide."""
    rate_source: str = "sample"
    """Whose interval the maximum applies to: sample (the run's consensus, Wilson) or ppi (the
    whole dataset: the cheap run over every record corrected by the run's gold labels)."""
    gold_judge: str | None = None
    """With rate_source = "ppi": the judge whose labels are gold (default: the run's one
    reviewer or imported judge)."""

    @field_validator("rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        if value not in ("inclusive", "hard"):
            raise ValueError(f"should be 'inclusive' or 'hard', got {value!r}")
        return value

    @field_validator("rate_source")
    @classmethod
    def _rate_source(cls, value: str) -> str:
        if value not in ("sample", "ppi"):
            raise ValueError(f"should be 'sample' or 'ppi', got {value!r}")
        return value


def load_policy(path: str | Path | None) -> GatePolicy:
    """The default policy, or one read from a TOML file (a ``[gate]`` table or top level)."""
    if path is None:
        return GatePolicy()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the policy ({exc.strerror or exc})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    try:
        return GatePolicy.model_validate(data.get("gate", data))
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"])
        raise ConfigError(f"{path}: policy field {field!r}: {problem['msg']}") from exc


@dataclass
class GateEvidence:
    """What the gate needs to know about one audit run (computed by ``audit.evidence``)."""

    audit_run_id: str
    audit_dataset_sha256: str
    current_dataset_sha256: str | None  # None when the dataset file is not available
    audit_created: datetime
    n: int
    errors: int  # consensus errors under the policy's rate
    decided: int  # records with a consensus (not disputed, not undecided)
    upper_bound: float  # of the error-rate interval at the policy's confidence
    low_bound: float
    critical: list[str]  # "record id (topic, category)"
    alpha: float | None
    unusable_share: float
    estimate: float | None = None  # the point estimate when it is not errors / decided (PPI)
    basis: str = ""  # what the estimate rests on, when not errors / decided
    unverifiable: int = 0  # records whose consensus is unverifiable (open-world runs only)
    unverifiable_share: float = 0.0  # of the records with a consensus


def judged_sha256(ev: GateEvidence) -> str:
    """The dataset a decision is about: the file checked, when it could be read, else the
    audited one. Another file checked against a run is judged as itself, so its decision is
    stored under its own hash and never joins the audited run's report."""
    current = ev.current_dataset_sha256
    return current if current not in (None, UNREADABLE) else ev.audit_dataset_sha256


def decide(policy: GatePolicy, ev: GateEvidence, now: datetime | None = None) -> GateDecision:
    """Apply ``policy`` to ``ev``; reasons name the numbers that decided it."""
    now = now or datetime.now(UTC)
    failures, doubts = [], []
    if ev.current_dataset_sha256 is None:
        failures.append("the audited dataset file cannot be found, so its hash cannot be checked")
    elif ev.current_dataset_sha256 == UNREADABLE:
        failures.append("the audited dataset file cannot be read any more, so its hash cannot be"
                        " checked")
    elif ev.current_dataset_sha256 != ev.audit_dataset_sha256:
        failures.append(
            f"the dataset changed after the audit (sha256 {ev.current_dataset_sha256[:12]} now,"
            f" {ev.audit_dataset_sha256[:12]} audited): re-run the audit"
        )
    rate = ev.errors / ev.decided if ev.decided else 0.0
    if ev.estimate is not None:
        rate = ev.estimate
    basis = ev.basis or f"{ev.errors}/{ev.decided}"
    interval = f"{rate:.1%} [{ev.low_bound:.1%}, {ev.upper_bound:.1%}] at {policy.confidence:.0%}"
    too_unverifiable = ev.unverifiable_share > policy.max_unverifiable_share
    if ev.upper_bound > policy.max_error_rate:
        above = (f"{policy.rate} error rate {basis} = {interval}: upper bound above"
                 f" the maximum {policy.max_error_rate:.1%}")
        if too_unverifiable and ev.low_bound <= policy.max_error_rate:
            doubts.append(f"{above}, but with this many unverifiable records that does not show "
                          "the data is bad")
        else:
            failures.append(above)
    if len(ev.critical) > policy.max_critical_errors:
        shown = ", ".join(ev.critical[:8]) + (" …" if len(ev.critical) > 8 else "")
        failures.append(
            f"{len(ev.critical)} critical error(s) (maximum {policy.max_critical_errors}): {shown}"
        )
    age_days = (now - ev.audit_created).total_seconds() / 86400
    if age_days > policy.max_age_days:
        failures.append(f"the audit is {age_days:.0f} days old (maximum {policy.max_age_days:g})")
    if ev.n < policy.min_sample:
        doubts.append(f"only {ev.n} records audited (minimum {policy.min_sample})")
    if ev.alpha is None or ev.alpha < policy.min_alpha:
        shown = "not computable" if ev.alpha is None else f"{ev.alpha:.2f}"
        doubts.append(
            f"judges agree too little to vouch for the data: Krippendorff's alpha {shown}"
            f" (minimum {policy.min_alpha:.2f})"
        )
    if ev.unusable_share > policy.max_unusable_share:
        doubts.append(
            f"{ev.unusable_share:.0%} of judgments failed or cited invalid evidence"
            f" (maximum {policy.max_unusable_share:.0%})"
        )
    if too_unverifiable:
        doubts.append(
            f"{ev.unverifiable_share:.0%} of records are unverifiable ({ev.unverifiable}/"
            f"{ev.decided}; maximum {policy.max_unverifiable_share:.0%}): the evidence neither "
            "supports nor contradicts them, so the error rate is only a lower bound; add "
            "sources, or a judge that can check them"
        )
    status = "fail" if failures else "inconclusive" if doubts else "pass"
    within = f"{policy.rate} error rate {ev.basis + ' = ' if ev.basis else ''}{interval}"
    reasons = failures + doubts or [f"{within} within the policy"]
    return GateDecision(
        status=status,
        reasons=reasons,
        dataset_sha256=judged_sha256(ev),
        audit_run_id=ev.audit_run_id,
        policy=policy.model_dump(),
    )
