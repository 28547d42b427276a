"""``audit``: the command-line layer, thin over the library in ``audit``."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from core.console import db_option, entry_point, err_console, out_console, version_option

dataset_fields = [
    click.option("--question-field", default="question", show_default=True),
    click.option("--answer-field", default="answer", show_default=True),
    click.option("--id-field", default="id", show_default=True),
    click.option("--skip-invalid", is_flag=True, help="Skip invalid records and list them."),
]


policy_option = click.option(
    "--policy", "policy_file", type=click.Path(path_type=Path), default=None,
    help="Gate policy (TOML) whose max_unusable_share decides exit 4; default: policy.toml in "
    "the dataset's folder, else the built-in policy.")


def sources_options(fn):
    """--sources / --no-sources / --sources-complete (see ``audit.run_sources``)."""
    for option in reversed([
        click.option("--sources", type=click.Path(path_type=Path), default=None,
                     help="Folder of source documents to check answers against (required with "
                          "--dataset, unless --no-sources; default: the bundled example's)."),
        click.option("--no-sources", is_flag=True,
                     help="Closed-book: no sources, no retrieval; what cannot be checked is "
                          "unverifiable, never an error."),
        click.option("--sources-complete", is_flag=True,
                     help="The sources are the whole truth: a claim they do not state counts as "
                          "an error (closed world; set for the bundled example's sources)."),
    ]):
        fn = option(fn)
    return fn


def with_dataset_fields(fn):
    for option in reversed(dataset_fields):
        fn = option(fn)
    return fn


def open_store(db_path: str | None):
    from core.store import Store

    return Store(db_path)


@click.group(name="audit", context_settings={"help_option_names": ["-h", "--help"]})
@version_option()
def cli() -> None:
    """Audit synthetic Q&A data with a panel of judges (add --debug for tracebacks)."""


@cli.command()
@click.option("--n", "n", default=40, show_default=True, help="Records to sample.")
@click.option("--seed", default=0, show_default=True)
@click.option("--dataset", type=click.Path(path_type=Path), default=None,
              help="Dataset file or folder (default: the bundled advising example).")
@sources_options
@click.option("--judges", "judges_file", type=click.Path(path_type=Path), default=None,
              help="Judges file (TOML); default: the embedded offline panel (local + rules).")
@click.option("--stratify", type=click.Choice(["topic"]), default=None)
@click.option("--k", "evidence_k", default=4, show_default=True, help="Evidence passages per record.")
@click.option("--hybrid", is_flag=True, help="Add embedding retrieval to BM25.")
@click.option("--until-margin", type=float, default=None,
              help="Stop early once the consensus interval half-width is at most this.")
@click.option("--confidence", default=0.95, show_default=True)
@click.option("--concurrency", default=4, show_default=True)
@click.option("--dry-run", is_flag=True,
              help="Print the requests' tokens and estimated cost; send nothing.")
@click.option("--active", is_flag=True,
              help="Favour records the cheap run's panel is unsure about (a gold sample for "
                   "`audit estimate`); the probabilities are stored with the run.")
@click.option("--cheap", "cheap_run", default=None,
              help="With --active: the run over every record (default: the latest one of "
                   "this dataset).")
@click.option("--floor", type=float, default=0.5, show_default=True,
              help="With --active: share of the sample spread uniformly over all records.")
@policy_option
@with_dataset_fields
@db_option
@click.pass_context
def sample(ctx, db_path, dry_run, policy_file, active, cheap_run, floor, **kwargs) -> None:
    """Judge a seeded random sample of the dataset with every judge of the panel.

    Exit 0: complete; 4: the panel is degraded (a judge failed on more than the policy's
    max_unusable_share of records, or fewer than two judges gave verdicts); 2: usage error.
    """
    from audit.active_sample import audit_active_sample
    from audit.sample import SampleOptions, audit_sample
    from reports.progress import progress_bar

    if cheap_run and not active:
        raise click.UsageError("--cheap only goes with --active")
    options = SampleOptions(**{k: v for k, v in kwargs.items() if v is not None})
    if dry_run:
        if active:
            raise click.UsageError("--dry-run does not draw an active sample; leave out "
                                   "--active (the cost of N records is about the same)")
        show_dry_run(db_path, options, every_record=False, batch=False)
        return
    store = open_store(db_path)
    with progress_bar("judging") as progress:
        if active:
            outcome = audit_active_sample(store, options, cheap_run, floor=floor,
                                          progress=progress, warn=warn_line)
        else:
            outcome = audit_sample(store, options, progress=progress, warn=warn_line)
    report = show_run_summary(store, outcome.run_id, policy_file, model_calls=outcome.model_calls)
    out_console().print(
        f"run {outcome.run_id}: {outcome.new_judgments} new judgments,"
        f" model calls: {outcome.model_calls} new"
        + (" (stopped early: margin reached)" if outcome.stopped_early else "")
    )
    exit_if_degraded(ctx, report)


def warn_line(message: str) -> None:
    err_console().print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True)


def show_run_summary(store, run_id: str, policy_file=None, model_calls: int | None = None):
    """Print the run's report; return it."""
    from reports.terminal import render_run_summary

    report = health_report(store, run_id, policy_file)
    render_run_summary(report, out_console(), model_calls=model_calls)
    return report


