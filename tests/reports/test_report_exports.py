"""Exports: JSON against its committed schema and round trip, CSV/Parquet rows, Markdown, HTML."""

from __future__ import annotations

import csv
import io
import json
import os
from html.parser import HTMLParser

import jsonschema
import pytest

from audit.report_data import AuditReport
from reports.export import (
    ROW_COLUMNS,
    SCHEMA_PATH,
    export_report,
    schema_text,
    to_csv,
    to_json,
    to_markdown,
    write_parquet,
    write_schema,
)
from reports.html import CSP, to_html


def test_committed_schema_equals_the_generated_one():
    if os.environ.get("ASSAY_UPDATE_SNAPSHOTS") == "1":
        write_schema()
    assert SCHEMA_PATH.is_file(), "run `reports schema --write` to create it"
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "AuditReport changed: bump schema_version if the change is breaking, then run "
        "`reports schema --write` (or ASSAY_UPDATE_SNAPSHOTS=1) and commit the file")


def test_json_export_validates_against_the_committed_schema(sample_report):
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    document = json.loads(to_json(sample_report))
    jsonschema.Draft202012Validator(schema).validate(document)
    assert document["schema_version"] == "1"
    broken = dict(document, schema_version="2")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(broken)


def test_json_round_trip_loses_nothing(sample_report, tmp_path):
    path = export_report(sample_report, "json", tmp_path / "report.json")
    loaded = AuditReport.model_validate_json(path.read_text(encoding="utf-8"))
    assert loaded == sample_report
    assert loaded.record("r01").wrong_spans[0].text == "$500"
    assert to_json(loaded) == to_json(sample_report)


def test_csv_has_one_row_per_record_and_judge(sample_report):
    rows = list(csv.DictReader(io.StringIO(to_csv(sample_report))))
    assert len(rows) == sample_report.summary.totals.judgments == 30
    assert list(rows[0]) == ROW_COLUMNS
    r01_rules = next(r for r in rows if r["record_id"] == "r01" and r["judge"] == "rules")
    assert r01_rules["label"] == "contradicted" and r01_rules["wrong_spans"] == "$500"
    assert json.loads(r01_rules["citations"])[0]["passage_id"] == "fees#0"


def test_csv_neutralises_spreadsheet_formulas(sample_report):
    record = sample_report.record("r02")
    record.answer = "=HYPERLINK(\"http://x\")"
    rows = list(csv.DictReader(io.StringIO(to_csv(sample_report))))
    assert {r["answer"] for r in rows if r["record_id"] == "r02"} == {"'=HYPERLINK(\"http://x\")"}


def test_parquet_reads_back(sample_report, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(write_parquet(sample_report, tmp_path / "r.parquet"))
    assert table.num_rows == 30 and table.column_names == ROW_COLUMNS
    assert table.schema.metadata[b"assay_report_schema_version"] == b"1"
    rows = table.to_pylist()
    assert sum(r["tokens_in"] for r in rows) == sample_report.summary.totals.tokens_in


def test_markdown_has_tables_and_inert_dataset_text(sample_report):
    text = to_markdown(sample_report)
    assert "## Errors (6)" in text and "| record | topic | question |" in text
    assert "The late registration fee is **$500**." in text.replace("\\$", "$")
    assert "<script>" not in text and "\\<script\\>" in text
    assert "\\[red\\]ASAP\\[/\\]" in text


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_html_is_self_contained_and_escapes_dataset_text(sample_report):
    page = to_html(sample_report)
    parser = _Tags()
    parser.feed(page)
    names = [tag for tag, _ in parser.tags]
    assert "script" not in names and "iframe" not in names and "img" not in names
    assert not [a for _, attrs in parser.tags for a in attrs if a.startswith("on")]
    assert not [v for _, attrs in parser.tags for v in attrs.values() if v and "//" in v]
    assert "http://" not in page and "https://" not in page and "<link" not in page
    csp = [a for t, a in parser.tags if t == "meta" and a.get("http-equiv")]
    assert csp == [{"http-equiv": "Content-Security-Policy", "content": CSP}]
    assert names.count("svg") == 4 and names.count("table") >= 6
    assert ("Rooms cost <mark>$900</mark> &lt;script&gt;document.title=&quot;pwned&quot;"
            "&lt;/script&gt;&quot; onmouseover=&quot;alert(2)") in page
