"""``finetune``: QLoRA training behind the audit gate, handoff bundles, evaluation."""

from __future__ import annotations

import time
from pathlib import Path

import click

from core.console import db_option, entry_point, err_console, out_console, version_option

_STARTED = time.monotonic()  # the wall-clock budget counts from process start


@click.group(name="finetune", context_settings={"help_option_names": ["-h", "--help"]})
@version_option()
def cli() -> None:
    """Fine-tune on audited data (add --debug for tracebacks).

    train, resume and eval need the local and train extras: pip install -e '.[local,train]'.
    """


@cli.command()
@click.option("--model", required=True, help="Model folder or its config.json (weights unread).")
@click.option("--r", "r", default=16, show_default=True, help="LoRA rank.")
@click.option("--targets", default="all-linear", show_default=True,
              help="all-linear or a comma list: q,k,v,o,gate,up,down.")
@click.option("--seq", default=2048, show_default=True, help="Tokens per record (max).")
@click.option("--micro-batch", default=1, show_default=True, help="Records per micro-batch.")
@click.option("--gpu", default="T4", show_default=True,
              type=click.Choice(["T4", "A100", "H100", "P100", "L4"], case_sensitive=False))
@click.option("--session-hours", default=9.0, show_default=True)
@click.option("--epochs", default=3.0, show_default=True)
@click.option("--records", default=1000, show_default=True, help="Records in the dataset.")
@click.option("--tokens-per-record", default=256, show_default=True,
              help="Mean tokens per record (question + answer + template).")
@click.option("--liger", is_flag=True,
              help="Fused cross-entropy (no full-vocab logits), which finetune train uses by "
                   "default on a GPU with liger-kernel installed: plan such a run with it.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(model, r, targets, seq, micro_batch, gpu, session_hours, epochs, records,
         tokens_per_record, liger, as_json) -> None:
    """Size a QLoRA run from the model's config.json: parameters, VRAM, time, sessions."""
    import json

    from finetune.plan import build_plan

    result = build_plan(model, r=r, targets=targets, seq=seq, micro_batch=micro_batch, gpu=gpu,
                        session_hours=session_hours, epochs=epochs, records=records,
                        tokens_per_record=tokens_per_record, liger=liger)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    _print_plan(result)


