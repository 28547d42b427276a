"""A self-contained HTML report: inline CSS, inline SVG plots drawn here, no script, no URL.

Every piece of text, dataset text above all, goes through ``esc`` (``html.escape`` with
``quote=True``) and a Content-Security-Policy meta tag forbids scripts and remote loads, so
an answer holding ``<script>`` or ``" onmouseover="`` shows as text and runs nothing.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from reports.claims import specifics_head
from reports.safe_markdown import render_markdown
from reports.terminal import (
    active_note,
    bounds_text,
    ci_text,
    consensus_basis,
    disagreement_records,
    error_records,
    gold_header,
    gold_rows,
    gold_title,
    hard_text,
    lower_bound_note,
    num,
    pct,
    rate_text,
    short_verdict,
    sources_text,
    split_spans,
    spread_text,
    state_lines,
    unverifiable_text,
    verdict_text,
)

if TYPE_CHECKING:
    from audit.report_data import AuditReport, CitationRow, RecordRow
    from audit.stats.results import RateEstimate

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d232b;
 background:#f6f7f9;margin:0}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:1.5em;margin:0 0 8px}h2{font-size:1.2em;margin:28px 0 8px}
section{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:14px 18px;margin:14px 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{border-bottom:1px solid #e5e8eb;padding:6px 8px;text-align:left;vertical-align:top;
 overflow-wrap:break-word}
table.fixed{table-layout:fixed}table.fixed td{overflow-wrap:anywhere}
.md p{margin:0 0 6px}.md h4,.md h5,.md h6{font-size:1em;margin:8px 0 4px}
.md ul,.md ol{margin:0 0 6px;padding-left:22px}.md>:last-child{margin-bottom:0}
th{background:#f0f2f5}td.n{text-align:right;white-space:nowrap}
.headline{font-size:1.25em}.big{font-weight:700;color:#b3261e}.muted{color:#5f6b7a}
mark{background:#ffd7d3;color:#8c1d18;font-weight:600;padding:0 2px;border-radius:3px}
.error{color:#b3261e;font-weight:600}.ok{color:#1e7d32}.disputed{color:#a15c00}
.undecided{color:#5f6b7a}.contradicted{color:#b3261e}.not_in_sources{color:#7b1fa2}
.unverifiable{color:#7b1fa2}
.supported{color:#1e7d32}.status{color:#a15c00}
ul{margin:0;padding-left:18px}blockquote{margin:4px 0;padding:2px 8px;border-left:3px solid #9aa5b1;
 color:#333}
.plots{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:14px}
section>h2:first-child{margin-top:0}
figure{margin:0}figcaption{font-weight:600;margin-bottom:6px}
.flag{background:#fff4d6;color:#7a4f00;border-radius:3px;padding:0 4px;font-size:.85em}
details summary{cursor:pointer;color:#1f5fa8}
"""


def esc(value: object) -> str:
    """Any value as HTML text with ``&<>"'`` escaped."""
    return html.escape(str(value), quote=True)


def to_html(report: AuditReport) -> str:
    """The whole report as one HTML document string."""
    run = report.run
    body = "\n".join([
        _header(report), _headline(report),
        '<section id="plots"><h2>Plots</h2><div class="plots">',
        _figure("Error rate per judge and consensus (dot: rate; bar: Wilson interval)",
                rates_svg(report), "plot-rates"),
        _figure("Judge agreement: pairwise Cohen's kappa", kappa_heatmap_svg(report),
                "plot-kappa"),
        _figure("Consensus errors by category", bars_svg(
            sorted(report.summary.categories.items(), key=lambda kv: -kv[1])), "plot-categories"),
        _figure("Consensus errors by topic", bars_svg(
            [(t, s.errors) for t, s in report.summary.topics.items()]), "plot-topics"),
        "</div></section>",
        _agreement(report), _judges(report), _gold(report), _errors(report), _disagreements(report),
        _breakdowns(report), _problems(report), _suspicious(report), _specifics(report),
        _cost(report),
        f'<footer class="muted">Assay report schema v{esc(report.schema_version)}. '
        "Dataset text is quoted, never obeyed.</footer>",
    ])
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">\n'
        '<meta name="viewport" content="width=device-width,initial-scale=1">\n'
        f"<title>Assay audit report {esc(run.run_id)}</title>\n<style>{CSS}</style></head>\n"
        f"<body><main>\n{body}\n</main></body></html>\n"
    )


