"""Source documents → passages with stable ids (``doc_id#n``) and hashes.

Markdown, text, HTML and PDF are read into plain text, then split into passages: a heading
starts a new passage, and a passage grows paragraph by paragraph up to ``MAX_CHARS``.
``doc_id`` is the file's path relative to the sources folder, without its suffix.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from core.errors import SourceError
from core.models import Passage, sha256_text

SUFFIXES = {".md", ".markdown", ".txt", ".html", ".htm", ".pdf"}
MAX_CHARS = 900

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")


class _HTMLText(HTMLParser):
    """Visible text of an HTML page; headings become Markdown headings, blocks paragraphs."""

    _BLOCKS = {"p", "div", "li", "tr", "table", "ul", "ol", "section", "article", "br", "dd", "dt"}
    _SKIP = {"script", "style", "head", "template", "noscript"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self._BLOCKS:
            self.parts.append("\n\n" if tag != "li" else "\n\n- ")
        elif tag in {"td", "th"}:
            self.parts.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif re.fullmatch(r"h[1-6]", tag) or tag in self._BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(re.sub(r"\s+", " ", data))


def read_document(path: Path) -> str:
    """Plain text of one source document; raises SourceError naming the file."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".pdf":
            return _read_pdf(path)
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{path}: not valid UTF-8 (byte {exc.start}); re-save the file as UTF-8"
        ) from exc
    if suffix in {".html", ".htm"}:
        parser = _HTMLText()
        parser.feed(text)
        parser.close()
        text = "".join(parser.parts)
    return text


def _read_pdf(path: Path) -> str:
    from pypdf import PdfReader  # lazy: only PDFs need it
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path)
        return "\n\n".join(page.extract_text() or "" for page in reader.pages)
    except (PyPdfError, ValueError, KeyError, OSError) as exc:
        raise SourceError(f"{path}: unreadable PDF ({exc})") from exc


def chunk_text(doc_id: str, text: str, max_chars: int = MAX_CHARS) -> list[Passage]:
    """Split a document's text into passages ``doc_id#0``, ``doc_id#1``, …"""
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text.replace("\r\n", "\n"))]
    chunks: list[list[str]] = []
    size = 0
    for block in filter(None, blocks):
        block = re.sub(r"[ \t]+", " ", block)
        starts_section = bool(_HEADING.match(block))
        if not chunks or starts_section or size + len(block) > max_chars:
            chunks.append([])
            size = 0
        chunks[-1].append(block)
        size += len(block)
    passages = []
    for n, parts in enumerate(chunks):
        body = "\n\n".join(parts)
        passages.append(
            Passage(id=f"{doc_id}#{n}", doc_id=doc_id, text=body, sha256=sha256_text(body))
        )
    return passages


def load_passages(folder: str | Path) -> list[Passage]:
    """All passages of the supported documents under ``folder``, in a stable order."""
    root = Path(folder)
    if not root.is_dir():
        raise SourceError(f"{root}: sources folder not found (pass --sources DIR)")
    files = sorted(p for p in _walk(root) if p.suffix.lower() in SUFFIXES)
    if not files:
        raise SourceError(f"{root}: no source documents ({', '.join(sorted(SUFFIXES))})")
    passages: list[Passage] = []
    seen: dict[str, Path] = {}
    for path in files:
        doc_id = path.relative_to(root).with_suffix("").as_posix()
        if doc_id in seen:  # a.md and a.txt would both give passages a#0, a#1, ...
            raise SourceError(
                f"{seen[doc_id]} and {path} share the document id {doc_id!r}; rename one"
            )
        seen[doc_id] = path
        passages.extend(chunk_text(doc_id, read_document(path)))
    if not passages:
        raise SourceError(f"{root}: the source documents contain no text")
    return passages


def _walk(root: Path) -> list[Path]:
    """Files under root; symlinked folders are not followed, so loops cannot recur."""
    out = []
    for path in root.rglob("*"):
        try:
            if path.is_file():
                out.append(path)
        except OSError as exc:  # symlink loops, permission errors
            raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return out
