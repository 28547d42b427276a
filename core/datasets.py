"""Load a Q&A dataset file into validated ``QARecord``s, with one clear line per problem.

Formats: JSONL, JSON (a list of objects or ``{"data": [...]}``), CSV/TSV, Parquet and a
Hugging Face ``datasets`` folder written by ``save_to_disk``. A record is either flat
(question/answer fields, names mappable) or a chat: OpenAI ``messages`` [{role, content}] or
ShareGPT ``conversations`` [{from, value}]. In a chat every assistant turn is one auditable
unit: the user turn before it is the question, earlier turns are its ``context``, and its id is
``<id>:<turn index>`` (``<record number>:<turn index>`` when the record has no id).

Locations in problems: ``line N`` for JSONL and CSV (as an editor counts lines), ``record N``
(1-based) for JSON arrays, Parquet and Hugging Face folders.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.errors import DatasetError
from core.models import Provenance, QARecord, Turn, content_hash

FORMATS = ("jsonl", "json", "csv", "tsv", "parquet", "hf")
MAX_LISTED_PROBLEMS = 20
_SKIP_HINT = "fix the file, or leave invalid records out with skip_invalid=True / --skip-invalid"
_SUFFIX_FORMAT = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_OPTIONAL_FIELDS = ("rationale", "source_ids", "topic", "provenance", "meta", "context")
_CHAT_FIELDS = ("messages", "conversations")
_SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
}
_OPENAI_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset file; ``str()`` is the line shown to the user."""

    file: str
    location: str  # "line 3", "record 7", or "" for the whole file
    field: str | None
    message: str

    def __str__(self) -> str:
        where = ", ".join(p for p in (self.file, self.location) if p)
        if self.field:
            where += f', field "{self.field}"'
        return f"{where}: {self.message}"


class DatasetProblems(DatasetError):
    """A dataset has invalid records; ``problems`` holds each one as a ``Problem``."""

    def __init__(self, file: str, problems: list[Problem], *, hint: str = "") -> None:
        self.problems = problems
        super().__init__(format_problems(file, problems, hint=hint))


# A question or answer longer than this is a broken record, not training text; judging it
# would cost minutes of CPU for nothing.
MAX_FIELD_CHARS = 100_000

def format_problems(file: str, problems: list[Problem], *, hint: str = "") -> str:
    """The first ``MAX_LISTED_PROBLEMS`` problems, one per line, then "... and N more"."""
    count = len(problems)
    head = f"{file}: {count} problem{'s' if count != 1 else ''}"
    lines = [head + (f" ({hint})" if hint else "") + ":"]
    lines += [f"  {p}" for p in problems[:MAX_LISTED_PROBLEMS]]
    if count > MAX_LISTED_PROBLEMS:
        lines.append(f"  ... and {count - MAX_LISTED_PROBLEMS} more")
    return "\n".join(lines)


def dataset_sha256(records: Iterable[QARecord]) -> str:
    """sha256 of the canonical JSON of the records' dicts.

    Whitespace and key order of the file do not change it; any edit to a record's content does.
    """
    return content_hash([r.model_dump(mode="json") for r in records])


@dataclass
class Dataset:
    """Validated records of one file; ``sha256`` identifies their content (see dataset_sha256)."""

    path: Path
    records: list[QARecord]
    format: str
    skipped: list[Problem] = field(default_factory=list)
    sha256: str = ""
    rows: list[tuple[Any, list[str]]] = field(default_factory=list)
    """With ``load_dataset(keep_rows=True)``: each row records were read from, as it is in the
    file (the user's field names, a whole conversation), with its records' ids, in order."""

    def __post_init__(self) -> None:
        if not self.sha256:
            self.sha256 = dataset_sha256(self.records)

    def __len__(self) -> int:
        return len(self.records)

    @cached_property
    def by_id(self) -> dict[str, QARecord]:
        return {r.id: r for r in self.records}


def skipped_line(dataset: Dataset) -> str | None:
    """The line that says invalid records were left out (``--skip-invalid``), with the first
    problem, or None when none was: a command never skips records silently."""
    n = len(dataset.skipped)
    if not n:
        return None
    more = f" (and {n - 1} more)" if n > 1 else ""
    return (f"skipped {n} invalid record{'s' if n != 1 else ''} (--skip-invalid); "
            f"the first: {dataset.skipped[0]}{more}")


