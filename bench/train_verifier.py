"""Prototype of issue 23's "trained verifier": a MiniLM cross-encoder trained on CPU.

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python bench/train_verifier.py
    # -> bench/results/verifier_prototype.json (+ --save DIR: the shippable weights)

Model: the packaged all-MiniLM-L6-v2 (core/embeddings.model_path()) read as a cross-encoder,
``[CLS] question [SEP] answer [SEP] best evidence sentences [SEP]`` → P(error). The lower
6 − ``--layers`` layers are frozen and run once (their outputs cached in memory); only the top
``--layers`` transformer layers and a linear head on the mean-pooled tokens are trained. What
would ship is those layers + head (fp16 safetensors), applied on top of the packaged model.

Data (development slices only; audit.quality.split_of):
- HaluEval dev (even id numbers): right → correct, hallucinated → error;
- FaithDial dev (hash of the knowledge text): every labelled row;
- synthetic pairs from the dev knowledge texts and the bundled example's sources
  (examples/advising/sources): a sentence copied (or a clause of it, or with a conversational
  prefix) → correct; the same with a planted error (a name swapped for another name of the same
  passage, a number or year changed, a negation flipped, a comparison flipped, a condition
  dropped — generate/plant.py's planters where they apply — or an unsupported sentence from
  another passage appended) → error.

Evaluation: the exact records of bench/audit_quality.py's runs (their local-judge features and
verdicts are read from the bench store, so no Gemma call is made): development slices (HaluEval
310, FaithDial 180) by grouped K-fold cross-validation (folds by item = knowledge text; the
verifier is retrained per fold, synthetic pairs of a held-out item are left out of training),
then the reporting slices (HaluEval 290, FaithDial 222) once, with the verifier trained on all
development data and the logistic combinations fitted on the development out-of-fold scores.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import random
import re
import shlex
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit import quality  # noqa: E402
from audit.judges.local import content_words, novelty, split_sentences  # noqa: E402
from bench import common  # noqa: E402
from bench.calibrate_local_judge import fit_logistic, predict  # noqa: E402
from core.models import Passage  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "results" / "verifier_prototype.json"
EVAL_RUNS = {  # bench/audit_quality.py work folders (n=400, seed 0, both answers per item)
    ("halueval", "dev"): "halueval_dev_n400_s0_both",
    ("faithdial", "dev"): "faithdial_dev_n400_s0_both",
    ("halueval", "report"): "halueval_n400_s0_both",
    ("faithdial", "report"): "faithdial_n400_s0_both",
}


@dataclass
class Example:
    key: str  # (set, item, origin) for labelled answers; synthetic:<n> otherwise
    source: str  # halueval / faithdial / synthetic-dev / synthetic-advising
    item: str  # grouping unit (knowledge text); "advising" for the example's sources
    question: str
    answer: str
    knowledge: str
    error: bool
    kind: str = ""


# --- synthetic pairs --------------------------------------------------------------------------

_NAME = re.compile(r"\b[A-Z][\w'’.-]*(?:\s+(?:of|the|de|and|von|van|&)?\s*[A-Z][\w'’.-]*)*")
_YEAR = re.compile(r"\b(1[5-9]\d\d|20[0-2]\d)\b")
_FLIPS = [("before", "after"), ("after", "before"), ("more", "less"), ("less", "more"),
          ("older", "younger"), ("younger", "older"), ("earlier", "later"), ("later", "earlier"),
          ("first", "last"), ("larger", "smaller"), ("largest", "smallest"),
          ("higher", "lower"), ("lower", "higher"), ("at least", "at most"),
          ("at most", "at least"), ("always", "never"), ("all", "some"), ("increase", "decrease"),
          ("won", "lost"), ("best", "worst"), ("north", "south"), ("east", "west")]
_NEG = [(r"\bis not\b", "is"), (r"\bwas not\b", "was"), (r"\bare not\b", "are"),
        (r"\bdoes not\b", "does"), (r"\bis\b", "is not"), (r"\bwas\b", "was not"),
        (r"\bare\b", "are not"), (r"\bwere\b", "were not"), (r"\bcan\b", "cannot"),
        (r"\bhas\b", "has never"), (r"\bwill\b", "will not")]
_STARTERS = set("The A An It In This They He She There These Its His Her On At For As Some Many "
                "Students You Your If When".split())
_PREFIXES = ["", "", "", "Yes, ", "I believe ", "Well, ", "Did you know that ", "I think "]


def _swap_name(sentence: str, knowledge: str, rng: random.Random):
    names = [m for m in _NAME.finditer(sentence) if m.start() > 0 and len(m.group(0)) > 2]
    pool = sorted({m.group(0) for m in _NAME.finditer(knowledge)} - {m.group(0) for m in names})
    pool = [p for p in pool if p not in sentence and len(p) > 2]
    if not names or not pool:
        return None
    m = rng.choice(names)
    return sentence[: m.start()] + rng.choice(pool) + sentence[m.end():]


def _change_year(sentence: str, rng: random.Random):
    m = _YEAR.search(sentence)
    if not m:
        return None
    return sentence[: m.start()] + str(int(m.group(0)) + rng.choice([-3, -2, -1, 1, 2, 5])) \
        + sentence[m.end():]


def _flip(sentence: str, rng: random.Random):
    for a, b in rng.sample(_FLIPS, len(_FLIPS)):
        m = re.search(rf"\b{a}\b", sentence)
        if m:
            return sentence[: m.start()] + b + sentence[m.end():]
    return None


def _negate(sentence: str, rng: random.Random):
    from generate.plant import negate_rule

    planted = negate_rule(sentence, rng)
    if planted:
        return planted[0]
    for pattern, replacement in _NEG:
        m = re.search(pattern, sentence)
        if m:
            return sentence[: m.start()] + replacement + sentence[m.end():]
    return None


def plant_one(sentence: str, knowledge: str, other: str, rng: random.Random):
    """(wrong sentence, kind) or None."""
    from generate.plant import change_number, overgeneralise

    planters = [
        ("entity", lambda: _swap_name(sentence, knowledge, rng)),
        ("entity", lambda: _swap_name(sentence, knowledge, rng)),
        ("number", lambda: (change_number(sentence, rng) or (None,))[0]),
        ("year", lambda: _change_year(sentence, rng)),
        ("negation", lambda: _negate(sentence, rng)),
        ("comparison", lambda: _flip(sentence, rng)),
        ("condition", lambda: (overgeneralise(sentence, rng) or (None,))[0]),
        ("added_claim", lambda: sentence.rstrip() + " " + other),
    ]
    rng.shuffle(planters)
    for kind, planter in planters:
        out = planter()
        if out and out.strip() != sentence.strip():
            return out, kind
    return None


def correct_variant(sentence: str, rng: random.Random) -> str:
    if rng.random() < 0.3:  # a clause of it
        parts = [p for p in re.split(r",\s+|;\s+", sentence) if len(p.split()) >= 6]
        if parts:
            sentence = rng.choice(parts).rstrip(".") + "."
    prefix = rng.choice(_PREFIXES)
    if prefix and sentence.split()[0] in _STARTERS:
        sentence = sentence[0].lower() + sentence[1:]
    return prefix + sentence


def synthetic_pairs(texts: list[tuple[str, str, str, int]], seed: int) -> list[Example]:
    """``texts``: (item, source name, knowledge, n). Up to n correct + error pairs each."""
    rng = random.Random(seed)
    all_sentences = [(item, s.text) for item, _, k, _ in texts
                     for s in split_sentences(Passage(id="k#0", doc_id="k", text=k, sha256=""))]
    out: list[Example] = []
    for item, source, knowledge, per_text in texts:
        sentences = [s.text for s in split_sentences(Passage(id="k#0", doc_id="k", text=knowledge,
                                                             sha256=""))
                     if 6 <= len(s.text.split()) <= 45 and s.text[:1].isupper()]
        for sentence in rng.sample(sentences, min(per_text, len(sentences))):
            others = [s for i, s in rng.sample(all_sentences, 20) if i != item
                      and 5 <= len(s.split()) <= 30]
            planted = plant_one(sentence, knowledge, others[0] if others else "", rng)
            if not planted:
                continue
            n = len(out)
            out.append(Example(f"synthetic:{n}", source, item, "", correct_variant(sentence, rng),
                               knowledge, False, "copied"))
            out.append(Example(f"synthetic:{n + 1}", source, item, "",
                               correct_variant(planted[0], rng), knowledge, True, planted[1]))
    return out


# --- labelled data and the audit runs' records --------------------------------------------------


def labelled(set_name: str) -> list[quality.LabelledAnswer]:
    path = DATA / set_name / ("qa_300.jsonl" if set_name == "halueval" else "audit_labels.jsonl")
    return quality.load_labelled(path)


def eval_records(store_path: Path) -> dict[tuple[str, str], list[dict]]:
    """The audit_quality runs' records: key, truth, item, local p_error, novelty, gain."""
    from core.local_model import cache_dir

    db = sqlite3.connect(store_path)
    out = {}
    for (set_name, split), tag in EVAL_RUNS.items():
        folder = cache_dir() / "bench" / "audit_quality" / tag
        dataset = folder / "dataset.jsonl"
        run = db.execute("SELECT id FROM runs WHERE json_extract(config, '$.dataset_path') = ? "
                         "ORDER BY rowid DESC LIMIT 1", (str(dataset),)).fetchone()[0]
        local = {}
        for record_id, body in db.execute(
                "SELECT record_id, body FROM judgments WHERE run_id = ? AND judge = 'local'", (run,)):
            body = json.loads(body)
            verdict = body["verdict"]
            p = verdict["confidence"] if verdict["label"] != "supported" else 1 - verdict["confidence"]
            local[record_id] = (p, json.loads(body["raw"]))
        rows = []
        for line in (folder / "truth.jsonl").read_text().splitlines():
            t = json.loads(line)
            p, features = local[t["id"]]
            rows.append({"id": t["id"], "key": f"{set_name}|{t['item']}|{t['origin']}",
                         "error": t["error"], "item": t["item"], "local_p_error": p,
                         "novelty": features["novelty"], "gain": features["gain"]})
        out[(set_name, split)] = rows
    return out


