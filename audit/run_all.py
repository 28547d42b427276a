"""`audit run --all` and `audit collect`: every record, through the providers' batch services,
resumable from SQLite.

``run_all`` judges every record of a dataset. LLM judges (openai, gemini) go through the
provider's batch service when ``batch=True``; local and rules judges run in-process as in
``audit sample``. Each job is written to the store *before* it is submitted (status
``submitting``, keyed by a hash of its requests) and updated with the provider's job id
and object as soon as they exist, so ``collect`` in a new process, a day later, finds it:
a job that was created but whose id was never written is found again by that hash.

Results go through the interactive path: ``parse_verdict`` and ``audit.runner.judge_one``
(citation verification, judgment statuses). An item that fails (provider error, expiry,
unparseable output, missing from the output) is stored as a ``failed`` judgment and,
while attempts remain, re-submitted in a new job (unparseable output with the same repair
message an interactive judge sends). Nothing is dropped.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.judges.base import JudgeOutcome
from audit.judges.llm import judge_prices, parse_verdict
from audit.judges.prompts import build_messages, judge_template, repair_message, verdict_schema
from audit.runner import Warn, judge_one, run_panel
from audit.sample import SampleOptions
from core.batch.jobs import (
    BATCH_DISCOUNT,
    COLLECTED,
    BatchBackend,
    Estimate,
    ItemResult,
)
from core.batch.submit import (
    BATCH_PROVIDERS,
    BackendFactory,
    build_backend,
    cache_completion,
    call_key,
    collect_job,
    submit_items,
)
from core.calls import price_of
from core.errors import JudgeOutputError, ProviderError
from core.models import (
    EvidenceRef,
    JudgeSpec,
    Judgment,
    JudgmentStatus,
    Passage,
    QARecord,
    content_hash,
)
from core.providers.base import ChatRequest, Completion
from core.runs import AuditRun, open_run, save_run
from core.store import Store

DEFAULT_ATTEMPTS = 2  # the first request and one retry (or repair), as interactively


@dataclass
class RunAllOptions(SampleOptions):
    """``SampleOptions`` for every record; ``batch`` sends LLM judges through batch services."""

    batch: bool = False
    max_per_job: int | None = None
    attempts: int = DEFAULT_ATTEMPTS


@dataclass
class Prepared:
    """A run's plan, the records to judge, their evidence and every source passage."""

    plan: AuditRun
    records: list[QARecord]
    evidence_of: Callable[[QARecord], list[Passage]]
    passages: dict[str, Passage]


@dataclass
class CollectOutcome:
    run_id: str
    new_judgments: int = 0
    failed: int = 0
    resubmitted: int = 0
    pending_jobs: list[str] = field(default_factory=list)
    batched: bool = True  # False: every judge ran in-process, no batch job was involved

    @property
    def done(self) -> bool:
        return not self.pending_jobs


# -- preparing the run -------------------------------------------------------------------------


def prepare(options: SampleOptions, *, every_record: bool, store: Store | None = None,
            warn: Warn | None = None) -> Prepared:
    """Load dataset and sources; the records are all of them or the seeded sample.

    With a ``store`` the dataset and the sample are recorded (``choose_sample``); without
    one (a dry run) nothing is written. Records left out by ``--skip-invalid`` are said.
    """
    from audit.runner import choose_sample
    from audit.sampling import sample_records

    sources = options.run_sources()  # before the dataset: a missing choice costs nothing
    dataset = options.load_dataset(warn)
    population = len(dataset.records)
    plan = options.run_record(dataset, sources, every_record=every_record)
    if store is not None:
        store.record_dataset(dataset.sha256, str(options.dataset_path), population)
        records = choose_sample(store, plan, dataset.records)
    else:
        records = sample_records(dataset.records, plan.n, plan.seed, plan.stratify)
    return Prepared(plan, records, sources.evidence_of, sources.passages)


