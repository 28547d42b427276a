"""One run over several processes (``accelerate launch``, DDP): who is who, and agreeing.

An optimizer step takes the same samples on any number of processes: the run's
``batch_size x grad_accum`` is the *global* step, divided over the processes
(``split_step``). ``deal`` cuts each step's samples, in the run's one sample order, into
per-process batches and gives every process its share of them: as many per-process batches as
a round-robin deal would (rank ``r`` of ``W``: ``r, r + W, ...``), but which ones is chosen so
that every process gets about the same number of tokens (``cost``), since the processes wait
for each other at the step's all-reduce. A per-process batch keeps its place in the step (its
index in the one-process order): the LoRA dropout seed of the micro-batch, and the order of
the step log, come from that place, not from the rank that ran it. The deal is ours, not
accelerate's (whose ``even_batches`` pads a short last step with samples from the start of the
run), so even a run's short last step takes exactly the one-process samples. So the cursor, the
learning-rate schedule and the step count are those of a one-process run, and a bundle written
by W processes resumes on any other number. ``interleave`` puts the ranks' micro-batches back
in the step's order for the step log. Without a process group every helper is the identity.

One process drives one GPU: finetune.training keeps transformers from spreading a process
over every visible GPU with ``nn.DataParallel``, which would multiply the step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
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


def close_process_group(finished: bool) -> None:
    """Closes the run's process group before the interpreter exits: a gloo group left open
    aborts a process at exit ("terminate called without an active exception", SIGABRT)
    after a run that succeeded. A finished run first waits for every process."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    if finished:
        dist.barrier()
    dist.destroy_process_group()


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


def ghost(index: int) -> int:
    """A stand-in for record ``index`` that trains nothing (its labels are all ignored): the
    micro-batch of a process that a run's short last step leaves without a sample."""
    return -1 - index


def is_ghost(index: int) -> bool:
    return index < 0


def record_of(index: int) -> int:
    """The record a sample index (or its ghost) encodes."""
    return -1 - index if index < 0 else index


Cost = Callable[[list[int]], int]  # the work of one per-process batch (its tokens)


def deal(step: Sequence[int], batch: int, world: int,
         cost: Cost | None = None) -> list[list[tuple[int, list[int]]]]:
    """Every rank's micro-batches of one optimizer step (``step``: its samples in order), each
    as (its place in the step, its samples), in the order of their places.

    A full step is cut into per-process batches of ``batch``; rank ``r`` runs as many of them
    as a round-robin deal gives it. Without ``cost`` they are dealt round-robin; with it, the
    costliest first, each to the rank with the least cost so far that still has room, so
    that the ranks' shares take about the same time. A run's last step may be short; when it
    has fewer per-process batches than processes it is cut into ``world`` near-equal parts
    instead, so that every process still runs (DDP needs every process in every step), and a
    process with no sample at all gets one ghost."""
    chunks = [list(step[i:i + batch]) for i in range(0, len(step), batch)]
    if len(chunks) < world:
        bounds = [-(-len(step) * i // world) for i in range(world + 1)]
        parts = [list(step[bounds[i]:bounds[i + 1]]) for i in range(world)]
        return [[(rank, part)] if part else [(rank, [ghost(step[0])])]
                for rank, part in enumerate(parts)]
    room = [len(range(rank, len(chunks), world)) for rank in range(world)]
    owner = [place % world for place in range(len(chunks))]
    if cost is not None and world > 1:
        load = [0] * world
        costs = [cost(chunk) for chunk in chunks]
        for place in sorted(range(len(chunks)), key=lambda i: (-costs[i], i)):
            rank = min((r for r in range(world) if room[r]), key=lambda r: (load[r], r))
            owner[place], load[rank], room[rank] = rank, load[rank] + costs[place], room[rank] - 1
    return [[(place, chunk) for place, chunk in enumerate(chunks) if owner[place] == rank]
            for rank in range(world)]


def step_share(step: Sequence[int], batch: int, world: int, rank: int,
               cost: Cost | None = None) -> list[list[int]]:
    """Rank ``rank``'s micro-batches of one optimizer step (``deal``), without their places."""
    return [chunk for _, chunk in deal(step, batch, world, cost)[rank]]


def rank_micro_batches(samples: Sequence[int], per_step: int, batch: int, world: int,
                       rank: int, cost: Cost | None = None) -> list[tuple[int, list[int]]]:
    """Rank ``rank``'s micro-batches over a session's ``samples`` (the run's sample order from
    a step boundary on), step after step, each with its place in its step: what its data
    loader yields."""
    out: list[tuple[int, list[int]]] = []
    for start in range(0, len(samples), per_step):
        out += deal(samples[start:start + per_step], batch, world, cost)[rank]
    return out


def interleave(per_rank: list[list[tuple[int, list[int]]]]) -> list[int]:
    """The step's record indices in the one-process order, from each rank's micro-batches with
    their places in the step (``deal``); ghosts are left out."""
    placed = sorted((place, batch) for batches in per_rank for place, batch in batches)
    return [i for _, batch in placed for i in batch if not is_ghost(i)]


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

