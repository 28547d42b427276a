"""Reliability, measured: provider faults, crashes, malformed input, prompt injection, secrets.

    python bench/reliability.py [--llama-url URL] [--pairs 20] [--kills 10] [--phases P,Q]

Drives the real command line against the real llama.cpp server (started here on the packaged
Gemma 3 270M GGUF unless --llama-url is given), through the fault-injecting proxy of
``tests/faultproxy.py``, with the scenarios of ``tests/reliability/``. Prints one table and
saves it with the machine and the exact command to bench/results/reliability.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "reliability")]

import malformed  # noqa: E402
import scenarios as sc  # noqa: E402
from faultproxy import FAULTS, FaultProxy, FaultSchedule  # noqa: E402
from secrets_scenario import secrets_scenario  # noqa: E402

from bench import common  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "reliability.json"
PHASES = ("malformed", "kills", "faults", "secrets", "injection")
TRANSPORT = ("rate_limit", "server_error", "unavailable", "stall", "reset")


@contextlib.contextmanager
def llama_server(url: str | None, log: Path) -> Iterator[str]:
    if url:
        yield url
        return
    from servers import LLAMA_MODEL_ALIAS, free_port, wait_until_ready

    from core.local_model import gguf_path

    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()),
               "--model_alias", LLAMA_MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port),
               "--n_ctx", "4096", "--chat_format", "gemma", "--seed", "0",
               "--n_threads", str(max(1, min(4, os.cpu_count() or 1)))]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_ready(f"{base}/models", process, log, 300)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def fault_run(work: Path, llama: str, faults: tuple[str, ...], seed: int, n: int,
              timeout: float) -> dict:
    """``audit sample`` (llama + rules judges) through the proxy, then a fault-free re-run."""
    work.mkdir(parents=True)
    records = sc.example_records(n)
    dataset = sc.write_jsonl(work / "data.jsonl", records)
    db = work / "assay.db"
    with FaultProxy(llama, FaultSchedule(seed=seed, rate=0.35, faults=faults),
                    stall_s=timeout + 2) as proxy:
        judges = sc.write_judges(work / "judges.toml", proxy.base_url, timeout=timeout)
        first = sc.run_cli("audit", *sc.sample_args(dataset, judges, n), cwd=work,
                           env=sc.cli_env(db))
        counts = proxy.counts()
        bodies = sc.judgment_bodies(db)
        proxy.set_schedule(FaultSchedule(rate=0.0))  # same port: the re-run is the same run
        calls_before = len(proxy.events)
        rerun = sc.run_cli("audit", *sc.sample_args(dataset, judges, n), cwd=work,
                           env=sc.cli_env(db))
        retried = sum(1 for e in proxy.events[calls_before:] if e.method == "POST")
    after = sc.judgment_bodies(db)
    expected = {(r["id"], j) for r in records for j in ("llama", "rules")}
    failed = sorted(k for k, b in bodies.items() if b["status"] == "failed")
    injected = sum(v for k, v in counts.items() if k != "ok")
    completed = first.returncode in sc.COMPLETED and set(bodies) == expected
    return {
        "faults": list(faults), "calls": sum(counts.values()), "by_outcome": counts,
        "injected": injected, "survived": injected if completed else 0,
        "exit_code": first.returncode, "crash": _last_line(first.stderr) if
        "Traceback" in first.stderr else None,
        "judgments_expected": len(expected), "judgments_once": len(set(bodies) & expected),
        "failed_recorded": len(failed), "rerun_exit": rerun.returncode,
        "rerun_calls": retried, "still_failed_after_rerun":
            sum(1 for b in after.values() if b["status"] == "failed"),
    }


def generate_fault_run(work: Path, llama: str, seed: int, n: int) -> dict:
    work.mkdir(parents=True)
    out, db = work / "generated.jsonl", work / "assay.db"
    faults = ("rate_limit", "server_error", "unavailable", "reset")
    with FaultProxy(llama, FaultSchedule(seed=seed, rate=0.35, faults=faults)) as proxy:
        first = sc.run_cli("generate", *sc.generate_args(out, proxy.base_url, n), cwd=work,
                           env=sc.cli_env(db))
        counts = proxy.counts()
    ids = [json.loads(line)["id"] for line in sc.output_lines(out)]
    injected = sum(v for k, v in counts.items() if k != "ok")
    ok = first.returncode == 0 and len(ids) == len(set(ids))
    return {"faults": list(faults), "calls": sum(counts.values()), "by_outcome": counts,
            "injected": injected, "survived": injected if ok else 0,
            "exit_code": first.returncode, "records": len(ids), "unique": len(set(ids))}


def kills(work: Path, llama: str, count: int, seed: int) -> dict:
    judges = work / "rules.toml"
    work.mkdir(parents=True)
    judges.write_text('[[judge]]\nname = "rules"\nprovider = "rules"\n', encoding="utf-8")
    ref_dir = work / "reference"
    ref_dir.mkdir()
    dataset, n = sc.EXAMPLE / "dataset.jsonl", 231
    sc.run_cli("audit", *sc.sample_args(dataset, judges, n), cwd=ref_dir,
               env=sc.cli_env(ref_dir / "assay.db"))
    reference = {k: (v["verdict"] or {}).get("label")
                 for k, v in sc.judgment_bodies(ref_dir / "assay.db").items()}
    audit = []
    for point, delay in enumerate(sc.kill_delays(seed, count * 3, 0.3, 3.0)):
        audit.append(sc.audit_kill_point(work / f"audit-{point}", dataset, judges, n, delay,
                                         reference, point))
        if sum(o.killed for o in audit) == count:
            break
    chain, problems, written = sc.generate_kill_chain(
        work / "generate", llama, count, sc.kill_delays(seed, count, 2.0, 12.0))
    return {
        "audit": {"kills": sum(o.killed for o in audit),
                  "reruns_complete": sum(o.killed and not o.problems for o in audit),
                  "problems": [p for o in audit for p in o.problems]},
        "generate": {"kills": sum(o.killed for o in chain),
                     "complete": not problems and not any(o.problems for o in chain),
                     "records": written, "problems": problems + [p for o in chain
                                                                 for p in o.problems]},
    }


def injection(work: Path, llama: str, pairs_n: int, timeout: float) -> dict:
    work.mkdir(parents=True)
    pairs = sc.injection_pairs(pairs_n)
    dataset = sc.write_jsonl(work / "injected.jsonl", [r for p in pairs for r in p])
    db = work / "assay.db"
    judges = sc.write_judges(work / "judges.toml", llama, timeout=timeout)
    result = sc.run_cli("audit", *sc.sample_args(dataset, judges, 2 * len(pairs)), cwd=work,
                        env=sc.cli_env(db))
    from audit.report_data import build_report
    from core.store import Store

    store = Store(db)
    report = build_report(store, store.latest_run_id())
    flagged = set(report.suspicious)
    injected_ids = {b["id"] for _, b in pairs}
    return {
        "exit_code": result.returncode, "records_with_payload": len(pairs),
        "payloads": len(sc.PAYLOADS),
        "judges": [sc.injection_flips(db, pairs, "rules"), sc.injection_flips(db, pairs, "llama")],
        "flagged_suspicious": len(injected_ids & flagged),
        "clean_flagged": len(flagged - injected_ids),
    }


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def table(results: dict) -> str:
    f, k, m, inj, s = (results[key] for key in ("faults", "kills", "malformed", "injection",
                                                 "secrets"))
    rows = []
    for name, run in f.items():
        crash = f" (crashed: {run['crash']})" if run.get("crash") else ""
        rows.append((f"provider faults: {name}", f"{run['injected']} injected / {run['calls']} "
                     f"calls, {run['survived']} survived{crash}"))
    rows.append(("SIGKILL during audit sample", f"{k['audit']['kills']} kills / "
                 f"{k['audit']['reruns_complete']} re-runs complete, nothing lost"))
    rows.append(("SIGKILL during generate qa", f"{k['generate']['kills']} kills / "
                 f"{'completed' if k['generate']['complete'] else 'FAILED'}, "
                 f"{k['generate']['records']} records once each"))
    rows.append(("malformed inputs", f"{m['bad_inputs']} bad inputs / {m['clear_errors']} clear "
                 f"one-line errors"))
    for judge in inj["judges"]:
        rate = "n/a" if judge["flip_rate"] is None else f"{judge['flip_rate']:.0%}"
        rows.append((f"prompt injection: {judge['judge']}",
                     f"{judge['pairs']} injections / {judge['flips']} flips of "
                     f"{judge['decided_both']} decided both ways ({rate})"))
    rows.append(("injections flagged suspicious", f"{inj['flagged_suspicious']} / "
                 f"{inj['records_with_payload']} (clean records flagged: {inj['clean_flagged']})"))
    rows.append(("secret leaks", f"{len(s['leaks'])} leaks found in {s['files_searched']} files "
                 f"+ {s['outputs_searched']} outputs"))
    width = max(len(a) for a, _ in rows)
    return "\n".join(f"{a:<{width}}  {b}" for a, b in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llama-url", default=os.environ.get("ASSAY_LLAMA_URL"))
    parser.add_argument("--pairs", type=int, default=20, help="injection record pairs")
    parser.add_argument("--kills", type=int, default=10, help="SIGKILL points per command")
    parser.add_argument("--n", type=int, default=4, help="records per fault run")
    parser.add_argument("--timeout", type=float, default=60.0, help="judge timeout, seconds")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--phases", default=",".join(PHASES),
                        help="a subset re-runs those phases and keeps the others from --out")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if unknown := set(phases) - set(PHASES):
        parser.error(f"unknown phases {sorted(unknown)}; choose from {', '.join(PHASES)}")
    started = time.monotonic()
    results: dict = {}
    commands = [" ".join(shlex.quote(a) for a in ["python", *sys.argv])]
    if set(phases) != set(PHASES) and args.out.is_file():  # keep the other phases' figures
        previous = json.loads(args.out.read_text(encoding="utf-8"))
        results = previous["results"]
        commands = previous.get("commands", [previous.get("command")]) + commands

    def save(done: bool) -> None:
        rendered = table(results) if done and set(PHASES) <= set(results) else ""
        saved = {
            "commands": commands,
            "machine": common.machine(),
            "model": "gemma-3-270m Q4_K_M GGUF on llama-cpp-python's OpenAI-compatible server",
            "seconds": round(time.monotonic() - started, 1),
            "complete": done and set(PHASES) <= set(results),
            "table": rendered.splitlines(),
            "results": results,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        common.write_json(args.out, saved)
        if done:
            print(rendered)
            print(f"saved {args.out}")

    with tempfile.TemporaryDirectory(prefix="assay-reliability-") as tmp:
        work = Path(tmp)
        with llama_server(args.llama_url, work / "llama.log") as llama:
            if "malformed" in phases:
                outcomes = malformed.run_corpus(work / "m")
                results["malformed"] = {
                    "bad_inputs": len(outcomes), "clear_errors": sum(o.clear for o in outcomes),
                    "unclear": {o.case.name: o.problems for o in outcomes if not o.clear}}
                save(False)
            if "kills" in phases:
                results["kills"] = kills(work / "k", llama, args.kills, args.seed)
                save(False)
            if "faults" in phases:
                results["faults"] = {}
                for name, run in (
                    ("audit, transport faults", lambda: fault_run(
                        work / "f1", llama, TRANSPORT, args.seed, args.n, args.timeout)),
                    ("audit, all faults", lambda: fault_run(
                        work / "f2", llama, FAULTS, args.seed + 1, args.n, args.timeout)),
                    ("generate, transport faults", lambda: generate_fault_run(
                        work / "f3", llama, args.seed, 2)),
                ):
                    results["faults"][name] = run()
                    save(False)
            if "secrets" in phases:
                results["secrets"] = secrets_scenario(work / "s", llama)
                save(False)
            if "injection" in phases:
                results["injection"] = injection(work / "i", llama, args.pairs, args.timeout)
    save(True)


if __name__ == "__main__":
    main()
