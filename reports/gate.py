"""Rendering of gate decisions and policies (also used by ``finetune train``'s refusal)."""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

STYLE = {"pass": "green", "fail": "red", "inconclusive": "yellow"}


def decision_panel(decision, title: str | None = None) -> Panel:
    body = Text()
    for reason in decision.reasons:
        body.append("• " + reason + "\n")
    body.append(f"audit {decision.audit_run_id} · dataset sha256 {decision.dataset_sha256[:16]}…",
                style="dim")
    style = STYLE[decision.status]
    return Panel(body, title=title or f"gate: {decision.status.upper()}", border_style=style,
                 title_align="left")


def render_decision(decision, console: Console) -> None:
    console.print(decision_panel(decision))


def render_policy(policy, console: Console) -> None:
    table = Table(title="gate policy", show_header=True, header_style="bold")
    table.add_column("setting")
    table.add_column("value")
    table.add_column("meaning")
    for name, field in type(policy).model_fields.items():
        table.add_row(name, Text(str(getattr(policy, name))), Text(field.description or ""))
    console.print(table)
