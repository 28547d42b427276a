"""QLoRA throughput and memory on one GPU: a naive HF+PEFT recipe vs `finetune train`'s path.

No internet and no weights are needed: a Mistral-7B-shaped model (v0.3 shape) is built with
random weights on the GPU in bf16 with ``from_config``, saved with ``save_pretrained`` and
reloaded in 4-bit NF4 (double quantization). A byte-level BPE tokenizer is trained offline on
the text of examples/advising/dataset.jsonl, and advising-style records of mixed length
(log-uniform between 48 tokens and the sequence length) are built from that text. Both
variants tokenize the records identically (finetune.formatting: same template, answer-only
labels) and train LoRA r=16 on all linear layers with gradient checkpointing:

(a) naive: ``prepare_model_for_kbit_training`` + peft + Trainer, batch 1, no packing
    (dynamic padding: at batch 1 nothing is padded), paged 8-bit AdamW, bf16;
(b) finetune: ``finetune.training.run_session`` itself: records packed without padding
    (position_ids restart per record), several records per micro-batch, no fp32 upcast of
    embeddings/lm_head, and liger-kernel's fused linear cross-entropy when it can be imported.

tokens/s counts real (non-pad) tokens over the measured steps (after warm-up), each step timed
from its first forward to the end of its optimizer step; peak is
``torch.cuda.max_memory_allocated`` over the variant minus what earlier variants of the process
left allocated (``free_memory``), in GiB. Goals: (b) >= 2x (a) tokens/s,
and (b)'s peak <= 14.5 GiB at seq 2048.

Run on the GPU machine (see --help); ``--tiny`` runs a small random Mistral on CPU in a
couple of minutes to prove the script end to end. Results: JSON in $OUT (if set) and in
bench/results/qlora_<tag>.json, with the machine and the exact command.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

DATASET = ROOT / "examples" / "advising" / "dataset.jsonl"
MISTRAL_7B = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                  num_attention_heads=32, num_key_value_heads=8, head_dim=128, vocab_size=32768,
                  max_position_embeddings=32768, rope_theta=1_000_000.0, sliding_window=None,
                  tie_word_embeddings=False)
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, vocab_size=2048, max_position_embeddings=4096,
            tie_word_embeddings=False)
GOAL_SPEEDUP = 2.0
GOAL_PEAK_GIB = 14.5


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true",
                        help="small random Mistral on CPU, a few steps (dry run)")
    parser.add_argument("--seqs", default=None, help="comma list (default 512,2048; tiny: 64,128)")
    parser.add_argument("--variants", default="naive,finetune")
    parser.add_argument("--steps", type=int, default=None,
                        help="measured optimizer steps per variant and seq (default 12; tiny 3)")
    parser.add_argument("--warmup", type=int, default=None, help="unmeasured first steps (3)")
    parser.add_argument("--records", type=int, default=400, help="records to build")
    parser.add_argument("--pack-tokens", type=int, default=8192,
                        help="(b): records per micro-batch = pack-tokens // seq, at least 2")
    parser.add_argument("--no-liger", action="store_true", help="(b) without liger-kernel")
    parser.add_argument("--wheels", default=os.environ.get("BENCH_WHEELS"),
                        help="folder of wheels to pip install --no-index from (liger-kernel)")
    parser.add_argument("--work", default=None,
                        help="scratch folder (default $TMPDIR/qlora-bench); a random model "
                             "already saved there by an earlier run of the same shape is reused")
    parser.add_argument("--tag", default=None, help="results file: bench/results/qlora_<tag>.json")
    parser.add_argument("--time-limit", type=float, default=540,
                        help="seconds; stop starting new measurements after this")
    return parser.parse_args(argv)


# -- setup ----------------------------------------------------------------------------------


def ensure_liger(wheels: str | None) -> str | None:
    """liger-kernel's version if importable (installing from --wheels first), else None."""
    try:
        import liger_kernel  # noqa: F401
    except ImportError:
        if not wheels:
            return None
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps",
                        "--find-links", wheels, "liger-kernel"], check=False)
        try:
            import liger_kernel  # noqa: F401
        except ImportError:
            return None
    from importlib.metadata import version

    return version("liger-kernel")


