"""One training session: QLoRA with transformers' Trainer, peft and bitsandbytes.

The Trainer runs the loop; this module gives it what makes sessions chain exactly:

- ``make_batch_sampler``: the run's sample order from a cursor on (finetune.sampler), each
  optimizer step dealt over the processes exactly (finetune.distributed);
- an LR schedule that is a pure function of the *global* step, shifted by the step a session
  starts at, so a resumed session applies the same learning rate at each step;
- a seed per micro-batch of the global step (LoRA dropout draws the same masks in any session,
  and on any number of processes when the processes split the accumulation);
- ``SessionCallback``: per-step log (loss, applied LR, tokens/s, peak memory), a rich progress
  bar, and handoff bundles every K steps, before the wall-clock budget runs out, at a session's
  step limit and at the end.

What the parts share is typed (finetune.session_state): the ``SessionPlan`` fixed when the
session starts, and the ``SessionProgress`` the callback and the trainer update as it trains.

Under ``accelerate launch`` (DDP) each process loads its own 4-bit base model on its GPU and
an optimizer step keeps the samples of a one-process step (finetune.distributed); the first
process writes the bundles. A process never drives more than one GPU: without ``accelerate
launch`` the session trains on the first visible GPU only (see ``one_gpu_per_process``).

torch, transformers, peft and bitsandbytes are imported inside functions only.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError
from core.models import content_hash, utcnow
from finetune import handoff as hb
from finetune import varlen
from finetune.config import TrainConfig
from finetune.distributed import (
    is_ghost,
    rank_micro_batches,
    ranks,
    record_of,
    split_step,
)
from finetune.formatting import encode_records, template_info
from finetune.handoff import HandoffManifest, SessionInfo, StepLog
from finetune.sampler import run_order, total_samples, total_steps
from finetune.session_state import Device, SessionPlan, SessionProgress, SessionSpec

if TYPE_CHECKING:
    from finetune.session_callback import SessionCallback  # imports transformers

DEFAULT_SAVE_S = 10.0  # assumed bundle write time until one has been measured


@dataclass
class SessionResult:
    out: Path
    bundles: list[Path]
    first_step: int
    last_step: int
    total_steps: int
    stop_reason: str
    steps: list[StepLog]
    peak_gpu_memory_gib: float | None
    template_source: str
    parallel: dict[str, Any] = field(default_factory=dict)
    """How this process trained: its device, the model wrapper and DDP's settings."""
    attention: str = "sdpa"
    """The attention implementation trained with, and why not varlen where it was not."""
    micro_batch: tuple[int, int] = (0, 0)
    """(records per micro-batch, micro-batches per step) as trained."""
    liger: bool = False
    """Whether liger-kernel's fused cross-entropy trained (TrainConfig.liger, decided)."""

    @property
    def complete(self) -> bool:
        return self.last_step >= self.total_steps


def should_hand_off(elapsed_s: float, budget_s: float, slowest_step_s: float,
                    slowest_save_s: float | None) -> bool:
    """True when one more step and a bundle write might not fit in the budget.

    The margin is twice the slowest step so far plus twice the slowest bundle write (or
    ``DEFAULT_SAVE_S`` before one was measured): steps and writes vary, the budget does not.
    """
    save = slowest_save_s if slowest_save_s is not None else DEFAULT_SAVE_S
    return elapsed_s + 2 * slowest_step_s + 2 * save >= budget_s


