"""Rendering of one record for the human judge's review."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text


def show_item(item, console: Console, specifics=None) -> None:
    """The record (question, answer, context), its claims to check (``specifics``: the
    dataset's ``SpecificsReport``, when it could be read) and its evidence, as plain text."""
    record = item.record
    parts = [Text(f"Q: {record.question}", style="bold"), Text(f"A: {record.answer}")]
    for turn in record.context:
        parts.insert(0, Text(f"[{turn.role}] {turn.content}", style="dim"))
    console.print(Panel(Group(*parts), title=f"{record.id} ({item.position}/{item.total})",
                        subtitle=record.topic or ""))
    for passage in item.evidence:
        console.print(Panel(Text(passage.text), title=passage.id, border_style="cyan"))
    if specifics is not None:
        show_claims(record.id, specifics, console)


def show_claims(record_id: str, specifics, console: Console) -> None:
    """The record's checkable claims, each with its markers and the records it conflicts with."""
    claims, conflicts = specifics.for_record(record_id)
    if not claims:
        return
    body = Text()
    for n, claim in enumerate(claims, 1):
        body.append(f"{n}. {claim.sentence}\n")
        for reason in claim.unverified:
            body.append(f"   unverified: {reason}\n", style="yellow")
        for conflict in conflicts:
            mine, theirs = conflict.seen_from(record_id)
            if mine.claim.start == claim.start:
                body.append(f"   conflict: {theirs.record_id} says {theirs.value!r}: "
                            f"{theirs.claim.sentence}\n", style="red")
    console.print(Panel(body, title=f"claims to check ({len(claims)}; not judge errors)",
                        border_style="yellow"))
