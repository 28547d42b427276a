"""Issue 20's side by side (``bench/qlora_speed.py --phases compare``): Assay against the
competition a user would actually pick, on one model shape, the same records, seq and cap.

Contenders (each a list of BATCHxSEQ configs; the best under the cap of each kind is its row):

(a) ``plain``: transformers+peft as a user writes the QLoRA recipe (qlora_speed's ladder):
    ``prepare_model_for_kbit_training``, non-reentrant checkpointing, dynamic padding,
    length-grouped batches.
(b) ``switches``: (a) with transformers' own speed switches on, none of which needs Assay:
    ``DataCollatorWithFlattening`` (padding-free), ``use_liger_kernel`` (GPU only),
    ``attn_implementation="sdpa"``; batches drawn at random (no padding to group away).
(c) ``unsloth``: Unsloth's ``FastLanguageModel`` QLoRA (4-bit, ``use_gradient_checkpointing=
    "unsloth"``), r, alpha, the seven projections, LR, optimizer and Trainer as above, the same
    batches as (a). ``import unsloth`` must precede transformers, so each run is a subprocess
    (this file run as a script); where Unsloth cannot be imported or fails, the row records the
    exact error. LoRA dropout is ``--unsloth-dropout`` (0 by default: Unsloth's fast LoRA
    kernels apply only without dropout, and 0 is what its users run; the others use 0.05).
``assay``: ``finetune.training.run_session`` with R records packed per micro-batch and liger
    when importable (qlora_speed's assay phase). It is (b)'s switches through the same Trainer,
    minus ``prepare_model_for_kbit_training``'s fp32 upcast of embeddings, norms and lm_head,
    plus finetune's sampler: what separates it from (b) is that and the batch size, not a
    kernel of its own.
``defaults``: `finetune train --seq SEQ` as a user gets it with no flags: 16 records per step
    (4 x 4), packed into the fewest micro-batches the GPU holds (varlen), liger where it runs.

Repeats: ``--repeats N`` rounds; round k runs every config once, in an order rotated by k, so
drift (clocks, temperature, the page cache) falls on all configs alike. Every run loads the
model afresh. A config is reported by the median tokens/s of its runs with min and max; its
peak is the largest over its runs; it is under the cap when every run finished at or under
14.5 GiB allocated. No run starts that would likely end after ``--time-limit``: the JSON says
how many runs each config got.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KINDS = ("plain", "switches", "unsloth", "assay", "defaults")
LABELS = {"plain": "(a) plain", "switches": "(b) switches", "unsloth": "(c) unsloth",
          "assay": "assay tuned", "defaults": "assay defaults"}
SEVEN = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(frozen=True)
class Contender:
    """One config of the side by side: ``batch`` records per micro-batch at ``seq``."""

    kind: str
    batch: int
    seq: int

    @property
    def key(self) -> str:
        if self.kind == "defaults":
            return f"assay defaults 16x{self.seq} per step"
        return f"{LABELS[self.kind]} {'m' if self.kind == 'assay' else 'b'}{self.batch}x{self.seq}"


def contenders(args, parse_configs) -> list[Contender]:
    """The configs named by --plain, --switches, --unsloth, --assay-tuned, --assay-defaults."""
    found = []
    for kind, text in (("plain", args.plain), ("switches", args.switches),
                       ("assay", args.assay_tuned), ("unsloth", args.unsloth)):
        found += [Contender(kind, b, s) for b, s in parse_configs(text or "")]
    for item in (args.assay_defaults or "").split(","):
        if item.strip():
            if not item.strip().isdigit() or int(item) < 16:
                raise SystemExit(f"--assay-defaults takes SEQ values, got {item!r} (e.g. 512)")
            found.append(Contender("defaults", 4, int(item)))
    return found


def flat_schedule(lengths: list[int], batch: int, warmup: int, steps: int,
                  seed: int) -> tuple[list[int], dict]:
    """Record indices for ``warmup + steps`` random batches of one shuffled epoch.

    Padding-free batches cost their token count, so the warm-up takes the epoch's heaviest
    batches (peak memory sees the worst case) and the measured steps are drawn at random from
    the rest, as grouped_schedule does for padded ones.
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = [order[i:i + batch] for i in range(0, len(order) - batch + 1, batch)]
    if not batches:
        raise SystemExit(f"batch {batch} is larger than the {len(lengths)} records")
    heaviest = sorted(range(len(batches)), key=lambda k: -sum(lengths[i] for i in batches[k]))
    warm = [batches[k] for k in heaviest[:warmup]]
    rest = [batches[k] for k in sorted(heaviest[warmup:])] or warm
    measured = rng.sample(rest, steps) if len(rest) >= steps else rng.choices(rest, k=steps)
    return [i for b in warm + measured for i in b], {
        "epoch_max_batch_tokens": sum(lengths[i] for i in batches[heaviest[0]])}