def model_config_sha256(model_dir: Path) -> str:
    """Hash of the base model's config.json, without fields that name where it was saved."""
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{model_dir}: no readable config.json; pass a Hugging Face model "
                          "folder with --model") from exc
    for key in ("_name_or_path", "_model_name_or_path", "transformers_version"):
        config.pop(key, None)
    return content_hash(config)


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("assay", "torch", "transformers", "peft", "bitsandbytes", "accelerate",
                 "liger-kernel"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


# -- device and model -----------------------------------------------------------------------


def pick_device() -> Device:
    """This process's GPU (``LOCAL_RANK``, made the current device before anything else touches
    CUDA, so no process opens a context or quantizes weights on another's GPU): bf16 from
    compute capability 8.0 on, fp16 on older GPUs (P100, T4); fp32 on CPU."""
    import torch

    if torch.cuda.is_available():
        gpu = ranks().local_rank
        torch.cuda.set_device(gpu)
        major, _ = torch.cuda.get_device_capability(gpu)
        dtype = "bfloat16" if major >= 8 else "float16"
        return Device("cuda", torch.cuda.get_device_name(gpu), dtype, "paged_adamw_8bit")
    # bitsandbytes' paged optimizers need CUDA unified memory; on CPU plain AdamW trains.
    return Device("cpu", platform.processor() or "cpu", "float32", "adamw_torch")


def liger_runs(device: Device) -> bool:
    """Whether liger-kernel's fused cross-entropy can run here: a CUDA GPU and the package."""
    from importlib.util import find_spec

    return device.kind == "cuda" and find_spec("liger_kernel") is not None


def load_quantized(model_dir: Path, device: Device, attn: str = "sdpa"):
    """The base model in 4-bit NF4 with double quantization, compute in the device's dtype."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    dtype = getattr(torch, device.dtype_name)
    quant = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
    )
    model = AutoModelForCausalLM.from_pretrained(
        str(model_dir), quantization_config=quant, dtype=dtype, attn_implementation=attn,
        device_map={"": ranks().local_rank if device.kind == "cuda" else "cpu"},
    )
    model.config.use_cache = False
    return model


def lora_targets(targets: str) -> str | list[str]:
    from finetune.plan import parse_targets

    return "all-linear" if targets == "all-linear" else list(parse_targets(targets))


def attach_adapter(model, config: TrainConfig, adapter_dir: Path | None = None):
    """A new LoRA adapter (seeded), or the one saved in ``adapter_dir`` (safetensors only)."""
    import torch
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

    if config.gradient_checkpointing:
        # transformers 5.23 renamed it; the GPU image's 5.17 has only the old name.
        kwargs = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        model.enable_input_require_grads()
    if adapter_dir is None:
        lora = LoraConfig(r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout,
                          target_modules=lora_targets(config.targets), bias="none",
                          task_type="CAUSAL_LM")
        torch.manual_seed(config.seed)
        return get_peft_model(model, lora)
    from safetensors.torch import load_file

    lora = LoraConfig.from_pretrained(str(adapter_dir))
    lora.inference_mode = False
    peft_model = get_peft_model(model, lora)
    weights = load_file(str(adapter_dir / "adapter_model.safetensors"))
    result = set_peft_model_state_dict(peft_model, weights)
    unexpected = getattr(result, "unexpected_keys", None) or []
    if unexpected:
        raise hb.BundleError(f"{adapter_dir}: adapter weights do not fit this model "
                             f"(unexpected {unexpected[:3]}); resume with the run's base model")
    return peft_model


# -- data -----------------------------------------------------------------------------------


class EncodedDataset:
    """Encoded records; item ``i`` carries its record index for the sample trace. A ghost
    index (finetune.distributed.ghost) gives its record with every label ignored."""

    def __init__(self, encoded) -> None:
        self.encoded = encoded

    def __len__(self) -> int:
        return len(self.encoded)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.encoded[record_of(index)]
        labels = [-100] * len(item.labels) if is_ghost(index) else item.labels
        return {"input_ids": item.input_ids, "labels": labels, "record_index": index}


def make_collator(packing: bool, pad_id: int, boundaries: bool = False):
    """Packing: one row, position_ids restart per record (no padding); with ``boundaries`` also
    the records' cumulative lengths for varlen attention. Else: pad to the longest."""
    import torch
    from transformers import DataCollatorWithFlattening

    flatten = DataCollatorWithFlattening(return_position_ids=True,
                                         return_flash_attn_kwargs=boundaries)

    def collate(features: list[dict[str, Any]]) -> dict[str, Any]:
        index = torch.tensor([f["record_index"] for f in features])
        rows = [{"input_ids": f["input_ids"], "labels": f["labels"]} for f in features]
        if packing:
            batch = flatten(rows)
        else:
            width = max(len(r["input_ids"]) for r in rows)
            ids = [r["input_ids"] + [pad_id] * (width - len(r["input_ids"])) for r in rows]
            labels = [r["labels"] + [-100] * (width - len(r["labels"])) for r in rows]
            mask = [[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in rows]
            batch = {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
                     "attention_mask": torch.tensor(mask)}
        batch["record_index"] = index
        return batch

    return collate


def make_batch_sampler(n: int, seed: int, total: int, start: int, per_step: int, batch: int,
                       world: int, rank: int, cost=None):
    """This process's micro-batches of samples ``start .. total-1`` (``start`` on a step
    boundary): finetune.distributed.rank_micro_batches over the run's order, dealt by ``cost``
    (the tokens of a micro-batch) when given. ``places``: each micro-batch's place in its step
    (its index in the one-process order)."""
    from torch.utils.data import Sampler

    dealt = rank_micro_batches(list(run_order(n, seed, total, start)), per_step, batch,
                               world, rank, cost)

    class RankBatchSampler(Sampler[list[int]]):
        places = [place for place, _ in dealt]

        def __iter__(self):
            return iter([chunk for _, chunk in dealt])

        def __len__(self) -> int:
            return len(dealt)

    return RankBatchSampler()


def batch_cost(lengths: list[int], packing: bool):
    """The work of a micro-batch of record indices (ghosts included): its tokens as trained,
    one packed row or rows padded to the longest."""
    def cost(batch: list[int]) -> int:
        sizes = [lengths[record_of(i)] for i in batch]
        return sum(sizes) if packing else len(sizes) * max(sizes)

    return cost


# -- schedule and optimizer state -----------------------------------------------------------


def schedule_lambda(config: TrainConfig, steps: int):
    """The LR multiplier at global step ``i`` (0-based) of a run of ``steps`` steps."""
    warmup = warmup_steps(config, steps)

    def multiplier(i: int) -> float:
        if i < warmup:  # linear warm-up that never applies a zero learning rate
            return (i + 1) / (warmup + 1)
        if config.scheduler == "constant_with_warmup":
            return 1.0
        progress = (i - warmup) / max(1, steps - warmup)
        if config.scheduler == "linear":
            return max(0.0, 1.0 - progress)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))

    return multiplier


