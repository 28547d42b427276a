"""``finetune eval``: the base model against the tuned one, blind, on held-out prompts.

Both models answer every prompt with the chat template the adapter was trained with (read
from the bundle's manifest; a tokenizer whose template differs is refused), greedily, in
batches. Then, for each model:

- fidelity: BERTScore F1 against the reference answers (``finetune.fidelity``), bootstrap CI;
- truncation: answers that hit ``max_new_tokens`` without ending, with Wilson intervals;
- factuality: the answers are audited by the audit module itself (``audit.runner.run_panel``
  with the training audit's judges, evidence from the same sources); an answer is a
  *confident error* when more than half of the judges that decided call it wrong and it does
  not decline to answer. Errors by topic, and a paired comparison (McNemar + Newcombe);
- preference: a blind pairwise judge, both orders (``finetune.preference``);
- tracing: every tuned answer the judges flag (error or disputed) that states something wrong
  the base answer does not is traced to the training records that carry the same wrong claim
  (``finetune.tracing``).

The result is one JSON object stored as the config of a run of kind ``eval`` (the answer
audits are runs of kind ``eval-audit``, so they never count as the latest training audit).
The same inputs give the same run id; running it again returns the stored result.
"""

from __future__ import annotations

import asyncio
import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.models import JudgeSpec, Judgment, QARecord, content_hash, utcnow
from core.runs import AuditRun, EvalInputs, EvalRun, find_run, open_run, save_run
from finetune.handoff import BundleError, ChatTemplateInfo, HandoffManifest, sha256_file

EVAL_VERSION = "eval-v1"
FALLBACK_STOP = "### Question:"  # the fallback template's next turn (finetune.formatting)
_DECLINES = re.compile(
    r"\b(?:can(?:no|')t|can not|unable to|do(?:n't| not)) (?:answer|say|tell|know|confirm)\b"
    r"|\bnot sure\b|\bplease (?:ask|contact|check with) (?:an? |the )?(?:advis|office|oiss)",
    re.IGNORECASE,
)

Progress = Callable[[str], None]


class TemplateMismatch(ConfigError):
    """The tokenizer's chat template is not the one the adapter was trained with."""


@dataclass
class EvalSpec:
    """What one evaluation compares; see ``run_eval``."""

    model_dir: Path
    adapter: Path  # a bundle folder, a .tar.gz of one, or a run folder (latest bundle)
    prompts: Path
    sources: Path | None = None  # default: the training audit's sources
    train: Path | None = None  # default: the training audit's dataset
    audit_run_id: str | None = None
    judges: list[JudgeSpec] | None = None  # default: the training audit's, else the default panel
    preference_provider: str = "local"
    preference_model: str = "gemma-3-270m"
    preference_params: dict[str, Any] = field(default_factory=dict)
    max_new_tokens: int = 128
    batch_size: int = 8
    evidence_k: int = 4
    confidence: float = 0.95
    bootstrap: int = 2000
    seed: int = 0
    workdir: Path = Path(".assay") / "eval"


@dataclass
class Answer:
    text: str
    tokens: int
    truncated: bool

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "tokens": self.tokens, "truncated": self.truncated}


# -- the adapter and its template -----------------------------------------------------------


def resolve_bundle(path: Path, workdir: Path) -> tuple[Path, HandoffManifest]:
    """A bundle folder, a packed bundle, or a run folder (its latest ``handoff-step-*``)."""
    from finetune.handoff import MANIFEST, open_bundle

    path = Path(path)
    if path.is_dir() and not (path / MANIFEST).exists():
        bundles = sorted(p for p in path.glob("handoff-step-*") if p.is_dir())
        if not bundles:
            raise BundleError(f"{path}: neither a handoff bundle nor a run folder with "
                              "handoff-step-* bundles; pass --adapter BUNDLE")
        path = bundles[-1]
    return open_bundle(path, workdir)


