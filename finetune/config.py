"""The flat configuration of a training run and its translation to library objects."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.errors import ConfigError

_BUDGET = re.compile(r"(\d+(?:\.\d+)?)\s*([hms])", re.IGNORECASE)
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}


def parse_budget(text: str) -> float:
    """Wall-clock budget in seconds from ``9h``, ``1h30m``, ``45m``, ``90s`` (bare = hours)."""
    raw = text.strip()
    try:
        hours = float(raw)
    except ValueError:
        pass
    else:
        if hours <= 0:
            raise ConfigError(f"--budget should be positive, got {text!r}")
        return hours * 3600
    parts = _BUDGET.findall(raw)
    if not parts or _BUDGET.sub("", raw).strip():
        raise ConfigError(f"--budget {text!r} is not a duration; write e.g. 9h, 1h30m, 45m, 90s")
    seconds = sum(float(value) * _UNIT_SECONDS[unit.lower()] for value, unit in parts)
    if seconds <= 0:
        raise ConfigError(f"--budget should be positive, got {text!r}")
    return seconds


class TrainConfig(BaseModel):
    """Everything that determines a run's result; stored whole in every handoff manifest.

    ``budget_s``, ``session_steps`` and ``save_every`` only decide where sessions stop and
    bundles are written; they never change which samples or learning rates a step sees.
    """

    model_config = ConfigDict(extra="forbid")

    epochs: float = Field(3.0, gt=0)
    lr: float = Field(2e-4, gt=0)
    batch_size: int = Field(4, ge=1)
    """Records per micro-batch (packed into one row without padding)."""
    grad_accum: int = Field(4, ge=1)
    seq: int = Field(2048, ge=16)
    """Longest record in tokens; longer records are cut at the end."""
    max_steps: int | None = Field(None, ge=1)
    """Cap on the run's optimizer steps (the LR schedule spans this many)."""
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    targets: str = "all-linear"
    scheduler: Literal["cosine", "linear", "constant_with_warmup"] = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, ge=0)
    seed: int = 0
    packing: bool = True
    gradient_checkpointing: bool = True
    save_optimizer: bool = False
    liger: bool | None = None
    """Fused linear cross-entropy from liger-kernel (never builds full logits). ``None``: on
    where it can run (a CUDA GPU with liger-kernel installed), off elsewhere."""

    @field_validator("targets")
    @classmethod
    def _targets(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("should be all-linear or a comma list of module names, got ''")
        return value.strip()

    @property
    def samples_per_step(self) -> int:
        return self.batch_size * self.grad_accum