# --- encoding and the model -------------------------------------------------------------------


def encode(tokenizer, ex: Example, max_len: int) -> tuple[list[int], list[int]]:
    """Token ids and type ids of ``[CLS] question [SEP] answer [SEP] evidence [SEP]``."""
    q = tokenizer(ex.question, add_special_tokens=False)["input_ids"][-24:] if ex.question else []
    a = tokenizer(ex.answer, add_special_tokens=False)["input_ids"][:64]
    head = [tokenizer.cls_token_id] + (q + [tokenizer.sep_token_id] if q else []) + a \
        + [tokenizer.sep_token_id]
    budget = max_len - len(head) - 1
    sentences = split_sentences(Passage(id="k#0", doc_id="k", text=ex.knowledge, sha256=""))
    aw, qw = content_words(ex.answer), content_words(ex.question)

    def overlap(i: int) -> float:
        words = content_words(sentences[i].text)
        return 2 * len(words & aw) + len(words & qw) + 1e-3 / (1 + len(words))

    chosen, tokens = [], {}
    for i in sorted(range(len(sentences)), key=overlap, reverse=True):
        ids = tokenizer(sentences[i].text, add_special_tokens=False)["input_ids"]
        if not chosen and len(ids) > budget:
            ids = ids[:budget]
        if len(ids) <= budget:
            chosen.append(i)
            tokens[i] = ids
            budget -= len(ids)
        if budget < 8:
            break
    evidence = [t for i in sorted(chosen) for t in tokens[i]]
    ids = head + evidence + [tokenizer.sep_token_id]
    return ids, [0] * len(head) + [1] * (len(evidence) + 1)


