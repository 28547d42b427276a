"""Render an ``AuditReport`` in the terminal with rich; every number comes from the report.

Dataset text is untrusted: it only ever enters a ``rich.text.Text`` as plain text, never as
markup, so an answer holding ``[red]`` or ``[/]`` prints literally. Without colour (not a
TTY, ``NO_COLOR``) tables use ASCII borders and the wrong span is marked ``>>like this<<``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from reports.gate import run_decisions_panel
from reports.layout import field_grid, plain_output, report_panel, report_table

if TYPE_CHECKING:
    from audit.report_data import AuditReport, RecordRow, Span, VerdictRow
    from audit.stats.results import AgreementResult, RateEstimate
    from audit.summary import AuditSummary
    from core.runs import StoredRun

MARK_OPEN, MARK_CLOSE = ">>", "<<"
_STATE_STYLE = {"error": "bold red", "unverifiable": "magenta", "ok": "green",
                "disputed": "yellow", "undecided": "dim"}
_LABEL_STYLE = {"supported": "green", "contradicted": "bold red", "not_in_sources": "magenta"}


# -- formatting shared by every renderer --------------------------------------------------


def pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def spread_text(spread) -> str:
    """The judges' rates from lowest to highest, or the one rate they all give."""
    if pct(spread.low) == pct(spread.high):
        judges = sorted({*spread.low_judges, *spread.high_judges})
        return f"{pct(spread.low)} from every judge ({', '.join(judges)})"
    return (f"{pct(spread.low)} ({', '.join(spread.low_judges)}) to "
            f"{pct(spread.high)} ({', '.join(spread.high_judges)})")


def num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def rate_text(estimate: RateEstimate | None) -> str:
    """``33.3% [13.8%–60.9%] (4/12)``: the rate, its Wilson interval and the counts."""
    if estimate is None or estimate.rate is None:
        return "n/a (no decided records)"
    ci = estimate.wilson
    interval = f" [{pct(ci.low)}–{pct(ci.high)}]" if ci else ""
    return f"{pct(estimate.rate)}{interval} ({estimate.k}/{estimate.n})"


def hard_text(summary: AuditSummary) -> str:
    """The hard-error line with the records it rests on: how many decided, how many disputed.

    A hard rate of 1/1 with 19 records split on severity must say so, not read as 100%.
    """
    consensus, severity = summary.consensus, summary.hard_severity
    decided, disputed = (consensus.hard.n if consensus.hard else 0), consensus.hard_disputed
    if decided:
        few = "only " if disputed > decided else ""
        counts = f"{rate_text(consensus.hard)}: {few}{decided} record{'s' if decided != 1 else ''}"
    else:
        counts = "n/a: no record"
    line = f"Hard errors ({severity} or worse): {counts} decided, {disputed} disputed"
    if disputed > decided:
        line += f" (the judges split on whether the error is {severity} or worse"
        line += "; the rate rests on the decided records alone)" if decided else ")"
    return line


def ci_text(result: AgreementResult) -> str:
    return "n/a" if result.ci is None else f"[{num(result.ci.low)}, {num(result.ci.high)}]"


def sources_text(report: AuditReport) -> str:
    """``DIR (corpus sha256 …)`` or ``none (closed-book)``: what the run checked against."""
    run = report.run
    if run.closed_book:
        return "none (closed-book)"
    corpus = f" (corpus sha256 {run.sources_sha256})" if run.sources_sha256 else ""
    retrieval = run.retrieval or "retrieval not recorded"
    return f"{run.sources_path or '-'}{corpus}; {retrieval}, top {run.evidence_k}"


def lower_bound_note(report: AuditReport) -> str:
    """Why an open-world error rate is only a floor (empty when nothing is unverifiable)."""
    consensus = report.summary.consensus
    if report.summary.closed_world or not consensus.unverifiable:
        return ""
    if consensus.unverifiable == consensus.errors + consensus.unverifiable + consensus.ok:
        return ("; NOT MEASURED: every decided record is unverifiable, so 0 errors says "
                "nothing")
    return "; a lower bound: the unverifiable records may hold errors too"


