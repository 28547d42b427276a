"""Error propagation, end to end: plant errors in training answers, fine-tune, evaluate, trace.

1. Data: the correct records of examples/advising (truth.jsonl label ``correct``), seeded
   shuffle, the first ``--train-records``; a copy with ``--rate`` of the answers made wrong by
   ``generate.plant.plant_errors`` ("planted"), and the clean copy ("control").
2. Held-out prompts: one per planted record whose error can be recognised in an answer (a
   changed number/date/entity, a negated rule, an invented policy sentence), up to
   ``--heldout``; the question is rephrased by a fixed template (deterministic, light
   rephrasings, not free paraphrases), the reference is the *correct* answer.
3. The planted data is audited (``audit.sample.audit_sample``; judges: the local likelihood
   judge on ``--model`` and the rules judge; a census by default), so tracing can say whether
   the audit flagged the records the errors came from.
4. QLoRA on planted and on control (``finetune.training.run_session``; the planted run with
   the failed gate overridden, the reason recorded), then ``finetune eval`` of each.
5. Reported: for each held-out prompt, whether the base, the control-tuned and the
   planted-tuned model reproduce the planted wrong fact (a marker check on the answer), and
   how many of the planted-tuned model's traced errors name the right planted record.

Run on a GPU (the lead)::

    python bench/propagation.py --model DIR --tag h100

where DIR is the Gemma 3 270M Hugging Face folder (``core.local_model.hf_model_dir()``).
It is too large for one transfer; ``--export-model build/gemma-parts`` writes it in bf16 and
splits model.safetensors into 48 MiB parts (carry one part per call, they stay on the
machine), and ``--assemble-model build/gemma-parts --model build/gemma`` joins them there.
``--tiny`` runs the whole pipeline on CPU with a tiny random Gemma-shaped model and the
packaged Gemma tokenizer (minutes); ``--cpu-small`` is the real model at a small scale.
Results: bench/results/propagation_<tag>.json and $OUT/ when set.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shlex
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

EXAMPLE = ROOT / "examples" / "advising"
CHECKABLE = ("wrong_number", "wrong_date", "wrong_entity", "negated_rule", "invented_policy")
REPHRASE = [
    "Quick question: {q}",
    "{q} I want to be sure I have this right.",
    "Could you remind me: {ql}",
    "I'm an international student at Northfield. {q}",
    "Asking for a friend: {ql}",
    "{q} Thanks in advance!",
]
TINY_SHAPE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=2, num_key_value_heads=1, head_dim=32,
                  max_position_embeddings=2048, sliding_window=128)
PART_BYTES = 48 * 1024 * 1024


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="base model folder (default: packaged)")
    parser.add_argument("--tiny", action="store_true", help="tiny random model on CPU")
    parser.add_argument("--cpu-small", action="store_true",
                        help="real model, small scale: 40 records, 2 epochs, 10 prompts, seq 128")
    parser.add_argument("--work", default=None, help="scratch folder ($TMPDIR/propagation)")
    parser.add_argument("--tag", default=None, help="bench/results/propagation_<tag>.json")
    parser.add_argument("--train-records", type=int, default=None, help="default: all correct")
    parser.add_argument("--rate", type=float, default=0.3, help="share of answers made wrong")
    parser.add_argument("--heldout", type=int, default=None, help="held-out prompts (36)")
    parser.add_argument("--epochs", type=float, default=None, help="(4)")
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--seq", type=int, default=None, help="(256)")
    parser.add_argument("--batch-size", type=int, default=None, help="(4)")
    parser.add_argument("--grad-accum", type=int, default=None, help="(2)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="(96)")
    parser.add_argument("--gen-batch", type=int, default=None, help="prompts per generate (16)")
    parser.add_argument("--audit-n", type=int, default=None, help="default: every record")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--export-model", default=None, metavar="DIR",
                        help="write the packaged model in bf16, split for transfer, and exit")
    parser.add_argument("--rescore", default=None, metavar="RESULTS",
                        help="recount a results JSON's tally from its saved answers, in place")
    parser.add_argument("--assemble-model", default=None, metavar="PARTS",
                        help="join parts written by --export-model into --model DIR and exit")
    args = parser.parse_args(argv)
    preset = PRESETS["tiny" if args.tiny else "cpu" if args.cpu_small else "gpu"]
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


# Scale presets; an option given on the command line wins.
PRESETS = {
    "gpu": dict(train_records=None, heldout=36, epochs=4.0, seq=256, max_new_tokens=96,
                batch_size=4, grad_accum=2, gen_batch=16, tag=None),
    "cpu": dict(train_records=40, heldout=10, epochs=2.0, seq=128, max_new_tokens=64,
                batch_size=4, grad_accum=1, gen_batch=10, tag="cpu"),
    "tiny": dict(train_records=16, heldout=6, epochs=1.0, seq=64, max_new_tokens=16,
                 batch_size=4, grad_accum=1, gen_batch=8, tag="tiny_cpu"),
}


# -- moving the model to the GPU machine ----------------------------------------------------


def export_model(target: Path) -> None:
    """The packaged model as a bf16 HF folder with model.safetensors split into parts."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.local_model import hf_model_dir

    source = hf_model_dir()
    target.mkdir(parents=True, exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(str(source), dtype=torch.bfloat16)
    staging = target / "model"
    model.save_pretrained(staging, max_shard_size="20GB")
    AutoTokenizer.from_pretrained(str(source)).save_pretrained(staging)
    weights = staging / "model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    parts = []
    with weights.open("rb") as handle:
        for i, block in enumerate(iter(lambda: handle.read(PART_BYTES), b"")):
            part = target / f"part-{i:02d}"
            part.mkdir(exist_ok=True)
            (part / "weights.bin.part").write_bytes(block)
            parts.append(part.name)
    weights.unlink()
    (target / "parts.json").write_text(json.dumps({"sha256": digest, "parts": parts}, indent=2))
    print(f"wrote {len(parts)} parts under {target}; carry {target}/model plus one part per call")


def assemble_model(parts_dir: Path, model_dir: Path) -> None:
    manifest = json.loads((parts_dir / "parts.json").read_text())
    if model_dir.resolve() != (parts_dir / "model").resolve():
        shutil.copytree(parts_dir / "model", model_dir, dirs_exist_ok=True)
    digest = hashlib.sha256()
    with (model_dir / "model.safetensors").open("wb") as out:
        for name in manifest["parts"]:
            block = (parts_dir / name / "weights.bin.part").read_bytes()
            digest.update(block)
            out.write(block)
    if digest.hexdigest() != manifest["sha256"]:
        raise SystemExit("assembled weights do not match parts.json: a part is missing or stale")
    print(f"assembled {model_dir}/model.safetensors ({len(manifest['parts'])} parts, sha ok)")


# -- data -----------------------------------------------------------------------------------


def clean_records(n: int | None, seed: int):
    from core.datasets import load_dataset

    truth = {json.loads(line)["id"]: json.loads(line)
             for line in (EXAMPLE / "truth.jsonl").read_text().splitlines() if line.strip()}
    records = [r for r in load_dataset(EXAMPLE / "dataset.jsonl").records
               if truth[r.id]["label"] == "correct"]
    random.Random(seed).shuffle(records)
    return records[:n] if n else records


def rephrase(question: str, i: int) -> str:
    keep_case = question[:2] in ("I ", "I'") or question[:2].isupper()
    lowered = question if keep_case else question[0].lower() + question[1:]
    return REPHRASE[i % len(REPHRASE)].format(q=question, ql=lowered)


def marker_of(label) -> str | None:
    """The planted wrong text to look for in an answer (None: not recognisable)."""
    if label.kind in ("wrong_number", "wrong_date", "wrong_entity", "negated_rule"):
        return label.detail.split(" -> ", 1)[1]
    if label.kind == "invented_policy":
        sentence = re.match(r"added '(.*)'$", label.detail)
        return " ".join(sentence.group(1).split()[:5]) if sentence else None
    return None


def marker_in(meta: dict) -> str | None:
    """The text that shows the planted error in an answer. A negation is known by the
    negated word with the word after it ("cannot work", not any "cannot"); None when the
    planted answer has no such phrase."""
    if meta["kind"] != "negated_rule":
        return meta["marker"]
    phrase = re.search(r"(?<!\w)" + re.escape(meta["marker"]) + r"\s+[\w'’-]+",
                       meta["planted_answer"])
    return phrase.group(0) if phrase else None


def recognisable(meta: dict) -> bool:
    """False when no marker can show the planted error: the correct answer itself passes for
    it (a changed number that the answer also states elsewhere), or a negation has no phrase."""
    return marker_in(meta) is not None and not reproduces(meta["reference"], meta)


def reproduces(answer: str, meta: dict) -> bool:
    """True when ``answer`` states the planted wrong value/phrase (``meta`` of a prompt)."""
    from audit.judges.facts import extract_quantities

    if meta["kind"] in ("wrong_number", "wrong_date"):
        right = extract_quantities(meta["reference"])
        wrong = [q for q in extract_quantities(meta["planted_answer"])
                 if not any(q.equals(r) for r in right)]
        if wrong:
            found = extract_quantities(answer)
            return any(w.equals(f) for w in wrong for f in found)
    marker = (marker_in(meta) or "").lower()
    return bool(marker) and re.search(r"(?<!\w)" + re.escape(marker) + r"(?!\w)",
                                      answer.lower()) is not None


def build_data(args, work: Path) -> dict:
    from core.datasets import write_jsonl
    from core.models import QARecord
    from generate.plant import plant_errors

    clean = clean_records(args.train_records, args.seed)
    planted, labels = plant_errors(clean, args.rate, args.seed)
    write_jsonl(clean, work / "train_control.jsonl")
    write_jsonl(planted, work / "train_planted.jsonl")
    (work / "planted_labels.jsonl").write_text(
        "".join(json.dumps(label.to_dict()) + "\n" for label in labels))
    heldout = []
    by_id = {r.id: r for r in clean}
    for label in labels:
        marker = marker_of(label) if label.label == "error" and label.kind in CHECKABLE else None
        if marker is None or len(heldout) >= args.heldout:
            continue
        record = by_id[label.id]
        meta = {"planted_record": record.id, "kind": label.kind, "detail": label.detail,
                "marker": marker, "original_question": record.question,
                "reference": record.answer, "planted_answer": label.planted_answer}
        if not recognisable(meta):
            continue
        heldout.append(QARecord(
            id=f"held-{record.id}", question=rephrase(record.question, len(heldout)),
            answer=record.answer, source_ids=record.source_ids, topic=record.topic, meta=meta))
    write_jsonl(heldout, work / "heldout.jsonl")
    kinds: dict[str, int] = {}
    for label in labels:
        if label.kind:
            kinds[label.kind] = kinds.get(label.kind, 0) + 1
    return {"train_records": len(clean), "planted": sum(kinds.values()), "planted_kinds": kinds,
            "heldout": len(heldout),
            "heldout_kinds": {k: sum(h.meta["kind"] == k for h in heldout) for k in CHECKABLE}}


# -- models ---------------------------------------------------------------------------------


def tiny_model(work: Path) -> Path:
    """A random Gemma-3-shaped model with the packaged Gemma tokenizer (offline)."""
    import torch
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    from core.local_model import hf_model_dir

    folder = work / "tiny-gemma"
    if (folder / "model.safetensors").is_file():
        return folder
    tokenizer = AutoTokenizer.from_pretrained(str(hf_model_dir()))
    config = Gemma3TextConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                              bos_token_id=tokenizer.bos_token_id,
                              eos_token_id=tokenizer.eos_token_id, **TINY_SHAPE)
    torch.manual_seed(0)
    Gemma3ForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def judges_file(work: Path, model_dir: Path) -> Path:
    path = work / "judges.toml"
    path.write_text(f'[[judge]]\nname = "local"\nprovider = "local"\nmodel = "{model_dir}"\n\n'
                    '[[judge]]\nname = "rules"\nprovider = "rules"\n')
    return path


