"""Build ``dataset.jsonl`` and ``truth.jsonl`` for the Northfield University advising example.

Run from anywhere: ``python examples/advising/tools/build_dataset.py`` (add ``--check`` to
verify that the committed files match without writing them).

Every record comes from the facts table in ``facts.py``: correct paraphrases of a fact,
controlled corruptions of one (a wrong number or date swapped into an otherwise correct answer),
and hand-written errors of the other kinds. ``source_ids`` are found with
``core.sources.load_passages``: the passage whose text contains the fact's verbatim anchor. The
output order is a seeded shuffle, so the files are reproducible byte for byte.
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent
ROOT = EXAMPLE.parents[1]
sys.path[:0] = [str(ROOT), str(HERE)]  # core/, and facts.py + build_pdf.py beside this script

from build_pdf import SECTIONS  # noqa: E402
from facts import DEFERRALS, FACTS, PLANTED  # noqa: E402

from core.sources import load_passages  # noqa: E402

SEED = 20250818
SOURCES = EXAMPLE / "sources"
DATASET = EXAMPLE / "dataset.jsonl"
TRUTH = EXAMPLE / "truth.jsonl"
POLICY_SENSITIVE = ("healthcare", "admissions", "scholarships", "work_authorisation")

_MONTHS = ("january february march april may june july august september october november "
           "december").split()
_MONTH_DAY = re.compile(r"\b(" + "|".join(_MONTHS) + r")\s+(\d{1,2})\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def value_tokens(text: str) -> set[str]:
    """Numbers (commas dropped) and ``month day`` pairs that occur in ``text``."""
    numbers = {m.group().replace(",", "").rstrip(".") for m in _NUMBER.finditer(text)}
    dates = {f"{m.group(1).lower()} {int(m.group(2))}" for m in _MONTH_DAY.finditer(text)}
    return {n for n in numbers if n} | dates


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def passage_index() -> dict[str, list]:
    """Passages by doc_id, after checking that each section is exactly one passage."""
    by_doc: dict[str, list] = {}
    for passage in load_passages(SOURCES):
        by_doc.setdefault(passage.doc_id, []).append(passage)
    for doc_id, passages in by_doc.items():
        if doc_id == "tuition-and-payment":  # PDF: no Markdown headings survive extraction
            titles = [title for title, _ in SECTIONS]
            starts = [p.text.split("\n", 1)[0].strip() for p in passages[1:]]
            if starts != titles:
                raise SystemExit(f"{doc_id}: sections do not map one-to-one to passages: {starts}")
            continue
        for passage in passages:
            if not passage.text.startswith("#"):
                raise SystemExit(f"{passage.id}: does not start at a heading; shorten the section")
    return by_doc


def find_passage(by_doc: dict[str, list], doc: str, anchor: str):
    """The one passage of ``doc`` whose text contains ``anchor`` (whitespace-insensitive)."""
    hits = [p for p in by_doc[doc] if _norm(anchor) in _norm(p.text)]
    if len(hits) != 1:
        raise SystemExit(f"anchor {anchor!r} found in {len(hits)} passages of {doc}")
    return hits[0]


def _row(topic, question, answer, passage, label, kind, severity, note, truth_passage=True,
         also=()):
    record = {"topic": topic, "question": question, "answer": answer,
              "source_ids": [passage.id, *(p.id for p in also)]}
    truth = {"label": label, "kind": kind,
             "passage_id": passage.id if truth_passage else None,
             "severity": severity, "note": note}
    return record, truth


def build_rows() -> list[tuple[dict, dict]]:
    """All (record, truth) pairs in table order, validated."""
    by_doc = passage_index()
    rows = []
    for fact in FACTS:
        passage = find_passage(by_doc, fact.doc, fact.anchor)
        also = [find_passage(by_doc, doc, anchor) for doc, anchor in fact.also]
        pairs = list(fact.qas)
        corrupted = pairs.pop() if fact.wrong else None
        for question, answer in pairs:
            rows.append(_row(fact.topic, question, answer, passage, "correct", None, None,
                             f"Supported: fact '{fact.key}'.", also=also))
        if corrupted:
            kind, right, bad = fact.wrong
            question, answer = corrupted
            if answer.count(right) != 1:
                raise SystemExit(f"{fact.key}: {right!r} must occur once in {answer!r}")
            wrong_answer = answer.replace(right, bad)
            if not value_tokens(bad) - value_tokens(passage.text):
                raise SystemExit(f"{fact.key}: {bad!r} also appears in {passage.id}")
            note = f"The source says {right}, not {bad}."
            rows.append(_row(fact.topic, question, wrong_answer, passage, "error", kind,
                             fact.severity, note))
    for planted in PLANTED:
        passage = find_passage(by_doc, planted.doc, planted.anchor)
        rows.append(_row(planted.topic, planted.question, planted.answer, passage, "error",
                         planted.kind, planted.severity, planted.note, planted.truth))
    for topic, doc, anchor, question, answer in DEFERRALS:
        passage = find_passage(by_doc, doc, anchor)
        rows.append(_row(topic, question, answer, passage, "correct", None, None,
                         "Correctly says the sources do not cover this and refers to OISS."))
    questions = Counter(_norm(r["question"]).lower() for r, _ in rows)
    duplicates = [q for q, n in questions.items() if n > 1]
    if duplicates:
        raise SystemExit(f"duplicate questions: {duplicates}")
    return rows


def render() -> tuple[str, str, list[tuple[dict, dict]]]:
    """The two JSONL files' text, after a seeded shuffle and numbering."""
    rows = build_rows()
    random.Random(SEED).shuffle(rows)
    dataset, truth = [], []
    for n, (record, label) in enumerate(rows, start=1):
        record_id = f"adv-{n:04d}"
        dataset.append(json.dumps({"id": record_id, **record}, ensure_ascii=False))
        truth.append(json.dumps({"id": record_id, **label}, ensure_ascii=False))
        record["id"] = label["id"] = record_id
    return "\n".join(dataset) + "\n", "\n".join(truth) + "\n", rows


