"""The library API behind ``audit sample``: dataset + sources + panel → stored audit run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from audit.panel import DEFAULT_PANEL, load_judges_file
from audit.run_sources import EXAMPLE_DATASET, EXAMPLE_DIR, RunSources, choose_sources, load_run_sources
from audit.runner import Progress, RunOutcome, Warn, choose_sample, run_panel
from core.datasets import Dataset
from core.models import JudgeSpec, Judgment
from core.runs import ActiveSampling, AuditRun, DatasetFields, open_run
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

    def load_dataset(self, warn: Warn | None = None) -> Dataset:
        """The dataset; with ``--skip-invalid`` the records left out are said (``warn``)."""
        from core.datasets import load_dataset, skipped_line

        dataset = load_dataset(self.dataset_path, question_field=self.question_field,
                               answer_field=self.answer_field, id_field=self.id_field,
                               skip_invalid=self.skip_invalid)
        if (skipped := skipped_line(dataset)) and warn is not None:
            warn(skipped)
        return dataset

    def run_record(self, dataset: Dataset, sources: RunSources, *, every_record: bool = False,
                   sampling: ActiveSampling | None = None) -> AuditRun:
        """The stored record of the run these options make over ``dataset``."""
        population = len(dataset.records)
        return AuditRun(
            # Absolute: gate, filter and reports open the file from any folder.
            dataset_path=str(self.dataset_path.resolve()),
            dataset_sha256=dataset.sha256,
            fields=DatasetFields(question=self.question_field, answer=self.answer_field,
                                 id=self.id_field),
            skip_invalid=self.skip_invalid,
            sources_path=None if sources.path is None else str(Path(sources.path).resolve()),
            sources_sha256=sources.sha256,
            closed_book=sources.closed_book,
            sources_complete=sources.complete and not sources.closed_book,
            retrieval=None if sources.closed_book else "hybrid" if self.hybrid else "bm25",
            evidence_k=self.evidence_k,
            judges=panel_specs(self.judges_file),
            n=population if every_record else min(self.n, population),
            seed=self.seed,
            stratify=None if every_record or sampling else self.stratify,
            population=population,
            until_margin=None if every_record or sampling else self.until_margin,
            confidence=self.confidence,
            scope="all" if every_record else "sample",
            sampling=sampling,
        )


def panel_specs(judges_file: Path | None) -> list[JudgeSpec]:
    return load_judges_file(judges_file) if judges_file else list(DEFAULT_PANEL)


def audit_sample(
    store: Store, options: SampleOptions, progress: Progress | None = None, warn: Warn | None = None
) -> RunOutcome:
    """Sample, judge and store; re-running with the same options resumes the same run."""
    sources = options.run_sources()  # before the dataset: a missing choice costs nothing
    dataset = options.load_dataset(warn)
    store.record_dataset(dataset.sha256, str(options.dataset_path), len(dataset.records))
    plan = options.run_record(dataset, sources)
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
    """``evidence_of(record)`` for a stored run: the passages its judges were shown (stored
    with their judgments), else (runs stored before that) retrieved again from the run's
    sources with its retrieval mode; nothing for a closed-book run."""
    stored = open_run(store, run_id)
    run = stored.audit
    if run.closed_book or run.sources_path is None:
        return lambda record: []
    sources = load_run_sources(Path(run.sources_path), run.closed_world,
                               hybrid=run.retrieval == "hybrid", k=run.evidence_k)
    shown = {}
    for judgment in store.judgments(stored.id):
        if judgment.evidence and judgment.record_id not in shown:
            shown[judgment.record_id] = judgment.evidence

    def evidence_of(record):
        refs = shown.get(record.id)
        if refs is None:
            return sources.evidence_of(record)
        # A passage whose text changed since the audit is not the one the judges saw.
        return [sources.passages[r.id] for r in refs
                if r.id in sources.passages and sources.passages[r.id].sha256 == r.sha256]

    return evidence_of
