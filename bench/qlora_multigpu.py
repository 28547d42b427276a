"""QLoRA over several GPUs of one host: `finetune train` on 1 GPU and under `accelerate launch`.

The same run is trained twice, side by side in one invocation: by one process that sees one
GPU (``CUDA_VISIBLE_DEVICES`` set to the first; a process that saw them all would be pinned to
one by finetune.training anyway) and by ``--gpus`` processes under ``accelerate launch`` (DDP,
each with its own 4-bit base model on its own GPU). Each process runs
``finetune.training.run_session``, what `finetune train` runs once the gate has passed (the
records are benchmark data with no audit, so the gate record is left empty). The model is the
Mistral-7B-shaped one of bench/qlora_speed.py (random weights, built on the GPU, saved,
reloaded in 4-bit NF4), the records its advising-style pool at ``--seq``. A step is the same
global step on any number of GPUs (``--batch-size`` records packed per micro-batch x
``--grad-accum``, divided over the processes by finetune.distributed), so N GPUs should take
about 1/N of the time per step.

Checked, step by step, from the runs' own step logs: the same records in the same order, the
same learning rate, the same tokens (the N-process log sums every rank's), and the loss within
1%. Reported after ``--warmup`` steps: tokens/s on 1 and on N GPUs (step time: first forward
to the end of the optimizer step, the slowest rank; and wall time, steps and the gaps between
them), scaling = N-process tokens/s over 1-process tokens/s (goal >= 1.8x on 2), peak memory
per GPU, each rank's device and DDP settings, and where a step's time goes on each rank (GPU
drained at each mark): micro-batches without gradient sync, the synced one (backward with the
all-reduce, and clipping), the optimizer, what follows, and the gap before the next step.

The machine's speed drifts between runs (the step is bound by one CPU core per process), so
``--repeats R`` runs R pairs, 1 and N processes one after the other (1, N, 1, N, ...), each N
run's scaling taken against the 1-process run just before it; reported: the median, the
spread and every pair. ``--variants`` adds N-process runs that change one lever back (``rr``:
the round-robin deal, tokens per rank not balanced) or try one (``omp8``, ``ddp``), with the
largest rank's share of each step's tokens (``rank_tokens``).

    python bench/qlora_multigpu.py --gpus 2 --steps 8 --warmup 2 --repeats 4 --variants rr \
        --tag h200x2                                               # 2 GPUs
    python bench/qlora_multigpu.py --tiny                          # CPU, 2 processes (gloo)

Results: bench/results/qlora_multigpu_<tag>.json (and $OUT when set), with machine and command;
written after each run, so a run cut short still leaves what was measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common, qlora_speed  # noqa: E402
from bench import qlora_gpu as base  # noqa: E402

GOAL_SCALING_2 = 1.8
LOSS_TOLERANCE = 0.01  # relative, per step


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus", type=int, default=2, help="processes of the parallel run")
    parser.add_argument("--tiny", action="store_true", help="tiny random Mistral on CPU (gloo)")
    parser.add_argument("--seq", type=int, default=None, help="tokens per record (2048; tiny 128)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="records packed per micro-batch (4; tiny 3)")
    parser.add_argument("--grad-accum", type=int, default=None,
                        help="micro-batches per global step (4)")
    parser.add_argument("--steps", type=int, default=None, help="measured steps (20; tiny 4)")
    parser.add_argument("--warmup", type=int, default=None, help="unmeasured first steps (3; 1)")
    parser.add_argument("--records", type=int, default=None, help="records in the pool (800)")
    parser.add_argument("--liger", action="store_true", help="fused linear cross-entropy")
    parser.add_argument("--work", default=None, help="scratch folder ($TMPDIR/qlora_multigpu)")
    parser.add_argument("--tag", default=None, help="bench/results/qlora_multigpu_<tag>.json")
    parser.add_argument("--split", action="store_true",
                        help="time each micro-batch too (drains the GPU at each: slower)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="pairs of runs, 1 and N processes interleaved (1, N, 1, N, ...)")
    parser.add_argument("--variants", default="",
                        help="comma-separated N-process variants run after each pair, each a "
                             "'+'-joined set of: rr (the round-robin deal, tokens unbalanced), "
                             "omp8 (OMP_NUM_THREADS=8), ddp (DDP static_graph and "
                             "gradient_as_bucket_view)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--variant", default="", help=argparse.SUPPRESS)  # a worker's variant
    parser.add_argument("--worker", nargs=3, metavar=("MODEL", "DATA", "OUT"),
                        help=argparse.SUPPRESS)  # one training process (what launch starts)
    args = parser.parse_args(argv)
    tiny = args.tiny
    # tiny: an odd batch and 2 accumulation steps per rank, what the GPU run does with 4 x 4.
    for name, full, small in (("seq", 2048, 128), ("batch_size", 4, 3), ("grad_accum", 4, 4),
                              ("steps", 20, 4), ("warmup", 3, 1), ("records", 800, 64)):
        if getattr(args, name) is None:
            setattr(args, name, small if tiny else full)
    return args


# -- one run --------------------------------------------------------------------------------


def launch(args, model_dir: Path, data: Path, out: Path, processes: int,
           variant: str = "") -> dict:
    """One training run on ``processes`` processes: its last bundle's step log, memory, and
    each rank's report (rank-N.json: device, DDP settings, where the time went)."""
    shutil.rmtree(out, ignore_errors=True)
    train = [__file__, "--worker", str(model_dir), str(data), str(out),
             *(f"--{k.replace('_', '-')}={getattr(args, k)}"
               for k in ("seq", "batch_size", "grad_accum", "steps", "warmup")),
             *(["--liger"] if args.liger else []), *([f"--variant={variant}"] if variant else [])]
    env = dict(os.environ)  # NCCL_NVLS_ENABLE=0 and the like pass through
    if "omp8" in variant.split("+"):
        env["OMP_NUM_THREADS"] = "8"  # accelerate launch sets 1 where it is unset
    if processes > 1:
        launcher = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                    str(processes), "--num_machines", "1", "--mixed_precision", "no",
                    "--dynamo_backend", "no"]
        command = [sys.executable, *launcher, *train]
    else:
        command = [sys.executable, *train]
        visible = env.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]
        env["CUDA_VISIBLE_DEVICES"] = visible or "0"  # one process, one GPU
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=args.timeout)
    if done.returncode != 0:
        raise SystemExit(f"{processes}-process run failed:\n{done.stderr[-4000:]}")
    bundle = sorted(out.glob("handoff-step-*"))[-1]
    manifest = json.loads((bundle / "handoff.json").read_text())
    ranks = [json.loads(p.read_text()) for p in sorted(out.glob("rank-*.json"))]
    return {"variant": variant or "default",
            **summarize(manifest, ranks, args.warmup, processes,
                        wall_s=time.monotonic() - started)}


