"""core.sources: reading md/txt/html/pdf into passages with stable ids and hashes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from core.errors import SourceError
from core.models import sha256_text
from core.sources import chunk_text, load_passages, read_document

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "sources"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "sources"
    shutil.copytree(FIXTURES, folder)
    return folder


def by_id(folder: Path) -> dict[str, str]:
    return {p.id: p.text for p in load_passages(folder)}


def test_markdown_headings_start_passages_and_ids_use_relative_path() -> None:
    passages = by_id(FIXTURES)
    assert [i for i in passages if i.startswith("handbook/withdrawal#")] == [
        "handbook/withdrawal#0",
        "handbook/withdrawal#1",
        "handbook/withdrawal#2",
    ]
    assert passages["handbook/withdrawal#1"].startswith("## Tuition refunds")
    assert "census date" in passages["handbook/withdrawal#1"]
    assert "census date" not in passages["handbook/withdrawal#0"]


def test_plain_text_is_read_by_paragraph() -> None:
    passages = by_id(FIXTURES)
    assert passages["housing#0"].startswith("Residence halls\n\nFirst-year students")
    assert "Overnight guests" in "".join(t for i, t in passages.items() if i.startswith("housing#"))


def test_html_skips_script_style_and_head_and_keeps_table_cells() -> None:
    text = read_document(FIXTURES / "library.html")
    assert "xylophone-analytics" not in text  # <script>
    assert "font-family" not in text and "zebra" not in text  # <style>
    assert text.count("Library services") == 1  # <title> in <head> skipped, <h1> kept
    assert "# Library services" in text
    assert "## Loan periods" in text
    assert "Laptops | 4 hours" in text
    assert "Books | 28 days" in text
    passages = by_id(FIXTURES)
    assert passages["library#1"].startswith("## Loan periods")
    assert "five dollars per hour" in passages["library#1"]


def test_pdf_made_with_fpdf2_is_read(tmp_path: Path) -> None:
    fpdf = pytest.importorskip("fpdf")
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(w=0, h=8, text="Parking permits cost 120 dollars per semester.")
    pdf.add_page()
    pdf.multi_cell(w=0, h=8, text="Bicycles must be parked in the marked racks.")
    folder = tmp_path / "pdfs"
    folder.mkdir()
    pdf.output(str(folder / "parking.pdf"))

    passages = load_passages(folder)
    assert [p.id for p in passages] == ["parking#0"]
    assert "Parking permits cost 120 dollars per semester." in passages[0].text
    assert "Bicycles must be parked" in passages[0].text


@pytest.mark.parametrize("content", [b"", b"not a pdf at all", b"%PDF-1.7\n1 0 obj <<"])
def test_unreadable_pdf_raises_source_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "broken.pdf").write_bytes(content)
    with pytest.raises(SourceError, match=r"broken\.pdf"):
        load_passages(tmp_path)


def test_non_utf8_text_raises_source_error(tmp_path: Path) -> None:
    (tmp_path / "menu.txt").write_bytes("Caf\u00e9 hours: 8 to 5".encode("latin-1"))
    with pytest.raises(SourceError, match=r"menu\.txt: not valid UTF-8.*re-save"):
        load_passages(tmp_path)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "bom.md").write_bytes("\ufeff# Caf\u00e9\n\nOpen daily.".encode())
    assert load_passages(tmp_path)[0].text == "# Caf\u00e9\n\nOpen daily."


def test_empty_or_missing_folder_raises_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no source documents"):
        load_passages(tmp_path)
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")
    with pytest.raises(SourceError, match="no source documents"):
        load_passages(tmp_path)
    with pytest.raises(SourceError, match="not found"):
        load_passages(tmp_path / "absent")


def test_documents_without_text_raise_source_error(tmp_path: Path) -> None:
    (tmp_path / "blank.md").write_text("\n\n   \n", encoding="utf-8")
    with pytest.raises(SourceError, match="contain no text"):
        load_passages(tmp_path)


def test_same_document_id_from_two_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "fees.md").write_text("Fees are due in May.", encoding="utf-8")
    (tmp_path / "fees.txt").write_text("Fees are due in June.", encoding="utf-8")
    with pytest.raises(SourceError, match="share the document id 'fees'"):
        load_passages(tmp_path)


def test_ids_and_hashes_are_stable_across_loads_and_locations(corpus: Path) -> None:
    first = load_passages(FIXTURES)
    again = load_passages(FIXTURES)
    elsewhere = load_passages(corpus)
    assert first == again == elsewhere
    assert len({p.id for p in first}) == len(first)
    for passage in first:
        assert passage.sha256 == sha256_text(passage.text)
        assert passage.id.startswith(passage.doc_id + "#")


def test_editing_a_document_changes_only_its_hashes(corpus: Path) -> None:
    before = {p.id: p.sha256 for p in load_passages(corpus)}
    path = corpus / "housing.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("three", "two"), encoding="utf-8")
    after = {p.id: p.sha256 for p in load_passages(corpus)}
    assert before.keys() == after.keys()
    changed = {i for i in before if before[i] != after[i]}
    assert changed and all(i.startswith("housing#") for i in changed)


@pytest.mark.timeout(60)
def test_symlink_loops_do_not_hang(corpus: Path) -> None:
    os.symlink(corpus, corpus / "handbook" / "loop")  # folder pointing at its ancestor
    os.symlink(corpus / "a.md", corpus / "b.md")  # two files pointing at each other
    os.symlink(corpus / "b.md", corpus / "a.md")
    ids = [p.id for p in load_passages(corpus)]
    assert ids == [p.id for p in load_passages(FIXTURES)]


def test_chunks_grow_to_max_chars_and_never_merge_across_headings() -> None:
    paragraphs = [f"Paragraph {n} " + "word " * 30 for n in range(10)]
    text = "\n\n".join(paragraphs[:5]) + "\n\n# Next\n\n" + "\n\n".join(paragraphs[5:])
    passages = chunk_text("doc", text, max_chars=400)
    assert [p.id for p in passages] == [f"doc#{n}" for n in range(len(passages))]
    assert len(passages) > 2 and all(len(p.text) <= 400 for p in passages)
    assert any(p.text.startswith("# Next") for p in passages)
    joined = "\n\n".join(p.text for p in passages)
    assert all(par.strip() in joined for par in paragraphs)