def check_template(manifest: HandoffManifest, tokenizer: Any, model_dir: Path) -> ChatTemplateInfo:
    """The training template, if the tokenizer at ``model_dir`` would format records with it."""
    from finetune.formatting import template_info

    current = template_info(tokenizer)
    trained = manifest.chat_template
    if current.sha256 != trained.sha256:
        raise TemplateMismatch(
            f"{model_dir}: its tokenizer formats chats with a {current.source} template "
            f"(sha256 {current.sha256[:12]}), but the adapter {manifest.run_name!r} was trained "
            f"with a {trained.source} template (sha256 {trained.sha256[:12]}); answers in another "
            "template would not measure the tuned model. Evaluate with the base model folder "
            "the run was trained on (same tokenizer files)")
    return trained


def check_base(manifest: HandoffManifest, model_dir: Path) -> None:
    from finetune.training import model_config_sha256

    if model_config_sha256(model_dir) != manifest.base_config_sha256:
        raise BundleError(f"the adapter was trained on {manifest.base_model!r}, whose config "
                          f"differs from {model_dir}; pass that base model with --model")


# -- generation -----------------------------------------------------------------------------

_ANSWER_CACHE: dict[str, Answer] = {}  # same model, adapter, template and prompt: same answer


def load_for_eval(model_dir: Path, adapter_dir: Path):
    """The base model (bf16/fp16 on a GPU, fp32 on CPU) with the LoRA adapter attached."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from finetune.training import pick_device

    device = pick_device()
    model = AutoModelForCausalLM.from_pretrained(str(model_dir),
                                                 dtype=getattr(torch, device.dtype_name))
    # transformers' `to` is `@wraps(torch.nn.Module.to)`, which typeshed types without binding
    # `self` (python/typeshed#10653).
    model.to("cuda" if device.kind == "cuda" else "cpu").eval()  # type: ignore[arg-type]
    with warnings.catch_warnings():  # peft 0.21 calls a property transformers 5.23 deprecates
        warnings.filterwarnings("ignore", ".*is_gradient_checkpointing.*", FutureWarning)
        return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=False)


def render_prompt(tokenizer: Any, template: ChatTemplateInfo, record: QARecord) -> str:
    turns = [{"role": t.role, "content": t.content} for t in record.context]
    return tokenizer.apply_chat_template(turns + [{"role": "user", "content": record.question}],
                                         chat_template=template.text, tokenize=False,
                                         add_generation_prompt=True)


def generate_answers(model: Any, tokenizer: Any, template: ChatTemplateInfo,
                     records: list[QARecord], max_new_tokens: int, batch_size: int,
                     cache_prefix: str = "") -> list[Answer]:
    """Greedy answers, left-padded batches; ``truncated`` when no end came in time."""
    keys = [content_hash([cache_prefix, template.sha256, max_new_tokens,
                          render_prompt(tokenizer, template, r)]) for r in records]
    todo = [i for i, key in enumerate(keys) if key not in _ANSWER_CACHE]
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        prompts = [render_prompt(tokenizer, template, records[i]) for i in chunk]
        for i, answer in zip(chunk, _generate(model, tokenizer, template, prompts,
                                              max_new_tokens), strict=True):
            _ANSWER_CACHE[keys[i]] = answer
    return [_ANSWER_CACHE[key] for key in keys]


def _generate(model, tokenizer, template, prompts: list[str], max_new_tokens: int) -> list[Answer]:
    import torch

    tokenizer.padding_side = "left"
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    batch = tokenizer(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
    batch = {k: v.to(model.device) for k, v in batch.items()}
    eos = _eos_ids(model, tokenizer)
    with torch.inference_mode():
        output = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                eos_token_id=sorted(eos), pad_token_id=pad, top_p=None,
                                top_k=None, temperature=None)
    answers = []
    for row in output[:, batch["input_ids"].shape[1]:].tolist():
        ended = next((i for i, t in enumerate(row) if t in eos), None)
        kept = row if ended is None else row[:ended]
        text = tokenizer.decode(kept, skip_special_tokens=True)
        stopped = template.source == "fallback" and FALLBACK_STOP in text
        if stopped:
            text = text.split(FALLBACK_STOP, 1)[0]
        answers.append(Answer(text.strip(), len(kept), ended is None and not stopped))
    return answers


def _eos_ids(model, tokenizer) -> set[int]:
    ids = {tokenizer.eos_token_id}
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return {i for i in ids if i is not None}


# -- metrics --------------------------------------------------------------------------------


def rate(k: int, n: int, confidence: float) -> dict[str, Any]:
    from audit.stats.rates import wilson_interval

    interval = wilson_interval(k, n, confidence)
    return {"k": k, "n": n, "rate": k / n if n else None, "ci": [interval.low, interval.high]}


def fidelity(answers: dict[str, list[Answer]], references: list[str], spec: EvalSpec) -> dict:
    """Mean BERTScore F1 per model with bootstrap intervals, and the paired difference."""
    from finetune.fidelity import bertscore, bootstrap_mean

    try:
        scores = {m: [s.f1 for s in bertscore([a.text for a in answers[m]], references)]
                  for m in answers}
    except ConfigError as exc:  # no packaged embedding model on this machine
        return {"skipped": str(exc)}
    out: dict[str, Any] = {"metric": "BERTScore F1 (all-MiniLM-L6-v2 tokens, no IDF/baseline)",
                           "per_prompt": scores}
    for model, values in scores.items():
        ci = bootstrap_mean(values, spec.bootstrap, spec.seed, spec.confidence)
        out[model] = {"mean": sum(values) / len(values) if values else None,
                      "ci": [ci.low, ci.high] if ci else None}
    diff = [t - b for t, b in zip(scores["tuned"], scores["base"], strict=True)]
    ci = bootstrap_mean(diff, spec.bootstrap, spec.seed, spec.confidence)
    out["difference"] = {"mean": sum(diff) / len(diff) if diff else None,
                         "ci": [ci.low, ci.high] if ci else None}
    return out


def answer_state(answer: str, judgments: list[Judgment]) -> str:
    """error / ok / disputed / declined / undecided, from one answer's judgments."""
    decided = [j.verdict for j in judgments if j.decided and j.verdict is not None]
    if not decided:
        return "undecided"
    if _DECLINES.search(answer):
        return "declined"
    errors = sum(verdict.is_error for verdict in decided)
    if 2 * errors > len(decided):
        return "error"
    return "disputed" if 2 * errors == len(decided) else "ok"