def health_report(store, run_id: str, policy_file=None, bootstrap: int = 1000):
    """The run's report, its health judged by the policy's max_unusable_share (``bootstrap=0``
    when only the health is wanted: it does not depend on the agreement intervals)."""
    from audit.gate import run_policy
    from audit.report_data import build_report

    share = run_policy(store, run_id, policy_file).max_unusable_share
    return build_report(store, run_id, max_unusable_share=share, bootstrap=bootstrap)


def exit_if_degraded(ctx, report) -> None:
    """Exit ``EXIT_DEGRADED`` with the headline's words when the run is not a panel result."""
    from audit.health import EXIT_DEGRADED

    if report.health.degraded:
        err_console().print(f"[red]not a panel result:[/red] {escape(report.health.words)} "
                            f"(exit {EXIT_DEGRADED})", soft_wrap=True)
        ctx.exit(EXIT_DEGRADED)


@cli.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@with_dataset_fields
@click.pass_context
def lint(ctx, dataset, as_json, question_field, answer_field, id_field, skip_invalid) -> None:
    """Cheap structural checks (no judges). Passing lint says nothing about facts.

    Exit 0 when no checked record has an error (records left out by --skip-invalid are named
    in a line of their own), 1 when one has, 2 when the file cannot be read.
    """
    from audit.lint import lint_dataset
    from core.datasets import load_dataset
    from reports.lint import render_lint

    loaded = load_dataset(dataset, question_field=question_field, answer_field=answer_field,
                          id_field=id_field, skip_invalid=skip_invalid)
    report = lint_dataset(loaded)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    else:
        render_lint(report, out_console())
    ctx.exit(report.exit_code)


@cli.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write every claim (.csv or .jsonl) with its record id, sentence, markers "
                   "and conflicts.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures and findings as JSON.")
@with_dataset_fields
def claims(dataset, out, as_json, question_field, answer_field, id_field, skip_invalid) -> None:
    """Checks without sources: checkable claims, conflicts between records, unverified
    specifics. None of them is a judge's error (no model is called)."""
    import json

    from audit.specifics import check_specifics, claim_rows, write_claims
    from core.datasets import load_dataset
    from reports.claims import render_specifics

    loaded = load_dataset(dataset, question_field=question_field, answer_field=answer_field,
                          id_field=id_field, skip_invalid=skip_invalid)
    report = check_specifics(loaded.records)
    if out is not None:
        write_claims(report, out)
    if as_json:
        click.echo(json.dumps({"dataset": str(dataset), **report.summary(),
                               "conflict_list": [c.row() for c in report.conflicts],
                               "unverified": [r for r in claim_rows(report) if r["unverified"]]},
                              indent=2, ensure_ascii=False))
        return
    render_specifics(report, out_console(), dataset=str(dataset))
    if out is not None:
        out_console().print(f"wrote {len(report.claims.claims)} claims to {out}", markup=False)


@cli.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--policy", "policy_file", type=click.Path(path_type=Path), default=None,
              help="Gate policy (TOML) with critical_topics and topic_keywords; default: "
              "policy.toml in the dataset's folder, else the built-in policy.")