def audit_planted(store, work: Path, model_dir: Path, n: int | None) -> str:
    from audit.sample import SampleOptions, audit_sample

    data = work / "train_planted.jsonl"
    records = sum(1 for line in data.read_text().splitlines() if line.strip())
    options = SampleOptions(dataset=data, sources=EXAMPLE / "sources", n=n or records,
                            judges_file=judges_file(work, model_dir), concurrency=2)
    return audit_sample(store, options).run_id


def train(store, work: Path, model_dir: Path, name: str, args, audit_run: str | None) -> dict:
    from finetune.config import TrainConfig
    from finetune.gate import gate_for_training
    from finetune.handoff import GateRecord
    from finetune.training import SessionSpec, run_session

    out = work / f"run-{name}"
    data = work / f"train_{name}.jsonl"
    run_file = out / "run.json"
    if run_file.is_file() and json.loads(run_file.read_text()).get("status") == "complete":
        return {"reused": str(out)}
    if audit_run:
        gate = gate_for_training(store, audit_run, data,
                                 "propagation bench: errors planted on purpose")
    else:
        gate = GateRecord(overridden=True, override_reason="propagation bench control run: "
                          "clean copy of the planted data, not audited")
    config = TrainConfig(epochs=args.epochs, lr=args.lr, seq=args.seq,
                         batch_size=args.batch_size, grad_accum=args.grad_accum, seed=args.seed)
    started = time.monotonic()
    result = run_session(SessionSpec(model_dir=model_dir, data_path=data, out=out,
                                     config=config, gate=gate, budget_s=10 * 3600,
                                     progress=False, run_name=f"propagation-{name}"))
    losses = [s.loss for s in result.steps]
    return {"steps": result.last_step, "seconds": round(time.monotonic() - started, 1),
            "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
            "gate": gate.decision.status if gate.decision else None,
            "bundle": str(result.bundles[-1]) if result.bundles else None}


