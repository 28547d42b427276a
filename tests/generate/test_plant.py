"""`generate plant`: real changes, the requested rate, and the rules judge catches them."""

import asyncio
import json
import subprocess
import sys
from collections import Counter

import pytest

from audit.judges.rules import RulesJudge
from core.datasets import load_dataset
from core.errors import ConfigError
from core.models import JudgeSpec, QARecord
from core.retrieval import evidence_for, load_index
from generate.plant import change_date, change_number, negate_rule, plant_errors


@pytest.fixture
def clean_records(example_dir):
    truth = {}
    for line in (example_dir / "truth.jsonl").read_text().splitlines():
        row = json.loads(line)
        truth[row["id"]] = row["label"]
    dataset = load_dataset(example_dir / "dataset.jsonl")
    return [r for r in dataset.records if truth[r.id] == "correct"]


def test_every_planted_change_is_real_and_the_rate_is_respected(clean_records):
    planted, labels = plant_errors(clean_records, 0.3, seed=3)
    errors = [label for label in labels if label.label == "error"]
    assert len(errors) == round(0.3 * len(clean_records))
    assert [r.id for r in planted] == [r.id for r in clean_records]
    for record, original, label in zip(planted, clean_records, labels, strict=True):
        if label.label == "error":
            assert record.answer != original.answer and label.kind and label.detail
            assert label.planted_answer == record.answer
        else:
            assert record.answer == original.answer and label.kind is None
    assert len(Counter(label.kind for label in errors)) >= 5  # spread over kinds
    again, _ = plant_errors(clean_records, 0.3, seed=3)
    assert [r.answer for r in again] == [r.answer for r in planted]


def test_number_and_date_changes_leave_times_codes_and_phones_alone():
    import random

    rng = random.Random(0)
    answer = "Call (555) 321-3800 between 9:00 and 5:00 about Form I-20 and F-1 status."
    assert change_number(answer, rng) is None
    changed, detail = change_number("The fee is $1,250 per term.", rng)
    assert "$1,250" not in changed and "->" in detail
    changed, _ = change_date("Apply by 15 September.", rng)
    assert "September" not in changed and changed.startswith("Apply by 15 ")


def test_negation_turns_contractions_around_instead_of_garbling_them():
    import random

    rng = random.Random(0)
    assert negate_rule("You can't register until it's paid.", rng) == (
        "You can register until it's paid.", "can't -> can")
    assert negate_rule("You can’t work off campus.", rng)[0] == "You can work off campus."
    assert negate_rule("You can work 20 hours.", rng)[0] == "You cannot work 20 hours."


def test_rate_out_of_range():
    records = [QARecord(id="a", question="How much?", answer="It costs $40.")]
    with pytest.raises(ConfigError, match=r"--rate should be in \(0, 1\], got 1.5"):
        plant_errors(records, 1.5)
    planted, labels = plant_errors(records, 1.0)
    assert labels[0].label == "error" and planted[0].answer != records[0].answer


def test_rules_judge_catches_planted_numbers_and_dates(clean_records, example_dir):
    planted, labels = plant_errors(clean_records, 0.3, seed=1)
    index = load_index(example_dir / "sources")
    judge = RulesJudge(JudgeSpec(name="rules", provider="rules"))

    async def flagged(record):
        outcome = await judge.judge(record, evidence_for(record, index))
        return outcome.verdict is not None and outcome.verdict.label.value == "contradicted"

    caught = total = false_flags = 0
    for record, label in zip(planted, labels, strict=True):
        hit = asyncio.run(flagged(record))
        if label.kind in ("wrong_number", "wrong_date"):
            total += 1
            caught += hit
        elif label.kind is None:
            false_flags += hit
    assert total >= 10
    assert caught / total >= 0.8
    assert false_flags == 0


def test_plant_command_writes_records_and_separate_labels(tmp_path, example_dir):
    out, labels = tmp_path / "planted.jsonl", tmp_path / "labels.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "generate", "plant", "--in", str(example_dir / "dataset.jsonl"),
         "--rate", "0.2", "--out", str(out), "--labels", str(labels), "--seed", "5"],
        capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in labels.read_text().splitlines()]
    assert sum(row["label"] == "error" for row in rows) == round(0.2 * len(rows))
    assert "label" not in out.read_text().splitlines()[0]
    assert len(out.read_text().splitlines()) == len(rows)
