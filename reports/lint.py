"""Render a ``LintReport`` in the terminal: summary, the first findings, and the caveat."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from audit.lint import LintReport

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow"}


def render_lint(report: LintReport, console: Console, *, max_findings: int = 20) -> None:
    """Print the summary table, at most ``max_findings`` findings, then the facts statement.

    Record text is untrusted, so every value is printed as plain text, never as markup.
    """
    console.print(lint_summary(report))
    if report.findings:
        console.print(lint_findings(report, max_findings))
    if report.status == "skipped_invalid":
        console.print(Text(skipped_line(report), "yellow"))
    console.print(Panel(Text(report.statement), title="lint is not a fact check", border_style="yellow"))


def lint_summary(report: LintReport) -> Table:
    status = {
        "passed": Text("passed", "green"),
        "skipped_invalid": Text("invalid records skipped", "yellow"),
        "errors": Text("errors found", "bold red"),
    }[report.status]
    table = Table(title=Text(f"Lint: {report.dataset_path}"), show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("status", status)
    table.add_row("records", f"{report.n_records} ({report.n_skipped} skipped as invalid)")
    table.add_row("content hash (as audit runs store it)", report.dataset_sha256[:16])
    if report.file_sha256:
        table.add_row("file sha256", report.file_sha256[:16])
    for check, count in report.counts.items():
        table.add_row(check.replace("_", " "), Text(str(count), "yellow" if count else ""))
    table.add_row("distinct-1 / distinct-2", f"{report.distinct_1:.3f} / {report.distinct_2:.3f}")
    words = report.answer_words
    spread = f"{words.min} / {words.median:g} / {words.mean:.1f} / {words.p95:g} / {words.max}"
    table.add_row("answer words (min/median/mean/p95/max)", spread)
    return table


def skipped_line(report: LintReport) -> str:
    """The line that says invalid records were left out, so a 0 exit is never silent."""
    n, left = report.n_skipped, report.n_records
    return (
        f"skipped {n} invalid record{'s' if n != 1 else ''} (--skip-invalid); the checks ran "
        f"on the {left} record{'s' if left != 1 else ''} left"
    )


def lint_findings(report: LintReport, max_findings: int) -> Group:
    table = Table(title=f"Findings ({len(report.findings)})")
    table.add_column("severity")
    table.add_column("record")
    table.add_column("check")
    table.add_column("message", overflow="fold")
    shown = report.findings[:max_findings]
    for finding in shown:
        table.add_row(
            Text(finding.severity, _SEVERITY_STYLE[finding.severity]),
            Text(finding.record_id or "-"),
            Text(finding.check),
            Text(finding.message),
        )
    hidden = len(report.findings) - len(shown)
    more = Text(f"... and {hidden} more (see the JSON report)" if hidden else "", "dim")
    return Group(table, more) if hidden else Group(table)
