"""The building blocks every terminal report is laid out with: titled tables and panels that
fall back to ASCII boxes when the output is not a colour terminal, and a name/value grid."""

from __future__ import annotations

from rich import box
from rich.console import Console, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text


def plain_output(console: Console) -> bool:
    """True when ``console`` is not a colour terminal (a file, a pipe): ASCII boxes, no colour."""
    return not console.is_terminal or console.color_system is None


def report_table(title: str, plain: bool, **options) -> Table:
    """A table with a bold title on the left; ``options`` go to ``rich.table.Table``."""
    return Table(title=Text(title, style="bold"), box=box.ASCII2 if plain else box.ROUNDED,
                 title_justify="left", **options)


def report_panel(body: RenderableType, title: str, plain: bool, style: str = "") -> Panel:
    """A panel with a bold title on the left and an optional border style."""
    return Panel(body, title=Text(title, style="bold"), title_align="left",
                 box=box.ASCII2 if plain else box.ROUNDED, border_style=style)


def field_grid(rows: list[tuple[str, Text]]) -> Table:
    """Names in bold on the left, their values folded on the right."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in rows:
        grid.add_row(name, value)
    return grid
