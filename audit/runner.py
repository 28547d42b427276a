"""Run a panel of judges over a seeded sample, committing each judgment as it completes.

The run (``core.runs.AuditRun``) is stored first; its id is a hash of everything that
defines the audit (dataset content, sources, sample size and seed, panel), so the same command
resumes the same run: judgments already
stored are not repeated, failed ones are retried, and cached model calls cost nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from audit.citations import verify_citations
from audit.judges.base import Judge
from audit.panel import build_judge
from audit.sampling import sample_records
from core.errors import AssayError, ConfigError, JudgeOutputError
from core.models import EvidenceRef, JudgeSpec, Judgment, JudgmentStatus, Passage, QARecord
from core.runs import AuditRun, save_run
from core.store import Store

Progress = Callable[..., None]  # progress(done, total, note=None)
Warn = Callable[[str], None]  # one line for a person, e.g. a judge that became unusable


@dataclass
class RunOutcome:
    run_id: str
    records: list[QARecord]
    judgments: list[Judgment]
    new_judgments: int
    model_calls: int
    stopped_early: bool = False
    unusable: dict[str, str] = field(default_factory=dict)  # judge -> why, for this run


def choose_sample(store: Store, plan: AuditRun, records: list[QARecord]) -> list[QARecord]:
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
    """One judge on one record → a Judgment.

    Provider and output trouble becomes a failed Judgment, except a *persistent* error (a
    missing package, key, model or server), which is raised: the judge cannot work this run.
    """
    started = time.monotonic()
    base = {"run_id": run_id, "record_id": record.id, "judge": judge.spec.name,
            "evidence": EvidenceRef.of(evidence)}
    try:
        outcome = await judge.judge(record, evidence)
    except JudgeOutputError as exc:
        return Judgment(**base, status=JudgmentStatus.failed, error=str(exc), raw=exc.raw,
                        latency_s=time.monotonic() - started)
    except AssayError as exc:
        if exc.persistent:
            raise
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
    if not passages:  # closed-book: no passage to quote or check; verdicts are uncited
        verdict = outcome.verdict.model_copy(update={"citations": []})
        return Judgment(**base, status=JudgmentStatus.ok, verdict=verdict, **usage)
    check = verify_citations(outcome.verdict, passages, record.question, record.answer)
    status = JudgmentStatus.ok if check.valid else JudgmentStatus.invalid_citation
    error = None if check.valid else "; ".join(check.problems)
    return Judgment(**base, status=status, verdict=outcome.verdict, error=error, **usage)


class PanelGuard:
    """The judges of one run, each usable until a persistent error says otherwise.

    A judge's calls go one at a time until one of them works, so a judge that cannot load
    fails once, not once per record in flight; after that its records fail at once with the
    same reason, and a re-run (after the fix) judges them. When no judge with work to do can
    work at all, ``prepare`` raises the first error instead: one line, nothing judged.
    """

    def __init__(self, judges: list[Judge], warn: Warn | None = None) -> None:
        self.judges = judges
        self.errors: dict[str, AssayError] = {}
        self._warn = warn
        self._started = False
        self._proven: set[str] = set()
        self._first_call = {j.spec.name: asyncio.Lock() for j in judges}

    @property
    def unusable(self) -> dict[str, str]:
        return {name: str(exc) for name, exc in self.errors.items()}

    @classmethod
    def build(cls, specs: list[JudgeSpec], store: Store, warn: Warn | None = None, *,
              closed_book: bool = False) -> PanelGuard:
        """Build every judge. A judges-file mistake (ConfigError) is raised; a judge that
        cannot be built for a reason outside the file (no key in the environment) is unusable.
        ``closed_book``: the run has no sources (the judges are told so)."""
        judges: list[Judge] = []
        failed: dict[str, AssayError] = {}
        for spec in specs:
            try:
                judges.append(build_judge(spec, store, closed_book=closed_book))
            except AssayError as exc:
                if isinstance(exc, ConfigError) or not exc.persistent:
                    raise
                judges.append(_Unbuilt(spec))
                failed[spec.name] = exc
        guard = cls(judges, warn)
        for name, error in failed.items():
            guard.mark_unusable(name, error)
        return guard

    def mark_unusable(self, name: str, exc: AssayError) -> None:
        if name in self.errors:
            return
        self.errors[name] = exc
        if self._started:
            self._announce(name)

    def _announce(self, name: str) -> None:
        if self._warn:
            self._warn(f"judge {name!r} cannot work in this run: {self.errors[name]}. Its records "
                       "are marked failed; fix this and re-run the same command to judge them.")

    async def prepare(self, names: set[str]) -> None:
        """Run each named judge's ``prepare`` (checks, first-use set-up) once, in order; raise
        the first error if none of the named judges can work."""
        for judge in self.judges:
            name = judge.spec.name
            prepare = getattr(judge, "prepare", None)
            if name in names and name not in self.errors and prepare is not None:
                try:
                    await prepare()
                except AssayError as exc:
                    if not exc.persistent:
                        raise
                    self.mark_unusable(name, exc)
        broken = [name for name in self.errors if name in names]
        if names and len(broken) == len(names):
            raise self.errors[broken[0]]
        self._started = True
        for name in broken:
            self._announce(name)

    async def judge(self, judge: Judge, record: QARecord, evidence: list[Passage],
                    passages: dict[str, Passage], run_id: str) -> Judgment:
        name = judge.spec.name
        if name not in self._proven:
            async with self._first_call[name]:
                judgment = await self._judge(judge, record, evidence, passages, run_id)
                if name not in self.errors:
                    self._proven.add(name)
                return judgment
        return await self._judge(judge, record, evidence, passages, run_id)

    async def _judge(self, judge, record, evidence, passages, run_id) -> Judgment:
        name = judge.spec.name
        if name not in self.errors:
            try:
                return await judge_one(judge, record, evidence, passages, run_id)
            except AssayError as exc:
                self.mark_unusable(name, exc)
        return Judgment(run_id=run_id, record_id=record.id, judge=name,
                        status=JudgmentStatus.failed,
                        error=f"judge unusable in this run: {self.errors[name]}")


@dataclass
class _Unbuilt:
    """Stands in for a judge that could not be built; never called (it is unusable)."""

    spec: JudgeSpec

    async def judge(self, record: QARecord, evidence: list[Passage]):  # pragma: no cover
        raise AssertionError("an unusable judge is never called")


async def run_panel(
    store: Store,
    plan: AuditRun,
    sample: list[QARecord],
    evidence_of: Callable[[QARecord], list[Passage]],
    passages: dict[str, Passage],
    judges: list[Judge] | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[list[Judgment]], bool] | None = None,
    concurrency: int = 4,
    warn: Warn | None = None,
    specs: list[JudgeSpec] | None = None,
) -> RunOutcome:
    """Judge every (record, judge) pair not yet stored; each judgment is committed at once.

    The judges are ``judges`` if given, else built from ``specs`` (default: the plan's).
    """
    guard = (PanelGuard(judges, warn) if judges is not None
             else PanelGuard.build(specs if specs is not None else plan.judges, store, warn,
                                   closed_book=plan.closed_book))
    judges = guard.judges
    save_run(store, plan)
    store.set_run_status(plan.run_id, "running")
    calls_before = store.count_calls()  # every uncached model call lands in the ledger
    done = store.done_keys(plan.run_id)
    total = len(sample) * len(judges)
    finished = sum(1 for r in sample for j in judges if (r.id, j.spec.name) in done)
    failed = 0

    def report() -> None:
        if progress:
            progress(finished, total, f"{failed} failed" if failed else None)

    await guard.prepare({j.spec.name for r in sample for j in judges
                         if (r.id, j.spec.name) not in done})
    report()
    semaphore = asyncio.Semaphore(concurrency)
    new = 0
    stopped_early = False

    async def work(record: QARecord, evidence: list[Passage], judge: Judge) -> None:
        nonlocal finished, new, failed
        async with semaphore:
            judgment = await guard.judge(judge, record, evidence, passages, plan.run_id)
        store.save_judgment(judgment)
        finished += 1
        new += 1
        failed += judgment.status is JudgmentStatus.failed
        report()

    # Records go in sample order, a window at a time, so an early stop is well defined.
    window = max(1, concurrency)
    for start in range(0, len(sample), window):
        batch = sample[start : start + window]
        tasks: list[Coroutine[Any, Any, None]] = []
        for record in batch:
            pending = [j for j in judges if (record.id, j.spec.name) not in done]
            if pending:
                evidence = evidence_of(record)
                tasks.extend(work(record, evidence, judge) for judge in pending)
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
    return RunOutcome(plan.run_id, sample, judgments, new, store.count_calls() - calls_before,
                      stopped_early, dict(guard.unusable))
