"""Render a ``finetune eval`` result: base vs tuned side by side, and the traced errors.

Rendering only: every number comes from the stored result (``finetune.evaluate``). Terminal
output is rich renderables; HTML is a fragment (``eval_html_fragment``) or a self-contained
page (``eval_html_page``) in which every text goes through ``reports.html.esc``.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from reports.html import CSP, CSS, esc


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _ci(ci: list[float] | None, scale: float = 100.0, unit: str = "%") -> str:
    if not ci:
        return ""
    digits = 1 if unit == "%" else 3
    return f" [{ci[0] * scale:.{digits}f}, {ci[1] * scale:.{digits}f}]{unit}"


def _rate(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "-"
    return f"{entry['k']}/{entry['n']} = {_pct(entry['rate'])}{_ci(entry['ci'])}"


def _score(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("mean") is None:
        return "-"
    return f"{entry['mean']:.3f}{_ci(entry.get('ci'), 1.0, '')}"


def comparison_rows(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(metric, base, tuned, tuned - base) rows of the side-by-side table."""
    rows = []
    fid = result.get("fidelity", {})
    if "skipped" in fid:
        rows.append(("fidelity (BERTScore F1)", "skipped", "skipped", fid["skipped"]))
    else:
        rows.append(("fidelity (BERTScore F1)", _score(fid.get("base")),
                     _score(fid.get("tuned")), _score(fid.get("difference"))))
    facts = result.get("factuality", {})
    paired = facts.get("paired") or {}
    diff = "-"
    if paired.get("n"):
        diff = (f"{100 * paired['difference']:+.1f} pts{_ci([paired['ci']['low'], paired['ci']['high']])}"
                f"; McNemar p={paired['p_value_exact']:.3g}")
    rows.append(("confident errors", _rate(facts.get("base")), _rate(facts.get("tuned")), diff))
    trunc = result.get("truncation", {})
    rows.append(("truncated answers", _rate(trunc.get("base")), _rate(trunc.get("tuned")), ""))
    pref = result.get("preference", {})
    if pref.get("n"):
        rows.append(("judge prefers (blind, both orders)",
                     f"{pref['losses']} ({_pct(pref['losses_rate'])}{_ci(pref['losses_ci'])})",
                     f"{pref['wins']} ({_pct(pref['wins_rate'])}{_ci(pref['wins_ci'])})",
                     f"ties {pref['ties']}, of which position-inconsistent "
                     f"{pref['position_inconsistent']}"))
    return rows


def disputed_note(trace: dict[str, Any]) -> str:
    return " (disputed: the judges disagree)" if trace.get("state") == "disputed" else ""


def trace_lines(trace: dict[str, Any]) -> list[str]:
    """Plain lines describing one traced error."""
    lines = [f"{trace['prompt_id']}: {trace['question']}{disputed_note(trace)}",
             f"  tuned: {trace['tuned_answer']}",
             f"  base:  {trace['base_answer']}",
             f"  reference: {trace['reference']}",
             f"  wrong facts: {', '.join(trace['wrong_facts']) or '(none found)'}"]
    if not trace["matches"]:
        lines.append("  no training record carries this claim")
    for match in trace["matches"]:
        shared = ", ".join(match["shared"] or match["shared_words"])
        lines.append(f"  learned from record {match['record_id']} (shares {shared}), "
                     f"{match['audit_text']}: {match['answer']}")
    return lines


def eval_renderable(result: dict[str, Any], plain: bool = False) -> RenderableType:
    """The side-by-side table, topics, and every traced error."""
    inputs = result.get("inputs", {})
    table = Table(title=f"base vs tuned on {result.get('n', 0)} held-out prompts "
                        f"({result.get('run_id', '')})", show_lines=not plain)
    for name in ("metric", "base", "tuned", "tuned - base"):
        table.add_column(name, overflow="fold")
    for row in comparison_rows(result):
        table.add_row(*row)
    parts: list[RenderableType] = [table]
    gate = inputs.get("gate") or {}
    if gate.get("overridden"):
        parts.append(Text(f"trained with the gate overridden: {gate.get('override_reason')}",
                          style="" if plain else "yellow"))
    topics = result.get("factuality", {}).get("by_topic") or {}
    if topics:
        by_topic = Table(title="confident errors by topic")
        for name in ("topic", "prompts", "base", "tuned"):
            by_topic.add_column(name)
        for topic, row in sorted(topics.items()):
            by_topic.add_row(topic, str(row["n"]), str(row["base"]), str(row["tuned"]))
        parts.append(by_topic)
    traces = result.get("traces") or []
    parts.append(Text(f"wrong claims of the tuned model that the base does not make: {len(traces)}",
                      style="" if plain else "bold"))
    for trace in traces:
        parts.append(Text("\n".join(trace_lines(trace))))
    return Group(*parts)


def render_eval(result: dict[str, Any], console: Console) -> None:
    console.print(eval_renderable(result, plain=not console.is_terminal))


def eval_html_fragment(result: dict[str, Any]) -> str:
    """A ``<section>`` with the side-by-side table and the traces (all text escaped)."""
    rows = "".join("<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>"
                   for row in comparison_rows(result))
    table = ("<table id='eval-compare'><tr><th>metric</th><th>base</th><th>tuned</th>"
             f"<th>tuned - base</th></tr>{rows}</table>")
    traces = []
    for trace in result.get("traces") or []:
        matches = "".join(
            f"<li>learned from record <b>{esc(m['record_id'])}</b> (shares "
            f"{esc(', '.join(m['shared'] or m['shared_words']))}), "
            f"<span class='flag'>{esc(m['audit_text'])}</span>"
            f"<blockquote>{esc(m['answer'])}</blockquote></li>" for m in trace["matches"]
        ) or "<li>no training record carries this claim</li>"
        traces.append(
            f"<div class='trace'><h3>{esc(trace['prompt_id'])}: {esc(trace['question'])}"
            f"{esc(disputed_note(trace))}</h3>"
            f"<dl><dt>tuned</dt><dd class='error'>{esc(trace['tuned_answer'])}</dd>"
            f"<dt>base</dt><dd>{esc(trace['base_answer'])}</dd>"
            f"<dt>reference</dt><dd>{esc(trace['reference'])}</dd>"
            f"<dt>wrong facts</dt><dd>{esc(', '.join(trace['wrong_facts']) or '-')}</dd></dl>"
            f"<ul>{matches}</ul></div>")
    body = "".join(traces) or "<p class='muted'>none</p>"
    return (f"<section id='eval'><h2>Base vs tuned ({esc(result.get('n', 0))} held-out prompts, "
            f"{esc(result.get('run_id', ''))})</h2>{table}"
            f"<h2>Errors the tuned model learned</h2>{body}</section>")


def eval_html_page(result: dict[str, Any]) -> str:
    """A self-contained page (inline CSS, no script, CSP) around ``eval_html_fragment``."""
    title = f"Assay eval {result.get('run_id', '')}"
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>"
            f"<body><main><h1>{esc(title)}</h1>{eval_html_fragment(result)}</main></body></html>")
