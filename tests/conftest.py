"""Test-wide fixtures: every test gets its own database and working directory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/servers.py etc.
pytest_plugins = ["network_guard"]  # fails any test that reaches beyond 127.0.0.1
SHARED_DATA = ROOT.parent / "shared" / "data"
EXAMPLE = ROOT / "examples" / "advising"


@pytest.fixture(autouse=True)
def isolated_app_dir(tmp_path, monkeypatch):
    """Database and app directory in tmp_path; the model cache stays shared (it is costly)."""
    monkeypatch.setenv("ASSAY_DB", str(tmp_path / ".assay" / "assay.db"))
    monkeypatch.chdir(tmp_path)
    for key in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    yield tmp_path


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"{SHARED_DATA} is missing: clone the project beside its shared/ folder")
    return SHARED_DATA


@pytest.fixture
def example_dir() -> Path:
    return EXAMPLE
