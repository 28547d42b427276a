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
    console.print(Panel(Text(report.statement), title="lint is not a fact check", border_style="yellow"))


def lint_summary(report: LintReport) -> Table:
    status = Text("passed", "green") if report.passed else Text("errors found", "bold red")
    table = Table(title=Text(f"Lint: {report.dataset_path}"), show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("status", status)
    table.add_row("records", f"{report.n_records} ({report.n_skipped} skipped as invalid)")
    table.add_row("sha256", report.dataset_sha256[:16])
    for check, count in report.counts.items():
        table.add_row(check.replace("_", " "), Text(str(count), "yellow" if count else ""))
    table.add_row("distinct-1 / distinct-2", f"{report.distinct_1:.3f} / {report.distinct_2:.3f}")
    words = report.answer_words
    spread = f"{words.min} / {words.median:g} / {words.mean:.1f} / {words.p95:g} / {words.max}"
    table.add_row("answer words (min/median/mean/p95/max)", spread)
    return table


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
