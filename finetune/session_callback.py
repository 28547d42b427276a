"""The TrainerCallback of a session: step log, progress bar, budget, handoff bundles.

Imported only once training starts (it imports transformers at module level).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from transformers import TrainerCallback

from core.console import out_console
from core.models import utcnow
from finetune import handoff as hb
from finetune.distributed import agree, gather, interleave, ranks
from finetune.handoff import HandoffManifest, SchedulerState, SessionInfo, StepLog
from finetune.sampler import cursor_at
from finetune.session_state import SessionPlan, SessionProgress
from finetune.training import (
    library_versions,
    peak_memory,
    save_optimizer,
    schedule_lambda,
    should_hand_off,
    warmup_steps,
)

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

RUN_MANIFEST = "run.json"
STOPS = (None, "every_k", "session_steps", "budget")  # what the ranks agree on: the largest


class SessionCallback(TrainerCallback):
    """Logs each step into ``progress``, decides when the session hands off, writes bundles."""

    def __init__(self, plan: SessionPlan, progress: SessionProgress) -> None:
        self.plan = plan
        self.progress = progress
        self.optimizer_restored: bool | None = None
        self.slowest_step = 0.0
        self.slowest_save: float | None = None
        self.bar: Progress | None = None
        self._task: TaskID | None = None
        self.main = ranks().main
        self.peaks: list[float | None] = []  # each process's peak GPU memory
        self._reset_step()

    # -- per micro-batch (called by the trainer's training_step) -----------------------

    def _reset_step(self) -> None:
        self._batches: list[tuple[int, list[int]]] = []  # (place in the step, records)
        self._loss = None
        self._tokens = 0
        self._lr = 0.0
        self._t0 = time.perf_counter()

    @property
    def micro_batches(self) -> int:
        """Micro-batches this process has run in the current step."""
        return len(self._batches)

    def add_micro_batch(self, place: int, ids: list[int], loss, tokens: int) -> None:
        self._batches.append((place, ids))
        loss = loss.detach().float()
        self._loss = loss if self._loss is None else self._loss + loss
        self._tokens += tokens

    # -- trainer events ------------------------------------------------------------------

    def on_train_begin(self, args, state, control, **kwargs):
        if not self.main:
            return
        write_run_manifest(self.plan, self.progress, status="running")
        if self.plan.spec.progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"), TimeElapsedColumn(),
                console=out_console(), transient=False,
            )
            self.bar.start()
            self._task = self.bar.add_task(
                "train", total=self.plan.total_steps, completed=self.plan.start_step, stats="")

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
        self._reset_step()
        self._lr = float(optimizer.param_groups[0]["lr"])

    def on_step_end(self, args, state, control, model=None, optimizer=None, **kwargs):
        plan, progress = self.plan, self.progress
        step = plan.start_step + state.global_step
        seconds = time.perf_counter() - self._t0
        self.slowest_step = max(self.slowest_step, seconds)
        loss = float(self._loss) if self._loss is not None else float("nan")
        shares = gather((self._batches, loss, self._tokens, seconds, peak_memory()[0]))
        tokens, seconds = sum(s[2] for s in shares), max(s[3] for s in shares)
        self.peaks = [s[4] for s in shares]
        # Each process's micro-batch losses are its token losses over the step's tokens on
        # all processes, times W (Trainer.compute_loss with average_tokens_across_devices):
        # their mean over the processes is the one-process step's mean token loss.
        log = StepLog(
            step=step, loss=sum(s[1] for s in shares) / len(shares), lr=self._lr,
            tokens=tokens, tokens_per_s=tokens / max(seconds, 1e-9), seconds=seconds,
            record_ids=[plan.record_ids[i] for i in interleave([s[0] for s in shares])],
        )
        progress.history.append(log)
        progress.last_step = step
        self._show(log)
        if step >= plan.total_steps:
            return control
        spec, reason = plan.spec, None
        if spec.session_steps and step - plan.start_step >= spec.session_steps:
            reason = "session_steps"
        elif should_hand_off(time.monotonic() - spec.started, spec.budget_s, self.slowest_step,
                             self.slowest_save):
            reason = "budget"
        elif spec.save_every and step % spec.save_every == 0:
            reason = "every_k"
        reason = STOPS[agree(STOPS.index(reason))]
        if reason is not None:
            self.write_bundle(model, optimizer, reason)
        if reason in ("session_steps", "budget"):
            progress.stop_reason = reason
            control.should_training_stop = True
        return control

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.stop()

    def _show(self, log: StepLog) -> None:
        if self.bar is None or self._task is None:
            return
        gpu, rss = peak_memory()
        memory = f"peak {gpu:.2f} GiB GPU" if gpu is not None else f"peak {rss:.2f} GiB RSS"
        stats = (f"loss {log.loss:.4f}  lr {log.lr:.2e}  {log.tokens_per_s:,.0f} tok/s  "
                 f"{memory}")
        self.bar.update(self._task, completed=log.step, stats=stats)

    # -- bundles -------------------------------------------------------------------------

    def write_bundle(self, model, optimizer, reason: str) -> Path | None:
        """Write ``out/handoff-step-NNNNNN`` for the step just finished (the first process)."""
        if not self.main:
            return None
        plan, progress = self.plan, self.progress
        started = time.perf_counter()
        step = progress.last_step
        tmp = hb.new_bundle_dir(plan.spec.out)
        try:
            adapter = tmp / hb.ADAPTER_DIR
            model.save_pretrained(str(adapter), safe_serialization=True)
            for extra in adapter.iterdir():  # peft also writes a model card; keep weights only
                if extra.name not in hb.ADAPTER_FILES:
                    shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
            if plan.config.save_optimizer:
                save_optimizer(optimizer, tmp / hb.OPTIMIZER_FILE, plan.device.optim)
            target = plan.spec.out / f"handoff-step-{step:06d}"
            hb.finalize_bundle(tmp, target, self.manifest(reason))
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        progress.bundles.append(target)
        progress.bundles_steps.append(step)
        elapsed = time.perf_counter() - started
        self.slowest_save = max(self.slowest_save or 0.0, elapsed)
        write_run_manifest(plan, progress,
                           status="complete" if step >= plan.total_steps else "handed_off")
        if self.bar is not None:
            self.bar.console.print(f"handoff bundle ({reason}): {target}")
        return target

    def write_last_bundle(self, model, optimizer) -> Path | None:
        """After training: a bundle for the session's last step, unless one was written at it."""
        progress = self.progress
        if progress.last_step <= progress.last_bundle_step:
            return None
        reason = ("complete" if progress.last_step >= self.plan.total_steps
                  else progress.stop_reason or "end")
        return self.write_bundle(model, optimizer, reason)

    def manifest(self, reason: str) -> HandoffManifest:
        plan, config, step = self.plan, self.plan.config, self.progress.last_step
        consumed = min(step * config.samples_per_step, plan.samples)
        cursor = cursor_at(consumed, plan.n_records)
        gpu, rss = peak_memory()
        session = SessionInfo(started=plan.started_at, ended=utcnow(),
                              first_step=plan.start_step + 1, last_step=step,
                              device=f"{plan.device.kind}: {plan.device.name}",
                              processes=ranks().world, stop_reason=reason)
        return HandoffManifest(
            run_name=plan.spec.run_name or plan.spec.out.name,
            base_model=plan.spec.model_dir.name, base_config_sha256=plan.base_config_sha256,
            dataset_path=str(plan.spec.data_path), dataset_sha256=plan.dataset_sha256,
            n_records=plan.n_records, epoch=cursor.epoch, global_step=step,
            total_steps=plan.total_steps, cursor=cursor, samples_consumed=consumed,
            seeds={"seed": config.seed, "data_seed": config.seed},
            scheduler=SchedulerState(
                name=config.scheduler, base_lr=config.lr,
                warmup_steps=warmup_steps(config, plan.total_steps),
                total_steps=plan.total_steps, position=step,
                next_lr=config.lr * schedule_lambda(config, plan.total_steps)(step),
            ),
            config=config.model_dump(mode="json"), losses=list(self.progress.history),
            gate=plan.gate, chat_template=plan.template, peak_gpu_memory_gib=gpu,
            peak_cpu_rss_gib=rss, peak_gpu_memory_gib_per_process=self.peaks,
            library_versions=library_versions(), optimizer_state=config.save_optimizer,
            sessions=[*plan.prior_sessions, session], reason=reason,
        )


def write_run_manifest(plan: SessionPlan, progress: SessionProgress, *, status: str) -> Path:
    """out/run.json: the run's gate record (with any override), config, bundles, status."""
    out = plan.spec.out
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "run_name": plan.spec.run_name or out.name, "status": status,
        "base_model": str(plan.spec.model_dir), "base_config_sha256": plan.base_config_sha256,
        "dataset_path": str(plan.spec.data_path), "dataset_sha256": plan.dataset_sha256,
        "gate": plan.gate.model_dump(mode="json"), "config": plan.config.model_dump(mode="json"),
        "total_steps": plan.total_steps, "last_step": progress.last_step,
        "chat_template": {"source": plan.template.source, "sha256": plan.template.sha256},
        "bundles": [str(p) for p in progress.bundles], "updated": utcnow(),
    }
    path = out / RUN_MANIFEST
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
