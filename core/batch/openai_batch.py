"""OpenAI's Batch API: a JSONL file of chat-completion requests, answered within 24 hours.

Flow: ``files.create(purpose="batch")`` → ``batches.create(endpoint="/v1/chat/completions",
completion_window="24h")`` → ``batches.retrieve`` until the batch is ``completed``,
``failed``, ``expired`` or ``cancelled`` → the ``output_file_id`` and ``error_file_id``
contents, one JSON line per request: ``{id, custom_id, response: {status_code, request_id,
body}, error}``. An expired batch still returns the requests it finished; the rest appear in
the error file (``batch_expired``). The request bodies are the interactive provider's own
(``OpenAIProvider``), so a batch judge is asked exactly what an interactive one is.
"""

from __future__ import annotations

import json
from typing import Any, Final

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
from core.providers.base import Completion
from core.providers.openai import OpenAIProvider

ENDPOINT: Final = "/v1/chat/completions"
COMPLETION_WINDOW: Final = "24h"
STATUSES = {
    "validating": RUNNING,
    "in_progress": RUNNING,
    "finalizing": RUNNING,
    "cancelling": RUNNING,
    "completed": COMPLETED,
    "failed": FAILED,
    "expired": EXPIRED,
    "cancelled": CANCELLED,
}
TAG_KEY = "assay_job"  # batch metadata key holding the job's content hash


class OpenAIBatch:
    """One judge's model on the OpenAI Batch API (or a server that implements it)."""

    provider = "openai"

    def __init__(self, chat: OpenAIProvider) -> None:
        """Batches for ``chat``'s model, sent with its client (``make_provider``'s settings)."""
        # The wire format comes from the interactive provider; "auto" cannot probe in a batch.
        if chat.schema_format == "auto":
            chat.schema_format = "json_schema"
        self._chat = chat
        self.model = chat.model
        self._client = self._chat._client

    def request_line(self, item: BatchItem) -> dict[str, Any]:
        """One line of the batch input file: the same body an interactive call would send."""
        body = self._chat._arguments(item.request)
        body.update(body.pop("extra_body", {}))
        return {"custom_id": item.custom_id, "method": "POST", "url": ENDPOINT, "body": body}

    def input_file(self, items: list[BatchItem]) -> bytes:
        lines = (json.dumps(self.request_line(item), ensure_ascii=False) for item in items)
        return ("\n".join(lines) + "\n").encode("utf-8")

    async def submit(self, items: list[BatchItem], *, tag: str) -> JobSnapshot:
        """Upload the requests and create the batch; ``tag`` goes into its metadata."""
        async with self._errors():
            upload = await self._client.files.create(
                file=(f"assay-{tag[:16]}.jsonl", self.input_file(items), "application/jsonl"),
                purpose="batch",
            )
            batch = await self._client.batches.create(
                input_file_id=upload.id,
                endpoint=ENDPOINT,
                completion_window=COMPLETION_WINDOW,
                metadata={TAG_KEY: tag},
            )
        return _snapshot(batch)

    async def find_submitted(self, tag: str) -> JobSnapshot | None:
        """The batch created for ``tag`` if one exists (a crash after create, before save)."""
        async with self._errors():
            page = await self._client.batches.list(limit=100)
        for batch in page.data:
            if (batch.metadata or {}).get(TAG_KEY) == tag:
                return _snapshot(batch)
        return None

    async def poll(self, job_id: str) -> JobSnapshot:
        async with self._errors():
            return _snapshot(await self._client.batches.retrieve(job_id))

    async def results(self, snapshot: JobSnapshot, custom_ids: list[str]) -> list[ItemResult]:
        """Every line of the output and error files, parsed; a failed batch has only errors."""
        raw = snapshot.raw
        results: dict[str, ItemResult] = {}
        for file_id in (raw.get("output_file_id"), raw.get("error_file_id")):
            if not file_id:
                continue
            async with self._errors():
                content = await self._client.files.content(file_id)
            for line in content.text.splitlines():
                if line.strip():
                    result = parse_output_line(json.loads(line))
                    results.setdefault(result.custom_id, result)
        if snapshot.status == FAILED and not results:
            reason = _batch_errors(raw) or "the batch failed"
            return [ItemResult(cid, error=f"batch {snapshot.job_id} failed: {reason}")
                    for cid in custom_ids]
        return list(results.values())

    async def aclose(self) -> None:
        await self._chat.aclose()

    def _errors(self) -> MapErrors:
        import openai

        return MapErrors(openai.OpenAIError, self._chat._map_error)


def parse_output_line(line: dict[str, Any]) -> ItemResult:
    """One output/error file line → a completion, or the provider's error text."""
    custom_id = str(line.get("custom_id"))
    error = line.get("error")
    response = line.get("response") or {}
    if error:
        return ItemResult(custom_id, error=f"{error.get('code')}: {error.get('message')}")
    status = response.get("status_code")
    body = response.get("body") or {}
    if status != 200:
        detail = body.get("error", body) if isinstance(body, dict) else body
        message = detail.get("message") if isinstance(detail, dict) else detail
        return ItemResult(custom_id, error=f"HTTP {status}: {message}")
    choices = body.get("choices") or []
    if not choices:
        return ItemResult(custom_id, error="the response has no choices")
    usage = body.get("usage") or {}
    return ItemResult(
        custom_id,
        completion=Completion(
            text=choices[0].get("message", {}).get("content") or "",
            tokens_in=usage.get("prompt_tokens", 0),
            tokens_out=usage.get("completion_tokens", 0),
            model=body.get("model", ""),
            finish_reason=choices[0].get("finish_reason"),
        ),
    )


def _snapshot(batch: Any) -> JobSnapshot:
    raw = batch.model_dump(mode="json")
    if batch.status not in STATUSES:
        raise ProviderError(f"OpenAI batch {batch.id} has an unknown status {batch.status!r}",
                            provider="openai")
    return JobSnapshot(batch.id, STATUSES[batch.status], raw, batch.status)


def _batch_errors(raw: dict[str, Any]) -> str:
    errors = (raw.get("errors") or {}).get("data") or []
    return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
