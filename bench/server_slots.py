"""Does Assay keep a self-hosted OpenAI-compatible server's parallel slots busy?

Sends the same judge requests an audit sends (real prompts from the bundled example, through
``OpenAIProvider`` + ``CallRunner``) to a real OpenAI-compatible server on the packaged Gemma
3 270M GGUF: once to a server with 1 slot at client concurrency 1, once to a server with N
slots at concurrency N, in the same run, the same requests. Records requests/s, output
tokens/s, the peak number of requests Assay had at the server at once, and the servers'
command lines.

With ``--server-bin`` the server is llama.cpp's C++ ``llama-server`` (``--parallel N``: N slots
decoded in one batch). Build it from the llama.cpp that llama-cpp-python vendors::

    pip download --no-binary :all: --no-deps llama-cpp-python==0.3.36
    tar xzf llama_cpp_python-0.3.36.tar.gz
    cd llama_cpp_python-0.3.36/vendor/llama.cpp
    cmake -B build -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DCMAKE_BUILD_TYPE=Release
    cmake --build build --target llama-server -j2        # build/bin/llama-server

Without it the server is llama-cpp-python's (``python -m llama_cpp.server``), which has no
parallel slots and answers one completion at a time: both settings then hit one slot.

    python bench/server_slots.py --server-bin PATH [--requests 16] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "server_slots.json"
MODEL_ALIAS = "gemma-3-270m"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command(server_bin: str | None, port: int, threads: int, slots: int,
                   ctx_per_slot: int) -> list[str]:
    from core.local_model import gguf_path

    if server_bin:
        return [server_bin, "--model", str(gguf_path()), "--alias", MODEL_ALIAS,
                "--host", "127.0.0.1", "--port", str(port), "--ctx-size", str(ctx_per_slot * slots),
                "--parallel", str(slots), "--threads", str(threads), "--seed", "0"]
    return [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()),
            "--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port),
            "--n_ctx", str(ctx_per_slot), "--chat_format", "gemma", "--n_threads", str(threads),
            "--seed", "0"]


def start_server(command: list[str], port: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    import httpx

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit("server did not start in 300 s")


def judge_requests(count: int, offset: int, max_tokens: int, k: int) -> list:
    """Real first-attempt judge requests for ``count`` example records, from ``offset`` on."""
    from audit.run_all import judge_request
    from audit.sample import EXAMPLE_DIR
    from core.datasets import load_dataset
    from core.models import JudgeSpec
    from core.retrieval import evidence_for, load_index

    records = load_dataset(EXAMPLE_DIR / "dataset.jsonl").records[offset : offset + count]
    index = load_index(EXAMPLE_DIR / "sources")
    spec = JudgeSpec(name="llama", provider="openai", model=MODEL_ALIAS,
                     params={"max_tokens": max_tokens})
    return [judge_request(spec, r, evidence_for(r, index, k=k)) for r in records]


async def measure(base_url: str, requests: list, concurrency: int, db: Path) -> dict:
    from core.calls import CallRunner
    from core.providers.openai import OpenAIProvider
    from core.store import Store

    provider = OpenAIProvider(MODEL_ALIAS, base_url=base_url, schema_format="json_object",
                              fold_system=True, timeout=600)
    runner = CallRunner(provider, Store(db), concurrency=concurrency)
    in_flight = peak = 0
    send = provider.complete

    async def counted(request):  # requests actually sent to the server at once
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await send(request)
        finally:
            in_flight -= 1

    provider.complete = counted  # type: ignore[method-assign]
    started = time.perf_counter()
    results = await asyncio.gather(*(runner.complete(r) for r in requests))
    wall = time.perf_counter() - started
    await provider.aclose()
    tokens_out = sum(r.completion.tokens_out for r in results)
    latencies = sorted(r.latency_s for r in results)
    return {
        "concurrency": concurrency, "requests": len(requests), "wall_s": round(wall, 3),
        "requests_per_s": round(len(requests) / wall, 4),
        "output_tokens": tokens_out, "output_tokens_per_s": round(tokens_out / wall, 2),
        "peak_in_flight": peak, "cache_hits": sum(r.cache_hit for r in results),
        "median_latency_s": round(latencies[len(latencies) // 2], 3),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--evidence-k", type=int, default=2, help="Passages per prompt.")
    parser.add_argument("--threads", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    parser.add_argument("--server-bin", default=None,
                        help="llama.cpp's llama-server binary (default: llama-cpp-python's)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="assay-slots-"))
    requests = judge_requests(args.requests, 0, args.max_tokens, args.evidence_k)
    warm_up = judge_requests(1, 200, args.max_tokens, args.evidence_k)
    load_before = os.getloadavg()
    runs, commands = [], []
    for i, slots in enumerate((1, args.concurrency)):
        port = free_port()
        command = server_command(args.server_bin, port, args.threads, slots, 4096)
        commands.append(" ".join(shlex.quote(a) for a in command).replace(str(Path.home()), "~"))
        process = start_server(command, port, work / f"server-{slots}.log")
        try:
            base_url = f"http://127.0.0.1:{port}/v1"
            asyncio.run(measure(base_url, warm_up, 1, work / f"w{i}.db"))
            # A fresh store per setting: the same requests, and no answer from Assay's cache.
            run = asyncio.run(measure(base_url, requests, slots, work / f"{i}.db"))
        finally:
            process.terminate()
            process.wait(timeout=30)
        runs.append({"server_slots": slots if args.server_bin else 1, **run})
        print(json.dumps(runs[-1]), flush=True)
    speedup = runs[1]["requests_per_s"] / runs[0]["requests_per_s"]
    server = ("llama.cpp llama-server (C++, from llama-cpp-python "
              f"{metadata.version('llama_cpp_python')}'s vendored source)" if args.server_bin else
              f"llama-cpp-python {metadata.version('llama_cpp_python')} (python -m llama_cpp.server,"
              " no parallel slots)")
    result = {
        "bench": "server_slots",
        "command": "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]),
        "server": server,
        "server_commands": commands,
        "machine": common.machine(),
        "model": "packaged Gemma 3 270M Q4_K_M GGUF",
        "max_tokens": args.max_tokens,
        "evidence_k": args.evidence_k,
        "load_average_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "runs": runs,
        "speedup_requests_per_s": round(speedup, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    common.write_json(args.out, result)
    print(f"{args.concurrency} slots at concurrency {args.concurrency} vs 1 slot at 1: "
          f"x{speedup:.2f} requests/s -> {args.out}")
    return result


if __name__ == "__main__":
    main()
