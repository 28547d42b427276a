"""Synthetic Q&A from source passages with a teacher model, with provenance.

Each output slot ``gen-<seed>-<i>`` is planned up front (seeded, coverage-balanced over
documents), so a re-run with the same seed sends the same requests (and hits the cache), and
a killed run continues where it stopped: records already in the output file are kept and
their slots skipped. A record is appended and flushed the moment it is valid; invalid teacher
output is retried and, if still invalid, recorded as a failed slot in the store, never written.

Teachers with structured output (``capabilities.json_schema``) get ``qa_json.txt`` and
``QA_SCHEMA``; the others (the packaged base model) continue the few-shot text of
``qa_plain.txt`` (``params={"completion": True}``), parsed as ``Question ... Answer: ...``.
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

from core.errors import AssayError, AuthError, ConfigError
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
from core.providers.base import ChatRequest, Completion, Provider
from core.providers.factory import make_runner
from core.sources import load_passages
from core.store import Store
from generate.dedup import DuplicateFinder

TEMPLATES = Path(__file__).parent / "templates"
DIFFICULTIES = ("easy", "medium", "hard")
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
                    "difficulty": {"type": "string", "enum": list(DIFFICULTIES)},
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
# A base model continuing the few-shot text stops at the next example.
PLAIN_STOPS = ["\n\n", "\nPassage:", "\nQuestion:"]
PLAIN_MAX_TOKENS = 64
RETRY_TEMPERATURE = 0.7  # a greedy retry would repeat the same output; a seeded sample differs
Progress = Callable[..., None]  # progress(done, total, note)


@dataclass
class GenerateOptions:
    """What ``generate_qa`` makes; ``max_tokens`` None means 400 (JSON) or 64 (plain text)."""

    sources: Path
    n: int
    out: Path
    seed: int = 0
    template: Path | None = None
    temperature: float = 0.0
    max_tokens: int | None = None
    attempts: int = 3
    concurrency: int = 2
    requests_per_minute: int = 0
    max_retries: int = 3  # of a 429, 5xx or timeout (see core.providers.factory)
    skip_duplicates: bool = True  # False: write near-duplicates, marked in meta

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"--n should be at least 1, got {self.n}")
        if self.attempts < 1:
            raise ConfigError(f"attempts should be at least 1, got {self.attempts}")
        if self.concurrency < 1:
            raise ConfigError(f"--concurrency should be at least 1, got {self.concurrency}")


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
    calls: int = 0  # model calls made (cache hits excluded)

    @property
    def total(self) -> int:
        return self.kept + self.written


@dataclass(frozen=True)
class Slot:
    """One planned record: its id, its passage and how often that passage was used before."""

    id: str
    passage: Passage
    reuse: int = 0


def plan_slots(passages: list[Passage], n: int, seed: int) -> list[Slot]:
    """``n`` slots, round-robin over documents in a seeded order, each document's passages
    in a seeded order: every document is covered before any repeats, every passage of a
    document before any of its passages repeats. A longer plan extends a shorter one."""
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
    slots: list[Slot] = []
    round_ = 0
    while len(slots) < n:
        for doc in docs:
            queue = queues[doc]
            slot_id = f"gen-{seed}-{len(slots):05d}"
            slots.append(Slot(slot_id, queue[round_ % len(queue)], round_ // len(queue)))
            if len(slots) == n:
                break
        round_ += 1
    return slots


def topic_of(passage: Passage) -> str:
    return passage.doc_id.split("/")[-1].replace("-", " ").replace("_", " ")


def build_request(
    template: str, slot: Slot, options: GenerateOptions, attempt: int, structured: bool
) -> ChatRequest:
    """The request for one attempt at one slot: the same inputs always give the same request.

    The first use of a passage at attempt 0 runs at ``options.temperature``; retries and
    reused passages sample at ``RETRY_TEMPERATURE`` with a seed of their own, so they ask
    again differently yet stay reproducible (and cached).
    """
    passage = slot.passage
    prompt = template.format(
        passage_id=passage.id,
        passage_text=passage.text.strip(),
        passage_line=" ".join(passage.text.split()),
        topic=topic_of(passage),
        n_pairs=1,
    )
    variant = slot.reuse * options.attempts + attempt
    temperature = options.temperature if variant == 0 else max(options.temperature, RETRY_TEMPERATURE)
    default_tokens = 400 if structured else PLAIN_MAX_TOKENS
    return ChatRequest(
        messages=[{"role": "user", "content": prompt if structured else prompt.rstrip()}],
        json_schema=QA_SCHEMA if structured else None,
        schema_name="qa_pairs",
        temperature=temperature,
        max_tokens=options.max_tokens or default_tokens,
        seed=options.seed * 1000 + variant,
        params={} if structured else {"completion": True, "stop": PLAIN_STOPS},
    )


def parse_pair(text: str, structured: bool, passage: Passage, truncated: bool = False) -> dict:
    """The first question/answer pair of the teacher's output, or ValueError.

    Beyond the shape, it checks the pair is about the passage: half the answer's content
    words must occur in it (a small model likes to copy the few-shot example instead), and
    a plain-text answer cut off by ``max_tokens`` (``truncated``) is refused.
    """
    if structured:
        match = re.search(r"\{.*\}", text, re.DOTALL)
        if not match:
            raise ValueError("no JSON object in the output")
        data = json.loads(match.group(0), strict=False)  # small models break lines in strings
        pairs = data.get("pairs") if isinstance(data, dict) else None
        pair = pairs[0] if isinstance(pairs, list) and pairs else data
        if not isinstance(pair, dict):
            raise ValueError("the JSON holds no question/answer object")
    else:
        pair = _parse_plain(text, truncated)
    question = " ".join(str(pair.get("question", "")).split())
    answer = " ".join(str(pair.get("answer", "")).split())
    if len(question.split()) < 3 or not question.endswith("?"):
        raise ValueError(f"not a question: {question[:60]!r}")
    if len(answer.split()) < 3:
        raise ValueError(f"answer too short: {answer[:60]!r}")
    if answer.rstrip("?. ").lower() == question.rstrip("?. ").lower():
        raise ValueError("the answer repeats the question")
    if grounded_share(answer, passage.text) < 0.5:
        raise ValueError(f"the answer is mostly words the passage lacks: {answer[:60]!r}")
    difficulty = pair.get("difficulty")
    return {
        "question": question,
        "answer": answer,
        "rationale": str(pair.get("rationale") or "").strip() or None,
        "topic": str(pair.get("topic") or "").strip() or topic_of(passage),
        "difficulty": difficulty if difficulty in DIFFICULTIES else None,
        "source_ids": [passage.id],  # one passage per request: the only one it can use
    }


def _parse_plain(text: str, truncated: bool) -> dict:
    """``What ...?\nAnswer: ...`` (the continuation of ``Question:``) -> question, answer."""
    question, found, rest = text.partition("Answer:")
    if not found:
        raise ValueError(f"no 'Answer:' in the output: {text[:60]!r}")
    question = question.strip().removeprefix("Question:").strip()
    lines = [line.strip() for line in rest.strip().splitlines()]
    if truncated and len(lines) <= 1:
        raise ValueError("the answer was cut off by max_tokens")
    return {"question": question, "answer": lines[0] if lines else ""}


STOPWORDS = frozenset(
    "about after also been before could does each from have into just more most must only other"
    " over same should some such than that their them then there these they this those under"
    " were what when where which while will with would your".split()
)


def grounded_share(answer: str, passage: str) -> float:
    """Share of the answer's content words (4+ letters or with a digit) found in ``passage``;
    a trailing "s" is ignored so that "course" matches "courses"."""
    def words(text: str) -> set[str]:
        found = re.findall(r"[a-z0-9$%][a-z0-9$%.,'-]*[a-z0-9%]|[0-9]", text.lower())
        return {w.removesuffix("s") for w in found
                if (len(w) >= 4 or any(c.isdigit() for c in w)) and w not in STOPWORDS}

    wanted = words(answer)
    return len(wanted & words(passage)) / len(wanted) if wanted else 0.0


def read_existing(out: Path, repair: bool = True) -> dict[str, QARecord]:
    """Records already written by an earlier run; a line cut by a crash is dropped (and, with
    ``repair``, the file rewritten without it) so that its slot is generated again."""
    if not out.exists():
        return {}
    content = out.read_text(encoding="utf-8")
    lines = [line for line in content.splitlines() if line.strip()]
    records: dict[str, QARecord] = {}
    for line in lines:
        try:
            record = QARecord.model_validate_json(line)
        except ValueError:
            continue
        records.setdefault(record.id, record)
    if repair and (len(records) != len(lines) or (content and not content.endswith("\n"))):
        _rewrite(out, list(records.values()))
    return records


def _rewrite(out: Path, records: list[QARecord]) -> None:
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, out)


def _append(out: Path, record: QARecord) -> None:
    with out.open("a", encoding="utf-8") as handle:
        handle.write(record.model_dump_json() + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def load_template(options: GenerateOptions, structured: bool) -> tuple[Path, str]:
    path = options.template or TEMPLATES / ("qa_json.txt" if structured else "qa_plain.txt")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the prompt template ({exc.strerror or exc})") from exc
    if "{passage_text}" not in text and "{passage_line}" not in text:
        raise ConfigError(f"{path}: a prompt template needs {{passage_text}} or {{passage_line}}")
    return path, text


async def generate_qa(
    store: Store,
    provider: Provider,
    options: GenerateOptions,
    progress: Progress | None = None,
    dedup: DuplicateFinder | None = None,
) -> GenerateOutcome:
    """Append ``options.n`` records to ``options.out`` (resuming what an earlier run wrote).

    ``progress(done, total, note)`` is called as records land; ``dedup`` defaults to a
    ``DuplicateFinder`` with embeddings when the embedding extra is installed.
    """
    job, todo = start_generation(store, provider, options, progress, dedup)
    # Waves: failed or duplicate slots are replaced by spare slots until n records exist.
    while todo and (need := options.n - job.outcome.total) > 0:
        wave, todo = todo[:need], todo[need:]
        await asyncio.gather(*(job.run_slot(slot) for slot in wave))
    job.finish()
    return job.outcome


def start_generation(
    store: Store,
    provider: Provider,
    options: GenerateOptions,
    progress: Progress | None = None,
    dedup: DuplicateFinder | None = None,
    **run_config: object,
) -> tuple[Generation, list[Slot]]:
    """The run's state and its slots still to fill, in order (spares last); the run is
    recorded in the store with ``run_config`` added to its config."""
    if options.out.is_dir():
        raise ConfigError(f"--out {options.out} is a folder; give the path of a .jsonl file")
    structured = provider.capabilities.json_schema
    template_path, template = load_template(options, structured)
    # Spare slots (seeded like the rest) replace failed or duplicate ones.
    slots = plan_slots(load_passages(options.sources), options.n + max(options.n, 10), options.seed)
    run_id = "generate-" + content_hash(
        {"slots": [(s.id, s.passage.sha256) for s in slots], "template": sha256_text(template),
         "provider": provider.name, "model": provider.model, "seed": options.seed}
    )[:12]
    store.create_run(run_id, "generate", None, {
        "out": str(options.out), "n": options.n, "seed": options.seed,
        "provider": provider.name, "model": provider.model, "template": str(template_path),
        **run_config})
    existing = read_existing(options.out)
    dedup = dedup if dedup is not None else DuplicateFinder()
    for record in existing.values():
        dedup.add(record.id, record.question)
    own = {s.id for s in slots}
    outcome = GenerateOutcome(run_id, written=0, kept=len(own & existing.keys()))
    job = Generation(store, provider, options, outcome, template_path.name, template, dedup,
                     progress, written_ids=set(existing))
    options.out.parent.mkdir(parents=True, exist_ok=True)
    job.report()
    return job, [s for s in slots if s.id not in existing]


@dataclass
class Generation:
    """The state one generation run shares between its slots."""

    store: Store
    provider: Provider
    options: GenerateOptions
    outcome: GenerateOutcome
    template_name: str
    template: str
    dedup: DuplicateFinder
    progress: Progress | None
    written_ids: set[str] = field(default_factory=set)  # in the output file
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.structured = self.provider.capabilities.json_schema
        self.template_sha256 = sha256_text(self.template)
        self.runner = make_runner(self.provider, self.store,
                                  {"concurrency": self.options.concurrency,
                                   "requests_per_minute": self.options.requests_per_minute,
                                   "max_retries": self.options.max_retries})
        self.semaphore = asyncio.Semaphore(self.options.concurrency)
        self.lock = asyncio.Lock()

    async def run_slot(self, slot: Slot) -> None:
        async with self.semaphore:
            record, error, raw = await self._attempts(slot)
        async with self.lock:  # one writer: records and duplicate checks in a fixed order
            self.settle(slot, record, error, raw)
            self.report()

    async def _attempts(self, slot: Slot) -> tuple[QARecord | None, str, str]:
        started = time.monotonic()
        error, raw = "", ""
        spent = [0, 0, 0.0]  # tokens in, tokens out, cost over every attempt at this slot
        for attempt in range(self.options.attempts):
            request = build_request(self.template, slot, self.options, attempt, self.structured)
            try:
                result = await self.runner.complete(request)
            except AssayError as exc:
                if isinstance(exc, (AuthError, ConfigError)):
                    raise  # every other slot would fail the same way
                error, raw = f"{type(exc).__name__}: {exc}", ""
                continue
            self.outcome.calls += not result.cache_hit
            completion = result.completion
            self.count(completion, result.cost_usd)
            for i, value in enumerate((completion.tokens_in, completion.tokens_out, result.cost_usd)):
                spent[i] += value
            raw = completion.text
            try:
                record = self.make_record(slot, request, completion, attempt, spent,
                                          time.monotonic() - started, result.cache_hit)
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                error = f"attempt {attempt + 1}: {exc}"
                continue
            return record, "", raw
        return None, error, raw

    def count(self, completion: Completion, cost: float) -> None:
        self.outcome.tokens_in += completion.tokens_in
        self.outcome.tokens_out += completion.tokens_out
        self.outcome.cost_usd += cost

    def make_record(self, slot: Slot, request: ChatRequest, completion: Completion, attempt: int,
                    spent: list, seconds: float, cache_hit: bool) -> QARecord:
        """The record of a teacher's answer, or ValueError when the answer is not usable.

        ``spent`` is [tokens in, tokens out, cost] over every attempt at this slot.
        """
        pair = parse_pair(completion.text, self.structured, slot.passage,
                          truncated=completion.finish_reason == "length")
        params = {"temperature": request.temperature, "seed": request.seed,
                  "max_tokens": request.max_tokens, "attempt": attempt,
                  "template": self.template_name, "cache_hit": cache_hit,
                  "output": "json_schema" if self.structured else "completion"}
        provenance = Provenance(
            teacher_provider=self.provider.name, teacher_model=self.provider.model,
            template_sha256=self.template_sha256, params=params,
            source_passages={slot.passage.id: slot.passage.sha256},
            tokens_in=int(spent[0]), tokens_out=int(spent[1]), cost_usd=float(spent[2]),
            seconds=round(seconds, 3), created=utcnow())
        meta = {"difficulty": pair["difficulty"]} if pair["difficulty"] else {}
        return QARecord(id=slot.id, question=pair["question"], answer=pair["answer"],
                        rationale=pair["rationale"], source_ids=pair["source_ids"],
                        topic=pair["topic"], provenance=provenance, meta=meta)

    def finish(self) -> None:
        done = self.outcome.total >= self.options.n
        self.store.set_run_status(self.outcome.run_id, "complete" if done else "incomplete")

    def settle(self, slot: Slot, record: QARecord | None, error: str, raw: str) -> None:
        """Write ``record`` (unless it repeats a question) or record why the slot failed."""
        run_id = self.outcome.run_id
        if record is None:
            self.outcome.failed.append(slot.id)
            self.store.save_judgment(Judgment(run_id=run_id, record_id=slot.id, judge="teacher",
                                              status=JudgmentStatus.failed, error=error, raw=raw))
            return
        if twin := self.dedup.find(record.question):
            self.outcome.duplicates.append((slot.id, twin))
            self.store.save_judgment(Judgment(
                run_id=run_id, record_id=slot.id, judge="teacher", status=JudgmentStatus.abstain,
                error=f"near-duplicate of {twin}: {record.question}", raw=raw))
            if self.options.skip_duplicates or self.outcome.total >= self.options.n:
                return
            record.meta["near_duplicate_of"] = twin
        if self.outcome.total >= self.options.n:
            return  # a wave never overshoots, but stay exact
        self.dedup.add(slot.id, record.question)
        _append(self.options.out, record)
        self.written_ids.add(record.id)
        self.outcome.written += 1

    def report(self) -> None:
        if not self.progress:
            return
        o = self.outcome
        minutes = (time.monotonic() - self.started) / 60
        rate = f"{o.written / minutes:.1f}/min" if minutes > 0 and o.written else "-/min"
        note = (f"{rate} · {o.tokens_in + o.tokens_out:,} tokens · ${o.cost_usd:.4f}"
                f" · {len(o.failed)} failed · {len(o.duplicates)} duplicates")
        self.progress(min(o.total, self.options.n), self.options.n, note)