@click.option("--json", "as_json", is_flag=True, help="Print one assignment per record as JSON.")
@with_dataset_fields
def topics(dataset, policy_file, as_json, question_field, answer_field, id_field,
           skip_invalid) -> None:
    """The topic each record is read under by the gate: its own, or one given by the policy's
    keywords (whole words of the question), and how."""
    import json

    from audit.gate import find_policy
    from audit.topics import assign_topics
    from core.datasets import load_dataset
    from reports.claims import render_topics

    policy = find_policy(policy_file, dataset)
    loaded = load_dataset(dataset, question_field=question_field, answer_field=answer_field,
                          id_field=id_field, skip_invalid=skip_invalid)
    assigned = assign_topics(loaded.records, policy.critical_topics, policy.topic_keywords,
                             min_similarity=policy.topic_min_similarity)
    if as_json:
        click.echo(json.dumps([{"record_id": a.record_id, "topic": a.topic, "how": a.how,
                                "matched": list(a.matched), "score": a.score}
                               for a in assigned], indent=2))
        return
    render_topics(assigned, out_console(), critical=policy.critical_topics)


@cli.command()
@click.option("--margin", type=float, required=True, help="Wanted interval half-width, e.g. 0.05.")
@click.option("--expected", type=float, default=0.3, show_default=True,
              help="Expected error rate.")
@click.option("--population", type=int, default=None, help="Dataset size (finite-population correction).")
@click.option("--confidence", default=0.95, show_default=True)
def plan(margin, expected, population, confidence) -> None:
    """How many records an interval of a given width needs."""
    from audit.stats import sample_size_for_margin

    n = sample_size_for_margin(margin, expected, confidence=confidence, population=population)
    scope = f" of {population:,}" if population else ""
    out_console().print(
        f"Sample [bold]{n}[/bold] records{scope} for a ±{margin:.1%} interval at "
        f"{confidence:.0%} confidence around an expected error rate of {expected:.0%}."
    )


@cli.command()
@click.argument("run_id", required=False)
@click.option("--name", "judge", default="human", show_default=True, help="Your judge name.")
@db_option
def review(run_id, judge, db_path) -> None:
    """Review a run's sampled records yourself, as one more judge (stop and resume freely)."""
    from rich.markup import escape
    from rich.prompt import Prompt

    from audit.review import pending_items, review_loop
    from audit.sample import run_evidence
    from audit.specifics import run_specifics
    from core.runs import open_run
    from reports.review import show_item

    store = open_store(db_path)
    run = open_run(store, run_id)
    run_id = run.id
    items = pending_items(store, run_id, judge, run_evidence(store, run_id))
    console = out_console()
    if not items:
        console.print(f"nothing left to review in {run_id} for {judge!r}")
        return
    specifics = run_specifics(run.audit, only={item.record.id for item in items})
    try:
        saved = review_loop(store, run_id, judge, items, ask=lambda q: Prompt.ask(escape(q), default=""),
                            show=lambda item: show_item(item, console, specifics),
                            say=console.print)
    except EOFError:
        saved = None
    console.print(f"review saved in {run_id}; re-run `audit review {run_id}` to continue"
                  + (f" ({saved} this session)" if saved is not None else ""))


@cli.command()
@click.argument("run_id", required=False)
@click.option("--policy", "policy_file", type=click.Path(path_type=Path), default=None,
              help="Gate policy (TOML); default: policy.toml in the checked dataset's folder, "
              "else the built-in policy (see --show-policy).")
@click.option("--dataset", type=click.Path(path_type=Path), default=None,
              help="Dataset to check against the audit (default: the audited path).")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON (for CI).")
@click.option("--show-policy", is_flag=True, help="Print the policy in force and exit.")
@click.option("--cheap", "cheap_run", default=None,
              help='With rate_source = "ppi": the run over every record (default: the latest).')
@db_option
@click.pass_context
def gate(ctx, run_id, policy_file, dataset, as_json, show_policy, cheap_run, db_path) -> None:
    """Pass / fail / inconclusive for an audit run: exit 0 pass, 1 fail, 3 inconclusive."""
    from audit.gate import EXIT_CODES, evaluate_gate, run_policy
    from reports.gate import render_decision, render_policy

    store = open_store(db_path)
    policy = run_policy(store, run_id, policy_file, dataset)
    if show_policy:
        render_policy(policy, out_console())
        return
    decision = evaluate_gate(store, run_id, dataset, policy, cheap_run)
    if as_json:
        click.echo(decision.model_dump_json(indent=2))
    else:
        render_decision(decision, out_console())
    ctx.exit(EXIT_CODES[decision.status])


