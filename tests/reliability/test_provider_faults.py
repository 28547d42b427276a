"""Provider faults between Assay and the real llama.cpp server (tests/faultproxy.py).

Through a proxy that answers a seeded ≥ 20% of calls with 429 + Retry-After, 500, 503,
stalls, dropped connections or broken bodies, ``audit sample`` and ``generate qa`` complete;
every judgment and record exists exactly once; failures that outlast the retries are stored
as failed, shown in the report, and retried by a re-run.
"""

from __future__ import annotations

import json

import pytest
from faultproxy import FaultProxy, FaultSchedule
from scenarios import (
    COMPLETED,
    SOURCES,
    cli_env,
    example_records,
    generate_args,
    judgment_bodies,
    output_lines,
    run_cli,
    sample_args,
    write_jsonl,
    write_judges,
)

from audit.health import EXIT_DEGRADED
from audit.judges.llm import LLMJudge
from core.models import JudgeSpec
from core.store import Store

pytestmark = pytest.mark.slow
TRANSPORT_FAULTS = ("rate_limit", "server_error", "unavailable", "stall", "reset")
BODY_FAULTS = ("truncated", "not_json")
TIMEOUT_S = 60


def test_audit_sample_survives_faults_and_a_rerun_retries_what_failed(tmp_path, llama_url):
    records = example_records(3)
    dataset = write_jsonl(tmp_path / "data.jsonl", records)
    target = records[0]
    marker = target["question"][:40]
    schedule = FaultSchedule(seed=11, rate=0.35, faults=TRANSPORT_FAULTS, always_fail=(marker,))
    db = tmp_path / "assay.db"
    with FaultProxy(llama_url, schedule, stall_s=TIMEOUT_S + 2) as proxy:
        judges = write_judges(tmp_path / "judges.toml", proxy.base_url, timeout=TIMEOUT_S)
        first = run_cli("audit", *sample_args(dataset, judges, 3), cwd=tmp_path, env=cli_env(db))
        counts = proxy.counts()
        # the target record always fails: llama failed on 1 of 3 records, over the 20% allowed
        assert first.returncode == EXIT_DEGRADED, first.stderr
        assert "Traceback" not in first.stderr
        injected = sum(v for k, v in counts.items() if k != "ok")
        assert injected / sum(counts.values()) >= 0.2, counts

        bodies = judgment_bodies(db)
        assert set(bodies) == {(r["id"], j) for r in records for j in ("llama", "rules")}
        failed = bodies[(target["id"], "llama")]
        assert failed["status"] == "failed" and "503" in failed["error"]

        shown = run_cli("reports", "show", cwd=tmp_path, env=cli_env(db))
        assert shown.returncode == 0, shown.stderr
        assert "Failures" in shown.stdout and target["id"] in shown.stdout
        exported = run_cli("reports", "export", "--format", "json", "--out", "-", cwd=tmp_path,
                           env=cli_env(db))
        failures = json.loads(exported.stdout)["failures"]
        assert any(target["id"] in json.dumps(f) for f in failures)

        # The same command again (same judges file, so the same run) once the faults stop.
        proxy.set_schedule(FaultSchedule(rate=0.0))
        calls_before = len(proxy.events)
        again = run_cli("audit", *sample_args(dataset, judges, 3), cwd=tmp_path, env=cli_env(db))
        retried = [e for e in proxy.events[calls_before:] if e.method == "POST"]
    assert again.returncode in COMPLETED, again.stderr  # the 270M model may still answer badly
    assert retried, "the re-run sent nothing: the failed judgment was not retried"
    after = judgment_bodies(db)
    assert set(after) == set(bodies)
    assert "503" not in (after[(target["id"], "llama")].get("error") or "")
    for key, body in bodies.items():  # finished judgments are kept as they were
        if body["status"] != "failed":
            assert after[key] == body


@pytest.mark.parametrize("fault", BODY_FAULTS)
def test_a_broken_200_body_is_a_failed_judgment_not_a_crash(tmp_path, llama_url, fault):
    """A 200 whose body is cut short or is HTML must fail that call, not the whole command."""
    records = example_records(1)
    dataset = write_jsonl(tmp_path / "data.jsonl", records)
    db = tmp_path / "assay.db"
    with FaultProxy(llama_url, FaultSchedule(rate=1.0, faults=(fault,))) as proxy:
        judges = write_judges(tmp_path / "judges.toml", proxy.base_url, timeout=TIMEOUT_S)
        result = run_cli("audit", *sample_args(dataset, judges, 1), cwd=tmp_path, env=cli_env(db))
    assert "Traceback" not in result.stderr, result.stderr[-1500:]
    assert result.returncode == EXIT_DEGRADED  # llama failed on its only record
    assert judgment_bodies(db)[(records[0]["id"], "llama")]["status"] == "failed"


def test_judges_file_accepts_max_retries(tmp_path):
    """The issue's judges file sets ``timeout`` and ``max_retries`` for an openai judge."""
    spec = JudgeSpec(name="llama", provider="openai", model="gemma-3-270m",
                     params={"base_url": "http://127.0.0.1:9/v1", "timeout": 5, "max_retries": 2})
    judge = LLMJudge(spec, Store(tmp_path / "s.db"))
    assert judge.provider._client.max_retries == 2


def test_generate_qa_survives_faults(tmp_path, llama_url):
    out, db = tmp_path / "generated.jsonl", tmp_path / "assay.db"
    faults = ("rate_limit", "server_error", "unavailable", "reset")  # default timeout is 60 s
    with FaultProxy(llama_url, FaultSchedule(seed=5, rate=0.35, faults=faults)) as proxy:
        first = run_cli("generate", *generate_args(out, proxy.base_url, 2, SOURCES),
                        cwd=tmp_path, env=cli_env(db))
        counts = proxy.counts()
    assert first.returncode == 0, first.stderr
    assert sum(v for k, v in counts.items() if k != "ok") >= 1, counts
    lines = output_lines(out)
    ids = [json.loads(line)["id"] for line in lines]
    assert len(ids) == len(set(ids))
    with FaultProxy(llama_url, FaultSchedule(rate=0.0)) as clean:
        again = run_cli("generate", *generate_args(out, clean.base_url, 2, SOURCES),
                        cwd=tmp_path, env=cli_env(db))
    assert again.returncode == 0, again.stderr
    after = output_lines(out)
    assert after[: len(lines)] == lines
    ids = [json.loads(line)["id"] for line in after]
    assert len(ids) == len(set(ids))
