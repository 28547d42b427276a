"""Keep third-party progress bars, log lines and warnings out of Assay's output.

Loading and converting models makes transformers, huggingface_hub and accelerate print their
own bars ("Loading weights", "Writing model shards") and warnings to stderr, in the middle of
a report. ``third_party_to_debug_log()`` sends all of it to the debug log instead
(``$ASSAY_CACHE/debug.log``), where ``--debug`` users and bug reports can find it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

THIRD_PARTY_LOGGERS = ("transformers", "huggingface_hub", "accelerate", "sentence_transformers",
                       "gguf", "torch")


def debug_log_path() -> Path:
    from core.local_model import cache_dir

    return cache_dir() / "debug.log"


@contextlib.contextmanager
def third_party_to_debug_log() -> Iterator[TextIO]:
    """Route stdout/stderr writes, warnings and library loggers to the debug log.

    Yields the real stderr, for Assay's own progress lines. Not for concurrent use from
    several threads that print: it swaps ``sys.stdout``/``sys.stderr`` process-wide.
    """
    real_stderr = sys.stderr
    path = debug_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as log, warnings.catch_warnings():
        handler = logging.StreamHandler(log)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        saved = [_route_logger(name, handler) for name in THIRD_PARTY_LOGGERS]

        def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                         file: TextIO | None = None, line: str | None = None) -> None:
            log.write(warnings.formatwarning(message, category, filename, lineno, line))

        warnings.showwarning = show_warning
        bars = _disable_bars()
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                yield real_stderr
        finally:
            bars()
            for name, handlers, propagate in saved:
                logger = logging.getLogger(name)
                logger.handlers[:] = handlers
                logger.propagate = propagate


def _route_logger(name: str, handler: logging.Handler) -> tuple[str, list[logging.Handler], bool]:
    logger = logging.getLogger(name)
    saved = (name, list(logger.handlers), logger.propagate)
    logger.handlers[:] = [handler]
    logger.propagate = False
    return saved


def _disable_bars():
    """Turn off transformers' and huggingface_hub's tqdm bars; return the undo function."""
    undo = []
    with contextlib.suppress(ImportError):
        from transformers.utils import logging as hf_logging

        if hf_logging.is_progress_bar_enabled():
            hf_logging.disable_progress_bar()
            undo.append(hf_logging.enable_progress_bar)
    with contextlib.suppress(ImportError):
        from huggingface_hub.utils import (
            are_progress_bars_disabled,
            disable_progress_bars,
            enable_progress_bars,
        )

        if not are_progress_bars_disabled():
            disable_progress_bars()
            undo.append(enable_progress_bars)

    def restore() -> None:
        for step in undo:
            step()

    return restore