def _print_plan(result) -> None:
    from rich.table import Table

    console = out_console()
    table = Table(title=f"QLoRA plan: {result.model.name}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("trainable adapter parameters", f"{result.trainable_params:,}")
    table.add_row("LoRA", f"r={result.r} on {', '.join(result.targets)} "
                          f"x {result.model.layers} layers")
    table.add_row("adapter size on disk", f"{result.adapter_bytes / 1024**2:,.1f} MiB")
    fits = "fits" if result.peak_vram_gib <= result.gpu.memory_gib else "does NOT fit"
    table.add_row(f"peak VRAM (seq {result.seq} x {result.micro_batch})",
                  f"~{result.peak_vram_gib:.1f} GiB ({fits} in {result.gpu.name})")
    for part, gib in result.vram_parts_gib.items():
        table.add_row(f"  {part}", f"{gib:.2f} GiB")
    table.add_row("tokens per epoch", f"{result.tokens_per_epoch:,}")
    table.add_row(f"time per epoch on {result.gpu.name}", f"~{result.epoch_hours:.2f} h")
    table.add_row("whole run", f"~{result.total_hours:.2f} h")
    table.add_row(f"GPU sessions of {result.session_hours:g} h", str(result.sessions))
    console.print(table)
    console.print("[bold]assumptions[/bold]")
    for line in result.assumptions:
        console.print(f"  - {line}")


_train_options = [
    click.option("--epochs", type=float, default=None, help="Epochs (default 3)."),
    click.option("--lr", type=float, default=None, help="Peak learning rate (default 2e-4)."),
    click.option("--batch-size", type=int, default=None,
                 help="Records per micro-batch, packed without padding (default 4; with "
                      "neither size given, a GPU with varlen attention takes the 16-record "
                      "step in as few micro-batches as fit)."),
    click.option("--grad-accum", type=int, default=None, help="Micro-batches per step (4)."),
    click.option("--seq", type=int, default=None, help="Max tokens per record (2048)."),
    click.option("--max-steps", type=int, default=None, help="Cap on the run's steps."),
    click.option("--r", "r", type=int, default=None, help="LoRA rank (16)."),
    click.option("--targets", default=None, help="all-linear (default) or q,k,v,o,..."),
    click.option("--seed", type=int, default=None, help="Seed of sample order and LoRA init."),
    click.option("--save-optimizer", is_flag=True, default=False,
                 help="Put the optimizer state in every bundle (exact resume of Adam moments)."),
    click.option("--no-packing", is_flag=True, default=False, help="Pad instead of packing."),
    click.option("--liger/--no-liger", default=None,
                 help="Fused linear cross-entropy (default: on where it runs, a GPU with the "
                      "liger extra: pip install -e '.[liger]'; --liger requires it)."),
]

_session_options = [
    click.option("--budget", default="9h", show_default=True,
                 help="Wall-clock budget of this session: 9h, 1h30m, 45m."),
    click.option("--save-every", type=int, default=None, help="Also hand off every K steps."),
    click.option("--session-steps", type=int, default=None,
                 help="Hand off and stop after this many steps in this session."),
    click.option("--no-progress", is_flag=True, help="No progress bar."),
]


def _with(options):
    def decorate(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


@cli.command()
@click.option("--model", required=True, help="Base model: HF folder or 'gemma-3-270m'.")
@click.option("--data", "data", required=True, type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Run folder.")
@click.option("--audit", "audit_run", default=None, help="Audit run id (default: the latest).")
@click.option("--override-gate", default=None, metavar="REASON",
              help="Train although the gate did not pass; the reason is recorded.")
@_with(_session_options)
@_with(_train_options)
@db_option
def train(model, data, out, audit_run, override_gate, budget, save_every, session_steps,
          no_progress, no_packing, db_path, **overrides) -> None:
    """Train a QLoRA adapter; refuses unless the audit gate passes (or is overridden)."""
    from core.errors import GateFailed
    from core.store import Store
    from finetune.config import TrainConfig, parse_budget
    from finetune.gate import gate_for_training
    from reports.gate import refusal_panel

    budget_s = parse_budget(budget)
    try:
        gate = gate_for_training(Store(db_path), audit_run, data, override_gate)
    except GateFailed as exc:
        err_console().print(refusal_panel(exc.decision))
        raise click.exceptions.Exit(1) from exc
    if gate.overridden and gate.decision is not None:
        err_console().print(f"[yellow]gate {gate.decision.status} overridden:[/yellow] "
                            f"{gate.override_reason}")
    # Options left out are None (TrainConfig's default decides); --save-optimizer's False is
    # TrainConfig's default, so keeping it changes nothing.
    values = {k: v for k, v in overrides.items() if v is not None}
    if no_packing:
        values["packing"] = False
    config = _validated_config(TrainConfig, values)
    from finetune.training import SessionSpec

    spec = SessionSpec(model_dir=_model_dir(model), data_path=data, out=out, config=config,
                       gate=gate, budget_s=budget_s, started=_STARTED, save_every=save_every,
                       session_steps=session_steps, progress=not no_progress, run_name=out.name,
                       auto_micro_batch="batch_size" not in values and "grad_accum" not in values)
    _run(spec)


@cli.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--model", required=True, help="The same base model the run started with.")
@click.option("--data", "data", required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Run folder (default: the bundle's parent folder).")
@_with(_session_options)
def resume(bundle, model, data, out, budget, save_every, session_steps, no_progress) -> None:
    """Continue a run from a handoff bundle (folder or .tar.gz) at its exact sample cursor."""
    from finetune.config import TrainConfig, parse_budget
    from finetune.distributed import ranks
    from finetune.handoff import open_bundle

    budget_s = parse_budget(budget)
    out = out or bundle.resolve().parent
    rank = ranks().rank  # under accelerate launch each process unpacks its own copy
    folder, manifest = open_bundle(bundle, out / (f".incoming-{rank}" if rank else ".incoming"))
    from finetune.training import SessionSpec

    spec = SessionSpec(model_dir=_model_dir(model), data_path=data, out=out,
                       config=TrainConfig.model_validate(manifest.config), gate=manifest.gate,
                       budget_s=budget_s, started=_STARTED, save_every=save_every,
                       session_steps=session_steps, resume=(folder, manifest),
                       progress=not no_progress, run_name=manifest.run_name)
    err_console().print(f"resuming {manifest.run_name} after step {manifest.global_step}/"
                        f"{manifest.total_steps} at epoch {manifest.cursor.epoch}, "
                        f"sample {manifest.cursor.index}")
    _run(spec)


def _validated_config(cls, values):
    from pydantic import ValidationError

    from core.errors import ConfigError

    try:
        return cls(**values)
    except ValidationError as exc:
        problem = exc.errors()[0]
        name = "--" + str(problem["loc"][0]).replace("_", "-") if problem["loc"] else "option"
        raise ConfigError(f"{name}: {problem['msg']}") from exc


def _require_training(liger: bool | None = False) -> None:
    """One line naming the extra to install, before any heavy import fails."""
    from core.extras import require

    require("local", "finetune")
    require("train", "finetune")
    if liger:
        require("liger", "finetune train --liger")


def _model_dir(model: str) -> Path:
    from core.local_model import resolve_model_dir

    return resolve_model_dir(model)


def _run(spec) -> None:
    from finetune.distributed import close_process_group, ranks
    from finetune.training import run_session

    _require_training(liger=spec.config.liger)

    finished = False
    try:
        result = run_session(spec)
        finished = True
    finally:
        close_process_group(finished)
    if not ranks().main:
        return
    console = out_console()
    last = result.steps[-1] if result.steps else None
    loss = f", last loss {last.loss:.4f}" if last else ""
    console.print(f"steps {result.first_step}-{result.last_step} of {result.total_steps} "
                  f"({result.stop_reason}{loss}); chat template: {result.template_source}; "
                  f"attention: {result.attention}; fused cross-entropy: "
                  f"{'liger' if result.liger else 'off'}")
    if result.bundles:
        console.print(f"latest handoff bundle: {result.bundles[-1]}")
    if not result.complete:
        console.print(f"continue with: finetune resume {result.bundles[-1]} --model ... "
                      "--data ... --budget ...")



@cli.command(name="eval")
@click.option("--model", required=True, help="Base model: HF folder or 'gemma-3-270m'.")
@click.option("--adapter", required=True, type=click.Path(path_type=Path),
              help="Handoff bundle (folder or .tar.gz) or a run folder (its latest bundle).")
@click.option("--prompts", required=True, type=click.Path(path_type=Path),
              help="Held-out prompts with reference answers (JSONL like the training data).")
@click.option("--sources", type=click.Path(path_type=Path), default=None,
              help="Source documents (default: the training audit's).")
@click.option("--train", type=click.Path(path_type=Path), default=None,
              help="Training data, for tracing errors (default: the training audit's).")
@click.option("--audit", "audit_run", default=None, help="The training data's audit run id.")
@click.option("--judges", "judges_file", type=click.Path(path_type=Path), default=None,
              help="Judges file for the answer audit (default: the training audit's panel).")
@click.option("--judge-provider", default="local", show_default=True,
              type=click.Choice(["local", "openai", "gemini"]), help="Preference judge.")
@click.option("--judge-model", default="gemma-3-270m", show_default=True)
@click.option("--judge-base-url", default=None, help="OpenAI-compatible server URL.")
@click.option("--max-new-tokens", default=128, show_default=True)
@click.option("--batch-size", default=8, show_default=True, help="Prompts per generate call.")
@click.option("--html", "html_path", type=click.Path(path_type=Path), default=None,
              help="Also write a self-contained HTML page here.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None,
              help="Also write the result as JSON here.")
@db_option
def eval_command(model, adapter, prompts, sources, train, audit_run, judges_file, judge_provider,
                 judge_model, judge_base_url, max_new_tokens, batch_size, html_path, json_path,
                 db_path) -> None:
    """Compare the base and the tuned model, blind, and trace the tuned model's new errors."""
    from audit.panel import load_judges_file
    from core.store import Store
    from finetune.evaluate import EvalSpec, run_eval, write_json
    from reports.propagation import eval_html_page, render_eval

    _require_training()
    params = {"base_url": judge_base_url} if judge_base_url else {}
    spec = EvalSpec(model_dir=_model_dir(model), adapter=adapter, prompts=prompts,
                    sources=sources, train=train, audit_run_id=audit_run,
                    judges=load_judges_file(judges_file) if judges_file else None,
                    preference_provider=judge_provider, preference_model=judge_model,
                    preference_params=params, max_new_tokens=max_new_tokens,
                    batch_size=batch_size)
    progress = err_console()
    result = run_eval(spec, Store(db_path), progress=lambda m: progress.print(f"[dim]{m}[/dim]"))
    render_eval(result, out_console())
    if json_path:
        write_json(result, json_path)
    if html_path:
        html_path.write_text(eval_html_page(result), encoding="utf-8")
        out_console().print(f"HTML report: {html_path}")


main = entry_point(cli)
