"""QLoRA over several GPUs of one host: `finetune train` on 1 GPU and under `accelerate launch`.

The same run is trained twice, side by side in one invocation: by one process on one GPU and
by ``--gpus`` processes under ``accelerate launch`` (DDP, each with its own 4-bit base model).
Each process runs ``finetune.training.run_session``, what `finetune train` runs once the gate
has passed (the records are benchmark data with no audit, so the gate record is left empty). The model is the
Mistral-7B-shaped one of bench/qlora_speed.py (random weights, built on the GPU, saved, reloaded
in 4-bit NF4), the records its advising-style pool at ``--seq``. A step is the same global step
on any number of GPUs (``--batch-size`` records packed per micro-batch x ``--grad-accum``, divided
over the processes by finetune.distributed), so N GPUs should take about 1/N of the time per
step. Reported, from the runs' own step logs (after ``--warmup`` steps): tokens/s on 1 and on N
GPUs, scaling (goal >= 1.8x on 2) and efficiency, peak memory per GPU
(``peak_gpu_memory_gib_per_process`` of the last bundle), and whether both runs took the same
samples at every step.

    python bench/qlora_multigpu.py --gpus 2 --tag h200x2          # on the 2-GPU machine
    python bench/qlora_multigpu.py --tiny                          # CPU, 2 processes (gloo)

Results: bench/results/qlora_multigpu_<tag>.json (and $OUT when set), with machine and command.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common, qlora_speed  # noqa: E402
from bench import qlora_gpu as base  # noqa: E402

GOAL_SCALING_2 = 1.8


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus", type=int, default=2, help="processes of the parallel run")
    parser.add_argument("--tiny", action="store_true", help="tiny random Mistral on CPU (gloo)")
    parser.add_argument("--seq", type=int, default=None, help="tokens per record (2048; tiny 128)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="records packed per micro-batch (4; tiny 2)")
    parser.add_argument("--grad-accum", type=int, default=None,
                        help="micro-batches per global step (4): divisible by --gpus")
    parser.add_argument("--steps", type=int, default=None, help="measured steps (20; tiny 4)")
    parser.add_argument("--warmup", type=int, default=None, help="unmeasured first steps (3; 1)")
    parser.add_argument("--records", type=int, default=None, help="records in the pool (800)")
    parser.add_argument("--liger", action="store_true", help="fused linear cross-entropy")
    parser.add_argument("--work", default=None, help="scratch folder ($TMPDIR/qlora_multigpu)")
    parser.add_argument("--tag", default=None, help="bench/results/qlora_multigpu_<tag>.json")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--worker", nargs=3, metavar=("MODEL", "DATA", "OUT"),
                        help=argparse.SUPPRESS)  # one training process (what launch starts)
    args = parser.parse_args(argv)
    tiny = args.tiny
    for name, full, small in (("seq", 2048, 128), ("batch_size", 4, 2), ("grad_accum", 4, 2),
                              ("steps", 20, 4), ("warmup", 3, 1), ("records", 800, 64)):
        if getattr(args, name) is None:
            setattr(args, name, small if tiny else full)
    return args


def launch(args, model_dir: Path, data: Path, out: Path, processes: int) -> dict:
    """One training run on ``processes`` processes; its last bundle's step log and memory."""
    shutil.rmtree(out, ignore_errors=True)
    train = [__file__, "--worker", str(model_dir), str(data), str(out),
             *(f"--{k.replace('_', '-')}={getattr(args, k)}"
               for k in ("seq", "batch_size", "grad_accum", "steps", "warmup")),
             *(["--liger"] if args.liger else [])]
    if processes > 1:
        launcher = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                    str(processes), "--num_machines", "1", "--mixed_precision", "no",
                    "--dynamo_backend", "no"]
        command = [sys.executable, *launcher, *train]
    else:
        command = [sys.executable, *train]
    env = dict(os.environ)
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=args.timeout)
    if done.returncode != 0:
        raise SystemExit(f"{processes}-process run failed:\n{done.stderr[-4000:]}")
    bundle = sorted(out.glob("handoff-step-*"))[-1]
    manifest = json.loads((bundle / "handoff.json").read_text())
    steps = manifest["losses"][args.warmup:]
    seconds = sum(s["seconds"] for s in steps)
    tokens = sum(s["tokens"] for s in steps)
    return {"processes": processes, "wall_s": round(time.monotonic() - started, 1),
            "measured_steps": len(steps), "tokens": tokens, "seconds": round(seconds, 3),
            "tokens_per_s": round(tokens / seconds, 1) if seconds else None,
            "peak_gpu_memory_gib_per_process": manifest.get("peak_gpu_memory_gib_per_process"),
            "peak_cpu_rss_gib": manifest.get("peak_cpu_rss_gib"),
            "losses": [round(s["loss"], 5) for s in manifest["losses"]],
            "record_ids": [s["record_ids"] for s in manifest["losses"]],
            "device": manifest["sessions"][-1]["device"]}


def worker(args) -> None:
    from finetune.config import TrainConfig
    from finetune.handoff import GateRecord
    from finetune.training import SessionSpec, run_session

    model_dir, data, out = (Path(p) for p in args.worker)
    config = TrainConfig(epochs=100, batch_size=args.batch_size, grad_accum=args.grad_accum,
                         seq=args.seq, max_steps=args.warmup + args.steps, liger=args.liger)
    run_session(SessionSpec(model_dir=model_dir, data_path=data, out=out, config=config,
                            gate=GateRecord(), budget_s=24 * 3600, progress=False,
                            run_name=out.name))


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
    runs = []
    for processes in (1, args.gpus):
        print(f"training on {processes} process(es) ...", flush=True)
        runs.append(launch(args, model_dir, pool.path, work / f"run-{processes}", processes))
        print(f"  {runs[-1]['tokens_per_s']} tokens/s, peak GiB per GPU "
              f"{runs[-1]['peak_gpu_memory_gib_per_process']}", flush=True)
    one, many = runs
    scaling = many["tokens_per_s"] / one["tokens_per_s"]
    figures = {
        "settings": {k: v for k, v in vars(args).items() if k not in ("work", "timeout")},
        "model": "random Mistral-7B shape (v0.3), 4-bit NF4" if not args.tiny else "tiny random",
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if cuda else [], "build": build, "pool": pool.describe(),
        "runs": runs, "scaling": round(scaling, 3),
        "efficiency": round(scaling / args.gpus, 3),
        "goal_scaling": GOAL_SCALING_2 if args.gpus == 2 else None,
        "same_samples_every_step": one["record_ids"] == many["record_ids"],
    }
    tag = args.tag or ("tiny_cpu" if args.tiny else f"{args.gpus}gpu")
    path = common.save(f"qlora_multigpu_{tag}", figures, libraries=True)
    if os.environ.get("OUT"):
        shutil.copy(path, Path(os.environ["OUT"]) / path.name)
    print(f"scaling x{scaling:.2f} on {args.gpus} ({scaling / args.gpus:.0%} efficiency); "
          f"same samples every step: {figures['same_samples_every_step']}; results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
