"""Render the checks that need no sources: ``audit claims``, ``audit topics``, and the
run report's section on conflicts and unverified specifics (never judge errors).

Record text is untrusted: every value is printed as plain ``Text``, never as markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from audit.specifics import SpecificsReport, SpecificsSection
    from audit.topics import TopicAssignment


def render_specifics(report: SpecificsReport, console: Console, *, dataset: str,
                     max_rows: int = 20) -> None:
    """``audit claims``: the figures, the conflicts, the unverified specifics, the caveat."""
    from audit.specifics import NOT_ERRORS

    figures = report.summary()
    table = Table(title=Text(f"Claims: {dataset}"), show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("records", str(figures["records"]))
    table.add_row("checkable claims", f"{figures['claims']} ({figures['claims_per_record']:g} per "
                  f"record; {figures['records_with_claims']} records have some)")
    table.add_row("conflicts between records", Text(
        f"{figures['conflicts']} ({figures['records_in_conflicts']} records)",
        "yellow" if figures["conflicts"] else ""))
    table.add_row("unverified specifics", Text(
        f"{figures['unverified_specifics']} ({figures['records_with_unverified_specifics']} "
        "records)", "yellow" if figures["unverified_specifics"] else ""))
    console.print(table)
    if report.conflicts:
        console.print(conflicts_table(report, max_rows))
    if report.unverified:
        console.print(unverified_table(report, max_rows))
    console.print(Panel(Text(NOT_ERRORS), title="not errors", border_style="yellow"))


def conflicts_table(report: SpecificsReport, max_rows: int) -> RenderableType:
    table = Table(title=f"Conflicting claims between records ({len(report.conflicts)})")
    for name in ("record", "says", "record", "says", "about"):
        table.add_column(name, overflow="fold")
    for c in report.conflicts[:max_rows]:
        table.add_row(Text(c.a.record_id), _said(c.a.value, c.a.claim.sentence),
                      Text(c.b.record_id), _said(c.b.value, c.b.claim.sentence),
                      Text(", ".join(c.subject) + "; " + ", ".join(c.measure)))
    return _more(table, len(report.conflicts) - max_rows)


def unverified_table(report: SpecificsReport, max_rows: int) -> RenderableType:
    rows = [(c, reason) for c in report.unverified for reason in c.unverified]
    table = Table(title=f"Unverified specifics ({len(report.unverified)} claims)")
    table.add_column("record")
    table.add_column("why check it", overflow="fold")
    table.add_column("sentence", overflow="fold")
    for claim, reason in rows[:max_rows]:
        table.add_row(Text(claim.record_id), Text(reason), Text(claim.sentence))
    return _more(table, len(rows) - max_rows)


def _said(value: str, sentence: str) -> Text:
    return Text.assemble((value, "bold"), ": ", sentence)


def _more(table: Table, hidden: int) -> RenderableType:
    if hidden <= 0:
        return table
    return Group(table, Text(f"... and {hidden} more (export them with --out)", "dim"))


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def specifics_head(section: SpecificsSection) -> str:
    """The section's first line: the dataset's figures and the sample's (plain text)."""
    return (f"dataset: {_count(section.dataset_unverified, 'unverified specific')} in "
            f"{_count(section.dataset_claims, 'claim')} of "
            f"{_count(section.dataset_records, 'record')}; "
            f"{_count(section.sample_conflicts, 'conflict')} of sampled records with others; "
            f"sampled records with a finding: {len(section.records)}")


def specifics_panel(section: SpecificsSection, plain: bool = False) -> RenderableType:
    """The run report's section: sampled records' conflicts and unverified specifics."""
    title = "Checks without sources (not judge errors)"
    if not section.available:
        return Panel(Text(section.note), title=title, border_style="" if plain else "dim")
    head = Text(specifics_head(section))
    parts: list[RenderableType] = [head]
    for row in section.records:
        lines = Text()
        lines.append(row.record_id, "bold")
        for c in row.conflicts:
            lines.append(f"\n  conflict: says {c.value!r} ({c.sentence})\n"
                         f"    but {c.other_record} says {c.other_value!r} ({c.other_sentence})")
        for item in row.unverified:
            lines.append(f"\n  unverified: {item}")
        parts.append(lines)
    parts.append(Text(section.statement, style="dim"))
    return Panel(Group(*parts), title=title, border_style="" if plain else "yellow")


def render_topics(assignments: list[TopicAssignment], console: Console, *,
                  critical: list[str], max_rows: int = 40) -> None:
    """``audit topics``: counts per topic and how each record got its topic."""
    from collections import Counter

    from audit.topics import topic_matches

    counts = Counter((a.topic or "(none)", a.how or "-") for a in assignments)
    summary = Table(title="Topics")
    for name in ("topic", "how", "records", "critical"):
        summary.add_column(name)
    for (topic, how), n in sorted(counts.items(), key=lambda kv: -kv[1]):
        crit = topic_matches(None if topic == "(none)" else topic, critical)
        summary.add_row(Text(topic), Text(how), str(n), "yes" if crit else "")
    console.print(summary)
    table = Table(title="Per record")
    table.add_column("record")
    table.add_column("topic (how)", overflow="fold")
    for a in assignments[:max_rows]:
        table.add_row(Text(a.record_id), Text(a.words() + (" (field)" if a.how == "field" else "")))
    console.print(_more(table, len(assignments) - max_rows))
