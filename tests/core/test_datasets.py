"""Dataset loading: every format, chat records, field mapping, bad input and content hashes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from core.datasets import (
    MAX_LISTED_PROBLEMS,
    Dataset,
    DatasetProblems,
    Problem,
    dataset_sha256,
    load_dataset,
    write_jsonl,
)
from core.errors import DatasetError
from core.models import Provenance, QARecord, Turn

DATA = Path(__file__).resolve().parents[1] / "data"
GOOD, BAD = DATA / "good", DATA / "bad"


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _load_error(path: Path, **kwargs: object) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        load_dataset(path, **kwargs)
    return info.value


ROWS = [
    {"id": "a", "question": "When is the deadline?", "answer": "The deadline is 1 May."},
    {"id": "b", "question": "Who signs the form?", "answer": "The head of department signs it."},
]


# -- formats --------------------------------------------------------------------------------


def test_jsonl_reads_optional_fields_and_folds_unknown_ones_into_meta() -> None:
    ds = load_dataset(GOOD / "qa.jsonl")
    assert ds.format == "jsonl"
    assert [r.id for r in ds.records] == ["q1", "q2", "q3"]  # the blank line is skipped
    q1, q2, q3 = ds.records
    assert q1.source_ids == ["handbook#3"] and q1.topic == "appeals"
    assert q2.source_ids == ["handbook#7", "handbook#8"]  # comma string
    assert q2.rationale == "Section 4 names the director."
    assert q3.meta == {"cohort": 2024}
    assert ds.skipped == []


@pytest.mark.parametrize("name", ["qa.json", "qa_wrapped.json"])
def test_json_list_and_data_wrapper(name: str) -> None:
    ds = load_dataset(GOOD / name)
    assert ds.format == "json"
    assert ds.records[0].answer == "Students have 10 working days to appeal a grade."


def test_json_file_holding_one_object_per_line_is_read_as_jsonl(tmp_path: Path) -> None:
    ds = load_dataset(_jsonl(tmp_path / "lines.json", ROWS))
    assert [r.id for r in ds.records] == ["a", "b"]


def test_csv_with_quoted_multiline_cell_and_comma_source_ids() -> None:
    ds = load_dataset(GOOD / "qa.csv")
    q1, q2 = ds.records
    assert q1.source_ids == ["handbook#3", "handbook#4"] and q1.topic == "appeals"
    assert q2.question == "Who approves a leave of absence, and when?"
    assert q2.answer == "The programme director approves it,\nwithin two weeks."
    assert q2.topic is None and q2.source_ids == []  # empty cells are absent fields


def test_tsv(tmp_path: Path) -> None:
    path = tmp_path / "qa.tsv"
    path.write_text("id\tquestion\tanswer\nt1\tIs it tab separated?\tYes, it is.\n")
    assert load_dataset(path).records[0].answer == "Yes, it is."


def test_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [dict(r, source_ids=["doc#1", "doc#2"], n=7) for r in ROWS]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "qa.parquet")
    ds = load_dataset(tmp_path / "qa.parquet")
    assert ds.format == "parquet"
    assert [r.id for r in ds.records] == ["a", "b"]
    assert ds.records[1].source_ids == ["doc#1", "doc#2"] and ds.records[1].meta == {"n": 7}


def test_parquet_bad_record_names_the_record(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [ROWS[0], {"id": "b", "question": "Where?", "answer": None}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "qa.parquet")
    error = _load_error(tmp_path / "qa.parquet")
    assert 'qa.parquet, record 2, field "answer": is empty (null)' in str(error)


def test_hugging_face_save_to_disk_folder(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    chat = {
        "id": "c",
        "messages": [
            {"role": "user", "content": "Hi, can I defer?"},
            {"role": "assistant", "content": "Yes, you can."},
        ],
    }
    datasets.Dataset.from_list([chat]).save_to_disk(str(tmp_path / "hf"))
    ds = load_dataset(tmp_path / "hf")
    assert ds.format == "hf"
    assert [(r.id, r.question, r.answer) for r in ds.records] == [
        ("c:1", "Hi, can I defer?", "Yes, you can.")
    ]


def test_hugging_face_dataset_dict_asks_for_a_split(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    split = datasets.Dataset.from_list(ROWS)
    datasets.DatasetDict({"train": split, "test": split}).save_to_disk(str(tmp_path / "hf"))
    message = str(_load_error(tmp_path / "hf"))
    assert "several splits (test, train)" in message and str(tmp_path / "hf" / "test") in message


def test_missing_optional_dependency_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "qa.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # makes the import fail
    assert "pip install -e '.[data]'" in str(_load_error(path))
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "state.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "datasets", None)
    assert "pip install -e '.[data]'" in str(_load_error(tmp_path / "hf"))


def test_unknown_suffix_missing_file_and_plain_folder(tmp_path: Path) -> None:
    (tmp_path / "qa.txt").write_text("question,answer\n")
    assert "cannot tell the format" in str(_load_error(tmp_path / "qa.txt"))
    assert "no such file" in str(_load_error(tmp_path / "nope.jsonl"))
    (tmp_path / "folder").mkdir()
    assert "not a Hugging Face dataset" in str(_load_error(tmp_path / "folder"))


# -- chat records ---------------------------------------------------------------------------


def test_openai_messages_make_one_unit_per_assistant_turn() -> None:
    ds = load_dataset(GOOD / "chat_openai.jsonl")
    assert [r.id for r in ds.records] == ["c1:2", "c1:4", "c2:1"]
    first, second, single = ds.records
    assert first.question == "Can I defer my exam?"
    assert first.context == [Turn(role="system", content="You are a university advisor.")]
    assert second.question == "By when must I apply?"
    assert second.answer == "Within five working days of the exam."
    assert [t.role for t in second.context] == ["system", "user", "assistant"]
    assert single.context == []


def test_sharegpt_conversations_and_ids_from_record_number() -> None:
    ds = load_dataset(GOOD / "chat_sharegpt.json")
    assert [r.id for r in ds.records] == ["advising-1:2", "advising-1:4", "2:1"]
    unit = ds.by_id["advising-1:4"]
    assert unit.question == "How many of them at level 6?"
    assert [(t.role, t.content) for t in unit.context] == [
        ("system", "You are an academic advisor."),
        ("user", "How many credits do I need to graduate?"),
        ("assistant", "You need 180 credits."),
    ]


def test_role_alternation_violation_is_a_record_error() -> None:
    error = _load_error(BAD / "bad_roles.jsonl")
    assert isinstance(error, DatasetProblems)
    (problem,) = error.problems
    assert problem.file.endswith("bad_roles.jsonl") and problem.location == "line 1"
    assert problem.field == "messages[1]"
    assert "'user' after 'user'" in problem.message and "alternate" in problem.message


@pytest.mark.parametrize(
    ("turns", "field", "text"),
    [
        ([{"role": "user", "content": "Hi?"}], "messages[0]", "ends with a user turn"),
        ([{"role": "tool", "content": "x"}], "messages[0].role", "unknown role 'tool'"),
        (
            [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": " "}],
            "messages[1].content",
            "is empty",
        ),
        ([{"role": "assistant", "content": "Hello."}], "messages[0]", "expected 'user'"),
        ([], "messages", "non-empty list"),
    ],
)
def test_bad_chat_turns(tmp_path: Path, turns: list, field: str, text: str) -> None:
    error = _load_error(_jsonl(tmp_path / "chat.jsonl", [{"id": "x", "messages": turns}]))
    (problem,) = error.problems
    assert (problem.field, problem.location) == (field, "line 1")
    assert text in problem.message


def test_sharegpt_empty_turn_names_the_value_field(tmp_path: Path) -> None:
    row = {"conversations": [{"from": "human", "value": "Hi?"}, {"from": "gpt", "value": " "}]}
    (problem,) = _load_error(_jsonl(tmp_path / "sg.jsonl", [row])).problems
    assert (problem.field, problem.message) == ("conversations[1].value", "is empty")


def test_cut_off_line_is_reported_in_a_whole_sentence(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl"
    path.write_text('{"question": "Fine?", "answer": "Yes."}\n{"question": "Cut?", "answer": "The li\n')
    (problem,) = _load_error(path).problems
    assert problem.message == (
        "malformed JSON: unterminated string starting at column 32 "
        "(the line ends inside a string: it may have been cut off)"
    )


def test_sharegpt_unknown_speaker(tmp_path: Path) -> None:
    row = {"conversations": [{"from": "bot", "value": "Hi."}]}
    error = _load_error(_jsonl(tmp_path / "sg.jsonl", [row]))
    assert "field \"conversations[0].from\": unknown speaker 'bot'" in str(error)


def test_openai_content_parts_keep_the_text(tmp_path: Path) -> None:
    parts = [{"type": "text", "text": "What is the fee?"}, {"type": "image_url", "image_url": {}}]
    row = {
        "messages": [
            {"role": "user", "content": parts},
            {"role": "assistant", "content": "The fee is 20 euros."},
        ]
    }
    assert load_dataset(_jsonl(tmp_path / "p.jsonl", [row])).records[0].question == ("What is the fee?")


# -- field mapping --------------------------------------------------------------------------


def test_field_mapping_and_integer_ids(tmp_path: Path) -> None:
    rows = [{"uid": 7, "prompt": "Is it mapped?", "response": "Yes, it is mapped.", "x": 1}]
    ds = load_dataset(
        _jsonl(tmp_path / "m.jsonl", rows), question_field="prompt", answer_field="response", id_field="uid"
    )
    (record,) = ds.records
    assert (record.id, record.question, record.answer) == ("7", "Is it mapped?", "Yes, it is mapped.")
    assert record.meta == {"x": 1}


def test_records_without_ids_are_numbered(tmp_path: Path) -> None:
    rows = [{"question": r["question"], "answer": r["answer"]} for r in ROWS]
    assert [r.id for r in load_dataset(_jsonl(tmp_path / "n.jsonl", rows)).records] == ["1", "2"]


def test_halueval_with_mapped_answer_field() -> None:
    path = DATA.parents[1].parent / "shared" / "data" / "halueval" / "qa_300.jsonl"
    if not path.exists():
        pytest.skip("shared HaluEval data not present")
    ds = load_dataset(path, answer_field="right_answer")
    assert len(ds) == 300 and ds.records[0].id == "halueval-qa-000"
    assert set(ds.records[0].meta) == {"knowledge", "hallucinated_answer"}


# -- bad input: one clear line per problem ---------------------------------------------------


def test_malformed_jsonl_names_file_and_line() -> None:
    error = _load_error(BAD / "malformed.jsonl")
    message = str(error)
    assert "malformed.jsonl, line 2: malformed JSON: " in message and " at column " in message
    assert error.problems[0].location == "line 2" and error.problems[0].field is None


def test_malformed_json_names_line_and_column() -> None:
    message = str(_load_error(BAD / "malformed.json"))
    assert "malformed.json, line 3: malformed JSON: expecting ',' delimiter at column 33" in message


def test_missing_field_lists_present_fields_and_the_option() -> None:
    error = _load_error(BAD / "missing_field.jsonl")
    (problem,) = error.problems
    assert (problem.location, problem.field) == ("line 2", "answer")
    assert 'missing_field.jsonl, line 2, field "answer": is missing' in str(error)
    assert "id, question, response" in problem.message and "--answer-field" in problem.message


def test_wrong_type() -> None:
    message = str(_load_error(BAD / "wrong_type.jsonl"))
    assert 'wrong_type.jsonl, line 1, field "answer": must be text, got a number (180)' in message


@pytest.mark.parametrize(
    ("row", "field", "text"),
    [
        ({"question": "Q?", "answer": "A.", "source_ids": [1, 2]}, "source_ids", "passage ids"),
        ({"question": "Q?", "answer": "A.", "meta": [1]}, "meta", "must be an object"),
        ({"question": "Q?", "answer": "A.", "provenance": {"tokens_in": "many"}}, "provenance", "tokens_in"),
        ({"question": "Q?", "answer": "A.", "topic": 3}, "topic", "must be text"),
        ({"id": ["x"], "question": "Q?", "answer": "A."}, "id", "text or an integer"),
        (["not", "an", "object"], None, "expected a JSON object, got a list"),
    ],
)
def test_wrong_types_of_optional_fields(tmp_path: Path, row: object, field: str | None, text: str) -> None:
    (problem,) = _load_error(_jsonl(tmp_path / "t.jsonl", [row])).problems
    assert problem.field == field and text in problem.message


def test_empty_text() -> None:
    message = str(_load_error(BAD / "empty_text.jsonl"))
    assert 'empty_text.jsonl, line 2, field "question": is empty' in message


def test_duplicate_ids_point_at_the_first() -> None:
    error = _load_error(BAD / "duplicate_ids.jsonl")
    (problem,) = error.problems
    assert (problem.location, problem.field) == ("line 3", "id")
    assert "duplicate id 'd1' (first at line 1)" in problem.message


def test_bad_encoding_names_the_line_and_how_to_fix() -> None:
    error = _load_error(BAD / "latin1.jsonl")
    assert "latin1.jsonl, line 2: not UTF-8 (byte 0xe9)" in str(error)
    assert "iconv" in str(error)
    ds = load_dataset(BAD / "latin1.jsonl", skip_invalid=True)
    assert [r.id for r in ds.records] == ["l1"] and ds.skipped[0].location == "line 2"


def test_bad_encoding_in_csv(tmp_path: Path) -> None:
    path = tmp_path / "qa.csv"
    path.write_bytes(b"id,question,answer\nx,Caf\xe9?,Yes.\n")
    assert "qa.csv, line 2: not UTF-8 (byte 0xe9)" in str(_load_error(path))


def test_empty_files(tmp_path: Path) -> None:
    assert "empty.jsonl: the file is empty" in str(_load_error(BAD / "empty.jsonl"))
    (tmp_path / "blank.json").write_text("  \n\n")
    assert "blank.json: the file is empty" in str(_load_error(tmp_path / "blank.json"))
    (tmp_path / "header.csv").write_text("id,question,answer\n")
    assert "holds no records" in str(_load_error(tmp_path / "header.csv"))
    (tmp_path / "list.json").write_text("[]")
    assert "holds no records" in str(_load_error(tmp_path / "list.json"))


def test_json_top_level_must_be_a_list(tmp_path: Path) -> None:
    (tmp_path / "obj.json").write_text('{"items": []}')
    assert 'expected a list of records or {"data": [...]}, got an object with keys items' in (
        str(_load_error(tmp_path / "obj.json"))
    )


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    assert load_dataset(GOOD / "bom.jsonl").records[0].id == "b1"
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfid,question,answer\nx,Is it read?,Yes.\n")
    assert load_dataset(path).records[0].id == "x"  # the header is "id", not "\ufeffid"


def test_many_problems_are_listed_then_counted(tmp_path: Path) -> None:
    rows = [{"id": str(i), "question": "Q?"} for i in range(MAX_LISTED_PROBLEMS + 5)]
    error = _load_error(_jsonl(tmp_path / "many.jsonl", rows))
    lines = str(error).splitlines()
    assert lines[0].startswith(f"{tmp_path / 'many.jsonl'}: 25 problems")
    assert len(lines) == 1 + MAX_LISTED_PROBLEMS + 1 and lines[-1] == "  ... and 5 more"
    assert len(error.problems) == 25
    assert error.problems[24] == Problem(
        str(tmp_path / "many.jsonl"), "line 25", "answer", error.problems[24].message
    )


def test_skip_invalid_keeps_going(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        json.dumps(ROWS[0])
        + "\n{broken\n"
        + json.dumps({"id": "c", "question": "Q?"})
        + "\n"
        + json.dumps(ROWS[1])
        + "\n"
        + json.dumps(ROWS[0])
        + "\n"
    )
    ds = load_dataset(path, skip_invalid=True)
    assert [r.id for r in ds.records] == ["a", "b"]
    assert [(p.location, p.field) for p in ds.skipped] == [
        ("line 2", None),
        ("line 3", "answer"),
        ("line 5", "id"),
    ]


def test_skip_invalid_with_nothing_valid_still_raises(tmp_path: Path) -> None:
    error = _load_error(_jsonl(tmp_path / "bad.jsonl", [{"question": "Q?"}]), skip_invalid=True)
    assert "no valid record is left" in str(error)


# -- hashing, lookup, writing ---------------------------------------------------------------


def test_sha256_ignores_formatting_and_key_order_but_not_content(tmp_path: Path) -> None:
    base = load_dataset(_jsonl(tmp_path / "a.jsonl", ROWS))
    reordered = tmp_path / "b.jsonl"
    reordered.write_text(
        "\n\n".join(
            json.dumps(dict(reversed(list(r.items()))), indent=None, separators=(" , ", " :  ")) for r in ROWS
        )
    )
    pretty = tmp_path / "c.json"
    pretty.write_text(json.dumps(ROWS, indent=4))
    assert load_dataset(reordered).sha256 == base.sha256 == load_dataset(pretty).sha256
    edited = [ROWS[0], dict(ROWS[1], answer="The dean signs it.")]
    assert load_dataset(_jsonl(tmp_path / "d.jsonl", edited)).sha256 != base.sha256
    assert dataset_sha256(base.records) == base.sha256 and len(base.sha256) == 64


def test_by_id() -> None:
    ds = load_dataset(GOOD / "qa.jsonl")
    assert ds.by_id["q2"] is ds.records[1] and set(ds.by_id) == {"q1", "q2", "q3"}


def test_dataset_built_in_code_computes_its_hash() -> None:
    records = [QARecord(id="x", question="Q?", answer="A.")]
    assert Dataset(path=Path("mem"), records=records, format="jsonl").sha256 == (dataset_sha256(records))


def test_write_jsonl_round_trips_and_leaves_no_temp_file(tmp_path: Path) -> None:
    chat = load_dataset(GOOD / "chat_openai.jsonl").records
    extra = QARecord(
        id="p",
        question="Q?",
        answer="A.",
        source_ids=["d#1"],
        provenance=Provenance(teacher_model="m", tokens_out=12),
        meta={"k": [1]},
    )
    out = tmp_path / "sub" / "out.jsonl"
    write_jsonl([*chat, extra], out)
    write_jsonl([*chat, extra], out)  # replacing an existing file works too
    again = load_dataset(out)
    assert again.records == [*chat, extra]
    assert again.sha256 == dataset_sha256([*chat, extra])
    assert [p.name for p in out.parent.iterdir()] == ["out.jsonl"]