def active_note(report: AuditReport) -> str:
    """For an active sample: its rates are its own, not the dataset's (empty otherwise)."""
    if not report.run.active_sample:
        return ""
    return ("ACTIVE SAMPLE: these rates are the sample's own, unweighted, and lean toward the "
            "records the cheap panel was unsure about; the dataset's rate is `audit estimate "
            f"{report.run.run_id}`")


def unverifiable_text(report: AuditReport) -> str:
    """The headline's second rate: the unverifiable share, or why there is none."""
    summary = report.summary
    if summary.closed_world:
        return "Unverifiable: none by definition (sources declared complete: what they do " \
               "not state counts as an error)"
    return (f"Unverifiable share {rate_text(summary.consensus.unverifiable_share)}: the "
            "evidence neither supports nor contradicts these; not counted as errors")


def verdict_text(verdict: VerdictRow) -> str:
    """``contradicted/major/wrong_number 0.90`` or the status when the judge did not decide."""
    if verdict.label is None or verdict.status.value != "ok":
        return verdict.status.value.replace("_", " ")
    if verdict.label.value == "supported":
        return f"supported {num(verdict.confidence)}"
    return (f"{verdict.label.value}/{verdict.severity}/{verdict.category} "
            f"{num(verdict.confidence)}")


def _verdict_cell(verdict: VerdictRow) -> Text:
    label = verdict.label.value if verdict.label is not None else ""
    return Text(short_verdict(verdict), _LABEL_STYLE.get(label, "yellow"))


def short_verdict(verdict: VerdictRow) -> str:
    """``contradicted (major)``, ``supported`` or the status when the judge did not decide."""
    if verdict.label is None or verdict.status.value != "ok":
        return verdict.status.value.replace("_", " ")
    if verdict.label.value == "supported":
        return "supported"
    return f"{verdict.label.value} ({verdict.severity})"