def summarize_runs(runs: list[dict], cap_gib: float) -> dict:
    """Median tokens/s with its spread over the runs that finished; largest peak; the cap."""
    done = [r for r in runs if "tokens_per_s" in r and not r.get("error")]
    speeds = sorted(r["tokens_per_s"] for r in done)
    peaks = [r["peak_gib"] for r in runs if r.get("peak_gib") is not None]
    reserved = [r["reserved_gib"] for r in runs if r.get("reserved_gib") is not None]
    errors = [r.get("error") or r.get("skipped") for r in runs
              if r.get("error") or r.get("skipped")]
    summary = {
        "runs": len(done), "tried": len(runs),
        "tokens_per_s_median": round(statistics.median(speeds), 1) if speeds else None,
        "tokens_per_s_min": round(speeds[0], 1) if speeds else None,
        "tokens_per_s_max": round(speeds[-1], 1) if speeds else None,
        "tokens_per_s_all": [round(r["tokens_per_s"], 1) for r in done],
        "peak_gib": max(peaks) if peaks else None,
        "reserved_gib": max(reserved) if reserved else None,
        "under_cap": bool(done) and len(done) == len(runs) and all(
            r.get("peak_gib") is None or r["peak_gib"] <= cap_gib for r in done),
    }
    if errors:
        summary["errors"] = sorted(set(str(e)[:400] for e in errors))
    return summary


def best_under_cap(configs: dict, kind: str, seq: int) -> str | None:
    """The key of the fastest (median) config of ``kind`` at ``seq`` under the cap."""
    fitting = [(c["summary"]["tokens_per_s_median"], key) for key, c in configs.items()
               if c["config"]["kind"] == kind and c["config"]["seq"] == seq
               and c["summary"]["under_cap"]]
    return max(fitting)[1] if fitting else None


def add_ratios(configs: dict) -> dict:
    """Each config's median over (b)'s and (c)'s best under the cap at its seq; returns the
    best config of every kind per seq."""
    best: dict[str, dict] = {}
    for seq in sorted({c["config"]["seq"] for c in configs.values()}):
        best[f"seq{seq}"] = {kind: best_under_cap(configs, kind, seq) for kind in KINDS}
    for c in configs.values():
        chosen = best[f"seq{c['config']['seq']}"]
        for kind, name in (("switches", "vs_b"), ("unsloth", "vs_c")):
            ref = chosen[kind] and configs[chosen[kind]]["summary"]["tokens_per_s_median"]
            mine = c["summary"]["tokens_per_s_median"]
            c["summary"][name] = round(mine / ref, 2) if ref and mine else None
    return best


def table(configs: dict, best: dict, unsloth_dropout: float | None = None) -> str:
    head = (f"{'config':<32} {'tok/s median [min-max]':>26} {'n':>3} {'peak GiB':>9} "
            f"{'resv GiB':>9} {'cap':>4} {'x(b)':>6} {'x(c)':>6}  note")
    lines = [head, "-" * len(head)]
    winners = {key for seq in best.values() for key in seq.values() if key}
    for key, c in configs.items():
        s = c["summary"]
        name = ("*" if key in winners else " ") + key
        peak = "-" if s["peak_gib"] is None else f"{s['peak_gib']:.2f}"
        resv = "-" if s["reserved_gib"] is None else f"{s['reserved_gib']:.2f}"
        ratios = [("-" if s.get(r) is None else f"{s[r]:.2f}") for r in ("vs_b", "vs_c")]
        notes = list(s.get("errors", []))
        if any(r.get("liger_error") for r in c["runs"]):
            notes.insert(0, "liger failed: ran without")
        note = "; ".join(notes)[:90]
        if s["tokens_per_s_median"] is None:
            speed = "-"
        else:
            speed = (f"{s['tokens_per_s_median']:,.0f} [{s['tokens_per_s_min']:,.0f}-"
                     f"{s['tokens_per_s_max']:,.0f}]")
        cap = "ok" if s["under_cap"] else ("over" if s["runs"] else "-")
        lines.append(f"{name:<32} {speed:>26} {s['runs']:>3} {peak:>9} {resv:>9} {cap:>4} "
                     f"{ratios[0]:>6} {ratios[1]:>6}  {note}")
    lines.append("* the best of its kind under the cap at its seq; x(b), x(c): median over the "
                 "best (b) / (c) under the cap at the same seq")
    if unsloth_dropout is not None:
        lines.append(f"(c) trains with LoRA dropout {unsloth_dropout:g}, the others with 0.05")
    return "\n".join(lines)


