"""The gate: turn an audit run into pass / fail / inconclusive, bound to the dataset's hash.

Everything the gate is lives here: the policy (``GatePolicy``, read from a file by
``load_policy``; which file applies, by ``find_policy``), the evidence gathered from a stored
run (``gate_evidence``), the decision (``decide``) and the stored decision (``evaluate_gate``).
``reports.gate`` renders decisions and policies; ``finetune train`` asks ``evaluate_gate`` too.

Rules that show the data is bad (error rate, critical errors, a changed dataset, a stale
audit) fail it. Rules that show the audit is too weak to vouch for the data (too few records,
judges that do not agree, too many failed or invalid judgments) make it inconclusive: such an
audit can still fail data, but it cannot pass anything.

Which policy applies: ``--policy FILE`` when given; else a file named ``policy.toml`` in the
folder of the dataset the gate checks (the audited file, or the one given by ``audit gate
--dataset`` or ``finetune train --data``; the bundled example ships one); else the built-in
policy, which names no critical topics.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from audit.topics import assign_topics, topic_matches
from core.errors import ConfigError, DatasetError
from core.models import GateDecision, JudgmentStatus, Outcome, QARecord
from core.runs import AuditRun, StoredRun, open_run
from core.store import Store
from core.toml_files import read_toml

EXIT_CODES = {"pass": 0, "fail": 1, "inconclusive": 3}
UNREADABLE = "unreadable"  # GateEvidence.current_dataset_sha256 of a file that fails to load
POLICY_FILE = "policy.toml"  # found in the audited dataset's folder when --policy is not given


class GatePolicy(BaseModel):
    """What an audit must show before its dataset may train a model."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    max_error_rate: float = Field(0.10, gt=0, le=1)
    """Largest acceptable consensus error rate, judged on the upper bound of its interval."""
    confidence: float = Field(0.95, gt=0, lt=1)
    """Confidence level of that interval (Wilson)."""
    rate: Literal["inclusive", "hard"] = "inclusive"
    """Which rate the bound applies to: inclusive (any error) or hard (severe errors only)."""
    critical_topics: list[str] = Field(default_factory=list)
    """Topics where any consensus error is critical (none unless a policy file names them).
    A record's topic matches when it is one of them or has one as a word (case-insensitive,
    split at _ - / and spaces; never a substring: "work" matches "work_authorisation", not
    "network")."""
    topic_keywords: dict[str, list[str]] | None = None
    """Keywords that give a record without a topic field its topic (whole words, matched in
    the question and the user turns before it), per topic; a topic not listed keeps its
    built-in keywords (``audit.topics``), or else is its own keyword (``audit topics`` shows
    what they assign)."""
    topic_min_similarity: float | None = Field(None, gt=0, le=1)
    """With the embedding model installed: a record no keyword places gets the critical topic
    whose name and keywords are most similar to its question, if the cosine is at least this
    (0.35 in the README's measurement); None: keywords only."""
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
    rate_source: Literal["sample", "ppi"] = "sample"
    """Whose interval the maximum applies to: sample (the run's consensus, Wilson) or ppi (the
    whole dataset: the cheap run over every record corrected by the run's gold labels)."""
    gold_judge: str | None = None
    """With rate_source = "ppi": the judge whose labels are gold (default: the run's one
    reviewer or imported judge)."""


def load_policy(path: str | Path | None) -> GatePolicy:
    """The default policy, or one read from a TOML file (a ``[gate]`` table or top level)."""
    if path is None:
        return GatePolicy()
    data = read_toml(path, "the policy")
    try:
        return GatePolicy.model_validate(data.get("gate", data))
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"])
        raise ConfigError(f"{path}: policy field {field!r}: {problem['msg']}, got "
                          f"{problem.get('input')!r}") from exc


def find_policy(policy_file: str | Path | None, dataset_path: str | Path | None) -> GatePolicy:
    """The policy in force: ``policy_file``; else ``policy.toml`` in ``dataset_path``'s folder;
    else the built-in policy."""
    if policy_file is None and dataset_path is not None:
        beside = Path(dataset_path).parent / POLICY_FILE
        policy_file = beside if beside.is_file() else None
    return load_policy(policy_file)


