"""finetune eval end to end on a tiny random Gemma-shaped model with a real LoRA bundle:
template refusal, truncation flags, the stored eval run, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from example_runs import save_audit_run

from core.datasets import load_dataset, write_jsonl
from core.models import Judgment, JudgmentStatus, Label, Verdict
from core.runs import open_run
from core.store import Store
from finetune.evaluate import (
    EvalSpec,
    TemplateMismatch,
    check_template,
    generate_answers,
    load_for_eval,
    run_eval,
)
from finetune.handoff import ChatTemplateInfo, read_bundle

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "advising"
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=1, head_dim=32, max_position_embeddings=1024, sliding_window=64)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    """A random tiny Gemma 3 with the packaged tokenizer, and a handoff bundle of a LoRA
    adapter (random B, so the tuned model differs from the base) written like training does."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    from core.local_model import hf_model_dir
    from finetune.formatting import template_info
    from finetune.handoff import (
        ADAPTER_DIR,
        GateRecord,
        HandoffManifest,
        SampleCursor,
        SchedulerState,
        finalize_bundle,
        new_bundle_dir,
    )
    from finetune.training import model_config_sha256

    folder = tmp_path_factory.mktemp("tiny")
    model_dir = folder / "model"
    tokenizer = AutoTokenizer.from_pretrained(str(hf_model_dir()))
    config = Gemma3TextConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                              bos_token_id=tokenizer.bos_token_id,
                              eos_token_id=tokenizer.eos_token_id, **TINY)
    torch.manual_seed(0)
    model = Gemma3ForCausalLM(config)
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    with warnings.catch_warnings():  # peft 0.21 calls a property transformers 5.23 deprecates
        warnings.filterwarnings("ignore", ".*is_gradient_checkpointing.*", FutureWarning)
        peft_model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear",
                                                      init_lora_weights=False))
    tmp = new_bundle_dir(folder / "run")
    peft_model.save_pretrained(tmp / ADAPTER_DIR)
    manifest = HandoffManifest(
        run_name="tiny", base_model=str(model_dir), base_config_sha256=model_config_sha256(model_dir),
        dataset_path="train.jsonl", dataset_sha256="0" * 64, n_records=4, epoch=1, global_step=1,
        total_steps=1, cursor=SampleCursor(epoch=1, index=0), samples_consumed=4, seeds={"run": 0},
        scheduler=SchedulerState(name="cosine", base_lr=1e-4, warmup_steps=0, total_steps=1,
                                 position=1, next_lr=0.0),
        config={}, gate=GateRecord(overridden=True, override_reason="test"),
        chat_template=template_info(tokenizer))
    bundle = finalize_bundle(tmp, folder / "run" / "handoff-step-000001", manifest)
    return {"model_dir": model_dir, "bundle": bundle, "folder": folder}


def test_a_different_chat_template_is_refused(tiny):
    from transformers import AutoTokenizer

    manifest = read_bundle(tiny["bundle"])
    tokenizer = AutoTokenizer.from_pretrained(str(tiny["model_dir"]))
    assert check_template(manifest, tokenizer, tiny["model_dir"]) == manifest.chat_template
    other = manifest.model_copy(update={"chat_template": ChatTemplateInfo(
        source="tokenizer", text="{{ messages }}", sha256="f" * 64)})
    with pytest.raises(TemplateMismatch, match=r"trained with a tokenizer template \(sha256 ffff"):
        check_template(other, tokenizer, tiny["model_dir"])


def test_answers_that_hit_the_token_limit_are_flagged(tiny):
    from transformers import AutoTokenizer

    manifest = read_bundle(tiny["bundle"])
    tokenizer = AutoTokenizer.from_pretrained(str(tiny["model_dir"]))
    model = load_for_eval(tiny["model_dir"], tiny["bundle"] / "adapter")
    records = load_dataset(EXAMPLE / "dataset.jsonl").records[:2]
    long = generate_answers(model, tokenizer, manifest.chat_template, records, 4, 2, "t1")
    assert [(a.tokens, a.truncated) for a in long] == [(4, True), (4, True)]
    # Make the first token the model emits for the first prompt an end token: that answer ends
    # before the limit, empty, and is not truncated.
    first = generate_answers(model, tokenizer, manifest.chat_template, records[:1], 1, 1, "t2")
    first_id = tokenizer(first[0].text, add_special_tokens=False)["input_ids"][0]
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, first_id]
    ended = generate_answers(model, tokenizer, manifest.chat_template, records[:1], 4, 1, "t3")
    assert (ended[0].text, ended[0].tokens, ended[0].truncated) == ("", 0, False)


