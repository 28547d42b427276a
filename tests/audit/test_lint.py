"""Structural lint: truncation, duplicates, roles, diversity, the report and its rendering."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from audit.lint import (
    FACTS_STATEMENT,
    LintReport,
    distinct_n,
    lint_dataset,
    near_duplicate_pairs,
    tfidf_matrix,
    truncation_reason,
)
from core.datasets import Dataset, load_dataset
from core.models import Provenance, QARecord, Turn
from reports.lint import render_lint

DATA = Path(__file__).resolve().parents[1] / "data"


def _dataset(*records: QARecord) -> Dataset:
    return Dataset(path=Path("mem.jsonl"), records=list(records), format="jsonl")


def _qa(
    rid: str, question: str, answer: str = "It is described in the handbook.", **kwargs: object
) -> QARecord:
    return QARecord(id=rid, question=question, answer=answer, **kwargs)


def _by_check(report: LintReport, check: str) -> list[tuple[str | None, str]]:
    return [(f.record_id, f.message) for f in report.findings if f.check == check]


# -- truncation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("Students must submit the form to the", "dangling word 'the'"),
        ("The fee is 20 euros, and", "dangling word 'and'"),
        ("You can appeal within ten days,", "a comma"),
        ("Here are the steps:", "a colon"),
        ("Run this:\n```bash\nassay lint data.jsonl", "code block is opened and never closed"),
        (
            "Students who fail the exam may resit it in August after paying the resit fee",
            "without terminal punctuation",
        ),
        ("You need 180 credits. At least 60 of them must be at level", "without terminal"),
    ],
)
def test_truncated_answers_are_found(answer: str, reason: str) -> None:
    found = truncation_reason(answer)
    assert found is not None and reason in found


@pytest.mark.parametrize(
    "answer",
    [
        "Arthur's Magazine",  # a short phrase answer needs no full stop
        "Mr. Burns",
        "Yes, with a medical certificate.",
        'He said "apply by Friday."',
        "You will need:\n- a transcript\n- two references",
        "Use:\n```bash\nassay lint data.jsonl\n```",
        "Is it allowed? Only with the dean's approval!",
    ],
)
def test_complete_answers_are_not_flagged(answer: str) -> None:
    assert truncation_reason(answer) is None


def test_lint_reports_truncated_answer_with_record_id() -> None:
    report = lint_dataset(
        _dataset(
            _qa("ok", "Can I defer?", "Yes, with a medical certificate."),
            _qa("cut", "What must I submit?", "You must submit the signed form and a copy of the"),
        )
    )
    (finding,) = [f for f in report.findings if f.check == "truncated_answer"]
    assert finding.record_id == "cut" and finding.severity == "warning"
    assert "dangling word 'the'" in finding.message


def test_token_limit_from_generation_metadata() -> None:
    capped = Provenance(tokens_out=256, params={"max_tokens": 256})
    report = lint_dataset(
        _dataset(
            _qa("meta", "Q one?", "A complete sentence.", meta={"finish_reason": "length"}),
            _qa("prov", "Q two?", "Also complete.", provenance=capped),
            _qa(
                "fine", "Q three?", "Fine.", provenance=Provenance(tokens_out=10, params={"max_tokens": 256})
            ),
        )
    )
    flagged = dict(_by_check(report, "truncated_answer"))
    assert set(flagged) == {"meta", "prov"}
    assert "finish_reason='length'" in flagged["meta"] and "all 256 output" in flagged["prov"]


def test_answers_sharing_a_length_cap_are_explained_as_a_token_limit() -> None:
    body = "word " * 60
    records = [_qa(f"cap{i}", f"Question number {i}?", body + f"ending {i} of the") for i in range(3)]
    records += [_qa(f"short{i}", f"Other question {i}?", "Short and done.") for i in range(4)]
    messages = [m for _, m in _by_check(lint_dataset(_dataset(*records)), "truncated_answer")]
    assert len(messages) == 3
    assert all("suggests a generation token limit" in m for m in messages)


def test_answer_without_words_is_an_error() -> None:
    report = lint_dataset(_dataset(_qa("dots", "What is the deadline?", "...")))
    assert _by_check(report, "empty_answer") == [("dots", "answer has no words: '...'")]
    assert report.passed is False


# -- duplicates -----------------------------------------------------------------------------


def test_exact_duplicates_after_normalisation() -> None:
    report = lint_dataset(
        _dataset(
            _qa("a", "How do I appeal a grade?"),
            _qa("b", "how do I  appeal a GRADE"),
            _qa("c", "Where is the library?"),
            _qa("d", "How do I appeal a grade?!"),
        )
    )
    assert _by_check(report, "duplicate_question") == [
        ("b", "same question as 'a'; the answers are identical too"),
        ("d", "same question as 'a'; the answers are identical too"),
    ]
    assert _by_check(report, "near_duplicate_question") == []  # not reported twice


def test_near_duplicate_pair_is_found_and_unrelated_is_not() -> None:
    base = (
        "What is the deadline for submitting the final year dissertation in the "
        "department of computer science and engineering"
    )
    report = lint_dataset(
        _dataset(
            _qa("orig", base + "?"),
            _qa("near", base + " please?"),
            _qa("other", "Which documents does an international student need for a visa?"),
        )
    )
    ((rid, message),) = _by_check(report, "near_duplicate_question")
    assert rid == "near" and "near-duplicate of 'orig'" in message
    cosine = float(message.split("cosine ", 1)[1].split(")", 1)[0])
    assert 0.9 <= cosine < 1.0


def test_near_duplicate_threshold_is_respected() -> None:
    texts = ["the exam deadline is in may", "the exam deadline is in june"]
    (pair,) = near_duplicate_pairs(texts, threshold=0.5)
    assert pair[:2] == (1, 0) and 0.5 <= pair[2] < 0.9
    assert near_duplicate_pairs(texts, threshold=0.9) == []


def test_scipy_tfidf_matches_scikit_learn() -> None:
    pytest.importorskip("sklearn")
    texts = ["When is the exam?", "When is the resit exam in August?", "Library hours", "a b"]
    ours = tfidf_matrix(texts, use_sklearn=False)
    theirs = tfidf_matrix(texts, use_sklearn=True)
    np.testing.assert_allclose((ours @ ours.T).toarray(), (theirs @ theirs.T).toarray(), atol=1e-12)
    assert tfidf_matrix(["a", "?"], use_sklearn=False) is None
    assert tfidf_matrix(["a", "?"], use_sklearn=True) is None


def test_chat_followups_are_compared_by_the_question_asked() -> None:
    report = lint_dataset(load_dataset(DATA / "good" / "chat_openai.jsonl"))
    assert report.findings == []
    # The study's pattern: the same follow-up, word for word, after different first questions.
    report = lint_dataset(load_dataset(DATA / "study_shaped" / "dataset.jsonl"))
    assert _by_check(report, "near_duplicate_question") == []
    found = dict(_by_check(report, "duplicate_question"))
    assert set(found) == {"2:3", "4:3"}
    assert found["2:3"] == (
        "same question as '1:3'; asked after 'What GMAT score do I need for Oxford?', "
        "'1:3' after 'What are the GMAT requirements for Oxford?'; the answers are identical too"
    )
    assert "'3:3' after 'How competitive is the Dhaka University admission test?'" in found["4:3"]


def test_shared_earlier_turns_do_not_make_followups_near_duplicates() -> None:
    first = (
        "What are the full admission requirements for an international student applying to a "
        "master's programme in computer science at the University of Toronto?"
    )
    answer = "You need a four-year bachelor's degree, a B+ average, IELTS 7.0 and two references."
    shared = [Turn(role="user", content=first), Turn(role="assistant", content=answer)]
    report = lint_dataset(
        _dataset(
            _qa("a:1", first, answer),
            _qa("a:3", "Are there scholarships?", context=shared),
            _qa("b:1", first, answer),
            _qa("b:3", "How long does the visa take?", context=shared),
        )
    )
    assert _by_check(report, "near_duplicate_question") == []
    # The repeated first exchange is a duplicate; the different follow-ups after it are not.
    assert _by_check(report, "duplicate_question") == [
        ("b:1", "same question as 'a:1'; the answers are identical too")
    ]


def test_a_repeated_first_question_after_different_turns_shows_both_contexts() -> None:
    context = [Turn(role="user", content="Can I defer?"), Turn(role="assistant", content="Yes.")]
    other = [Turn(role="user", content="Is the gym open?"), Turn(role="assistant", content="No.")]
    report = lint_dataset(
        _dataset(_qa("x", "Why?", "Rules.", context=context), _qa("y", "Why?", "Staff.", context=other))
    )
    assert _by_check(report, "duplicate_question") == [
        ("y", "same question as 'x'; asked after 'Is the gym open?', 'x' after 'Can I defer?'")
    ]


# -- roles and schema -----------------------------------------------------------------------


def test_role_alternation_of_context() -> None:
    bad = [Turn(role="user", content="Hi."), Turn(role="user", content="Hello?")]
    report = lint_dataset(_dataset(_qa("r", "Anyone?", context=bad)))
    ((rid, message),) = _by_check(report, "role_alternation")
    assert rid == "r" and "turn 1 is 'user' where 'assistant' was expected" in message


def test_schema_problems_from_loading_are_findings() -> None:
    dataset = load_dataset(DATA / "bad" / "duplicate_ids.jsonl", skip_invalid=True)
    report = lint_dataset(dataset)
    ((rid, message),) = _by_check(report, "schema")
    assert rid is None and "line 3" in message and "duplicate id 'd1'" in message
    assert report.n_skipped == 1 and report.passed is False


def test_chat_file_problems_name_the_field_as_spelled_and_skipping_is_said() -> None:
    path = DATA / "bad" / "sharegpt_bad_lines.jsonl"
    report = lint_dataset(load_dataset(path, skip_invalid=True))
    messages = [m for _, m in _by_check(report, "schema")]
    assert messages[0].endswith('line 1, field "conversations[3].value": is empty')
    assert messages[1].endswith(
        "line 3: malformed JSON: unterminated string starting at column 110 "
        "(the line ends inside a string: it may have been cut off)"
    )
    assert (report.n_records, report.n_skipped, report.passed) == (1, 2, False)
    assert (report.status, report.exit_code) == ("skipped_invalid", 0)
    out = _render(report, 100)
    assert "skipped 2 invalid records (--skip-invalid); the checks ran on the 1 record left" in out
    assert "errors found" not in out


def test_an_error_in_a_checked_record_exits_non_zero() -> None:
    report = lint_dataset(_dataset(_qa("dots", "What is the deadline?", "...")))
    assert (report.status, report.exit_code) == ("errors", 1)
    assert "errors found" in _render(report, 100)


def test_the_hash_shown_is_the_stores_content_hash_and_says_so() -> None:
    path = DATA / "study_shaped" / "dataset.jsonl"
    dataset = load_dataset(path)
    report = lint_dataset(dataset)
    assert report.dataset_sha256 == dataset.sha256  # what audit runs store and the gate compares
    assert report.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert report.file_sha256 != report.dataset_sha256
    out = _render(report, 120)
    rows = [" ".join(line.strip("│ ").split()) for line in out.splitlines()]
    assert f"content hash (as audit runs store it) │ {dataset.sha256[:16]}" in rows
    assert f"file sha256 │ {report.file_sha256[:16]}" in rows


def test_lint_command_exit_codes(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from audit.cli import cli

    bad = str(DATA / "bad" / "sharegpt_bad_lines.jsonl")
    refused = CliRunner().invoke(cli, ["lint", bad], standalone_mode=False)
    assert "2 problems" in str(refused.exception)
    skipped = CliRunner().invoke(cli, ["lint", bad, "--skip-invalid", "--json"])
    assert skipped.exit_code == 0 and json.loads(skipped.output)["status"] == "skipped_invalid"
    empty = tmp_path / "empty_answer.jsonl"
    empty.write_text(json.dumps({"question": "When?", "answer": "..."}) + "\n")
    assert CliRunner().invoke(cli, ["lint", str(empty)]).exit_code == 1


# -- diversity, lengths and the report ------------------------------------------------------


def test_distinct_n_on_a_fixed_input() -> None:
    answers = ["The cat sat", "the cat ran!"]
    assert distinct_n(answers, 1) == pytest.approx(4 / 6)  # the, cat, sat, ran of 6 words
    assert distinct_n(answers, 2) == pytest.approx(3 / 4)  # (the, cat) repeats; no cross-text
    assert distinct_n(["one"], 2) == 0.0


def test_report_numbers_and_json() -> None:
    report = lint_dataset(
        _dataset(
            _qa("a", "Q1?", "The cat sat."),
            _qa("b", "Q2?", "The cat ran away."),
        )
    )
    assert (report.distinct_1, report.distinct_2) == (pytest.approx(5 / 7), pytest.approx(4 / 5))
    words = report.answer_words
    assert (words.min, words.median, words.mean, words.max) == (3, 3.5, 3.5, 4)
    assert report.answer_chars.max == len("The cat ran away.")
    data = json.loads(report.model_dump_json())
    assert data["passed"] is True and data["counts"]["truncated_answer"] == 0
    assert data["statement"] == FACTS_STATEMENT
    stored = {k: v for k, v in data.items() if k not in ("passed", "counts", "status")}
    assert LintReport.model_validate(stored) == report


def test_statement_says_lint_is_not_a_fact_check() -> None:
    assert "says nothing about whether the answers are true" in FACTS_STATEMENT
    assert "28–40%" in FACTS_STATEMENT


def test_lint_on_halueval_answers_stays_quiet() -> None:
    path = DATA.parents[1].parent / "shared" / "data" / "halueval" / "qa_300.jsonl"
    if not path.exists():
        pytest.skip("shared HaluEval data not present")
    report = lint_dataset(load_dataset(path, answer_field="right_answer"))
    assert report.n_records == 300 and report.passed
    assert report.counts["duplicate_question"] == 0
    assert report.counts["truncated_answer"] <= 3  # short phrase answers are not "cut"


# -- rendering ------------------------------------------------------------------------------


def _render(report: LintReport, width: int, **kwargs: object) -> str:
    buffer = io.StringIO()
    render_lint(report, Console(file=buffer, width=width, color_system=None), **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("width", [80, 120])
def test_render_lint_shows_summary_findings_and_statement(width: int) -> None:
    records = [_qa(f"d{i}", "How do I appeal a grade?") for i in range(6)]
    records.append(_qa("[red]x[/red]", "Odd id?", "[bold]Cut[/bold] at the"))
    report = lint_dataset(_dataset(*records))
    out = _render(report, width, max_findings=3)
    assert "Lint: mem.jsonl" in out and "duplicate question" in out
    assert "d1" in out and "d4" not in out  # only the first 3 findings are shown
    assert f"... and {len(report.findings) - 3} more" in out
    assert "[red]x[/red]" in out  # record text is printed literally, never as markup
    flat = " ".join(out.split())
    assert "says nothing about whether the answers are true" in flat
    assert "28–40%" in flat and "lint is not a fact check" in flat


def test_render_clean_report_has_no_findings_table() -> None:
    out = _render(lint_dataset(_dataset(_qa("a", "Q?", "Yes."))), 100)
    assert "passed" in out and "Findings" not in out
    assert "says nothing about whether the answers are true" in " ".join(out.split())