@cli.command(name="import-labels")
@click.argument("labels_file", type=click.Path(path_type=Path))
@click.option("--name", "judge", required=True, help="The judge the labels are stored as, e.g. truth.")
@click.option("--run", "run_id", default=None, help="Run whose records they label (default: the latest).")
@db_option
def import_labels_command(labels_file, judge, run_id, db_path) -> None:
    """Store gold labels from a CSV or JSONL file (id, label error/ok, optional severity,
    category, note) as a human judge of a run; a file with a bad row stores nothing."""
    from audit.label_import import import_labels

    outcome = import_labels(open_store(db_path), labels_file, judge, run_id)
    replaced = f" ({outcome.replaced} replaced earlier labels)" if outcome.replaced else ""
    out_console().print(f"imported {outcome.imported} labels ({outcome.errors} errors) from "
                        f"{outcome.path} into {outcome.run_id} as {outcome.judge!r}{replaced}",
                        markup=False)


@cli.command()
@click.argument("run_id", required=False)
@click.option("--cheap", "cheap_run", default=None,
              help="Run over every record whose judges predict (default: the latest "
                   "`audit run --all` of the same dataset).")
@click.option("--gold", "gold_judge", default=None,
              help="Judge whose labels are gold (default: RUN_ID's one reviewer or imported judge).")
@click.option("--by", type=click.Choice(["topic"]), default=None, help="Also per topic.")
@click.option("--prediction", type=click.Choice(["p_error", "consensus"]), default="p_error",
              show_default=True, help="The panel's mean P(error), or its majority label.")