def summarize(manifest: dict, ranks: list[dict], warmup: int, processes: int,
              wall_s: float) -> dict:
    log = manifest["losses"]
    measured = log[warmup:]
    seconds = sum(s["seconds"] for s in measured)
    tokens = sum(s["tokens"] for s in measured)
    # Wall time of the measured steps on the first rank: steps and the gaps between them.
    timing = ranks[0]["timing"][warmup:] if ranks and ranks[0].get("timing") else []
    wall = sum(t["step_s"] + t["gap_s"] for t in timing)
    return {"processes": processes, "wall_s": round(wall_s, 1), "measured_steps": len(measured),
            "tokens": tokens, "seconds": round(seconds, 3),
            "tokens_per_s": round(tokens / seconds, 1) if seconds else None,
            "wall_tokens_per_s": round(tokens / wall, 1) if wall else None,
            "peak_gpu_memory_gib_per_process": manifest.get("peak_gpu_memory_gib_per_process"),
            "peak_cpu_rss_gib": manifest.get("peak_cpu_rss_gib"),
            "records_per_step": [len(s["record_ids"]) for s in log],
            "tokens_per_step": [s["tokens"] for s in log],
            "step_seconds": [round(s["seconds"], 4) for s in log],
            "losses": [s["loss"] for s in log], "lrs": [s["lr"] for s in log],
            "record_ids": [s["record_ids"] for s in log],
            "device": manifest["sessions"][-1]["device"],
            "ranks": [{"parallel": r.get("parallel", {}), "env": r.get("env", {}),
                       "time_split": time_split(r.get("timing", [])[warmup:])} for r in ranks]}