def warmup_steps(config: TrainConfig, steps: int) -> int:
    return math.ceil(config.warmup_ratio * steps)


def save_optimizer(optimizer, path: Path, optim_name: str) -> None:
    """Optimizer tensors as safetensors; everything else as JSON in the metadata."""
    import torch
    from safetensors.torch import save_file

    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            name = f"state.{index}.{key}"
            if torch.is_tensor(value):
                tensors[name] = value.detach().cpu().contiguous()
            else:
                scalars[name] = value
    meta = {"optim": optim_name, "param_groups": json.dumps(state["param_groups"]),
            "scalars": json.dumps(scalars)}
    save_file(tensors, str(path), metadata=meta)


def load_optimizer(optimizer, path: Path, optim_name: str) -> bool:
    """Restore what ``save_optimizer`` wrote; False when it came from another optimizer."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
        if meta.get("optim") != optim_name:
            return False
        state: dict[int, dict[str, Any]] = {}
        for name in handle.keys():
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = handle.get_tensor(name)
    for name, value in json.loads(meta["scalars"]).items():
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    return True


# -- the session ----------------------------------------------------------------------------


def peak_memory() -> tuple[float | None, float]:
    """(peak GPU memory allocated by torch, peak process RSS), both in GiB."""
    import torch

    gpu = torch.cuda.max_memory_allocated() / 1024**3 if torch.cuda.is_available() else None
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return gpu, rss_kib / 1024**2


def run_session(spec: SessionSpec) -> SessionResult:
    """Train until the run ends, the budget nears, or the session's step limit; hand off."""
    import torch
    from transformers import AutoTokenizer

    from core.datasets import load_dataset

    dataset = load_dataset(spec.data_path)
    base_hash = model_config_sha256(spec.model_dir)
    config, start_step, gate = spec.config, 0, spec.gate
    history: list[StepLog] = []
    sessions: list[SessionInfo] = []
    prior_steps = 0
    if spec.resume is not None:
        bundle, manifest = spec.resume
        check_resumable(manifest, base_hash, dataset.sha256)
        config = TrainConfig.model_validate(manifest.config)
        start_step, gate = manifest.global_step, manifest.gate
        history, sessions = list(manifest.losses), list(manifest.sessions)
        prior_steps = len(history)
    n = len(dataset.records)
    samples = total_samples(n, config.epochs)
    steps = total_steps(samples, config.samples_per_step, config.max_steps)
    samples = min(samples, steps * config.samples_per_step)
    if start_step >= steps:
        raise ConfigError(f"the run already finished ({start_step} of {steps} steps); "
                          "nothing to resume")

    # Per-process batch and accumulation: refused here, before any weights load.
    split_step(config.batch_size, config.grad_accum, ranks().world)
    device = pick_device()
    if config.liger is None:
        config = config.model_copy(update={"liger": liger_runs(device)})
    attn, attention = choose_attention(spec.model_dir, device, config)
    if spec.auto_micro_batch and spec.resume is None and attn == varlen.NAME:
        config, note = fewer_micro_batches(config, spec.model_dir)
        if note and ranks().main:
            from core.console import out_console

            out_console().print(f"[dim]{note}[/dim]")
    per_process = split_step(config.batch_size, config.grad_accum, ranks().world)
    if device.kind == "cuda" and ranks().world == 1 and torch.cuda.device_count() > 1:
        from core.console import out_console

        out_console().print(f"[dim]{torch.cuda.device_count()} GPUs visible: this process "
                            "trains on the first; to train on all, run under accelerate launch "
                            "--multi_gpu --num_processes N[/dim]")
    if device.kind == "cpu":
        from core.local_model import thread_count

        torch.set_num_threads(thread_count())
    tokenizer = AutoTokenizer.from_pretrained(str(spec.model_dir))
    template = template_info(tokenizer)
    if spec.resume is not None and template.sha256 != spec.resume[1].chat_template.sha256:
        raise hb.BundleError(f"{spec.resume[0]}: the tokenizer's chat template differs from "
                             "the one the run started with; resume with the same base model")
    encoded, _ = encode_records(tokenizer, dataset.records, template, config.seq)
    model = load_quantized(spec.model_dir, device, attn)
    adapter = spec.resume[0] / spec.resume[1].adapter_dir if spec.resume else None
    model = attach_adapter(model, config, adapter)

    plan = SessionPlan(spec=spec, config=config, device=device, total_steps=steps,
                       samples=samples, n_records=n, start_step=start_step,
                       base_config_sha256=base_hash, dataset_sha256=dataset.sha256, gate=gate,
                       template=template, record_ids=tuple(r.id for r in dataset.records),
                       per_process=per_process, prior_sessions=tuple(sessions),
                       started_at=utcnow())
    progress = SessionProgress(history=history)
    from finetune.session_callback import SessionCallback

    callback = SessionCallback(plan, progress)
    trainer = _build_trainer(plan, progress, callback, model, tokenizer, EncodedDataset(encoded),
                             boundaries=attn == varlen.NAME)
    trainer.train()
    callback.write_last_bundle(trainer.model, trainer.optimizer)
    gpu_peak, _ = peak_memory()
    return SessionResult(
        out=spec.out, bundles=progress.bundles, first_step=start_step + 1,
        last_step=progress.last_step, total_steps=steps,
        stop_reason=progress.stop_reason or "complete", steps=progress.history[prior_steps:],
        peak_gpu_memory_gib=gpu_peak, template_source=template.source,
        parallel=progress.parallel, attention=attention,
        micro_batch=(config.batch_size, config.grad_accum), liger=bool(config.liger),
    )


