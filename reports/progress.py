"""Progress for long work: a bar on a terminal, plain lines in a log.

On a TTY, a rich bar with rate and ETA. Without one (a CI log, ``| tee``), one line on stderr
when the work starts, then at least every ``ASSAY_PROGRESS_INTERVAL`` seconds (default 30),
even while nothing finishes (a model loading), and once at the end.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

DEFAULT_INTERVAL_S = 30.0


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[..., None]]:
    """Yield ``update(done, total, note=None)``; ``note`` (failures, tokens, cost, ...) is
    shown after the counts."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        with progress_lines(description) as update:
            yield update
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int, note: str | None = None) -> None:
            text = f"{description} [dim]{note}[/dim]" if note else description
            progress.update(task, completed=done, total=total, description=text)

        yield update


@contextmanager
def progress_lines(description: str, interval_s: float | None = None,
                   stream=None) -> Iterator[Callable[..., None]]:
    """Plain progress lines for logs: ``judging 12/80 (15%), 1 failed, 1m05s elapsed``."""
    interval = interval_s if interval_s is not None else _interval()
    out = stream or sys.stderr
    started = time.monotonic()
    state: dict = {"done": 0, "total": None, "note": None, "printed": None}
    lock = threading.Lock()
    stop = threading.Event()

    def line() -> None:
        with lock:
            done, total, note = state["done"], state["total"], state["note"]
            shown = (done, total, note)
            elapsed = _clock(time.monotonic() - started)
            count = f"{done}/{total} ({done / total:.0%})" if total else f"{done}/?"
            print(f"{description} {count}{', ' + note if note else ''}, {elapsed} elapsed",
                  file=out, flush=True)
            state["printed"] = shown

    def heartbeat() -> None:
        while not stop.wait(interval):
            line()

    def update(done: int, total: int, note: str | None = None) -> None:
        first = state["total"] is None
        with lock:
            state.update(done=done, total=total, note=note)
        if first:
            line()

    thread = threading.Thread(target=heartbeat, name="assay-progress", daemon=True)
    thread.start()
    try:
        yield update
    finally:
        stop.set()
        thread.join()
        if state["total"] is not None and state["printed"] != (state["done"], state["total"],
                                                              state["note"]):
            line()


def _interval() -> float:
    try:
        return max(0.1, float(os.environ.get("ASSAY_PROGRESS_INTERVAL", DEFAULT_INTERVAL_S)))
    except ValueError:
        return DEFAULT_INTERVAL_S


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