def time_split(timing: list[dict]) -> dict:
    """Medians over the measured steps of one rank (seconds): where a step's time goes."""
    if not timing:
        return {}
    micro = [s for t in timing for s in t["no_sync_s"]]

    def median(values: list[float]) -> float | None:
        return round(statistics.median(values), 4) if values else None

    return {"step": median([t["step_s"] for t in timing]),
            "micro_batch_no_sync": median(micro),
            "micro_batch_synced_and_clip": median([t["synced_s"] for t in timing]),
            "optimizer": median([t["optimizer_s"] for t in timing]),
            "after_optimizer": median([t["after_s"] for t in timing]),
            "gap_before_step": median([t["gap_s"] for t in timing])}


def compare(one: dict, many: dict) -> dict:
    """Step-by-step agreement of the N-process run with the one-process run."""
    pairs = list(zip(one["losses"], many["losses"], strict=False))
    diffs = [abs(b - a) / abs(a) for a, b in pairs if a]
    devices = [tuple(r["parallel"].get("parameter_devices", [])) for r in many["ranks"]]
    own_gpu = None  # on CPU
    if devices and all(devices):  # every rank on one GPU, none shared
        own_gpu = len(set(devices)) == len(devices) and all(len(d) == 1 for d in devices)
    return {
        "same_step_count": len(one["losses"]) == len(many["losses"]),
        "same_samples_every_step": one["record_ids"] == many["record_ids"],
        "same_lr_every_step": one["lrs"] == many["lrs"],
        "same_tokens_every_step": one["tokens_per_step"] == many["tokens_per_step"],
        "max_loss_relative_difference": round(max(diffs), 6) if diffs else None,
        "losses_within_1pct": bool(diffs) and max(diffs) <= LOSS_TOLERANCE,
        "each_rank_its_own_gpu": own_gpu,
    }


# -- the training process --------------------------------------------------------------------


def step_timing_callback(split: bool):
    """A TrainerCallback that times each step on this process (GPU drained at the step's end);
    with ``split`` also each micro-batch, the synced one and the optimizer (GPU drained at each
    mark, so a mark is where the GPU work up to it ended — which keeps the CPU from queueing
    the next micro-batch while the GPU works, and so slows the run it measures)."""
    import torch
    from transformers import TrainerCallback

    def drained() -> float:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter()

    def now() -> float:
        return drained() if split else time.perf_counter()

    class StepTiming(TrainerCallback):
        def __init__(self) -> None:
            self.steps: list[dict] = []
            self.marks: list[float] = []
            self.last_end: float | None = None

        def on_step_begin(self, args, state, control, **kwargs):
            self.marks = [now()]

        def on_substep_end(self, args, state, control, **kwargs):
            self.marks.append(now())  # a micro-batch without gradient sync (no_sync)

        def on_pre_optimizer_step(self, args, state, control, **kwargs):
            self.synced = now()  # the last micro-batch: backward with the all-reduce, clip

        def on_optimizer_step(self, args, state, control, **kwargs):
            self.stepped = now()

        def on_step_end(self, args, state, control, **kwargs):
            end, begin, last_micro = drained(), self.marks[0], self.marks[-1]
            self.steps.append({
                "step_s": end - begin,
                "no_sync_s": [b - a for a, b in zip(self.marks, self.marks[1:], strict=False)],
                "synced_s": self.synced - last_micro, "optimizer_s": self.stepped - self.synced,
                "after_s": end - self.stepped,
                "gap_s": begin - self.last_end if self.last_end is not None else 0.0})
            self.last_end = end

    return StepTiming()


def apply_variant(variant: str) -> None:
    """What a variant of the N-process run changes back or adds, for measuring one lever."""
    from finetune import training

    for part in filter(None, variant.split("+")):
        if part == "rr":  # each step's micro-batches dealt round-robin, tokens not balanced
            training.batch_cost = lambda lengths, packing: None
        elif part == "omp8":
            pass  # launch sets OMP_NUM_THREADS
        elif part == "ddp":
            from torch.nn.parallel import DistributedDataParallel

            init = DistributedDataParallel.__init__

            def ddp_init(self, *a, _init=init, **kw):
                _init(self, *a, **(kw | {"static_graph": True, "gradient_as_bucket_view": True}))

            DistributedDataParallel.__init__ = ddp_init
        else:
            raise SystemExit(f"unknown variant part {part!r}")


