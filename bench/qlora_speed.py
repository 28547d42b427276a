"""QLoRA speed at a 14.5 GiB memory cap: the best plain transformers+peft setup vs `finetune train`.

Issue 13. Everything runs in one process on one GPU, on the same data: advising-style records
of mixed length (bench/qlora_gpu.py builds them, its byte-level BPE tokenizer and its random
Mistral-7B-shaped model; ``--gemma-shape`` builds a random model with the packaged Gemma 3
270M's config instead, embedded below as ``GEMMA3_270M``). Both paths load the model in 4-bit
NF4, train LoRA r=16 on all linear layers (finetune.config.TrainConfig's defaults) with
paged 8-bit AdamW, bf16, constant LR, max-grad-norm 1, and format records with the same
template and answer-only labels (finetune.formatting).

Baseline ladder (plain transformers+peft, as a careful engineer would set it up):
``prepare_model_for_kbit_training`` + ``get_peft_model`` + ``Trainer`` with dynamic padding
(``DataCollatorForSeq2Seq``, pad to the longest record of the batch) and length-grouped
batches (``train_sampling_strategy="group_by_length"``, which was ``group_by_length=True``):
batch 1/4/8/16/32 x seq 512 and 2/4/8 x 2048 with gradient checkpointing, and without it
(a config is skipped once a smaller batch of the same seq already went over the cap, unless
``--no-skip-over-cap``). So that the 10 measured steps are an unbiased sample of an epoch,
transformers' own ``LengthGroupedSampler`` lays out a whole epoch of batches over the record
pool; the warm-up steps are its first batches (the longest: peak memory sees the worst case)
and the measured steps are batches drawn at random from the rest.

Assay's path: ``finetune.training.run_session`` itself (records packed into one row per
micro-batch without padding, position ids restarting per record, liger-kernel's fused linear
cross-entropy when importable), at a few micro-batch sizes, plus one ablation without liger.
Packing and liger are transformers' own switches (``DataCollatorWithFlattening``,
``use_liger_kernel``) through its Trainer: the ladder's baseline has them off, so the speed-up
at the cap below is mostly theirs, not a kernel of Assay's.

Side by side (``--phases compare``, issue 20): (a) the ladder's plain path, (b) the same with
transformers' switches on (flattening, liger, sdpa), (c) Unsloth's FastLanguageModel in a
subprocess (its import error recorded where it cannot be imported), and Assay's own rows
(tuned, and `finetune train`'s defaults), each ``--repeats`` times in rotated rounds, median
and spread: bench/qlora_compare.py says how.

Figures: tokens/s counts real (non-pad) tokens over the measured steps, each step timed from
its first forward to the end of its optimizer step (data collation is outside both paths'
timers); peak is ``torch.cuda.max_memory_allocated`` over the whole config (model load
included) minus what was still allocated when it started (``held_before_gib``: what earlier
configs of the same process left behind; before 2026-12-01 it was not subtracted, and peaks of
later rounds rose by about 1 GiB per round at identical batches while Unsloth's, each in a
fresh subprocess, did not move), reserved is ``max_memory_reserved`` (not corrected). OOM is
caught and reported. The speed-up at the cap is, per seq, the best Assay config over the best
baseline config, both with peak <= 14.5 GiB.

Loss curves (``--phases loss``): R records per optimizer step for both paths (default 8 at
seq 512, one micro-batch each), the SAME records in the SAME order (the run order of
finetune.sampler with seed 0; group_by_length is off because it reorders records), the same
LoRA init (seed 0), the same optimizer and constant LR. Step k then consumes records
(k-1)R+1 .. kR in both paths, so the losses compare at equal records seen, step by step. Step
1 runs before any update (LoRA B = 0), so its difference is pure numerics (padding vs
packing, fused vs plain cross-entropy, fp32 vs bf16 lm_head). Later steps differ also by
LoRA-dropout masks; the verdict requires every window of N/10 steps to agree within
``--loss-tolerance`` (relative). The baseline runs first until its share of the time left,
then Assay for the same number of steps.

Run on the GPU machine (see the lead's report for the exact commands); ``--tiny`` runs small
random models on CPU to prove the script end to end. Results: bench/results/
qlora_speed_<tag>.json and $OUT/qlora_speed_<tag>.json (if $OUT is set).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shlex
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common, qlora_compare  # noqa: E402
from bench import qlora_gpu as base  # noqa: E402  (model, tokenizer, records, timing helpers)

CAP_GIB = base.GOAL_PEAK_GIB
GOAL_SPEEDUP = base.GOAL_SPEEDUP

# Gemma 3 270M's config.json, as core.local_model.hf_model_dir() converts it from the packaged
# GGUF (without _model_name_or_path, transformers_version and dtype). Token ids are replaced by
# the benchmark tokenizer's at build time.
GEMMA3_270M = {
    "_sliding_window_pattern": 6,
    "architectures": ["Gemma3ForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "attn_logit_softcapping": None,
    "bos_token_id": 2,
    "eos_token_id": 1,
    "final_logit_softcapping": None,
    "head_dim": 256,
    "hidden_activation": "gelu_pytorch_tanh",
    "hidden_size": 640,
    "initializer_range": 0.02,
    "intermediate_size": 2048,
    "layer_types": (["sliding_attention"] * 5 + ["full_attention"]) * 3,
    "max_position_embeddings": 32768,
    "model_type": "gemma3_text",
    "num_attention_heads": 4,
    "num_hidden_layers": 18,
    "num_key_value_heads": 1,
    "pad_token_id": 0,
    "query_pre_attn_scalar": 256,
    "rms_norm_eps": 9.999999974752427e-07,
    "rope_parameters": {
        "full_attention": {"rope_theta": 1000000.0, "rope_type": "default"},
        "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"},
    },
    "sliding_window": 512,
    "tie_word_embeddings": True,
    "unk_token_id": 3,
    "use_bidirectional_attention": False,
    "use_cache": True,
    "vocab_size": 262144,
}
TINY_GEMMA = GEMMA3_270M | {
    "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 6, "head_dim": 16,
    "layer_types": ["sliding_attention"] * 5 + ["full_attention"], "num_attention_heads": 4,
    "query_pre_attn_scalar": 16, "sliding_window": 32, "vocab_size": 4096,
    "max_position_embeddings": 4096,
}
_VOLATILE_CONFIG_KEYS = ("_model_name_or_path", "transformers_version", "dtype")

DEFAULTS = {
    "gpu": {
        "ladder": "1x512,4x512,8x512,16x512,32x512,2x2048,4x2048,8x2048",
        "ladder_nogc": "1x512,4x512,8x512,16x512,2x2048,4x2048",
        "assay": "16x512,32x512,64x512,4x2048,8x2048,16x2048",
        "assay_noliger": "32x512", "loss": "8x512", "loss_steps": 200, "steps": 10,
        "warmup": 2, "records": 1600,
        # --phases compare (issue 20); all of it takes longer than one 600 s device call
        "plain": "8x512,16x512", "switches": "32x512,64x512", "assay_tuned": "32x512",
        "assay_defaults": "512", "unsloth": "16x512,32x512", "repeats": 3, "compare_steps": 20,
    },
    "tiny": {
        "ladder": "1x64,4x64,8x64,2x128,4x128", "ladder_nogc": "1x64,4x64,2x128",
        "assay": "8x64,16x64,4x128", "assay_noliger": "", "loss": "4x64", "loss_steps": 12,
        "steps": 3, "warmup": 1, "records": 120,
        "plain": "4x64", "switches": "8x64", "assay_tuned": "8x64", "assay_defaults": "64",
        "unsloth": "4x64", "repeats": 2, "compare_steps": 3,
    },
}
PHASES = ("ladder", "assay", "loss", "compare")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="small random models on CPU")
    parser.add_argument("--gemma-shape", action="store_true",
                        help="random weights with Gemma 3 270M's config instead of Mistral 7B")
    parser.add_argument("--phases", default="ladder,assay",
                        help="comma list of ladder, assay, loss, compare (default "
                             "ladder,assay; compare: issue 20's side by side, see "
                             "bench/qlora_compare.py)")
    parser.add_argument("--ladder", default=None,
                        help="baseline BATCHxSEQ list with gradient checkpointing")
    parser.add_argument("--ladder-nogc", default=None,
                        help="baseline BATCHxSEQ list without gradient checkpointing")
    parser.add_argument("--assay", default=None,
                        help="Assay RECORDS_PER_MICRO_BATCHxSEQ list (liger when importable)")
    parser.add_argument("--assay-noliger", default=None,
                        help="Assay configs without liger-kernel (ablation)")
    parser.add_argument("--no-skip-over-cap", action="store_true",
                        help="also run configs whose smaller batch already went over the cap")
    parser.add_argument("--loss", default=None, help="RxSEQ of the loss comparison (8x512)")
    parser.add_argument("--loss-steps", type=int, default=None,
                        help="optimizer steps of the loss comparison (200; cut to fit the time)")
    parser.add_argument("--loss-gc", choices=("on", "off"), default="on",
                        help="gradient checkpointing in both loss runs (same math either way)")
    parser.add_argument("--loss-dropout", type=float, default=0.05,
                        help="LoRA dropout of both loss runs (0.05, finetune's default; 0 leaves "
                             "only numerics: packed and padded rows draw different masks)")
    parser.add_argument("--loss-tolerance", type=float, default=0.02,
                        help="largest relative difference of window mean losses (0.02)")
    compare = parser.add_argument_group(
        "compare phase", "BATCHxSEQ lists per contender ('' leaves one out); the best of each "
        "under the cap is its row")
    compare.add_argument("--plain", default=None,
                         help="(a) transformers+peft as written, padded, grouped (8x512,16x512)")
    compare.add_argument("--switches", default=None,
                         help="(b) transformers+peft with flattening, liger, sdpa "
                              "(32x512,64x512)")
    compare.add_argument("--unsloth", default=None,
                         help="(c) Unsloth FastLanguageModel, padded, grouped (16x512,32x512)")
    compare.add_argument("--assay-tuned", default=None,
                         help="Assay, R records packed per micro-batch, liger (32x512)")
    compare.add_argument("--assay-defaults", default=None,
                         help="SEQ list: `finetune train --seq SEQ` with no other flag (512)")
    compare.add_argument("--repeats", type=int, default=None,
                         help="runs of every config, in rotated rounds (3)")
    compare.add_argument("--resume", action="store_true",
                         help="keep the finished runs a call with the same --work and --tag "
                              "left there (the machine still warm) and run the rest")
    compare.add_argument("--unsloth-dropout", type=float, default=0.0,
                         help="(c)'s LoRA dropout (0: Unsloth's fast path; the others 0.05)")
    parser.add_argument("--build-only", action="store_true",
                        help="build (or find) the random model and its tokenizer, then stop")
    parser.add_argument("--steps", type=int, default=None,
                        help="measured steps per config (10; compare: 20)")
    parser.add_argument("--warmup", type=int, default=None, help="unmeasured first steps")
    parser.add_argument("--records", type=int, default=None, help="records per seq (1600)")
    parser.add_argument("--wheels", default=os.environ.get("BENCH_WHEELS"),
                        help="folder of wheels to pip install --no-index from (liger-kernel)")
    parser.add_argument("--no-liger", action="store_true", help="Assay's path without liger")
    parser.add_argument("--work", default=None,
                        help="scratch folder (default $TMPDIR/qlora-bench, shared with "
                             "qlora_gpu.py: a model it saved there is reused)")
    parser.add_argument("--tag", default=None,
                        help="results file: bench/results/qlora_speed_<tag>.json")
    parser.add_argument("--time-limit", type=float, default=520,
                        help="seconds; no config starts that would likely end after this")
    args = parser.parse_args(argv)
    preset = DEFAULTS["tiny" if args.tiny else "gpu"]
    if args.steps is None and "compare" in args.phases.split(","):
        args.steps = preset["compare_steps"]
    for name, value in preset.items():
        if name != "compare_steps" and getattr(args, name) is None:
            setattr(args, name, value)
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"--phases: unknown {sorted(unknown)}; use {', '.join(PHASES)}")
    return args


def parse_configs(text: str) -> list[tuple[int, int]]:
    """``"4x512,2x2048"`` -> ``[(4, 512), (2, 2048)]`` (batch or records, seq)."""
    configs = []
    for item in text.split(","):
        if not item.strip():
            continue
        batch, _, seq = item.strip().lower().partition("x")
        if not batch.isdigit() or not seq.isdigit() or int(batch) < 1 or int(seq) < 16:
            raise SystemExit(f"not a BATCHxSEQ config: {item!r} (write e.g. 8x512)")
        configs.append((int(batch), int(seq)))
    return configs


# -- model and data ---------------------------------------------------------------------------


def check_gemma_config() -> str:
    """Compare GEMMA3_270M with the packaged model's config.json, where it was converted."""
    from core.local_model import DEFAULT_LOCAL_MODEL, cache_dir

    path = cache_dir() / "hf" / DEFAULT_LOCAL_MODEL / "config.json"
    if not path.is_file():
        return "packaged config.json not converted on this machine; not compared"
    packaged = json.loads(path.read_text(encoding="utf-8"))
    for key in _VOLATILE_CONFIG_KEYS:
        packaged.pop(key, None)
    if packaged != GEMMA3_270M:
        differ = sorted(k for k in packaged.keys() | GEMMA3_270M.keys()
                        if packaged.get(k) != GEMMA3_270M.get(k))
        raise SystemExit(f"GEMMA3_270M differs from {path} in {differ}; update the dict")
    return f"equal to {path}"


