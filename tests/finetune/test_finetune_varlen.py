"""Varlen attention over packed records (finetune.varlen): the same logits as SDPA with the
block-diagonal mask transformers builds from restarting position ids. The flash kernel needs a
GPU; here a per-record SDPA stands in for it, called with the arguments the kernel would get,
so what is tested is everything around the kernel: layout, GQA, causality, scale, boundaries
and the fallback to SDPA."""

from __future__ import annotations

import inspect
from itertools import pairwise
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from finetune import varlen  # noqa: E402
from finetune.training import make_collator  # noqa: E402

LENGTHS = [5, 9, 3]


def reference_kernel(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, *, scale=None,
                     window_size=(-1, -1), enable_gqa=False):
    """torch.nn.attention.varlen.varlen_attn's contract, one record at a time through SDPA."""
    assert cu_seq_q.dtype == torch.int32 and query.dim() == 3
    assert max_q == max_k == int(cu_seq_q.diff().max())
    causal = window_size == (-1, 0)
    bounds = cu_seq_q.tolist()
    parts = []
    for start, end in pairwise(bounds):
        q, k, v = (t[start:end].transpose(0, 1) for t in (query, key, value))
        out = torch.nn.functional.scaled_dot_product_attention(
            q, k, v, is_causal=causal, scale=scale, enable_gqa=enable_gqa)
        parts.append(out.transpose(0, 1))
    return torch.cat(parts)


def old_kernel(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, is_causal=False):
    """torch 2.9's signature: is_causal, no scale, no GQA."""
    assert key.shape[1] == query.shape[1], "without enable_gqa the caller repeats K and V"
    window = (-1, 0) if is_causal else (-1, -1)
    return reference_kernel(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k,
                            window_size=window)


@pytest.fixture
def model():
    from transformers import MistralConfig, MistralForCausalLM

    config = MistralConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                           vocab_size=101, sliding_window=None, attn_implementation="sdpa", use_cache=False)
    torch.manual_seed(0)
    return MistralForCausalLM(config).eval()


def packed_batch(boundaries: bool) -> dict:
    torch.manual_seed(1)
    rows = [{"input_ids": torch.randint(1, 100, (n,)).tolist(), "labels": [1] * n,
             "record_index": i} for i, n in enumerate(LENGTHS)]
    batch = make_collator(True, 0, boundaries)(rows)
    batch.pop("record_index")
    batch.pop("labels")
    return batch


@pytest.mark.parametrize("kernel", [reference_kernel, old_kernel])
def test_varlen_gives_sdpa_packed_logits_and_falls_back_without_boundaries(model, kernel,
                                                                           monkeypatch):
    params = frozenset(inspect.signature(kernel).parameters)
    monkeypatch.setattr(varlen, "_kernel", lambda: (kernel, params))
    with torch.no_grad():
        expected = model(**packed_batch(False)).logits
        # SDPA's packed mask itself: each record alone gives the same logits.
        ids, bounds = packed_batch(False)["input_ids"][0], [0, 5, 14, 17]
        alone = torch.cat([model(input_ids=ids[a:b][None]).logits[0]
                           for a, b in pairwise(bounds)])
        torch.testing.assert_close(expected[0], alone, rtol=1e-5, atol=1e-5)
        assert varlen.register() == varlen.NAME
        model.config._attn_implementation = varlen.NAME
        before = dict(varlen.CALLS)
        batch = packed_batch(True)
        assert batch["cu_seq_lens_q"].tolist() == [0, 5, 14, 17]
        assert batch["max_length_q"] == 9
        got = model(**batch).logits
        assert varlen.CALLS["varlen"] - before["varlen"] == 2  # one call per layer
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)

        # Without the boundaries every call goes to SDPA with transformers' packed mask.
        fallback = model(**packed_batch(False)).logits
        assert varlen.CALLS["sdpa"] - before["sdpa"] == 2
        torch.testing.assert_close(fallback, expected, rtol=1e-5, atol=1e-5)

        # Boundaries that merge the records into one change the logits: the test can fail.
        merged = packed_batch(True) | {"cu_seq_lens_q": torch.tensor([0, 17]),
                                       "cu_seq_lens_k": torch.tensor([0, 17]),
                                       "max_length_q": 17, "max_length_k": 17}
        wrong = model(**merged).logits
    assert not torch.allclose(wrong[0, 5:], expected[0, 5:], atol=1e-3)