def split_spans(text: str, spans: Iterable[Span]) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, highlighted) pieces at the given spans."""
    pieces, at = [], 0
    for span in sorted(spans, key=lambda s: s.start):
        start, end = max(span.start, at), min(span.end, len(text))
        if start >= end:
            continue
        if start > at:
            pieces.append((text[at:start], False))
        pieces.append((text[start:end], True))
        at = end
    if at < len(text):
        pieces.append((text[at:], False))
    return pieces


def error_records(report: AuditReport, *, topic: str | None = None,
                  judge: str | None = None) -> list[RecordRow]:
    """The errors the headline counts: consensus errors, ties resolved (or, with ``judge``,
    the records that judge calls errors)."""
    rows = _in_topic(report.records, topic)
    if judge:
        return [r for r in rows if any(v.judge == judge and v.is_error for v in r.verdicts)]
    return [r for r in rows if (r.resolved or r.consensus) == "error"]


def state_lines(row: RecordRow) -> list[str]:
    """A record's consensus state, with the plain majority's beside it where the consensus
    method decided otherwise: ["error", "(tie resolved)"] for a tie it counted as an error."""
    if row.resolved is None or row.resolved == row.consensus:
        return [row.consensus]
    if row.consensus == "disputed":
        return [row.resolved, "(tie resolved)"]
    return [row.resolved, f"(majority: {row.consensus})"]


def disagreement_records(report: AuditReport, *, topic: str | None = None,
                         judge: str | None = None) -> list[RecordRow]:
    rows = [r for r in _in_topic(report.records, topic) if r.disagreement]
    if judge:
        rows = [r for r in rows if any(v.judge == judge for v in r.verdicts)]
    return rows


def _in_topic(rows: list[RecordRow], topic: str | None) -> list[RecordRow]:
    return rows if topic is None else [r for r in rows if (r.topic or "(none)") == topic]


# -- public entry points ------------------------------------------------------------------


def render_run_summary(report: AuditReport, console: Console, *,
                       model_calls: int | None = None) -> None:
    """The whole report (what ``audit sample`` prints at its end)."""
    render_report(report, console, model_calls=model_calls)


def render_report(
    report: AuditReport,
    console: Console,
    *,
    errors_only: bool = False,
    topic: str | None = None,
    judge: str | None = None,
    model_calls: int | None = None,
) -> None:
    """Print the report; ``topic``/``judge`` filter the record tables, not the statistics."""
    plain = plain_output(console)
    console.print(header_panel(report, plain))
    console.print(headline_panel(report, plain))
    if not errors_only:
        console.print(agreement_table(report, plain))
        console.print(judges_table(report, plain))
        if report.gold is not None:
            console.print(gold_table(report, plain))
    console.print(errors_table(report, plain, topic=topic, judge=judge))
    if not errors_only:
        console.print(disagreements_table(report, plain, topic=topic, judge=judge))
        console.print(categories_table(report, plain))
        console.print(topics_table(report, plain))
    for renderable in problem_tables(report, plain, judge=judge):
        console.print(renderable)
    if report.suspicious:
        console.print(suspicious_table(report, plain))
    if report.specifics is not None and report.specifics.available and not errors_only:
        from reports.claims import specifics_panel

        console.print(specifics_panel(report.specifics, plain))
    if not errors_only:
        console.print(cost_panel(report, plain, model_calls))
        if report.decisions:
            console.print(run_decisions_panel(report.decisions, plain))
    if topic or judge:
        shown = ", ".join(f"{k} {v!r}" for k, v in (("topic", topic), ("judge", judge)) if v)
        console.print(Text(f"Record tables filtered by {shown}; the statistics cover the "
                           "whole run.", style="dim"))


def render_runs(runs: list[StoredRun], console: Console) -> None:
    """The table of stored audit runs (``audit runs``)."""
    plain = plain_output(console)
    if not runs:
        console.print(Text("no audit runs stored yet; run `audit sample` first"))
        return
    table = report_table("Audit runs", plain)
    table.add_column("run", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for column in ("dataset", "n", "judges"):
        table.add_column(column, overflow="fold")
    for run in runs:
        audit = run.audit
        table.add_row(Text(run.id), Text(run.created[:19].replace("T", " ")),
                      Text(run.status), Text(audit.dataset_path or "-"), Text(str(audit.n)),
                      Text(", ".join(audit.panel)))
    console.print(table)


# -- the pieces ---------------------------------------------------------------------------


def header_panel(report: AuditReport, plain: bool = False) -> Panel:
    run = report.run
    judges = ", ".join(f"{j.name} ({j.provider}{': ' + j.model if j.model else ''})"
                       for j in run.judges) or ", ".join(report.summary.judges)
    population = f" of {run.population:,}" if run.population else ""
    sample = f"{run.n_sampled}{population} records, {run.n_judged} judged; seed {run.seed}"
    rows = [
        ("dataset", Text(run.dataset_path or "-")),
        ("sha256", Text(run.dataset_sha256 or "-")),
        ("sample", Text(sample + (f", stratified by {run.stratify}" if run.stratify else "")
                        + (f"\n{run.active_sample}" if run.active_sample else ""))),
        ("judges", Text(judges)),
        ("created", Text(f"{run.created} (status: {run.status})")),
        ("sources", Text.assemble(sources_text(report), (f"\n{run.evidence}" if run.evidence
                                  else "", "yellow" if run.closed_book else "dim"))),
    ]
    if not run.sources_available and not run.closed_book:
        rows.append(("", Text(f"{run.sources_path or '-'} unreadable now, or not the corpus "
                              "judged (another folder or edited): no snippets, quotes unchecked",
                              style="yellow")))
    return report_panel(field_grid(rows), f"Audit run {run.run_id}", plain)


def consensus_basis(summary) -> str:
    """What the consensus rate rests on and what decided it (issue 23)."""
    consensus = summary.consensus
    n = consensus.inclusive.n if consensus.inclusive else 0
    method = ("latent-class model: judges weighed by their estimated reliability"
              if consensus.method == "latent-class" else
              "majority, ties by the mean P(error)"
              + (f" ({consensus.method_reason})" if consensus.method_reason else ""))
    return f"all {n} record{'s' if n != 1 else ''} with a verdict, ties resolved; {method}"


def bounds_text(summary) -> str:
    """The plain majority's rate with its disputed and undecided records counted both ways."""
    consensus, bounds = summary.consensus, summary.consensus.bounds
    if bounds is None:
        return ""
    majority = consensus.majority
    counts = f"{majority.k}/{majority.n}" if majority else "0/0"
    return (f"Plain majority {counts} with {consensus.disputed} disputed and "
            f"{consensus.undecided} undecided left out; counting those both ways over all "
            f"{bounds.n} records: {pct(bounds.low)} to {pct(bounds.high)}")


