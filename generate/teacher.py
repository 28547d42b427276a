"""Teacher files: one ``[teacher]`` table, shaped like a judge (provider, model, params)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from core.errors import ConfigError


def load_teacher(
    path: Path | None, provider: str, model: str, base_url: str | None
) -> tuple[str, str, dict[str, Any]]:
    """(provider, model, params) from a teacher file, else from the command-line options."""
    if path is None:
        return provider, model, ({"base_url": base_url} if base_url else {})
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the teacher file ({exc.strerror or exc})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    table = data.get("teacher")
    if not isinstance(table, dict) or "provider" not in table:
        raise ConfigError(f"{path}: needs a [teacher] table with a provider (openai, gemini, local)")
    return str(table["provider"]), str(table.get("model", "")), dict(table.get("params", {}))