def load_bert():
    import torch
    from transformers import AutoModel, AutoTokenizer

    from core.embeddings import model_path

    path = model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    bert = AutoModel.from_pretrained(str(path), attn_implementation="eager")
    bert.eval()
    torch.set_grad_enabled(False)
    return tokenizer, bert


def lower_states(bert, encoded: list[tuple[list[int], list[int]]], frozen: int, batch: int = 64):
    """Hidden states after the first ``frozen`` layers, one fp16 (length, 384) tensor each."""
    import torch

    all_layers = bert.encoder.layer
    bert.encoder.layer = all_layers[:frozen]  # the top layers' outputs are not needed here
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
    out: list = [None] * len(encoded)
    for start in range(0, len(order), batch):
        idx = order[start:start + batch]
        length = max(len(encoded[i][0]) for i in idx)
        ids = torch.zeros(len(idx), length, dtype=torch.long)
        types = torch.zeros_like(ids)
        mask = torch.zeros_like(ids)
        for r, i in enumerate(idx):
            n = len(encoded[i][0])
            ids[r, :n] = torch.tensor(encoded[i][0])
            types[r, :n] = torch.tensor(encoded[i][1])
            mask[r, :n] = 1
        hidden = bert(input_ids=ids, token_type_ids=types, attention_mask=mask,
                      output_hidden_states=True).hidden_states[frozen]
        for r, i in enumerate(idx):
            out[i] = hidden[r, : len(encoded[i][0])].to(torch.float16).clone()
    bert.encoder.layer = all_layers
    return out