def headline_panel(report: AuditReport, plain: bool = False) -> Panel:
    summary, consensus = report.summary, report.summary.consensus
    conf = f"{summary.confidence:.0%}"
    lines = [Text(f"NOT A PANEL RESULT: {report.health.words}", style="bold red")
             ] if report.health.degraded else []
    lines += [Text(active_note(report), style="bold yellow")] if active_note(report) else []
    lines += [
        Text.assemble(("Consensus error rate ", "bold"),
                      (rate_text(consensus.inclusive), "bold red"),
                      f"  ({conf} Wilson interval, {consensus_basis(summary)})"
                      + lower_bound_note(report)),
        Text(bounds_text(summary), style="dim"),
        Text(unverifiable_text(report), style="" if summary.closed_world else "magenta"),
        Text(hard_text(summary)),
        Text(f"{consensus.errors} error, "
             + ("" if summary.closed_world else f"{consensus.unverifiable} unverifiable, ")
             + f"{consensus.ok} ok, {consensus.undecided} undecided; "
               f"{consensus.disputed} tie{'s' if consensus.disputed != 1 else ''} resolved"),
    ]
    spread = summary.range_inclusive
    if spread is not None:
        lines.append(Text(f"Across judges: {spread_text(spread)}"))
        lines.append(Text(spread.why, style="dim"))
    lines.append(Text(report.reading, style="italic"))
    return report_panel(Group(*lines), "Headline", plain, "red")


def agreement_table(report: AuditReport, plain: bool = False) -> RenderableType:
    agreement = report.summary.agreement
    if agreement is None:
        return Text(report.reading)
    table = report_table(f"Agreement ({agreement.disagreements} record(s) with disagreement)", plain)
    table.add_column("coefficient")
    table.add_column("value", justify="right")
    table.add_column(f"{report.summary.confidence:.0%} CI", no_wrap=True)
    table.add_column("reading", ratio=1)
    results = [agreement.krippendorff_alpha_nominal, agreement.krippendorff_alpha_ordinal_severity,
               agreement.fleiss_kappa, agreement.gwet_ac1]
    for reading, result in zip(report.readings, results, strict=True):
        table.add_row(Text(reading.coefficient), num(result.value), ci_text(result),
                      Text(reading.words))
    table.add_row("percent agreement", pct(agreement.percent_agreement.value),
                  ci_text(agreement.percent_agreement), "")
    for pair in agreement.pairs:
        table.add_row(Text(f"Cohen's kappa {pair.judge_a} / {pair.judge_b}"),
                      num(pair.cohen_kappa.value), ci_text(pair.cohen_kappa),
                      Text(f"{pair.n_both} records decided by both"))
    return table


def judges_table(report: AuditReport, plain: bool = False) -> Table:
    table = report_table("Judges", plain)
    open_world = not report.summary.closed_world
    columns = ["judge", "error rate", "hard"] + (["unverifiable"] if open_world else [])
    for column in [*columns, "abstain / fail / bad cite"]:
        table.add_column(column)
    for name, judge in report.summary.per_judge.items():
        extra = [rate_text(judge.unverifiable)] if open_world else []
        table.add_row(Text(name), rate_text(judge.inclusive), rate_text(judge.hard), *extra,
                      f"{judge.abstained} / {judge.failed} / {judge.invalid_citation}")
    return table


def gold_header(report: AuditReport) -> list[str]:
    conf = f"{report.summary.confidence:.0%}"
    return ["judge", "records", "gold error: judge error / ok", "gold ok: judge error / ok",
            f"sensitivity [{conf}]", f"specificity [{conf}]", "kappa", f"{conf} CI"]


