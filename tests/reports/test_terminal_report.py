"""The terminal report: snapshots at 80 and 120 columns, literal dataset text, filters."""

from __future__ import annotations

import os
import re
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

from core.runs import list_runs
from reports.html import to_html
from reports.terminal import render_report, render_run_summary, render_runs

SNAPSHOTS = Path(__file__).parent / "snapshots"


def _render(report, width: int, **options) -> str:
    console = Console(file=StringIO(), width=width, force_terminal=False, color_system=None)
    render_report(report, console, **options)
    return console.file.getvalue()


def _check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("ASSAY_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if not path.is_file():
        pytest.fail(f"{path} is missing; create it with ASSAY_UPDATE_SNAPSHOTS=1")
    assert text == path.read_text(encoding="utf-8"), (
        f"terminal report differs from {path}; if the change is intended, re-run with "
        "ASSAY_UPDATE_SNAPSHOTS=1 and review the diff")


@pytest.mark.parametrize("width", [80, 120])
def test_terminal_report_matches_snapshot(sample_report, width):
    text = _render(sample_report, width)
    assert max(len(line) for line in text.splitlines()) <= width
    _check_snapshot(f"report_{width}.txt", text)


def test_report_shows_the_numbers_evidence_and_wrong_span(sample_report):
    text = _render(sample_report, 120)
    # issue 23: the tie is resolved, so the rate rests on all 10 records, not the 9 with a
    # majority; the plain majority's rate is given with the tie counted both ways
    assert "Consensus error rate 60.0% [32.2%–82.6%] (6/10)" in text
    assert "Plain majority 5/9 with 1 disputed and 0 undecided left out" in text
    assert "counting those both ways over all 10 records: 50.0% to" in text
    assert "Across judges: 25.0% (local) to 66.7% (gemini)" in text
    assert "Judges agree only moderately: treat the rate as uncertain." in text
    assert "The late registration fee is >>$500<<." in text
    assert 'evidence fees#0: "The late registration fee is $250."' in text
    assert "Tuition is due >>August 15<<." in text
    assert "Invalid citations: 1" in text and "Failures: 2" in text
    assert "Unavailable: HTTP 503 from server" in text
    assert "14,520 in / 970 out" in text


def test_dataset_markup_prints_literally(sample_report):
    text = _render(sample_report, 120)
    assert "Use the form [red]ASAP[/] or [bold]now[/bold] at the registrar." in text
    assert "The sources say nothing about a [red] form." in text
    assert '<script>document.title="pwned"</script>" onmouseover="alert(2)' in text


def test_colour_terminal_styles_the_wrong_span_without_markers(sample_report):
    console = Console(file=StringIO(), width=120, force_terminal=True, color_system="standard")
    render_run_summary(sample_report, console, model_calls=7)
    text = console.file.getvalue()
    assert ">>$500<<" not in text
    assert re.search(r"\x1b\[[0-9;]*m\$500\x1b\[0m", text), "the wrong span carries a style"
    assert "7 made by this command" in text


def test_errors_only_drops_the_agreement_and_breakdowns(sample_report):
    text = _render(sample_report, 100, errors_only=True)
    assert "Errors (6)" in text and "Consensus error rate" in text
    assert "Agreement" not in text and "By topic" not in text and "Disagreements" not in text


def test_topic_filter_limits_the_record_tables(sample_report):
    text = _render(sample_report, 100, topic="fees")
    assert "Errors (2)" in text and "r01" in text and "r04" in text
    assert "r03" not in text.split("Errors (2)")[1].split("Disagreements")[0]
    assert "filtered by topic 'fees'" in text


def test_judge_filter_shows_that_judges_errors(sample_report):
    text = _render(sample_report, 100, judge="local", errors_only=True)
    # local calls r03 and r05 errors; r01 it calls supported
    errors = text.split("Errors (2) according to local")[1]
    assert "r03" in errors and "r05" in errors and "r01" not in errors
    assert "- gemini:" not in errors


def test_render_runs_lists_stored_runs(sample_run):
    store, run_id = sample_run
    console = Console(file=StringIO(), width=120, force_terminal=False, color_system=None)
    render_runs(list_runs(store), console)
    out = console.file.getvalue()
    assert run_id in out and "gemini, local, rules" in out and "data/advising.jsonl" in out
    console = Console(file=StringIO(), width=80, force_terminal=False, color_system=None)
    render_runs([], console)
    assert "no audit runs" in console.file.getvalue()


def test_the_range_across_judges_names_one_rate_once_when_every_judge_gives_it():
    from audit.stats.results import RateRange
    from reports.terminal import spread_text

    assert spread_text(RateRange(0.25, 2 / 3, ["local"], ["gemini"])) == \
        "25.0% (local) to 66.7% (gemini)"
    assert spread_text(RateRange(0.0, 0.0, ["local", "rules"], ["local", "rules"])) == \
        "0.0% from every judge (local, rules)"


def test_the_errors_table_lists_every_error_the_headline_counts(sample_report):
    """The headline counts r07, a tie its consensus method resolved as an error: so does the
    errors table, saying it was a tie (it listed 5 errors under a headline of 6)."""
    consensus = sample_report.summary.consensus
    assert consensus.errors == 6 and consensus.disputed == 1
    text = _render(sample_report, 100, errors_only=True)
    assert f"Errors ({consensus.errors})" in text
    errors = text.split(f"Errors ({consensus.errors})")[1]
    assert "r07" in errors and "(tie resolved)" in errors
    page = to_html(sample_report).split('id="errors-table"')[1].split("</table>")[0]
    assert "r07" in page and "(tie resolved)" in page