# -- sections -----------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]], table_id: str,
           widths: list[str] | None = None) -> str:
    """``header`` is escaped here; ``rows`` hold cells that are already HTML.

    ``widths`` (CSS widths, "" for the rest) fix the columns, so that long answers cannot
    squeeze the record and question columns to a few letters.
    """
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    cols, fixed = "", ""
    if widths:
        cols = "<colgroup>" + "".join(f'<col style="width:{esc(w)}">' if w else "<col>"
                                      for w in widths) + "</colgroup>"
        fixed = ' class="fixed"'
    return (f'<table id="{esc(table_id)}"{fixed}>{cols}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _section(section_id: str, title: str, content: str) -> str:
    return f'<section id="{esc(section_id)}"><h2>{esc(title)}</h2>{content}</section>'


def _figure(caption: str, svg: str, figure_id: str) -> str:
    return f'<figure id="{esc(figure_id)}"><figcaption>{esc(caption)}</figcaption>{svg}</figure>'


def _header(report: AuditReport) -> str:
    run = report.run
    judges = ", ".join(f"{j.name} ({j.provider}{': ' + j.model if j.model else ''})"
                       for j in run.judges)
    items = [("dataset", run.dataset_path or "-"), ("sha256", run.dataset_sha256 or "-"),
             ("sample", f"{run.n_sampled} of {run.population or '?'} records, {run.n_judged} "
                        f"judged, seed {run.seed}"
                        + (f"; {run.active_sample}" if run.active_sample else "")),
             ("judges", judges), ("created", f"{run.created} (status: {run.status})"),
             ("sources", sources_text(report)), ("evidence", run.evidence)]
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items)
    return (f'<section id="run"><h1>Audit report {esc(run.run_id)}</h1><dl>{rows}</dl>'
            "</section>")


def _headline(report: AuditReport) -> str:
    s, c = report.summary, report.summary.consensus
    degraded = (f'<p class="big">NOT A PANEL RESULT: {esc(report.health.words)}</p>'
                if report.health.degraded else "")
    active = f'<p class="big">{esc(active_note(report))}</p>' if active_note(report) else ""
    parts = [degraded, active, f'<p class="headline">Consensus error rate <span class="big">'
             f"{esc(rate_text(c.inclusive))}</span> "
             f'<span class="muted">({esc(f"{s.confidence:.0%}")} Wilson interval, '
             f"{esc(consensus_basis(s))}{esc(lower_bound_note(report))})</span></p>",
             f'<p class="muted">{esc(bounds_text(s))}</p>',
             f'<p class="unverifiable-share">{esc(unverifiable_text(report))}</p>',
             f"<p>{esc(hard_text(s))}. "
             f"{c.errors} error, "
             + ("" if s.closed_world else f"{c.unverifiable} unverifiable, ")
             + f"{c.ok} ok, {c.undecided} undecided; {c.disputed} tie(s) resolved.</p>"]
    if s.range_inclusive:
        r = s.range_inclusive
        parts.append(f"<p>Across judges: {esc(spread_text(r))}. "
                     f'<span class="muted">{esc(r.why)}</span></p>')
    parts.append(f"<p><em>{esc(report.reading)}</em></p>")
    return _section("headline", "Headline", "".join(parts))


def _agreement(report: AuditReport) -> str:
    a = report.summary.agreement
    if a is None:
        return _section("agreement", "Agreement", f"<p>{esc(report.reading)}</p>")
    results = [a.krippendorff_alpha_nominal, a.krippendorff_alpha_ordinal_severity,
               a.fleiss_kappa, a.gwet_ac1]
    rows = [[esc(r.coefficient), esc(num(x.value)), esc(ci_text(x)), esc(r.words)]
            for r, x in zip(report.readings, results, strict=True)]
    rows.append(["percent agreement", esc(pct(a.percent_agreement.value)),
                 esc(ci_text(a.percent_agreement)), ""])
    rows += [[esc(f"Cohen's kappa {p.judge_a} / {p.judge_b}"), esc(num(p.cohen_kappa.value)),
              esc(ci_text(p.cohen_kappa)), esc(f"{p.n_both} records decided by both")]
             for p in a.pairs]
    table = _table(["coefficient", "value", f"{report.summary.confidence:.0%} CI", "reading"],
                   rows, "agreement-table")
    return _section("agreement", f"Agreement ({a.disagreements} records with disagreement)", table)


def _judges(report: AuditReport) -> str:
    open_world = not report.summary.closed_world  # a closed world has no unverifiable verdict
    rows = [[esc(n), esc(rate_text(j.inclusive)), esc(rate_text(j.hard)),
             *([esc(rate_text(j.unverifiable))] if open_world else []),
             esc(f"{j.abstained} / {j.failed} / {j.invalid_citation}"),
             esc(f"{j.tokens_in:,} / {j.tokens_out:,}"), esc(f"${j.cost_usd:.4f}")]
            for n, j in report.summary.per_judge.items()]
    header = ["judge", "error rate", "hard", *(["unverifiable"] if open_world else []),
              "abstain / fail / bad cite", "tokens in / out", "cost"]
    return _section("judges", "Judges", _table(header, rows, "judges-table"))


def _gold(report: AuditReport) -> str:
    if report.gold is None:
        return ""
    rows = [[esc(cell) for cell in cells] for cells in gold_rows(report)]
    note = ('<p class="muted">Error is the positive class: sensitivity is the share of gold '
            "errors a judge calls errors, specificity the share of correct answers it passes; "
            "only records both decided count.</p>")
    return _section("gold", gold_title(report),
                    note + _table(gold_header(report), rows, "gold-table"))


def _answer(row: RecordRow) -> str:
    """The answer's paragraphs, lists and headings kept (a safe Markdown subset), wrong
    parts marked."""
    return f'<div class="md">{render_markdown(split_spans(row.answer, row.wrong_spans))}</div>'


def _question(row: RecordRow) -> str:
    return f'<div class="md">{render_markdown(row.question)}</div>'


def _record_cell(row: RecordRow) -> str:
    flag = (f' <span class="flag" title="{esc(", ".join(row.suspicious))}">suspicious</span>'
            if row.suspicious else "")
    state, *majority = state_lines(row)
    note = "".join(f'<br><span class="muted">{esc(line)}</span>' for line in majority)
    return (f"<strong>{esc(row.id)}</strong><br>{esc(row.topic or '-')}<br>"
            f'<span class="{esc(state)}">{esc(state)}</span>{note}{flag}')


def _verdicts(row: RecordRow) -> str:
    items = []
    for v in row.verdicts:
        css = v.label.value if v.label and v.status.value == "ok" else "status"
        extra = f'<br><span class="muted">{esc(v.rationale)}</span>' if v.rationale else ""
        extra += f'<br><span class="status">{esc(v.error)}</span>' if v.error else ""
        items.append(f'<li><strong>{esc(v.judge)}</strong>: <span class="{esc(css)}">'
                     f"{esc(verdict_text(v)).replace('/', '/<wbr>')}</span>{extra}</li>")
    return f"<ul>{''.join(items)}</ul>"


def _evidence(row: RecordRow) -> str:
    seen: dict[tuple[str, str], CitationRow] = {}
    for v in row.verdicts:
        for c in v.citations:
            seen.setdefault((c.passage_id, c.quote), c)
    parts = []
    for c in seen.values():
        bad = ' <span class="flag">quote not found</span>' if c.verified is False else ""
        snippet = (f"<details><summary>passage text</summary>{esc(c.snippet)}</details>"
                   if c.snippet else "")
        parts.append(f"<blockquote>{esc(c.quote)}</blockquote><code>{esc(c.passage_id)}</code>"
                     f"{bad}{snippet}")
    return "".join(parts) or '<span class="muted">none cited</span>'


def _errors(report: AuditReport) -> str:
    rows = [[_record_cell(r), _question(r), _answer(r), _verdicts(r), _evidence(r)]
            for r in error_records(report)]
    header = ["record", "question", "answer (wrong part marked)", "verdicts", "evidence"]
    widths = ["9em", "15%", "31%", "", "16%"]
    content = (_table(header, rows, "errors-table", widths) if rows
               else "<p>No consensus errors.</p>")
    return _section("errors", f"Errors ({len(rows)})", content)


def _disagreements(report: AuditReport) -> str:
    judges = report.summary.judges
    rows = []
    for r in disagreement_records(report):
        by = {v.judge: v for v in r.verdicts}
        rows.append([_record_cell(r), _question(r)]
                    + [esc(short_verdict(by[j])) if j in by else "-" for j in judges])
    widths = ["9em", "40%", *[""] * len(judges)]
    content = (_table(["record", "question", *judges], rows, "disagreements-table", widths)
               if rows else "<p>None.</p>")
    return _section("disagreements", f"Disagreements ({len(rows)})", content)