def worker(args) -> None:
    from finetune.config import TrainConfig
    from finetune.distributed import ranks
    from finetune.handoff import GateRecord
    from finetune.training import SessionSpec, run_session

    model_dir, data, out = (Path(p) for p in args.worker)
    apply_variant(args.variant)
    config = TrainConfig(epochs=100, batch_size=args.batch_size, grad_accum=args.grad_accum,
                         seq=args.seq, max_steps=args.warmup + args.steps, liger=args.liger)
    timing = step_timing_callback(args.split)
    result = run_session(SessionSpec(model_dir=model_dir, data_path=data, out=out, config=config,
                                     gate=GateRecord(), budget_s=24 * 3600, progress=False,
                                     run_name=out.name, callbacks=[timing]))
    env = {k: v for k, v in os.environ.items()
           if k in ("CUDA_VISIBLE_DEVICES", "LOCAL_RANK", "OMP_NUM_THREADS")
           or k.startswith("NCCL_")}
    report = {"parallel": result.parallel, "env": env,
              "timing": [{k: [round(x, 5) for x in v] if isinstance(v, list) else round(v, 5)
                          for k, v in t.items()} for t in timing.steps]}
    (out / f"rank-{ranks().rank}.json").write_text(json.dumps(report, indent=1) + "\n")


# -- the comparison --------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    from core.errors import ConfigError
    from finetune.distributed import split_step

    try:
        split_step(args.batch_size, args.grad_accum, args.gpus)
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None
    import torch

    cuda = torch.cuda.is_available()
    if not args.tiny and (not cuda or torch.cuda.device_count() < args.gpus):
        raise SystemExit(f"needs {args.gpus} CUDA GPUs (found "
                         f"{torch.cuda.device_count() if cuda else 0}); --tiny runs on CPU")
    work = Path(args.work or Path(os.environ.get("TMPDIR", "/tmp")) / "qlora_multigpu")
    work.mkdir(parents=True, exist_ok=True)
    shape = base.TINY if args.tiny else base.MISTRAL_7B
    model_dir, tokenizer, build = qlora_speed.ensure_model(work, shape, False, cuda and not args.tiny)
    pool = qlora_speed.Pool(work, tokenizer, args.records, args.seq)
    figures = {
        "settings": {k: v for k, v in vars(args).items() if k not in ("work", "timeout", "worker")},
        "model": "random Mistral-7B shape (v0.3), 4-bit NF4" if not args.tiny else "tiny random",
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if cuda else [], "build": build, "pool": pool.describe(), "runs": [],
    }
    tag = args.tag or ("tiny_cpu" if args.tiny else f"{args.gpus}gpu")
    # Pairs (1 process, N processes) one after the other, each followed by its share of the
    # variants, so that a drift of the machine touches every kind of run alike.
    variants = [v for v in args.variants.split(",") if v]
    plan = [run for r in range(args.repeats)
            for run in [(1, ""), (args.gpus, ""), *((args.gpus, v)
                                                    for v in variants[r::args.repeats])]]
    for i, (processes, variant) in enumerate(plan):
        print(f"run {i + 1}/{len(plan)}: {processes} process(es) {variant} ...", flush=True)
        try:
            run = launch(args, model_dir, pool.path, work / f"run-{i}", processes, variant)
        except (SystemExit, subprocess.TimeoutExpired) as exc:
            if not variant:
                raise
            figures["runs"].append({"variant": variant, "processes": processes,
                                    "failed": str(exc)[-2000:]})
            print(f"  failed: {str(exc)[-600:]}", flush=True)
            continue
        if processes > 1:
            run["rank_tokens"] = rank_tokens(run, pool, args, variant)
        figures["runs"].append(run)
        figures |= summary(figures["runs"], args)
        save(tag, figures)
        print(f"  {run['tokens_per_s']} tokens/s ({run['wall_tokens_per_s']} wall), records "
              f"per step {run['records_per_step'][:3]}..., peak GiB per GPU "
              f"{run['peak_gpu_memory_gib_per_process']}", flush=True)
        for rank, report in enumerate(run["ranks"]):
            print(f"  rank {rank}: {report['time_split']}", flush=True)
    path = save(tag, figures)
    print(f"scaling x{figures['scaling']} on {args.gpus} (median of {figures['pairs']} pairs, "
          f"x{figures['scaling_min']}-x{figures['scaling_max']}); same samples every step: "
          f"{figures['same_samples_every_step']}; same LR: {figures['same_lr_every_step']}; "
          f"same tokens: {figures['same_tokens_every_step']}; max loss difference "
          f"{figures['max_loss_relative_difference']}; own GPU per rank: "
          f"{figures['each_rank_its_own_gpu']}; results: {path}")
    for run in figures["runs"]:
        print(f"  {run['processes']} {run['variant']:<12} {run.get('tokens_per_s')} tok/s "
              f"{run.get('scaling', '')} {run.get('rank_tokens', '')}", flush=True)
    return 0