# -- running -------------------------------------------------------------------------------------


def run_compare(args, qs, results: dict, pools: dict, model_dir: Path, tokenizer, work: Path,
                liger_version: str | None, started: float, save, earlier: dict | None = None
                ) -> None:
    """Run every contender ``args.repeats`` times in rotated rounds into ``results["compare"]``;
    ``save()`` writes the results after each run. ``earlier`` is the compare section an earlier
    call saved (``--resume``): its finished runs count, and only the missing ones run."""
    chosen = contenders(args, qs.parse_configs)
    section = results["compare"] = {
        "method": __doc__.split("\n\n", 1)[1], "repeats": args.repeats,
        "unsloth_dropout": args.unsloth_dropout, "configs": {}, "best_under_cap": {},
        "invocations": 1}
    configs = section["configs"]
    for c in chosen:
        configs[c.key] = {"config": {"kind": c.kind, "batch": c.batch, "seq": c.seq},
                          "runs": [], "summary": summarize_runs([], qs.CAP_GIB)}
    if earlier:  # --resume: keep the measured runs of an earlier call, run the rest again
        section["invocations"] = earlier.get("invocations", 1) + 1
        for key, entry in earlier["configs"].items():
            if key in configs:
                runs = [r for r in entry["runs"] if "tokens_per_s" in r and not r.get("error")]
                configs[key] |= {"runs": runs, "summary": summarize_runs(runs, qs.CAP_GIB)}
        section["best_under_cap"] = add_ratios(configs)
    walls: dict[str, list[float]] = {
        key: [r["wall_seconds"] for r in entry["runs"] if "wall_seconds" in r]
        for key, entry in configs.items() if entry["runs"]}
    for round_ in range(args.repeats):
        shift = round_ % max(1, len(chosen))
        for c in chosen[shift:] + chosen[:shift]:
            if len(configs[c.key]["runs"]) > round_:
                continue  # done by an earlier call
            seen = walls.get(c.key) or [w for ws in walls.values() for w in ws] or [0.0]
            if time.monotonic() - started + statistics.fmean(seen) > args.time_limit:
                run = {"skipped": "time limit"}
            else:
                t0 = time.monotonic()
                run = qs.guarded(run_one, c, args, qs, pools[c.seq], model_dir, tokenizer,
                                 work, liger_version, started)
                run["wall_seconds"] = round(time.monotonic() - t0, 1)
                walls.setdefault(c.key, []).append(run["wall_seconds"])
            run["round"] = round_ + 1
            entry = configs[c.key]
            entry["runs"].append({k: v for k, v in run.items() if k != "record_ids"})
            entry["summary"] = summarize_runs(entry["runs"], qs.CAP_GIB)
            section["best_under_cap"] = add_ratios(configs)
            brief = {k: v for k, v in run.items() if k in (
                "tokens_per_s", "peak_gib", "held_before_gib", "reserved_gib", "measured_steps",
                "wall_seconds", "error", "skipped", "liger", "attn_implementation", "padding_efficiency")}
            print(f"round {round_ + 1} {c.key}", json.dumps(brief), flush=True)
            save()


def run_one(c: Contender, args, qs, pool, model_dir: Path, tokenizer, work: Path,
            liger_version: str | None, started: float) -> dict:
    liger = liger_version is not None
    seed = c.batch * 7919 + c.seq
    if c.kind in ("plain", "unsloth"):
        schedule, extra = qs.grouped_schedule(pool.lengths, c.batch, args.warmup, args.steps, seed)
    elif c.kind == "switches":
        schedule, extra = flat_schedule(pool.lengths, c.batch, args.warmup, args.steps, seed)
    if c.kind == "plain":
        return qs.run_baseline(model_dir, pool, tokenizer, c.batch, True, schedule,
                               args.warmup) | extra
    if c.kind == "switches":
        return run_switches(qs, model_dir, pool, tokenizer, c.batch, schedule, args.warmup,
                            liger) | extra
    out = work / "runs" / c.key.replace(" ", "_")
    if c.kind == "assay":
        return qs.run_assay_fallback(model_dir, pool, out, c.batch, args.steps, args.warmup,
                                     liger)
    if c.kind == "defaults":
        return qs.run_assay(model_dir, pool, out, c.batch, args.steps, args.warmup, False,
                            defaults=True)
    spec = {"model_dir": str(model_dir), "work": str(work), "records": args.records,
            "seq": c.seq, "batch": c.batch, "schedule": schedule, "warmup": args.warmup,
            "dropout": args.unsloth_dropout}
    # a hung worker must not take the whole call: one run is well under 5 minutes on an H200
    limit = max(30.0, min(300.0, args.time_limit - (time.monotonic() - started)))
    return run_unsloth_subprocess(spec, work / "unsloth", limit) | extra


