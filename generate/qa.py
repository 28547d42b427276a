"""Synthetic Q&A from source passages with a teacher model, with provenance.

Each output slot ``gen-<seed>-<i>`` is planned up front (seeded, coverage-balanced over
documents), so a re-run with the same seed sends the same requests (and hits the cache), and
a killed run continues where it stopped: records already in the output file are kept and
their slots skipped. A record is appended and flushed the moment it is valid; invalid teacher
output is retried and, if still invalid, recorded as a failed slot in the store, never written.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.calls import CallRunner
from core.errors import AssayError, ConfigError
from core.models import (
    Judgment,
    JudgmentStatus,
    Passage,
    Provenance,
    QARecord,
    content_hash,
    sha256_text,
    utcnow,
)
from core.providers.base import ChatRequest, Provider
from core.sources import load_passages
from core.store import Store
from generate.dedup import DuplicateFinder

TEMPLATES = Path(__file__).parent / "templates"
QA_SCHEMA = {
    "type": "object",
    "properties": {
        "pairs": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "question": {"type": "string"},
                    "answer": {"type": "string"},
                    "rationale": {"type": "string"},
                    "topic": {"type": "string"},
                    "difficulty": {"type": "string", "enum": ["easy", "medium", "hard"]},
                    "source_ids": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["question", "answer", "rationale", "topic", "difficulty", "source_ids"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["pairs"],
    "additionalProperties": False,
}


@dataclass
class GenerateOptions:
    sources: Path
    n: int
    out: Path
    seed: int = 0
    template: Path | None = None
    temperature: float = 0.0
    max_tokens: int = 400
    attempts: int = 3
    concurrency: int = 2
    skip_duplicates: bool = True


@dataclass
class GenerateOutcome:
    run_id: str
    written: int
    kept: int  # records already in the output file from an earlier, interrupted run
    failed: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (slot, duplicate of)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0


def plan_slots(passages: list[Passage], n: int, seed: int) -> list[tuple[str, Passage]]:
    """``n`` (slot id, passage) pairs, round-robin over documents in a seeded order."""
    if n < 1:
        raise ConfigError(f"--n should be at least 1, got {n}")
    rng = random.Random(seed)
    by_doc: dict[str, list[Passage]] = defaultdict(list)
    for passage in passages:
        if len(passage.text.split()) >= 12:  # headings alone ground no question
            by_doc[passage.doc_id].append(passage)
    if not by_doc:
        raise ConfigError("the sources hold no passage long enough to ground a question")
    docs = sorted(by_doc)
    rng.shuffle(docs)
    queues = {doc: rng.sample(by_doc[doc], len(by_doc[doc])) for doc in docs}
    slots: list[tuple[str, Passage]] = []
    round_ = 0
    while len(slots) < n:
        for doc in docs:
            queue = queues[doc]
            slots.append((f"gen-{seed}-{len(slots):05d}", queue[round_ % len(queue)]))
            if len(slots) == n:
                break
        round_ += 1
    return slots


def topic_of(passage: Passage) -> str:
    return passage.doc_id.split("/")[-1].replace("-", " ").replace("_", " ")


def build_request(template: str, passage: Passage, options: GenerateOptions, attempt: int,
                  structured: bool) -> ChatRequest:
    prompt = template.format(
        passage_id=passage.id, passage_text=passage.text, topic=topic_of(passage), n_pairs=1
    )
    return ChatRequest(
        messages=[{"role": "user", "content": prompt}],
        json_schema=QA_SCHEMA if structured else None,
        schema_name="qa_pairs",
        temperature=options.temperature,
        max_tokens=options.max_tokens,
        seed=options.seed * 1000 + attempt,  # a retry asks again, differently
        params={} if structured else {"completion": True},
    )


def parse_pair(text: str, structured: bool) -> dict:
    """The first question/answer pair of the teacher's output, or ValueError."""
    if structured:
        match = re.search(r"\{.*\}", text, re.DOTALL)
        if not match:
            raise ValueError("no JSON object in the output")
        data = json.loads(match.group(0))
        pairs = data.get("pairs") if isinstance(data, dict) else None
        pair = pairs[0] if isinstance(pairs, list) and pairs else data
    else:
        question, _, rest = text.partition("Answer:")
        pair = {"question": question.strip(), "answer": rest.split("\n\n")[0].split("Question:")[0]}
    question = str(pair.get("question", "")).strip()
    answer = str(pair.get("answer", "")).strip()
    if len(question) < 8 or not question.endswith("?"):
        raise ValueError(f"not a question: {question[:60]!r}")
    if len(answer.split()) < 3:
        raise ValueError(f"answer too short: {answer[:60]!r}")
    return pair | {"question": question, "answer": answer}


