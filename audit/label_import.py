"""``audit import-labels FILE --name NAME``: gold labels from a file, stored as a human judge.

A CSV file (with a header row) or JSONL file, one record per row: ``id`` (or ``record_id``; a
record of the run),
``label`` (``error`` or ``ok``; ``correct``, ``supported``, ``contradicted`` and
``not_in_sources`` are understood too), and optionally ``severity`` (none, minor, major,
critical; an error without one is ``major``, as in ``audit review``), ``category`` and ``note``.
Other columns are ignored. Every row is checked before anything is written: a file with a bad
row stores nothing, and the error lists each bad row by line.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError, DatasetError
from core.models import (
    Category,
    Judgment,
    JudgmentStatus,
    Label,
    Severity,
    Verdict,
    canonical_json,
)
from core.runs import open_run
from core.store import Store

LABELS = {
    "error": Label.contradicted,
    "contradicted": Label.contradicted,
    "not_in_sources": Label.not_in_sources,
    "ok": Label.supported,
    "correct": Label.supported,
    "supported": Label.supported,
}
SHOWN_PROBLEMS = 20


@dataclass
class ImportOutcome:
    run_id: str
    judge: str
    path: Path
    imported: int
    errors: int  # rows labelled error
    replaced: int  # rows that replaced an earlier judgment of this judge


def _rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, row) for every non-empty row; a row that is not an object is returned as
    is, for the checker to reject."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the labels ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    suffix = path.suffix.lower()
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        fields = {(name or "").strip().lower() for name in reader.fieldnames or []}
        if "label" not in fields or not fields & {"id", "record_id"}:
            raise DatasetError(f"{path}:1: the header must name the columns id and label "
                               f"(found: {', '.join(sorted(fields)) or 'nothing'})")
        for row in reader:
            clean = {(k or "").strip().lower(): v for k, v in row.items()}
            if any((v or "").strip() for v in clean.values() if isinstance(v, str)):
                yield reader.line_num, clean
    elif suffix in (".jsonl", ".ndjson"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, ValueError(f"not valid JSON ({exc.msg})")
    else:
        raise DatasetError(f"{path}: labels must be a .csv or .jsonl file, got {suffix or 'no suffix'}")


def _text(row: dict, key: str) -> str:
    value = row.get(key)
    if key == "id" and value in (None, ""):
        value = row.get("record_id")
    return "" if value is None else str(value).strip()


def parse_label_row(row: Any, known: set[str]) -> Verdict | str:
    """The verdict a row states, or what is wrong with it (one phrase)."""
    if isinstance(row, ValueError):
        return str(row)
    if not isinstance(row, dict):
        return "expected an object with id and label"
    record_id, raw_label = _text(row, "id"), _text(row, "label").lower()
    if not record_id:
        return "no record id (field 'id')"
    if record_id not in known:
        return f"record {record_id!r} is not in this run's records"
    if raw_label not in LABELS:
        return f"label {raw_label or '(empty)'!r} is not error or ok"
    label = LABELS[raw_label]
    severity_text, category_text = _text(row, "severity").lower(), _text(row, "category").lower()
    if severity_text and severity_text not in Severity.__members__:
        return f"severity {severity_text!r} is not one of {', '.join(Severity.__members__)}"
    if category_text and category_text not in Category.__members__:
        return f"category {category_text!r} is not one of {', '.join(Category.__members__)}"
    if label is Label.supported:
        if severity_text not in ("", "none") or category_text not in ("", "none"):
            return "an ok label cannot carry an error severity or category"
        return Verdict(label=label, confidence=1.0, rationale=_text(row, "note"))
    severity = Severity(severity_text) if severity_text else Severity.major
    if severity is Severity.none:
        return "an error label needs a severity other than none (or leave it empty)"
    return Verdict(label=label, category=Category(category_text) if category_text else Category.other,
                   severity=severity, confidence=1.0, rationale=_text(row, "note"))


def read_labels(path: str | Path, known: set[str]) -> dict[str, tuple[int, Verdict]]:
    """Record id → (line, verdict) for every row; a DatasetError listing every bad row."""
    path = Path(path)
    found: dict[str, tuple[int, Verdict]] = {}
    problems: list[str] = []
    for line, row in _rows(path):
        parsed = parse_label_row(row, known)
        record_id = _text(row, "id") if isinstance(row, dict) else ""
        if isinstance(parsed, str):
            problems.append(f"{path}:{line}: {parsed}")
        elif record_id in found:
            problems.append(f"{path}:{line}: record {record_id!r} is labelled again "
                            f"(first on line {found[record_id][0]})")
        else:
            found[record_id] = (line, parsed)
    if problems:
        shown = problems[:SHOWN_PROBLEMS]
        more = len(problems) - len(shown)
        raise DatasetError(
            f"{path}: {len(problems)} bad row(s), nothing was imported:\n  " + "\n  ".join(shown)
            + (f"\n  … and {more} more" if more else ""))
    if not found:
        raise DatasetError(f"{path}: no labels in the file")
    return found


def import_labels(store: Store, path: str | Path, name: str, run_id: str | None = None) -> ImportOutcome:
    """Check every row of ``path``, then store all of them as judge ``name`` in one transaction."""
    name = name.strip()
    if not name:
        raise ConfigError("--name must not be empty: it names the gold judge (e.g. 'truth')")
    run = open_run(store, run_id)
    run_id = run.id
    if name in run.audit.panel:
        raise ConfigError(f"{name!r} is a judge of run {run_id}'s panel; choose another --name")
    known = {r["id"] for r in store.run_records(run_id)}
    labels = read_labels(path, known)
    earlier = {rid for rid, judge in store.done_keys(run_id) if judge == name}
    source = Path(path).name
    judgments = [
        Judgment(run_id=run_id, record_id=rid, judge=name, status=JudgmentStatus.ok,
                 verdict=verdict, raw=canonical_json({"imported_from": source, "line": line}))
        for rid, (line, verdict) in labels.items()
    ]
    store.save_judgments(judgments)
    return ImportOutcome(run_id, name, Path(path), len(judgments),
                         sum(1 for j in judgments if j.verdict and j.verdict.is_error),
                         len(earlier & labels.keys()))
