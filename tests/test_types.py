"""The packages type-check: mypy, configured in pyproject.toml ([tool.mypy]), finds nothing.

It catches what the test suite can miss in code no test reaches: a name imported from one of
our modules that does not exist (``from audit.stats import should_stop`` inside a function),
a missing module, an attribute our own classes do not have, a None not handled.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 600  # about 1 minute on 2 cores from a cold cache (torch and transformers are read)


@pytest.mark.slow
def test_mypy_finds_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy"],
        cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )
    assert result.returncode == 0, (
        f"mypy exited with {result.returncode}:\n{result.stdout}{result.stderr}"
    )
