"""Gemini's batch mode through ``google-genai``: inlined requests, answered within 24 hours.

Flow: ``client.aio.batches.create(model, src=[InlinedRequest, ...])`` (REST
``models/{model}:batchGenerateContent``, an operation named ``batches/…``) →
``client.aio.batches.get(name)`` until the state is ``JOB_STATE_SUCCEEDED``,
``JOB_STATE_FAILED``, ``JOB_STATE_EXPIRED`` or ``JOB_STATE_CANCELLED`` → ``dest.inlined_responses``,
one ``InlinedResponse`` (a ``GenerateContentResponse`` or an ``error``) per request, in the
order of the requests. Each request carries ``metadata={"key": custom_id}``; when the
service echoes it back it is used, otherwise the order is. Generation config and response
parsing are the interactive provider's own (``GeminiProvider``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.batch.jobs import (
    CANCELLED,
    COMPLETED,
    EXPIRED,
    FAILED,
    RUNNING,
    BatchItem,
    ItemResult,
    JobSnapshot,
    MapErrors,
)
from core.errors import ProviderError
from core.providers.gemini import GeminiProvider, split_messages

if TYPE_CHECKING:
    from google.genai import types

STATES = {
    "JOB_STATE_UNSPECIFIED": RUNNING,
    "JOB_STATE_QUEUED": RUNNING,
    "JOB_STATE_PENDING": RUNNING,
    "JOB_STATE_RUNNING": RUNNING,
    "JOB_STATE_UPDATING": RUNNING,
    "JOB_STATE_PAUSED": RUNNING,
    "JOB_STATE_CANCELLING": RUNNING,
    "JOB_STATE_SUCCEEDED": COMPLETED,
    "JOB_STATE_PARTIALLY_SUCCEEDED": COMPLETED,
    "JOB_STATE_FAILED": FAILED,
    "JOB_STATE_EXPIRED": EXPIRED,
    "JOB_STATE_CANCELLED": CANCELLED,
}
LIST_LIMIT = 200  # jobs looked at when searching for one created before a crash


class GeminiBatch:
    """One judge's model on Gemini batch mode (Gemini Developer API)."""

    provider = "gemini"

    def __init__(self, chat: GeminiProvider) -> None:
        """Batches for ``chat``'s model, sent with its client (``make_provider``'s settings)."""
        self._chat = chat
        self.model = chat.model
        self._client = self._chat._client

    def inlined_request(self, item: BatchItem) -> types.InlinedRequest:
        """The same contents and generation config an interactive call would send."""
        from google.genai import types

        system, contents = split_messages(item.request.messages)
        return types.InlinedRequest(
            contents=contents,
            config=self._chat._config(item.request, system),
            metadata={"key": item.custom_id},
        )

    async def submit(self, items: list[BatchItem], *, tag: str) -> JobSnapshot:
        """Create one batch job; ``tag`` is its display name."""
        requests = [self.inlined_request(item) for item in items]
        async with self._errors():
            job = await self._client.aio.batches.create(
                model=self.model, src=requests, config={"display_name": f"assay-{tag}"}
            )
        return _snapshot(job)

    async def find_submitted(self, tag: str) -> JobSnapshot | None:
        """The job created for ``tag`` if one exists (a crash after create, before save)."""
        async with self._errors():
            pager = await self._client.aio.batches.list(config={"page_size": 100})
            seen = 0
            async for job in pager:
                if job.display_name == f"assay-{tag}":
                    return _snapshot(job)
                seen += 1
                if seen >= LIST_LIMIT:
                    break
        return None

    async def poll(self, job_id: str) -> JobSnapshot:
        async with self._errors():
            return _snapshot(await self._client.aio.batches.get(name=job_id))

    async def results(self, snapshot: JobSnapshot, custom_ids: list[str]) -> list[ItemResult]:
        """One result per inlined response (matched by echoed key, else by position)."""
        from google.genai import types

        job = types.BatchJob.model_validate(snapshot.raw)
        dest = job.dest
        if dest is not None and dest.file_name and not dest.inlined_responses:
            raise ProviderError(
                f"gemini batch {job.name} wrote its results to the file {dest.file_name}; "
                "Assay submits inlined requests and reads inlined responses only",
                provider="gemini",
                model=self.model,
            )
        responses = (dest.inlined_responses if dest else None) or []
        if not responses and snapshot.status != COMPLETED:
            reason = job.error.message if job.error and job.error.message else snapshot.status
            return [ItemResult(cid, error=f"batch {job.name} {snapshot.provider_status}: {reason}")
                    for cid in custom_ids]
        results = []
        for position, inlined in enumerate(responses):
            key = (inlined.metadata or {}).get("key")
            if key is None and position < len(custom_ids):
                key = custom_ids[position]
            if key is None:
                continue  # more responses than requests: nothing to attach it to
            results.append(self._result(key, inlined))
        return results

    def _result(self, custom_id: str, inlined: types.InlinedResponse) -> ItemResult:
        if inlined.error is not None:
            return ItemResult(custom_id, error=f"{inlined.error.code}: {inlined.error.message}")
        if inlined.response is None:
            return ItemResult(custom_id, error="the batch returned neither a response nor an error")
        try:
            return ItemResult(custom_id, completion=self._chat._completion(inlined.response))
        except ProviderError as exc:  # e.g. a blocked prompt: no candidates
            return ItemResult(custom_id, error=str(exc))

    async def aclose(self) -> None:
        await self._chat.aclose()

    def _errors(self) -> MapErrors:
        from google.genai import errors

        return MapErrors(errors.APIError, self._chat._map_api_error)


def _snapshot(job: Any) -> JobSnapshot:
    state = getattr(job.state, "value", job.state) or "JOB_STATE_UNSPECIFIED"
    if state not in STATES:
        raise ProviderError(f"gemini batch {job.name} has an unknown state {state!r}",
                            provider="gemini")
    return JobSnapshot(job.name, STATES[state], job.model_dump(mode="json", exclude_none=True),
                       state)
