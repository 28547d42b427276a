"""The deterministic, resumable order in which a run visits its records.

Epoch ``e`` visits the records in ``epoch_order(n, seed, e)``, a seeded permutation that is
the same on every machine and Python version (``random.Random`` with an integer seed). A run
is the epochs one after another; the cursor ``(epoch, index)`` names the next sample, and the
number of samples consumed determines it, so a session that stops after any optimizer step
can name exactly where the next one starts.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from functools import lru_cache

from finetune.handoff import SampleCursor


@lru_cache(maxsize=8)
def epoch_order(n: int, seed: int, epoch: int) -> tuple[int, ...]:
    """The permutation of ``range(n)`` that epoch ``epoch`` visits."""
    order = list(range(n))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return tuple(order)


def cursor_at(consumed: int, n: int) -> SampleCursor:
    """The cursor after ``consumed`` samples of a run over ``n`` records."""
    epoch, index = divmod(consumed, n)
    return SampleCursor(epoch=epoch, index=index)


def consumed_at(cursor: SampleCursor, n: int) -> int:
    return cursor.epoch * n + cursor.index


def run_order(n: int, seed: int, total: int, start: int = 0) -> Iterator[int]:
    """Record indices of samples ``start .. total-1`` of the run, epoch after epoch."""
    for position in range(start, total):
        epoch, index = divmod(position, n)
        yield epoch_order(n, seed, epoch)[index]


def total_samples(n: int, epochs: float) -> int:
    """Samples in a run of ``epochs`` (fractional epochs allowed) over ``n`` records."""
    return max(1, math.ceil(n * epochs))


def total_steps(samples: int, per_step: int, max_steps: int | None = None) -> int:
    """Optimizer steps of a run; the last step may take fewer samples."""
    steps = math.ceil(samples / per_step)
    return min(steps, max_steps) if max_steps else steps