@click.option("--confidence", default=0.95, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as JSON.")
@db_option
def estimate(run_id, cheap_run, gold_judge, by, prediction, confidence, as_json, db_path) -> None:
    """The error rate of the whole dataset: cheap judges on every record, corrected by the
    gold labels of RUN_ID (default: the latest run) — prediction-powered inference (PPI++)."""
    from audit.estimate import estimate_error_rate
    from reports.ppi import render_estimate

    report = estimate_error_rate(open_store(db_path), run_id, cheap_run_id=cheap_run,
                                 gold_judge=gold_judge, prediction=prediction, by=by,
                                 confidence=confidence)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    else:
        render_estimate(report, out_console())


@cli.command(name="filter")
@click.argument("run_id", required=False)
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--dataset", type=click.Path(path_type=Path), default=None)
@click.option("--drop", type=click.Choice(["errors", "unverifiable"]), multiple=True,
              default=("errors",), show_default=True,
              help="Consensus outcome to remove; repeat for both (--drop errors --drop "
                   "unverifiable). Unverifiable: the evidence neither supports nor contradicts "
                   "the answer (open-world runs only).")
@db_option
def filter_(run_id, out, dataset, drop, db_path) -> None:
    """Write the dataset minus the records whose consensus --drop names (default: errors)."""
    from audit.filtering import filter_dataset

    result = filter_dataset(open_store(db_path), run_id, out, dataset, drop=tuple(drop))
    console = out_console()
    console.print(f"wrote {result.kept} records to {result.out} ({result.rows} rows of the file, "
                  f"its own fields); removed {len(result.removed)} "
                  f"({' and '.join(result.dropped)}):", markup=False)
    for record_id in result.removed:
        console.print(f"  - {record_id}", markup=False)
    if result.with_removed:
        console.print(f"left out {len(result.with_removed)} more: answers of a conversation with a "
                      f"removed one: {', '.join(result.with_removed)}", markup=False)
    if result.disputed:
        console.print(f"kept {len(result.disputed)} disputed records: {', '.join(result.disputed)}",
                      markup=False)
    if result.unverifiable_kept:
        console.print(f"kept {len(result.unverifiable_kept)} unverifiable records (add --drop "
                      f"unverifiable to remove them): {', '.join(result.unverifiable_kept)}",
                      markup=False)
    if result.unjudged:
        console.print(f"kept {result.unjudged} records outside the audited sample: they were not "
                      "judged; re-audit the result.", markup=False)


@cli.command(name="runs")
@db_option
def runs(db_path) -> None:
    """List stored audit runs."""
    from core.runs import list_runs
    from reports.terminal import render_runs

    render_runs(list_runs(open_store(db_path)), out_console())


# -- large audits: every record, optionally through the providers' batch services ---------


def show_dry_run(db_path, options, *, every_record: bool, batch: bool) -> None:
    """Print what a run would send (per judge: requests, tokens, USD); write the requests."""
    from audit.run_all import estimate_run, prepare
    from core.store import default_db_path
    from reports.estimate import render_estimate

    prepared = prepare(options, every_record=every_record, warn=warn_line)
    path = Path(db_path) if db_path else default_db_path()
    store = open_store(db_path) if path.exists() else None
    out = path.parent / "dry-run" / f"{prepared.plan.run_id}.jsonl"
    estimate = estimate_run(prepared, batch=batch, store=store, requests_out=out)
    mode = "batch (50% price)" if batch else "interactive"
    render_estimate(estimate, out_console(), requests_path=out,
                    header=f"dry run of {prepared.plan.run_id}: {len(prepared.records)} records, "
                           f"{mode}; nothing was sent",
                    free=[s.name for s in prepared.plan.judges if s.name not in estimate.per_judge])


@cli.command(name="run")
@click.option("--all", "every_record", is_flag=True, help="Judge every record (required).")
@click.option("--batch", is_flag=True,
              help="Send openai/gemini judges through the providers' batch services (50% price).")
@click.option("--dry-run", is_flag=True,
              help="Print the requests' tokens and estimated cost; send nothing.")
@click.option("--wait/--no-wait", default=False, show_default=True,
              help="With --batch: poll until every job is over (else collect later).")
@click.option("--poll-interval", default=60.0, show_default=True, help="Seconds between polls.")
@click.option("--max-per-job", type=int, default=None, help="Requests per batch job.")
@click.option("--dataset", type=click.Path(path_type=Path), default=None,
              help="Dataset file or folder (default: the bundled advising example).")
@sources_options
@click.option("--judges", "judges_file", type=click.Path(path_type=Path), default=None,
              help="Judges file (TOML); default: the embedded offline panel (local + rules).")
@click.option("--k", "evidence_k", default=4, show_default=True, help="Evidence passages per record.")
@click.option("--hybrid", is_flag=True, help="Add embedding retrieval to BM25.")
@click.option("--concurrency", default=4, show_default=True,
              help="Interactive requests in flight at once.")
@policy_option
@with_dataset_fields
@db_option
@click.pass_context
def run(ctx, db_path, every_record, batch, dry_run, wait, poll_interval, max_per_job, policy_file,
        **kwargs) -> None:
    """Audit every record (not a sample); --batch uses the providers' batch services.

    Exit codes as for `audit sample` (4: the panel is degraded), once every job is collected.
    """
    import asyncio

    from audit.run_all import RunAllOptions, run_all
    from reports.progress import progress_bar

    if not every_record:
        raise click.UsageError("`audit run` judges every record: add --all "
                               "(for a sample, use `audit sample --n N`)")
    options = RunAllOptions(**{k: v for k, v in kwargs.items() if v is not None},
                            batch=batch, max_per_job=max_per_job)
    if dry_run:
        show_dry_run(db_path, options, every_record=True, batch=batch)
        return
    store = open_store(db_path)
    with progress_bar("judging") as progress:
        outcome = asyncio.run(run_all(store, options, wait=wait, poll_s=poll_interval,
                                      progress=progress, warn=warn_line))
    show_collect(outcome)
    if outcome.done:
        exit_if_degraded(ctx, health_report(store, outcome.run_id, policy_file, bootstrap=0))


@cli.command()
@click.argument("run_id", required=False)
@click.option("--wait/--no-wait", default=False, show_default=True,
              help="Poll until every job is over.")
@click.option("--poll-interval", default=60.0, show_default=True, help="Seconds between polls.")
@db_option
def collect(run_id, wait, poll_interval, db_path) -> None:
    """Pick up the batch results of a run (after a crash, or a day later)."""
    import asyncio

    from audit.run_all import collect_run
    from core.runs import open_run

    store = open_store(db_path)
    run_id = open_run(store, run_id).id
    show_collect(asyncio.run(collect_run(store, run_id, wait=wait, poll_s=poll_interval)))


def show_collect(outcome) -> None:
    console = out_console()
    resubmitted = f", {outcome.resubmitted} re-submitted" if outcome.batched else ""
    console.print(f"run {outcome.run_id}: {outcome.new_judgments} new judgments, "
                  f"{outcome.failed} failed{resubmitted}", markup=False)
    if outcome.pending_jobs:
        console.print(f"{len(outcome.pending_jobs)} batch job(s) still running: "
                      f"{', '.join(outcome.pending_jobs)}; run `audit collect {outcome.run_id}` "
                      "later (add --wait to poll)", markup=False)
    elif outcome.batched:
        console.print("all batch jobs collected", markup=False)


main = entry_point(cli)

__all__ = ["cli", "main", "err_console"]