@dataclass(frozen=True)
class FieldNames:
    question: str = "question"
    answer: str = "answer"
    id: str = "id"


def load_dataset(
    path: str | os.PathLike[str],
    *,
    question_field: str = "question",
    answer_field: str = "answer",
    id_field: str = "id",
    skip_invalid: bool = False,
    format: str | None = None,
    keep_rows: bool = False,
) -> Dataset:
    """Read ``path`` into a ``Dataset`` of validated records.

    Raises ``DatasetError`` listing every problem (file, line or record, field). With
    ``skip_invalid`` invalid records are left out and listed in ``Dataset.skipped``; a file
    that cannot be read at all, or holds no valid record, still raises. ``keep_rows`` also
    keeps the file's rows as they are (``Dataset.rows``).
    """
    path = Path(path)
    name = str(path)
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise DatasetError(f"{name}: unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    fields = FieldNames(question_field, answer_field, id_field)
    rows = _read_rows(path, fmt)
    by_row: list[tuple[Any, list[str]]] | None = [] if keep_rows else None
    records, problems = _build_records(name, rows, fields, by_row)
    if problems and not skip_invalid:
        raise DatasetProblems(name, problems, hint=_SKIP_HINT)
    if not records:
        if problems:
            raise DatasetProblems(name, problems, hint="no valid record is left")
        raise DatasetError(f"{name}: the file holds no records; add at least one Q&A record")
    return Dataset(path=path, records=records, format=fmt, skipped=problems, rows=by_row or [])


def detect_format(path: Path) -> str:
    """The format of ``path`` from its suffix, or ``hf`` for a ``save_to_disk`` folder."""
    name = str(path)
    if path.is_dir():
        if (path / "dataset_dict.json").exists():
            splits = sorted(p.name for p in path.iterdir() if p.is_dir())
            raise DatasetError(
                f"{name} holds several splits ({', '.join(splits)}); pass one of them, "
                f"for example {path / (splits[0] if splits else 'train')}"
            )
        if (path / "dataset_info.json").exists() or (path / "state.json").exists():
            return "hf"
        raise DatasetError(
            f"{name} is a folder but not a Hugging Face dataset saved with save_to_disk "
            "(no dataset_info.json or state.json); pass a .jsonl, .json, .csv or .parquet file"
        )
    if not path.exists():
        raise DatasetError(f"{name}: no such file; check the path")
    fmt = _SUFFIX_FORMAT.get(path.suffix.lower())
    if fmt is None:
        raise DatasetError(
            f"{name}: cannot tell the format from the suffix {path.suffix!r}; "
            f"rename it to one of {', '.join(sorted(_SUFFIX_FORMAT))} or pass format="
        )
    return fmt


# -- reading rows ---------------------------------------------------------------------------


@dataclass
class _Row:
    """One raw record, or the problem that stopped it from being read."""

    number: int  # 1-based ordinal among the file's records
    location: str
    data: Any = None
    problem: Problem | None = None


def _read_rows(path: Path, fmt: str) -> list[_Row]:
    if fmt == "hf":
        return _table_rows(_hf_rows(path))
    if fmt == "parquet":
        return _table_rows(_parquet_rows(path))
    raw = path.read_bytes()
    if not raw.removeprefix(b"\xef\xbb\xbf").strip():
        raise DatasetError(f"{path}: the file is empty; add at least one Q&A record")
    if fmt == "jsonl":
        return list(_jsonl_rows(str(path), raw))
    text = _decode(str(path), raw)
    if fmt == "json":
        return _json_rows(str(path), text)
    return _csv_rows(str(path), text, delimiter="\t" if fmt == "tsv" else ",")


def _decode(name: str, raw: bytes, *, first_line: int = 1) -> str:
    try:
        return raw.decode("utf-8-sig")  # a UTF-8 byte order mark is accepted and dropped
    except UnicodeDecodeError as exc:
        line = first_line + raw[: exc.start].count(b"\n")
        raise DatasetError(_encoding_message(name, line, raw[exc.start])) from exc


def _encoding_message(name: str, line: int, byte: int) -> str:
    return (
        f"{name}, line {line}: not UTF-8 (byte 0x{byte:02x}); re-save the file as UTF-8, "
        "for example: iconv -f latin1 -t utf-8 in.jsonl > out.jsonl"
    )


def _jsonl_rows(name: str, raw: bytes) -> Iterator[_Row]:
    number = 0
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    for line_no, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        number += 1
        location = f"line {line_no}"
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            message = _encoding_message(name, line_no, line[exc.start]).split(": ", 1)[1]
            yield _Row(number, location, problem=Problem(name, location, None, message))
            continue
        try:
            yield _Row(number, location, json.loads(text))
        except json.JSONDecodeError as exc:
            message = f"malformed JSON: {_json_reason(exc)}"
            yield _Row(number, location, problem=Problem(name, location, None, message))


def _json_reason(exc: json.JSONDecodeError) -> str:
    """json's reason with its column, as one whole sentence.

    json's own ``msg`` can end mid-phrase ("Unterminated string starting at"); the column
    completes it, and a string still open at the end of the line means the line was cut.
    """
    msg = exc.msg.removesuffix(" at")
    reason = f"{msg[:1].lower()}{msg[1:]} at column {exc.colno}"
    if exc.msg.startswith("Unterminated string"):
        reason += " (the line ends inside a string: it may have been cut off)"
    return reason


def _json_rows(name: str, text: str) -> list[_Row]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and _first_line_is_object(text):
            # One object per line in a .json file: read it as JSONL.
            return list(_jsonl_rows(name, text.encode("utf-8")))
        raise DatasetError(
            f"{name}, line {exc.lineno}: malformed JSON: {_json_reason(exc)}"
        ) from exc
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        got = (
            f"an object with keys {', '.join(list(data)[:8])}"
            if isinstance(data, dict)
            else (_type_name(data))
        )
        raise DatasetError(f'{name}: expected a list of records or {{"data": [...]}}, got {got}')
    return [_Row(i, f"record {i}", item) for i, item in enumerate(data, start=1)]


def _first_line_is_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text.lstrip().split("\n", 1)[0]), dict)
    except json.JSONDecodeError:
        return False


