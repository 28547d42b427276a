"""Build every provider, and the runner its calls go through, from one set of settings.

Judges, teachers (``generate``), the preference judge of ``finetune eval`` and batch jobs all
call ``make_provider``: each provider gets the same timeout, base URL and retries with the
same defaults (``ProviderSettings``), and ``make_runner`` gives every caller the same
concurrency, rate limit and retry count. Heavy SDKs are imported only here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ConfigError
from core.providers.base import Provider

if TYPE_CHECKING:
    import httpx

    from core.calls import CallRunner
    from core.store import Store

PROVIDERS = ("openai", "gemini", "local")
CHAT_PROVIDERS = ("openai", "gemini")  # chat over HTTP: what an LLM judge or a batch job uses
DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY"}


class ProviderSettings(BaseModel):
    """How a provider reaches its model and how its calls are run (the ``params`` of a judge,
    teacher or eval spec; keys other callers use are ignored here)."""

    model_config = ConfigDict(extra="ignore", frozen=True, use_attribute_docstrings=True)

    base_url: str | None = None
    """Server URL: an OpenAI-compatible server, or a proxy in front of the hosted API."""
    api_key_env: str | None = None
    """Environment variable that holds the key (default OPENAI_API_KEY / GEMINI_API_KEY)."""
    timeout: float = Field(60.0, gt=0)
    """Seconds per request."""
    max_retries: int = Field(3, ge=0)
    """Retries of a 429, 5xx or timeout (by the SDK where it retries, else by the runner)."""
    concurrency: int = Field(4, ge=1)
    """Requests in flight at once."""
    requests_per_minute: int = Field(0, ge=0)
    """Rate limit (0 = none)."""
    schema_format: Literal["auto", "json_schema", "json_object"] = "auto"
    """How a JSON schema is asked for (openai; ``auto`` probes a self-hosted server)."""
    fold_system: bool = False
    """Merge the system prompt into the user turn (openai; servers whose template has none)."""

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None, owner: str = "provider"
                    ) -> ProviderSettings:
        """Validated settings; a problem is one ConfigError naming ``owner`` and the key."""
        try:
            return cls.model_validate(dict(params or {}))
        except ValidationError as exc:
            problem = exc.errors()[0]
            key = ".".join(str(p) for p in problem["loc"])
            raise ConfigError(f"{owner}: {key} {problem['msg'].lower()}, got "
                              f"{problem.get('input')!r}") from exc


def provider_class(provider: str) -> type[Provider]:
    """The class of a provider (its ``capabilities`` without building a client)."""
    if provider == "openai":
        from core.providers.openai import OpenAIProvider

        return OpenAIProvider
    if provider == "gemini":
        from core.providers.gemini import GeminiProvider

        return GeminiProvider
    if provider == "local":
        from core.providers.local import LocalProvider

        return LocalProvider
    raise ConfigError(f"unknown provider {provider!r}: use one of {', '.join(PROVIDERS)}")


def make_provider(provider: str, model: str,
                  params: ProviderSettings | Mapping[str, Any] | None = None, *,
                  http_client: httpx.AsyncClient | None = None) -> Provider:
    """The provider ``provider`` for ``model`` with ``params`` (see ``ProviderSettings``).

    An empty ``model`` means the provider's default (the packaged model for ``local``, which
    runs in-process: no URL, timeout or retries). ``http_client`` replaces the HTTP client of
    a hosted API (tests answer through an ``httpx.MockTransport``).
    """
    settings = (params if isinstance(params, ProviderSettings)
                else ProviderSettings.from_params(params, f"provider {provider}"))
    if provider == "openai":
        from core.providers.openai import OpenAIProvider

        return OpenAIProvider(
            model, base_url=settings.base_url,
            api_key_env=settings.api_key_env or DEFAULT_KEY_ENV["openai"],
            timeout=settings.timeout, max_retries=settings.max_retries,
            http_client=http_client, schema_format=settings.schema_format,
            fold_system=settings.fold_system,
        )
    if provider == "gemini":
        from core.providers.gemini import GeminiProvider

        # The Gemini SDK does not retry (the runner does) and takes its timeout in ms.
        options: dict[str, Any] = {"timeout": int(settings.timeout * 1000)}
        if settings.base_url:
            options["base_url"] = settings.base_url
        if http_client is not None:
            options["httpx_async_client"] = http_client
        return GeminiProvider(model, api_key_env=settings.api_key_env or DEFAULT_KEY_ENV["gemini"],
                              http_options=options)
    if provider == "local":
        from core.providers.local import LocalProvider

        return LocalProvider(model) if model else LocalProvider()
    raise ConfigError(f"unknown provider {provider!r}: use one of {', '.join(PROVIDERS)}")


def make_runner(provider: Provider, store: Store,
                params: ProviderSettings | Mapping[str, Any] | None = None,
                prices: dict[str, tuple[float, float]] | None = None) -> CallRunner:
    """The ``CallRunner`` for ``provider``'s calls: the settings' concurrency, rate limit and
    retries (used where the provider's SDK does not retry itself)."""
    from core.calls import CallRunner

    settings = (params if isinstance(params, ProviderSettings)
                else ProviderSettings.from_params(params, f"provider {provider.name}"))
    return CallRunner(provider, store, concurrency=settings.concurrency,
                      requests_per_minute=settings.requests_per_minute,
                      retries=settings.max_retries, prices=prices or {})


__all__ = ["CHAT_PROVIDERS", "PROVIDERS", "ProviderSettings", "make_provider", "make_runner",
           "provider_class"]
