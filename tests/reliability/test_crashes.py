"""SIGKILL at seeded random points, a read-only database and a full disk.

A killed ``audit sample`` or ``generate qa`` re-run must end with nothing lost, nothing
duplicated and a database that passes ``PRAGMA integrity_check``. Storage failures must be
one clear error line, and work resumes once the disk has room again.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from malformed import judge_error_output
from scenarios import (
    EXAMPLE,
    audit_kill_point,
    cli_env,
    generate_kill_chain,
    integrity,
    judgment_bodies,
    judgment_rows,
    kill_delays,
    run_cli,
    sample_args,
)

from audit.health import EXIT_DEGRADED

pytestmark = pytest.mark.slow
RULES_ONLY = '[[judge]]\nname = "rules"\nprovider = "rules"\n'
KILL_SEED = 20261123


@pytest.fixture
def rules_judges(tmp_path) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(RULES_ONLY, encoding="utf-8")
    return path


def reference_labels(work: Path, judges: Path, n: int) -> dict[tuple[str, str], str]:
    work.mkdir(parents=True)
    result = run_cli("audit", *sample_args(EXAMPLE / "dataset.jsonl", judges, n), cwd=work,
                     env=cli_env(work / "assay.db"))
    assert result.returncode == EXIT_DEGRADED, result.stderr  # one judge: not a consensus
    return {k: (v["verdict"] or {}).get("label")
            for k, v in judgment_bodies(work / "assay.db").items()}


def test_audit_sample_killed_at_ten_seeded_points_loses_nothing(tmp_path, rules_judges):
    n = 231
    reference = reference_labels(tmp_path / "reference", rules_judges, n)
    assert len(reference) == n
    outcomes = []
    delays = kill_delays(KILL_SEED, 24, 0.3, 3.0)
    for point, delay in enumerate(delays):
        outcome = audit_kill_point(tmp_path / f"kill-{point}", EXAMPLE / "dataset.jsonl",
                                   rules_judges, n, delay, reference, point)
        outcomes.append(outcome)
        assert not outcome.problems, f"kill point {point} at {delay} s: {outcome.problems}"
        if sum(o.killed for o in outcomes) == 10:
            break
    assert sum(o.killed for o in outcomes) == 10, [(o.delay_s, o.killed) for o in outcomes]


def test_generate_qa_killed_repeatedly_keeps_every_record(tmp_path, llama_url):
    delays = kill_delays(KILL_SEED, 10, 2.0, 12.0)
    outcomes, problems, _records = generate_kill_chain(tmp_path / "gen", llama_url, 3, delays)
    assert not problems
    for outcome in outcomes:
        assert not outcome.problems, f"after kill {outcome.point}: {outcome.problems}"
    assert sum(o.killed for o in outcomes) >= 3


# -- storage failures -------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); the storage-failure "
                    "tests need root with CAP_SYS_ADMIN")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> None:
    """Write zeros to ``path`` until the file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)


def remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


def assert_one_line(result: subprocess.CompletedProcess, *words: str) -> None:
    problems = judge_error_output(result.returncode, result.stderr, words)
    assert not problems, f"{problems}\n{result.stderr[-2000:]}"


def test_read_only_database_gives_a_clear_error(tmp_path, rules_judges):
    dataset = EXAMPLE / "dataset.jsonl"
    with tmpfs(tmp_path / "ro", "4m") as mount:
        db = mount / "assay.db"
        first = run_cli("audit", *sample_args(dataset, rules_judges, 5), cwd=tmp_path,
                        env=cli_env(db))
        assert first.returncode == EXIT_DEGRADED, first.stderr
        remount(mount, "ro")
        try:
            again = run_cli("audit", *sample_args(dataset, rules_judges, 8), cwd=tmp_path,
                            env=cli_env(db))
            # The message must say why (read-only), not only that opening failed.
            assert_one_line(again, "read-only", "readonly", "permission", "not writable")
            fresh = run_cli("audit", *sample_args(dataset, rules_judges, 5), cwd=tmp_path,
                            env=cli_env(mount / "sub" / "new.db"))
            assert_one_line(fresh, "read-only", "readonly", "permission", "not writable")
        finally:
            remount(mount, "rw")
        assert integrity(db) == "ok"


def test_full_disk_gives_a_clear_error_and_resumes_once_there_is_room(tmp_path, rules_judges):
    dataset = EXAMPLE / "dataset.jsonl"
    with tmpfs(tmp_path / "full", "8m") as mount:
        db = mount / "assay.db"
        first = run_cli("audit", *sample_args(dataset, rules_judges, 3), cwd=tmp_path,
                        env=cli_env(db))
        assert first.returncode == EXIT_DEGRADED, first.stderr
        filler = mount / "filler"
        fill(filler)
        full = run_cli("audit", *sample_args(dataset, rules_judges, 231), cwd=tmp_path,
                       env=cli_env(db))
        assert_one_line(full, "full", "no space")
        filler.unlink()
        assert integrity(db) == "ok"
        resumed = run_cli("audit", *sample_args(dataset, rules_judges, 231), cwd=tmp_path,
                          env=cli_env(db))
        assert resumed.returncode == EXIT_DEGRADED, resumed.stderr
        assert integrity(db) == "ok"
        per_run: dict[str, int] = {}
        for run_id, _record, _judge, status in judgment_rows(db):
            assert status != "failed"
            per_run[run_id] = per_run.get(run_id, 0) + 1
        assert sorted(per_run.values()) == [3, 231]