def judge_request(spec: JudgeSpec, record: QARecord, evidence: list[Passage],
                  closed_book: bool = False) -> ChatRequest:
    """The request an ``LLMJudge`` for ``spec`` sends first (same messages, schema, params)."""
    params = spec.params
    messages = build_messages(record, evidence, judge_template(params.get("template"), closed_book),
                              closed_book)
    return ChatRequest(
        messages=messages,
        json_schema=verdict_schema(),
        temperature=float(params.get("temperature", 0.0)),
        max_tokens=int(params.get("max_tokens", 1024)),
        seed=params.get("seed", 0),
    )


def custom_id(record_id: str, judge: str, attempt: int) -> str:
    """A short id, unique per record, judge and attempt (providers limit its length)."""
    return f"a{attempt}-" + content_hash([record_id, judge])[:24]


# -- dry runs ----------------------------------------------------------------------------------


def estimate_run(prepared: Prepared, *, batch: bool, store: Store | None = None,
                 requests_out: Path | None = None) -> Estimate:
    """Tokens and cost of the LLM requests the run would send (cached ones excluded).

    Local and rules judges cost nothing and are not counted. With ``requests_out`` every
    request is written there as JSONL (``{"record_id", "judge", "request"}``).
    """
    estimate = Estimate()
    done = store.done_keys(prepared.plan.run_id) if store else set()
    lines = []
    for spec in prepared.plan.judges:
        if spec.provider not in BATCH_PROVIDERS:
            continue
        for record in prepared.records:
            if (record.id, spec.name) in done:
                continue
            request = judge_request(spec, record, prepared.evidence_of(record),
                                    prepared.plan.closed_book)
            if store is not None and store.cached_call(call_key(spec, request)):
                continue
            estimate.add(spec.name, spec.model, request, batch=batch, prices=judge_prices(spec))
            lines.append({"record_id": record.id, "judge": spec.name,
                          "request": request.model_dump(mode="json")})
    if requests_out is not None:
        requests_out.parent.mkdir(parents=True, exist_ok=True)
        requests_out.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines),
                                encoding="utf-8")
    return estimate


# -- submitting --------------------------------------------------------------------------------


async def submit_run(store: Store, prepared: Prepared, *, backend_for: BackendFactory = build_backend,
                     max_per_job: int | None = None) -> list[str]:
    """Submit one or more jobs per LLM judge for every record not yet judged or in flight.

    Cached answers (the same request answered before) become judgments at once. Returns
    the keys of the jobs submitted.
    """
    plan = prepared.plan
    save_run(store, plan)
    done = store.done_keys(plan.run_id)
    in_flight = _in_flight(store, plan.run_id)
    keys = []
    for spec in (s for s in plan.judges if s.provider in BATCH_PROVIDERS):
        items = []
        for record in prepared.records:
            if (record.id, spec.name) in done or (record.id, spec.name) in in_flight:
                continue
            evidence = prepared.evidence_of(record)
            request = judge_request(spec, record, evidence, prepared.plan.closed_book)
            refs = EvidenceRef.of(evidence)
            if (hit := store.cached_call(call_key(spec, request))) is not None:
                completion = Completion.model_validate(hit["response"])
                judgment = await _judgment(spec, record, prepared.passages, plan.run_id,
                                           ItemResult("", completion=completion), refs,
                                           cost=hit["cost_usd"], cache_hit=True)
                store.save_judgment(judgment)
                continue
            items.append({"custom_id": custom_id(record.id, spec.name, 1), "record_id": record.id,
                          "attempt": 1, "request": request.model_dump(mode="json"),
                          "evidence": [r.model_dump() for r in refs]})
        if items:
            keys += await submit_items(store, plan.run_id, spec, items, backend_for, max_per_job)
    return keys


def _in_flight(store: Store, run_id: str) -> set[tuple[str, str]]:
    pairs = set()
    for job in store.batch_jobs(run_id):
        if job["status"] != COLLECTED:
            pairs |= {(i["record_id"], i["judge"]) for i in store.batch_items(job["key"])}
    return pairs


# -- collecting --------------------------------------------------------------------------------


