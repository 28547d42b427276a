"""The library API behind ``audit sample``: dataset + sources + panel → stored audit run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from audit.panel import DEFAULT_PANEL, load_judges_file
from audit.runner import AuditPlan, Progress, RunOutcome, Warn, choose_sample, run_panel
from core.models import JudgeSpec, Judgment, content_hash
from core.store import Store

EXAMPLE_DIR = Path(__file__).resolve().parent.parent / "examples" / "advising"


@dataclass
class SampleOptions:
    dataset: Path = EXAMPLE_DIR / "dataset.jsonl"
    sources: Path = EXAMPLE_DIR / "sources"
    n: int = 40
    seed: int = 0
    stratify: str | None = None
    judges_file: Path | None = None
    evidence_k: int = 4
    hybrid: bool = False
    until_margin: float | None = None
    confidence: float = 0.95
    question_field: str = "question"
    answer_field: str = "answer"
    id_field: str = "id"
    skip_invalid: bool = False
    concurrency: int = 4


def panel_specs(judges_file: Path | None) -> list[JudgeSpec]:
    return load_judges_file(judges_file) if judges_file else list(DEFAULT_PANEL)


def audit_sample(
    store: Store, options: SampleOptions, progress: Progress | None = None, warn: Warn | None = None
) -> RunOutcome:
    """Sample, judge and store; re-running with the same options resumes the same run."""
    from core.datasets import load_dataset
    from core.retrieval import evidence_for, load_index

    dataset = load_dataset(
        options.dataset,
        question_field=options.question_field,
        answer_field=options.answer_field,
        id_field=options.id_field,
        skip_invalid=options.skip_invalid,
    )
    store.record_dataset(dataset.sha256, str(options.dataset), len(dataset.records))
    index = load_index(options.sources, hybrid=options.hybrid)
    passages = index.passages
    plan = AuditPlan(
        dataset_sha256=dataset.sha256,
        dataset_path=str(options.dataset),
        sources_sha256=content_hash(sorted(p.sha256 for p in passages.values())),
        n=min(options.n, len(dataset.records)),
        seed=options.seed,
        judges=panel_specs(options.judges_file),
        stratify=options.stratify,
        evidence_k=options.evidence_k,
        population=len(dataset.records),
        until_margin=options.until_margin,
        extra={"sources_path": str(options.sources), "confidence": options.confidence},
    )
    sample = choose_sample(store, plan, dataset.records)
    should_stop = None
    if options.until_margin:
        should_stop = _margin_reached(options.until_margin, options.confidence, plan.population)
    return asyncio.run(
        run_panel(
            store,
            plan,
            sample,
            lambda record: evidence_for(record, index, k=options.evidence_k),
            passages,
            progress=progress,
            should_stop=should_stop,
            concurrency=options.concurrency,
            warn=warn,
        )
    )


def _margin_reached(
    margin: float, confidence: float, population: int
) -> Callable[[list[Judgment]], bool]:
    """``should_stop`` for ``--until-margin``: the consensus interval is narrow enough."""
    from audit.stats import margin_reached
    from audit.summary import consensus_counts

    def check(judgments: list[Judgment]) -> bool:
        errors, decided = consensus_counts(judgments)
        return margin_reached(errors, decided, margin, confidence, population)

    return check


def run_evidence(store: Store, run_id: str):
    """``evidence_of(record)`` for a stored run, from the sources it was audited with."""
    from core.errors import ConfigError
    from core.retrieval import evidence_for, load_index

    run = store.get_run(run_id)
    if run is None:
        raise ConfigError(f"no run {run_id!r} in {store.path}; see `audit runs`")
    config = run["config"]
    index = load_index(Path(config["sources_path"]))
    k = config.get("evidence_k", 4)
    return lambda record: evidence_for(record, index, k=k)