def test_unavailable_says_why_and_allows_only_what_the_kernel_serves(monkeypatch):
    monkeypatch.setattr(varlen, "_kernel", lambda: (reference_kernel, frozenset()))
    assert varlen.unavailable("cuda", (9, 0), True, None, 2048) is None
    assert varlen.unavailable("cuda", (9, 0), True, 4096, 2048) is None
    assert "sliding window (512)" in varlen.unavailable("cuda", (9, 0), True, 512, 2048)
    assert "compute capability" in varlen.unavailable("cuda", (7, 5), True, None, 512)  # T4
    assert "CUDA" in varlen.unavailable("cpu", None, True, None, 512)
    assert "padded" in varlen.unavailable("cuda", (9, 0), False, None, 512)
    monkeypatch.setattr(varlen, "_kernel", lambda: None)
    assert "torch.nn.attention.varlen" in varlen.unavailable("cuda", (9, 0), True, None, 512)


@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_a_training_session_through_varlen_takes_the_sdpa_sessions_steps(tmp_path, monkeypatch):
    """finetune.training.run_session end to end (4-bit base, LoRA, checkpointing, packed
    micro-batches of 3 records): the boundaries reach every attention call through the
    Trainer, peft and the checkpointed layers, and the losses equal SDPA's."""
    pytest.importorskip("bitsandbytes")
    import finetune.training as training
    from bench import qlora_gpu as base
    from bench import qlora_speed as qs

    model_dir, tokenizer, _ = qs.ensure_model(tmp_path, base.TINY, False, False)
    pool = qs.Pool(tmp_path, tokenizer, 24, 64)
    runs = {}
    for name in ("sdpa", "varlen"):
        if name == "varlen":
            monkeypatch.setattr(varlen, "_kernel", lambda: (
                reference_kernel, frozenset(inspect.signature(reference_kernel).parameters)))
            monkeypatch.setattr(training, "choose_attention",
                                lambda *a: (varlen.register(), "varlen (test)"))
        before = dict(varlen.CALLS)
        runs[name] = qs.run_assay(model_dir, pool, tmp_path / name, 3, 3, 0, False)
        runs[name]["calls"] = {k: varlen.CALLS[k] - before[k] for k in before}
    assert runs["varlen"]["attention"] == "varlen (test)"
    # 2 layers x (forward + recomputed forward) x 3 steps, no call left to SDPA
    assert runs["varlen"]["calls"] == {"varlen": 12, "sdpa": 0}
    assert runs["varlen"]["record_ids"] == runs["sdpa"]["record_ids"]
    for a, b in zip(runs["varlen"]["losses"], runs["sdpa"]["losses"], strict=True):
        assert a == pytest.approx(b, rel=1e-4)


@pytest.mark.parametrize(("flags", "auto"), [([], True), (["--batch-size", "8"], False),
                                             (["--grad-accum", "2"], False)])
def test_train_lets_the_gpu_pick_the_micro_batch_only_when_no_size_is_given(
        tmp_path, monkeypatch, flags, auto):
    from click.testing import CliRunner

    import finetune.cli as fc
    import finetune.gate
    from finetune.handoff import GateRecord

    specs = []
    monkeypatch.setattr(fc, "_run", specs.append)
    monkeypatch.setattr(fc, "_model_dir", Path)
    monkeypatch.setattr(finetune.gate, "gate_for_training", lambda *a: GateRecord())
    result = CliRunner().invoke(fc.cli, ["train", "--model", str(tmp_path), "--data",
                                         str(tmp_path / "d.jsonl"), "--out", str(tmp_path / "o"),
                                         *flags])
    assert result.exit_code == 0, result.output
    assert specs[0].auto_micro_batch is auto
