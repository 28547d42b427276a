"""Nothing committed names a directory of the machine it was made on."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import portable  # noqa: E402

MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|root|home|opt|Users)/")
SCRATCH_PATH = re.compile(r"(?<![\w.$])/tmp/")


def tracked_text_files() -> list[Path]:
    try:
        names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files = []
    for name in names:
        path = ROOT / name
        if path.suffix in {".pdf", ".png", ".gguf", ".db"} or not path.is_file():
            continue
        files.append(path)
    return files


def test_no_tracked_file_names_a_machine_directory() -> None:
    found = []
    for path in tracked_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        relative = path.relative_to(ROOT).as_posix()
        scratch = relative.startswith("bench/results/") or relative == "README.md"
        for number, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATH.search(line) or (scratch and SCRATCH_PATH.search(line)):
                found.append(f"{relative}:{number}: {line.strip()[:120]}")
    assert not found, "machine paths committed:\n" + "\n".join(found[:20])


def test_results_name_files_relative_to_the_repository(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ASSAY_CACHE", str(tmp_path / "cache"))
    result = portable({
        "command": f"{sys.executable} bench/x.py --data {ROOT.parent}/shared/data/faithdial "
                   f"--out {ROOT}/bench/results/x.json",
        "model": [f"likelihood:{tmp_path}/cache/hf/gemma-3-270m", "https://example.org/a/b"],
        "steps": 3,
    })
    assert result == {
        "command": "python bench/x.py --data ../shared/data/faithdial --out bench/results/x.json",
        "model": ["likelihood:$ASSAY_CACHE/hf/gemma-3-270m", "https://example.org/a/b"],
        "steps": 3,
    }
