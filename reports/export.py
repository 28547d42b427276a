"""Export an ``AuditReport``: JSON (the report itself), Markdown, CSV, Parquet and HTML.

JSON is ``AuditReport.model_dump_json``: stable, versioned (``schema_version``) and described
by the committed JSON Schema ``reports/schema/report-v1.schema.json``. CSV and Parquet hold one
row per (record, judge). Nothing here computes a statistic: every number is the report's.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError
from reports.terminal import (
    active_note,
    bounds_text,
    ci_text,
    consensus_basis,
    disagreement_records,
    error_records,
    gold_header,
    gold_rows,
    gold_title,
    hard_text,
    lower_bound_note,
    num,
    rate_text,
    short_verdict,
    sources_text,
    split_spans,
    spread_text,
    unverifiable_text,
    verdict_text,
)

if TYPE_CHECKING:
    from audit.report_data import AuditReport, RecordRow

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "report-v1.schema.json"
FORMATS = ("json", "md", "html", "csv", "parquet")
ROW_COLUMNS = [
    "run_id", "record_id", "position", "topic", "question", "answer", "consensus",
    "disagreement", "suspicious", "wrong_spans", "judge", "status", "label", "category",
    "severity", "confidence", "rationale", "citations", "error", "tokens_in", "tokens_out",
    "cost_usd", "latency_s", "cache_hit",
]


# -- JSON and its schema ------------------------------------------------------------------


def to_json(report: AuditReport) -> str:
    """The report as indented JSON (load it back with ``AuditReport.model_validate_json``)."""
    return report.model_dump_json(indent=2) + "\n"


def schema_text() -> str:
    """The JSON Schema of the report, as committed at ``SCHEMA_PATH``."""
    from audit.report_data import report_json_schema

    return json.dumps(report_json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(schema_text(), encoding="utf-8")
    return path


# -- one row per (record, judge) ----------------------------------------------------------


def record_judge_rows(report: AuditReport) -> list[dict[str, Any]]:
    """Flat rows for CSV and Parquet, in record order then judge order."""
    rows = []
    for record in report.records:
        base = {
            "run_id": report.run.run_id, "record_id": record.id, "position": record.position,
            "topic": record.topic, "question": record.question, "answer": record.answer,
            "consensus": record.consensus, "disagreement": record.disagreement,
            "suspicious": "; ".join(record.suspicious),
            "wrong_spans": " | ".join(s.text for s in record.wrong_spans),
        }
        for v in record.verdicts:
            rows.append(base | {
                "judge": v.judge, "status": v.status.value,
                "label": v.label.value if v.label else None, "category": v.category,
                "severity": v.severity, "confidence": v.confidence, "rationale": v.rationale,
                "citations": json.dumps([c.model_dump(mode="json") for c in v.citations],
                                        ensure_ascii=False),
                "error": v.error, "tokens_in": v.tokens_in, "tokens_out": v.tokens_out,
                "cost_usd": v.cost_usd, "latency_s": v.latency_s, "cache_hit": v.cache_hit,
            })
    return rows


def _spreadsheet_safe(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to a spreadsheet: dataset text must not run.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(report: AuditReport) -> str:
    """CSV, one row per (record, judge); text cells that a spreadsheet would run get a ``'``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=ROW_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in record_judge_rows(report):
        writer.writerow({k: _spreadsheet_safe(v) for k, v in row.items()})
    return buffer.getvalue()