def _csv_rows(name: str, text: str, *, delimiter: str) -> list[_Row]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[_Row] = []
    try:
        start = 2  # line 1 is the header
        for number, row in enumerate(reader, start=1):
            location = f"line {start}"
            start = reader.line_num + 1
            if None in row:  # more cells than the header has columns
                width = len(reader.fieldnames or [])
                message = f"{width + len(row[None])} cells but the header has {width} columns"
                rows.append(_Row(number, location, problem=Problem(name, location, None, message)))
                continue
            # A short row lacks its last fields; they are then reported as missing.
            rows.append(_Row(number, location, {k: v for k, v in row.items() if v is not None}))
    except csv.Error as exc:
        raise DatasetError(f"{name}, line {reader.line_num}: malformed CSV: {exc}") from exc
    return rows


def _parquet_rows(path: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DatasetError(
            f"{path}: reading Parquet needs pyarrow; install it with: "
            "pip install -e '.[data]' in the Assay folder"
        ) from exc
    try:
        return pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DatasetError(f"{path}: not a readable Parquet file: {exc}") from exc


def _hf_rows(path: Path) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError as exc:
        raise DatasetError(
            f"{path}: reading a Hugging Face dataset folder needs the datasets package; "
            "install it with: pip install -e '.[data]' in the Assay folder"
        ) from exc
    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises FileNotFoundError, ValueError, arrow errors
        raise DatasetError(f"{path}: cannot load the Hugging Face dataset: {exc}") from exc
    if isinstance(loaded, datasets.DatasetDict):
        splits = ", ".join(loaded)
        raise DatasetError(f"{path} holds several splits ({splits}); pass one split's folder")
    return loaded.to_list()


def _table_rows(rows: list[dict[str, Any]]) -> list[_Row]:
    if not rows:
        return []
    return [_Row(i, f"record {i}", row) for i, row in enumerate(rows, start=1)]


# -- building records -----------------------------------------------------------------------


class _RecordError(Exception):
    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _build_records(name: str, rows: list[_Row], fields: FieldNames,
                   by_row: list[tuple[Any, list[str]]] | None = None,
                   ) -> tuple[list[QARecord], list[Problem]]:
    """The rows' records and problems; ``by_row`` also gets each valid row's data and ids."""
    records: list[QARecord] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}  # id -> location of its first occurrence
    for row in rows:
        if row.problem is not None:
            problems.append(row.problem)
            continue
        try:
            units = _row_to_records(row, fields)
        except _RecordError as exc:
            problems.append(Problem(name, row.location, exc.field, exc.message))
            continue
        duplicates = [u.id for u in units if u.id in seen]
        if duplicates:
            first = seen[duplicates[0]]
            message = f"duplicate id {duplicates[0]!r} (first at {first}); ids must be unique"
            problems.append(Problem(name, row.location, fields.id, message))
            continue
        for unit in units:
            seen[unit.id] = row.location
        records.extend(units)
        if by_row is not None:
            by_row.append((row.data, [unit.id for unit in units]))
    return records, problems


