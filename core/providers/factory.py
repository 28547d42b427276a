"""Build a provider from its name, model and parameters (heavy SDKs imported only here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.errors import ConfigError
from core.providers.base import Provider

PROVIDER_OPTIONS = {
    # fold_system / schema_format: for servers such as llama-cpp-python (see OpenAIProvider).
    "openai": ("base_url", "api_key_env", "timeout", "max_retries", "fold_system", "schema_format"),
    "gemini": ("api_key_env",),
    "local": (),
}


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
    raise ConfigError(f"unknown provider {provider!r}: use one of {', '.join(PROVIDER_OPTIONS)}")


def make_provider(provider: str, model: str, params: dict[str, Any] | None = None) -> Provider:
    """A provider instance; ``params`` may hold more keys than the provider takes.

    An empty ``model`` means the provider's default (the packaged model for ``local``).
    """
    # Each class takes its own keyword options (PROVIDER_OPTIONS), which Provider cannot state.
    cls: Callable[..., Provider] = provider_class(provider)
    given = params or {}
    kwargs = {k: given[k] for k in PROVIDER_OPTIONS[provider] if k in given}
    return cls(model, **kwargs)
