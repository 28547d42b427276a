"""`generate qa --batch` and `--dry-run`, against OpenAI's Files and Batch endpoints replaced
at the HTTP layer (tests/batch_service.py: bodies shaped like the documented objects)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from batch_service import FakeBatchService
from click.testing import CliRunner

from core.calls import price_of
from core.models import JudgeSpec, JudgmentStatus, QARecord
from core.providers.factory import make_provider
from core.store import Store
from generate.batch import custom_id, estimate_generation, generate_batch
from generate.dedup import DuplicateFinder
from generate.qa import GenerateOptions, build_request, generate_qa, load_template, plan_slots

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "examples" / "advising" / "sources"
MODEL = "gpt-4.1-mini"


def qa_answer(line: dict, action: str | None) -> str:
    """A grounded pair about the passage quoted in the prompt ("junk": an unusable reply)."""
    if action == "junk":
        return "I cannot help with that."
    prompt = line["body"]["messages"][-1]["content"]
    passage_id = re.search(r"<<<PASSAGE (\S+)>>>", prompt).group(1)
    text = prompt.split(f"<<<PASSAGE {passage_id}>>>")[1].split("<<<END")[0].strip()
    sentence = re.split(r"(?<=\.)\s", text.split("\n")[-1])[0]
    doc = passage_id.split("#")[0]
    pair = {"question": f"What does the {passage_id} passage say about {doc}?",
            "answer": sentence, "rationale": sentence, "topic": doc, "difficulty": "easy",
            "source_ids": [passage_id]}
    return json.dumps({"pairs": [pair]})


@pytest.fixture
def service():
    fake = FakeBatchService(answer=qa_answer)
    yield fake
    fake.close()


@pytest.fixture
def teacher(service, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    params = {"base_url": service.base_url}
    return make_provider("openai", MODEL, params), JudgeSpec(
        name="teacher", provider="openai", model=MODEL, params=params)


def run(store, teacher, options, **kwargs):
    provider, spec = teacher
    dedup = DuplicateFinder(use_embeddings=False)
    return asyncio.run(generate_batch(store, provider, spec, options, poll_s=0.01, dedup=dedup,
                                      **kwargs))


def records_of(path: Path) -> list[QARecord]:
    return [QARecord.model_validate_json(line) for line in path.read_text().splitlines()]


def slot_ids(options: GenerateOptions) -> list[str]:
    from core.sources import load_passages

    return [s.id for s in plan_slots(load_passages(SOURCES), options.n + 10, options.seed)]


def test_batch_writes_the_records_interactive_generation_would(tmp_path, service, teacher):
    options = GenerateOptions(sources=SOURCES, n=6, out=tmp_path / "batch.jsonl", seed=3)
    ids = slot_ids(options)
    service.script = {custom_id(ids[1], 1): "junk", custom_id(ids[2], 1): "http_error",
                      custom_id(ids[2], 2): "junk", custom_id(ids[2], 3): "junk"}
    store = Store(tmp_path / "assay.db")

    outcome = run(store, teacher, options, wait=True)

    records = records_of(options.out)
    assert len(records) == 6 and outcome.pending_jobs == 0
    assert {r.id for r in records} == set(ids[:2] + ids[3:7])  # ids[2] failed 3 times: a spare
    second_try = next(r for r in records if r.id == ids[1])
    assert second_try.provenance.params["attempt"] == 1  # the retry's request, not the first
    assert second_try.provenance.params["temperature"] > 0
    first = next(r for r in records if r.id == ids[0])
    assert first.provenance.teacher_provider == "openai" and first.provenance.tokens_in == 1000
    assert first.provenance.cost_usd == pytest.approx(price_of(MODEL, 1000, 100) / 2)
    # Job 1: the first 6 slots; job 2: retries of ids[1] and ids[2]; job 3: ids[2]'s third
    # try and... a spare only once ids[2] is spent.
    lines = {batch: [x["custom_id"] for x in service.inputs[batch]] for batch in service.inputs}
    assert lines["batch_0001"] == [custom_id(i, 1) for i in ids[:6]]
    assert set(lines["batch_0002"]) == {custom_id(ids[1], 2), custom_id(ids[2], 2)}
    assert custom_id(ids[6], 1) in sum(lines.values(), [])
    failed = [j for j in store.judgments(outcome.generation.run_id)
              if j.status is JudgmentStatus.failed]
    assert [j.record_id for j in failed] == [ids[2]] and "attempt 3" in failed[0].error
    assert store.get_run(outcome.generation.run_id)["status"] == "complete"

    # The same requests, interactively, into a fresh file: answered from the cache that the
    # batch filled, the same records. Only ids[2]'s first request, which the batch never got
    # an answer to, goes out (this fake serves no /chat/completions: it fails again).
    provider, _ = teacher
    again = GenerateOptions(sources=SOURCES, n=6, out=tmp_path / "interactive.jsonl", seed=3)
    requests_before = service.requests
    interactive = asyncio.run(generate_qa(store, provider, again,
                                          dedup=DuplicateFinder(use_embeddings=False)))
    assert service.requests == requests_before + 1 and interactive.calls == 0
    pairs = lambda rs: sorted((r.id, r.question, r.answer) for r in rs)  # noqa: E731
    assert pairs(records_of(again.out)) == pairs(records)  # the batch writes in arrival order


def test_a_rerun_collects_what_an_earlier_process_submitted(tmp_path, service, teacher):
    options = GenerateOptions(sources=SOURCES, n=4, out=tmp_path / "data.jsonl", seed=0)
    service.release.clear()  # the provider is slow: the first call only submits
    store = Store(tmp_path / "assay.db")
    first = run(store, teacher, options)
    assert first.submitted == 4 and first.pending_jobs == 1
    assert not options.out.exists() or options.out.read_text() == ""
    assert store.get_run(first.generation.run_id)["status"] == "running"

    again = run(store, teacher, options)  # still running: nothing new is sent
    assert again.submitted == 0 and again.pending_jobs == 1 and service.creates == 1

    service.release.set()  # a day later
    done = run(store, teacher, options)
    assert done.pending_jobs == 0 and done.generation.written == 4 and service.creates == 1
    assert len(records_of(options.out)) == 4
    assert store.get_run(first.generation.run_id)["status"] == "complete"


def test_dry_run_counts_the_first_requests_and_sends_nothing(tmp_path, service, teacher):
    options = GenerateOptions(sources=SOURCES, n=5, out=tmp_path / "data.jsonl", seed=0)
    _, spec = teacher
    batch, rows = estimate_generation(spec, options, batch=True)
    interactive, _ = estimate_generation(spec, options, batch=False)
    assert batch.requests == interactive.requests == 5 == len(rows)
    assert batch.cost_usd == pytest.approx(interactive.cost_usd / 2) and batch.cost_usd > 0
    _, template = load_template(options, structured=True)
    from core.sources import load_passages

    slot = plan_slots(load_passages(SOURCES), 5, 0)[0]
    assert rows[0]["request"] == build_request(template, slot, options, 0, True).model_dump(
        mode="json")

    from generate.cli import cli

    result = CliRunner().invoke(cli, ["qa", "--sources", str(SOURCES), "--n", "5", "--out",
                                      str(options.out), "--provider", "openai", "--model", MODEL,
                                      "--base-url", service.base_url, "--batch", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "5 first requests for 5 records, batch (50% price)" in result.output
    assert "teacher (gpt-4.1-mini): 5 requests" in result.output
    assert service.requests == 0 and not options.out.exists()


def test_batch_needs_a_batch_service(tmp_path, service, teacher):
    provider, _ = teacher
    options = GenerateOptions(sources=SOURCES, n=2, out=tmp_path / "data.jsonl")
    local = JudgeSpec(name="teacher", provider="local", model="")
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="openai or gemini teacher"):
        asyncio.run(generate_batch(Store(tmp_path / "a.db"), provider, local, options))


def test_dry_run_skips_written_records_and_leaves_a_cut_file_as_it_is(tmp_path, teacher):
    options = GenerateOptions(sources=SOURCES, n=5, out=tmp_path / "data.jsonl", seed=0)
    first = slot_ids(options)[0]
    record = QARecord(id=first, question="What is it?", answer="It is so.")
    content = record.model_dump_json() + '\n{"id": "gen-0-00001", "quest'  # cut by a crash
    options.out.write_text(content)
    _, spec = teacher
    estimate, rows = estimate_generation(spec, options, batch=True)
    assert estimate.requests == 4 and first not in {r["record_id"] for r in rows}
    assert options.out.read_text() == content
