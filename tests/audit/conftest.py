"""Fixtures shared by the audit tests."""

from __future__ import annotations

import pytest
from example_runs import ExampleRuns, build_example_runs


@pytest.fixture(scope="session")
def example_runs(tmp_path_factory) -> ExampleRuns:
    """Rules-judge runs of the bundled example (every record, and a sample of 40), built once."""
    return build_example_runs(tmp_path_factory.mktemp("example_runs"))