def _row_to_records(row: _Row, fields: FieldNames) -> list[QARecord]:
    data = row.data
    if not isinstance(data, dict):
        raise _RecordError(None, f"expected a JSON object, got {_type_name(data)}")
    record_id = _read_id(data, fields.id, row.number)
    chat_field = next((f for f in _CHAT_FIELDS if f in data), None)
    if chat_field and fields.question not in data:
        common = _common_fields(data, fields, exclude={chat_field})
        turns = _read_turns(data[chat_field], chat_field)
        return _chat_units(record_id, turns, chat_field, common)
    common = _common_fields(data, fields, exclude={fields.question, fields.answer})
    question = _required_text(data, fields.question, "question")
    answer = _required_text(data, fields.answer, "answer")
    return [_validated(dict(common, id=record_id, question=question, answer=answer))]


def _read_id(data: dict[str, Any], id_field: str, number: int) -> str:
    value = data.get(id_field)
    if value is None or value == "":
        return str(number)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _RecordError(id_field, f"must be text or an integer, got {_type_name(value)}")
    if isinstance(value, str) and not value.strip():
        raise _RecordError(id_field, "is empty")
    return str(value)


def _required_text(data: dict[str, Any], key: str, role: str) -> str:
    if key not in data:
        present = ", ".join(sorted(map(str, data))[:12]) or "none"
        raise _RecordError(
            key,
            f"is missing (fields present: {present}); if the {role} is in another field, "
            f"set {role}_field / --{role}-field",
        )
    value = data[key]
    if value is None:
        raise _RecordError(key, "is empty (null)")
    if not isinstance(value, str):
        raise _RecordError(key, f"must be text, got {_type_name(value)} ({_preview(value)})")
    if not value.strip():
        raise _RecordError(key, "is empty")
    if len(value) > MAX_FIELD_CHARS:
        raise _RecordError(
            key, f"is {len(value):,} characters long (limit {MAX_FIELD_CHARS:,}): not a Q&A text"
        )
    return value


def _common_fields(data: dict[str, Any], fields: FieldNames, *, exclude: set[str]) -> dict:
    """Optional fields, plus every unknown field folded into ``meta``."""
    out: dict[str, Any] = {}
    known = set(exclude) | {fields.id} | set(_OPTIONAL_FIELDS)
    for key in _OPTIONAL_FIELDS:
        value = data.get(key)
        if value is None or value == "":
            continue
        out[key] = _READERS[key](value, key)
    extras = {k: v for k, v in data.items() if k not in known}
    if extras:
        meta = dict(out.get("meta", {}))
        for key, value in extras.items():
            meta.setdefault(key, value)
        out["meta"] = meta
    return out


