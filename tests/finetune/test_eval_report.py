"""Rendering a stored eval result: the side-by-side table, the traces, escaped HTML."""

from __future__ import annotations

import io

from rich.console import Console

from reports.propagation import comparison_rows, eval_html_fragment, eval_html_page, render_eval

RESULT = {
    "run_id": "eval-abc", "n": 4,
    "inputs": {"gate": {"overridden": True, "override_reason": "demo"}},
    "fidelity": {"base": {"mean": 0.61, "ci": [0.55, 0.66]}, "tuned": {"mean": 0.72, "ci": [0.7, 0.75]},
                 "difference": {"mean": 0.11, "ci": [0.05, 0.16]}},
    "truncation": {"base": {"k": 3, "n": 4, "rate": 0.75, "ci": [0.3, 0.95]},
                   "tuned": {"k": 0, "n": 4, "rate": 0.0, "ci": [0.0, 0.49]}},
    "preference": {"n": 4, "wins": 1, "ties": 3, "losses": 0, "position_inconsistent": 3,
                   "wins_rate": 0.25, "wins_ci": [0.05, 0.7], "losses_rate": 0.0,
                   "losses_ci": [0.0, 0.49], "ties_rate": 0.75, "ties_ci": [0.3, 0.95]},
    "factuality": {"base": {"k": 0, "n": 4, "rate": 0.0, "ci": [0.0, 0.49]},
                   "tuned": {"k": 2, "n": 4, "rate": 0.5, "ci": [0.15, 0.85]},
                   "paired": {"n": 4, "difference": 0.5, "ci": {"low": 0.0, "high": 0.8},
                              "p_value_exact": 0.5},
                   "by_topic": {"fees": {"n": 4, "base": 0, "tuned": 2}}},
    "traces": [{"prompt_id": "held-1", "question": "Late fee?", "tuned_answer": "It is $300 <script>",
                "base_answer": "No idea.", "reference": "It is $150.", "wrong_facts": ["$300"],
                "matches": [{"record_id": "adv-0042", "answer": "The fee is $300.", "shared": ["$300"],
                             "shared_words": [], "audit_text": "flagged by 2 of 3 judges"}]}],
}


def test_side_by_side_rows():
    rows = comparison_rows(RESULT)
    assert rows[0] == ("fidelity (BERTScore F1)", "0.610 [0.550, 0.660]", "0.720 [0.700, 0.750]",
                       "0.110 [0.050, 0.160]")
    assert rows[1][1:3] == ("0/4 = 0.0% [0.0, 49.0]%", "2/4 = 50.0% [15.0, 85.0]%")
    assert "McNemar p=0.5" in rows[1][3]
    assert rows[3][3] == "ties 3, of which position-inconsistent 3"


def test_terminal_report_shows_table_and_traces():
    out = io.StringIO()
    render_eval(RESULT, Console(file=out, width=120))
    text = out.getvalue()
    assert "base vs tuned on 4 held-out prompts" in text
    assert "learned from record adv-0042 (shares $300), flagged by 2 of 3 judges" in text
    assert "gate overridden: demo" in text
    assert "disputed" not in text


def test_a_disputed_trace_says_so_in_both_reports():
    result = RESULT | {"traces": [RESULT["traces"][0] | {"state": "disputed"}]}
    out = io.StringIO()
    render_eval(result, Console(file=out, width=120))
    assert "held-1: Late fee? (disputed: the judges disagree)" in out.getvalue()
    assert "Late fee? (disputed: the judges disagree)</h3>" in eval_html_fragment(result)


def test_html_escapes_answers():
    page = eval_html_page(RESULT)
    assert "<script>" not in page and "$300 &lt;script&gt;" in page
    assert "Content-Security-Policy" in page and "adv-0042" in page
