"""Second prototype for issue 23's trained verifier: token alignment on the frozen MiniLM.

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python bench/verifier_alignment.py
    # -> bench/results/verifier_alignment.json

The cross-encoder of bench/train_verifier.py barely learns in a CPU budget (a bi-encoder's
top layer, a few hundred steps). This one trains only a logistic head on alignment features
read off the packaged all-MiniLM-L6-v2 (nothing to ship but a dozen coefficients): the answer
and its overlap-ranked evidence sentences are encoded separately; each answer content token is
matched to its most similar evidence token (cosine of last-layer token vectors, BERTScore-style)
and the answer's sentence vector to the best evidence sentence's. Features per record:

- ``align_mean`` / ``align_min`` / ``align_p10``: mean, minimum, 10th percentile of the answer
  content tokens' best match; ``align_low_06`` / ``align_low_07``: share of them below 0.6 / 0.7;
- ``sent_cos``: cosine of the answer with its best evidence sentence (sentence embeddings);
- ``novelty``, ``gain``: the local judge's own (from the bench store).

Same records, splits and protocol as bench/train_verifier.py: logistic fits on development
only (grouped K-fold CV for the development figures, one fit on all development records for
the reporting slices, evaluated once). Feature sets are compared on development CV only.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit import quality  # noqa: E402
from audit.judges.local import STOPWORDS, content_words, split_sentences  # noqa: E402
from bench import common  # noqa: E402
from bench.calibrate_local_judge import fit_logistic, predict  # noqa: E402
from bench.train_verifier import _store, eval_records, fold_of, labelled, load_bert  # noqa: E402
from core.models import Passage  # noqa: E402

OUT = ROOT / "bench" / "results" / "verifier_alignment.json"
ALIGN = ["align_mean", "align_min", "align_p10", "align_low_06", "align_low_07", "sent_cos"]


def evidence_sentences(question: str, answer: str, knowledge: str, k: int = 4) -> list[str]:
    sentences = [s.text for s in split_sentences(Passage(id="k#0", doc_id="k", text=knowledge,
                                                         sha256=""))]
    aw, qw = content_words(answer), content_words(question)

    def overlap(s: str) -> float:
        words = content_words(s)
        return 2 * len(words & aw) + len(words & qw) + 1e-3 / (1 + len(words))

    ranked = sorted(range(len(sentences)), key=lambda i: overlap(sentences[i]), reverse=True)
    return [sentences[i] for i in sorted(ranked[:k])]


def token_vectors(bert, tokenizer, texts: list[str], max_len: int = 256):
    """Unit last-layer vectors per text (no [CLS]/[SEP]) and the mean-pooled sentence vector."""
    import torch

    out = []
    for start in range(0, len(texts), 32):
        batch = tokenizer(texts[start:start + 32], padding=True, truncation=True,
                          max_length=max_len, return_tensors="pt")
        hidden = bert(**batch).last_hidden_state
        for r in range(hidden.shape[0]):
            n = int(batch["attention_mask"][r].sum())
            tokens = hidden[r, 1:n - 1]
            sent = hidden[r, :n].mean(0)
            ids = batch["input_ids"][r, 1:n - 1].tolist()
            out.append((torch.nn.functional.normalize(tokens, dim=-1).numpy(),
                        (sent / sent.norm()).numpy(), tokenizer.convert_ids_to_tokens(ids)))
    return out


def features(bert, tokenizer, question: str, answer: str, knowledge: str) -> dict[str, float]:
    evidence = evidence_sentences(question, answer, knowledge)
    encoded = token_vectors(bert, tokenizer, [answer, " ".join(evidence), *evidence])
    a_tok, a_sent, a_words = encoded[0]
    e_tok = encoded[1][0]
    keep = [i for i, w in enumerate(a_words)
            if w.strip("#").isalnum() and w.strip("#") not in STOPWORDS and len(w.strip("#")) > 1]
    if not keep or e_tok.shape[0] == 0:
        keep = list(range(len(a_words))) or [0]
    if e_tok.shape[0] == 0 or a_tok.shape[0] == 0:
        best = np.zeros(1)
    else:
        best = (a_tok[keep] @ e_tok.T).max(axis=1)
    sent_cos = max((float(a_sent @ e[1]) for e in encoded[2:]), default=0.0)
    return {"align_mean": float(best.mean()), "align_min": float(best.min()),
            "align_p10": float(np.percentile(best, 10)),
            "align_low_06": float((best < 0.6).mean()), "align_low_07": float((best < 0.7).mean()),
            "sent_cos": sent_cos}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(int(os.environ.get("ASSAY_TORCH_THREADS", "2")))
    t0 = time.monotonic()
    records = eval_records(_store())
    answers = {f"{s}|{a.item_id}|{a.origin}": a for s in ("halueval", "faithdial")
               for a in labelled(s)}
    tokenizer, bert = load_bert()
    per_record = []
    started = time.monotonic()
    for (set_name, split), rows in records.items():
        for r in rows:
            a = answers[r["key"]]
            per_record.append({**r, "set": set_name, "split": split,
                               **features(bert, tokenizer, a.question, a.answer, a.knowledge)})
    seconds = (time.monotonic() - started) / len(per_record)
    print(f"{len(per_record)} records, {seconds:.3f}s each", flush=True)

    def matrix(rows, names):
        return np.column_stack([[r[n] for r in rows] for n in names])

    dev = [r for r in per_record if r["split"] == "dev"]
    y = np.array([r["error"] for r in dev], dtype=float)
    folds = np.array([fold_of(r["item"], args.folds) for r in dev])
    sets = {
        "novelty+gain (refit on dev)": ["novelty", "gain"],
        "alignment only": ALIGN,
        "align_mean+sent_cos": ["align_mean", "sent_cos"],
        "alignment+novelty": [*ALIGN, "novelty"],
        "alignment+novelty+gain": [*ALIGN, "novelty", "gain"],
        "align_mean+align_low_07+novelty+gain": ["align_mean", "align_low_07", "novelty", "gain"],
    }
    result: dict = {"dev_cv": {}, "report": {}, "single_feature_auc_dev": {}}
    for s in ("halueval", "faithdial"):
        rows = [r for r in dev if r["set"] == s]
        t = np.array([r["error"] for r in rows])
        result["single_feature_auc_dev"][s] = {
            n: round(quality.auc([r[n] for r in rows], t), 4) for n in [*ALIGN, "novelty", "gain"]}
    cv = {}
    for name, names in sets.items():
        x = matrix(dev, names)
        mu, sd = x.mean(0), x.std(0) + 1e-9
        x = (x - mu) / sd
        pred = np.zeros(len(y))
        for k in range(args.folds):
            tr = folds != k
            pred[~tr] = predict(fit_logistic(x[tr], y[tr], ridge=1e-3), x[~tr])
        cv[name] = pred
    for s in ("halueval", "faithdial"):
        mask = np.array([r["set"] == s for r in dev])
        truth = y[mask] == 1
        entry = {"n": int(mask.sum()),
                 "local_judge_today": round(quality.auc([r["local_p_error"] for r, m in
                                                         zip(dev, mask, strict=True) if m], truth), 4),
                 "baseline_content_words_absent": round(quality.auc(
                     [r["novelty"] for r, m in zip(dev, mask, strict=True) if m], truth), 4)}
        entry.update({name: round(quality.auc(p[mask], truth), 4) for name, p in cv.items()})
        result["dev_cv"][s] = entry
    print(json.dumps(result, indent=1), flush=True)

    fitted = {}
    for name, names in sets.items():
        x = matrix(dev, names)
        mu, sd = x.mean(0), x.std(0) + 1e-9
        w = fit_logistic((x - mu) / sd, y, ridge=1e-3)
        fitted[name] = (names, mu, sd, w)
        result.setdefault("coefficients", {})[name] = {
            "features": names, "mean": mu.round(5).tolist(), "sd": sd.round(5).tolist(),
            "intercept": round(float(w[0]), 4), "coef": w[1:].round(4).tolist()}
    for s in ("halueval", "faithdial"):
        rows = [r for r in per_record if r["split"] == "report" and r["set"] == s]
        truth = np.array([r["error"] for r in rows])
        groups = [r["item"] for r in rows]
        entry = {"n": len(rows),
                 "local_judge_today": quality.auc_with_interval(
                     [r["local_p_error"] for r in rows], truth, groups),
                 "baseline_content_words_absent": quality.auc_with_interval(
                     [r["novelty"] for r in rows], truth, groups)}
        for name, (names, mu, sd, w) in fitted.items():
            entry[name] = quality.auc_with_interval(
                predict(w, (matrix(rows, names) - mu) / sd), truth, groups)
        result["report"][s] = entry
    result["design"] = {
        "features": __doc__.split("Features per record:")[1].split("Same records")[0].strip(),
        "dev_cv": f"{args.folds} folds by sha256(item); logistic (ridge 1e-3, standardised "
                  "features) fitted on both sets' development records together",
        "report": "one fit on all development records, evaluated once on the reporting slices",
        "eval_records": "bench/audit_quality.py's records (n=400, seed 0, both answers per "
                        "item); local judge = its stored verdicts in the bench store",
        "seconds_per_record_alignment": round(seconds, 4),
    }
    result["timings"] = {"total_s": round(time.monotonic() - t0, 1)}
    common.write_json(args.out, {
        "benchmark": "verifier_alignment",
        "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
        "machine": common.machine(), **result})
    print(json.dumps({s: {k: (v["value"] if isinstance(v, dict) else v) for k, v in e.items()}
                      for s, e in result["report"].items()}, indent=1))
    print("saved", args.out)


if __name__ == "__main__":
    main()
