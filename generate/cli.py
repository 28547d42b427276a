"""``generate``: synthetic Q&A generation and error planting."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from core.console import db_option, entry_point, out_console, version_option


@click.group(name="generate", context_settings={"help_option_names": ["-h", "--help"]})
@version_option()
def cli() -> None:
    """Generate synthetic Q&A from source documents (add --debug for tracebacks)."""


@cli.command()
@click.option("--sources", type=click.Path(path_type=Path), required=True,
              help="Folder of source documents (md, txt, html, pdf).")
@click.option("--n", "n", type=int, required=True, help="Records to write.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Output JSONL (appended to; a re-run resumes it).")
@click.option("--teacher", "teacher_file", type=click.Path(path_type=Path), default=None,
              help="Teacher file (TOML, one [teacher] table like a judge).")
@click.option("--provider", default="local", show_default=True,
              type=click.Choice(["local", "openai", "gemini"]))
@click.option("--model", default="", help="Model name (default: the packaged local model).")
@click.option("--base-url", default=None, help="OpenAI-compatible server URL.")
@click.option("--fold-system", is_flag=True,
              help="Merge system prompts into the user turn (servers without a system role).")
@click.option("--template", type=click.Path(path_type=Path), default=None,
              help="Prompt template file (default: generate/templates/qa_json.txt or qa_plain.txt).")
@click.option("--seed", default=0, show_default=True, help="Same seed, same requests.")
@click.option("--temperature", type=float, default=None, help="First attempt's (default 0).")
@click.option("--attempts", default=3, show_default=True, help="Tries per record.")
@click.option("--concurrency", default=2, show_default=True)
@click.option("--duplicates", type=click.Choice(["skip", "report"]), default="skip",
              show_default=True, help="Skip near-duplicate questions, or write them marked.")
@click.option("--batch", is_flag=True,
              help="Send the requests through the provider's batch service (openai, gemini; "
                   "50% price); run the command again to collect.")
@click.option("--wait/--no-wait", default=False, show_default=True,
              help="With --batch: poll until every job is over.")
@click.option("--poll-interval", default=60.0, show_default=True, help="Seconds between polls.")
@click.option("--max-per-job", type=int, default=None, help="Requests per batch job.")
@click.option("--dry-run", is_flag=True,
              help="Print the requests' tokens and estimated cost; send nothing.")
@db_option
def qa(sources, n, out, teacher_file, provider, model, base_url, fold_system, template, seed,
       temperature, attempts, concurrency, duplicates, batch, wait, poll_interval, max_per_job,
       dry_run, db_path) -> int | None:
    """Write N grounded question/answer records with provenance (resumable); 1 when short."""
    from core.models import JudgeSpec
    from core.providers.factory import make_provider
    from core.store import Store
    from generate.qa import GenerateOptions
    from generate.teacher import generation_params, load_teacher
    from reports.progress import progress_bar

    name, model, params = load_teacher(teacher_file, provider, model, base_url, fold_system)
    request_params = generation_params(params)
    if temperature is not None:
        request_params["temperature"] = temperature
    options = GenerateOptions(sources=sources, n=n, out=out, seed=seed, template=template,
                              attempts=attempts, concurrency=concurrency,
                              skip_duplicates=duplicates == "skip", **request_params)
    spec = JudgeSpec(name="teacher", provider=name, model=model, params=params)
    if dry_run:
        _dry_run(spec, options, batch, db_path)
        return None
    teacher = make_provider(name, model, params)
    with progress_bar("generating") as progress:
        if batch:
            from generate.batch import generate_batch, wait_note

            batched = asyncio.run(generate_batch(
                Store(db_path), teacher, spec, options, wait=wait, poll_s=poll_interval,
                max_per_job=max_per_job, progress=progress))
            outcome = batched.generation
        else:
            outcome = asyncio.run(_generate(Store(db_path), teacher, options, progress))
    console = out_console()
    if batch:
        console.print(f"{batched.submitted} requests submitted; {wait_note(batched)}")
        if batched.pending_jobs:
            return None
    console.print(
        f"[bold]{outcome.written}[/bold] new records written to {out}"
        f" ({outcome.kept} kept from an earlier run, {outcome.total} of {n});"
        f" {len(outcome.failed)} slots failed, {len(outcome.duplicates)} near-duplicates"
        f" {'skipped' if options.skip_duplicates else 'written, marked'};"
        f" {outcome.calls} model calls, tokens {outcome.tokens_in:,} in /"
        f" {outcome.tokens_out:,} out, cost ${outcome.cost_usd:.4f}; run {outcome.run_id}"
    )
    for slot, twin in outcome.duplicates:
        console.print(f"  near-duplicate: {slot} repeats {twin}")
    if outcome.total < n:
        console.print(f"[yellow]only {outcome.total} of {n} records: the teacher's output was"
                      " invalid too often; see the failed slots with this run id, or raise"
                      " --attempts / use a stronger teacher[/yellow]")
        return 1
    return None


def _dry_run(spec, options, batch: bool, db_path) -> None:
    from core.store import Store, default_db_path
    from generate.batch import estimate_generation
    from reports.estimate import render_estimate

    path = Path(db_path) if db_path else default_db_path()
    store = Store(path) if path.exists() else None
    estimate, rows = estimate_generation(spec, options, batch=batch, store=store)
    requests_out = path.parent / "dry-run" / f"generate-{options.out.stem}-seed{options.seed}.jsonl"
    requests_out.parent.mkdir(parents=True, exist_ok=True)
    requests_out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                            encoding="utf-8")
    mode = "batch (50% price)" if batch else "interactive"
    render_estimate(estimate, out_console(), requests_path=requests_out,
                    header=f"dry run of generate qa: {len(rows)} first requests for {options.n} "
                           f"records, {mode}; retries and spare slots not counted; nothing was sent")


async def _generate(store, teacher, options, progress):
    from generate.qa import generate_qa

    try:
        return await generate_qa(store, teacher, options, progress)
    finally:
        close = getattr(teacher, "aclose", None)
        if close is not None:
            await close()


@cli.command()
@click.option("--in", "in_path", type=click.Path(path_type=Path), required=True)
@click.option("--rate", type=float, required=True, help="Share of answers to make wrong.")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--labels", type=click.Path(path_type=Path), required=True,
              help="Where the truth labels go (never give these to a judge).")
@click.option("--seed", default=0, show_default=True)
def plant(in_path, rate, out, labels, seed) -> None:
    """Make a controlled share of answers wrong, with truth labels written separately."""
    from core.datasets import load_dataset, write_jsonl
    from generate.plant import plant_errors

    dataset = load_dataset(in_path)
    records, truth = plant_errors(dataset.records, rate, seed)
    write_jsonl(records, out)
    labels.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in truth), encoding="utf-8")
    kinds: dict[str, int] = {}
    for t in truth:
        if t.kind:
            kinds[t.kind] = kinds.get(t.kind, 0) + 1
    out_console().print(
        f"planted {sum(kinds.values())} errors in {len(records)} records → {out}; labels → {labels}"
        f" ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})"
    )


main = entry_point(cli)
