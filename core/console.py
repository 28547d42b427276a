"""What every command-line entry point shares: one red line per error, exit codes, --debug.

Imports nothing heavy: ``audit --help`` must not pull in torch or transformers.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import click

from core import __version__
from core.errors import AssayError


def err_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def out_console():
    from rich.console import Console

    return Console(highlight=False)


def entry_point(group: click.Group) -> Callable[[], None]:
    """Wrap a click group so AssayErrors become one red line and their exit code.

    ``--debug`` anywhere on the command line (or ASSAY_DEBUG=1) shows the traceback instead.
    """

    def main() -> None:
        debug = "--debug" in sys.argv or os.environ.get("ASSAY_DEBUG") == "1"
        argv = [arg for arg in sys.argv[1:] if arg != "--debug"]
        try:
            code = group.main(args=argv, prog_name=group.name, standalone_mode=False)
            if isinstance(code, int):
                sys.exit(code)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(2)
        except click.exceptions.Abort:
            err_console().print("[red]aborted[/red]")
            sys.exit(130)
        except AssayError as exc:
            if debug:
                raise
            message = str(exc).replace("[", r"\[")
            err_console().print(f"[red]error:[/red] {message}", soft_wrap=True)  # one line
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            err_console().print(
                "[yellow]interrupted: finished work is saved; re-run the same command to resume[/]"
            )
            sys.exit(130)

    return main


def version_option() -> Callable:
    return click.version_option(__version__, "--version", prog_name="assay")


db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="SQLite database (default: $ASSAY_DB or .assay/assay.db).",
)
