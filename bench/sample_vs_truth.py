"""The headline of `audit sample --n 40` on the bundled example against its truth labels.

    python bench/sample_vs_truth.py [--n 40] [--seed-store PATH]

Runs the real command (default offline panel) in a fresh folder, then compares the
consensus rate the report prints (every sampled record with a verdict, ties resolved:
issue 23) with the sample's true error rate from examples/advising/truth.jsonl, each with its
95% Wilson interval, and gives the plain majority's rate (ties left out) and its bounds with
disputed and undecided records counted both ways. ``--seed-store`` copies a store whose
cached model output the run may reuse (the local judge's features are keyed by record and
evidence), so a re-measurement makes no model call. Writes
bench/results/audit_sample_consensus.json.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import save  # noqa: E402

TRUTH = ROOT / "examples" / "advising" / "truth.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--seed-store", type=Path, help="store to copy first (cached calls)")
    args = parser.parse_args()

    from audit.stats.rates import error_rate
    from audit.summary import summarize
    from core.store import Store

    truth = {}
    for line in TRUTH.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            truth[row["id"]] = row["label"] == "error"
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / ".assay" / "assay.db"
        db.parent.mkdir()
        if args.seed_store:
            with sqlite3.connect(args.seed_store) as source, sqlite3.connect(db) as target:
                source.backup(target)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "audit", "sample", "--n", str(args.n),
                               "--concurrency", "2"], cwd=tmp, capture_output=True, text=True,
                              check=False)
        seconds = time.perf_counter() - started
        if done.returncode not in (0, 4):
            raise SystemExit(f"audit sample failed ({done.returncode}): {done.stderr[-500:]}")
        store = Store(db)
        run_id = store.latest_run_id()
        records = store.run_records(run_id)
        summary = summarize(store.judgments(run_id),
                            [{"id": r["id"], "topic": r.get("topic")} for r in records],
                            population=len(truth), bootstrap=0)
    k, n = sum(truth[r["id"]] for r in records), len(records)
    # both intervals as the report prints them: for the 231-record example, with the
    # finite-population correction
    true_rate = error_rate(k, n, population=len(truth))
    cons = summary.consensus
    resolved = summary.resolved
    figures = {
        "n": n,
        "seconds": round(seconds, 1),
        "true": {"k": k, "n": n, "rate": k / n,
                 "wilson_95": [true_rate.wilson.low, true_rate.wilson.high]},
        "consensus": {"k": cons.inclusive.k, "n": cons.inclusive.n, "rate": cons.inclusive.rate,
                      "wilson_95": [cons.inclusive.wilson.low, cons.inclusive.wilson.high],
                      "method": cons.method, "method_reason": cons.method_reason,
                      "expected_errors": cons.expected_errors,
                      "flags_true": sum(truth[i] for i, s in resolved.items() if s == "error"),
                      "flags_false": sum(not truth[i] for i, s in resolved.items()
                                         if s == "error")},
        "plain_majority": {"k": cons.majority.k if cons.majority else 0,
                           "n": cons.majority.n if cons.majority else 0,
                           "disputed": cons.disputed, "undecided": cons.undecided,
                           "bounds_all_records": [cons.bounds.low, cons.bounds.high]
                           if cons.bounds else None},
        "per_judge": {name: {"k": j.inclusive.k, "n": j.inclusive.n}
                      for name, j in summary.per_judge.items() if j.inclusive},
    }
    figures["consensus_rate_within_true_interval"] = (
        true_rate.wilson.low <= cons.inclusive.rate <= true_rate.wilson.high)
    figures["true_rate_within_consensus_interval"] = (
        cons.inclusive.wilson.low <= k / n <= cons.inclusive.wilson.high)
    print(json.dumps(figures, indent=1))
    print(f"saved {save('audit_sample_consensus', figures)}")


if __name__ == "__main__":
    main()
