"""The session's shared state: a frozen plan, progress that the callback updates, and the last
bundle written only for a step that has none."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from finetune.config import TrainConfig
from finetune.handoff import ChatTemplateInfo, GateRecord
from finetune.session_state import Device, SessionPlan, SessionProgress, SessionSpec

FINETUNE = Path(__file__).resolve().parents[2] / "finetune"


def plan(tmp_path: Path, total_steps: int = 4) -> SessionPlan:
    spec = SessionSpec(model_dir=tmp_path / "model", data_path=tmp_path / "data.jsonl",
                       out=tmp_path / "out", config=TrainConfig(), gate=GateRecord(),
                       budget_s=3600.0, progress=False)
    return SessionPlan(spec=spec, config=spec.config, device=Device("cpu", "cpu", "float32",
                                                                    "adamw_torch"),
                       total_steps=total_steps, samples=total_steps * 16, n_records=8,
                       start_step=0, base_config_sha256="b" * 64, dataset_sha256="d" * 64,
                       gate=spec.gate, template=ChatTemplateInfo(source="fallback", text="t",
                                                                 sha256="t" * 64),
                       record_ids=tuple(f"r{i}" for i in range(8)), per_process=(1, 16),
                       prior_sessions=(), started_at="2026-01-01T00:00:00Z")


def test_the_plan_is_fixed_for_the_session(tmp_path):
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan(tmp_path).total_steps = 5  # type: ignore[misc]


@pytest.mark.parametrize(("last_step", "bundles_steps", "stop_reason", "written"), [
    (2, [2], None, None),  # the step's bundle is already there
    (4, [2], None, "complete"),
    (3, [2], "budget", "budget"),
    (3, [], None, "end"),
])
def test_the_last_bundle_is_written_only_for_a_step_without_one(
        tmp_path, monkeypatch, last_step, bundles_steps, stop_reason, written):
    from finetune.session_callback import SessionCallback

    progress = SessionProgress(last_step=last_step, bundles_steps=bundles_steps,
                               stop_reason=stop_reason)
    callback = SessionCallback(plan(tmp_path), progress)
    reasons: list[str] = []
    monkeypatch.setattr(callback, "write_bundle",
                        lambda model, optimizer, reason: reasons.append(reason))
    callback.write_last_bundle(model=None, optimizer=None)
    assert reasons == ([written] if written else [])


def test_no_finetune_module_imports_another_modules_private_names():
    found = []
    for path in sorted(FINETUNE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = node.names if isinstance(node, (ast.Import, ast.ImportFrom)) else []
            module = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
            dotted = [module, *(alias.name for alias in names)]
            if any(part.startswith("_") and not part.startswith("__")
                   for name in dotted for part in name.split(".")):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []
