"""Rendering of one record for the human judge's review."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text


def show_item(item, console: Console) -> None:
    """The record (question, answer, context) and its evidence passages, all as plain text."""
    record = item.record
    parts = [Text(f"Q: {record.question}", style="bold"), Text(f"A: {record.answer}")]
    for turn in record.context:
        parts.insert(0, Text(f"[{turn.role}] {turn.content}", style="dim"))
    console.print(Panel(Group(*parts), title=f"{record.id} ({item.position}/{item.total})",
                        subtitle=record.topic or ""))
    for passage in item.evidence:
        console.print(Panel(Text(passage.text), title=passage.id, border_style="cyan"))