def run_switches(qs, model_dir, pool, tokenizer, batch, schedule, warmup, liger) -> dict:
    """(b) with liger when importable; if liger fails on this stack (the fp32 lm_head that
    prepare_model_for_kbit_training leaves, say), record why and run (b) without it."""
    import torch

    if not liger:
        return qs.run_baseline(model_dir, pool, tokenizer, batch, True, schedule, warmup,
                               switches=True)
    try:
        return qs.run_baseline(model_dir, pool, tokenizer, batch, True, schedule, warmup,
                               switches=True, liger=True)
    except torch.OutOfMemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded in the row
        error = f"{type(exc).__name__}: {exc}"[:2000]
    qs.base.free_memory()
    run = qs.run_baseline(model_dir, pool, tokenizer, batch, True, schedule, warmup,
                          switches=True)
    return run | {"liger_error": error}


def run_unsloth_subprocess(spec: dict, folder: Path, timeout_s: float) -> dict:
    """(c) in its own process (Unsloth patches transformers on import): this file as a script.
    Its compile cache lands in ``folder``, reused by later runs."""
    folder.mkdir(parents=True, exist_ok=True)
    spec_path, result_path = folder / "spec.json", folder / "result.json"
    spec_path.write_text(json.dumps(spec | {"result": str(result_path)}), encoding="utf-8")
    result_path.unlink(missing_ok=True)
    try:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), str(spec_path)],
                              cwd=folder, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stdout or "")[-1500:] if isinstance(exc.stdout, str) else ""
        return {"error": f"unsloth run timed out after {timeout_s:.0f} s", "log_tail": tail}
    log_tail = (proc.stdout + proc.stderr)[-3000:]
    if not result_path.is_file():
        return {"error": f"unsloth worker exited {proc.returncode} without a result",
                "log_tail": log_tail}
    run = json.loads(result_path.read_text(encoding="utf-8"))
    if run.get("error"):
        run["log_tail"] = log_tail
    return run


# -- the Unsloth worker (a separate process) -----------------------------------------------------


def worker(spec_path: str) -> int:
    """Import Unsloth first, train (c) as the spec says, write the run (or its error)."""
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    out = Path(spec["result"])
    try:
        import unsloth  # noqa: F401  (must come before transformers in this process)
    except BaseException as exc:  # noqa: BLE001 - ImportError, or its GPU check failing
        run = {"error": f"unsloth not importable: {type(exc).__name__}: {exc}"[:2000]}
    else:
        run = _guarded_unsloth(spec)
    out.write_text(json.dumps(run), encoding="utf-8")
    return 0


def _guarded_unsloth(spec: dict) -> dict:
    import torch

    from bench import qlora_speed as qs

    try:
        return train_unsloth(spec)
    except torch.OutOfMemoryError as exc:
        return {"oom": True, "error": f"OutOfMemoryError: {exc}"[:600]} | qs.memory()
    except Exception as exc:  # noqa: BLE001 - the row records it
        return {"error": f"{type(exc).__name__}: {exc}"[:2000],
                "traceback": traceback.format_exc()[-3000:]} | qs.memory()


def train_unsloth(spec: dict) -> dict:
    from importlib.metadata import version

    from transformers import AutoTokenizer
    from unsloth import FastLanguageModel

    from bench import qlora_speed as qs
    from finetune.config import TrainConfig

    defaults = TrainConfig()
    model_dir, work = Path(spec["model_dir"]), Path(spec["work"])
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))  # the other rows' encodings
    pool = qs.Pool(work, tokenizer, spec["records"], spec["seq"])
    model, _ = FastLanguageModel.from_pretrained(
        model_name=str(model_dir), max_seq_length=spec["seq"], dtype=None, load_in_4bit=True)
    model = FastLanguageModel.get_peft_model(
        model, r=defaults.r, lora_alpha=defaults.alpha, lora_dropout=spec["dropout"],
        target_modules=SEVEN, bias="none", use_gradient_checkpointing="unsloth",
        random_state=defaults.seed)
    run = qs.train_rows(model, tokenizer, pool, spec["batch"], spec["schedule"],
                        spec["warmup"], None, flatten=False, liger=False,
                        out=work / "unsloth" / "trainer")
    run.pop("record_ids", None)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return run | {"unsloth": version("unsloth"), "unsloth_zoo": version("unsloth_zoo"),
                  "lora_dropout": spec["dropout"], "trainable_parameters": trainable}


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(worker(sys.argv[1]))
