"""Submitting recorded batch jobs, shared by ``audit run --batch`` and ``generate qa --batch``.

A job is written to the store *before* it is submitted (status ``submitting``, keyed by a
hash of its items) and updated with the provider's job id and object as soon as they exist,
so a process that dies between the two is answered by ``find_submitted`` in the next one
rather than submitting the same requests twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from core.batch.jobs import COLLECTED, SUBMITTING, BatchBackend, BatchItem, ItemResult, JobSnapshot
from core.errors import ConfigError
from core.models import JudgeSpec, content_hash
from core.providers.base import ChatRequest, Completion
from core.providers.factory import CHAT_PROVIDERS, ProviderSettings, make_provider
from core.store import Store

if TYPE_CHECKING:
    from core.providers.gemini import GeminiProvider
    from core.providers.openai import OpenAIProvider

BATCH_PROVIDERS = CHAT_PROVIDERS  # every chat provider has a batch service
MAX_PER_JOB = {"openai": 50_000, "gemini": 1_000}  # OpenAI's limit; Gemini's inline size

BackendFactory = Callable[[JudgeSpec], BatchBackend]


def build_backend(spec: JudgeSpec) -> BatchBackend:
    """The batch service of ``spec``'s provider, keys from the environment; its interactive
    provider comes from ``make_provider`` with the same settings as an interactive judge's."""
    if spec.provider not in CHAT_PROVIDERS:
        raise ConfigError(f"{spec.name}: provider {spec.provider} has no batch service;"
                          " only openai and gemini can use --batch")
    chat = make_provider(spec.provider, spec.model,
                         ProviderSettings.from_params(spec.params, f"judge {spec.name}"))
    if spec.provider == "openai":
        from core.batch.openai_batch import OpenAIBatch

        return OpenAIBatch(cast("OpenAIProvider", chat))
    from core.batch.gemini_batch import GeminiBatch

    return GeminiBatch(cast("GeminiProvider", chat))


def call_key(spec: JudgeSpec, request: ChatRequest) -> str:
    """The ``CallRunner`` cache key of ``request`` to ``spec``'s provider and model."""
    from core.calls import call_cache_key

    base_url = spec.params.get("base_url") if spec.provider == "openai" else None
    return call_cache_key(spec.provider, spec.model, base_url, request)


def cache_completion(store: Store, spec: JudgeSpec, request: ChatRequest, completion: Completion,
                     cost: float) -> None:
    """Keep a batch answer in the call cache, where an interactive re-run finds it."""
    if request.deterministic:
        store.save_call(call_key(spec, request), provider=spec.provider, model=spec.model,
                        request=request.model_dump(mode="json"),
                        response=completion.model_dump(mode="json"),
                        tokens_in=completion.tokens_in, tokens_out=completion.tokens_out,
                        latency_s=0.0, cost_usd=cost)


async def submit_items(store: Store, run_id: str, spec: JudgeSpec, items: list[dict[str, Any]],
                       backend_for: BackendFactory, max_per_job: int | None) -> list[str]:
    """Record and submit ``items`` (``custom_id``, ``record_id``, ``attempt``, ``request``) in
    jobs of at most ``max_per_job``; returns the jobs' keys."""
    size = max_per_job or MAX_PER_JOB[spec.provider]
    # Jobs already collected for this judge make a later re-submission of the same items
    # (after a whole job expired, say) a new job rather than the old one.
    generation = sum(1 for j in store.batch_jobs(run_id)
                     if j["judge"] == spec.name and j["status"] == COLLECTED)
    keys = []
    backend = backend_for(spec)
    try:
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            key = content_hash({"run": run_id, "judge": spec.name, "provider": spec.provider,
                                "model": spec.model, "generation": generation,
                                "items": [[i["custom_id"], i["request"]] for i in chunk]})
            added = store.add_batch_job(key, run_id=run_id, judge=spec.name,
                                        provider=spec.provider, model=spec.model, items=chunk)
            if added or job_row(store, run_id, key)["job_id"] is None:
                await send_job(store, key, chunk, backend)
            keys.append(key)
    finally:
        await backend.aclose()
    return keys


async def send_job(store: Store, key: str, items: list[dict[str, Any]],
                   backend: BatchBackend) -> JobSnapshot:
    """Submit a recorded job, unless the provider already has it (a crash after create)."""
    snapshot = await backend.find_submitted(key)
    if snapshot is None:
        batch_items = [BatchItem(i["custom_id"], ChatRequest.model_validate(i["request"]))
                       for i in items]
        snapshot = await backend.submit(batch_items, tag=key)
    store.update_batch_job(key, status=snapshot.status, raw=snapshot.raw, job_id=snapshot.job_id)
    return snapshot


Settle = Callable[[dict[str, Any], ItemResult], Awaitable[str]]
Retry = Callable[[dict[str, Any], str, ItemResult | None], "dict[str, Any] | None"]


@dataclass
class Collected:
    """What ``collect_job`` did: the job's state, and the keys of jobs holding its retries."""

    snapshot: JobSnapshot
    retry_keys: list[str] = field(default_factory=list)
    retried: int = 0


async def collect_job(store: Store, row: dict[str, Any], spec: JudgeSpec, backend: BatchBackend,
                      settle: Settle, retry: Retry, max_per_job: int | None = None) -> Collected:
    """Poll one recorded job; once it is over, settle its items and resubmit the failed ones.

    ``settle(item, result)`` stores one pending item's outcome and returns its new status;
    ``retry(item, status, result)`` returns the next attempt's item, or None, for every item,
    also those settled before a crash in the middle of this loop. The retries go into one new
    job, whose key is a hash of its items: after a crash here it is found, not sent again.
    The job is marked collected last.
    """
    items = store.batch_items(row["key"])
    if row["status"] == SUBMITTING or not row["job_id"]:
        snapshot = await send_job(store, row["key"], items, backend)
    else:
        snapshot = await backend.poll(row["job_id"])
        store.update_batch_job(row["key"], status=snapshot.status, raw=snapshot.raw)
    collected = Collected(snapshot)
    if not snapshot.terminal:
        return collected
    ids = [i["custom_id"] for i in items]
    results = {r.custom_id: r for r in await backend.results(snapshot, ids)}
    retries = []
    for item in items:
        result = results.get(item["custom_id"])
        status = item["status"]
        if status == "pending":
            status = await settle(item, result or ItemResult(
                item["custom_id"], error=f"batch {snapshot.job_id} ({snapshot.provider_status}) "
                                         "returned no result for this request"))
            store.set_batch_item_status(row["key"], item["custom_id"], status)
        if (next_item := retry(item, status, result)) is not None:
            retries.append(next_item)
    if retries:
        collected.retry_keys = await submit_items(store, row["run_id"], spec, retries,
                                                  lambda _spec: KeepOpen(backend), max_per_job)
        collected.retried = len(retries)
    store.update_batch_job(row["key"], status=COLLECTED, raw=snapshot.raw)
    return collected


def job_row(store: Store, run_id: str, key: str) -> dict[str, Any]:
    return next(j for j in store.batch_jobs(run_id) if j["key"] == key)


class KeepOpen:
    """A backend whose ``aclose`` does nothing: for submitting retries while collecting."""

    def __init__(self, backend: BatchBackend) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    async def aclose(self) -> None:
        return None
