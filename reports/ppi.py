"""Render ``audit estimate``: the whole dataset's error rate by prediction-powered inference.

Every number and sentence comes from ``audit.estimate.EstimateReport``; this module only lays
them out (the PPI++ interval, the gold sample's own, the cheap panel's biased rate, the width
ratio and why).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.text import Text

from reports.layout import plain_output, report_panel, report_table
from reports.terminal import pct

if TYPE_CHECKING:
    from audit.estimate import EstimateReport, RateComparison

_PREDICTION = {"p_error": "their mean P(error)", "consensus": "their majority label"}
_DESIGN = {
    "uniform": "uniform random sample",
    "stratified": "sample stratified by topic",
    "active": "active sample (unequal probabilities, weighted)",
}


def interval_text(estimate: float | None, low: float | None, high: float | None) -> str:
    if estimate is None or low is None or high is None:
        return "n/a"
    return f"{pct(estimate)} [{pct(low)}, {pct(high)}]"


def ppi_text(rate: RateComparison) -> str:
    ppi = rate.ppi
    return "n/a" if ppi is None else interval_text(ppi.estimate, ppi.interval.low, ppi.interval.high)


def gold_only_text(rate: RateComparison) -> str:
    only = rate.gold_only
    return "n/a" if only is None else interval_text(only.estimate, only.low, only.high)


def width_text(rate: RateComparison) -> str:
    ratio = rate.width_ratio
    if ratio is None:
        return "n/a"
    if ratio <= 0.95:
        return f"{1 - ratio:.0%} narrower"
    return "about the same" if ratio < 1.05 else f"{ratio - 1:.0%} wider"


def _header(report: EstimateReport) -> Group:
    conf = f"{report.confidence:.0%}"
    return Group(
        Text(f"Cheap predictions: {', '.join(report.panel)} ({_PREDICTION[report.prediction]}) "
             f"on all {report.population:,} records of run {report.cheap_run_id}"),
        Text(f"Gold labels: {report.gold_judge!r} on {report.gold_labels} of the "
             f"{report.sampled} records of run {report.gold_run_id} "
             f"({_DESIGN[report.design]})"),
        Text(f"Intervals at {conf}; hard = {report.hard_severity} or worse."),
    )


def rates_table(report: EstimateReport, rate: str, plain: bool):
    """One row per stratum (all records first) for the ``inclusive`` or ``hard`` rate."""
    title = ("Inclusive error rate (any error)" if rate == "inclusive"
             else f"Hard error rate ({report.hard_severity} or worse)")
    table = report_table(title, plain)
    for column in ("records", "gold", "PPI++ estimate", "gold labels alone",
                   "cheap panel (biased)", "PPI interval"):
        table.add_column(column, justify="right" if column == "gold" else "left",
                         overflow="fold")
    for stratum in [report.overall, *report.strata]:
        comparison: RateComparison = getattr(stratum, rate)
        table.add_row(Text(f"{stratum.stratum} ({stratum.population:,})"),
                      str(stratum.gold_labels), ppi_text(comparison), gold_only_text(comparison),
                      pct(comparison.cheap_rate), width_text(comparison))
    return table


def render_estimate(report: EstimateReport, console: Console) -> None:
    plain = plain_output(console)
    console.print(report_panel(_header(report), "Error rate of the whole dataset (PPI++)", plain))
    overall = report.overall
    for rate in ("inclusive", "hard"):
        console.print(rates_table(report, rate, plain))
        console.print(Text(f"All records: {getattr(overall, rate).why}.", style="italic"),
                      soft_wrap=True)
    method = overall.inclusive.gold_only.method if overall.inclusive.gold_only else "n/a"
    console.print(Text(f"Gold labels alone: {method}. The cheap panel's own rate is biased by "
                       "its mistakes; the PPI++ estimate corrects it with the gold labels.",
                       style="dim"), soft_wrap=True)
    for note in report.notes:
        console.print(Text(f"note: {note}", style="yellow"), soft_wrap=True)