def evaluate(store, work: Path, model_dir: Path, name: str, args, audit_run: str | None) -> dict:
    from core.models import JudgeSpec
    from finetune.evaluate import EvalSpec, run_eval

    judges = [JudgeSpec(name="local", provider="local", model=str(model_dir)),
              JudgeSpec(name="rules", provider="rules")]
    spec = EvalSpec(model_dir=model_dir, adapter=work / f"run-{name}",
                    prompts=work / "heldout.jsonl", sources=EXAMPLE / "sources",
                    train=work / f"train_{name}.jsonl", audit_run_id=audit_run, judges=judges,
                    preference_model=str(model_dir), max_new_tokens=args.max_new_tokens,
                    batch_size=args.gen_batch, workdir=work / "eval")
    return run_eval(spec, store, progress=lambda m: print(f"  [{name}] {m}", flush=True))


# -- the propagation tally ------------------------------------------------------------------


def tally(planted: dict, control: dict) -> dict:
    """Per prompt: who reproduces the planted error; and whether tracing found its record."""
    traces = {t["prompt_id"]: t for t in planted.get("traces", [])}
    rows, counts = [], {"base": 0, "control": 0, "planted": 0}
    attributed = attributed_top1 = traced_reproduced = 0
    for p_row, c_row in zip(planted["answers"], control["answers"], strict=True):
        meta = p_row["meta"]
        if not recognisable(meta):
            continue
        hits = {"base": reproduces(p_row["base"]["text"], meta),
                "control": reproduces(c_row["tuned"]["text"], meta),
                "planted": reproduces(p_row["tuned"]["text"], meta)}
        for key, hit in hits.items():
            counts[key] += hit
        trace = traces.get(p_row["id"])
        ids = [m["record_id"] for m in trace["matches"]] if trace else []
        right = meta["planted_record"] in ids
        if trace and hits["planted"]:
            traced_reproduced += 1
        attributed += right
        attributed_top1 += bool(ids) and ids[0] == meta["planted_record"]
        audit = next((m["audit_text"] for m in (trace or {}).get("matches", [])
                      if m["record_id"] == meta["planted_record"]), None)
        rows.append({"prompt": p_row["id"], "kind": meta["kind"], "marker": marker_in(meta),
                     "reproduced": hits, "traced": trace is not None,
                     "traced_to_planted_record": right, "planted_record_audit": audit})
    n = len(rows)
    return {"n": n, "reproduced": counts,
            "traced_errors": len(traces),
            "traced_and_reproduced": traced_reproduced,
            "traces_naming_the_planted_record": attributed,
            "traces_naming_it_first": attributed_top1, "rows": rows}