def _breakdowns(report: AuditReport) -> str:
    s = report.summary
    categories = _table(["category", "errors"],
                        [[esc(c), str(n)] for c, n in s.categories.items()], "categories-table")
    topics = _table(["topic", "n", "error", "unverifiable", "ok", "disputed", "undecided"],
                    [[esc(t), str(x.n), str(x.errors), str(x.unverifiable), str(x.ok),
                      str(x.disputed), str(x.undecided)] for t, x in s.topics.items()],
                    "topics-table")
    return _section("breakdown", "Breakdown by category and topic", categories + "<br>" + topics)


def _problems(report: AuditReport) -> str:
    parts = []
    for title, problems, table_id in (("Invalid citations", report.invalid_citations, "invalid"),
                                      ("Failures", report.failures, "failures")):
        rows = [[esc(p.record_id), esc(p.judge), esc(p.error)] for p in problems]
        parts.append(f"<h3>{esc(title)}: {len(rows)}</h3>")
        if rows:
            parts.append(_table(["record", "judge", "error"], rows, f"{table_id}-table"))
    return _section("problems", "Invalid citations and failures", "".join(parts))


def _suspicious(report: AuditReport) -> str:
    if not report.suspicious:
        return ""
    rows = [[esc(r.id), esc(", ".join(r.suspicious)),
             f'<div class="md">{render_markdown(r.answer)}</div>']
            for r in map(report.record, report.suspicious)]
    return _section("suspicious", "Suspicious text (prompt-injection-like; quoted, never obeyed)",
                    _table(["record", "why", "answer"], rows, "suspicious-table"))


def _specifics(report: AuditReport) -> str:
    """Conflicts between records and unverified specifics: their own section, not errors."""
    section = report.specifics
    title = "Checks without sources (not judge errors)"
    if section is None or not section.available:  # the JSON report says why
        return ""
    rows = []
    for row in section.records:
        items = [f"<li>conflict: says <strong>{esc(c.value)}</strong> ({esc(c.sentence)}); "
                 f"<strong>{esc(c.other_record)}</strong> says <strong>{esc(c.other_value)}"
                 f"</strong> ({esc(c.other_sentence)})</li>" for c in row.conflicts]
        items += [f"<li>unverified: {esc(u)}</li>" for u in row.unverified]
        rows.append([esc(row.record_id), f"<ul>{''.join(items)}</ul>"])
    head = f"<p>{esc(specifics_head(section))}</p>"
    table = _table(["record", "found"], rows, "specifics-table") if rows else ""
    return _section("specifics", title,
                    head + table + f'<p class="muted">{esc(section.statement)}</p>')


def _cost(report: AuditReport) -> str:
    t = report.summary.totals
    items = [("judgments", f"{t.judgments} ({t.cache_hits} from the cache)"),
             ("tokens", f"{t.tokens_in:,} in / {t.tokens_out:,} out"),
             ("cost", f"${t.cost_usd:.4f}"), ("judge time", f"{t.latency_s:.1f} s")]
    if report.decisions:
        d = report.decisions[-1]
        items.append(("gate", f"{d.status} at {d.created}: " + "; ".join(d.reasons)))
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items)
    return _section("cost", "Cost and gate", f"<dl>{rows}</dl>")


# -- SVG plots ----------------------------------------------------------------------------

_FONT = 'font-family="system-ui,sans-serif" font-size="12"'


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (f'<svg width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(label)}">'
            + "".join(body) + "</svg>")


