"""`generate qa`: planning, parsing, provenance, retries, duplicates, resume, real teachers.

Fast tests use the OpenAI provider against the hosted API replaced at the HTTP layer
(responses shaped like real ``/v1/chat/completions`` bodies); slow ones run the packaged
local model in-process and the real llama.cpp server.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import jsonschema
import openai_bodies
import pytest
from servers import LLAMA_MODEL_ALIAS, llama_server  # noqa: F401

from core.errors import ConfigError
from core.models import JudgmentStatus, Passage, QARecord, sha256_text
from core.providers.factory import make_provider
from core.providers.openai import OpenAIProvider
from core.sources import load_passages
from core.store import Store
from generate.dedup import DuplicateFinder, normalise_question
from generate.qa import (
    QA_SCHEMA,
    TEMPLATES,
    GenerateOptions,
    build_request,
    generate_qa,
    parse_pair,
    plan_slots,
    read_existing,
)
from generate.teacher import load_teacher

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "examples" / "advising" / "sources"
PASSAGE = Passage(
    id="transfer#3",
    doc_id="transfer",
    text="Undergraduates may transfer at most 60 credit hours, and at least 30 of the final "
    "credit hours must be completed at Northfield.",
    sha256="0" * 64,
)


# -- planning and parsing ---------------------------------------------------------------------


def test_plan_covers_every_document_before_any_repeats_and_is_seeded():
    passages = load_passages(SOURCES)
    docs = {p.doc_id for p in passages}
    slots = plan_slots(passages, 40, seed=7)
    first_round = [s.passage.doc_id for s in slots[: len(docs)]]
    assert sorted(first_round) == sorted(docs)  # every document once before any twice
    counts = Counter(s.passage.doc_id for s in slots)
    assert max(counts.values()) - min(counts.values()) <= 1  # balanced coverage
    assert len({s.passage.id for s in slots}) == 40  # no passage repeats while others wait
    assert len({s.id for s in slots}) == 40
    again = plan_slots(passages, 40, seed=7)
    assert [(s.id, s.passage.id) for s in again] == [(s.id, s.passage.id) for s in slots]
    assert plan_slots(passages, 10, seed=7) == slots[:10]  # a longer plan extends a shorter one
    other = plan_slots(passages, 40, seed=8)
    assert [s.passage.id for s in other] != [s.passage.id for s in slots]
    with pytest.raises(ConfigError, match="at least 1"):
        plan_slots(passages, 0, seed=7)


def test_a_reused_passage_and_a_retry_are_asked_differently_but_reproducibly():
    passages = [PASSAGE.model_copy(update={"doc_id": "only"})]
    slots = plan_slots(passages, 2, seed=3)
    assert slots[0].passage == slots[1].passage and (slots[0].reuse, slots[1].reuse) == (0, 1)
    options = GenerateOptions(sources=SOURCES, n=2, out=Path("x.jsonl"), seed=3)
    template = (TEMPLATES / "qa_plain.txt").read_text()
    first = build_request(template, slots[0], options, 0, structured=False)
    retry = build_request(template, slots[0], options, 1, structured=False)
    reused = build_request(template, slots[1], options, 0, structured=False)
    assert first.temperature == 0.0 and retry.temperature > 0 and reused.temperature > 0
    assert len({first.seed, retry.seed, reused.seed}) == 3
    assert all(r.deterministic for r in (first, retry, reused))  # so all are cached
    assert first == build_request(template, slots[0], options, 0, structured=False)
    # The base model continues raw text that ends at "Question:" (no trailing newline).
    assert first.params["completion"] is True and first.messages[0]["content"].endswith("Question:")
    assert PASSAGE.text in first.messages[0]["content"]
    structured = build_request((TEMPLATES / "qa_json.txt").read_text(), slots[0], options, 0, True)
    assert structured.json_schema == QA_SCHEMA and structured.params == {}


def test_parse_pair_accepts_grounded_pairs_and_refuses_the_rest():
    plain = parse_pair("How many credit hours can I transfer?\nAnswer: You may transfer at most "
                       "60 credit hours.\nThe rest", False, PASSAGE)
    assert plain["question"] == "How many credit hours can I transfer?"
    assert plain["answer"] == "You may transfer at most 60 credit hours."
    assert plain["source_ids"] == ["transfer#3"] and plain["topic"] == "transfer"
    # An answer on the line after "Answer:" (the base model does this) is taken too.
    assert parse_pair("Can I transfer 60 hours?\nAnswer:\nAt most 60 credit hours.", False,
                      PASSAGE)["answer"] == "At most 60 credit hours."
    data = {"pairs": [{"question": "How many final credit hours must be taken at Northfield?",
                       "answer": "At least 30 of the final credit hours.", "rationale": "r",
                       "topic": "transfer credit", "difficulty": "easy",
                       "source_ids": ["transfer#3"]}]}
    structured = parse_pair("```json\n" + json.dumps(data) + "\n```", True, PASSAGE)
    assert structured["difficulty"] == "easy" and structured["topic"] == "transfer credit"
    bad = {
        "no Answer:": ("How many hours can I transfer?", False),
        "not a question": ("You can transfer.\nAnswer: at most 60 credit hours", False),
        "too short": ("How many hours can I transfer?\nAnswer: 60", False),
        "words the passage lacks": (
            "How do I pay?\nAnswer: Submit the leave-of-absence form to the Dean ten days ahead.",
            False),
        "cut off": ("How many hours can I transfer?\nAnswer: at most 60 credit hours and", False),
        "no JSON": ("Sure! Here is a question.", True),
        "not a question ": (json.dumps({"pairs": [{"question": "", "answer": "x y z"}]}), True),
    }
    for reason, (text, structured_) in bad.items():
        with pytest.raises(ValueError):
            parse_pair(text, structured_, PASSAGE, truncated=reason == "cut off")
    with pytest.raises(json.JSONDecodeError):
        parse_pair('{"pairs": [}', True, PASSAGE)


def test_read_existing_drops_a_torn_line_and_a_missing_newline(tmp_path):
    record = QARecord(id="gen-0-00000", question="Q?", answer="A")
    out = tmp_path / "data.jsonl"
    out.write_text(record.model_dump_json() + "\n" + record.model_dump_json()[:25])
    assert list(read_existing(out)) == ["gen-0-00000"]
    assert out.read_text() == record.model_dump_json() + "\n"  # the torn line is gone
    out.write_text(record.model_dump_json())  # cut just before its newline
    read_existing(out)
    assert out.read_text().endswith("}\n")
    assert read_existing(tmp_path / "missing.jsonl") == {}


# -- near-duplicates ---------------------------------------------------------------------------


def test_duplicate_finder_on_normalised_text():
    finder = DuplicateFinder(use_embeddings=False)
    assert normalise_question("What's  the FEE?") == "what s the fee"
    finder.add("a", "What is the application fee?")
    assert finder.find("what is the application FEE") == "a"
    assert finder.find("What is the application deadline?") is None
    assert finder.find("How much does it cost to apply?") is None  # text alone misses this


@pytest.mark.slow
def test_duplicate_finder_with_embeddings_catches_paraphrases():
    finder = DuplicateFinder(use_embeddings=True)
    finder.add("a", "How many credit hours can I transfer?")
    finder.add("b", "What is the emergency phone number of the OISS?")
    assert finder.find("What is the maximum number of transfer credit hours?") == "a"
    assert finder.find("Which number do I call for an immigration emergency at night?") is None
    assert finder.find("When does the spring semester housing application open?") is None
    twin, score = finder.similarity("What is the maximum number of transfer credit hours?")
    assert twin == "a" and 0.9 <= score < 1.0


# -- the pipeline against the hosted OpenAI API (HTTP layer replaced) ------------------------


def chat_completion(content: str) -> dict:
    return openai_bodies.chat_completion(content, 310, 60)


class Teacher:
    """Answers each request from the passage quoted in its prompt, like a careful teacher.

    ``junk`` names documents whose first ``junk_times`` answers are invalid; ``same_question``
    makes every question identical (to exercise duplicate handling).
    """

    def __init__(self, junk: dict[str, int] | None = None, same_question: bool = False) -> None:
        self.junk = dict(junk or {})
        self.same_question = same_question
        self.bodies: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        prompt = body["messages"][0]["content"]
        passage_id = re.search(r"<<<PASSAGE (\S+)>>>", prompt).group(1)
        text = prompt.split(f"<<<PASSAGE {passage_id}>>>")[1].split("<<<END")[0].strip()
        doc = passage_id.split("#")[0]
        if self.junk.get(doc, 0) > 0:
            self.junk[doc] -= 1
            return httpx.Response(200, json=chat_completion("I cannot help with that."))
        sentence = re.split(r"(?<=\.)\s", text.split("\n")[-1])[0]
        question = ("What does the policy say?" if self.same_question
                    else f"What does the {passage_id} passage say about {doc}?")
        pair = {"question": question, "answer": sentence, "rationale": sentence,
                "topic": doc, "difficulty": "medium", "source_ids": [passage_id]}
        return httpx.Response(200, json=chat_completion(json.dumps({"pairs": [pair]})))


def hosted_teacher(handler: Teacher, monkeypatch) -> OpenAIProvider:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return OpenAIProvider("gpt-4.1-mini", http_client=client, max_retries=0)


def run(store, provider, options, dedup=None, progress=None):
    dedup = dedup or DuplicateFinder(use_embeddings=False)  # the MiniLM test is a slow one

    async def go():
        try:
            return await generate_qa(store, provider, options, progress, dedup)
        finally:
            await provider.aclose()

    return asyncio.run(go())


def records_of(path: Path) -> list[QARecord]:
    return [QARecord.model_validate_json(line) for line in path.read_text().splitlines()]


def assert_provenance(record: QARecord, provider: str, model: str, template: Path) -> None:
    passages = {p.id: p for p in load_passages(SOURCES)}
    prov = record.provenance
    assert prov.teacher_provider == provider and prov.teacher_model == model
    assert prov.template_sha256 == sha256_text(template.read_text())
    assert {"temperature", "seed", "max_tokens", "attempt", "template"} <= set(prov.params)
    assert record.source_ids and set(prov.source_passages) == set(record.source_ids)
    for passage_id, digest in prov.source_passages.items():
        assert passages[passage_id].sha256 == digest
    assert prov.tokens_in > 0 and prov.tokens_out > 0 and prov.seconds >= 0 and prov.created
    assert record.topic


def test_hosted_teacher_writes_valid_records_with_provenance_and_retries_invalid_output(
    tmp_path, monkeypatch
):
    handler = Teacher(junk={"travel": 1})  # the travel passage's first answer is refused
    store = Store(tmp_path / "assay.db")
    out = tmp_path / "data.jsonl"
    options = GenerateOptions(sources=SOURCES, n=12, out=out, seed=1)
    seen = []
    outcome = run(store, hosted_teacher(handler, monkeypatch), options,
                  DuplicateFinder(use_embeddings=False), lambda *a: seen.append(a))

    records = records_of(out)
    assert len(records) == 12 == outcome.written and not outcome.failed
    assert len({r.id for r in records}) == 12
    assert len({r.source_ids[0].split("#")[0] for r in records}) == 12  # one per document
    for record in records:
        assert_provenance(record, "openai", "gpt-4.1-mini", TEMPLATES / "qa_json.txt")
        assert record.meta["difficulty"] == "medium" and record.rationale
        assert record.provenance.cost_usd > 0  # gpt-4.1-mini has a price
    travel = next(r for r in records if r.source_ids[0].startswith("travel"))
    assert travel.provenance.params["attempt"] == 1 and travel.provenance.params["temperature"] > 0
    assert travel.provenance.tokens_in == 2 * 310  # both attempts are accounted
    assert len(handler.bodies) == 13 == outcome.calls
    body = handler.bodies[0]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == QA_SCHEMA
    assert outcome.cost_usd == pytest.approx(sum(r.provenance.cost_usd for r in records))
    assert seen[-1][:2] == (12, 12) and "tokens" in seen[-1][2] and "$" in seen[-1][2]
    assert store.get_run(outcome.run_id)["status"] == "complete"

    # A re-run of a complete run makes no model call and changes nothing.
    calls, before = store.count_calls(), out.read_bytes()
    again = run(store, hosted_teacher(Teacher(), monkeypatch), options)
    assert again.written == 0 and again.kept == 12 and again.calls == 0
    assert store.count_calls() == calls and out.read_bytes() == before


def test_same_seed_sends_the_same_requests_and_a_fresh_store_reproduces_the_file(
    tmp_path, monkeypatch
):
    first, second = Teacher(), Teacher()
    for handler, name in ((first, "a"), (second, "b")):
        options = GenerateOptions(sources=SOURCES, n=5, out=tmp_path / f"{name}.jsonl", seed=4)
        run(Store(tmp_path / f"{name}.db"), hosted_teacher(handler, monkeypatch), options,
            DuplicateFinder(use_embeddings=False))
    assert sorted(map(json.dumps, first.bodies)) == sorted(map(json.dumps, second.bodies))
    strip = [[(r.id, r.question, r.answer, r.source_ids) for r in records_of(tmp_path / f"{n}.jsonl")]
             for n in "ab"]
    assert sorted(strip[0]) == sorted(strip[1])


def test_invalid_output_is_recorded_as_failed_and_never_written(tmp_path, monkeypatch):
    handler = Teacher(junk={"housing": 99, "travel": 99})  # never valid for these documents
    store = Store(tmp_path / "assay.db")
    out = tmp_path / "data.jsonl"
    options = GenerateOptions(sources=SOURCES, n=12, out=out, seed=2, attempts=2)
    outcome = run(store, hosted_teacher(handler, monkeypatch), options,
                  DuplicateFinder(use_embeddings=False))
    records = records_of(out)
    assert len(records) == 12  # spare slots replaced the failed ones
    assert not any(r.source_ids[0].split("#")[0] in {"housing", "travel"} for r in records)
    assert len(outcome.failed) >= 2
    failed = [j for j in store.judgments(outcome.run_id) if j.status is JudgmentStatus.failed]
    assert sorted(j.record_id for j in failed) == sorted(outcome.failed)
    assert all("I cannot help" in j.raw and "no JSON object" in j.error for j in failed)
    failed_docs = {s.id: s.passage.doc_id for s in plan_slots(load_passages(SOURCES), 24, 2)}
    assert {failed_docs[slot] for slot in outcome.failed} == {"housing", "travel"}


def test_near_duplicates_are_skipped_or_written_marked(tmp_path, monkeypatch):
    out = tmp_path / "skip.jsonl"
    store = Store(tmp_path / "assay.db")
    options = GenerateOptions(sources=SOURCES, n=3, out=out, seed=0, concurrency=1)
    outcome = run(store, hosted_teacher(Teacher(same_question=True), monkeypatch), options,
                  DuplicateFinder(use_embeddings=False))
    assert len(records_of(out)) == 1  # every later question repeats the first
    assert len(outcome.duplicates) == 12 and {t for _, t in outcome.duplicates} == {"gen-0-00000"}
    assert store.get_run(outcome.run_id)["status"] == "incomplete"
    abstained = [j for j in store.judgments(outcome.run_id) if j.status is JudgmentStatus.abstain]
    assert len(abstained) == 12 and "near-duplicate of gen-0-00000" in abstained[0].error

    out = tmp_path / "report.jsonl"
    options = GenerateOptions(sources=SOURCES, n=3, out=out, seed=0, skip_duplicates=False,
                              concurrency=1)
    run(store, hosted_teacher(Teacher(same_question=True), monkeypatch), options,
        DuplicateFinder(use_embeddings=False))
    records = records_of(out)
    assert len(records) == 3
    assert [r.meta.get("near_duplicate_of") for r in records] == [None, records[0].id, records[0].id]


# -- teachers ---------------------------------------------------------------------------------


def test_teacher_file_reaches_the_provider(tmp_path):
    path = tmp_path / "teacher.toml"
    path.write_text('[teacher]\nprovider = "openai"\nmodel = "gemma-3-270m"\n[teacher.params]\n'
                    'base_url = "http://127.0.0.1:9/v1"\ntimeout = 600\nmax_tokens = 300\n')
    name, model, params = load_teacher(path, "local", "", None, fold_system=True)
    assert (name, model) == ("openai", "gemma-3-270m")
    provider = make_provider(name, model, params)
    assert isinstance(provider, OpenAIProvider)
    assert provider.fold_system is True and provider.base_url == "http://127.0.0.1:9/v1"
    assert provider.schema_format == "auto"  # found out by the first structured request
    asyncio.run(provider.aclose())
    path.write_text("[teacher]\nmodel = 'x'\n")
    with pytest.raises(ConfigError, match="needs a \\[teacher\\] table with a provider"):
        load_teacher(path, "local", "", None)
    with pytest.raises(ConfigError, match="unknown teacher provider"):
        load_teacher(None, "claude", "", None)


# -- real teachers: the packaged local model, the llama.cpp server ----------------------------


def generate_command(out: Path, n: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "generate", "qa", "--sources", str(SOURCES), "--n", str(n),
            "--out", str(out), *extra]


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.mark.slow
def test_local_teacher_offline_survives_sigkill_and_resumes_to_exactly_n(tmp_path):
    out = tmp_path / "data.jsonl"
    db = tmp_path / "assay.db"
    command = generate_command(out, 20, "--db", str(db))
    log = tmp_path / "first.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=cli_env(), cwd=tmp_path, stdout=sink, stderr=sink)
    try:
        while process.poll() is None and not (out.exists() and len(out.read_text().splitlines()) >= 3):
            time.sleep(0.2)
        assert process.poll() is None, log.read_text()[-2000:]
        os.kill(process.pid, signal.SIGKILL)  # mid-run, maybe mid-write
    finally:
        process.wait(timeout=30)
    assert 3 <= len(out.read_text().splitlines()) < 20

    done = subprocess.run(command, env=cli_env(), cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = out.read_text().splitlines()
    records = [QARecord.model_validate_json(line) for line in lines]  # no torn line
    assert len(records) == 20 and len({r.id for r in records}) == 20
    assert len({normalise_question(r.question) for r in records}) == 20
    for record in records:
        assert_provenance(record, "local", "gemma-3-270m", TEMPLATES / "qa_plain.txt")
        assert record.provenance.params["output"] == "completion"
        assert record.question.endswith("?") and len(record.answer.split()) >= 3
    summary = " ".join(done.stdout.split())
    assert "20 of 20" in summary and "kept from an earlier run" in summary

    calls = Store(db).count_calls()
    again = subprocess.run(command, env=cli_env(), cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    summary = " ".join(again.stdout.split())
    assert "0 new records" in summary and " 0 model calls" in summary
    assert Store(db).count_calls() == calls and out.read_text().splitlines() == lines


@pytest.mark.slow
def test_openai_teacher_against_the_llama_cpp_server_with_json_schema(llama_server, tmp_path):  # noqa: F811
    teacher = tmp_path / "teacher.toml"
    # Grammar-constrained sampling over Gemma's 262k vocabulary is slow on a small CPU.
    teacher.write_text(f'[teacher]\nprovider = "openai"\nmodel = "{LLAMA_MODEL_ALIAS}"\n'
                       f'[teacher.params]\nbase_url = "{llama_server}"\ntimeout = 800\n'
                       "max_tokens = 200\n")
    out = tmp_path / "data.jsonl"
    db = tmp_path / "assay.db"
    # One attempt per slot bounds the run (each grammar-constrained call is slow on 2 cores).
    command = generate_command(out, 2, "--teacher", str(teacher), "--fold-system", "--db", str(db),
                               "--attempts", "1")
    done = subprocess.run(command, env=cli_env(), cwd=tmp_path, capture_output=True, text=True)
    # The 270M base model often writes schema-valid but ungrounded pairs: the pipeline must
    # then record the slot as failed (exit 1: fewer than N written), never write the pair.
    assert done.returncode in (0, 1), done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    records = records_of(out) if out.exists() else []
    failed = Store(db).query("SELECT COUNT(*) FROM judgments WHERE status = 'failed'")[0][0]
    assert len(records) <= 2 and (len(records) == 2 or failed >= 1)
    assert (done.returncode == 0) == (len(records) == 2)
    for record in records:
        assert_provenance(record, "openai", LLAMA_MODEL_ALIAS, TEMPLATES / "qa_json.txt")
        assert record.provenance.params["output"] == "json_schema"
        assert record.meta.get("difficulty") in {"easy", "medium", "hard"}
    store = Store(db)
    rows = store.query("SELECT request, response FROM model_calls")
    assert rows
    for row in rows:  # grammar-constrained: every reply is schema-shaped JSON
        jsonschema.validate(json.loads(json.loads(row["response"])["text"]), QA_SCHEMA)
        assert json.loads(row["request"])["json_schema"] == QA_SCHEMA
