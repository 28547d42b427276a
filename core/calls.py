"""Every model call goes through a ``CallRunner``: cache, limits, retries, accounting.

The cache key is a hash of provider, model, messages, schema and parameters. Only
deterministic requests (temperature 0 or a fixed seed) are cached, so a re-run repeats no
paid call while sampling stays sampling.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from dataclasses import dataclass, field

from core.errors import ProviderError, RateLimited, Unavailable
from core.models import content_hash
from core.providers.base import ChatRequest, Completion, Provider
from core.store import Store

# USD per million tokens (input, output); a judges file may override per judge.
PRICES: dict[str, tuple[float, float]] = {
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-5-mini": (0.25, 2.00),
}


def price_of(model: str, tokens_in: int, tokens_out: int, prices: dict | None = None) -> float:
    """Cost in USD; unknown models (local, self-hosted) cost 0."""
    table = {**PRICES, **(prices or {})}
    per_in, per_out = table.get(model, (0.0, 0.0))
    return (tokens_in * per_in + tokens_out * per_out) / 1_000_000


def call_cache_key(provider: str, model: str, base_url: str | None, request: ChatRequest) -> str:
    """The cache key of a call: two servers serving the same model name never share answers."""
    return content_hash(
        {
            "provider": provider,
            "model": model,
            "base_url": str(base_url or ""),
            "request": request.model_dump(mode="json"),
        }
    )


@dataclass
class CallResult:
    completion: Completion
    latency_s: float
    cost_usd: float
    cache_hit: bool


class RateLimiter:
    """At most ``per_minute`` starts in any sliding 60-second window (0 = unlimited)."""

    def __init__(self, per_minute: int = 0) -> None:
        self.per_minute = per_minute
        self._starts: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if self.per_minute <= 0:
            return
        async with self._lock:
            while True:
                now = time.monotonic()
                while self._starts and now - self._starts[0] >= 60.0:
                    self._starts.popleft()
                if len(self._starts) < self.per_minute:
                    self._starts.append(now)
                    return
                await asyncio.sleep(60.0 - (now - self._starts[0]))


@dataclass
class CallRunner:
    """Runs requests on one provider with the store as cache and ledger."""

    provider: Provider
    store: Store
    concurrency: int = 4
    requests_per_minute: int = 0
    retries: int = 4
    backoff_s: float = 1.0
    prices: dict[str, tuple[float, float]] = field(default_factory=dict)
    calls_made: int = 0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency should be at least 1, got {self.concurrency}")
        self._semaphore = asyncio.Semaphore(self.concurrency)
        self._limiter = RateLimiter(self.requests_per_minute)

    def cache_key(self, request: ChatRequest) -> str:
        base_url = getattr(self.provider, "base_url", None)
        return call_cache_key(self.provider.name, self.provider.model, base_url, request)

    async def complete(self, request: ChatRequest) -> CallResult:
        key = self.cache_key(request)
        if request.deterministic and (hit := self.store.cached_call(key)):
            completion = Completion.model_validate(hit["response"])
            return CallResult(completion, hit["latency_s"], hit["cost_usd"], cache_hit=True)
        async with self._semaphore:
            await self._limiter.wait()
            started = time.monotonic()
            completion = await self._with_retries(request)
            latency = time.monotonic() - started
        self.calls_made += 1
        cost = price_of(self.provider.model, completion.tokens_in, completion.tokens_out, self.prices)
        self.store.save_call(
            key,
            provider=self.provider.name,
            model=self.provider.model,
            request=request.model_dump(mode="json"),
            response=completion.model_dump(mode="json"),
            tokens_in=completion.tokens_in,
            tokens_out=completion.tokens_out,
            latency_s=latency,
            cost_usd=cost,
        )
        return CallResult(completion, latency, cost, cache_hit=False)

    async def _with_retries(self, request: ChatRequest) -> Completion:
        # Providers whose SDK retries 429/5xx itself get one attempt here.
        attempts = 1 if self.provider.capabilities.sdk_retries else self.retries + 1
        for attempt in range(attempts):
            try:
                return await self.provider.complete(request)
            except (RateLimited, Unavailable) as exc:
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(_retry_delay(exc, attempt, self.backoff_s))
        raise ProviderError("unreachable")  # pragma: no cover


def _retry_delay(exc: ProviderError, attempt: int, base: float) -> float:
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, (int, float)) and retry_after >= 0:
        return min(float(retry_after), 60.0)
    return base * (2**attempt) * (0.5 + random.random())
