"""Where a step of Assay's QLoRA path spends its time, and which levers buy speed (issue 20).

Profile: ``run_session`` as ``finetune train`` runs it (R records packed per micro-batch, one
micro-batch per step, liger when importable), with ``torch.profiler`` over ``--profile-steps``
steps after the warm-up; GPU time is summed by kernel family (4-bit dequantization, GEMMs,
attention, elementwise, optimizer, ...), and the GPU's busy share of the wall time is reported.

Levers: each variant changes one thing against ``base`` (the same records, steps and seed), and
every variant runs ``--repeats`` times in rotated rounds; a variant is reported by its median
tokens/s with min and max, its ratio to base, and its peak memory:

- ``sdpa``: SDPA over the packed row with transformers' block-diagonal mask (what ``base``
  ran before finetune.varlen), whatever ``finetune train`` would pick
- ``dropout0``: LoRA dropout 0 (peft then feeds the adapters the layer's input itself)
- ``skipK``: gradient checkpointing off for the last K decoder layers (their activations kept)
- ``compile``: each decoder layer compiled as one region (``torch.compile``, dynamic shapes),
  as Unsloth does
- ``mN``: N records per micro-batch instead of ``--records``

Run on the GPU machine after ``source bench/device_unsloth.sh`` (part a); see that file.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench import qlora_gpu as base  # noqa: E402
from bench import qlora_speed as qs  # noqa: E402

FAMILIES = [  # first match wins; matched against the lower-cased kernel name
    ("4-bit dequantization", ("dequant", "kdequantize", "bitsandbytes")),
    ("attention", ("flash", "attention", "fmha", "sdpa", "efficient_attention")),
    ("GEMM (matmul)", ("gemm", "cutlass", "sm90", "xmma", "ampere", "cublas", "nvjet")),
    ("cross-entropy (liger)", ("cross_entropy", "liger")),
    ("optimizer", ("adam", "foreach", "multi_tensor")),
    ("norms, rope, activations", ("rms", "norm", "rope", "rotary", "silu", "swiglu", "gelu")),
    ("dropout", ("dropout", "bernoulli", "philox", "fused_dropout")),
    ("copies and casts", ("copy", "cat", "to_copy", "memcpy", "memset", "fill")),
    ("elementwise, other", ("elementwise", "vectorized", "reduce", "triton")),
]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--records", type=int, default=32, help="records per micro-batch")
    parser.add_argument("--variants", default="sdpa,dropout0",
                        help="comma list (base always runs)")
    parser.add_argument("--profile-steps", type=int, default=2, help="0: no profile")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--pool", type=int, default=1600, help="records in the pool")
    parser.add_argument("--work", default=None)
    parser.add_argument("--tag", default="h200_mistral7b_profile")
    parser.add_argument("--time-limit", type=float, default=540)
    parser.add_argument("--tiny", action="store_true", help="CPU dry run on a tiny random model")
    return parser.parse_args(argv)


def family(name: str) -> str:
    low = name.lower()
    for label, keys in FAMILIES:
        if any(k in low for k in keys):
            return label
    return "elementwise, other"


class ProfileSteps:
    """A Trainer callback that profiles steps [first, first + count) on the GPU."""

    def __new__(cls, first: int, count: int, sink: dict):
        from transformers import TrainerCallback

        class _Callback(TrainerCallback):
            profiler = None
            started = 0.0

            def on_step_begin(self, args, state, control, **kwargs):
                import torch

                if state.global_step == first and self.profiler is None:
                    sync()
                    self.profiler = torch.profiler.profile(
                        activities=[torch.profiler.ProfilerActivity.CPU,
                                    torch.profiler.ProfilerActivity.CUDA])
                    self.profiler.__enter__()
                    self.started = time.monotonic()

            def on_step_end(self, args, state, control, **kwargs):

                if self.profiler is None or state.global_step != first + count:
                    return
                sync()
                wall = time.monotonic() - self.started
                self.profiler.__exit__(None, None, None)
                sink.update(summarize_profile(self.profiler, wall, count))
                self.profiler = None

        return _Callback()


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def summarize_profile(profiler, wall_s: float, steps: int) -> dict:
    kernels = [e for e in profiler.events() if e.device_type.name == "CUDA"]
    by_family: dict[str, float] = {}
    by_name: dict[str, float] = {}
    for e in kernels:
        us = e.device_time
        by_family[family(e.name)] = by_family.get(family(e.name), 0.0) + us
        by_name[e.name] = by_name.get(e.name, 0.0) + us
    busy_s = sum(by_family.values()) / 1e6
    top = sorted(by_name.items(), key=lambda kv: -kv[1])[:25]
    return {
        "profiled_steps": steps, "wall_s": round(wall_s, 3), "gpu_busy_s": round(busy_s, 3),
        "gpu_busy_share": round(busy_s / wall_s, 3) if wall_s else None,
        "families_s": {k: round(v / 1e6, 3) for k, v in
                       sorted(by_family.items(), key=lambda kv: -kv[1])},
        "families_share": {k: round(v / 1e6 / busy_s, 3) for k, v in
                           sorted(by_family.items(), key=lambda kv: -kv[1])} if busy_s else {},
        "top_kernels_s": [[name[:160], round(us / 1e6, 4)] for name, us in top],
        "op_table": profiler.key_averages().table(sort_by="cuda_time_total", row_limit=30,
                                                  max_name_column_width=60),
    }


def lever(variant: str):
    """(TrainConfig overrides, model transform or None, records or None) of one variant."""
    if variant == "base":
        return {}, None, None
    if variant == "sdpa":
        return {}, "sdpa", None
    if variant == "dropout0":
        return {"dropout": 0.0}, None, None
    if variant.startswith("m") and variant[1:].isdigit():
        return {}, None, int(variant[1:])
    if variant.startswith("skip") and variant[4:].isdigit():
        k = int(variant[4:])

        def skip(model):
            layers = decoder_layers(model)
            for layer in layers[len(layers) - k:]:
                layer.gradient_checkpointing = False
            return model
        return {}, skip, None
    if variant == "compile":
        def compile_layers(model):
            for layer in decoder_layers(model):
                layer.compile(dynamic=True)
            return model
        return {}, compile_layers, None
    raise SystemExit(f"unknown variant {variant!r}")


def decoder_layers(model):
    for module in model.modules():
        layers = getattr(module, "layers", None)
        if layers is not None and len(layers) and hasattr(layers[0], "self_attn"):
            return list(layers)
    raise RuntimeError("no decoder layers found")


def run_variant(variant: str, model_dir, pool, work: Path, args, callbacks=()) -> dict:
    import finetune.training as training
    from finetune import varlen

    overrides, transform, records = lever(variant)
    attach, choose = training.attach_adapter, training.choose_attention
    if transform == "sdpa":
        training.choose_attention = lambda *a: ("sdpa", "sdpa (forced by the bench)")
    elif transform is not None:
        training.attach_adapter = lambda *a, **k: transform(attach(*a, **k))
    t0, calls = time.monotonic(), dict(varlen.CALLS)
    try:
        run = qs.guarded(qs.run_assay, model_dir, pool, work / "runs" / variant,
                         records or args.records, args.steps, args.warmup, args.liger,
                         overrides=overrides, callbacks=callbacks)
    finally:
        training.attach_adapter, training.choose_attention = attach, choose
    run["attention_calls"] = {k: v - calls[k] for k, v in varlen.CALLS.items()}
    run["wall_seconds"] = round(time.monotonic() - t0, 1)
    return {k: v for k, v in run.items() if k not in ("record_ids",)}


def main(argv=None) -> int:
    args = parse_args(argv)
    args.liger = not args.tiny
    started = time.monotonic()
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    cuda = torch.cuda.is_available()
    if not cuda and not args.tiny:
        print("no CUDA device: run with --tiny for the CPU dry run", file=sys.stderr)
        return 2
    work = Path(args.work or "/tmp/qb") / ("tiny" if args.tiny else "") / "mistral7b"
    work.mkdir(parents=True, exist_ok=True)
    liger = base.ensure_liger(None) if cuda else None
    model_dir, tokenizer, _ = qs.ensure_model(work, base.TINY if args.tiny else base.MISTRAL_7B,
                                              False, cuda)
    pool = qs.Pool(work, tokenizer, args.pool, args.seq)
    variants = ["base"] + [v for v in args.variants.split(",") if v and v != "base"]
    results = {"command": shlex.join([sys.executable, *sys.argv]),
               "machine": common.machine(libraries=True), "liger_kernel": liger,
               "seq": args.seq, "records": args.records, "steps": args.steps,
               "warmup": args.warmup, "pool": pool.describe(), "method": __doc__,
               "profile": {}, "runs": {v: [] for v in variants}}
    if args.profile_steps:
        sink: dict = {}
        run = run_variant("base", model_dir, pool, work, args,
                          callbacks=(ProfileSteps(args.warmup, args.profile_steps, sink),))
        results["profile"] = sink | {"run_tokens_per_s": run.get("tokens_per_s"),
                                     "error": run.get("error")}
        print(sink.get("op_table", run.get("error")), flush=True)
        print(json.dumps({k: v for k, v in sink.items() if k != "op_table"}, indent=1),
              flush=True)
    for round_ in range(args.repeats):
        order = variants[round_ % len(variants):] + variants[:round_ % len(variants)]
        for variant in order:
            walls = [r["wall_seconds"] for rs in results["runs"].values() for r in rs]
            if walls and time.monotonic() - started + max(walls) > args.time_limit:
                results["runs"][variant].append({"skipped": "time limit"})
                continue
            run = run_variant(variant, model_dir, pool, work, args)
            results["runs"][variant].append(run)
            print(variant, round_, {k: run.get(k) for k in (
                "tokens_per_s", "peak_gib", "reserved_gib", "attention", "attention_calls",
                "error")}, run.get("losses", [])[:4],
                  flush=True)
    results["summary"] = summarize(results["runs"])
    print(json.dumps(results["summary"], indent=1), flush=True)
    # on the GPU machine also into $OUT, the folder that comes back
    for folder in (common.RESULTS, *filter(None, [os.environ.get("OUT")])):
        common.write_json(Path(folder) / f"qlora_profile_{args.tag}.json", results)
    return 0


def summarize(runs: dict) -> dict:
    summary = {}
    for variant, rs in runs.items():
        speeds = [r["tokens_per_s"] for r in rs if r.get("tokens_per_s") and not r.get("error")]
        summary[variant] = {
            "runs": len(speeds), "errors": [r["error"][:300] for r in rs if r.get("error")],
            "median_tokens_per_s": round(statistics.median(speeds)) if speeds else None,
            "min": round(min(speeds)) if speeds else None,
            "max": round(max(speeds)) if speeds else None,
            "peak_gib": max((r.get("peak_gib") or 0 for r in rs), default=None),
            "reserved_gib": max((r.get("reserved_gib") or 0 for r in rs), default=None)}
    base_speed = summary.get("base", {}).get("median_tokens_per_s")
    for row in summary.values():
        if base_speed and row["median_tokens_per_s"]:
            row["ratio_to_base"] = round(row["median_tokens_per_s"] / base_speed, 3)
    return summary


if __name__ == "__main__":
    sys.exit(main())
