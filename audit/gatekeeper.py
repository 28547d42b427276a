"""Evaluate the gate for a stored audit run: gather its evidence, decide, store the decision."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

from audit.gate import UNREADABLE, GateEvidence, GatePolicy, decide
from audit.run_sources import is_closed_world
from audit.topics import assign_topics, topic_matches
from core.errors import ConfigError, DatasetError
from core.models import GateDecision, JudgmentStatus, Outcome, QARecord
from core.store import Store


def resolve_audit_run(store: Store, run_id: str | None) -> dict:
    """The audit run ``run_id`` names (an id or a unique prefix), or the latest one; a clear
    error if there is none."""
    from audit.report_data import resolve_run_id

    run = store.get_run(resolve_run_id(store, run_id))
    if run is None or run["kind"] != "audit":
        raise ConfigError(f"{run_id!r} is not an audit run; see `audit runs` for the run ids")
    return run


def current_sha256(path: str | Path | None) -> str | None:
    """The dataset's content hash now: None if the file is gone, ``UNREADABLE`` if it no
    longer loads."""
    from core.datasets import load_dataset

    if path is None or not Path(path).exists():
        return None
    try:
        return load_dataset(path).sha256
    except DatasetError:
        return UNREADABLE


def checked_sha256(dataset_path: str | Path | None, audited_path: str | None) -> str | None:
    """The content hash of the file a gate check is about.

    Without ``dataset_path`` it is the audited file (which may since have gone or changed);
    a file named explicitly (``finetune train --data``, ``audit gate --dataset``) must load,
    so that its decision can be stored under its own hash.
    """
    from core.datasets import load_dataset

    if dataset_path is None:
        return current_sha256(audited_path)
    return load_dataset(dataset_path).sha256


def ppi_bounds(store: Store, run: dict, policy: GatePolicy,
               cheap_run_id: str | None) -> tuple[float, float, float, str]:
    """(estimate, low, high, basis) of the whole dataset's rate by PPI, for rate_source = ppi."""
    from audit.estimate import estimate_error_rate

    report = estimate_error_rate(store, run["id"], cheap_run_id=cheap_run_id,
                                 gold_judge=policy.gold_judge, confidence=policy.confidence)
    ppi = (report.overall.hard if policy.rate == "hard" else report.overall.inclusive).ppi
    if ppi is None:
        raise ConfigError(f"rate_source = 'ppi' needs at least 3 gold labels in run {run['id']}, "
                          f"got {report.gold_labels}")
    basis = (f"by PPI over {report.population} records ({report.gold_labels} gold labels from "
             f"{report.gold_judge!r}, cheap run {report.cheap_run_id})")
    return ppi.estimate, ppi.interval.low, ppi.interval.high, basis


def gate_evidence(store: Store, run: dict, policy: GatePolicy, dataset_path=None,
                  cheap_run_id: str | None = None) -> GateEvidence:
    from audit.summary import summarize

    config = run["config"]
    records = [QARecord.model_validate(r) for r in store.run_records(run["id"])]
    judgments = store.judgments(run["id"])
    judged = {j.record_id for j in judgments}
    rows = [{"id": r.id, "topic": r.topic} for r in records if r.id in judged]
    closed_world = is_closed_world(config)
    summary = summarize(judgments, rows, population=config.get("population") or None,
                        confidence=policy.confidence, bootstrap=0, closed_world=closed_world)
    consensus = summary.consensus
    estimate = consensus.hard if policy.rate == "hard" else consensus.inclusive
    errors = consensus.hard_errors if policy.rate == "hard" else consensus.errors
    topics = {a.record_id: a for a in assign_topics(records, policy.critical_topics,
                                                     policy.topic_keywords)}
    categories: dict[str, Counter] = {}
    for j in judgments:
        if j.decided and j.verdict is not None and j.verdict.outcome(closed_world) is Outcome.error:
            categories.setdefault(j.record_id, Counter())[j.verdict.category.value] += 1
    critical = []
    for record_id, state in sorted(summary.records.items()):
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
    point, basis = None, ""
    if policy.rate_source == "ppi":
        point, low, high, basis = ppi_bounds(store, run, policy, cheap_run_id)
    return GateEvidence(
        audit_run_id=run["id"],
        audit_dataset_sha256=config["dataset_sha256"],
        current_dataset_sha256=checked_sha256(dataset_path, config.get("dataset_path")),
        audit_created=datetime.fromisoformat(run["created"]),
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

    The decision is stored under the dataset it judged: ``dataset_path`` when given (another
    file checked against the run keeps its decision under its own content hash, out of the
    run's report), else the run's own dataset.

    ``cheap_run_id`` (rate_source = "ppi" only): the run over every record whose judges
    predict; default: the latest such run of the same dataset.
    """
    policy = policy or GatePolicy()
    run = resolve_audit_run(store, run_id)
    decision = decide(policy, gate_evidence(store, run, policy, dataset_path, cheap_run_id))
    store.save_decision(decision)
    return decision
