"""Fit the local judge's logistic calibration on HaluEval and measure it on held-out items.

Data: ../shared/data/halueval/qa_300.jsonl (or --data). Each item gives two records (its
right and its hallucinated answer) judged against one passage, the item's ``knowledge``.
Split, fixed: DEVELOPMENT = the first 60 items (file order) whose id number is even;
HELD-OUT = the first 60 items whose id number is odd (--max-dev/--max-heldout widen them).
Coefficients are fitted on development only (logistic regression with a 1e-4 ridge for
numerical stability); feature subsets are compared by 5-fold cross-validated AUC on
development only. The chosen coefficients are copied into audit/judges/local.py by hand.

Features come from ``LocalJudge`` itself and are cached in a store under the Assay cache,
so refitting after the first run makes no model call.

    ASSAY_TORCH_THREADS=1 .venv/bin/python bench/calibrate_local_judge.py
    # -> bench/results/local_judge_calibration.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.judges import local as local_judge  # noqa: E402
from bench import common  # noqa: E402
from core.local_model import cache_dir  # noqa: E402
from core.models import JudgeSpec, Passage, QARecord, sha256_text  # noqa: E402
from core.store import Store  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "halueval" / "qa_300.jsonl"
OUT = ROOT / "bench" / "results" / "local_judge_calibration.json"
CANDIDATES = ["novelty", "gain", "gain_p10", "best_sentence_gain", "mean_with"]


def halueval_records(path: Path) -> list[tuple[QARecord, Passage, int, str]]:
    """(record, evidence passage, is_error, split) for both answers of every item."""
    out = []
    for line in path.read_text().splitlines():
        item = json.loads(line)
        number = int(item["id"].rsplit("-", 1)[1])
        split = "dev" if number % 2 == 0 else "heldout"
        passage = Passage(
            id=f"{item['id']}#0",
            doc_id=item["id"],
            text=item["knowledge"],
            sha256=sha256_text(item["knowledge"]),
        )
        for kind, is_error in (("right_answer", 0), ("hallucinated_answer", 1)):
            record = QARecord(id=f"{item['id']}:{kind}", question=item["question"], answer=item[kind])
            out.append((record, passage, is_error, split))
    return out


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def fit_logistic(x: np.ndarray, y: np.ndarray, ridge: float = 1e-4) -> np.ndarray:
    """[intercept, coefficients...] minimising the mean log loss."""
    design = np.column_stack([np.ones(len(x)), x])

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = design @ w
        p = 1 / (1 + np.exp(-z))
        value = np.mean(np.logaddexp(0, z) - y * z) + ridge * np.sum(w[1:] ** 2)
        grad = design.T @ (p - y) / len(y) + 2 * ridge * np.r_[0, w[1:]]
        return value, grad

    return minimize(loss, np.zeros(design.shape[1]), jac=True, method="BFGS").x


def predict(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(w[0] + x @ w[1:])))


def cv_auc(x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int = 5) -> float:
    """Cross-validated AUC with both answers of an item in the same fold."""
    fold_of = groups % folds
    preds = np.zeros(len(y))
    for k in range(folds):
        train = fold_of != k
        preds[~train] = predict(fit_logistic(x[train], y[train]), x[~train])
    return auc(preds, y)


def calibration_table(p: np.ndarray, y: np.ndarray, bins: int = 5) -> list[dict]:
    edges = np.linspace(0, 1, bins + 1)
    rows = []
    for lo, hi in itertools.pairwise(edges):
        inside = (p >= lo) & (p < hi if hi < 1 else p <= hi)
        if inside.any():
            rows.append(
                {
                    "bin": f"{lo:.1f}-{hi:.1f}",
                    "n": int(inside.sum()),
                    "mean_p_error": round(float(p[inside].mean()), 3),
                    "error_rate": round(float(y[inside].mean()), 3),
                }
            )
    return rows


async def collect(rows, store: Store) -> tuple[list[dict], list[float], int]:
    """Features of every record, the stored model seconds of each, and how many were fresh."""
    judge = local_judge.LocalJudge(JudgeSpec(name="local", provider="local"), store)
    features, seconds, fresh = [], [], 0
    for i, (record, passage, _, _) in enumerate(rows):
        outcome = await judge.judge(record, [passage])
        fresh += not outcome.cache_hit
        seconds.append(store.cached_call(judge.cache_key(record, [passage]))["latency_s"])
        features.append(json.loads(outcome.raw))
        if (i + 1) % 50 == 0:
            print(f"{i + 1}/{len(rows)} records", flush=True)
    return features, seconds, fresh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--features", default="novelty,gain")
    parser.add_argument("--out", type=Path, default=OUT)
    # Defaults: the first 60 even-numbered and the first 60 odd-numbered items in file order
    # (2 x 120 records); the whole file takes about an hour on a busy 2-core machine.
    parser.add_argument("--ridge", type=float, default=1e-4, help="L2 penalty on coefficients")
    parser.add_argument("--max-dev", type=int, default=60, help="development items to use")
    parser.add_argument("--max-heldout", type=int, default=60, help="held-out items to use")
    args = parser.parse_args()
    chosen = args.features.split(",")

    # Development first, so that a fit is possible before the held-out half is done.
    rows = sorted(halueval_records(args.data), key=lambda r: r[3] != "dev")
    dev_rows = [r for r in rows if r[3] == "dev"][: 2 * args.max_dev]
    rows = dev_rows + [r for r in rows if r[3] != "dev"][: 2 * args.max_heldout]
    store = Store(cache_dir() / "bench" / "local_judge_features.db")
    features, seconds, fresh = asyncio.run(collect(rows, store))
    y = np.array([r[2] for r in rows], dtype=float)
    dev = np.array([r[3] == "dev" for r in rows])
    groups = np.array([int(r[0].id.split(":")[0].rsplit("-", 1)[1]) // 2 for r in rows])
    matrix = {name: np.array([f[name] for f in features]) for name in CANDIDATES}

    single = {
        name: {
            # For single features, the direction that signals an error is fixed in advance.
            "dev_auc": auc(matrix[name][dev] * sign, y[dev]),
            "heldout_auc": auc(matrix[name][~dev] * sign, y[~dev]),
        }
        for name, sign in [
            ("novelty", 1),
            ("gain", -1),
            ("gain_p10", -1),
            ("best_sentence_gain", -1),
            ("mean_with", -1),
        ]
    }
    subsets = {}
    for size in (1, 2, 3):
        for combo in itertools.combinations(CANDIDATES, size):
            x = np.column_stack([matrix[n] for n in combo])
            subsets[",".join(combo)] = round(cv_auc(x[dev], y[dev], groups[dev]), 4)

    x = np.column_stack([matrix[n] for n in chosen])
    w = fit_logistic(x[dev], y[dev], ridge=args.ridge)
    p = predict(w, x)
    held = ~dev
    accuracy = float(((p[held] >= 0.5) == (y[held] == 1)).mean())
    brier = float(np.mean((p[held] - y[held]) ** 2))
    result = {
        "data": str(args.data),
        "split": f"dev = first {args.max_dev} items with an even id number (file order); "
        f"heldout = first {args.max_heldout} with an odd id number",
        "n_records": {"dev": int(dev.sum()), "heldout": int(held.sum())},
        "features": chosen,
        "ridge": args.ridge,
        "intercept": round(float(w[0]), 4),
        "coefficients": {n: round(float(c), 4) for n, c in zip(chosen, w[1:], strict=True)},
        "dev_auc": round(auc(p[dev], y[dev]), 4),
        "heldout_auc": round(auc(p[held], y[held]), 4),
        "heldout_accuracy_at_0_5": round(accuracy, 4),
        "heldout_brier": round(brier, 4),
        "heldout_calibration": calibration_table(p[held], y[held]),
        "single_feature_auc": {k: {m: round(v, 4) for m, v in d.items()} for k, d in single.items()},
        "dev_cv_auc_by_feature_subset": dict(sorted(subsets.items(), key=lambda kv: -kv[1])),
        # Wall seconds of the model work per record when it was computed (stored with it);
        # measured with ASSAY_TORCH_THREADS=1 on a 2-core machine shared with other jobs.
        "model_seconds_per_record_median": round(float(np.median(seconds)), 3),
        "model_seconds_per_record_mean": round(float(np.mean(seconds)), 3),
        "fresh_records_this_run": fresh,
        "judge_version": local_judge.FEATURE_VERSION,
        "max_evidence_tokens": local_judge.MAX_EVIDENCE_TOKENS,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    common.write_json(args.out, result)
    print(json.dumps({k: v for k, v in result.items() if k != "dev_cv_auc_by_feature_subset"}, indent=2))
    print("top subsets (dev CV AUC):", list(result["dev_cv_auc_by_feature_subset"].items())[:8])


if __name__ == "__main__":
    main()