def advising_text() -> tuple[list[str], list[str]]:
    questions, answers = [], []
    for line in DATASET.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            questions.append(row["question"])
            answers.append(row["answer"])
    return questions, answers


def train_tokenizer(folder: Path, vocab_size: int):
    """A byte-level BPE trained on the advising text, saved as a transformers tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    questions, answers = advising_text()
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(questions + answers, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>")
    fast.save_pretrained(str(folder))
    return fast


def build_records(tokenizer, n: int, seq: int, seed: int) -> list[dict]:
    """Advising-style Q&A with answers of log-uniform length in [48, seq) tokens."""
    questions, answers = advising_text()
    rng = random.Random(seed)
    lengths = [len(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers]
    records = []
    for i in range(n):
        target = int(math.exp(rng.uniform(math.log(48), math.log(seq))))
        parts, size = [], 0
        while size < target - 40:  # the question and the template take the rest
            j = rng.randrange(len(answers))
            parts.append(answers[j])
            size += lengths[j] + 1
        records.append({"id": f"bench-{seq}-{i:04d}", "question": rng.choice(questions),
                        "answer": " ".join(parts)})
    return records


def build_model(folder: Path, shape: dict, tokenizer, device: str,
                config_class: str = "MistralConfig") -> None:
    """Random weights (bf16 on a GPU) of a ``transformers.<config_class>`` of ``shape`` on
    ``device``, saved with save_pretrained (no download)."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    config = getattr(transformers, config_class)(**(shape | {
        "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id}))
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.save_pretrained(str(folder))
    del model
    free_memory()


# GPU memory still allocated right after the last free_memory(): what earlier runs of this
# process left behind (on the H200 it grew by about 1 GiB per round of runs), which a run's
# own peak must not be charged with.
HELD_AT_RESET = [0]


def free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        HELD_AT_RESET[0] = torch.cuda.memory_allocated()


def peak_gib() -> float | None:
    """Peak allocated GiB since the last ``free_memory()``, net of what was held then."""
    import torch

    if not torch.cuda.is_available():
        return None
    return (torch.cuda.max_memory_allocated() - HELD_AT_RESET[0]) / 1024**3


# -- (a) naive HF + PEFT --------------------------------------------------------------------