def read_existing(out: Path) -> dict[str, QARecord]:
    """Records already written by an earlier run (a torn last line is dropped)."""
    if not out.exists():
        return {}
    records = {}
    lines = out.read_text(encoding="utf-8").splitlines()
    for line in lines:
        try:
            record = QARecord.model_validate_json(line)
        except ValueError:
            continue  # a line cut by a crash: its slot is generated again
        records[record.id] = record
    if lines and len(records) != len([line for line in lines if line.strip()]):
        _rewrite(out, list(records.values()))
    return records


def _rewrite(out: Path, records: list[QARecord]) -> None:
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, out)


async def generate_qa(
    store: Store,
    provider: Provider,
    options: GenerateOptions,
    progress: Callable[[int, int], None] | None = None,
) -> GenerateOutcome:
    """Generate ``options.n`` records into ``options.out`` (appending, resumable)."""
    passages = load_passages(options.sources)
    structured = provider.capabilities.json_schema
    template_path = options.template or TEMPLATES / ("qa_json.txt" if structured else "qa_plain.txt")
    try:
        template = template_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{template_path}: cannot read the prompt template") from exc
    # Spare slots (seeded like the rest) replace failed or duplicate ones.
    slots = plan_slots(passages, options.n * 2, options.seed)
    run_id = "generate-" + content_hash(
        {"slots": [(s, p.sha256) for s, p in slots], "template": sha256_text(template),
         "provider": provider.name, "model": provider.model, "seed": options.seed}
    )[:12]
    store.create_run(run_id, "generate", None, {"out": str(options.out), "n": options.n,
                                                "provider": provider.name, "model": provider.model})
    existing = read_existing(options.out)
    dedup = DuplicateFinder()
    for record in existing.values():
        dedup.add(record.id, record.question)
    runner = CallRunner(provider, store, concurrency=options.concurrency)
    outcome = GenerateOutcome(run_id, written=0, kept=len(existing))
    todo = [(slot, p) for slot, p in slots if slot not in existing]
    done = len(slots) - len(todo)
    lock = asyncio.Lock()
    options.out.parent.mkdir(parents=True, exist_ok=True)

    async def one(slot: str, passage: Passage) -> None:
        nonlocal done
        record, error, raw = None, "", ""
        started = time.monotonic()
        for attempt in range(options.attempts):
            request = build_request(template, passage, options, attempt, structured)
            try:
                result = await runner.complete(request)
            except AssayError as exc:
                error, raw = f"{type(exc).__name__}: {exc}", ""
                continue
            outcome.tokens_in += result.completion.tokens_in
            outcome.tokens_out += result.completion.tokens_out
            outcome.cost_usd += result.cost_usd
            raw = result.completion.text
            try:
                pair = parse_pair(raw, structured)
            except (ValueError, json.JSONDecodeError) as exc:
                error = str(exc)
                continue
            record = QARecord(
                id=slot,
                question=pair["question"],
                answer=pair["answer"],
                rationale=(pair.get("rationale") or None),
                source_ids=[passage.id],
                topic=str(pair.get("topic") or topic_of(passage)),
                provenance=Provenance(
                    teacher_provider=provider.name,
                    teacher_model=provider.model,
                    template_sha256=sha256_text(template),
                    params={"temperature": options.temperature, "seed": request.seed,
                            "max_tokens": options.max_tokens, "attempt": attempt,
                            "difficulty": pair.get("difficulty")},
                    source_passages={passage.id: passage.sha256},
                    tokens_in=result.completion.tokens_in,
                    tokens_out=result.completion.tokens_out,
                    cost_usd=result.cost_usd,
                    seconds=round(time.monotonic() - started, 3),
                    created=utcnow(),
                ),
            )
            break
        async with lock:
            done += 1
            if record is None:
                outcome.failed.append(slot)
                store.save_judgment(Judgment(run_id=run_id, record_id=slot, judge="teacher",
                                             status=JudgmentStatus.failed, error=error, raw=raw))
            elif (twin := dedup.find(record.question)) and options.skip_duplicates:
                outcome.duplicates.append((slot, twin))
            else:
                dedup.add(slot, record.question)
                with options.out.open("a", encoding="utf-8") as handle:
                    handle.write(record.model_dump_json() + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                outcome.written += 1
            if progress:
                progress(min(done, options.n), options.n)

    if progress:
        progress(len(existing), options.n)
    semaphore = asyncio.Semaphore(options.concurrency)

    async def bounded(slot: str, passage: Passage) -> None:
        async with semaphore:
            await one(slot, passage)

    # Waves: failed or duplicate slots are replaced by spare slots until n records exist.
    while todo and (need := options.n - outcome.kept - outcome.written) > 0:
        wave, todo = todo[:need], todo[need:]
        await asyncio.gather(*(bounded(slot, p) for slot, p in wave))
    store.set_run_status(run_id, "complete" if not outcome.failed else "incomplete")
    return outcome
