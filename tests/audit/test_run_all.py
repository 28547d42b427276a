"""`audit run --all --batch` and `audit collect` against a local server that speaks the OpenAI
Files + Batch API (127.0.0.1), including a SIGKILL between submit and collect.

The fake service answers each uploaded request the way a model would (a verdict quoting the
first evidence passage of the prompt) unless the test scripted something else for that
custom id: an HTTP error line, unparseable text, a quote that is not in the passage, or
an expired batch.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from batch_service import FakeBatchService  # noqa: E402
from click.testing import CliRunner

from audit.judges.llm import LLMJudge
from audit.judges.prompts import build_messages
from audit.run_all import (
    RunAllOptions,
    call_key,
    collect_run,
    custom_id,
    estimate_run,
    judge_request,
    prepare,
    run_all,
)
from core.batch.openai_batch import OpenAIBatch
from core.calls import price_of
from core.models import JudgeSpec, JudgmentStatus
from core.providers.base import ChatRequest
from core.providers.openai import OpenAIProvider
from core.runs import save_run
from core.store import Store

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "advising"
MODEL = "gpt-4.1-mini"


@pytest.fixture
def service():
    fake = FakeBatchService()
    yield fake
    fake.close()


@pytest.fixture
def audit_files(tmp_path, service):
    """Six example records, the example sources, and a judges file naming the fake service."""
    lines = (EXAMPLE / "dataset.jsonl").read_text().splitlines()[:6]
    dataset = tmp_path / "six.jsonl"
    dataset.write_text("\n".join(lines) + "\n")
    judges = tmp_path / "judges.toml"
    judges.write_text(f'[[judge]]\nname = "gpt"\nprovider = "openai"\nmodel = "{MODEL}"\n'
                      f'[judge.params]\nbase_url = "{service.base_url}"\n')
    ids = [json.loads(line)["id"] for line in lines]
    return dataset, judges, ids


def options(audit_files, **kwargs) -> RunAllOptions:
    dataset, judges, _ = audit_files
    return RunAllOptions(dataset=dataset, sources=EXAMPLE / "sources", judges_file=judges,
                         batch=True, **kwargs)


def test_batch_requests_and_cache_keys_are_the_interactive_judges(audit_files):
    prepared = prepare(options(audit_files), every_record=True)
    spec = prepared.plan.judges[0]
    record = prepared.records[0]
    evidence = prepared.evidence_of(record)
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    judge = LLMJudge(spec, Store(), provider=OpenAIProvider(MODEL, base_url=spec.params["base_url"],
                                                            http_client=client))
    interactive = judge.request(build_messages(record, evidence))
    assert judge_request(spec, record, evidence) == interactive
    assert call_key(spec, interactive) == judge.runner.cache_key(interactive)


def test_partial_failures_are_retried_or_recorded_never_dropped(audit_files, service):
    _, _, ids = audit_files
    first = {i: custom_id(i, "gpt", 1) for i in ids}
    service.script = {first[ids[0]]: "http_error", first[ids[1]]: "garbage",
                      first[ids[2]]: "bad_quote", first[ids[3]]: "http_error",
                      custom_id(ids[3], "gpt", 2): "http_error"}
    store = Store()

    outcome = asyncio.run(run_all(store, options(audit_files), wait=True, poll_s=0.01))

    assert outcome.done and service.creates == 2
    judgments = {j.record_id: j for j in store.judgments(outcome.run_id)}
    assert set(judgments) == set(ids)
    assert judgments[ids[0]].status is JudgmentStatus.ok  # retried after a 500
    assert judgments[ids[1]].status is JudgmentStatus.ok  # repaired
    assert judgments[ids[2]].status is JudgmentStatus.invalid_citation
    assert "quote not found" in judgments[ids[2]].error
    assert judgments[ids[3]].status is JudgmentStatus.failed  # two attempts, recorded
    assert "HTTP 500" in judgments[ids[3]].error
    assert all(judgments[i].status is JudgmentStatus.ok for i in ids[4:])
    retry_lines = {line["custom_id"]: line for line in service.inputs["batch_0002"]}
    assert set(retry_lines) == {custom_id(i, "gpt", 2) for i in ids[:2] + ids[3:4]}
    repair = retry_lines[custom_id(ids[1], "gpt", 2)]["body"]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "I think it is fine!"}
    assert "could not be used as a verdict" in repair[-1]["content"]
    ok = judgments[ids[4]]
    assert ok.cost_usd == pytest.approx(price_of(MODEL, 1000, 100) / 2)
    assert (ok.tokens_in, ok.tokens_out) == (1000, 100)
    assert store.get_run(outcome.run_id)["status"] == "incomplete"
    assert {job["status"] for job in store.batch_jobs(outcome.run_id)} == {"collected"}

    # A re-run resubmits only the failed record, in a new job; the others cost nothing.
    service.script = {}
    again = asyncio.run(run_all(store, options(audit_files), wait=True, poll_s=0.01))
    assert service.creates == 3
    last_job = store.batch_jobs(again.run_id)[-1]["key"]
    assert [line["record_id"] for line in store.batch_items(last_job)] == [ids[3]]
    assert store.get_run(again.run_id)["status"] == "complete"  # invalid citations are data
    assert {j.record_id for j in store.judgments(again.run_id)
            if j.status is JudgmentStatus.failed} == set()


def test_expired_batch_keeps_what_finished_and_resubmits_the_rest(audit_files, service):
    _, _, ids = audit_files
    service.expire_next = True
    store = Store()
    outcome = asyncio.run(run_all(store, options(audit_files), wait=True, poll_s=0.01))
    assert service.creates == 2
    assert service.batches["batch_0001"]["status"] == "expired"
    retried = {line["custom_id"] for line in service.inputs["batch_0002"]}
    assert retried == {custom_id(i, "gpt", 2) for i in ids[3:]}
    assert [j.status for j in store.judgments(outcome.run_id)] == [JudgmentStatus.ok] * 6
    assert store.get_run(outcome.run_id)["status"] == "complete"
    # Each judgment names the passages its request showed, retried items included.
    prepared = prepare(options(audit_files), every_record=True)
    shown = {r.id: [p.id for p in prepared.evidence_of(r)] for r in prepared.records}
    judged = {j.record_id: [ref.id for ref in j.evidence] for j in store.judgments(outcome.run_id)}
    assert judged == shown and all(shown.values())


def test_a_job_created_but_never_saved_is_found_not_submitted_twice(audit_files, service):
    """A crash after batches.create but before the job id reached SQLite."""
    store = Store()
    prepared = prepare(options(audit_files), every_record=True, store=store)
    save_run(store, prepared.plan)
    spec = prepared.plan.judges[0]
    items = [{"custom_id": custom_id(r.id, "gpt", 1), "record_id": r.id, "attempt": 1,
              "request": judge_request(spec, r, prepared.evidence_of(r)).model_dump(mode="json")}
             for r in prepared.records]
    store.add_batch_job("key-1", run_id=prepared.plan.run_id, judge="gpt", provider="openai",
                        model=MODEL, items=items)
    from core.batch.jobs import BatchItem

    backend = OpenAIBatch(OpenAIProvider(MODEL, base_url=service.base_url))
    batch_items = [BatchItem(i["custom_id"], ChatRequest.model_validate(i["request"])) for i in items]
    asyncio.run(backend.submit(batch_items, tag="key-1"))  # ... and the process died here

    outcome = asyncio.run(collect_run(store, prepared.plan.run_id, wait=True, poll_s=0.01))
    assert service.creates == 1
    assert outcome.new_judgments == 6
    assert store.batch_jobs(prepared.plan.run_id)[0]["job_id"] == "batch_0001"


def test_dry_run_prints_tokens_and_half_price_and_sends_nothing(audit_files, service):
    prepared = prepare(options(audit_files), every_record=True)
    batch = estimate_run(prepared, batch=True, requests_out=Path("requests.jsonl"))
    interactive = estimate_run(prepared, batch=False)
    assert batch.requests == interactive.requests == 6
    assert batch.tokens_in == interactive.tokens_in > 6 * 500  # prompts with evidence and schema
    assert batch.cost_usd == pytest.approx(interactive.cost_usd / 2)
    lines = [json.loads(x) for x in Path("requests.jsonl").read_text().splitlines()]
    assert [x["record_id"] for x in lines] == [r.id for r in prepared.records]
    assert ChatRequest.model_validate(lines[0]["request"]) == judge_request(
        prepared.plan.judges[0], prepared.records[0], prepared.evidence_of(prepared.records[0]))

    from audit.cli import cli

    dataset, judges, _ = audit_files
    result = CliRunner().invoke(cli, ["sample", "--n", "4", "--dry-run", "--judges", str(judges),
                                      "--dataset", str(dataset), "--sources",
                                      str(EXAMPLE / "sources")])
    assert result.exit_code == 0, result.output
    assert "4 records, interactive; nothing was sent" in result.output
    assert "gpt (gpt-4.1-mini): 4 requests" in result.output
    result = CliRunner().invoke(cli, ["run", "--all", "--batch", "--dry-run", "--judges",
                                      str(judges), "--dataset", str(dataset), "--sources",
                                      str(EXAMPLE / "sources")])
    assert result.exit_code == 0, result.output
    assert "6 records, batch (50% price)" in result.output
    assert service.requests == 0


def test_sigkill_between_submit_and_collect_loses_nothing(audit_files, service, tmp_path):
    dataset, judges, ids = audit_files
    service.release.clear()  # the batch stays in_progress: the first process polls forever
    db = tmp_path / ".assay" / "assay.db"
    env = os.environ | {"ASSAY_DB": str(db), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "audit", "run", "--all", "--batch", "--wait",
               "--poll-interval", "0.1", "--judges", str(judges), "--dataset", str(dataset),
               "--sources", str(EXAMPLE / "sources")]
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    job_id = None
    while time.monotonic() < deadline and proc.poll() is None and job_id is None:
        time.sleep(0.2)
        if db.exists():
            rows = Store(db).query("SELECT job_id FROM batch_jobs WHERE job_id IS NOT NULL")
            job_id = rows[0][0] if rows else None
    assert proc.poll() is None, proc.stderr.read().decode()
    assert job_id == "batch_0001"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert Store(db).judgments(Store(db).latest_run_id()) == []

    service.release.set()  # a day later, the provider has finished
    run_id = Store(db).latest_run_id()
    collect = subprocess.run([sys.executable, "-m", "audit", "collect", run_id, "--wait",
                              "--poll-interval", "0.1"], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=180)
    assert collect.returncode == 0, collect.stderr
    assert "6 new judgments, 0 failed" in collect.stdout
    assert "all batch jobs collected" in collect.stdout
    store = Store(db)
    assert sorted(j.record_id for j in store.judgments(run_id)) == sorted(ids)
    assert all(j.status is JudgmentStatus.ok and j.evidence for j in store.judgments(run_id))
    assert service.creates == 1  # submitted once, collected once
    assert store.get_run(run_id)["status"] == "complete"


def test_only_openai_and_gemini_judges_can_batch():
    from audit.run_all import build_backend
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="no batch service"):
        build_backend(JudgeSpec(name="r", provider="rules"))


def test_gemini_judge_batch_with_a_failed_item_retried(audit_files, monkeypatch):
    """The same flow through google-genai's batch mode, at the HTTP layer (MockTransport)."""
    from google.genai import types

    from core.batch.gemini_batch import GeminiBatch
    from core.providers.gemini import GeminiProvider

    monkeypatch.setenv("GEMINI_API_KEY", "AIzaSyTest-batch-0123456789abcdefghij")
    dataset, _, ids = audit_files
    judges = dataset.parent / "gemini.toml"
    judges.write_text('[[judge]]\nname = "flash"\nprovider = "gemini"\nmodel = "gemini-2.5-flash"\n')
    jobs: dict[str, list[dict]] = {}
    verdict = json.dumps({"label": "supported", "category": "none", "severity": "none",
                          "confidence": 0.9, "citations": [], "rationale": "fine"})

    def answer(request: dict, first_job: bool, position: int) -> dict:
        if first_job and position == 0:
            return {"error": {"code": 13, "message": "Internal error encountered."}}
        return {"response": {"candidates": [{"content": {"parts": [{"text": verdict}],
                                                         "role": "model"},
                                             "finishReason": "STOP", "index": 0}],
                             "usageMetadata": {"promptTokenCount": 1000,
                                               "candidatesTokenCount": 100,
                                               "totalTokenCount": 1100},
                             "modelVersion": "gemini-2.5-flash"},
                "metadata": request["metadata"]}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            name = f"batches/job{len(jobs) + 1}"
            jobs[name] = json.loads(request.content)["batch"]["inputConfig"]["requests"]["requests"]
            state, output = "BATCH_STATE_PENDING", None
        else:
            name = request.url.path.split("/", 2)[2]
            state = "BATCH_STATE_SUCCEEDED"
            output = [answer(r, name == "batches/job1", i) for i, r in enumerate(jobs[name])]
        metadata = {"@type": "type.googleapis.com/google.ai.generativelanguage.v1beta."
                             "GenerateContentBatch",
                    "model": "models/gemini-2.5-flash", "name": name, "state": state,
                    "createTime": "2026-11-20T10:00:00Z", "updateTime": "2026-11-20T10:01:00Z"}
        if output is not None:
            metadata["output"] = {"inlinedResponses": {"inlinedResponses": output}}
        return httpx.Response(200, json={"name": name, "metadata": metadata,
                                         **({"done": True} if output else {})})

    def backend_for(spec):
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        return GeminiBatch(GeminiProvider(spec.model, http_options=types.HttpOptions(
            httpx_async_client=client)))

    store = Store()
    opts = RunAllOptions(dataset=dataset, sources=EXAMPLE / "sources", judges_file=judges,
                         batch=True)
    import core.batch.gemini_batch as gemini_batch

    async def no_jobs(self, tag):  # the listing is covered in tests/core; nothing exists yet
        return None

    monkeypatch.setattr(gemini_batch.GeminiBatch, "find_submitted", no_jobs)
    outcome = asyncio.run(run_all(store, opts, backend_for=backend_for, wait=True, poll_s=0.01))

    assert outcome.done and list(jobs) == ["batches/job1", "batches/job2"]
    assert [r["metadata"]["key"] for r in jobs["batches/job2"]] == [custom_id(ids[0], "flash", 2)]
    judgments = store.judgments(outcome.run_id)
    assert sorted(j.record_id for j in judgments) == sorted(ids)
    assert all(j.status is JudgmentStatus.ok for j in judgments)
    assert judgments[0].cost_usd == pytest.approx(price_of("gemini-2.5-flash", 1000, 100) / 2)
    assert store.get_run(outcome.run_id)["status"] == "complete"


def test_run_all_without_batch_counts_what_it_judged(audit_files, tmp_path):
    """In-process judges only: the summary line counts their judgments and names no batch job
    (it said '0 new judgments ... all batch jobs collected' after judging every record)."""
    from audit.cli import cli

    dataset, _, _ = audit_files
    judges = tmp_path / "rules.toml"
    judges.write_text('[[judge]]\nname = "rules"\nprovider = "rules"\n'
                      '[[judge]]\nname = "rules2"\nprovider = "rules"\n')
    db = tmp_path / "run.db"
    args = ["run", "--all", "--dataset", str(dataset), "--sources", str(EXAMPLE / "sources"),
            "--judges", str(judges), "--db", str(db)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "12 new judgments, 0 failed" in result.output
    assert "batch" not in result.output and "re-submitted" not in result.output
    again = CliRunner().invoke(cli, args)
    assert "0 new judgments" in again.output  # resumed: nothing judged twice