def confident_error(state: str) -> float:
    return float("nan") if state == "undecided" else float(state == "error")


def audit_answers(store, prompts: list[QARecord], answers: list[Answer], model: str,
                  judges: list[JudgeSpec], sources: Path, evidence_k: int) -> tuple[str, list[str]]:
    """Audit one model's answers with the audit runner; (run id, state per prompt)."""
    from audit.runner import run_panel
    from core.datasets import dataset_sha256
    from core.retrieval import evidence_for, load_index

    records = [p.model_copy(update={"answer": a.text or "(no answer)", "meta": {"model": model}})
               for p, a in zip(prompts, answers, strict=True)]
    index = load_index(sources)
    plan = AuditRun(
        kind="eval-audit", answers_of=model, dataset_path=f"eval answers of the {model} model",
        dataset_sha256=dataset_sha256(records), sources_path=str(sources),
        sources_sha256=content_hash(sorted(p.sha256 for p in index.passages.values())),
        n=len(records), seed=0, judges=judges, evidence_k=evidence_k, population=len(records))
    save_run(store, plan)
    store.set_run_records(plan.run_id, [r.model_dump(mode="json") for r in records])
    asyncio.run(run_panel(store, plan, records, lambda r: evidence_for(r, index, k=evidence_k),
                          index.passages))
    by_record: dict[str, list[Judgment]] = {}
    for judgment in store.judgments(plan.run_id):
        by_record.setdefault(judgment.record_id, []).append(judgment)
    return plan.run_id, [answer_state(r.answer, by_record.get(r.id, [])) for r in records]


