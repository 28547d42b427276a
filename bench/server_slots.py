"""Does Assay keep a self-hosted OpenAI-compatible server's parallel slots busy?

Starts the real llama-cpp-python server (``python -m llama_cpp.server``) on the packaged
Gemma 3 270M GGUF and sends the same kind of judge requests an audit sends (real prompts from
the bundled example, through ``OpenAIProvider`` + ``CallRunner``) at client concurrency 1 and
at concurrency N, in the same run, against the same server. Records the requests/s, output
tokens/s, the peak number of requests Assay had in flight, and the server's options.

llama-cpp-python 0.3.x's server has no parallel-slot option (no ``--n_parallel``; llama.cpp's
C++ ``llama-server --parallel N`` and vLLM have one): it runs one completion at a time behind
a lock. So this measures what Assay does (N requests in flight) and what this server makes
of it; on a server with N slots the same client settings fill them.

    python bench/server_slots.py [--requests 16] [--concurrency 4] [--max-tokens 96]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
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
RESULTS = ROOT / "bench" / "results" / "server_slots.json"
MODEL_ALIAS = "gemma-3-270m"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, threads: int, n_ctx: int, log: Path) -> tuple[subprocess.Popen, list[str]]:
    from core.local_model import gguf_path

    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()),
               "--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port),
               "--n_ctx", str(n_ctx), "--chat_format", "gemma", "--n_threads", str(threads),
               "--seed", "0"]
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    import httpx

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                return process, command
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit("server did not start in 300 s")


def judge_requests(count: int, offset: int, max_tokens: int, k: int) -> list:
    """Real first-attempt judge requests for ``count`` example records, from ``offset`` on."""
    from audit.batch_run import judge_request
    from audit.pipeline import EXAMPLE_DIR
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
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="assay-slots-"))
    port = free_port()
    process, server_command = start_server(port, args.threads, 4096, work / "server.log")
    try:
        base_url = f"http://127.0.0.1:{port}/v1"
        # Distinct records per setting, so neither setting profits from the cache; a warm-up first.
        warm_up = judge_requests(1, 200, args.max_tokens, args.evidence_k)
        asyncio.run(measure(base_url, warm_up, 1, work / "w.db"))
        load_before = os.getloadavg()
        runs = []
        for i, concurrency in enumerate((1, args.concurrency)):
            requests = judge_requests(args.requests, i * args.requests, args.max_tokens,
                                      args.evidence_k)
            runs.append(asyncio.run(measure(base_url, requests, concurrency, work / f"{i}.db")))
            print(json.dumps(runs[-1]), flush=True)
    finally:
        process.terminate()
        process.wait(timeout=30)
    speedup = runs[1]["requests_per_s"] / runs[0]["requests_per_s"]
    result = {
        "bench": "server_slots",
        "command": "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]),
        "server_command": " ".join(shlex.quote(a) for a in server_command).replace(
            str(Path.home()), "~"),
        "server": f"llama-cpp-python {metadata.version('llama_cpp_python')} (python -m llama_cpp.server)",
        "server_parallel_slots": "none: llama-cpp-python's server has no --n_parallel option "
                                 "and serves one completion at a time",
        "machine": {"platform": platform.platform(), "processor": platform.machine(),
                    "cpus": os.cpu_count(), "python": platform.python_version()},
        "model": "packaged Gemma 3 270M Q4_K_M GGUF",
        "max_tokens": args.max_tokens,
        "evidence_k": args.evidence_k,
        "load_average_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "runs": runs,
        "speedup_requests_per_s": round(speedup, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"concurrency {args.concurrency} vs 1: x{speedup:.2f} requests/s -> {args.out}")
    return result


if __name__ == "__main__":
    main()
