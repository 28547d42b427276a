"""The Markdown subset of the HTML report: layout kept, wrong spans marked, nothing obeyed."""

from __future__ import annotations

from reports.html import to_html
from reports.safe_markdown import render_markdown


def test_paragraphs_and_line_breaks_are_kept():
    assert render_markdown("First line\nsecond line\n\nNext paragraph.") == (
        "<p>First line<br>second line</p><p>Next paragraph.</p>")


def test_headings_lists_and_bold():
    text = ("## Oxford GMAT Requirements\n\n* Minimum **700**.\n- Verbal 42\n\n"
            "1. Send scores.\n2. Apply.\n\n3. Wait.\nKeep it short.")
    assert render_markdown(text) == (
        "<h5>Oxford GMAT Requirements</h5>"
        "<ul><li>Minimum <strong>700</strong>.</li><li>Verbal 42</li></ul>"
        "<ol><li>Send scores.</li><li>Apply.</li></ol>"
        '<ol start="3"><li>Wait.</li></ol><p>Keep it short.</p>')


def test_an_indented_line_continues_its_list_item():
    assert render_markdown("- Documents:\n  a transcript\nDone.") == (
        "<ul><li>Documents:<br>a transcript</li></ul><p>Done.</p>")


def test_no_raw_html_link_or_attribute_passes_through():
    text = ('<script>alert(1)</script>\n# <img src=x onerror="alert(2)">\n'
            "- **<b>bold</b>** [link](javascript:alert(3))")
    out = render_markdown(text)
    assert "<script" not in out and "<img" not in out and "<b>" not in out and "<a" not in out
    assert out == (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
        "<h4>&lt;img src=x onerror=&quot;alert(2)&quot;&gt;</h4>"
        "<ul><li><strong>&lt;b&gt;bold&lt;/b&gt;</strong> [link](javascript:alert(3))</li></ul>")


def test_wrong_spans_stay_marked_inside_their_blocks():
    pieces = [("The fee is ", False), ("$500\nand more", True), (" today.", False)]
    assert render_markdown(pieces) == (
        "<p>The fee is <mark>$500</mark><br><mark>and more</mark> today.</p>")
    assert render_markdown([("- fee ", False), ("$5", True)]) == (
        "<ul><li>fee <mark>$5</mark></li></ul>")
    assert render_markdown([("# Fees", True), ("\nok", False)]) == (
        "<h4><mark>Fees</mark></h4><p>ok</p>")


def test_a_marked_list_number_keeps_its_mark_visible():
    pieces = [("1. Open.\n", False), ("3", True), (". Explain.", False)]
    assert render_markdown(pieces) == "<ol><li>Open.</li></ol><p><mark>3</mark>. Explain.</p>"


def test_bold_that_would_cut_a_mark_stays_literal_and_sentinels_in_data_are_replaced():
    assert render_markdown([("**a ", False), ("b** c", True)]) == (
        "<p>**a <mark>b** c</mark></p>")
    assert render_markdown("x \ue000y\ue001") == "<p>x \ufffdy\ufffd</p>"


def test_the_html_report_keeps_an_answers_layout(sample_report):
    row = sample_report.records[0]
    answer = "## Fees\n\nThe late fee is due:\n\n1. by Friday\n2. at the bursar\n\nAsk **early**."
    report = sample_report.model_copy(update={"records": [
        row.model_copy(update={"answer": answer, "wrong_spans": []}), *sample_report.records[1:]]})
    page = to_html(report)
    assert ('<div class="md"><h5>Fees</h5><p>The late fee is due:</p><ol><li>by Friday</li>'
            "<li>at the bursar</li></ol><p>Ask <strong>early</strong>.</p></div>") in page
    assert '<table id="errors-table" class="fixed"><colgroup><col style="width:9em">' in page