def run_naive(model_dir: Path, data: Path, seq: int, steps: int, warmup: int) -> dict:
    """prepare_model_for_kbit_training + LoRA + Trainer at batch 1, padded collation."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        BitsAndBytesConfig,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from core.datasets import load_dataset
    from finetune.formatting import encode_records, template_info

    cuda = torch.cuda.is_available()
    dtype = torch.bfloat16 if cuda else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    records = load_dataset(data).records
    encoded, _ = encode_records(tokenizer, records, template_info(tokenizer), seq)
    rows = [{"input_ids": e.input_ids, "labels": e.labels} for e in encoded]
    free_memory()
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                               bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), quantization_config=quant,
                                                 dtype=dtype, device_map={"": 0 if cuda else "cpu"})
    model = prepare_model_for_kbit_training(
        model, use_gradient_checkpointing=True,
        gradient_checkpointing_kwargs={"use_reentrant": False})
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05,
                                             target_modules="all-linear", task_type="CAUSAL_LM"))
    pad = tokenizer.pad_token_id

    def collate(features):
        width = max(len(f["input_ids"]) for f in features)
        ids = [f["input_ids"] + [pad] * (width - len(f["input_ids"])) for f in features]
        labels = [f["labels"] + [-100] * (width - len(f["labels"])) for f in features]
        mask = [[1] * len(f["input_ids"]) + [0] * (width - len(f["input_ids"]))
                for f in features]
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
                "attention_mask": torch.tensor(mask)}

    timer = StepTimer()

    class CountingTrainer(Trainer):
        def training_step(self, model, inputs, *args, **kwargs):
            timer.tokens += int(inputs["attention_mask"].sum())
            return super().training_step(model, inputs, *args, **kwargs)

    class TimerCallback(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            timer.begin()

        def on_step_end(self, args, state, control, **kwargs):
            timer.end()

    args = TrainingArguments(
        output_dir=str(model_dir.parent / "naive-trainer"), per_device_train_batch_size=1,
        gradient_accumulation_steps=1, max_steps=warmup + steps, learning_rate=2e-4,
        optim="paged_adamw_8bit" if cuda else "adamw_torch", bf16=cuda, use_cpu=not cuda,
        logging_strategy="no", save_strategy="no", report_to="none", disable_tqdm=True,
        remove_unused_columns=False, dataloader_num_workers=0, seed=0,
    )
    trainer = CountingTrainer(model=model, args=args, train_dataset=rows, data_collator=collate,
                              callbacks=[TimerCallback()])
    trainer.train()
    result = timer.summary(warmup) | {"peak_gib": peak_gib(), "micro_batch_records": 1}
    del trainer, model
    free_memory()
    return result


class StepTimer:
    def __init__(self) -> None:
        self.tokens = 0
        self.steps: list[tuple[int, float]] = []
        self._t0 = 0.0

    def begin(self) -> None:
        _sync()
        self.tokens, self._t0 = 0, time.perf_counter()

    def end(self) -> None:
        _sync()
        self.steps.append((self.tokens, time.perf_counter() - self._t0))

    def summary(self, warmup: int) -> dict:
        measured = self.steps[warmup:]
        tokens = sum(t for t, _ in measured)
        seconds = sum(s for _, s in measured)
        return {"measured_steps": len(measured), "tokens": tokens, "seconds": seconds,
                "tokens_per_s": tokens / seconds if seconds else 0.0}


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


# -- (b) finetune train's path --------------------------------------------------------------


def run_finetune(model_dir: Path, data: Path, out: Path, seq: int, steps: int, warmup: int,
                 records_per_batch: int, liger: bool) -> dict:
    """finetune.training.run_session, as `finetune train` runs it (gate record left empty)."""
    from finetune.config import TrainConfig
    from finetune.handoff import GateRecord
    from finetune.training import SessionSpec, run_session

    free_memory()
    config = TrainConfig(epochs=100, batch_size=records_per_batch, grad_accum=1, seq=seq,
                         max_steps=warmup + steps, liger=liger, warmup_ratio=0.0)
    spec = SessionSpec(model_dir=model_dir, data_path=data, out=out, config=config,
                       gate=GateRecord(), budget_s=24 * 3600, progress=False, run_name=out.name)
    result = run_session(spec)
    measured = result.steps[warmup:]
    tokens = sum(s.tokens for s in measured)
    seconds = sum(s.seconds for s in measured)
    summary = {"measured_steps": len(measured), "tokens": tokens, "seconds": seconds,
               "tokens_per_s": tokens / seconds if seconds else 0.0, "peak_gib": peak_gib(),
               "micro_batch_records": records_per_batch, "liger": liger,
               "chat_template": result.template_source,
               "mean_tokens_per_micro_batch": tokens / max(1, len(measured))}
    free_memory()
    return summary


# -- main -----------------------------------------------------------------------------------


def write_results(results: dict, tag: str) -> list[Path]:
    paths = [ROOT / "bench" / "results" / f"qlora_{tag}.json"]
    if os.environ.get("OUT"):
        paths.append(Path(os.environ["OUT"]) / f"qlora_{tag}.json")
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        common.write_json(path, results)
    return paths


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.tiny:
        print("no CUDA device: run with --tiny for the CPU dry run", file=sys.stderr)
        return 2
    seqs = [int(s) for s in (args.seqs or ("64,128" if args.tiny else "512,2048")).split(",")]
    variants = [v.strip() for v in args.variants.split(",")]
    steps = args.steps or (3 if args.tiny else 12)
    warmup = args.warmup if args.warmup is not None else (1 if args.tiny else 3)
    tag = args.tag or ("tiny_cpu" if args.tiny else
                       torch.cuda.get_device_name(0).split()[1].lower() if cuda else "cpu")
    if args.seqs and not args.tag:
        tag += "_seq" + "_".join(str(s) for s in seqs)
    work = Path(args.work or Path(os.environ.get("TMPDIR", "/tmp")) / "qlora-bench")
    work = work / ("tiny" if args.tiny else "mistral7b")
    work.mkdir(parents=True, exist_ok=True)
    liger_version = None if args.no_liger or not cuda else ensure_liger(args.wheels)
    results = {"command": shlex.join([sys.executable, *sys.argv]), "machine": common.machine(libraries=True),
               "shape": TINY if args.tiny else MISTRAL_7B, "seqs": seqs, "steps": steps,
               "warmup": warmup, "liger_kernel": liger_version, "runs": {}, "goals": {}}
    print(json.dumps(results["machine"]), flush=True)

    shape = dict(TINY if args.tiny else MISTRAL_7B)
    model_dir = work / "model"
    t0 = time.monotonic()
    marker = model_dir / "BUILT"
    if marker.is_file():  # saved completely by an earlier run: reuse
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        results["model_reused"] = True
    else:
        tokenizer = train_tokenizer(model_dir, vocab_size=min(shape["vocab_size"], 8000))
        build_model(model_dir, shape, tokenizer, "cuda" if cuda else "cpu")
        marker.write_text("ok\n")
    results["build_seconds"] = round(time.monotonic() - t0, 1)
    print(f"built and saved the random model in {results['build_seconds']} s", flush=True)

    for seq in seqs:
        data = work / f"records-{seq}.jsonl"
        from core.datasets import write_jsonl

        write_jsonl(build_records(tokenizer, args.records, seq, seed=seq), data)
        for variant in variants:
            key = f"{variant}@{seq}"
            if time.monotonic() - started > args.time_limit:
                results["runs"][key] = {"skipped": "time limit"}
                continue
            t0 = time.monotonic()
            try:
                if variant == "naive":
                    run = run_naive(model_dir, data, seq, steps, warmup)
                else:
                    per_batch = max(2, args.pack_tokens // seq)
                    run = _finetune_with_fallback(model_dir, data, work / key, seq, steps,
                                                  warmup, per_batch, liger_version is not None)
            except Exception as exc:  # noqa: BLE001 - a benchmark records and moves on
                run = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
                free_memory()
            run["wall_seconds"] = round(time.monotonic() - t0, 1)
            results["runs"][key] = run
            print(key, json.dumps(run), flush=True)
            write_results(results, tag)

    for seq in seqs:
        naive, tuned = results["runs"].get(f"naive@{seq}", {}), results["runs"].get(
            f"finetune@{seq}", {})
        if naive.get("tokens_per_s") and tuned.get("tokens_per_s"):
            speedup = tuned["tokens_per_s"] / naive["tokens_per_s"]
            results["goals"][f"speedup@{seq}"] = {"value": round(speedup, 2),
                                                  "goal": GOAL_SPEEDUP,
                                                  "met": speedup >= GOAL_SPEEDUP}
    tuned = results["runs"].get("finetune@2048", {})
    if tuned.get("peak_gib") is not None:
        results["goals"]["finetune_peak_gib@2048"] = {
            "value": round(tuned["peak_gib"], 2), "goal": GOAL_PEAK_GIB,
            "met": tuned["peak_gib"] <= GOAL_PEAK_GIB}
    results["total_seconds"] = round(time.monotonic() - started, 1)
    paths = write_results(results, tag)
    print(json.dumps(results["goals"], indent=2))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _finetune_with_fallback(model_dir, data, out, seq, steps, warmup, per_batch, liger):
    """With liger when available; if it fails on this stack, record why and run without."""
    if not liger:
        return run_finetune(model_dir, data, out, seq, steps, warmup, per_batch, False)
    try:
        return run_finetune(model_dir, data, out, seq, steps, warmup, per_batch, True)
    except Exception as exc:  # noqa: BLE001
        free_memory()
        run = run_finetune(model_dir, data, Path(str(out) + "-noliger"), seq, steps, warmup,
                           per_batch, False)
        run["liger_error"] = f"{type(exc).__name__}: {exc}"[:2000]
        return run


if __name__ == "__main__":
    sys.exit(main())
