"""The library API behind ``audit sample``: dataset + sources + panel → stored audit run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from audit.panel import DEFAULT_PANEL, load_judges_file
from audit.run_sources import (
    EXAMPLE_DATASET,
    EXAMPLE_DIR,
    RunSources,
    choose_sources,
    is_closed_book,
    is_closed_world,
    load_run_sources,
)
from audit.runner import AuditPlan, Progress, RunOutcome, Warn, choose_sample, run_panel
from core.models import JudgeSpec, Judgment
from core.store import Store

__all__ = ["EXAMPLE_DIR", "SampleOptions", "audit_sample", "panel_specs", "run_evidence"]


@dataclass
class SampleOptions:
    """``dataset`` None: the bundled example (whose sources are then the default). Any other
    dataset needs ``sources`` or ``no_sources`` (closed-book); see ``audit.run_sources``."""

    dataset: Path | None = None
    sources: Path | None = None
    no_sources: bool = False
    sources_complete: bool = False
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

    @property
    def dataset_path(self) -> Path:
        return self.dataset if self.dataset is not None else EXAMPLE_DATASET

    def run_sources(self) -> RunSources:
        """The run's sources (indexed), or none; a clear error when neither is said."""
        path, complete = choose_sources(self.dataset, self.sources, self.no_sources,
                                        self.sources_complete)
        return load_run_sources(path, complete, hybrid=self.hybrid, k=self.evidence_k)


def panel_specs(judges_file: Path | None) -> list[JudgeSpec]:
    return load_judges_file(judges_file) if judges_file else list(DEFAULT_PANEL)


def audit_sample(
    store: Store, options: SampleOptions, progress: Progress | None = None, warn: Warn | None = None
) -> RunOutcome:
    """Sample, judge and store; re-running with the same options resumes the same run."""
    from core.datasets import load_dataset, skipped_line

    sources = options.run_sources()  # before the dataset: a missing choice costs nothing
    dataset = load_dataset(
        options.dataset_path,
        question_field=options.question_field,
        answer_field=options.answer_field,
        id_field=options.id_field,
        skip_invalid=options.skip_invalid,
    )
    if (skipped := skipped_line(dataset)) and warn is not None:
        warn(skipped)
    store.record_dataset(dataset.sha256, str(options.dataset_path), len(dataset.records))
    plan = AuditPlan(
        dataset_sha256=dataset.sha256,
        dataset_path=str(options.dataset_path),
        sources_sha256=sources.sha256,
        n=min(options.n, len(dataset.records)),
        seed=options.seed,
        judges=panel_specs(options.judges_file),
        stratify=options.stratify,
        evidence_k=options.evidence_k,
        population=len(dataset.records),
        until_margin=options.until_margin,
        closed_book=sources.closed_book,
        sources_complete=sources.complete,
        extra=sources.config() | {"confidence": options.confidence},
    )
    sample = choose_sample(store, plan, dataset.records)
    should_stop = None
    if options.until_margin:
        should_stop = _margin_reached(options.until_margin, options.confidence, plan.population,
                                      sources.complete)
    return asyncio.run(
        run_panel(
            store,
            plan,
            sample,
            sources.evidence_of,
            sources.passages,
            progress=progress,
            should_stop=should_stop,
            concurrency=options.concurrency,
            warn=warn,
        )
    )


def _margin_reached(
    margin: float, confidence: float, population: int, closed_world: bool = True
) -> Callable[[list[Judgment]], bool]:
    """``should_stop`` for ``--until-margin``: the consensus interval is narrow enough."""
    from audit.stats import margin_reached
    from audit.summary import consensus_counts

    def check(judgments: list[Judgment]) -> bool:
        errors, decided = consensus_counts(judgments, closed_world=closed_world)
        return margin_reached(errors, decided, margin, confidence, population)

    return check


def run_evidence(store: Store, run_id: str):
    """``evidence_of(record)`` for a stored run, from the sources it was audited with (none
    for a closed-book run)."""
    from core.errors import ConfigError

    run = store.get_run(run_id)
    if run is None:
        raise ConfigError(f"no run {run_id!r} in {store.path}; see `audit runs`")
    config = run["config"]
    path = None if is_closed_book(config) else Path(config["sources_path"])
    sources = load_run_sources(path, is_closed_world(config), k=config.get("evidence_k", 4))
    return sources.evidence_of