def summary(runs: list[dict], args) -> dict:
    """Each N-process run's scaling against the 1-process run just before it; the default
    runs' scalings (median, spread); the step checks of every N-process run against the first
    1-process run."""
    ones = [r for r in runs if r["processes"] == 1]
    if not ones:
        return {}
    last_one = None
    for run in runs:
        if run["processes"] == 1:
            last_one = run
        elif "tokens_per_s" in run and last_one is not None:
            run["scaling"] = round(run["tokens_per_s"] / last_one["tokens_per_s"], 3)
            run["wall_scaling"] = round(run["wall_tokens_per_s"] / last_one["wall_tokens_per_s"],
                                        3)
    default = [r for r in runs if r["processes"] > 1 and r["variant"] == "default"
               and "scaling" in r]
    if not default:
        return {}
    scalings = [r["scaling"] for r in default]
    checks = [compare(ones[0], r) for r in runs if r["processes"] > 1 and "losses" in r]
    ones_tps = [r["tokens_per_s"] for r in ones]
    return {
        "pairs": len(default), "scaling": round(statistics.median(scalings), 3),
        "scaling_min": min(scalings), "scaling_max": max(scalings),
        "scalings": scalings,
        "wall_scaling": round(statistics.median([r["wall_scaling"] for r in default]), 3),
        "efficiency": round(statistics.median(scalings) / args.gpus, 3),
        "one_process_tokens_per_s": ones_tps,
        "n_process_tokens_per_s": [r["tokens_per_s"] for r in default],
        "goal_scaling": GOAL_SCALING_2 if args.gpus == 2 else None,
        "goal_met_every_pair": args.gpus == 2 and min(scalings) >= GOAL_SCALING_2,
        "same_step_count": all(c["same_step_count"] for c in checks),
        "same_samples_every_step": all(c["same_samples_every_step"] for c in checks),
        "same_lr_every_step": all(c["same_lr_every_step"] for c in checks),
        "same_tokens_every_step": all(c["same_tokens_every_step"] for c in checks),
        "max_loss_relative_difference": max(c["max_loss_relative_difference"] or 0
                                            for c in checks),
        "losses_within_1pct": all(c["losses_within_1pct"] for c in checks),
        "each_rank_its_own_gpu": all(c["each_rank_its_own_gpu"] is not False for c in checks),
    }


def rank_tokens(run: dict, pool, args, variant: str) -> dict:
    """How evenly a run's deal spread each measured step's tokens over the ranks: the largest
    rank's tokens over an even share (1.0 = even), median and worst over the steps."""
    from finetune.distributed import deal, split_step

    per_batch, _ = split_step(args.batch_size, args.grad_accum, args.gpus)
    index = {record_id: i for i, record_id in enumerate(pool.ids)}

    def cost(batch: list[int]) -> int:
        return sum(pool.lengths[i] for i in batch)

    ratios = []
    for ids in run["record_ids"][args.warmup:]:
        step = [index[i] for i in ids]
        shares = deal(step, per_batch, args.gpus, None if "rr" in variant.split("+") else cost)
        loads = [sum(cost(b) for _, b in share) for share in shares]
        ratios.append(max(loads) * len(loads) / sum(loads))
    return {"max_over_even_median": round(statistics.median(ratios), 3),
            "max_over_even_worst": round(max(ratios), 3)}


def save(tag: str, figures: dict) -> Path:
    path = common.save(f"qlora_multigpu_{tag}", figures, libraries=True)
    if os.environ.get("OUT"):
        shutil.copy(path, Path(os.environ["OUT"]) / path.name)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
