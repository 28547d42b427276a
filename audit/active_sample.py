"""``audit sample --n N --active --cheap RUN``: a gold sample that favours uncertain records.

The cheap run (every record, usually the offline panel) gives each record a P(error); records
the panel is unsure about are drawn more often, with a floor so every record can be drawn
(``audit.sampling.sample_active``). Every record's inclusion probability is stored with the
run, and ``audit estimate`` weights the gold labels by their inverse. The run's id includes the
design, so an active sample never resumes a uniform one (or the reverse).
"""

from __future__ import annotations

import asyncio

from audit.estimate import cheap_run_for
from audit.predictions import panel_predictions
from audit.runner import Progress, RunOutcome, Warn, run_panel
from audit.sample import SampleOptions
from audit.sampling import sample_active
from core.errors import ConfigError
from core.models import QARecord
from core.runs import ActiveSampling
from core.store import Store

DEFAULT_FLOOR = 0.5  # half the sample uniform: robust to a panel whose confident calls are wrong


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
    if options.stratify or options.until_margin:
        raise ConfigError("--active cannot be combined with --stratify or --until-margin")
    sources = options.run_sources()
    dataset = options.load_dataset(warn)
    cheap = cheap_run_for(store, dataset.sha256, cheap_run_id, none_found=(
        "--active needs a cheap run over every record of this dataset: run `audit run --all` "
        "first (or name one with --cheap RUN)"))
    ids = [r.id for r in dataset.records]
    p_error = panel_predictions(store.judgments(cheap.id), ids, cheap.audit.panel,
                                closed_world=cheap.audit.closed_world).inclusive
    store.record_dataset(dataset.sha256, str(options.dataset_path), len(ids))
    plan = options.run_record(dataset, sources,
                              sampling=ActiveSampling(cheap_run=cheap.id, floor=floor))
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