def gold_rows(report: AuditReport) -> list[list[str]]:
    """One row per judge (and their majority) against the gold labels, as text cells."""
    rows = []
    for row in report.gold.judges if report.gold else []:
        scores = row.scores
        (tn, fp), (fn, tp) = scores.confusion
        rows.append([row.judge, str(scores.n), f"{tp} / {fn}", f"{fp} / {tn}",
                     rate_text(scores.sensitivity), rate_text(scores.specificity),
                     num(scores.kappa.value), ci_text(scores.kappa)])
    return rows


def gold_title(report: AuditReport) -> str:
    gold = report.gold
    if gold is None:
        return ""
    return (f"Judges against gold labels from {gold.gold_judge!r} ({gold.gold_labels} records, "
            f"{gold.gold_errors} errors)")


def gold_table(report: AuditReport, plain: bool = False) -> Table:
    table = report_table(gold_title(report), plain)
    for column in gold_header(report):  # folded, not cut: an interval cut to "[67.6%…" loses its bound
        table.add_column(column, overflow="fold")
    for cells in gold_rows(report):
        table.add_row(Text(cells[0]), *cells[1:])
    return table


def highlighted(text: str, spans: Iterable[Span], plain: bool) -> Text:
    """``text`` as rich Text with the spans styled (or marked >>so<< without colour)."""
    out = Text()
    for piece, marked in split_spans(text, spans):
        if marked and plain:
            out.append(f"{MARK_OPEN}{piece}{MARK_CLOSE}")
        else:
            out.append(piece, style="bold red underline" if marked else "")
    return out


def record_details(row: RecordRow, plain: bool, judge: str | None = None) -> Group:
    """Question, highlighted answer, each judge's verdict and its cited evidence."""
    parts: list[RenderableType] = [
        Text.assemble(("Q: ", "bold"), row.question),
        Text.assemble(("A: ", "bold"), highlighted(row.answer, row.wrong_spans, plain)),
    ]
    shown: set[tuple[str, str]] = set()
    for verdict in row.verdicts:
        if judge and verdict.judge != judge:
            continue
        label = verdict.label.value if verdict.label else ""
        line = Text.assemble(("- ", "dim"), (verdict.judge, "bold"), ": ",
                             (verdict_text(verdict), _LABEL_STYLE.get(label, "yellow")))
        if verdict.rationale:
            line.append(f" | {verdict.rationale}", style="dim")
        if verdict.error:
            line.append(f" | {verdict.error}", style="yellow")
        parts.append(line)
        for citation in verdict.citations:
            mark = {True: "", False: " (quote NOT found)", None: ""}[citation.verified]
            if (citation.passage_id, citation.quote) in shown:
                parts.append(Padding(Text.assemble("evidence ", (citation.passage_id, "cyan"),
                                                   mark, " (same quote as above)"), (0, 0, 0, 4)))
                continue
            shown.add((citation.passage_id, citation.quote))
            evidence = Text.assemble("evidence ", (citation.passage_id, "cyan"),
                                     (mark, "bold yellow"), ": \"", (citation.quote, "italic"),
                                     "\"")
            parts.append(Padding(evidence, (0, 0, 0, 4)))
    return Group(*parts)


def _record_cell(row: RecordRow) -> Text:
    state, *majority = state_lines(row)
    return Text.assemble((row.id, "bold"), "\n", (row.topic or "-", "dim"), "\n",
                         (state, _STATE_STYLE[state]),
                         *(("\n" + line, "dim") for line in majority),
                         ("\n(suspicious)" if row.suspicious else "", "yellow"))


def errors_table(report: AuditReport, plain: bool = False, *, topic: str | None = None,
                 judge: str | None = None) -> RenderableType:
    rows = error_records(report, topic=topic, judge=judge)
    title = f"Errors ({len(rows)})" + (f" according to {judge}" if judge else "")
    if not rows:
        return Text(f"{title}: none", style="bold")
    table = report_table(title, plain, show_lines=True)
    table.add_column("record", overflow="fold", max_width=18)
    table.add_column("question, answer (wrong part marked), verdicts, evidence", ratio=1)
    for row in rows:
        table.add_row(_record_cell(row), record_details(row, plain, judge))
    return table