def factuality(states: dict[str, list[str]], prompts: list[QARecord], confidence: float) -> dict:
    """Confident errors per model and topic, and the paired tuned-vs-base comparison."""
    from audit.stats.paired import compare_paired

    out: dict[str, Any] = {"states": states, "by_topic": {}}
    for model, column in states.items():
        decided = [s for s in column if s != "undecided"]
        out[model] = rate(sum(s == "error" for s in decided), len(decided), confidence) | {
            "undecided": len(column) - len(decided),
            "declined": column.count("declined"), "disputed": column.count("disputed")}
    for i, prompt in enumerate(prompts):
        topic = out["by_topic"].setdefault(prompt.topic or "(none)",
                                           {"n": 0, "base": 0, "tuned": 0})
        topic["n"] += 1
        for model in states:
            topic[model] += states[model][i] == "error"
    paired = compare_paired([confident_error(s) for s in states["tuned"]],
                            [confident_error(s) for s in states["base"]], confidence=confidence)
    out["paired"] = paired.to_dict() | {"a": "tuned", "b": "base"}
    return out


# -- the evaluation -------------------------------------------------------------------------


def audit_context(store, spec: EvalSpec) -> tuple[list[JudgeSpec], Path, Path | None, int]:
    """(judges, sources, training data, evidence k): the training audit's, unless given."""
    from audit.panel import DEFAULT_PANEL

    run = open_run(store, spec.audit_run_id).audit if spec.audit_run_id else None
    judges = spec.judges or (run.judges if run else []) or list(DEFAULT_PANEL)
    audited = run.sources_path if run else None
    sources = spec.sources or (Path(audited) if audited else None)
    if sources is None:
        raise ConfigError("no sources to audit the answers against: pass --sources DIR "
                          "(or --audit RUN_ID of an audit that names its sources)")
    train = spec.train or (Path(run.dataset_path) if run and run.dataset_path else None)
    return judges, sources, train, run.evidence_k if run else spec.evidence_k


def run_eval(spec: EvalSpec, store, progress: Progress | None = None) -> dict[str, Any]:
    """Evaluate, store the result as an ``eval`` run and return it (see the module docstring)."""
    from transformers import AutoTokenizer

    from core.datasets import load_dataset

    say = progress or (lambda message: None)
    prompts = load_dataset(spec.prompts)
    folder, manifest = resolve_bundle(spec.adapter, spec.workdir)
    check_base(manifest, spec.model_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(spec.model_dir))
    template = check_template(manifest, tokenizer, spec.model_dir)
    judges, sources, train, evidence_k = audit_context(store, spec)
    adapter_dir = folder / manifest.adapter_dir
    inputs = EvalInputs(
        version=EVAL_VERSION, model=str(spec.model_dir),
        base_config_sha256=manifest.base_config_sha256, adapter=str(folder),
        adapter_sha256=sha256_file(adapter_dir / "adapter_model.safetensors"),
        run_name=manifest.run_name, trained_on=manifest.dataset_sha256,
        gate=manifest.gate.model_dump(mode="json"),
        prompts=str(spec.prompts), prompts_sha256=prompts.sha256,
        template={"source": template.source, "sha256": template.sha256},
        max_new_tokens=spec.max_new_tokens, judges=judges,
        sources=str(sources), evidence_k=evidence_k, train=str(train) if train else None,
        audit_run_id=spec.audit_run_id, confidence=spec.confidence, seed=spec.seed,
        preference={"provider": spec.preference_provider, "model": spec.preference_model},
    )
    run_id = inputs.run_id
    stored = find_run(store, run_id)
    if stored is not None and stored.eval.result:
        say(f"{run_id} already evaluated; showing the stored result")
        return stored.eval.result | {"from_store": True}

    records = prompts.records
    say(f"generating {len(records)} answers per model (max {spec.max_new_tokens} new tokens)")
    model = load_for_eval(spec.model_dir, adapter_dir)
    prefix = [str(spec.model_dir.resolve()), manifest.base_config_sha256]
    with model.disable_adapter():
        base = generate_answers(model, tokenizer, template, records, spec.max_new_tokens,
                                spec.batch_size, content_hash(prefix + ["base"]))
    tuned = generate_answers(model, tokenizer, template, records, spec.max_new_tokens,
                             spec.batch_size, content_hash(prefix + [inputs.adapter_sha256]))
    del model
    answers = {"base": base, "tuned": tuned}
    result = _measure(spec, store, records, answers, judges, sources, train, evidence_k, say)
    result = {"run_id": run_id, "created": utcnow(), "inputs": inputs.model_dump(mode="json"),
              **result}
    save_run(store, EvalRun(inputs=inputs, result=result))
    store.set_run_status(run_id, "complete")
    return result


