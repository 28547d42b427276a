"""``reports``: render stored audit runs (terminal, exports); never computes or calls models."""

from __future__ import annotations

import click

from core.console import db_option, entry_point, out_console, version_option


@click.group(name="reports", context_settings={"help_option_names": ["-h", "--help"]})
@version_option()
def cli() -> None:
    """Show and export stored audit results (add --debug for tracebacks)."""


@cli.command()
@click.argument("run_id", required=False)
@db_option
def show(run_id, db_path) -> None:
    """Show the report of RUN_ID (default: the latest audit run)."""
    from audit.report_data import build_report, resolve_run_id
    from core.store import Store
    from reports.terminal import render_run_summary

    store = Store(db_path)
    render_run_summary(build_report(store, resolve_run_id(store, run_id)), out_console())


main = entry_point(cli)
