"""The one provider contract: ``await provider.complete(ChatRequest) -> Completion``.

A provider is a wire format plus an authenticated client. Caching, concurrency, rate limits,
cost accounting and the store live in ``core.calls`` so that every provider gets them the
same way. Keys come from the environment only and are never stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field


@dataclass(frozen=True)
class Capabilities:
    json_schema: bool = False  # honours a JSON schema for structured output
    logprobs: bool = False  # can score continuations by log-likelihood
    seed: bool = False  # honours a fixed sampling seed
    sdk_retries: bool = False  # the client library retries 429/5xx itself


class ChatRequest(BaseModel):
    """A provider-neutral chat request; its canonical JSON is part of the cache key."""

    messages: list[dict[str, str]]
    json_schema: dict[str, Any] | None = None
    schema_name: str = "verdict"
    temperature: float = 0.0
    max_tokens: int = 512
    seed: int | None = 0
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def deterministic(self) -> bool:
        return self.temperature == 0.0 or self.seed is not None


class Completion(BaseModel):
    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    model: str = ""
    finish_reason: str | None = None


@runtime_checkable
class Provider(Protocol):
    name: str  # "openai", "gemini", "local"
    model: str
    capabilities: Capabilities

    async def complete(self, request: ChatRequest) -> Completion: ...


def connection_refused(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it was raised from) is httpx's ``ConnectError``: no
    connection could be made at all, as opposed to one cut mid-body or timed out."""
    seen: BaseException | None = exc
    while seen is not None:
        for cls in type(seen).__mro__:
            if cls.__name__ == "ConnectError" and cls.__module__.split(".")[0] in ("httpx", "httpx2"):
                return True
        seen = seen.__cause__ or seen.__context__
    return False
