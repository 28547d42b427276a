"""`audit sample --n 40` end to end with the embedded default panel (real local model)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from core.models import JudgmentStatus
from core.store import Store

pytestmark = pytest.mark.slow


def audit(*args, cwd, **kwargs):
    return subprocess.run([sys.executable, "-m", "audit", *args], capture_output=True, text=True,
                          cwd=cwd, **kwargs)


def summary_lines(stdout: str) -> list[str]:
    """The printed statistics, without the lines that legitimately change between runs."""
    return [line for line in stdout.splitlines() if "model calls" not in line]


def test_sample_40_stores_80_judgments_and_reruns_from_cache(tmp_path):
    first = audit("sample", "--n", "40", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    store = Store(tmp_path / ".assay" / "assay.db")
    judgments = store.judgments(store.latest_run_id())
    assert len(judgments) == 80
    assert {j.judge for j in judgments} == {"local", "rules"}
    assert all(j.status is not JudgmentStatus.failed for j in judgments)

    second = audit("sample", "--n", "40", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "model calls: 0 new" in second.stdout
    assert summary_lines(second.stdout) == summary_lines(first.stdout)
    assert len(store.judgments(store.latest_run_id())) == 80


def test_sigkill_part_way_then_rerun_completes_exactly(tmp_path):
    db = tmp_path / ".assay" / "assay.db"
    proc = subprocess.Popen([sys.executable, "-m", "audit", "sample", "--n", "40"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=os.environ | {"ASSAY_DB": str(db)})
    deadline = time.monotonic() + 600
    seen = 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
        if db.exists():
            rows = Store(db).query("SELECT COUNT(*) FROM judgments")
            seen = rows[0][0]
            if seen >= 12:
                break
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 12 <= seen < 80

    again = audit("sample", "--n", "40", cwd=tmp_path, env=os.environ | {"ASSAY_DB": str(db)})
    assert again.returncode == 0, again.stderr
    store = Store(db)
    rows = store.query("SELECT record_id, judge, COUNT(*) AS c FROM judgments GROUP BY 1, 2")
    assert len(rows) == 80 and all(row["c"] == 1 for row in rows)
    assert store.integrity_ok()
