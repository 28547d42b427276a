"""``generate``: synthetic Q&A generation and error planting."""

from __future__ import annotations

import click

from core.console import entry_point, version_option


@click.group(name="generate", context_settings={"help_option_names": ["-h", "--help"]})
@version_option()
def cli() -> None:
    """Generate synthetic Q&A from source documents (add --debug for tracebacks)."""


main = entry_point(cli)
