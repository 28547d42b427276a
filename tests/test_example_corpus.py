"""The bundled advising example: sources, dataset and truth labels hang together."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from core.models import Category, QARecord, Severity
from core.sources import load_passages

POLICY_SENSITIVE = {"healthcare", "admissions", "scholarships", "work_authorisation"}
_MONTH_DAY = re.compile(
    r"\b(january|february|march|april|may|june|july|august|september|october|november|december)"
    r"\s+(\d{1,2})\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def value_tokens(text: str) -> set[str]:
    """Numbers (commas dropped) and ``month day`` pairs: what a wrong number or date changes."""
    numbers = {m.group().replace(",", "").rstrip(".") for m in _NUMBER.finditer(text)}
    dates = {f"{m.group(1).lower()} {int(m.group(2))}" for m in _MONTH_DAY.finditer(text)}
    return numbers | dates


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "advising"


@pytest.fixture(scope="module")
def passages() -> dict:
    return {p.id: p for p in load_passages(EXAMPLE / "sources")}


@pytest.fixture
def records(example_dir) -> list[dict]:
    return _jsonl(example_dir / "dataset.jsonl")


@pytest.fixture
def truth(example_dir) -> list[dict]:
    return _jsonl(example_dir / "truth.jsonl")


def test_sources_hold_eight_documents_including_html_and_pdf(example_dir, passages):
    files = [p for p in (example_dir / "sources").iterdir() if p.is_file()]
    suffixes = Counter(p.suffix for p in files)
    assert len(files) >= 8
    assert suffixes[".html"] >= 1 and suffixes[".pdf"] >= 1 and suffixes[".md"] >= 6
    assert {p.doc_id for p in passages.values()} == {p.stem for p in files}


def test_html_table_and_pdf_text_are_extracted(passages):
    assert "| Birch Hall | Double room | $4,350" in passages["housing#1"].text
    pdf = {pid: p.text for pid, p in passages.items() if pid.startswith("tuition-and-payment#")}
    assert pdf["tuition-and-payment#1"].startswith("Tuition rates\n")
    assert "$18,600 per semester" in pdf["tuition-and-payment#1"]
    assert "A late payment fee of $150" in pdf["tuition-and-payment#4"]


def test_each_markdown_and_html_section_is_one_passage(passages):
    for passage in passages.values():
        if passage.doc_id != "tuition-and-payment":
            assert passage.text.startswith("#"), passage.id
            assert passage.text.count("\n#") == 0, passage.id


def test_dataset_records_are_valid_and_unique(records):
    assert len(records) >= 200
    ids = [r["id"] for r in records]
    assert len(set(ids)) == len(ids)
    assert len({r["question"].lower() for r in records}) == len(records)
    for record in records:
        assert set(record) == {"id", "topic", "question", "answer", "source_ids"}
        QARecord.model_validate(record)


def test_every_source_id_resolves_to_a_passage(records, passages):
    cited = [sid for r in records for sid in r["source_ids"]]
    assert cited and all(r["source_ids"] for r in records)
    assert [sid for sid in cited if sid not in passages] == []


def test_truth_labels_line_up_with_the_dataset(records, truth, passages):
    assert [t["id"] for t in truth] == [r["id"] for r in records]
    kinds = {c.value for c in Category} - {"none", "other"}
    for label in truth:
        assert label["passage_id"] is None or label["passage_id"] in passages, label
        assert label["note"]
        if label["label"] == "correct":
            assert label["kind"] is None and label["severity"] is None, label
            assert label["passage_id"] is not None, label
        else:
            assert label["label"] == "error"
            assert label["kind"] in kinds, label
            assert Severity(label["severity"]) is not Severity.none
            assert (label["passage_id"] is None) == (label["kind"] == "unanswerable"), label


def test_error_share_and_spread(records, truth):
    errors = [r for r, t in zip(records, truth, strict=True) if t["label"] == "error"]
    assert 0.25 <= len(errors) / len(records) <= 0.35
    assert POLICY_SENSITIVE <= {r["topic"] for r in errors}
    kinds = Counter(t["kind"] for t in truth if t["label"] == "error")
    assert set(kinds) == {c.value for c in Category} - {"none", "other"}
    # the rules judge targets numbers and dates: they are a good share of the errors
    assert 0.3 <= (kinds["wrong_number"] + kinds["wrong_date"]) / len(errors) <= 0.45


def test_wrong_numbers_and_dates_differ_from_the_cited_passage(records, truth, passages):
    checked = 0
    for record, label in zip(records, truth, strict=True):
        if label["kind"] in {"wrong_number", "wrong_date"}:
            passage = passages[label["passage_id"]].text
            assert value_tokens(record["answer"]) - value_tokens(passage), record
            checked += 1
    assert checked >= 20


def test_some_correct_answers_paraphrase_their_numbers(records, truth, passages):
    """Correct answers that a naive 'every number must appear verbatim' check would flag."""
    paraphrased = [
        r for r, t in zip(records, truth, strict=True)
        if t["label"] == "correct"
        and value_tokens(r["answer"]) - value_tokens(passages[t["passage_id"]].text)
    ]
    spelled = [
        r for r, t in zip(records, truth, strict=True)
        if t["label"] == "correct"
        and re.search(r"\b(twenty|sixty|ninety|fifteen|eight|nine|two)\b", r["answer"], re.I)
    ]
    assert len(paraphrased) >= 2 and len(spelled) >= 3


def test_generator_reproduces_the_committed_files(example_dir):
    script = example_dir / "tools" / "build_dataset.py"
    done = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
