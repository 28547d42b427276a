"""Rendering of gate decisions (``audit gate``, ``finetune train``'s refusal) and policies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from core.models import GateDecision
from reports.layout import report_panel

if TYPE_CHECKING:
    from audit.gate import GatePolicy

STYLE = {"pass": "green", "fail": "red", "inconclusive": "yellow"}


def decision_panel(decision: GateDecision, title: str | None = None) -> Panel:
    """One decision (``audit gate``): its reasons, the audit run and the dataset's hash."""
    body = Text()
    for reason in decision.reasons:
        body.append("• " + reason + "\n")
    body.append(f"audit {decision.audit_run_id} · dataset sha256 {decision.dataset_sha256[:16]}…",
                style="dim")
    style = STYLE[decision.status]
    return Panel(body, title=title or f"gate: {decision.status.upper()}", border_style=style,
                 title_align="left")


def run_decisions_panel(decisions: list[GateDecision], plain: bool = False) -> Panel:
    """The latest of a run's stored decisions, with its reasons (in ``reports show``)."""
    latest = decisions[-1]
    style = STYLE[latest.status]
    lines = [Text(f"{latest.status.upper()} at {latest.created}", style=f"bold {style}")]
    lines += [Text(f"- {reason}") for reason in latest.reasons]
    return report_panel(Group(*lines), f"Gate ({len(decisions)} decision(s))", plain, style)


def render_decision(decision: GateDecision, console: Console) -> None:
    """Print ``decision_panel``."""
    console.print(decision_panel(decision))


def render_policy(policy: GatePolicy, console: Console) -> None:
    """Every setting of ``policy`` with its value and meaning (``audit gate --show-policy``)."""
    table = Table(title="gate policy", show_header=True, header_style="bold")
    table.add_column("setting")
    table.add_column("value")
    table.add_column("meaning")
    for name, field in type(policy).model_fields.items():
        table.add_row(name, Text(str(getattr(policy, name))), Text(field.description or ""))
    console.print(table)


def refusal_panel(decision: GateDecision) -> Panel:
    """A rich panel listing why the gate refuses training, and how to proceed."""
    body = Text()
    body.append(f"gate {decision.status}", style="bold red")
    body.append(f"  audit run {decision.audit_run_id or '-'}  dataset "
                f"{decision.dataset_sha256[:12] or '-'}\n\n")
    for reason in decision.reasons or ["(no reason given)"]:
        body.append(f"  • {reason}\n")
    body.append("\nTraining did not start. Fix the data and re-run the audit, or start anyway "
                'with --override-gate "REASON" (recorded in every handoff bundle).', style="dim")
    return Panel(body, title="training refused by the audit gate", border_style="red")