def fewer_micro_batches(config: TrainConfig, model_dir: Path) -> tuple[TrainConfig, str]:
    """The same step in the fewest packed micro-batches this GPU holds by finetune plan's
    estimate (a packed micro-batch wastes no attention under varlen), and what to tell the user;
    the config unchanged where the given split is already the largest that fits."""
    import torch

    from finetune.plan import fit_micro_batch

    memory = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory / 2**30
    fit = fit_micro_batch(model_dir, r=config.r, targets=config.targets, seq=config.seq,
                          step=config.samples_per_step, memory_gib=memory,
                          liger=bool(config.liger))
    if fit is None or fit[0] <= config.batch_size:
        return config, ""
    batch, planned = fit
    tuned = config.model_copy(update={"batch_size": batch,
                                      "grad_accum": config.samples_per_step // batch})
    return tuned, (f"micro-batches of {batch} records x {tuned.grad_accum} per step (the same "
                   f"{config.samples_per_step} records per step as {config.batch_size} x "
                   f"{config.grad_accum}; planned peak {planned:.1f} of {memory:.0f} GiB); "
                   "--batch-size and --grad-accum choose")


def choose_attention(model_dir: Path, device: Device, config: TrainConfig) -> tuple[str, str]:
    """(attn_implementation to load with, what to report): varlen flash attention over packed
    records where this GPU, torch and model allow it (finetune.varlen), else SDPA."""
    import torch
    from transformers import AutoConfig

    capability = torch.cuda.get_device_capability() if device.kind == "cuda" else None
    window = getattr(AutoConfig.from_pretrained(str(model_dir)), "sliding_window", None)
    why_not = varlen.unavailable(device.kind, capability, config.packing, window, config.seq)
    if why_not is None:
        return varlen.register(), "varlen (records attend only within themselves)"
    return "sdpa", f"sdpa ({why_not})"


def check_resumable(manifest: HandoffManifest, base_hash: str, data_hash: str) -> None:
    if manifest.base_config_sha256 != base_hash:
        raise hb.BundleError(
            f"the bundle was trained on base model {manifest.base_model!r} with config hash "
            f"{manifest.base_config_sha256[:12]}, but --model has {base_hash[:12]}; "
            "resume with the same base model")
    if manifest.dataset_sha256 != data_hash:
        raise hb.BundleError(
            f"the bundle was trained on dataset {manifest.dataset_sha256[:12]} "
            f"({manifest.dataset_path}), but --data has {data_hash[:12]}; resume with the same data")


def training_arguments(plan: SessionPlan):
    """The Trainer's arguments for this process's share of the step (one GPU, no DataParallel)."""
    from transformers import TrainingArguments

    config, device = plan.config, plan.device
    batch, accum = plan.per_process
    args = TrainingArguments(
        output_dir=str(plan.spec.out / ".trainer"),
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=accum,
        # LoRA on a frozen base: every trainable parameter is used in every forward, so DDP
        # need not walk the graph after each backward looking for unused ones.
        ddp_find_unused_parameters=False,
        # The only buffers are constant (rotary inv_freq): no broadcast before every forward.
        ddp_broadcast_buffers=False,
        # Each process's loss is divided by the step's token count over all processes, so the
        # gradient and the logged loss are those of the one-process step.
        average_tokens_across_devices=True,
        max_steps=plan.total_steps - plan.start_step,
        learning_rate=config.lr,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        optim=device.optim,
        bf16=device.dtype_name == "bfloat16",
        fp16=device.dtype_name == "float16",
        use_cpu=device.kind == "cpu",
        logging_strategy="no",
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=device.kind == "cuda",
        seed=config.seed,
        use_liger_kernel=bool(config.liger),
    )
    one_gpu_per_process(args)
    return args


def one_gpu_per_process(args) -> None:
    """Pin transformers to one GPU in this process.

    Outside a process group transformers counts every visible GPU (``TrainingArguments.n_gpu``
    is ``torch.cuda.device_count()``), multiplies ``per_device_train_batch_size`` by it and
    wraps the model in ``nn.DataParallel``. On a host with two GPUs a one-process micro-batch
    held twice the records (a 32-record step where the run's is 16); being packed into one row,
    which DataParallel cannot split, it all ran on GPU 0, while ``compute_loss`` multiplied the
    loss by ``n_gpu`` (twice the loss). The Trainer itself sets ``_n_gpu = 1`` for a
    model-parallel model; this does the same for every session (transformers 5.17 and 5.23
    alike): several GPUs are used through ``accelerate launch`` only.
    """
    if args.n_gpu > 1:  # reading n_gpu sets the devices up first, so nothing overwrites this
        args._n_gpu = 1
    if args.train_batch_size != args.per_device_train_batch_size:
        raise RuntimeError(f"transformers still spreads one process over {args.n_gpu} GPUs "
                           f"(batch {args.train_batch_size}); run under accelerate launch")


def micro_batch_seed(seed: int, step: int, micro_batch: int) -> int:
    """The torch seed of micro-batch ``micro_batch`` (in the one-process order) of global step
    ``step``: LoRA dropout draws the same masks in any session and on any number of processes
    that split the step's accumulation."""
    return ((seed * 1_000_003 + step) * 65_537 + micro_batch) % (2**63)


def _build_trainer(plan: SessionPlan, progress: SessionProgress, callback: SessionCallback,
                   model, tokenizer, train_dataset, boundaries: bool = False):
    import torch
    from torch.utils.data import DataLoader
    from transformers import Trainer

    config, device, place = plan.config, plan.device, ranks()
    args = training_arguments(plan)
    batch, _ = plan.per_process
    # Each step's micro-batches dealt so that the processes get about the same tokens.
    lengths = [len(e.input_ids) for e in train_dataset.encoded]
    batches = make_batch_sampler(plan.n_records, config.seed, plan.samples,
                                 plan.start_step * config.samples_per_step,
                                 config.samples_per_step, batch, place.world, place.rank,
                                 batch_cost(lengths, config.packing))
    optimizer_file = None
    if plan.spec.resume is not None and plan.spec.resume[1].optimizer_state:
        optimizer_file = plan.spec.resume[0] / hb.OPTIMIZER_FILE
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    collate = make_collator(config.packing, pad_id, boundaries)

    class SessionTrainer(Trainer):
        _dealt = 0  # micro-batches this process has run in the session

        def get_train_dataloader(self):
            # Our deal of the step over the processes (finetune.distributed), not accelerate's
            # sharding: not passed through accelerator.prepare; _prepare_inputs moves batches.
            return DataLoader(train_dataset, batch_sampler=batches, collate_fn=collate,
                              num_workers=0, pin_memory=device.kind == "cuda")

        def create_optimizer(self, *args, **kwargs):
            optimizer = super().create_optimizer(*args, **kwargs)
            if optimizer_file is not None:
                callback.optimizer_restored = load_optimizer(optimizer, optimizer_file,
                                                             device.optim)
            return optimizer

        def create_scheduler(self, num_training_steps, optimizer=None):
            from torch.optim.lr_scheduler import LambdaLR

            if self.lr_scheduler is None:
                scheduled = optimizer or self.optimizer
                if scheduled is None:
                    raise RuntimeError("create_scheduler needs the optimizer: create it first")
                multiplier = schedule_lambda(config, plan.total_steps)
                self.lr_scheduler = LambdaLR(scheduled, lambda i: multiplier(i + plan.start_step))
            return self.lr_scheduler

        def training_step(self, model, inputs, *args, **kwargs):
            index = inputs.pop("record_index").tolist()
            self._ghost = all(is_ghost(i) for i in index)
            if not progress.parallel:
                progress.parallel = describe_parallel(model, self.args)
            mask = inputs.get("attention_mask")
            tokens = int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
            # This rank's k-th micro-batch of the session has its place in the one-process step.
            micro_batch = batches.places[self._dealt % len(batches.places)]
            self._dealt += 1
            torch.manual_seed(micro_batch_seed(config.seed, plan.start_step
                                               + self.state.global_step, micro_batch))
            loss = super().training_step(model, inputs, *args, **kwargs)
            callback.add_micro_batch(micro_batch, [i for i in index if not is_ghost(i)], loss,
                                     0 if self._ghost else tokens)
            return loss

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if not getattr(self, "_ghost", False):
                return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                            num_items_in_batch=num_items_in_batch)
            # A ghost trains nothing but runs forward and backward, so that DDP's all-reduce
            # meets every process: a zero loss joined to every trainable parameter.
            outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
            loss = outputs.logits.float().sum() * 0.0
            return (loss, outputs) if return_outputs else loss

    trainer = SessionTrainer(model=model, args=args, train_dataset=train_dataset,
                             data_collator=collate, callbacks=[callback, *plan.spec.callbacks])
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for quiet in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(quiet)
    return trainer


def describe_parallel(model, args) -> dict[str, Any]:
    """This process's device and the model's wrapper (with DDP's settings), as trained."""
    import torch

    found: dict[str, Any] = {"rank": ranks().rank, "world": ranks().world,
                             "device": str(args.device), "n_gpu": args.n_gpu,
                             "wrapper": type(model).__name__}
    found["cpus"] = sorted(os.sched_getaffinity(0))
    if torch.cuda.is_available():
        found["current_device"] = torch.cuda.current_device()
        found["parameter_devices"] = sorted({str(p.device) for p in model.parameters()})
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        found |= {"find_unused_parameters": model.find_unused_parameters,
                  "broadcast_buffers": model.broadcast_buffers,
                  "static_graph": model.static_graph,
                  "bucket_cap_mb": round(model.bucket_bytes_cap / 2**20, 1),
                  "gradient_as_bucket_view": model.gradient_as_bucket_view}
    return found
