"""``audit sample --n N --active --cheap RUN``: a gold sample that favours uncertain records.

The cheap run (every record, usually the offline panel) gives each record a P(error); records
the panel is unsure about are drawn more often, with a floor so every record can be drawn
(``audit.sampling.sample_active``). Every record's inclusion probability is stored with the
run, and ``audit estimate`` weights the gold labels by their inverse. The run's id includes the
design, so an active sample never resumes a uniform one (or the reverse).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from audit.estimate import covers_every_record
from audit.gold import panel_names
from audit.pipeline import SampleOptions, panel_specs
from audit.predictions import panel_predictions
from audit.run_sources import is_closed_world
from audit.runner import AuditPlan, Progress, RunOutcome, Warn, run_panel
from audit.sampling import sample_active
from core.errors import ConfigError
from core.models import QARecord, content_hash
from core.store import Store

DEFAULT_FLOOR = 0.5  # half the sample uniform: robust to a panel whose confident calls are wrong


@dataclass
class ActivePlan(AuditPlan):
    """An ``AuditPlan`` whose sample is drawn actively; ``design`` is part of its id."""

    design: dict = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return "audit-" + content_hash({"plan": super().run_id, "design": self.design})[:12]


def cheap_run_for(store: Store, dataset_sha256: str, cheap_run_id: str | None) -> dict:
    """The named run, or the latest one over every record of this dataset."""
    from audit.report_data import resolve_run_id

    if cheap_run_id is None:
        run = next((r for r in store.list_runs("audit") if covers_every_record(r)
                    and r["config"].get("dataset_sha256") == dataset_sha256), None)
        if run is None:
            raise ConfigError("--active needs a cheap run over every record of this dataset: "
                              "run `audit run --all` first (or name one with --cheap RUN)")
        return run
    run = store.get_run(resolve_run_id(store, cheap_run_id))
    if run is None or not covers_every_record(run):
        raise ConfigError(f"run {cheap_run_id} did not judge every record; --cheap needs a run "
                          "from `audit run --all`")
    if run["config"].get("dataset_sha256") != dataset_sha256:
        raise ConfigError(f"run {run['id']} audited another version of the dataset (its content "
                          "hash differs); run `audit run --all` on this one")
    return run


def audit_active_sample(
    store: Store,
    options: SampleOptions,
    cheap_run_id: str | None = None,
    *,
    floor: float = DEFAULT_FLOOR,
    progress: Progress | None = None,
    warn: Warn | None = None,
) -> RunOutcome:
    """Draw (or resume) the active sample and judge it with the panel of ``options``."""
    from core.datasets import load_dataset, skipped_line
    if options.stratify or options.until_margin:
        raise ConfigError("--active cannot be combined with --stratify or --until-margin")
    sources = options.run_sources()
    dataset = load_dataset(options.dataset_path, question_field=options.question_field,
                           answer_field=options.answer_field, id_field=options.id_field,
                           skip_invalid=options.skip_invalid)
    if (skipped := skipped_line(dataset)) and warn is not None:
        warn(skipped)
    cheap = cheap_run_for(store, dataset.sha256, cheap_run_id)
    ids = [r.id for r in dataset.records]
    p_error = panel_predictions(store.judgments(cheap["id"]), ids, panel_names(cheap),
                                closed_world=is_closed_world(cheap["config"])).inclusive
    store.record_dataset(dataset.sha256, str(options.dataset_path), len(ids))
    design = {"design": "active", "cheap_run": cheap["id"], "floor": floor,
              "score": "sqrt(p (1 - p)) of the cheap panel's mean P(error)"}
    plan = ActivePlan(
        dataset_sha256=dataset.sha256,
        dataset_path=str(options.dataset_path),
        sources_sha256=sources.sha256,
        n=min(options.n, len(ids)),
        seed=options.seed,
        judges=panel_specs(options.judges_file),
        evidence_k=options.evidence_k,
        population=len(ids),
        closed_book=sources.closed_book,
        sources_complete=sources.complete,
        extra=sources.config() | {"confidence": options.confidence, "scope": "sample",
                                  "sampling": design},
        design=design,
    )
    stored = store.run_records(plan.run_id)
    if stored:
        sample = [QARecord.model_validate(r) for r in stored]
    else:
        sample, inclusion = sample_active(dataset.records, list(p_error), plan.n, plan.seed, floor)
        store.set_inclusion(plan.run_id, inclusion)  # before the records: a resume needs both
        store.set_run_records(plan.run_id, [r.model_dump(mode="json") for r in sample])
    return asyncio.run(run_panel(store, plan, sample, sources.evidence_of,
                                 sources.passages, progress=progress,
                                 concurrency=options.concurrency, warn=warn))