async def collect_run(store: Store, run_id: str, *, backend_for: BackendFactory = build_backend,
                      wait: bool = False, poll_s: float = 30.0, timeout_s: float | None = None,
                      attempts: int = DEFAULT_ATTEMPTS,
                      passages: dict[str, Passage] | None = None) -> CollectOutcome:
    """Poll every open job of ``run_id``; store the results of finished ones as judgments.

    With ``wait`` it polls every ``poll_s`` seconds until no job is open (or ``timeout_s``).
    Failed items are re-submitted while fewer than ``attempts`` were made.
    """
    run = open_run(store, run_id).audit
    specs = {spec.name: spec for spec in run.judges}
    records = {r["id"]: QARecord.model_validate(r) for r in store.run_records(run_id)}
    passages = passages if passages is not None else _run_passages(run)
    outcome = CollectOutcome(run_id)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    backends: dict[str, BatchBackend] = {}
    try:
        while True:
            outcome.pending_jobs = []
            for job in store.batch_jobs(run_id):
                if job["status"] == COLLECTED:
                    continue
                spec = specs[job["judge"]]
                backend = backends.get(spec.name) or backends.setdefault(spec.name, backend_for(spec))
                await _collect_job(store, job, spec, backend, records, passages, attempts, outcome)
            if not outcome.pending_jobs or not wait:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            await asyncio.sleep(poll_s)
    finally:
        for backend in backends.values():
            await backend.aclose()
    _set_status(store, run_id, len(records) * len(specs), bool(outcome.pending_jobs))
    return outcome


async def _collect_job(store: Store, job: dict[str, Any], spec: JudgeSpec, backend: BatchBackend,
                       records: dict[str, QARecord], passages: dict[str, Passage], attempts: int,
                       outcome: CollectOutcome) -> None:
    async def settle(item: dict[str, Any], result: ItemResult) -> str:
        refs = [EvidenceRef.model_validate(r) for r in item.get("evidence", [])]
        judgment = await _judgment(spec, records[item["record_id"]], passages, job["run_id"],
                                   result, refs)
        store.save_judgment(judgment)
        outcome.new_judgments += 1
        if result.completion is not None:
            request = ChatRequest.model_validate(item["request"])
            cache_completion(store, spec, request, result.completion, judgment.cost_usd)
        outcome.failed += judgment.status is JudgmentStatus.failed
        return judgment.status.value

    def retry(item: dict[str, Any], status: str, result: ItemResult | None):
        if status == "failed" and item["attempt"] < attempts:
            return _retry_item(item, result)
        return None

    collected = await collect_job(store, job, spec, backend, settle, retry)
    if not collected.snapshot.terminal:
        outcome.pending_jobs.append(collected.snapshot.job_id)
    outcome.resubmitted += collected.retried
    outcome.pending_jobs += collected.retry_keys


def _retry_item(item: dict[str, Any], result: ItemResult | None) -> dict[str, Any]:
    """The next attempt: the same request, or the repair round-trip for unparseable output."""
    request = ChatRequest.model_validate(item["request"])
    if result is not None and result.completion is not None:
        raw = result.completion.text
        errors = _parse_errors(raw)
        request = request.model_copy(update={"messages": [
            *request.messages, {"role": "assistant", "content": raw}, repair_message(errors)]})
    attempt = item["attempt"] + 1
    return {"custom_id": custom_id(item["record_id"], item["judge"], attempt),
            "record_id": item["record_id"], "attempt": attempt,
            "request": request.model_dump(mode="json"), "evidence": item.get("evidence", [])}


def _parse_errors(raw: str) -> list[str]:
    from audit.judges.llm import VerdictParseError

    try:
        parse_verdict(raw)
    except VerdictParseError as exc:
        return exc.errors
    return []