def disagreements_table(report: AuditReport, plain: bool = False, *, topic: str | None = None,
                        judge: str | None = None) -> RenderableType:
    rows = disagreement_records(report, topic=topic, judge=judge)
    if not rows:
        return Text("Disagreements: none", style="bold")
    judges = report.summary.judges
    table = report_table(f"Disagreements ({len(rows)})", plain, show_lines=True)
    table.add_column("record", overflow="fold", max_width=18)
    table.add_column("question", ratio=1)
    for name in judges:
        table.add_column(Text(name), overflow="fold")
    for row in rows:
        by_judge = {v.judge: v for v in row.verdicts}
        cells = [_verdict_cell(by_judge[n]) if n in by_judge else Text("-") for n in judges]
        table.add_row(_record_cell(row), Text(row.question), *cells)
    return table


def categories_table(report: AuditReport, plain: bool = False) -> RenderableType:
    if not report.summary.categories:
        return Text("Errors by category: none", style="bold")
    table = report_table("Consensus errors by category", plain)
    table.add_column("category")
    table.add_column("errors", justify="right")
    for category, count in sorted(report.summary.categories.items(), key=lambda kv: -kv[1]):
        table.add_row(Text(category), str(count))
    return table


def topics_table(report: AuditReport, plain: bool = False) -> Table:
    table = report_table("By topic", plain)
    table.add_column("topic", overflow="fold")
    open_world = not report.summary.closed_world
    columns = ["n", "error"] + (["unverifiable"] if open_world else []) + ["ok", "disputed",
                                                                            "undecided"]
    for column in columns:
        table.add_column(column, justify="right")
    for topic, t in report.summary.topics.items():
        extra = [str(t.unverifiable)] if open_world else []
        table.add_row(Text(topic), str(t.n), str(t.errors), *extra, str(t.ok), str(t.disputed),
                      str(t.undecided))
    return table


def problem_tables(report: AuditReport, plain: bool = False, *,
                   judge: str | None = None) -> list[RenderableType]:
    out: list[RenderableType] = []
    for title, problems in (("Invalid citations", report.invalid_citations),
                            ("Failures", report.failures)):
        problems = [p for p in problems if judge is None or p.judge == judge]
        if not problems:
            out.append(Text(f"{title}: 0", style="bold"))
            continue
        table = report_table(f"{title}: {len(problems)}", plain)
        table.add_column("record", overflow="fold")
        table.add_column("judge", overflow="fold")
        table.add_column("error", ratio=1)
        for p in problems:
            table.add_row(Text(p.record_id), Text(p.judge), Text(p.error))
        out.append(table)
    return out


def suspicious_table(report: AuditReport, plain: bool = False) -> Table:
    table = report_table(f"Suspicious text (prompt-injection-like): {len(report.suspicious)} "
                   "record(s), quoted, never obeyed", plain)
    table.add_column("record", overflow="fold", max_width=18)
    table.add_column("why")
    table.add_column("answer", ratio=1)
    for record_id in report.suspicious:
        row = report.record(record_id)
        table.add_row(Text(row.id), Text(", ".join(row.suspicious)), Text(row.answer))
    return table


def cost_panel(report: AuditReport, plain: bool = False,
               model_calls: int | None = None) -> Panel:
    totals = report.summary.totals
    rows = [
        ("judgments", Text(f"{totals.judgments} ({totals.cache_hits} from the cache)")),
        ("tokens", Text(f"{totals.tokens_in:,} in / {totals.tokens_out:,} out")),
        ("cost", Text(f"${totals.cost_usd:.4f}")),
        ("judge time", Text(f"{totals.latency_s:.1f} s (sum over judgments)")),
    ]
    for name, judge in report.summary.per_judge.items():
        rows.append((name, Text(f"{judge.tokens_in:,} in / {judge.tokens_out:,} out, "
                                f"${judge.cost_usd:.4f}, {judge.cache_hits} cached")))
    if model_calls is not None:
        rows.append(("model calls", Text(f"{model_calls} made by this command")))
    return report_panel(field_grid(rows), "Cost", plain)
