"""``reports``: render stored audit runs (terminal, exports); never computes or calls models."""

from __future__ import annotations

import click

from core.console import db_option, entry_point, out_console, version_option

FORMATS = ["json", "md", "html", "csv", "parquet"]
gold_option = click.option(
    "--gold", default=None,
    help="Judge whose labels are gold: every other judge is scored against it (default: the "
         "run's one reviewer or imported judge, if any).")


@click.group(name="reports", context_settings={"help_option_names": ["-h", "--help"]})
@version_option()
def cli() -> None:
    """Show and export stored audit results (add --debug for tracebacks)."""


@cli.command()
@click.argument("run_id", required=False)
@click.option("--errors-only", is_flag=True, help="Only the headline, errors and problems.")
@click.option("--topic", default=None, help="Only records of this topic in the record tables.")
@click.option("--judge", default=None, help="Errors according to this judge, and its verdicts.")
@gold_option
@db_option
def show(run_id, errors_only, topic, judge, gold, db_path) -> None:
    """Show the report of RUN_ID (default: the latest audit run; a unique prefix works)."""
    from audit.report_data import build_report
    from core.store import Store
    from reports.terminal import render_report

    store = Store(db_path)
    report = build_report(store, run_id, gold_judge=gold)
    if judge and judge not in report.summary.judges:
        raise click.BadParameter(
            f"no judge {judge!r} in this run; its judges: {', '.join(report.summary.judges)}",
            param_hint="--judge")
    render_report(report, out_console(), errors_only=errors_only, topic=topic, judge=judge)


@cli.command()
@click.argument("run_id", required=False)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="json", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Output file (default: RUN_ID.FORMAT here; '-' prints text formats).")
@gold_option
@db_option
def export(run_id, fmt, out, gold, db_path) -> None:
    """Export the report of RUN_ID as JSON (versioned schema), Markdown, HTML, CSV or Parquet."""
    from audit.report_data import build_report
    from core.store import Store
    from reports.export import export_report

    store = Store(db_path)
    report = build_report(store, run_id, gold_judge=gold)
    if out == "-":
        if fmt == "parquet":
            raise click.BadParameter("parquet is binary: give a file with --out",
                                     param_hint="--out")
        click.echo(_render_text(report, fmt), nl=False)
        return
    path = export_report(report, fmt, out)
    out_console().print(f"wrote {path}", markup=False)


def _render_text(report, fmt: str) -> str:
    from reports.export import to_csv, to_json, to_markdown
    from reports.html import to_html

    return {"json": to_json, "md": to_markdown, "csv": to_csv, "html": to_html}[fmt](report)


@cli.command()
@click.option("--write", is_flag=True, help="Rewrite reports/schema/report-v1.schema.json.")
def schema(write) -> None:
    """Print (or --write) the JSON Schema of the exported report."""
    from reports.export import schema_text, write_schema

    if write:
        out_console().print(f"wrote {write_schema()}", markup=False)
    else:
        click.echo(schema_text(), nl=False)


main = entry_point(cli)