class _BatchAnswer:
    """A judge whose answer already arrived in a batch; ``judge_one`` does the rest."""

    def __init__(self, spec: JudgeSpec, result: ItemResult, cost: float, cache_hit: bool) -> None:
        self.spec = spec
        self._result = result
        self._cost = cost
        self._cache_hit = cache_hit

    async def judge(self, record: QARecord, evidence: list[Passage]) -> JudgeOutcome:
        from audit.judges.llm import VerdictParseError

        completion = self._result.completion
        if completion is None:
            raise ProviderError(f"{self.spec.provider} batch: {self._result.error}",
                                provider=self.spec.provider, model=self.spec.model)
        try:
            verdict = parse_verdict(completion.text)
        except VerdictParseError as exc:
            raise JudgeOutputError(
                f"judge {self.spec.name} ({self.spec.model}) gave no valid verdict for record "
                f"{record.id} in a batch: {exc.errors[-1]}",
                raw=completion.text, errors=exc.errors, attempts=1) from exc
        return JudgeOutcome(verdict=verdict, raw=completion.text, tokens_in=completion.tokens_in,
                            tokens_out=completion.tokens_out, cost_usd=self._cost,
                            cache_hit=self._cache_hit)


async def _judgment(spec: JudgeSpec, record: QARecord, passages: dict[str, Passage], run_id: str,
                    result: ItemResult, evidence: list[EvidenceRef], cost: float | None = None,
                    cache_hit: bool = False) -> Judgment:
    if cost is None:
        cost = 0.0
        if result.completion is not None:
            c = result.completion
            cost = price_of(spec.model, c.tokens_in, c.tokens_out, judge_prices(spec)) * BATCH_DISCOUNT
    judgment = await judge_one(_BatchAnswer(spec, result, cost, cache_hit), record, [], passages,
                               run_id)
    # Batch latency is per job, not item; the evidence is what the request showed.
    return judgment.model_copy(update={"latency_s": 0.0, "evidence": evidence})


def _run_passages(run: AuditRun) -> dict[str, Passage]:
    from core.retrieval import load_index

    if run.closed_book or run.sources_path is None:
        return {}
    return load_index(Path(run.sources_path)).passages


def _set_status(store: Store, run_id: str, expected: int, pending: bool) -> None:
    judgments = store.judgments(run_id)
    complete = len(judgments) >= expected and all(
        j.status is not JudgmentStatus.failed for j in judgments)
    status = "running" if pending else ("complete" if complete else "incomplete")
    store.set_run_status(run_id, status)


# -- the whole run -----------------------------------------------------------------------------


async def run_all(store: Store, options: RunAllOptions, *, backend_for: BackendFactory = build_backend,
                  wait: bool = False, poll_s: float = 30.0, progress=None,
                  warn=None) -> CollectOutcome:
    """Judge every record: in-process judges now, LLM judges in batch jobs (or now)."""
    prepared = prepare(options, every_record=True, store=store, warn=warn)
    plan = prepared.plan
    batched = [s for s in plan.judges if options.batch and s.provider in BATCH_PROVIDERS]
    direct = [s for s in plan.judges if s not in batched]
    direct_new = direct_failed = 0
    if direct:
        done = await run_panel(store, plan, prepared.records, prepared.evidence_of,
                               prepared.passages, specs=direct, progress=progress,
                               concurrency=options.concurrency, warn=warn)
        direct_new = done.new_judgments
        direct_failed = sum(j.status is JudgmentStatus.failed for j in done.judgments
                            if j.judge in {s.name for s in direct})
    if not batched:
        outcome = CollectOutcome(plan.run_id, new_judgments=direct_new, failed=direct_failed,
                                 batched=False)
        _set_status(store, plan.run_id, len(prepared.records) * len(plan.judges), False)
        return outcome
    save_run(store, plan)
    await submit_run(store, prepared, backend_for=backend_for, max_per_job=options.max_per_job)
    outcome = await collect_run(store, plan.run_id, backend_for=backend_for, wait=wait,
                                poll_s=poll_s, attempts=options.attempts,
                                passages=prepared.passages)
    outcome.new_judgments += direct_new
    outcome.failed += direct_failed
    return outcome
