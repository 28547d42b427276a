"""What one training session shares between its parts (finetune.training builds the trainer,
finetune.session_callback logs steps and writes bundles):

- ``SessionSpec``: what the caller asks for (a new run, or the continuation of a bundle);
- ``SessionPlan``: what is fixed once the session starts (config, device, step counts, hashes,
  gate, chat template, record ids, each process's share of a step);
- ``SessionProgress``: what changes as it trains (step log, bundles written, last step,
  why it stopped, how this process trains).

No heavy imports: both modules import this one, and it imports neither.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune.config import TrainConfig
from finetune.handoff import ChatTemplateInfo, GateRecord, HandoffManifest, SessionInfo, StepLog

if TYPE_CHECKING:
    from transformers import TrainerCallback


@dataclass
class SessionSpec:
    """What one session trains: a new run, or the continuation of a bundle."""

    model_dir: Path
    data_path: Path
    out: Path
    config: TrainConfig
    gate: GateRecord
    budget_s: float
    started: float = field(default_factory=time.monotonic)
    save_every: int | None = None
    session_steps: int | None = None
    resume: tuple[Path, HandoffManifest] | None = None
    progress: bool = True
    run_name: str = ""
    callbacks: list[TrainerCallback] = field(default_factory=list)
    """Extra transformers ``TrainerCallback``s (benchmarks time steps with them)."""
    auto_micro_batch: bool = False
    """A new run on a GPU with varlen attention may take the step's records in fewer, larger
    packed micro-batches (the same records per step): the user chose neither size."""


@dataclass(frozen=True)
class Device:
    kind: str  # "cuda" or "cpu"
    name: str
    dtype_name: str  # compute dtype: bfloat16, float16 or float32
    optim: str


@dataclass(frozen=True)
class SessionPlan:
    """What a session trains, fixed when it starts: the spec, the run's config (the bundle's
    when resuming), the device, the run's step and sample counts, and what the bundles record."""

    spec: SessionSpec
    config: TrainConfig
    device: Device
    total_steps: int  # of the whole run, over all sessions
    samples: int  # samples the run trains on: epochs x records, cut at total_steps
    n_records: int
    start_step: int  # the global step the session starts after (0 for a new run)
    base_config_sha256: str  # finetune.training.model_config_sha256
    dataset_sha256: str
    gate: GateRecord
    template: ChatTemplateInfo
    record_ids: tuple[str, ...]  # the dataset's record ids, by record index
    per_process: tuple[int, int]  # (batch, accumulation) of each process: finetune.distributed
    prior_sessions: tuple[SessionInfo, ...]  # the run's earlier sessions
    started_at: str  # UTC time the session started (ISO 8601)


@dataclass
class SessionProgress:
    """What a session has done so far; the callback and the trainer update it as steps end."""

    history: list[StepLog] = field(default_factory=list)
    """The run's step log: earlier sessions' steps, then this session's."""
    bundles: list[Path] = field(default_factory=list)
    bundles_steps: list[int] = field(default_factory=list)  # the global step of each bundle
    last_step: int = 0
    stop_reason: str | None = None  # "session_steps" or "budget" when the session stopped early
    parallel: dict[str, Any] = field(default_factory=dict)
    """How this process trains (finetune.training.describe_parallel), from its first step."""

    @property
    def last_bundle_step(self) -> int:
        """The global step of the last bundle written in this session, -1 before the first."""
        return self.bundles_steps[-1] if self.bundles_steps else -1
