"""Teacher files: one ``[teacher]`` table, shaped like a judge (provider, model, params).

    [teacher]
    provider = "openai"            # openai (and every compatible server), gemini, local
    model = "gemma-3-270m"
    [teacher.params]
    base_url = "http://127.0.0.1:8080/v1"
    fold_system = true             # the server's chat format has no system role
    timeout = 600                  # seconds per request
    max_tokens = 400               # per request; also temperature, requests_per_minute
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.toml_files import read_toml

PROVIDERS = ("local", "openai", "gemini")
GENERATION_PARAMS = ("max_tokens", "temperature", "requests_per_minute", "max_retries")


def load_teacher(
    path: Path | None,
    provider: str,
    model: str,
    base_url: str | None = None,
    fold_system: bool = False,
) -> tuple[str, str, dict[str, Any]]:
    """(provider, model, params) from a teacher file, else from the command-line options.

    ``base_url`` and ``fold_system``, when given, are added to the file's params.
    """
    params: dict[str, Any] = {}
    if path is not None:
        provider, model, params = _read(path)
    if provider not in PROVIDERS:
        raise ConfigError(f"unknown teacher provider {provider!r}: use one of {', '.join(PROVIDERS)}")
    if base_url:
        params["base_url"] = base_url
    if fold_system:
        params["fold_system"] = True
    return provider, model, params


def generation_params(params: dict[str, Any]) -> dict[str, Any]:
    """The params that shape requests rather than the provider (max_tokens, ...)."""
    return {k: params[k] for k in GENERATION_PARAMS if k in params}


def _read(path: Path) -> tuple[str, str, dict[str, Any]]:
    data = read_toml(path, "the teacher file")
    table = data.get("teacher")
    if not isinstance(table, dict) or "provider" not in table:
        raise ConfigError(f"{path}: needs a [teacher] table with a provider (openai, gemini, local)")
    params = table.get("params", {})
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: [teacher.params] should be a table, got {type(params).__name__}")
    return str(table["provider"]), str(table.get("model", "")), dict(params)
