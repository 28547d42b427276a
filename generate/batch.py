"""``generate qa --batch``: the teacher's requests through the provider's batch service.

The same slots, requests, parsing, duplicate checks and output file as ``generate_qa``; only
the transport differs. Each slot's first request goes into a recorded job
(``core.batch.submit``); when a job is over, each answer is turned into a record (or a
failure) as an interactive answer would be, and a slot whose answer was unusable is asked
again with its next attempt's request, in a new job, until ``attempts`` are spent. Spare
slots replace failed or duplicate ones until ``n`` records exist. Every step is in SQLite
and the output file, so a re-run of the same command (a minute or a day later, after a
crash or not) collects what finished and submits what is missing; nothing is sent twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from core.batch.jobs import BATCH_DISCOUNT, COLLECTED, Estimate, ItemResult
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
from core.errors import ConfigError
from core.models import JudgeSpec, QARecord, content_hash
from core.providers.base import ChatRequest, Completion, Provider
from core.store import Store
from generate.dedup import DuplicateFinder
from generate.qa import (
    GenerateOptions,
    GenerateOutcome,
    Generation,
    Progress,
    Slot,
    build_request,
    load_template,
    plan_slots,
    read_existing,
    start_generation,
)

TEACHER = "teacher"  # the judge column of the batch tables


@dataclass
class BatchOutcome:
    generation: GenerateOutcome
    submitted: int = 0  # requests sent in new jobs by this call
    pending_jobs: int = 0  # jobs the provider has not finished


def custom_id(slot_id: str, attempt: int) -> str:
    return f"g{attempt}-" + content_hash(slot_id)[:24]


async def generate_batch(
    store: Store,
    provider: Provider,
    spec: JudgeSpec,
    options: GenerateOptions,
    *,
    backend_for: BackendFactory = build_backend,
    wait: bool = False,
    poll_s: float = 60.0,
    max_per_job: int | None = None,
    progress: Progress | None = None,
    dedup: DuplicateFinder | None = None,
) -> BatchOutcome:
    """Collect finished jobs, submit what is missing; with ``wait``, until no job is open.

    ``provider`` is the teacher as ``generate_qa`` would use it (its name, model and cache
    key); ``spec`` names its batch service (``build_backend``).
    """
    if spec.provider not in BATCH_PROVIDERS:
        raise ConfigError(f"--batch needs an openai or gemini teacher, not {spec.provider}")
    job, todo = start_generation(store, provider, options, progress, dedup, batch=True)
    state = _BatchState(store, job, spec, {s.id: s for s in todo}, backend_for, max_per_job)
    outcome = BatchOutcome(job.outcome)
    while True:
        await state.collect()
        outcome.submitted += await state.submit_missing(todo)
        outcome.pending_jobs = len(state.open_jobs())
        if not outcome.pending_jobs or not wait:
            break
        await asyncio.sleep(poll_s)
    if outcome.pending_jobs:
        store.set_run_status(job.outcome.run_id, "running")
    else:
        job.finish()
    return outcome


def estimate_generation(spec: JudgeSpec, options: GenerateOptions, *, batch: bool,
                        store: Store | None = None) -> tuple[Estimate, list[dict]]:
    """Tokens and cost of the first requests a run would send (records already in the output
    file and cached answers excluded; retries and spare slots are not counted), and the
    requests themselves as ``{"record_id", "request"}`` rows. Builds no client: no key needed."""
    from core.providers.factory import provider_class
    from core.sources import load_passages

    structured = provider_class(spec.provider).capabilities.json_schema
    _, template = load_template(options, structured)
    existing = read_existing(options.out, repair=False)  # a dry run changes no file
    slots = [s for s in plan_slots(load_passages(options.sources), options.n, options.seed)
             if s.id not in existing]
    estimate, rows = Estimate(), []
    for slot in slots:
        request = build_request(template, slot, options, 0, structured)
        if store is not None and store.cached_call(call_key(spec, request)):
            continue
        estimate.add(TEACHER, spec.model, request, batch=batch)
        rows.append({"record_id": slot.id, "request": request.model_dump(mode="json")})
    return estimate, rows


@dataclass
class _BatchState:
    store: Store
    job: Generation
    spec: JudgeSpec
    slots: dict[str, Slot]
    backend_for: BackendFactory
    max_per_job: int | None

    @property
    def run_id(self) -> str:
        return self.job.outcome.run_id

    def open_jobs(self) -> list[dict[str, Any]]:
        return [j for j in self.store.batch_jobs(self.run_id) if j["status"] != COLLECTED]

    def _in_flight(self) -> set[str]:
        return {item["record_id"] for j in self.open_jobs()
                for item in self.store.batch_items(j["key"])}

    def _ever_submitted(self) -> set[str]:
        return {item["record_id"] for j in self.store.batch_jobs(self.run_id)
                for item in self.store.batch_items(j["key"])}

    # -- collecting ------------------------------------------------------------------------

    async def collect(self) -> None:
        jobs = self.open_jobs()
        if not jobs:
            return
        backend = self.backend_for(self.spec)
        try:
            for row in jobs:
                await self._collect_job(row, backend)
        finally:
            await backend.aclose()

    async def _collect_job(self, row: dict[str, Any], backend) -> None:
        async def settle(item: dict[str, Any], result: ItemResult) -> str:
            return self._settle(item, result)

        def retry(item: dict[str, Any], status: str, _result: ItemResult | None):
            return self._next_attempt(item) if status == "retry" else None

        await collect_job(self.store, row, self.spec, backend, settle, retry, self.max_per_job)

    def _settle(self, item: dict[str, Any], result: ItemResult) -> str:
        """Write the record or record the failure; "retry" when attempts remain."""
        slot = self.slots.get(item["record_id"])
        if slot is None or slot.id in self.job.written_ids:
            return "ok"  # written before a crash in the middle of this loop
        request = ChatRequest.model_validate(item["request"])
        attempt = item["attempt"]
        completion = result.completion
        if completion is None:
            error, raw = f"attempt {attempt}: {result.error}", ""
        else:
            cost = price_of(self.spec.model, completion.tokens_in, completion.tokens_out) \
                * BATCH_DISCOUNT
            self.job.count(completion, cost)
            cache_completion(self.store, self.spec, request, completion, cost)
            raw = completion.text
            try:
                record = self._record(slot, request, completion, attempt, cost)
            except ValueError as exc:
                error = f"attempt {attempt}: {exc}"
            else:
                return self._write(slot, record, raw)
        if attempt < self.job.options.attempts and self._needed():
            return "retry"
        self.job.settle(slot, None, error, raw)
        self.job.report()
        return "failed"

    def _record(self, slot: Slot, request: ChatRequest, completion: Completion, attempt: int,
                cost: float) -> QARecord:
        spent = [completion.tokens_in, completion.tokens_out, cost]
        return self.job.make_record(slot, request, completion, attempt - 1, spent, 0.0, False)

    def _write(self, slot: Slot, record: QARecord, raw: str) -> str:
        before = self.job.outcome.written
        self.job.settle(slot, record, "", raw)
        self.job.report()
        return "ok" if self.job.outcome.written > before else "duplicate"

    def _next_attempt(self, item: dict[str, Any]) -> dict[str, Any]:
        slot = self.slots[item["record_id"]]
        attempt = item["attempt"] + 1
        request = build_request(self.job.template, slot, self.job.options, attempt - 1,
                                self.job.structured)
        return {"custom_id": custom_id(slot.id, attempt), "record_id": slot.id,
                "attempt": attempt, "request": request.model_dump(mode="json")}

    def _needed(self) -> bool:
        return self.job.outcome.total < self.job.options.n

    # -- submitting ------------------------------------------------------------------------

    async def submit_missing(self, todo: list[Slot]) -> int:
        """Submit the next slots (cached answers are used at once) until, with the records
        written and the slots in flight, ``n`` records can exist."""
        submitted = self._ever_submitted()
        need = self.job.options.n - self.job.outcome.total - len(self._in_flight())
        items = []
        for slot in todo:
            if need <= 0:
                break
            if slot.id in submitted:
                continue
            request = build_request(self.job.template, slot, self.job.options, 0,
                                    self.job.structured)
            hit = self.store.cached_call(call_key(self.spec, request))
            if hit is not None:  # answered before (interactively or in an earlier batch)
                completion = Completion.model_validate(hit["response"])
                self.job.count(completion, 0.0)
                try:
                    record = self._record(slot, request, completion, 1, hit["cost_usd"])
                except ValueError:
                    pass  # an unusable cached answer: ask the service instead
                else:
                    need -= self._write(slot, record, completion.text) == "ok"
                    continue
            items.append({"custom_id": custom_id(slot.id, 1), "record_id": slot.id,
                          "attempt": 1, "request": request.model_dump(mode="json")})
            need -= 1
        if items:
            await submit_items(self.store, self.run_id, self.spec, items, self.backend_for,
                               self.max_per_job)
        return len(items)


def wait_note(outcome: BatchOutcome) -> str:
    if not outcome.pending_jobs:
        return "all batch jobs collected"
    return (f"{outcome.pending_jobs} batch job(s) still running: run the same command again "
            "(or add --wait) to collect them")

