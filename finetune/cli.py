"""``finetune``: QLoRA training behind the audit gate, handoff bundles, evaluation."""

from __future__ import annotations

import click

from core.console import entry_point, version_option


@click.group(name="finetune", context_settings={"help_option_names": ["-h", "--help"]})
@version_option()
def cli() -> None:
    """Fine-tune on audited data (add --debug for tracebacks)."""


main = entry_point(cli)
