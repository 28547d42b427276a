"""Run a panel of judges over a seeded sample, committing each judgment as it completes.

The run id is a hash of everything that defines the audit (dataset content, sources,
sample size and seed, panel), so the same command resumes the same run: judgments already
stored are not repeated, failed ones are retried, and cached model calls cost nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from audit.citations import verify_citations
from audit.judges.base import Judge
from audit.panel import build_judge
from audit.sampling import sample_records
from core.errors import AssayError, JudgeOutputError
from core.models import JudgeSpec, Judgment, JudgmentStatus, Passage, QARecord, content_hash
from core.store import Store

Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class AuditPlan:
    """Everything that defines one audit run (and so its id)."""

    dataset_sha256: str
    dataset_path: str
    sources_sha256: str
    n: int
    seed: int
    judges: list[JudgeSpec]
    stratify: str | None = None
    evidence_k: int = 4
    population: int = 0
    until_margin: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        key = {
            "dataset": self.dataset_sha256,
            "sources": self.sources_sha256,
            "n": self.n,
            "seed": self.seed,
            "stratify": self.stratify,
            "k": self.evidence_k,
            "judges": [spec.model_dump(mode="json") for spec in self.judges],
            "until_margin": self.until_margin,
        }
        return "audit-" + content_hash(key)[:12]

    def config(self) -> dict:
        return {
            "dataset_path": self.dataset_path,
            "dataset_sha256": self.dataset_sha256,
            "sources_sha256": self.sources_sha256,
            "n": self.n,
            "seed": self.seed,
            "stratify": self.stratify,
            "evidence_k": self.evidence_k,
            "population": self.population,
            "until_margin": self.until_margin,
            "judges": [spec.model_dump(mode="json") for spec in self.judges],
        } | self.extra


@dataclass
class RunOutcome:
    run_id: str
    records: list[QARecord]
    judgments: list[Judgment]
    new_judgments: int
    model_calls: int
    stopped_early: bool = False


def choose_sample(store: Store, plan: AuditPlan, records: list[QARecord]) -> list[QARecord]:
    """The run's sample: stored on first use, read back on resume (never re-drawn)."""
    stored = store.run_records(plan.run_id)
    if stored:
        return [QARecord.model_validate(r) for r in stored]
    sample = sample_records(records, plan.n, plan.seed, plan.stratify)
    store.set_run_records(plan.run_id, [r.model_dump(mode="json") for r in sample])
    return sample


async def judge_one(
    judge: Judge, record: QARecord, evidence: list[Passage], passages: dict[str, Passage], run_id: str
) -> Judgment:
    """One judge on one record → a Judgment (never raises for provider or output trouble)."""
    started = time.monotonic()
    base = {"run_id": run_id, "record_id": record.id, "judge": judge.spec.name}
    try:
        outcome = await judge.judge(record, evidence)
    except JudgeOutputError as exc:
        return Judgment(**base, status=JudgmentStatus.failed, error=str(exc), raw=exc.raw,
                        latency_s=time.monotonic() - started)
    except AssayError as exc:
        return Judgment(**base, status=JudgmentStatus.failed, error=f"{type(exc).__name__}: {exc}",
                        latency_s=time.monotonic() - started)
    usage = {
        "latency_s": time.monotonic() - started,
        "tokens_in": outcome.tokens_in,
        "tokens_out": outcome.tokens_out,
        "cost_usd": outcome.cost_usd,
        "cache_hit": outcome.cache_hit,
        "raw": outcome.raw,
    }
    if outcome.verdict is None:
        return Judgment(**base, status=JudgmentStatus.abstain, **usage)
    check = verify_citations(outcome.verdict, passages)
    status = JudgmentStatus.ok if check.valid else JudgmentStatus.invalid_citation
    error = None if check.valid else "; ".join(check.problems)
    return Judgment(**base, status=status, verdict=outcome.verdict, error=error, **usage)


async def run_panel(
    store: Store,
    plan: AuditPlan,
    sample: list[QARecord],
    evidence_of: Callable[[QARecord], list[Passage]],
    passages: dict[str, Passage],
    judges: list[Judge] | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[list[Judgment]], bool] | None = None,
    concurrency: int = 4,
) -> RunOutcome:
    """Judge every (record, judge) pair not yet stored; each judgment is committed at once."""
    judges = judges if judges is not None else [build_judge(s, store) for s in plan.judges]
    store.create_run(plan.run_id, "audit", plan.dataset_sha256, plan.config())
    store.set_run_status(plan.run_id, "running")
    calls_before = store.count_calls()  # every uncached model call lands in the ledger
    done = store.done_keys(plan.run_id)
    total = len(sample) * len(judges)
    finished = sum(1 for r in sample for j in judges if (r.id, j.spec.name) in done)
    if progress:
        progress(finished, total)
    semaphore = asyncio.Semaphore(concurrency)
    new = 0
    stopped_early = False

    async def work(record: QARecord, evidence: list[Passage], judge: Judge) -> None:
        nonlocal finished, new
        async with semaphore:
            judgment = await judge_one(judge, record, evidence, passages, plan.run_id)
        store.save_judgment(judgment)
        finished += 1
        new += 1
        if progress:
            progress(finished, total)

    # Records go in sample order, a window at a time, so an early stop is well defined.
    window = max(1, concurrency)
    for start in range(0, len(sample), window):
        batch = sample[start : start + window]
        tasks = []
        for record in batch:
            todo = [j for j in judges if (record.id, j.spec.name) not in done]
            if todo:
                evidence = evidence_of(record)
                tasks.extend(work(record, evidence, judge) for judge in todo)
        await asyncio.gather(*tasks)
        if should_stop and start + window < len(sample):
            seen = {r.id for r in sample[: start + window]}
            if should_stop([j for j in store.judgments(plan.run_id) if j.record_id in seen]):
                stopped_early = True
                break

    judgments = store.judgments(plan.run_id)
    complete = len(judgments) == total and all(
        j.status is not JudgmentStatus.failed for j in judgments
    )
    store.set_run_status(plan.run_id, "complete" if complete or stopped_early else "incomplete")
    return RunOutcome(
        plan.run_id, sample, judgments, new, store.count_calls() - calls_before, stopped_early
    )
