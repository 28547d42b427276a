"""Attention over packed records that does no work across records: torch's varlen flash kernel.

Packing puts a micro-batch's records into one row. Under SDPA, transformers turns the restarting
position ids into a block-diagonal mask over the whole row, and the kernel then computes every
(query, key) pair of the row: at 32 records × 512 tokens that is 32 times the attention work the
records need, measured as 40% of a step's GPU time on an H200 (bench/qlora_profile.py).
``torch.nn.attention.varlen.varlen_attn`` takes the records' boundaries instead (the collator's
``cu_seq_lens_q``) and attends within each record only. Where it cannot serve a call (no
boundaries, padding, dropout, a window shorter than a record) the call goes to SDPA with the
mask transformers built, so the result never depends on which path ran.
"""

from __future__ import annotations

import inspect
from functools import cache

NAME = "assay_varlen"
CALLS = {"varlen": 0, "sdpa": 0}
"""Calls per path in this process: what a benchmark reads to show which one ran."""


@cache
def _kernel():
    """(varlen_attn, its keyword parameters) or None where this torch has no varlen attention."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn, frozenset(inspect.signature(varlen_attn).parameters)


def unavailable(device_kind: str, capability: tuple[int, int] | None, packing: bool,
                sliding_window: int | None, seq: int) -> str | None:
    """Why varlen attention cannot train this run (None: it can)."""
    if not packing:
        return "records are padded, not packed"
    if device_kind != "cuda":
        return "needs a CUDA GPU"
    if capability is None or capability < (8, 0):
        return "flash attention needs compute capability 8.0 or newer (T4, V100: SDPA)"
    if _kernel() is None:
        return "this torch has no torch.nn.attention.varlen (2.10 or newer has it)"
    if sliding_window is not None and sliding_window < seq:
        return f"the model's sliding window ({sliding_window}) is shorter than --seq ({seq})"
    return None


def register() -> str:
    """Make ``NAME`` an attention implementation transformers can load a model with."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

    AttentionInterface.register(NAME, attention)
    # SDPA's mask, so that a call varlen cannot serve falls back to SDPA exactly.
    AttentionMaskInterface.register(NAME, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])
    return NAME


def attention(module, query, key, value, attention_mask, dropout: float = 0.0,
              scaling: float | None = None, sliding_window: int | None = None, **kwargs):
    """transformers' attention interface: (batch, heads, tokens, dim) in, (batch, tokens, heads,
    dim) out, as ``sdpa_attention_forward``."""
    import torch

    cu = kwargs.get("cu_seq_lens_q")
    longest = kwargs.get("max_length_q")
    kernel = _kernel()
    default_scale = scaling is None or abs(scaling * query.shape[-1] ** 0.5 - 1) < 1e-6
    if (cu is None or longest is None or kernel is None or query.shape[0] != 1 or dropout
            or not getattr(module, "is_causal", True)
            or (sliding_window is not None and sliding_window < int(longest))
            or ("scale" not in kernel[1] and not default_scale)):
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        CALLS["sdpa"] += 1
        return sdpa_attention_forward(module, query, key, value, attention_mask,
                                      dropout=dropout, scaling=scaling, **kwargs)
    varlen_attn, params = kernel
    q, k, v = (t[0].transpose(0, 1).contiguous() for t in (query, key, value))
    extra: dict = {"scale": scaling} if "scale" in params else {}
    if k.shape[1] != q.shape[1]:
        if "enable_gqa" in params:
            extra["enable_gqa"] = True
        else:
            groups = q.shape[1] // k.shape[1]
            k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    if "is_causal" in params:
        extra["is_causal"] = True
    else:
        extra["window_size"] = (-1, 0)  # causal: no key after the query
    cu = cu.to(device=q.device, dtype=torch.int32)
    CALLS["varlen"] += 1
    out = varlen_attn(q, k, v, cu, cu, int(longest), int(longest), **extra)
    return out.unsqueeze(0), None