def summary(rows: list[tuple[dict, dict]]) -> str:
    """Counts for the README: records, error share, errors by kind and by topic."""
    errors = [(r, t) for r, t in rows if t["label"] == "error"]
    lines = [f"records {len(rows)}, errors {len(errors)} ({len(errors) / len(rows):.1%}), "
             f"facts {len(FACTS)}"]
    kinds = Counter(t["kind"] for _, t in errors)
    lines.append("by kind: " + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))
    topics = Counter(r["topic"] for r, _ in rows)
    bad = Counter(r["topic"] for r, _ in errors)
    lines.append("by topic (errors/records): " + ", ".join(
        f"{topic} {bad[topic]}/{n}" for topic, n in sorted(topics.items())))
    severities = Counter(t["severity"] for _, t in errors)
    lines.append("by severity: " + ", ".join(f"{k} {n}" for k, n in severities.most_common()))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    dataset, truth, rows = render()
    errors = sum(t["label"] == "error" for _, t in rows)
    if not 0.25 <= errors / len(rows) <= 0.35:
        raise SystemExit(f"error share {errors / len(rows):.3f} is outside 0.25-0.35")
    for topic in POLICY_SENSITIVE:
        if not any(r["topic"] == topic and t["label"] == "error" for r, t in rows):
            raise SystemExit(f"no error in policy-sensitive topic {topic}")
    if "--check" in argv:
        stale = [p.name for p, text in ((DATASET, dataset), (TRUTH, truth))
                 if not p.exists() or p.read_text(encoding="utf-8") != text]
        if stale:
            print(f"out of date: {', '.join(stale)}; rerun without --check")
            return 1
    else:
        DATASET.write_text(dataset, encoding="utf-8")
        TRUTH.write_text(truth, encoding="utf-8")
    print(summary(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