def make_top(bert, layers: int):
    from torch import nn

    class Top(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList(copy.deepcopy(list(bert.encoder.layer)[len(bert.encoder.layer)
                                                                               - layers:]))
            self.head = nn.Linear(bert.config.hidden_size, 1)
            nn.init.zeros_(self.head.bias)
            nn.init.normal_(self.head.weight, std=0.02)

        def forward(self, hidden, mask):
            ext = (1.0 - mask[:, None, None, :].float()) * -1e4
            for layer in self.layers:
                out = layer(hidden, attention_mask=ext)
                hidden = out[0] if isinstance(out, tuple) else out
            m = mask.unsqueeze(-1).float()
            return self.head((hidden * m).sum(1) / m.sum(1)).squeeze(-1)

    return Top()


def _batches(states, idx: list[int], size: int, rng: random.Random | None):
    import torch

    idx = list(idx)
    if rng:
        rng.shuffle(idx)
        chunks = [sorted(idx[i:i + size * 16], key=lambda j: states[j].shape[0])
                  for i in range(0, len(idx), size * 16)]
        batches = [c[i:i + size] for c in chunks for i in range(0, len(c), size)]
        rng.shuffle(batches)
    else:
        idx.sort(key=lambda j: states[j].shape[0])
        batches = [idx[i:i + size] for i in range(0, len(idx), size)]
    for b in batches:
        length = max(states[j].shape[0] for j in b)
        hidden = torch.zeros(len(b), length, states[b[0]].shape[1])
        mask = torch.zeros(len(b), length, dtype=torch.bool)
        for r, j in enumerate(b):
            n = states[j].shape[0]
            hidden[r, :n] = states[j].float()
            mask[r, :n] = True
        yield b, hidden, mask


def train_top(bert, states, labels: np.ndarray, weights: np.ndarray, train_idx, args, seed: int):
    import torch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = make_top(bert, args.layers)
    model.train()
    params = [{"params": model.layers.parameters(), "lr": args.lr},
              {"params": model.head.parameters(), "lr": args.lr * 10}]
    opt = torch.optim.AdamW(params, weight_decay=0.01)
    steps = args.epochs * math.ceil(len(train_idx) / args.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, steps // 10)) * max(0.0, 1 - s / steps))
    y = torch.tensor(labels, dtype=torch.float32)
    w = torch.tensor(weights, dtype=torch.float32)
    with torch.enable_grad():
        for epoch in range(args.epochs):
            total, count = 0.0, 0
            for b, hidden, mask in _batches(states, train_idx, args.batch, rng):
                logits = model(hidden, mask)
                loss = (torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, y[b], reduction="none") * w[b]).sum() / w[b].sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total, count = total + loss.item() * len(b), count + len(b)
            print(f"  epoch {epoch + 1}: weighted loss {total / count:.4f}", flush=True)
    model.eval()
    return model


def score(model, states, idx) -> dict[int, float]:
    out = {}
    for b, hidden, mask in _batches(states, idx, 64, None):
        for j, z in zip(b, model(hidden, mask).tolist(), strict=True):
            out[j] = z
    return out


def fold_of(item: str, folds: int) -> int:
    return int(hashlib.sha256(item.encode()).hexdigest()[:8], 16) % folds


def _auc(x) -> float | None:
    return None if x is None else round(x, 4)


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=2, help="top layers fine-tuned (0-6)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-len", type=int, default=160)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--synthetic-per-text", type=int, default=2)
    parser.add_argument("--no-synthetic", action="store_true")
    parser.add_argument("--no-cv", action="store_true", help="skip the dev cross-validation")
    parser.add_argument("--no-report", action="store_true", help="dev CV only (tuning runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", type=Path, help="folder for the shippable weights")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(int(os.environ.get("ASSAY_TORCH_THREADS", "2")))
    t0 = time.monotonic()
    timings = {}

    # Training pool: every development answer of both sets, plus synthetic pairs.
    pool: list[Example] = []
    dev_knowledge: dict[str, tuple[str, str]] = {}
    for set_name in ("halueval", "faithdial"):
        for a in labelled(set_name):
            if quality.split_of(a.item_id) != quality.DEV:
                continue
            pool.append(Example(f"{set_name}|{a.item_id}|{a.origin}", set_name, a.item_id,
                                a.question, a.answer, a.knowledge, a.error))
            dev_knowledge[a.item_id] = (set_name, a.knowledge)
    synthetic: list[Example] = []
    if not args.no_synthetic:
        texts = [(item, "synthetic-dev", k, args.synthetic_per_text)
                 for item, (_, k) in sorted(dev_knowledge.items())]
        for path in sorted((ROOT / "examples" / "advising" / "sources").glob("*.md")):
            texts.append(("advising", "synthetic-advising",
                          re.sub(r"[#*`>|]+", " ", path.read_text(encoding="utf-8")),
                          8 * args.synthetic_per_text))
        synthetic = synthetic_pairs(texts, args.seed)
    records = eval_records(_store())
    report_keys = {r["key"] for s in ("halueval", "faithdial") for r in records[(s, "report")]}
    report_pool: list[Example] = []  # only the evaluated reporting records are encoded
    for set_name in ("halueval", "faithdial"):
        for a in labelled(set_name):
            if f"{set_name}|{a.item_id}|{a.origin}" in report_keys:
                report_pool.append(Example(f"{set_name}|{a.item_id}|{a.origin}", set_name,
                                           a.item_id, a.question, a.answer, a.knowledge, a.error))
    examples = pool + synthetic
    n_train = len(examples)
    examples += report_pool
    index = {ex.key: i for i, ex in enumerate(examples)}
    for rows in records.values():  # every evaluated record is in the pools
        missing = [r["key"] for r in rows if r["key"] not in index]
        assert not missing, missing[:3]

    tokenizer, bert = load_bert()
    encoded = [encode(tokenizer, ex, args.max_len) for ex in examples]
    frozen = bert.config.num_hidden_layers - args.layers
    cache = Path(f"/tmp/verifier_states_{args.layers}_{args.max_len}_"
                 f"{hashlib.sha256(json.dumps(encoded).encode()).hexdigest()[:12]}.pt")
    if cache.exists():  # the frozen layers' outputs of exactly these inputs
        states = torch.load(cache)
    else:
        states = lower_states(bert, encoded, frozen)
        torch.save(states, cache)
    timings["encode_and_frozen_layers_s"] = round(time.monotonic() - t0, 1)
    print(f"{len(examples)} examples encoded ({timings['encode_and_frozen_layers_s']}s)",
          flush=True)

    labels = np.array([ex.error for ex in examples], dtype=float)
    # Each source counts the same in the loss whatever its size (and each class within it).
    weights = np.ones(len(examples))
    for source in {ex.source for ex in examples[:n_train]}:
        members = [i for i in range(n_train) if examples[i].source == source]
        for cls in (0.0, 1.0):
            chosen = [i for i in members if labels[i] == cls]
            if chosen:
                weights[chosen] = 1.0 / (2 * len(chosen)) * 1000
    train_all = list(range(n_train))
    folds = np.array([fold_of(ex.item, args.folds) if ex.item != "advising" else -1
                      for ex in examples])

    result: dict = {"design": {}, "dev_cv": {}, "report": {}}
    oof: dict[int, float] = {}
    if not args.no_cv:
        started = time.monotonic()
        for k in range(args.folds):
            train_idx = [i for i in train_all if folds[i] != k]
            held = [i for i in train_all if folds[i] == k and examples[i].source in
                    ("halueval", "faithdial")]
            model = train_top(bert, states, labels, weights, train_idx, args, args.seed + k)
            oof.update(score(model, states, held))
            print(f"fold {k}: trained on {len(train_idx)}, scored {len(held)} "
                  f"({time.monotonic() - started:.0f}s)", flush=True)
        timings["cv_s"] = round(time.monotonic() - started, 1)

    def features(rows, verifier):
        v = np.array([verifier[index[r["key"]]] for r in rows])
        nov = np.array([r["novelty"] for r in rows])
        gain = np.array([r["gain"] for r in rows])
        return v, nov, gain

    combos = {"novelty+gain (refit on dev)": lambda v, n, g: np.column_stack([n, g]),
              "verifier+novelty": lambda v, n, g: np.column_stack([v, n]),
              "verifier+novelty+gain": lambda v, n, g: np.column_stack([v, n, g])}
    dev_rows = records[("halueval", "dev")] + records[("faithdial", "dev")]
    if oof:
        # All development answers (not only the audit_quality samples): verifier vs baseline.
        for s in ("halueval", "faithdial"):
            idx = [i for i in train_all if examples[i].source == s]
            result["dev_cv"][f"{s}_all_dev_answers"] = {
                "n": len(idx), "n_error": int(labels[idx].sum()),
                "verifier": _auc(quality.auc([oof[i] for i in idx], labels[idx] == 1)),
                "baseline_content_words_absent": _auc(quality.auc(
                    [novelty(examples[i].answer, examples[i].knowledge) for i in idx],
                    labels[idx] == 1)),
            }
        v, nov, gain = features(dev_rows, oof)
        y = np.array([r["error"] for r in dev_rows], dtype=float)
        groups = np.array([fold_of(r["item"], args.folds) for r in dev_rows])
        cv = {name: np.zeros(len(y)) for name in combos}
        for k in range(args.folds):
            tr, te = groups != k, groups == k
            for name, build in combos.items():
                x = build(v, nov, gain)
                cv[name][te] = predict(fit_logistic(x[tr], y[tr]), x[te])
        for s in ("halueval", "faithdial"):
            mask = np.array([r["key"].startswith(s) for r in dev_rows])
            rows = [r for r, m in zip(dev_rows, mask, strict=True) if m]
            truth = y[mask] == 1
            entry = {"n": int(mask.sum()),
                     "local_judge_today": _auc(quality.auc([r["local_p_error"] for r in rows],
                                                           truth)),
                     "baseline_content_words_absent": _auc(quality.auc(nov[mask], truth)),
                     "verifier": _auc(quality.auc(v[mask], truth))}
            for name in combos:
                entry[name] = _auc(quality.auc(cv[name][mask], truth))
            result["dev_cv"][f"{s}_audit_quality_dev_records"] = entry
        print(json.dumps(result["dev_cv"], indent=1), flush=True)

    if not args.no_report:
        started = time.monotonic()
        model = train_top(bert, states, labels, weights, train_all, args, args.seed)
        timings["final_training_s"] = round(time.monotonic() - started, 1)
        report_idx = [index[r["key"]] for s in ("halueval", "faithdial")
                      for r in records[(s, "report")]]
        final = score(model, states, report_idx)
        v_dev, nov_dev, gain_dev = features(dev_rows, oof) if oof else (None, None, None)
        y_dev = np.array([r["error"] for r in dev_rows], dtype=float)
        fitted = {name: fit_logistic(build(v_dev, nov_dev, gain_dev), y_dev)
                  for name, build in combos.items()} if oof else {}
        for s in ("halueval", "faithdial"):
            rows = records[(s, "report")]
            v, nov, gain = features(rows, final)
            truth = np.array([r["error"] for r in rows])
            groups = [r["item"] for r in rows]
            entry = {"n": len(rows),
                     "local_judge_today": quality.auc_with_interval(
                         [r["local_p_error"] for r in rows], truth, groups),
                     "baseline_content_words_absent": quality.auc_with_interval(nov, truth, groups),
                     "verifier": quality.auc_with_interval(v, truth, groups)}
            for name, w in fitted.items():
                entry[name] = quality.auc_with_interval(
                    predict(w, combos[name](v, nov, gain)), truth, groups)
            result["report"][s] = entry
        result["combination_coefficients"] = {
            name: {"intercept": round(float(w[0]), 4),
                   "coef": [round(float(c), 4) for c in w[1:]]} for name, w in fitted.items()}
        # Latency of the whole packaged pipeline for one record (tokenise, 6 layers, head).
        started = time.monotonic()
        probe = report_idx[:50]
        for i in probe:
            ids, types = encode(tokenizer, examples[i], args.max_len)
            h = bert(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([types]),
                     output_hidden_states=True).hidden_states[frozen]
            model(h, torch.ones(1, len(ids), dtype=torch.bool))
        timings["inference_s_per_record"] = round((time.monotonic() - started) / len(probe), 4)
        if args.save:
            from safetensors.torch import save_file

            args.save.mkdir(parents=True, exist_ok=True)
            weights_path = args.save / "verifier_top.safetensors"
            save_file({k: t.to(torch.float16).contiguous() for k, t in model.state_dict().items()},
                      str(weights_path))
            digest = hashlib.sha256(weights_path.read_bytes()).hexdigest()
            result["shipped"] = {"file": weights_path.name, "bytes": weights_path.stat().st_size,
                                 "sha256": digest}
            print("saved", weights_path, weights_path.stat().st_size, digest)

    result["design"] = {
        "model": "all-MiniLM-L6-v2 cross-encoder, [CLS] question [SEP] answer [SEP] "
                 "overlap-ranked evidence sentences [SEP], mean pool -> linear -> P(error)",
        "trainable": f"top {args.layers} of 6 layers + linear head; lower layers frozen",
        "args": {k: str(v) for k, v in vars(args).items()},
        "training_examples": {src: {"n": sum(ex.source == src for ex in examples[:n_train]),
                                    "errors": sum(ex.error for ex in examples[:n_train]
                                                  if ex.source == src)}
                              for src in sorted({ex.source for ex in examples[:n_train]})},
        "synthetic_error_kinds": {k: sum(ex.kind == k for ex in synthetic)
                                  for k in sorted({ex.kind for ex in synthetic})},
        "loss_weights": "each source and each class within it weighs the same",
        "dev_cv": f"{args.folds} folds by sha256(item) (item = knowledge text); synthetic "
                  "pairs of held-out items left out; advising synthetic pairs always in training; "
                  "logistic combinations fitted on the other folds' out-of-fold scores",
        "report": "verifier trained once on all development data; logistic combinations "
                  "fitted on all development out-of-fold scores (both sets together)",
        "eval_records": "bench/audit_quality.py's records (n=400, seed 0, both answers per "
                        "item); local judge = its stored verdicts in the bench store",
    }
    result["timings"] = {**timings, "total_s": round(time.monotonic() - t0, 1)}
    payload = {"benchmark": "verifier_prototype",
               "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
               "machine": common.machine(), **result}
    if args.out:
        common.write_json(args.out, payload)
        print("saved", args.out)
    print(json.dumps({"report": result["report"], "timings": result["timings"]}, indent=1,
                     default=str)[:6000])


def _store() -> Path:
    from core.local_model import cache_dir

    return cache_dir() / "bench" / "audit_quality.db"


if __name__ == "__main__":
    main()
