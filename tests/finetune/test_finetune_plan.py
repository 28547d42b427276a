"""`finetune plan`: exact LoRA parameter counts from config.json alone, and stated estimates."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from core.errors import ConfigError
from finetune.cli import cli
from finetune.plan import build_plan, fit_micro_batch, lora_params, model_shape, parse_targets

MISTRAL_7B_V03 = {
    "architectures": ["MistralForCausalLM"], "model_type": "mistral",
    "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 32768,
    "tie_word_embeddings": False,
}


@pytest.fixture
def mistral_dir(tmp_path):
    folder = tmp_path / "Mistral-7B-Instruct-v0.3"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(MISTRAL_7B_V03))
    return folder  # a config and no weights: plan must not need them


def test_plan_prints_exact_mistral_adapter_parameters(mistral_dir):
    result = CliRunner().invoke(cli, ["plan", "--model", str(mistral_dir), "--r", "16",
                                      "--targets", "q,k,v,o,gate,up,down", "--gpu", "T4"])
    assert result.exit_code == 0, result.output
    assert "41,943,040" in result.output
    assert "assumptions" in result.output and "GPU sessions of 9 h" in result.output


def test_plan_json_all_linear_matches_the_seven_projections(mistral_dir):
    result = CliRunner().invoke(cli, ["plan", "--model", str(mistral_dir / "config.json"),
                                      "--json", "--gpu", "H100", "--records", "5000"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["trainable_params"] == 41_943_040
    assert data["adapter_bytes"] >= 41_943_040 * 4
    assert 4 < data["peak_vram_gib"] < 16
    assert data["sessions"] >= 1 and data["epoch_hours"] > 0


def test_lora_count_formula_per_target():
    shape = model_shape(MISTRAL_7B_V03)
    # q: 4096 -> 4096, v: 4096 -> 1024; r x (in + out) per layer, 32 layers.
    assert lora_params(shape, 8, parse_targets("q,v")) == 32 * 8 * ((4096 + 4096) + (4096 + 1024))


def test_sessions_grow_with_the_run():
    config = {**MISTRAL_7B_V03}
    small = build_plan_from(config, records=1_000, session_hours=2)
    large = build_plan_from(config, records=200_000, session_hours=2)
    assert large.sessions > small.sessions >= 1
    assert large.sessions == pytest.approx(large.total_hours / (2 - 0.15), abs=1)


def build_plan_from(config, **kwargs):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.json"
        path.write_text(json.dumps(config))
        return build_plan(path, gpu="T4", **kwargs)


def test_unknown_target_and_missing_config_are_clear(tmp_path, mistral_dir):
    with pytest.raises(ConfigError, match="unknown LoRA target 'lm_head'"):
        parse_targets("q,lm_head")
    with pytest.raises(ConfigError, match="no such file"):
        build_plan(tmp_path / "nowhere")
    (tmp_path / "bad.json").write_text(json.dumps({"hidden_size": 8}))
    with pytest.raises(ConfigError, match="no 'num_attention_heads'"):
        build_plan(tmp_path / "bad.json")


def test_liger_plan_drops_the_full_vocab_logits_and_lands_near_the_h200_measurement(mistral_dir):
    """bench/results/qlora_speed_h200_mistral7b_compare512_varlen.json: `finetune train
    --batch-size 64 --grad-accum 1 --liger` at seq 512 peaked at 12.7-14.2 GiB allocated with
    packed micro-batches of at most 15,591 tokens (about 30 records of 512)."""
    plain = build_plan(mistral_dir, seq=512, micro_batch=30, gpu="H100")
    fused = build_plan(mistral_dir, seq=512, micro_batch=30, gpu="H100", liger=True)
    assert "logits and loss" in plain.vram_parts_gib
    assert "logits and loss" not in fused.vram_parts_gib
    assert plain.peak_vram_gib - fused.peak_vram_gib > 4
    assert 11 < fused.peak_vram_gib < 15
    result = CliRunner().invoke(cli, ["plan", "--model", str(mistral_dir), "--seq", "512",
                                      "--micro-batch", "30", "--liger", "--json"])
    assert json.loads(result.output)["peak_vram_gib"] == round(fused.peak_vram_gib, 2)


def test_fit_micro_batch_takes_the_largest_divisor_of_the_step_that_fits(mistral_dir):
    """`finetune train` with no --batch-size/--grad-accum on a GPU with varlen attention: the
    step's 16 records in as few packed micro-batches as the plan says the GPU holds."""
    def fit(memory, seq=2048, liger=False, step=16):
        return fit_micro_batch(mistral_dir, r=16, targets="all-linear", seq=seq, step=step,
                               memory_gib=memory, liger=liger)

    assert fit(139.8)[0] == 16  # H200: the whole step in one pass
    assert fit(24)[0] == 8 and fit(24)[1] <= 0.8 * 24
    assert fit(16)[0] == 4  # the full-vocab logits of 8 x 2048 tokens do not fit 16 GB
    assert fit(16, liger=True)[0] == 8  # ... and with liger's fused cross-entropy they do
    assert fit(40, step=12)[0] == 12 and fit(24, step=12)[0] == 6  # divisors only
    assert fit(4) is None  # not even one record: keep the given split
