"""The audit gate in front of training: refuse on fail/inconclusive unless overridden.

The decision is ``audit.gate.evaluate_gate``'s, the same as ``audit gate``'s (its refusal is
rendered by ``reports.gate.refusal_panel``). Imports nothing heavy: a refusal must come before
torch or transformers are loaded.
"""

from __future__ import annotations

import os
from pathlib import Path

from audit.gate import evaluate_gate
from core.errors import ConfigError, GateFailed
from core.models import utcnow
from finetune.handoff import GateRecord


def gate_for_training(
    store, run_id: str | None, dataset_path: str | os.PathLike[str],
    override_reason: str | None = None,
) -> GateRecord:
    """The gate's decision for ``dataset_path`` from audit run ``run_id`` (an id, a unique
    prefix, or None: the latest) under the policy in force; raise ``GateFailed`` unless it
    passes or an override is given.

    An override must carry a reason; it is kept, with the failed decision, in the record
    that goes into the run's manifest and every handoff bundle.
    """
    if override_reason is not None and not override_reason.strip():
        raise ConfigError('--override-gate needs a reason, e.g. --override-gate "pilot run, '
                          'audit pending"')
    decision = evaluate_gate(store, run_id, dataset_path=Path(dataset_path))
    if decision.status == "pass":
        return GateRecord(decision=decision)
    if override_reason is None:
        raise GateFailed(decision)
    return GateRecord(decision=decision, overridden=True, override_reason=override_reason.strip(),
                      overridden_at=utcnow())
