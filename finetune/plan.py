"""``finetune plan``: size a QLoRA run from a model's config.json alone (no weights, no torch).

Counts trainable LoRA parameters exactly (r x (in + out) per adapted linear layer), and gives
*estimates*, with their assumptions stated in ``Plan.assumptions``, of peak GPU memory, time
per epoch on a named GPU and the number of GPU sessions the run needs.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError

GIB = 1024**3
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
SHORT_NAMES = {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj",
               "gate": "gate_proj", "up": "up_proj", "down": "down_proj"}


@dataclass(frozen=True)
class GPU:
    """Dense peak matmul throughput (no sparsity) in the dtype QLoRA computes in on it."""

    name: str
    memory_gib: float
    peak_tflops: float
    dtype: str  # bf16 from compute capability 8.0 on, fp16 before
    mfu: float  # assumed fraction of the peak a 4-bit QLoRA step reaches


GPUS: dict[str, GPU] = {
    "P100": GPU("P100 16GB", 16, 18.7, "fp16", 0.20),
    "T4": GPU("T4 16GB", 15, 65.0, "fp16", 0.20),
    "L4": GPU("L4 24GB", 22, 121.0, "bf16", 0.25),
    "A100": GPU("A100 80GB SXM", 80, 312.0, "bf16", 0.30),
    "H100": GPU("H100 80GB SXM", 80, 989.0, "bf16", 0.25),
}


@dataclass(frozen=True)
class ModelShape:
    """The dimensions of a decoder-only transformer that LoRA sizing needs."""

    name: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied_embeddings: bool

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in_features, out_features) of each projection of one layer."""
        q_out, kv_out = self.heads * self.head_dim, self.kv_heads * self.head_dim
        return {
            "q_proj": (self.hidden, q_out),
            "k_proj": (self.hidden, kv_out),
            "v_proj": (self.hidden, kv_out),
            "o_proj": (q_out, self.hidden),
            "gate_proj": (self.hidden, self.intermediate),
            "up_proj": (self.hidden, self.intermediate),
            "down_proj": (self.intermediate, self.hidden),
        }

    def base_linear_params(self) -> int:
        return self.layers * sum(i * o for i, o in self.linear_shapes().values())

    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)


@dataclass
class Plan:
    model: ModelShape
    r: int
    targets: tuple[str, ...]
    trainable_params: int
    adapter_bytes: int
    gpu: GPU
    seq: int
    micro_batch: int
    peak_vram_gib: float
    vram_parts_gib: dict[str, float]
    tokens_per_epoch: int
    epoch_hours: float
    total_hours: float
    session_hours: float
    sessions: int
    assumptions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.name, "r": self.r, "targets": list(self.targets),
            "trainable_params": self.trainable_params, "adapter_bytes": self.adapter_bytes,
            "gpu": self.gpu.name, "seq": self.seq, "micro_batch": self.micro_batch,
            "peak_vram_gib": round(self.peak_vram_gib, 2),
            "vram_parts_gib": {k: round(v, 3) for k, v in self.vram_parts_gib.items()},
            "tokens_per_epoch": self.tokens_per_epoch, "epoch_hours": round(self.epoch_hours, 3),
            "total_hours": round(self.total_hours, 3), "session_hours": self.session_hours,
            "sessions": self.sessions, "assumptions": self.assumptions,
        }


def read_config(model: str | os.PathLike[str]) -> dict[str, Any]:
    """config.json of a model folder, or a config file itself; weights are never read."""
    path = Path(model)
    if path.is_dir():
        path = path / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file; pass a model folder or its config.json") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the model config ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object (a Hugging Face config.json)")
    return data


