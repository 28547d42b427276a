"""Fixtures of the reliability suite: the real llama.cpp server (or ASSAY_LLAMA_URL)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # malformed.py, scenarios.py
from servers import llama_server  # noqa: E402, F401  (the session fixture)


@pytest.fixture(scope="session")
def llama_url(request) -> str:
    """Base URL of an OpenAI-compatible llama.cpp server running the packaged Gemma GGUF.

    ASSAY_LLAMA_URL reuses a server already running; otherwise one is started for the session.
    """
    return os.environ.get("ASSAY_LLAMA_URL") or request.getfixturevalue("llama_server")
