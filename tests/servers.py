"""Real local servers for tests, started as subprocesses on 127.0.0.1.

Import the fixtures into a test module: ``from servers import llama_server  # noqa: F401``.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

LLAMA_MODEL_ALIAS = "gemma-3-270m"
STARTUP_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_or_skip(module: str, what: str) -> None:
    """Skip when ``module`` is missing, unless ASSAY_REQUIRE_SERVER is set (CI): then fail."""
    if importlib.util.find_spec(module) is not None:
        return
    reason = f"{what} needs `{module}` (pip install 'llama-cpp-python[server]')"
    if os.environ.get("ASSAY_REQUIRE_SERVER"):
        pytest.fail(f"ASSAY_REQUIRE_SERVER is set but {reason}", pytrace=False)
    pytest.skip(reason)


def wait_until_ready(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            pytest.fail(f"the server exited with {process.returncode}:\n{tail}", pytrace=False)
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:]
    pytest.fail(f"the server was not ready at {url} after {timeout:.0f} s:\n{tail}", pytrace=False)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An OpenAI-compatible llama-cpp-python server running the packaged Gemma 3 270M.

    Yields the base URL (``http://127.0.0.1:<port>/v1``). The packaged GGUF carries no
    ``tokenizer.chat_template`` (the server would fall back to the llama-2 format), so the
    built-in ``gemma`` format is named; it drops system messages, so clients send
    ``fold_system=True`` as Gemma's own template does. JSON schemas are accepted only as
    ``{"type": "json_object", "schema": ...}`` (see ``OpenAIProvider(schema_format=...)``).
    """
    require_or_skip("llama_cpp", "the llama.cpp server test")
    require_or_skip("uvicorn", "the llama.cpp server test")
    from core.local_model import gguf_path

    port = free_port()
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(gguf_path()),
        "--model_alias", LLAMA_MODEL_ALIAS,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", "4096",
        "--chat_format", "gemma",
        "--n_threads", str(max(1, min(4, os.cpu_count() or 1))),
        "--seed", "0",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_ready(f"{base_url}/models", process, log, STARTUP_TIMEOUT_S)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
