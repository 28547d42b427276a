"""One run over several processes (``accelerate launch``, DDP): who is who, and agreeing.

An optimizer step takes the same samples on any number of processes: the run's
``batch_size x grad_accum`` is the *global* step, divided over the processes
(``split_step``), and accelerate deals the per-process batches of the run's one sample order
round-robin (rank ``r`` takes per-process batches ``r, r + W, r + 2W, ...``). So the cursor,
the learning-rate schedule and the step count are those of a one-process run, and a bundle
written by W processes resumes on any other number. ``interleave`` puts the ranks' micro-batches
back in that order for the step log. Without a process group every helper is the identity.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    local_rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def ranks() -> Ranks:
    """This process's place, from the variables ``accelerate launch`` / ``torchrun`` set."""
    env = os.environ
    return Ranks(rank=int(env.get("RANK", 0)), local_rank=int(env.get("LOCAL_RANK", 0)),
                 world=int(env.get("WORLD_SIZE", 1)))


def split_step(batch: int, grad_accum: int, world: int) -> tuple[int, int]:
    """(per-process batch, per-process accumulation) that make one optimizer step over
    ``world`` processes take the ``batch x grad_accum`` samples of a one-process step."""
    if grad_accum % world == 0:
        return batch, grad_accum // world
    if batch % world == 0:
        return batch // world, grad_accum
    raise ConfigError(
        f"--batch-size {batch} x --grad-accum {grad_accum} does not divide over {world} "
        f"processes; make --grad-accum or --batch-size a multiple of {world}, so that a step "
        "takes the same samples on any number of GPUs")


def interleave(per_rank: list[list[list[int]]]) -> list[int]:
    """The step's record indices in the one-process order, from each rank's micro-batches:
    micro-batch ``j`` of rank ``r`` is the step's per-process batch ``j * W + r``."""
    out: list[int] = []
    for j in range(max((len(b) for b in per_rank), default=0)):
        for batches in per_rank:
            if j < len(batches):
                out += batches[j]
    return out


def _group() -> Any:
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def gather(obj: Any) -> list[Any]:
    """``obj`` from every rank, in rank order ([obj] without a process group)."""
    dist = _group()
    if dist is None:
        return [obj]
    found: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(found, obj)
    return found


def agree(value: int) -> int:
    """The largest of the ranks' values, on every rank (a stop any rank needs, all make)."""
    return max(gather(value))