def audited_training_data(folder: Path, store: Store) -> tuple[Path, str]:
    records = load_dataset(EXAMPLE / "dataset.jsonl").records[:12]
    data = write_jsonl(records, folder / "train.jsonl")
    save_audit_run(store, "audit-train", load_dataset(data).sha256, dataset_path=str(data),
                   sources_path=str(EXAMPLE / "sources"),
                   judges=[{"name": "rules", "provider": "rules"}])
    store.set_run_records("audit-train", [r.model_dump(mode="json") for r in records])
    for record in records:
        store.save_judgment(Judgment(run_id="audit-train", record_id=record.id, judge="rules",
                                     status=JudgmentStatus.ok,
                                     verdict=Verdict(label=Label.contradicted)))
    return data, "audit-train"


@pytest.mark.slow
def test_run_eval_stores_an_eval_run_and_audits_answers_with_the_training_panel(tiny, tmp_path):
    store = Store(tmp_path / "assay.db")
    train, audit_run = audited_training_data(tmp_path, store)
    prompts = write_jsonl(load_dataset(EXAMPLE / "dataset.jsonl").records[20:23],
                          tmp_path / "heldout.jsonl")
    spec = EvalSpec(model_dir=tiny["model_dir"], adapter=tiny["bundle"].parent, prompts=prompts,
                    audit_run_id=audit_run, preference_model=str(tiny["model_dir"]),
                    max_new_tokens=6, batch_size=3, bootstrap=200)
    result = run_eval(spec, store)
    assert result["n"] == 3 and len(result["answers"]) == 3
    assert result["inputs"]["judges"] == [{"name": "rules", "provider": "rules", "model": "",
                                           "params": {}}]
    assert result["inputs"]["train"] == str(train)  # from the audit run's config
    assert result["truncation"]["base"]["k"] == 3  # a random model never ends within 6 tokens
    assert set(result["fidelity"]) >= {"base", "tuned", "difference", "per_prompt"}
    pref = result["preference"]
    assert pref["n"] == 3 and pref["wins"] + pref["ties"] + pref["losses"] == 3
    assert len(pref["verdicts"]) == 3
    facts = result["factuality"]
    assert facts["paired"]["a"] == "tuned"
    assert set(facts["audit_runs"]) == {"base", "tuned"}
    for run_id in facts["audit_runs"].values():
        assert store.get_run(run_id)["kind"] == "eval-audit"
        assert len(store.judgments(run_id)) == 3
    assert store.latest_run_id("audit") == "audit-train"  # answer audits are not training audits
    run = open_run(store, result["run_id"], "eval")
    assert run.status == "complete"
    assert run.eval.result["preference"]["wins"] == pref["wins"]
    again = run_eval(spec, store)
    assert again["from_store"] is True and again["run_id"] == result["run_id"]


def finetune_cli(args: list[str], db: Path, timeout: int = 600):
    env = {**os.environ, "ASSAY_DB": str(db), "COLUMNS": "120", "ASSAY_TORCH_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "finetune", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def test_eval_help_imports_nothing_heavy(tmp_path):
    code = ("import sys; from finetune.cli import cli; from click.testing import CliRunner; "
            "r = CliRunner().invoke(cli, ['eval', '--help']); print(r.output); "
            "print('HEAVY', [m for m in ('torch', 'transformers', 'peft') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert "--adapter" in done.stdout and "HEAVY []" in done.stdout, done.stderr


def test_cli_refuses_a_template_mismatch_in_one_line(tiny, tmp_path):
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny["bundle"], bundle)
    manifest = json.loads((bundle / "handoff.json").read_text())
    manifest["chat_template"] = {"source": "tokenizer", "text": "{{ x }}", "sha256": "e" * 64}
    (bundle / "handoff.json").write_text(json.dumps(manifest))
    from finetune.handoff import write_checksums

    write_checksums(bundle)
    prompts = write_jsonl(load_dataset(EXAMPLE / "dataset.jsonl").records[:2], tmp_path / "p.jsonl")
    done = finetune_cli(["eval", "--model", str(tiny["model_dir"]), "--adapter", str(bundle),
                         "--prompts", str(prompts), "--sources", str(EXAMPLE / "sources")],
                        tmp_path / "assay.db")
    assert done.returncode != 0
    assert "error:" in done.stderr and "trained with a tokenizer template" in done.stderr
    assert "Traceback" not in done.stderr