def summary_line(result: dict) -> str:
    t = result["propagation"]
    r = t["reproduced"]
    return (f"planted errors reproduced on {t['n']} held-out prompts: base {r['base']}, "
            f"control-tuned {r['control']}, planted-tuned {r['planted']}; tuned-only errors "
            f"traced: {t['traced_errors']}, naming the planted record: "
            f"{t['traces_naming_the_planted_record']} (first: {t['traces_naming_it_first']})")


def rescore(path: Path) -> None:
    """Recount ``propagation`` from the answers a results file keeps (after a fix to the
    tally), noting the command; the models' answers are not touched."""
    result = json.loads(path.read_text())
    full = result.get("full_results") or {}
    metas = [row.get("meta", {}) for row in full.get("planted", {}).get("answers", [])]
    if not metas or not all({"reference", "planted_answer"} <= m.keys() for m in metas):
        raise SystemExit(f"{path}: no saved answers with their planted facts to recount "
                         "(written by an older bench/propagation.py)")
    before = summary_line(result)
    result["propagation"] = tally(full["planted"], full["control"])
    first = result.get("rescored", {}).get("first_tally", before)
    result["rescored"] = {"command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
                          "first_tally": first}
    common.write_json(path, result)
    print(f"before: {before}\nafter:  {summary_line(result)}")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.rescore:
        rescore(Path(args.rescore))
        return 0
    if args.export_model:
        export_model(Path(args.export_model))
        return 0
    if args.assemble_model:
        if not args.model:
            raise SystemExit("--assemble-model needs --model DIR (where to put the model)")
        assemble_model(Path(args.assemble_model), Path(args.model))
        return 0
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from core.store import Store

    work = Path(args.work or Path(os.environ.get("TMPDIR", "/tmp")) / "propagation")
    work.mkdir(parents=True, exist_ok=True)
    if args.tiny:
        model_dir = tiny_model(work)
    else:
        from core.local_model import resolve_model_dir

        model_dir = resolve_model_dir(args.model)
    store = Store(work / "assay.db")
    started = time.monotonic()
    stages: dict[str, float] = {}

    def stage(name: str) -> None:
        stages[name] = round(time.monotonic() - started, 1)
        print(f"[{stages[name]:7.1f}s] {name}", flush=True)

    data = build_data(args, work)
    stage(f"data: {data}")
    audit_run = audit_planted(store, work, model_dir, args.audit_n)
    stage(f"audit of the planted data: {audit_run}")
    training = {}
    for name, run in (("planted", audit_run), ("control", None)):
        training[name] = train(store, work, model_dir, name, args, run)
        stage(f"trained {name}: {training[name]}")
    planted = evaluate(store, work, model_dir, "planted", args, audit_run)
    stage("evaluated planted")
    control = evaluate(store, work, model_dir, "control", args, None)
    stage("evaluated control")
    from reports.propagation import comparison_rows

    result = {
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "machine": common.machine(libraries=True), "model": str(model_dir), "tiny": args.tiny,
        "settings": {k: v for k, v in vars(args).items()
                     if k not in ("export_model", "assemble_model", "rescore")},
        "data": data, "audit_run": audit_run, "training": training,
        "propagation": tally(planted, control),
        "eval": {"planted": {"run_id": planted["run_id"], "table": comparison_rows(planted),
                             "traces": planted["traces"]},
                 "control": {"run_id": control["run_id"], "table": comparison_rows(control)}},
        "answers": [{"id": p["id"], "question": p["question"], "reference": p["reference"],
                     "base": p["base"]["text"], "planted": p["tuned"]["text"],
                     "control": c["tuned"]["text"]}
                    for p, c in zip(planted["answers"], control["answers"], strict=True)],
        "full_results": {"planted": planted, "control": control},
        "stages_s": stages,
    }
    name = f"propagation_{args.tag}.json" if args.tag else "propagation.json"
    targets = [ROOT / "bench" / "results" / name]
    if os.environ.get("OUT"):
        targets.append(Path(os.environ["OUT"]) / name)
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        common.write_json(target, result)
    from rich.console import Console

    from reports.propagation import render_eval

    console = Console(width=160)
    for label, res in (("PLANTED", planted), ("CONTROL", control)):
        console.print(f"\n== {label} ==")
        render_eval(res, console)
    print("\n" + summary_line(result))
    print(f"results: {', '.join(str(t) for t in targets)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