def write_parquet(report: AuditReport, path: Path) -> Path:
    """Parquet, one row per (record, judge), with a fixed column schema (needs pyarrow)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ConfigError("Parquet export needs pyarrow: "
                          "pip install -e '.[data]' in the Assay folder") from exc
    types = {"position": pa.int64(), "disagreement": pa.bool_(), "confidence": pa.float64(),
             "tokens_in": pa.int64(), "tokens_out": pa.int64(), "cost_usd": pa.float64(),
             "latency_s": pa.float64(), "cache_hit": pa.bool_()}
    schema = pa.schema([(name, types.get(name, pa.string())) for name in ROW_COLUMNS],
                       metadata={"assay_report_schema_version": report.schema_version})
    pq.write_table(pa.Table.from_pylist(record_judge_rows(report), schema=schema), path)
    return path


# -- Markdown -----------------------------------------------------------------------------

_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|~&$"})


def md(text: str | None) -> str:
    """Dataset text made inert in Markdown: punctuation escaped, one line (table-safe)."""
    return re.sub(r"\s+", " ", text or "").translate(_MD_SPECIAL)


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def _md_answer(record: RecordRow) -> str:
    return "".join(f"**{md(piece)}**" if marked else md(piece)
                   for piece, marked in split_spans(record.answer, record.wrong_spans))


def _md_evidence(record: RecordRow) -> str:
    seen = dict.fromkeys((c.passage_id, c.quote) for v in record.verdicts for c in v.citations)
    return "<br>".join(f"{md(pid)}: “{md(quote)}”" for pid, quote in seen)


def to_markdown(report: AuditReport) -> str:
    """The report as GitHub-flavoured Markdown tables; all dataset text escaped."""
    run, summary = report.run, report.summary
    out = [f"# Audit report {md(run.run_id)}", "",
           f"- dataset: {md(run.dataset_path)} (sha256 {run.dataset_sha256})",
           f"- sample: {run.n_sampled} of {run.population or '?'} records, {run.n_judged} "
           f"judged, seed {run.seed}" + (f"; {md(run.active_sample)}" if run.active_sample
                                         else ""),
           "- judges: " + ", ".join(md(f"{j.name} ({j.provider} {j.model})".replace(" )", ")"))
                                    for j in run.judges),
           f"- created: {run.created} (status {run.status})",
           f"- sources: {md(sources_text(report))}; {md(run.evidence)}", "",
           "## Headline", "",
           *([f"- **NOT A PANEL RESULT: {md(report.health.words)}**"]
             if report.health.degraded else []),
           *([f"- **{md(active_note(report))}**"] if active_note(report) else []),
           f"- consensus error rate: **{rate_text(summary.consensus.inclusive)}** "
           f"({summary.confidence:.0%} Wilson interval, {md(consensus_basis(summary))}"
           f"{md(lower_bound_note(report))})",
           f"- {md(bounds_text(summary))}",
           f"- {md(unverifiable_text(report))}",
           f"- {md(hard_text(summary))}"]
    if summary.range_inclusive:
        spread = summary.range_inclusive
        out.append(f"- across judges: {md(spread_text(spread))}. {md(spread.why)}")
    out += [f"- {md(report.reading)}", ""]
    out += _md_agreement(report) + _md_judges(report) + _md_gold(report) + _md_errors(report)
    out += _md_disagreements(report) + _md_breakdowns(report) + _md_problems(report)
    totals = summary.totals
    out += ["## Cost", "",
            f"{totals.judgments} judgments ({totals.cache_hits} cached), {totals.tokens_in:,} "
            f"tokens in / {totals.tokens_out:,} out, ${totals.cost_usd:.4f}.", ""]
    return "\n".join(out)


def _md_agreement(report: AuditReport) -> list[str]:
    agreement = report.summary.agreement
    if agreement is None:
        return []
    results = [agreement.krippendorff_alpha_nominal, agreement.krippendorff_alpha_ordinal_severity,
               agreement.fleiss_kappa, agreement.gwet_ac1]
    rows = [[r.coefficient, num(x.value), ci_text(x), r.words]
            for r, x in zip(report.readings, results, strict=True)]
    rows += [[f"Cohen's kappa {md(p.judge_a)} / {md(p.judge_b)}", num(p.cohen_kappa.value),
              ci_text(p.cohen_kappa), f"{p.n_both} records decided by both"]
             for p in agreement.pairs]
    return ["## Agreement", ""] + _md_table(["coefficient", "value", "CI", "reading"], rows)


def _md_gold(report: AuditReport) -> list[str]:
    if report.gold is None:
        return []
    rows = [[md(cells[0]), *cells[1:]] for cells in gold_rows(report)]
    return [f"## {md(gold_title(report))}", ""] + _md_table(gold_header(report), rows)


def _md_judges(report: AuditReport) -> list[str]:
    rows = [[md(name), rate_text(j.inclusive), rate_text(j.hard),
             f"{j.abstained} / {j.failed} / {j.invalid_citation}", f"${j.cost_usd:.4f}"]
            for name, j in report.summary.per_judge.items()]
    header = ["judge", "error rate", "hard", "abstain / fail / bad cite", "cost"]
    return ["## Judges", ""] + _md_table(header, rows)


def _md_errors(report: AuditReport) -> list[str]:
    rows = [[md(r.id), md(r.topic), md(r.question), _md_answer(r),
             "<br>".join(md(f"{v.judge}: {verdict_text(v)}") for v in r.verdicts),
             _md_evidence(r)] for r in error_records(report)]
    header = ["record", "topic", "question", "answer (wrong part in bold)", "verdicts", "evidence"]
    return [f"## Errors ({len(rows)})", ""] + (_md_table(header, rows) if rows else ["None.", ""])


def _md_disagreements(report: AuditReport) -> list[str]:
    judges = report.summary.judges
    rows = []
    for r in disagreement_records(report):
        by = {v.judge: v for v in r.verdicts}
        rows.append([md(r.id), md(r.question), r.consensus]
                    + [short_verdict(by[j]) if j in by else "-" for j in judges])
    header = ["record", "question", "consensus"] + [md(j) for j in judges]
    body = _md_table(header, rows) if rows else ["None.", ""]
    return [f"## Disagreements ({len(rows)})", ""] + body


def _md_breakdowns(report: AuditReport) -> list[str]:
    summary = report.summary
    out = ["## Errors by category", ""]
    out += _md_table(["category", "errors"],
                     [[md(c), str(n)] for c, n in summary.categories.items()])
    out += ["## By topic", ""]
    return out + _md_table(["topic", "n", "error", "ok", "disputed", "undecided"],
                           [[md(t), str(s.n), str(s.errors), str(s.ok), str(s.disputed),
                             str(s.undecided)] for t, s in summary.topics.items()])


def _md_problems(report: AuditReport) -> list[str]:
    out = []
    for title, problems in (("Invalid citations", report.invalid_citations),
                            ("Failures", report.failures)):
        out += [f"## {title} ({len(problems)})", ""]
        out += _md_table(["record", "judge", "error"],
                         [[md(p.record_id), md(p.judge), md(p.error)] for p in problems])
    if report.suspicious:
        out += [f"## Suspicious text ({len(report.suspicious)})", ""]
        out += _md_table(["record", "why"], [[md(r), md(", ".join(report.record(r).suspicious))]
                                             for r in report.suspicious])
    return out


# -- dispatch -----------------------------------------------------------------------------


def _text_writer(render: Callable[[AuditReport], str]) -> Callable[[AuditReport, Path], Path]:
    def write(report: AuditReport, path: Path) -> Path:
        path.write_text(render(report), encoding="utf-8")
        return path

    return write


def export_report(report: AuditReport, fmt: str, out: str | Path | None = None) -> Path:
    """Write the report as ``fmt`` to ``out`` (default ``<run_id>.<fmt>``); returns the path."""
    from reports.html import to_html

    writers = {"json": _text_writer(to_json), "md": _text_writer(to_markdown),
               "csv": _text_writer(to_csv), "html": _text_writer(to_html),
               "parquet": write_parquet}
    if fmt not in writers:
        raise ConfigError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    path = Path(out) if out else Path(f"{report.run.run_id}.{fmt}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return writers[fmt](report, path)