def run_policy(store: Store, run_id: str | None, policy_file: str | Path | None = None,
               dataset_path: str | Path | None = None) -> GatePolicy:
    """The policy in force for audit run ``run_id`` (an id, a unique prefix or None: the
    latest) checked against ``dataset_path`` (default: the audited file)."""
    if policy_file is None and dataset_path is None:
        if run_id is None and store.latest_run_id("audit") is None:
            return GatePolicy()  # no run yet (``audit gate --show-policy`` on a new database)
        dataset_path = open_run(store, run_id).audit.dataset_path or None
    return find_policy(policy_file, dataset_path)


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
    active_sample: bool = False  # an `audit sample --active` run gated on its own (unweighted) rate
    rate_unknown: str = ""  # why the policy's rate could not be estimated (then inconclusive)


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
    if ev.rate_unknown:
        doubts.append(ev.rate_unknown)
    elif ev.upper_bound > policy.max_error_rate:
        above = (f"{policy.rate} error rate {basis} = {interval}: upper bound above"
                 f" the maximum {policy.max_error_rate:.1%}")
        if ev.active_sample:
            doubts.append(f"{above}, but an active sample's own rate is not the dataset's")
        elif too_unverifiable and ev.low_bound <= policy.max_error_rate:
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
    if ev.active_sample:
        doubts.append(
            "the sample was drawn actively (unequal probabilities, `audit sample --active`): its "
            "unweighted error rate is not the dataset's; gate it with rate_source = \"ppi\""
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


def checked_sha256(dataset_path: str | Path | None, run: AuditRun) -> str | None:
    """The content hash of the file a gate check is about, read as the run read its dataset
    (same field mapping and ``--skip-invalid``).

    Without ``dataset_path`` it is the audited file, which may since have gone (None) or
    no longer load (``UNREADABLE``); a file named explicitly (``finetune train --data``,
    ``audit gate --dataset``) must load, so that its decision can be stored under its own hash.
    """
    if dataset_path is None:
        if not run.dataset_path or not Path(run.dataset_path).exists():
            return None
        try:
            return run.load_dataset().sha256
        except DatasetError:
            return UNREADABLE
    return run.load_dataset(dataset_path).sha256


def ppi_bounds(store: Store, run: StoredRun, policy: GatePolicy,
               cheap_run_id: str | None) -> tuple[float | None, float, float, str]:
    """(estimate, low, high, basis) of the whole dataset's rate by PPI, for rate_source = ppi;
    (None, 0, 1, why) when the run has too few gold labels for it (the gate: inconclusive)."""
    from audit.estimate import MIN_GOLD, estimate_error_rate

    report = estimate_error_rate(store, run.id, cheap_run_id=cheap_run_id,
                                 gold_judge=policy.gold_judge, confidence=policy.confidence)
    comparison = report.overall.hard if policy.rate == "hard" else report.overall.inclusive
    ppi, only = comparison.ppi, comparison.gold_only
    if ppi is None:
        if report.gold_labels < MIN_GOLD:
            return None, 0.0, 1.0, (
                f"rate_source = 'ppi' needs at least {MIN_GOLD} gold labels in run {run.id}, "
                f"got {report.gold_labels}: the rate is not estimated; add gold labels "
                "(audit import-labels) and gate again")
        if only is None:
            raise ConfigError(f"rate_source = 'ppi', run {run.id}: {comparison.why}")
        # The gold labels are all the same: PPI's interval would have no width; use their own.
        return only.estimate, only.low, only.high, (
            f"by the {report.gold_labels} gold labels from {report.gold_judge!r} alone "
            f"({only.method}; all the same, so PPI has no variation to use)")
    basis = (f"by PPI over {report.population} records ({report.gold_labels} gold labels from "
             f"{report.gold_judge!r}, cheap run {report.cheap_run_id})")
    return ppi.estimate, ppi.interval.low, ppi.interval.high, basis


def gate_evidence(store: Store, run: StoredRun, policy: GatePolicy, dataset_path=None,
                  cheap_run_id: str | None = None) -> GateEvidence:
    from audit.summary import summarize

    config = run.audit
    records = [QARecord.model_validate(r) for r in store.run_records(run.id)]
    judgments = store.judgments(run.id)
    judged = {j.record_id for j in judgments}
    rows = [{"id": r.id, "topic": r.topic} for r in records if r.id in judged]
    closed_world = config.closed_world
    summary = summarize(judgments, rows, population=config.population or None,
                        confidence=policy.confidence, bootstrap=0, closed_world=closed_world)
    consensus = summary.consensus
    estimate = consensus.hard if policy.rate == "hard" else consensus.inclusive
    errors = consensus.hard_errors if policy.rate == "hard" else consensus.errors
    topics = {a.record_id: a for a in assign_topics(
        records, policy.critical_topics, policy.topic_keywords,
        min_similarity=policy.topic_min_similarity)}
    categories: dict[str, Counter] = {}
    for j in judgments:
        if j.decided and j.verdict is not None and j.verdict.outcome(closed_world) is Outcome.error:
            categories.setdefault(j.record_id, Counter())[j.verdict.category.value] += 1
    critical = []
    for record_id, state in sorted((summary.resolved or summary.records).items()):
        if state != "error":
            continue
        assigned = topics.get(record_id)
        topic = assigned.topic if assigned else None
        category = categories.get(record_id, Counter({"other": 1})).most_common(1)[0][0]
        if topic_matches(topic, policy.critical_topics) or category in policy.critical_categories:
            critical.append(f"{record_id} ({assigned.words() if assigned else 'no topic'}, "
                            f"{category})")
    unusable = sum(j.status in (JudgmentStatus.failed, JudgmentStatus.invalid_citation)
                   for j in judgments)
    alpha = summary.agreement.krippendorff_alpha_nominal.value if summary.agreement else None
    wilson = estimate.wilson if estimate else None
    low, high = (wilson.low, wilson.high) if wilson else (0.0, 1.0)
    point, basis, rate_unknown = None, "", ""
    if policy.rate_source == "ppi":
        point, low, high, basis = ppi_bounds(store, run, policy, cheap_run_id)
        if point is None:
            basis, rate_unknown = "", basis
    return GateEvidence(
        audit_run_id=run.id,
        audit_dataset_sha256=config.dataset_sha256,
        current_dataset_sha256=checked_sha256(dataset_path, config),
        audit_created=datetime.fromisoformat(run.created),
        n=len(rows),
        errors=errors,
        decided=estimate.n if estimate else 0,
        upper_bound=high,
        low_bound=low,
        critical=critical,
        alpha=alpha,
        unusable_share=unusable / len(judgments) if judgments else 1.0,
        estimate=point,
        basis=basis,
        unverifiable=consensus.unverifiable,
        rate_unknown=rate_unknown,
        active_sample=config.sampling is not None and policy.rate_source != "ppi",
        unverifiable_share=(consensus.unverifiable_share.rate or 0.0
                            if consensus.unverifiable_share else 0.0),
    )


def evaluate_gate(
    store: Store,
    run_id: str | None = None,
    dataset_path: str | Path | None = None,
    policy: GatePolicy | None = None,
    cheap_run_id: str | None = None,
) -> GateDecision:
    """Decide pass / fail / inconclusive for an audit run and store the decision.

    ``policy`` defaults to the one in force (``run_policy``).

    The decision is stored under the dataset it judged: ``dataset_path`` when given (another
    file checked against the run keeps its decision under its own content hash, out of the
    run's report), else the run's own dataset.

    ``cheap_run_id`` (rate_source = "ppi" only): the run over every record whose judges
    predict; default: the latest such run of the same dataset.
    """
    run = open_run(store, run_id)
    policy = policy or run_policy(store, run.id, dataset_path=dataset_path)
    if cheap_run_id is not None and policy.rate_source != "ppi":
        raise ConfigError("--cheap only goes with rate_source = \"ppi\" in the policy (the policy "
                          f"in force has rate_source = {policy.rate_source!r})")
    decision = decide(policy, gate_evidence(store, run, policy, dataset_path, cheap_run_id))
    store.save_decision(decision)
    return decision