def _read_text(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise _RecordError(key, f"must be text, got {_type_name(value)}")
    return value


def _read_source_ids(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise _RecordError(
        key, f"must be a list of passage ids or a comma-separated string, got {_preview(value)}"
    )


def _read_object(value: Any, key: str) -> dict[str, Any]:
    if isinstance(value, str):  # CSV cells carry nested objects as JSON text
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise _RecordError(key, f"is text but not JSON: {exc.msg}") from exc
    if not isinstance(value, dict):
        raise _RecordError(key, f"must be an object, got {_type_name(value)}")
    return value


def _read_provenance(value: Any, key: str) -> Provenance:
    try:
        return Provenance.model_validate(_read_object(value, key))
    except ValidationError as exc:
        raise _RecordError(key, _pydantic_message(exc)) from exc


def _read_context(value: Any, key: str) -> list[Turn]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise _RecordError(key, f"is text but not JSON: {exc.msg}") from exc
    turns = _read_turns(value, key)
    _check_alternation(turns + [Turn(role="user", content="-")], key)
    return turns


_READERS = {
    "rationale": _read_text,
    "topic": _read_text,
    "source_ids": _read_source_ids,
    "meta": _read_object,
    "provenance": _read_provenance,
    "context": _read_context,
}


def _validated(values: dict[str, Any]) -> QARecord:
    try:
        return QARecord.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise _RecordError(str(first["loc"][0]) if first["loc"] else None, _pydantic_message(exc)) from exc


# -- chat records ---------------------------------------------------------------------------


def _read_turns(value: Any, key: str) -> list[Turn]:
    """OpenAI ``{role, content}`` or ShareGPT ``{from, value}`` turns, roles normalised."""
    if not isinstance(value, list) or not value:
        raise _RecordError(key, f"must be a non-empty list of turns, got {_preview(value)}")
    turns = []
    for i, item in enumerate(value):
        where = f"{key}[{i}]"
        if not isinstance(item, dict):
            raise _RecordError(where, f"must be an object, got {_type_name(item)}")
        if "from" in item:
            role = _SHAREGPT_ROLES.get(str(item["from"]).lower())
            raw_role, content, text_key = item["from"], item.get("value"), "value"
            if role is None:
                raise _RecordError(
                    f"{where}.from", f"unknown speaker {raw_role!r} (expected {', '.join(_SHAREGPT_ROLES)})"
                )
        elif "role" in item:
            role, content, text_key = item["role"], item.get("content"), "content"
            if role not in _OPENAI_ROLES:
                raise _RecordError(
                    f"{where}.role", f"unknown role {role!r} (expected {', '.join(_OPENAI_ROLES)})"
                )
        else:
            raise _RecordError(where, 'needs "role" and "content" (or "from" and "value")')
        turns.append(Turn(role=role, content=_turn_text(content, f"{where}.{text_key}")))
    return turns


def _turn_text(content: Any, where: str) -> str:
    """The turn's text; ``where`` names its field as the file spells it (``….value`` in ShareGPT)."""
    if isinstance(content, list):  # OpenAI content parts: keep the text parts
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        content = "\n".join(p for p in parts if isinstance(p, str)) if parts else None
    if not isinstance(content, str):
        raise _RecordError(where, f"must be text, got {_type_name(content)}")
    if not content.strip():
        raise _RecordError(where, "is empty")
    return content


def _check_alternation(turns: list[Turn], key: str) -> None:
    """An optional system turn first, then user and assistant turns alternating."""
    start = 1 if turns and turns[0].role == "system" else 0
    for i, turn in enumerate(turns[start:], start=start):
        expected = "user" if (i - start) % 2 == 0 else "assistant"
        if turn.role != expected:
            after = f"after {turns[i - 1].role!r}" if i else "first"
            raise _RecordError(
                f"{key}[{i}]",
                f"role {turn.role!r} {after}; expected "
                f"{expected!r} (user and assistant turns must alternate, "
                "after an optional system turn)",
            )


def _chat_units(record_id: str, turns: list[Turn], key: str, common: dict[str, Any]) -> list[QARecord]:
    _check_alternation(turns, key)
    if turns[-1].role != "assistant":
        raise _RecordError(
            f"{key}[{len(turns) - 1}]",
            "the conversation ends with a user turn that has no answer; remove it or add the assistant turn",
        )
    units = []
    for i, turn in enumerate(turns):
        if turn.role != "assistant":
            continue
        values = dict(
            common,
            id=f"{record_id}:{i}",
            question=turns[i - 1].content,
            answer=turn.content,
            context=turns[: i - 1],
        )
        units.append(_validated(values))
    return units


# -- writing --------------------------------------------------------------------------------


def write_jsonl(records: Iterable[QARecord | dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write one JSON object per line, atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            for record in records:
                if isinstance(record, QARecord):
                    record = record.model_dump(mode="json", exclude_defaults=True)
                handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# -- helpers --------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _preview(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pydantic_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error["loc"])
        parts.append(f"{loc}: {error['msg']}" if loc else error["msg"])
    return "; ".join(parts)
