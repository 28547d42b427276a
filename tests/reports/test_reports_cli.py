"""``reports show`` / ``reports export`` / ``reports schema`` and ``audit runs`` on a stored run."""

from __future__ import annotations

import json

from click.testing import CliRunner

from audit.cli import cli as audit_cli
from audit.cli import show_run_summary
from reports.cli import cli
from reports.export import SCHEMA_PATH


def _db(sample_run) -> str:
    store, _ = sample_run
    return str(store.path)


def test_show_latest_run_with_filters(sample_run):
    result = CliRunner().invoke(cli, ["show", "--db", _db(sample_run), "--topic", "housing"])
    assert result.exit_code == 0, result.output
    assert "Audit run audit-0123456789ab" in result.output
    assert "Errors (1)" in result.output and ">>$900<<" in result.output


def test_show_by_prefix_errors_only(sample_run):
    result = CliRunner().invoke(cli, ["show", "audit-0123", "--errors-only", "--judge", "rules",
                                      "--db", _db(sample_run)])
    assert result.exit_code == 0, result.output
    assert "Errors (4) according to rules" in result.output
    assert "Agreement" not in result.output


def test_show_rejects_an_unknown_judge(sample_run):
    result = CliRunner().invoke(cli, ["show", "--judge", "nobody", "--db", _db(sample_run)])
    assert result.exit_code != 0 and "gemini, local, rules" in result.output


def test_export_every_format(sample_run, tmp_path):
    runner = CliRunner()
    for fmt in ("json", "md", "html", "csv", "parquet"):
        out = tmp_path / "exports" / f"report.{fmt}"
        result = runner.invoke(cli, ["export", "--format", fmt, "--out", str(out),
                                     "--db", _db(sample_run)])
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 500
    printed = runner.invoke(cli, ["export", "--format", "json", "--out", "-",
                                  "--db", _db(sample_run)])
    assert json.loads(printed.output)["run"]["run_id"] == "audit-0123456789ab"


def test_schema_command_prints_the_committed_schema():
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert result.output == SCHEMA_PATH.read_text(encoding="utf-8")


def test_audit_runs_and_the_end_of_audit_sample(sample_run, capsys):
    store, run_id = sample_run
    result = CliRunner().invoke(audit_cli, ["runs", "--db", _db(sample_run)])
    assert result.exit_code == 0 and run_id in result.output
    show_run_summary(store, run_id, model_calls=3)
    out = capsys.readouterr().out
    assert "Consensus error rate" in out and "3 made by this command" in out