def _measure(spec, store, records, answers, judges, sources, train, evidence_k, say) -> dict:
    from finetune.preference import judge_pairs, preference_summary

    say("fidelity (BERTScore)")
    fid = fidelity(answers, [r.answer for r in records], spec)
    truncation = {m: rate(sum(a.truncated for a in column), len(column), spec.confidence)
                  for m, column in answers.items()}
    say(f"preference ({spec.preference_provider} judge, both orders)")
    judge = make_pairwise_judge(spec, store)
    items = [(r.id, r.question, b.text, t.text)
             for r, b, t in zip(records, answers["base"], answers["tuned"], strict=True)]
    verdicts = asyncio.run(judge_pairs(judge, items))
    preference = preference_summary(verdicts, spec.confidence) | {
        "judge": judge.name, "verdicts": [v.to_dict() for v in verdicts]}
    say(f"factuality: auditing both models' answers with {', '.join(j.name for j in judges)}")
    audit_runs, states = {}, {}
    for model, column in answers.items():
        audit_runs[model], states[model] = audit_answers(store, records, column, model, judges,
                                                         sources, evidence_k)
    facts = factuality(states, records, spec.confidence) | {"audit_runs": audit_runs}
    traces = []
    if train is not None:
        say("tracing the tuned model's new errors to training records")
        traces = trace_new_errors(store, spec.audit_run_id, train, records, answers, states)
    rows = [{"id": r.id, "question": r.question, "reference": r.answer, "topic": r.topic,
             "meta": r.meta, "base": b.to_dict(), "tuned": t.to_dict()}
            for r, b, t in zip(records, answers["base"], answers["tuned"], strict=True)]
    return {"n": len(records), "answers": rows, "fidelity": fid, "truncation": truncation,
            "preference": preference, "factuality": facts, "traces": traces}


def make_pairwise_judge(spec: EvalSpec, store):
    """The default likelihood judge for ``local``; a chat judge for any other provider."""
    from core.providers.factory import make_provider
    from finetune.preference import ChatJudge, LikelihoodJudge

    provider = make_provider(spec.preference_provider, spec.preference_model,
                             spec.preference_params)
    if spec.preference_provider == "local":
        return LikelihoodJudge(provider)
    return ChatJudge(provider, store, spec.preference_params)


def trace_new_errors(store, audit_run_id, train: Path, records, answers, states) -> list[dict]:
    """Traces of every prompt where the tuned model says something wrong the base does not."""
    from core.datasets import load_dataset
    from finetune.tracing import TrainingIndex, audit_flags, is_new_error, trace_error

    index = TrainingIndex(load_dataset(train).records)
    flags = audit_flags(store, audit_run_id)
    traces = []
    for i, record in enumerate(records):
        tuned, base = answers["tuned"][i].text, answers["base"][i].text
        if is_new_error(states["tuned"][i], states["base"][i], tuned, base, record.answer):
            trace = trace_error(record.id, record.question, tuned, base, record.answer, index,
                                flags, state=states["tuned"][i])
            traces.append(trace.to_dict())
    return traces


def load_result(store, run_id: str | None = None) -> dict[str, Any]:
    """A stored evaluation result (the latest when ``run_id`` is None)."""
    return open_run(store, run_id, "eval").eval.result


def write_json(result: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return path
