"""The audit gate in front of training: refuse on fail/inconclusive unless overridden.

Imports nothing heavy: a refusal must come before torch or transformers are loaded.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import ConfigError, GateFailed
from core.models import GateDecision, utcnow
from finetune.handoff import GateRecord


def evaluate_gate(store, run_id: str | None, dataset_path: str | os.PathLike[str]) -> GateDecision:
    """The gate's decision for ``dataset_path`` (from audit run ``run_id``, or the latest)."""
    try:
        from audit.gatekeeper import evaluate_gate as audit_evaluate_gate
    except ImportError as exc:
        raise ConfigError(
            "the audit gate (audit.gatekeeper) is not available; update assay, or start "
            'anyway with --override-gate "REASON"'
        ) from exc
    return audit_evaluate_gate(store, run_id=run_id, dataset_path=Path(dataset_path))


def gate_for_training(
    store, run_id: str | None, dataset_path: str | os.PathLike[str],
    override_reason: str | None = None,
) -> GateRecord:
    """Evaluate the gate; raise ``GateFailed`` unless it passes or an override is given.

    An override must carry a reason; it is kept, with the failed decision, in the record
    that goes into the run's manifest and every handoff bundle.
    """
    if override_reason is not None and not override_reason.strip():
        raise ConfigError('--override-gate needs a reason, e.g. --override-gate "pilot run, '
                          'audit pending"')
    decision = evaluate_gate(store, run_id, dataset_path)
    if decision.status == "pass":
        return GateRecord(decision=decision)
    if override_reason is None:
        raise GateFailed(decision)
    return GateRecord(decision=decision, overridden=True, override_reason=override_reason.strip(),
                      overridden_at=utcnow())


def refusal_panel(decision: GateDecision):
    """A rich panel listing why the gate refuses training, and how to proceed."""
    from rich.panel import Panel
    from rich.text import Text

    body = Text()
    body.append(f"gate {decision.status}", style="bold red")
    body.append(f"  audit run {decision.audit_run_id or '-'}  dataset "
                f"{decision.dataset_sha256[:12] or '-'}\n\n")
    for reason in decision.reasons or ["(no reason given)"]:
        body.append(f"  • {reason}\n")
    body.append("\nTraining did not start. Fix the data and re-run the audit, or start anyway "
                'with --override-gate "REASON" (recorded in every handoff bundle).', style="dim")
    return Panel(body, title="training refused by the audit gate", border_style="red")
