"""A judge that cannot work fails once, with the fix, and the run says it is not a panel result.

End to end through `audit sample` in a subprocess: a missing package (simulated), a server
that refuses connections, a model path that does not exist; then the exit code (4), the
headline, the JSON report's flag and the gate's verdict on such a run.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from audit.health import EXIT_DEGRADED
from core.models import JudgmentStatus
from core.store import Store

WITHOUT_ACCELERATE = (
    "import sys; sys.modules['accelerate'] = None; "  # find_spec and import both see it missing
    "from audit.cli import main; sys.argv = ['audit', *sys.argv[1:]]; main()"
)


def audit(*args, cwd, missing_accelerate=False):
    command = ["-c", WITHOUT_ACCELERATE] if missing_accelerate else ["-m", "audit"]
    return subprocess.run([sys.executable, *command, *args], capture_output=True, text=True,
                          cwd=cwd, timeout=900)


def judgments_of(tmp_path, judge: str):
    store = Store(tmp_path / ".assay" / "assay.db")
    return [j for j in store.judgments(store.latest_run_id()) if j.judge == judge]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def judges_file(tmp_path, judge: str) -> str:
    path = tmp_path / "judges.toml"
    path.write_text(judge + '\n[[judge]]\nname = "rules"\nprovider = "rules"\n', encoding="utf-8")
    return str(path)


def assert_failed_once_with(result, tmp_path, judge: str, fix: str) -> None:
    assert result.returncode == EXIT_DEGRADED, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "cannot work in this run" in line]
    assert len(warnings) == 1, result.stderr
    assert fix in warnings[0]
    failed = judgments_of(tmp_path, judge)
    assert failed and all(j.status is JudgmentStatus.failed and fix in j.error for j in failed)
    assert "NOT A PANEL RESULT" in result.stdout
    assert "one-judge result, not a consensus" in " ".join(result.stdout.split())
    assert "not a panel result" in result.stderr  # the exit's reason, on stderr too


@pytest.mark.slow
def test_missing_package_fails_once_with_the_fix_then_a_rerun_judges_what_was_missing(tmp_path):
    first = audit("sample", "--n", "10", cwd=tmp_path, missing_accelerate=True)
    assert_failed_once_with(first, tmp_path, "local", "pip install -e '.[local]'")
    assert "accelerate" in first.stderr
    assert "Converting" not in first.stderr and "Traceback" not in first.stderr

    exported = subprocess.run([sys.executable, "-m", "reports", "export", "--format", "json",
                               "--out", "report.json"], capture_output=True, text=True, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    health = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["health"]
    assert health["degraded"] is True and health["judges_with_verdicts"] == 1
    assert {j["judge"]: j["failed"] for j in health["judges"]}["local"] == 10

    gate = subprocess.run([sys.executable, "-m", "audit", "gate", "--json"], capture_output=True,
                          text=True, cwd=tmp_path)
    decision = json.loads(gate.stdout)
    assert decision["status"] != "pass" and gate.returncode in (1, 3)
    assert any("judgments failed" in reason for reason in decision["reasons"])
    assert any("agree too little" in reason for reason in decision["reasons"])

    fixed = audit("sample", "--n", "10", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr + fixed.stdout
    local = judgments_of(tmp_path, "local")
    assert len(local) == 10 and all(j.status is JudgmentStatus.ok for j in local)
    assert "NOT A PANEL RESULT" not in fixed.stdout


def test_a_server_that_refuses_connections_fails_once(tmp_path):
    judge = (f'[[judge]]\nname = "server"\nprovider = "openai"\nmodel = "m"\n[judge.params]\n'
             f'base_url = "http://127.0.0.1:{closed_port()}/v1"\nmax_retries = 0\n')
    result = audit("sample", "--n", "8", "--judges", judges_file(tmp_path, judge), cwd=tmp_path)
    assert_failed_once_with(result, tmp_path, "server", "check the server is running")
    assert len(judgments_of(tmp_path, "server")) == 8


def test_a_model_path_that_does_not_exist_fails_once(tmp_path):
    judge = '[[judge]]\nname = "mine"\nprovider = "local"\nmodel = "/no/such/model"\n'
    result = audit("sample", "--n", "8", "--judges", judges_file(tmp_path, judge), cwd=tmp_path)
    assert_failed_once_with(result, tmp_path, "mine", "fix the judge's model field")


def test_one_judge_panel_exits_4_even_when_nothing_failed(tmp_path):
    path = tmp_path / "judges.toml"
    path.write_text('[[judge]]\nname = "rules"\nprovider = "rules"\n', encoding="utf-8")
    result = audit("sample", "--n", "8", "--judges", str(path), cwd=tmp_path)
    assert result.returncode == EXIT_DEGRADED, result.stderr
    assert "only 1 of 1 judge gave verdicts" in " ".join(result.stdout.split())