def model_shape(config: dict[str, Any], name: str = "") -> ModelShape:
    """Dimensions from a Hugging Face config (multimodal configs: their ``text_config``)."""
    text = config.get("text_config") or config
    try:
        hidden, heads = int(text["hidden_size"]), int(text["num_attention_heads"])
        shape = ModelShape(
            name=name or str(config.get("_name_or_path") or text.get("model_type") or "model"),
            hidden=hidden,
            intermediate=int(text["intermediate_size"]),
            layers=int(text["num_hidden_layers"]),
            heads=heads,
            kv_heads=int(text.get("num_key_value_heads") or heads),
            head_dim=int(text.get("head_dim") or hidden // heads),
            vocab=int(text["vocab_size"]),
            tied_embeddings=bool(config.get("tie_word_embeddings",
                                            text.get("tie_word_embeddings", False))),
        )
    except KeyError as exc:
        raise ConfigError(
            f"the model config has no {exc.args[0]!r}; `finetune plan` sizes decoder-only "
            "transformers with q/k/v/o and gate/up/down projections (Llama, Mistral, Gemma, Qwen)"
        ) from exc
    return shape


def parse_targets(targets: str) -> tuple[str, ...]:
    """``all-linear`` or a comma list of module names (q,k,v,o,gate,up,down or *_proj)."""
    if targets.strip() == "all-linear":
        return ALL_LINEAR
    names = []
    for raw in targets.split(","):
        item = raw.strip()
        if not item:
            continue
        full = SHORT_NAMES.get(item, item)
        if full not in ALL_LINEAR:
            raise ConfigError(
                f"unknown LoRA target {item!r}; use all-linear or names among "
                f"{', '.join(ALL_LINEAR)}"
            )
        names.append(full)
    if not names:
        raise ConfigError("--targets is empty; use all-linear or e.g. q,k,v,o")
    return tuple(dict.fromkeys(names))


def lora_params(shape: ModelShape, r: int, targets: tuple[str, ...]) -> int:
    """Exact count of LoRA A and B weights: layers x sum over targets of r x (in + out)."""
    if r <= 0:
        raise ConfigError(f"--r should be positive, got {r}")
    shapes = shape.linear_shapes()
    return shape.layers * sum(r * (shapes[t][0] + shapes[t][1]) for t in targets)


def estimate_vram(
    shape: ModelShape, trainable: int, *, seq: int, micro_batch: int, compute_bytes: int = 2,
    liger: bool = False,
) -> dict[str, float]:
    """Peak GPU memory parts in GiB for QLoRA with gradient checkpointing (see assumptions).
    ``liger``: fused linear cross-entropy, which never holds the full-vocab logits."""
    tokens = seq * micro_batch
    linear = shape.base_linear_params()
    parts = {
        # NF4 = 4 bits; double quant keeps ~0.127 bits/param of block scales.
        "base weights (NF4 + double-quant scales)": linear * (4 + 0.127) / 8 / GIB,
        "embeddings + lm_head (16-bit, not quantized)": shape.embedding_params() * 2 / GIB,
        # fp32 weights + fp32 grads + paged 8-bit AdamW (2 x 1 byte).
        "LoRA weights, grads, 8-bit Adam": trainable * (4 + 4 + 2) / GIB,
        # Checkpointed: one hidden state per layer is kept for the backward pass.
        "checkpointed activations": shape.layers * tokens * shape.hidden * compute_bytes / GIB,
        # One layer recomputed at a time: attention in/out, MLP (3 x intermediate), norms.
        "one layer's recomputed activations": tokens * (
            8 * shape.hidden + 4 * shape.intermediate
        ) * compute_bytes / GIB,
        "CUDA context, allocator slack": 1.0,
    }
    if liger:
        # Chunks of about tokens x hidden fp32 logits at a time, plus the hidden states' gradient.
        parts["fused cross-entropy (liger)"] = tokens * shape.hidden * (4 + 2 * compute_bytes) / GIB
    else:
        # Logits in compute dtype + fp32 copy for the loss + its gradient.
        parts["logits and loss"] = tokens * shape.vocab * (compute_bytes + 4 + 4) / GIB
    return parts


def fit_micro_batch(model: str | os.PathLike[str], *, r: int, targets: str, seq: int, step: int,
                    memory_gib: float, liger: bool, share: float = 0.8) -> tuple[int, float] | None:
    """(records per micro-batch, planned GiB): the largest divisor of ``step`` whose estimated
    peak (every record ``seq`` tokens long) fits ``share`` of ``memory_gib``; None if none does."""
    shape = model_shape(read_config(model))
    trainable = lora_params(shape, r, parse_targets(targets))
    for batch in (d for d in range(step, 0, -1) if step % d == 0):
        planned = sum(estimate_vram(shape, trainable, seq=seq, micro_batch=batch,
                                    liger=liger).values())
        if planned <= share * memory_gib:
            return batch, planned
    return None


def build_plan(
    model: str | os.PathLike[str],
    *,
    r: int = 16,
    targets: str = "all-linear",
    seq: int = 2048,
    micro_batch: int = 1,
    gpu: str = "T4",
    session_hours: float = 9.0,
    epochs: float = 3.0,
    records: int = 1000,
    tokens_per_record: int = 256,
    liger: bool = False,
) -> Plan:
    """Size a QLoRA run; only ``model``'s config.json is read."""
    gpu_spec = GPUS.get(gpu.upper())
    if gpu_spec is None:
        raise ConfigError(f"unknown GPU {gpu!r}; use one of {', '.join(GPUS)}")
    if seq <= 0 or micro_batch <= 0 or records <= 0 or epochs <= 0 or tokens_per_record <= 0:
        raise ConfigError("--seq, --micro-batch, --records, --epochs and --tokens-per-record "
                          "should be positive")
    if session_hours <= 0.25:
        raise ConfigError(f"--session-hours should be more than 0.25, got {session_hours}")
    config = read_config(model)
    shape = model_shape(config, name=Path(model).name)
    target_names = parse_targets(targets)
    trainable = lora_params(shape, r, target_names)
    parts = estimate_vram(shape, trainable, seq=seq, micro_batch=micro_batch, liger=liger)
    tokens_per_epoch = records * min(tokens_per_record, seq)
    all_params = shape.base_linear_params() + shape.embedding_params()
    # Forward + recomputed forward (checkpointing) + backward to the inputs: ~6 FLOPs/param/token.
    flops_per_token = 6 * all_params + 12 * shape.layers * shape.hidden * min(seq, 2048)
    seconds = tokens_per_epoch * flops_per_token / (gpu_spec.peak_tflops * 1e12 * gpu_spec.mfu)
    epoch_hours = seconds / 3600
    startup_hours = 0.1  # install, load + quantize weights, first step
    margin_hours = 0.05  # the budget's safety margin before a handoff
    total_hours = epochs * epoch_hours
    usable = session_hours - startup_hours - margin_hours
    sessions = max(1, math.ceil(total_hours / usable))
    return Plan(
        model=shape, r=r, targets=target_names, trainable_params=trainable,
        adapter_bytes=trainable * 4 + 16 * 1024,
        gpu=gpu_spec, seq=seq, micro_batch=micro_batch, peak_vram_gib=sum(parts.values()),
        vram_parts_gib=parts, tokens_per_epoch=tokens_per_epoch, epoch_hours=epoch_hours,
        total_hours=total_hours, session_hours=session_hours, sessions=sessions,
        assumptions=_assumptions(gpu_spec, tokens_per_record, startup_hours, margin_hours),
    )


def _assumptions(gpu: GPU, tokens_per_record: int, startup: float, margin: float) -> list[str]:
    return [
        "adapter saved in float32 (4 bytes/parameter) as safetensors",
        f"{gpu.name}: {gpu.peak_tflops:g} dense {gpu.dtype} TFLOPS peak, "
        f"{gpu.mfu:.0%} of it reached by a 4-bit QLoRA step (dequantization, small LoRA matmuls)",
        "~6 FLOPs per base parameter per token (forward, recomputed forward under gradient "
        "checkpointing, backward to the inputs) plus attention",
        f"{tokens_per_record} tokens per record (--tokens-per-record), packed without padding",
        "VRAM: NF4 base + 16-bit embeddings/lm_head + fp32 LoRA with grads and paged 8-bit AdamW "
        "+ one checkpointed hidden state per layer + one recomputed layer + full-vocab logits "
        "(chunked with --liger) + 1 GiB CUDA context; every record as long as --seq (worst case)",
        f"each session loses {startup:g} h to start-up and keeps a {margin:g} h handoff margin",
    ]