def ensure_model(work: Path, shape: dict, gemma: bool, cuda: bool) -> tuple[Path, object, dict]:
    """The random model and tokenizer in ``work/model``, built once (reused when complete)."""
    from transformers import AutoTokenizer

    model_dir = work / "model"
    marker = model_dir / "BUILT"
    t0 = time.monotonic()
    if marker.is_file():
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        info = {"model_reused": True}
    else:
        tokenizer = base.train_tokenizer(model_dir, vocab_size=min(shape["vocab_size"], 8000))
        base.build_model(model_dir, shape, tokenizer, "cuda" if cuda else "cpu",
                         "Gemma3TextConfig" if gemma else "MistralConfig")
        marker.write_text("ok\n")
        info = {"model_reused": False}
    info["build_seconds"] = round(time.monotonic() - t0, 1)
    return model_dir, tokenizer, info


class Pool:
    """One seq's records: the JSONL both paths read, and their encodings for the baseline."""

    def __init__(self, work: Path, tokenizer, n: int, seq: int) -> None:
        from core.datasets import load_dataset, write_jsonl
        from finetune.formatting import encode_records, template_info

        self.seq = seq
        self.path = work / f"records-{seq}-{n}.jsonl"
        write_jsonl(base.build_records(tokenizer, n, seq, seed=seq), self.path)
        records = load_dataset(self.path).records
        encoded, self.truncated = encode_records(tokenizer, records, template_info(tokenizer),
                                                 seq)
        self.rows = [{"input_ids": e.input_ids, "labels": e.labels} for e in encoded]
        self.ids = [r.id for r in records]
        self.lengths = [len(e.input_ids) for e in encoded]

    def describe(self) -> dict:
        lengths = sorted(self.lengths)
        return {"records": len(lengths), "truncated": self.truncated,
                "mean_tokens": round(statistics.fmean(lengths), 1),
                "median_tokens": lengths[len(lengths) // 2], "min_tokens": lengths[0],
                "max_tokens": lengths[-1]}


def grouped_schedule(lengths: list[int], batch: int, warmup: int, steps: int,
                     seed: int) -> tuple[list[int], dict]:
    """Record indices for ``warmup + steps`` batches of transformers' group_by_length epoch.

    ``LengthGroupedSampler`` orders one epoch over the pool (its first batch is the longest);
    the warm-up takes the epoch's first batches, the measured steps ``steps`` batches drawn at
    random from the others, so their lengths and padding are an unbiased sample of the epoch.
    """
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    generator = torch.Generator()
    generator.manual_seed(seed)
    order = list(LengthGroupedSampler(batch, lengths=lengths, generator=generator))
    batches = [order[i:i + batch] for i in range(0, len(order) - batch + 1, batch)]
    rng = random.Random(seed)
    rest = batches[warmup:]
    measured = rng.sample(rest, steps) if len(rest) >= steps else rng.choices(rest, k=steps)
    chosen = batches[:warmup] + measured
    epoch_real = sum(lengths[i] for b in batches for i in b)
    epoch_padded = sum(batch * max(lengths[i] for i in b) for b in batches)
    return [i for b in chosen for i in b], {"epoch_padding_efficiency":
                                            round(epoch_real / epoch_padded, 4)}


# -- the two paths ------------------------------------------------------------------------------


def run_baseline(model_dir: Path, pool: Pool, tokenizer, batch: int, gc_on: bool,
                 schedule: list[int], warmup: int, deadline: float | None = None,
                 switches: bool = False, liger: bool = False,
                 dropout: float | None = None) -> dict:
    """transformers+peft over ``schedule`` (record indices, ``batch`` per step, in order).

    Plain (a): dynamic padding. ``switches`` (b): transformers' own speed switches on, which a
    user can set without Assay: ``DataCollatorWithFlattening`` (padding-free, position ids
    restart per record), ``attn_implementation="sdpa"`` and, with ``liger``,
    ``use_liger_kernel``. ``dropout``: LoRA dropout (finetune's default when None).
    """
    model = load_plain(model_dir, gc_on, attn="sdpa" if switches else None, dropout=dropout)
    return train_rows(model, tokenizer, pool, batch, schedule, warmup, deadline,
                      flatten=switches, liger=liger, out=model_dir.parent / "baseline-trainer")


def load_plain(model_dir: Path, gc_on: bool, attn: str | None = None,
               dropout: float | None = None):
    """The model as the peft QLoRA recipe loads it: NF4, ``prepare_model_for_kbit_training``
    (which upcasts the unquantized weights to fp32), LoRA with finetune's defaults."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from finetune.config import TrainConfig
    from finetune.training import lora_targets, pick_device

    device, defaults = pick_device(), TrainConfig()
    dtype = getattr(torch, device.dtype_name)
    base.free_memory()
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                               bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype)
    extra = {} if attn is None else {"attn_implementation": attn}
    model = AutoModelForCausalLM.from_pretrained(
        str(model_dir), quantization_config=quant, dtype=dtype,
        device_map={"": 0 if device.kind == "cuda" else "cpu"}, **extra)
    model.config.use_cache = False
    model = prepare_model_for_kbit_training(
        model, use_gradient_checkpointing=gc_on,
        gradient_checkpointing_kwargs={"use_reentrant": False})
    torch.manual_seed(defaults.seed)  # the same LoRA init as finetune.training.attach_adapter
    return get_peft_model(model, LoraConfig(
        r=defaults.r, lora_alpha=defaults.alpha,
        lora_dropout=defaults.dropout if dropout is None else dropout,
        target_modules=lora_targets(defaults.targets), bias="none", task_type="CAUSAL_LM"))


def train_rows(model, tokenizer, pool: Pool, batch: int, schedule: list[int], warmup: int,
               deadline: float | None, flatten: bool, liger: bool, out: Path) -> dict:
    """The transformers Trainer over ``schedule``, each step timed; finetune's optimizer, LR,
    clipping and precision. ``flatten``: padding-free batches, else padded to the longest."""
    from transformers import (
        DataCollatorForSeq2Seq,
        DataCollatorWithFlattening,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from finetune.config import TrainConfig
    from finetune.training import pick_device

    device, defaults = pick_device(), TrainConfig()
    cuda = device.kind == "cuda"
    log: dict[str, list] = {"loss": [], "seconds": [], "tokens": [], "padded": [], "width": []}
    state = {"tokens": 0, "padded": 0, "width": 0, "loss": 0.0, "t0": 0.0}

    class Baseline(Trainer):
        def training_step(self, model, inputs, *args, **kwargs):
            mask = inputs.get("attention_mask")
            ids = inputs["input_ids"]  # flattened batches are one row with no mask or padding
            state["tokens"] += int(mask.sum()) if mask is not None else ids.numel()
            state["padded"] += ids.numel()
            state["width"] = max(state["width"], ids.shape[1])
            loss = super().training_step(model, inputs, *args, **kwargs)
            state["loss"] += float(loss.detach().float())
            return loss

    class Timer(TrainerCallback):
        def on_step_begin(self, args, st, control, **kwargs):
            base._sync()
            state.update(tokens=0, padded=0, width=0, loss=0.0, t0=time.perf_counter())

        def on_step_end(self, args, st, control, **kwargs):
            base._sync()
            log["seconds"].append(time.perf_counter() - state["t0"])
            for key in ("loss", "tokens", "padded", "width"):
                log[key].append(state[key])
            if deadline is not None and time.monotonic() > deadline:
                control.should_training_stop = True
            return control

    args = TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=batch,
        gradient_accumulation_steps=1, max_steps=len(schedule) // batch,
        learning_rate=defaults.lr, lr_scheduler_type="constant",
        weight_decay=defaults.weight_decay, max_grad_norm=defaults.max_grad_norm,
        optim=device.optim, bf16=device.dtype_name == "bfloat16",
        fp16=device.dtype_name == "float16", use_cpu=not cuda,
        train_sampling_strategy="sequential", logging_strategy="no", save_strategy="no",
        report_to="none", disable_tqdm=True, remove_unused_columns=False,
        dataloader_num_workers=0, seed=defaults.seed, use_liger_kernel=liger and cuda,
    )
    collator = (DataCollatorWithFlattening(return_position_ids=True) if flatten else
                DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=-100))
    trainer = Baseline(model=model, args=args, train_dataset=[pool.rows[i] for i in schedule],
                       data_collator=collator, callbacks=[Timer()])
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for quiet in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(quiet)
    trainer.train()
    result = summarize(log, warmup) | memory()
    result["attn_implementation"] = getattr(model.config, "_attn_implementation", None)
    result["liger"] = bool(liger and cuda)
    result["record_ids"] = [[pool.ids[i] for i in schedule[k * batch:(k + 1) * batch]]
                            for k in range(len(log["loss"]))]
    del trainer, model
    return result


def run_assay(model_dir: Path, pool: Pool, out: Path, records: int, steps: int, warmup: int,
              liger: bool, budget_s: float = 24 * 3600, gc_on: bool = True,
              defaults: bool = False, overrides: dict | None = None,
              callbacks: tuple = ()) -> dict:
    """finetune.training.run_session, as `finetune train` runs it (gate record left empty).

    ``defaults``: `finetune train --seq SEQ --max-steps N` with nothing else set (``records``
    and ``liger`` ignored: TrainConfig's 16 records per step, split by the auto micro-batch,
    liger where it runs, cosine).
    ``overrides``: other TrainConfig fields (e.g. dropout); ``callbacks``: Trainer callbacks."""
    from finetune.config import TrainConfig
    from finetune.handoff import GateRecord
    from finetune.sampler import run_order
    from finetune.training import SessionSpec, run_session

    base.free_memory()
    shutil.rmtree(out, ignore_errors=True)
    n = len(pool.rows)
    if defaults:
        plain = TrainConfig()  # enough epochs for the steps; the LR schedule spans max_steps
        epochs = max(plain.epochs, math.ceil((warmup + steps) * plain.samples_per_step / n) + 1)
        config = TrainConfig(seq=pool.seq, max_steps=warmup + steps, epochs=epochs)
        records, liger = config.batch_size, config.liger
    else:
        config = TrainConfig(epochs=math.ceil((warmup + steps) * records / n) + 1,
                             batch_size=records, grad_accum=1, seq=pool.seq,
                             max_steps=warmup + steps, liger=liger,
                             scheduler="constant_with_warmup", warmup_ratio=0.0,
                             gradient_checkpointing=gc_on, **(overrides or {}))
    spec = SessionSpec(model_dir=model_dir, data_path=pool.path, out=out, config=config,
                       gate=GateRecord(), budget_s=budget_s, progress=False, run_name=out.name,
                       callbacks=list(callbacks), auto_micro_batch=defaults)
    result = run_session(spec)
    log = {"loss": [s.loss for s in result.steps], "seconds": [s.seconds for s in result.steps],
           "tokens": [s.tokens for s in result.steps]}
    log["padded"] = log["tokens"]  # packed: no padding
    summary = summarize(log, warmup) | memory()
    # Peak memory follows the largest packed micro-batch: the measured one vs an epoch's.
    order = list(run_order(n, config.seed, n))
    summary["epoch_max_micro_batch_tokens"] = max(
        sum(pool.lengths[i] for i in order[k:k + records]) for k in range(0, n, records))
    summary["record_ids"] = [s.record_ids for s in result.steps]
    summary["liger"] = result.liger
    summary["chat_template"] = result.template_source
    summary["attention"] = result.attention
    summary["micro_batch"] = list(result.micro_batch)
    return summary


def summarize(log: dict[str, list], warmup: int) -> dict:
    seconds, tokens = log["seconds"][warmup:], log["tokens"][warmup:]
    padded = log["padded"][warmup:]
    total_s = sum(seconds)
    return {
        "measured_steps": len(seconds), "tokens": sum(tokens), "seconds": round(total_s, 3),
        "tokens_per_s": sum(tokens) / total_s if total_s else 0.0,
        "padding_efficiency": round(sum(tokens) / sum(padded), 4) if sum(padded) else None,
        "mean_tokens_per_step": round(statistics.fmean(tokens), 1) if tokens else 0,
        "max_tokens_per_step": max(log["tokens"], default=0),
        "step_seconds": [round(s, 4) for s in log["seconds"]],
        "step_tokens": list(log["tokens"]), "losses": [round(v, 5) for v in log["loss"]],
    }


def memory() -> dict:
    import torch

    if not torch.cuda.is_available():
        return {"peak_gib": None, "reserved_gib": None}
    return {"peak_gib": round(base.peak_gib() or 0.0, 3),
            "reserved_gib": round(torch.cuda.max_memory_reserved() / 1024**3, 3),
            "held_before_gib": round(base.HELD_AT_RESET[0] / 1024**3, 3)}


def guarded(fn, *args, **kwargs) -> dict:
    """Run one config; an OOM or other failure becomes a reported row."""
    import torch

    try:
        run = fn(*args, **kwargs)
    except torch.OutOfMemoryError as exc:
        run = {"oom": True, "error": f"OutOfMemoryError: {exc}"[:600]} | memory()
    except Exception as exc:  # noqa: BLE001 - a benchmark records and moves on
        run = {"error": f"{type(exc).__name__}: {exc}"[:2000]} | memory()
    base.free_memory()
    return run


def under_cap(run: dict) -> bool:
    if "tokens_per_s" not in run or run.get("error"):
        return False
    return run["peak_gib"] is None or run["peak_gib"] <= CAP_GIB


# -- loss comparison ----------------------------------------------------------------------------


def compare_losses(baseline: list[float], assay: list[float], per_step: int,
                   tolerance: float) -> dict:
    """Per-step losses of two runs that consumed the same records per step, side by side."""
    n = min(len(baseline), len(assay))
    if n == 0:
        return {"steps": 0, "match": False, "why": "no step finished in both runs"}
    b, a = baseline[:n], assay[:n]
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    width = max(1, n // 10)
    windows = []
    for start in range(0, n, width):
        mb = statistics.fmean(b[start:start + width])
        ma = statistics.fmean(a[start:start + width])
        windows.append({"records_seen": min(start + width, n) * per_step,
                        "baseline": round(mb, 4), "assay": round(ma, 4),
                        "rel_diff": round((ma - mb) / abs(mb), 5) if mb else None})
    sd = statistics.stdev(diffs) if n > 1 else 0.0
    first = (a[0] - b[0]) / abs(b[0]) if b[0] else 0.0
    worst = max(abs(w["rel_diff"] or 0.0) for w in windows)
    corr = statistics.correlation(a, b) if n > 2 and len(set(a)) > 1 and len(set(b)) > 1 else None
    match = abs(first) <= tolerance / 2 and worst <= tolerance
    return {
        "steps": n, "records_per_step": per_step, "records_seen": n * per_step,
        "step1": {"baseline": round(b[0], 5), "assay": round(a[0], 5),
                  "rel_diff": round(first, 5)},
        "mean_diff": round(statistics.fmean(diffs), 5), "sd_diff": round(sd, 5),
        "se_mean_diff": round(sd / math.sqrt(n), 5),
        "mean_loss": round(statistics.fmean(b), 4), "correlation": corr,
        "windows": windows, "worst_window_rel_diff": round(worst, 5),
        "tolerance": tolerance, "match": match,
    }


def run_loss_phase(args, model_dir, pool, tokenizer, work, records, liger, started) -> dict:
    from finetune.sampler import run_order

    n = len(pool.rows)
    steps = args.loss_steps
    schedule = list(run_order(n, 0, steps * records))
    remaining = args.time_limit - (time.monotonic() - started)
    share = max(30.0, 0.55 * (remaining - 60))  # the baseline runs first, and is the slower
    deadline = time.monotonic() + share
    gc_on = args.loss_gc == "on"
    result: dict = {
        "records_per_step": records, "seq": pool.seq, "requested_steps": steps,
        "gradient_checkpointing": gc_on,
        "design": "both paths take the same R records per optimizer step in the same order "
                  "(finetune.sampler.run_order, seed 0), one micro-batch each, same LoRA init, "
                  "optimizer, constant LR and clipping; baseline pads (no grouping, which would "
                  "reorder), Assay packs; step k's losses compare at k*R records seen. Step 1 is "
                  "before any update: its difference is numerics only.",
    }
    result["lora_dropout"] = args.loss_dropout
    b = guarded(run_baseline, model_dir, pool, tokenizer, records, gc_on, schedule, 0, deadline,
                dropout=args.loss_dropout)
    result["baseline"] = {k: v for k, v in b.items() if k != "record_ids"}
    if b.get("error"):
        return result
    done = len(b["losses"])
    remaining = args.time_limit - (time.monotonic() - started)
    a = guarded(run_assay, model_dir, pool, work / "runs" / "loss-assay", records, done, 0,
                liger, budget_s=max(60.0, remaining), gc_on=gc_on,
                overrides={"dropout": args.loss_dropout})
    result["assay"] = {k: v for k, v in a.items() if k != "record_ids"}
    if a.get("error"):
        return result
    same = all(x == y for x, y in zip(b["record_ids"], a["record_ids"], strict=False))
    result["same_records_each_step"] = same
    result["comparison"] = compare_losses(b["losses"], a["losses"], records,
                                          args.loss_tolerance)
    return result


# -- report -------------------------------------------------------------------------------------


def table(runs: dict) -> str:
    head = (f"{'config':<34} {'tok/s':>8} {'peak GiB':>9} {'resv GiB':>9} {'cap':>4} "
            f"{'pad eff':>7} {'tok/step':>8}  note")
    lines = [head, "-" * len(head)]
    for key, run in runs.items():
        if "tokens_per_s" in run:
            peak = "-" if run["peak_gib"] is None else f"{run['peak_gib']:.2f}"
            resv = "-" if run["reserved_gib"] is None else f"{run['reserved_gib']:.2f}"
            cap = "ok" if under_cap(run) else "over"
            note = "" if not run.get("liger_error") else "liger failed: ran without"
            lines.append(f"{key:<34} {run['tokens_per_s']:>8,.0f} {peak:>9} {resv:>9} {cap:>4} "
                         f"{run['padding_efficiency'] or 0:>7.3f} "
                         f"{run['mean_tokens_per_step']:>8,.0f}  {note}")
        else:
            peak = run.get("peak_gib")
            why = ("OOM" if run.get("oom") else run.get("skipped") or run.get("error", "?"))
            lines.append(f"{key:<34} {'-':>8} {'-' if peak is None else f'{peak:.2f}':>9} "
                         f"{'':>9} {'':>4} {'':>7} {'':>8}  {str(why)[:70]}")
    return "\n".join(lines)


def speedups(runs: dict, seqs: list[int]) -> dict:
    """Per seq: the best Assay config under the cap over the best baseline config under it."""
    found = {}
    for seq in seqs:
        best = {}
        for path in ("baseline", "assay"):
            fitting = [(r["tokens_per_s"], k) for k, r in runs.items()
                       if r["config"]["path"] == path and r["config"]["seq"] == seq
                       and under_cap(r)]
            if fitting:
                best[path] = max(fitting)
        if len(best) == 2:
            ratio = best["assay"][0] / best["baseline"][0]
            found[f"seq{seq}"] = {
                "best_baseline": best["baseline"][1],
                "best_baseline_tokens_per_s": round(best["baseline"][0], 1),
                "best_assay": best["assay"][1],
                "best_assay_tokens_per_s": round(best["assay"][0], 1),
                "speedup": round(ratio, 2), "goal": GOAL_SPEEDUP, "met": ratio >= GOAL_SPEEDUP,
            }
    return found


def write_results(results: dict, tag: str) -> list[Path]:
    """bench/results/qlora_speed_<tag>.json (and $OUT), written by the shared helper."""
    return base.write_results(results, f"speed_{tag}")


# -- main ---------------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the weight-loading bars, once per config
    cuda = torch.cuda.is_available()
    if not cuda and not args.tiny:
        print("no CUDA device: run with --tiny for the CPU dry run", file=sys.stderr)
        return 2
    model_name = "gemma270m" if args.gemma_shape else "mistral7b"
    shape = (TINY_GEMMA if args.tiny else GEMMA3_270M) if args.gemma_shape else (
        base.TINY if args.tiny else base.MISTRAL_7B)
    gpu = torch.cuda.get_device_name(0).split()[1].lower() if cuda else "cpu"
    tag = args.tag or "_".join([("tiny_cpu" if args.tiny else gpu), model_name, *(
        [] if args.phases == ["ladder", "assay"] else args.phases)])
    work = Path(args.work or Path(os.environ.get("TMPDIR", "/tmp")) / "qlora-bench")
    # the same folders as qlora_gpu.py, so a Mistral it saved there is reused
    work = work / ("tiny" if args.tiny else "") / model_name
    work.mkdir(parents=True, exist_ok=True)
    liger_version = None if args.no_liger or not cuda else base.ensure_liger(args.wheels)
    ladder = parse_configs(args.ladder) if "ladder" in args.phases else []
    ladder_nogc = parse_configs(args.ladder_nogc) if "ladder" in args.phases else []
    assay = parse_configs(args.assay) if "assay" in args.phases else []
    noliger = (parse_configs(args.assay_noliger)
               if "assay" in args.phases and liger_version else [])
    loss = parse_configs(args.loss)[0] if "loss" in args.phases else None
    compare = qlora_compare.contenders(args, parse_configs) if "compare" in args.phases else []
    seqs = sorted({s for _, s in ladder + ladder_nogc + assay + noliger} | (
        {loss[1]} if loss else set()) | {c.seq for c in compare})
    results = {
        "command": shlex.join([sys.executable, *sys.argv]), "machine": common.machine(libraries=True),
        "model": model_name, "shape": shape, "cap_gib": CAP_GIB, "steps": args.steps,
        "warmup": args.warmup, "liger_kernel": liger_version, "phases": args.phases,
        "method": __doc__.split("\n\n", 1)[1], "pools": {}, "runs": {}, "speedup_at_cap": {},
    }
    if args.gemma_shape:
        results["gemma_config_check"] = check_gemma_config()
    print(json.dumps(results["machine"]), flush=True)
    model_dir, tokenizer, info = ensure_model(work, shape, args.gemma_shape, cuda)
    results |= info
    print(f"model ready in {info['build_seconds']} s (reused: {info['model_reused']})",
          flush=True)
    if args.build_only:
        return 0
    pools = {}
    for seq in seqs:
        pools[seq] = Pool(work, tokenizer, args.records, seq)
        results["pools"][str(seq)] = pools[seq].describe()

    def record(key: str, config: dict, fn, *fn_args, **fn_kwargs) -> dict:
        walls = [r["wall_seconds"] for r in results["runs"].values() if "wall_seconds" in r]
        expected = statistics.fmean(walls) if walls else 0.0
        if time.monotonic() - started + expected > args.time_limit:
            run = {"skipped": "time limit"}
        else:
            t0 = time.monotonic()
            run = guarded(fn, *fn_args, **fn_kwargs)
            run["wall_seconds"] = round(time.monotonic() - t0, 1)
        results["runs"][key] = {"config": config} | {
            k: v for k, v in run.items() if k != "record_ids"}
        brief = {k: v for k, v in run.items()
                 if k not in ("record_ids", "step_seconds", "step_tokens", "losses")}
        print(key, json.dumps(brief), flush=True)
        write_results(results, tag)
        return run

    def over_cap_below(batch: int, seq: int, gc_on: bool) -> str | None:
        """The key of a smaller baseline batch of the same kind that went over the cap."""
        for key, run in results["runs"].items():
            c = run["config"]
            if (c["path"], c["seq"], c["gc"]) == ("baseline", seq, gc_on) and c["batch"] < batch \
                    and (run.get("oom") or (run.get("peak_gib") or 0) > CAP_GIB):
                return key
        return None

    def baseline(batch: int, seq: int, gc_on: bool) -> None:
        key = f"baseline b{batch}x{seq} {'gc' if gc_on else 'no-gc'} grouped"
        config = {"path": "baseline", "batch": batch, "seq": seq, "gc": gc_on,
                  "sampling": "group_by_length", "padding": "dynamic (longest in batch)"}
        smaller = None if args.no_skip_over_cap else over_cap_below(batch, seq, gc_on)
        if smaller:
            results["runs"][key] = {"config": config, "peak_gib": None,
                                    "skipped": f"over the cap already at {smaller}"}
            print(key, "skipped: over the cap at", smaller, flush=True)
            return
        pool = pools[seq]
        schedule, extra = grouped_schedule(pool.lengths, batch, args.warmup, args.steps,
                                           seed=batch * 7919 + seq)
        record(key, config | extra, run_baseline, model_dir, pool, tokenizer, batch, gc_on,
               schedule, args.warmup)

    def assay_run(records: int, seq: int, liger: bool) -> None:
        key = f"assay m{records}x{seq}" + ("" if liger or not liger_version else " no-liger")
        config = {"path": "assay", "batch": records, "seq": seq, "gc": True,
                  "packing": True, "liger_requested": liger}
        record(key, config, run_assay_fallback, model_dir, pools[seq],
               work / "runs" / key.replace(" ", "_"), records, args.steps, args.warmup, liger)

    for seq in seqs:  # the comparable, under-the-cap candidates first
        for batch, s in ladder:
            if s == seq:
                baseline(batch, seq, True)
        for records, s in assay:
            if s == seq:
                assay_run(records, seq, liger_version is not None)
    for batch, seq in ladder_nogc:
        baseline(batch, seq, False)
    for records, seq in noliger:
        assay_run(records, seq, False)
    results["speedup_at_cap"] = speedups(results["runs"], seqs)
    if compare:
        kept = work / f"compare_{tag}.json"  # on the machine, for --resume by the next call
        earlier = json.loads(kept.read_text())["compare"] if args.resume and kept.exists() \
            else None

        def save() -> None:
            write_results(results, tag)
            kept.write_text(json.dumps(results))

        qlora_compare.run_compare(args, sys.modules[__name__], results, pools, model_dir,
                                  tokenizer, work, liger_version, started, save, earlier)

    if loss is not None:
        records, seq = loss
        t0 = time.monotonic()
        results["loss_curves"] = run_loss_phase(args, model_dir, pools[seq], tokenizer, work,
                                                records, liger_version is not None, started)
        results["loss_curves"]["wall_seconds"] = round(time.monotonic() - t0, 1)
    results["total_seconds"] = round(time.monotonic() - started, 1)
    paths = write_results(results, tag)
    print()
    if results["runs"]:
        print(table(results["runs"]))
        print(json.dumps(results["speedup_at_cap"], indent=1))
    if compare:
        section = results["compare"]
        print(qlora_compare.table(section["configs"], section["best_under_cap"],
                                  section["unsloth_dropout"]))
    if loss is not None:
        comparison = results["loss_curves"].get("comparison")
        print(json.dumps(comparison if comparison else results["loss_curves"], indent=1)[:4000])
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def run_assay_fallback(model_dir, pool, out, records, steps, warmup, liger) -> dict:
    """With liger when asked; if it fails on this stack, record why and run without it."""
    if not liger:
        return run_assay(model_dir, pool, out, records, steps, warmup, False)
    try:
        return run_assay(model_dir, pool, out, records, steps, warmup, True)
    except Exception as exc:  # noqa: BLE001
        import torch

        if isinstance(exc, torch.OutOfMemoryError):
            raise
        error = f"{type(exc).__name__}: {exc}"[:2000]
    base.free_memory()
    run = run_assay(model_dir, pool, Path(str(out) + "-noliger"), records, steps, warmup, False)
    run["liger_error"] = error
    return run


if __name__ == "__main__":
    sys.exit(main())