def rates_svg(report: AuditReport, width: int = 560) -> str:
    """Dot-and-interval plot of each judge's error rate and the consensus rate."""
    series: list[tuple[str, RateEstimate | None, str]] = [
        (name, j.inclusive, "#1f5fa8") for name, j in report.summary.per_judge.items()]
    series.append(("consensus", report.summary.consensus.inclusive, "#b3261e"))
    left, right, top, row_h = 120, width - 70, 24, 30
    height = top + row_h * len(series) + 10

    def x(value: float) -> float:
        return left + (right - left) * value

    body = []
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        body.append(f'<line x1="{x(tick):.1f}" y1="{top - 6}" x2="{x(tick):.1f}" y2="{height - 6}"'
                    ' stroke="#e1e5ea"/>')
        body.append(f'<text x="{x(tick):.1f}" y="{top - 10}" text-anchor="middle" {_FONT} '
                    f'fill="#5f6b7a">{tick:.0%}</text>')
    for i, (name, est, color) in enumerate(series):
        y = top + row_h * i + row_h / 2
        body.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" {_FONT}>'
                    f"{esc(name)}</text>")
        if est is None or est.rate is None:
            body.append(f'<text x="{left}" y="{y + 4:.1f}" {_FONT} fill="#5f6b7a">n/a</text>')
            continue
        if est.wilson:
            body.append(f'<line x1="{x(est.wilson.low):.1f}" y1="{y:.1f}" '
                        f'x2="{x(est.wilson.high):.1f}" y2="{y:.1f}" stroke="{color}" '
                        'stroke-width="3" stroke-linecap="round" opacity="0.55"/>')
        body.append(f'<circle cx="{x(est.rate):.1f}" cy="{y:.1f}" r="6" fill="{color}"/>')
        body.append(f'<text x="{right + 8}" y="{y + 4:.1f}" {_FONT}>{esc(pct(est.rate))}</text>')
    return _svg(width, height, body, "error rates with intervals")


def _kappa_colour(value: float | None) -> str:
    if value is None:
        return "#e1e5ea"
    v = max(-1.0, min(1.0, value))
    if v >= 0:  # white to blue
        r, g, b = (int(255 - (255 - c) * v) for c in (31, 95, 168))
    else:  # white to red
        r, g, b = (int(255 - (255 - c) * -v) for c in (179, 38, 30))
    return f"#{r:02x}{g:02x}{b:02x}"


def kappa_heatmap_svg(report: AuditReport, cell: int = 64) -> str:
    """Judges × judges grid coloured by pairwise Cohen's kappa (blue agree, red disagree)."""
    judges = report.summary.judges
    kappa: dict[tuple[str, str], float | None] = {}
    agreement = report.summary.agreement
    for pair in agreement.pairs if agreement else []:
        kappa[(pair.judge_a, pair.judge_b)] = pair.cohen_kappa.value
        kappa[(pair.judge_b, pair.judge_a)] = pair.cohen_kappa.value
    left, top = 110, 40
    size = cell * len(judges)
    body = []
    for i, a in enumerate(judges):
        body.append(f'<text x="{left - 8}" y="{top + cell * i + cell / 2 + 4:.0f}" '
                    f'text-anchor="end" {_FONT}>{esc(a)}</text>')
        body.append(f'<text x="{left + cell * i + cell / 2:.0f}" y="{top - 10}" '
                    f'text-anchor="middle" {_FONT}>{esc(a)}</text>')
        for j, b in enumerate(judges):
            value = 1.0 if a == b else kappa.get((a, b))
            colour = _kappa_colour(value)
            ink = "#fff" if value is not None and abs(value) > 0.6 else "#1d232b"
            body.append(f'<rect x="{left + cell * j}" y="{top + cell * i}" width="{cell}" '
                        f'height="{cell}" fill="{colour}" stroke="#fff"/>')
            body.append(f'<text x="{left + cell * j + cell / 2:.0f}" '
                        f'y="{top + cell * i + cell / 2 + 4:.0f}" text-anchor="middle" {_FONT} '
                        f'fill="{ink}">{esc("—" if a == b else num(value))}</text>')
    return _svg(left + size + 10, top + size + 10, body, "pairwise Cohen's kappa heatmap")


def bars_svg(items: list[tuple[str, int]], width: int = 520, colour: str = "#b3261e") -> str:
    """Horizontal bars, one per (label, count); an empty list draws a 'none' note."""
    if not items:
        return _svg(width, 30, [f'<text x="8" y="20" {_FONT} fill="#5f6b7a">none</text>'], "none")
    left, right, row_h = 150, width - 40, 24
    top = 6
    biggest = max(count for _, count in items) or 1
    body = []
    for i, (label, count) in enumerate(items):
        y = top + row_h * i
        w = (right - left) * count / biggest
        body.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" {_FONT}>'
                    f"{esc(label)}</text>")
        body.append(f'<rect x="{left}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" '
                    f'fill="{colour}" rx="2"/>')
        body.append(f'<text x="{left + w + 6:.1f}" y="{y + 16}" {_FONT}>{count}</text>')
    return _svg(width, top + row_h * len(items) + 6, body, "bar chart")
