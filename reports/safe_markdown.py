"""A safe subset of Markdown for dataset text in the HTML report: its layout kept, nothing obeyed.

Teachers write answers in Markdown (headings, lists, bold, several paragraphs); flattened into
one paragraph they are hard to read. Everything is escaped first; then only paragraphs, line
breaks, ``-``/``*``/``+`` and ``1.`` lists, ``#`` headings and ``**bold**`` become tags. No raw
HTML, link, image or attribute ever passes through: ``<b>`` in an answer shows as ``<b>``.

Wrong spans stay marked: they are placed as two private-use characters before parsing, closed
and reopened at line ends so every ``<mark>`` nests inside its block.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

OPEN, CLOSE = "\ue000", "\ue001"
_SENTINELS = OPEN + CLOSE
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_BULLET = re.compile(r"^[ \t]*[-*+][ \t]+(.*)$")
_NUMBERED = re.compile(r"^[ \t]*(\d{1,9})[.)][ \t]+(.*)$")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")


def render_markdown(pieces: Iterable[tuple[str, bool]] | str) -> str:
    """HTML for ``pieces`` ((text, marked) as ``split_spans`` gives, or one plain string)."""
    if isinstance(pieces, str):
        pieces = [(pieces, False)]
    text = "".join(OPEN + _clean(p) + CLOSE if marked else _clean(p) for p, marked in pieces)
    return _Blocks().render(_balanced_lines(text.replace("\r\n", "\n").replace("\r", "\n")))


def _clean(text: str) -> str:
    """Dataset text can hold the sentinel characters too: they become U+FFFD."""
    return text.translate({ord(OPEN): "\ufffd", ord(CLOSE): "\ufffd"})


def _balanced_lines(text: str) -> list[str]:
    """Lines in which every opened mark is closed (reopened on the next line)."""
    lines, open_ = [], False
    for line in text.split("\n"):
        start = OPEN if open_ else ""
        for char in line:
            if char in _SENTINELS:
                open_ = char == OPEN
        lines.append(start + line + (CLOSE if open_ else ""))
    return lines


def _inline(text: str) -> str:
    """Escaped text with ``**bold**`` (when it does not cut a mark) and the marks as tags."""
    out = _BOLD.sub(lambda m: f"<strong>{m.group(1)}</strong>" if _marks_balanced(m.group(1))
                    else m.group(0), html.escape(text, quote=True))
    out = out.replace(OPEN, "<mark>").replace(CLOSE, "</mark>")
    return out.replace("<mark></mark>", "")


def _marks_balanced(text: str) -> bool:
    depth = 0
    for char in text:
        if char in _SENTINELS:
            depth += 1 if char == OPEN else -1
            if depth < 0:
                return False
    return depth == 0


class _Blocks:
    """Groups lines into paragraphs, lists and headings."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.paragraph: list[str] = []
        self.items: list[str] = []
        self.list_tag = ""
        self.list_start = 1

    def render(self, lines: list[str]) -> str:
        for line in lines:
            self.line(line)
        self.flush()
        return "".join(self.out)

    def line(self, line: str) -> None:
        lead = line[: len(line) - len(line.lstrip(_SENTINELS))]  # marks opened before syntax
        body = line[len(lead):]
        if not body.strip(_SENTINELS + " \t"):
            self.flush()
            return
        if heading := _HEADING.match(body):
            self.flush()
            level = min(len(heading.group(1)) + 3, 6)
            self.out.append(f"<h{level}>{_inline(lead + heading.group(2))}</h{level}>")
        elif bullet := _BULLET.match(body):
            self.item("ul", 1, lead + bullet.group(1))
        elif numbered := _NUMBERED.match(body):
            self.item("ol", int(numbered.group(1)), lead + numbered.group(2))
        elif self.items and body[:1] in " \t":  # an indented line continues the list item
            self.items[-1] += "<br>" + _inline(line.strip())
        else:
            self.flush_list()
            self.paragraph.append(_inline(line.strip()))

    def item(self, tag: str, number: int, text: str) -> None:
        self.flush_paragraph()
        if self.list_tag != tag:
            self.flush_list()
            self.list_tag, self.list_start = tag, number
        self.items.append(_inline(text.strip()))

    def flush(self) -> None:
        self.flush_paragraph()
        self.flush_list()

    def flush_paragraph(self) -> None:
        if self.paragraph:
            self.out.append("<p>" + "<br>".join(self.paragraph) + "</p>")
            self.paragraph = []

    def flush_list(self) -> None:
        if self.items:
            start = f' start="{self.list_start}"' if self.list_tag == "ol" and self.list_start != 1 else ""
            body = "".join(f"<li>{item}</li>" for item in self.items)
            self.out.append(f"<{self.list_tag}{start}>{body}</{self.list_tag}>")
        self.items, self.list_tag = [], ""
