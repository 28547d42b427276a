"""What every provider batch backend shares: items, job snapshots, results, estimates.

A backend turns ``BatchItem``s (a custom id + a ``ChatRequest``) into one provider job,
reports the job's state as a ``JobSnapshot`` and, once the job is over, returns one
``ItemResult`` per item it knows about. Items the provider never answered are reported by
the caller as failures: nothing is dropped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from core.calls import price_of
from core.providers.base import ChatRequest, Completion

BATCH_DISCOUNT = 0.5  # both OpenAI's Batch API and Gemini's batch mode cost half
EXPECTED_OUTPUT_TOKENS = 200  # a verdict JSON object is usually 100-250 tokens

# Normalised job states; the provider's own word is kept in the raw object.
SUBMITTING = "submitting"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
EXPIRED = "expired"
CANCELLED = "cancelled"
COLLECTED = "collected"
TERMINAL = frozenset({COMPLETED, FAILED, EXPIRED, CANCELLED})


@dataclass(frozen=True)
class BatchItem:
    custom_id: str
    request: ChatRequest


@dataclass
class JobSnapshot:
    """A job's state as the provider reported it (``raw`` is its JSON object)."""

    job_id: str
    status: str
    raw: dict[str, Any]
    provider_status: str = ""

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass
class ItemResult:
    """One item's outcome: a completion, or an error text (never both)."""

    custom_id: str
    completion: Completion | None = None
    error: str | None = None


class BatchBackend(Protocol):
    provider: str  # "openai" or "gemini"
    model: str

    async def submit(self, items: list[BatchItem], *, tag: str) -> JobSnapshot: ...

    async def find_submitted(self, tag: str) -> JobSnapshot | None: ...

    async def poll(self, job_id: str) -> JobSnapshot: ...

    async def results(self, snapshot: JobSnapshot, custom_ids: list[str]) -> list[ItemResult]: ...

    async def aclose(self) -> None: ...


def estimate_tokens(text: str) -> int:
    """Tokens in ``text``: tiktoken's o200k_base when it is installed and cached, else chars/4."""
    encoder = _encoder()
    if encoder is not None:
        return len(encoder.encode(text))
    return max(1, round(len(text) / 4)) if text else 0


_ENCODER: list[Any] = []


def _encoder() -> Any:
    if not _ENCODER:
        try:
            import tiktoken

            _ENCODER.append(tiktoken.get_encoding("o200k_base"))
        except Exception:  # not installed, or the encoding cannot be fetched offline
            _ENCODER.append(None)
    return _ENCODER[0]


@dataclass
class Estimate:
    """Tokens and USD for a set of requests before anything is sent."""

    requests: int = 0
    tokens_in: int = 0
    tokens_out_expected: int = 0
    tokens_out_max: int = 0
    cost_usd: float = 0.0
    cost_usd_max: float = 0.0
    per_judge: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, judge: str, model: str, request: ChatRequest, *, batch: bool,
            prices: dict[str, tuple[float, float]] | None = None) -> None:
        tokens_in = sum(estimate_tokens(m["content"]) for m in request.messages)
        if request.json_schema is not None:  # the schema is billed as input too
            tokens_in += estimate_tokens(json.dumps(request.json_schema))
        expected = min(request.max_tokens, EXPECTED_OUTPUT_TOKENS)
        factor = BATCH_DISCOUNT if batch else 1.0
        cost = price_of(model, tokens_in, expected, prices) * factor
        cost_max = price_of(model, tokens_in, request.max_tokens, prices) * factor
        row = self.per_judge.setdefault(
            judge, {"model": model, "batch": batch, "requests": 0, "tokens_in": 0,
                    "tokens_out_expected": 0, "cost_usd": 0.0, "cost_usd_max": 0.0}
        )
        for target in (row, self.__dict__):
            target["requests"] += 1
            target["tokens_in"] += tokens_in
            target["tokens_out_expected"] += expected
            target["cost_usd"] += cost
            target["cost_usd_max"] += cost_max
        self.tokens_out_max += request.max_tokens


class MapErrors:
    """Async context manager mapping one SDK's exceptions to ``core.errors`` (``raise … from``)."""

    def __init__(self, sdk_error: type[BaseException], mapper: Callable[[Any], Exception]) -> None:
        self._sdk_error = sdk_error
        self._mapper = mapper

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if isinstance(exc, self._sdk_error):
            raise self._mapper(exc) from exc
        return False
