"""Reading the TOML files a user writes (gate policy, judges, teacher): one clear line on error."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from core.errors import ConfigError


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """The tables of the TOML file at ``path``; a ConfigError naming the file (and ``what`` it
    is, e.g. "the policy") when it cannot be read or is not valid TOML."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
