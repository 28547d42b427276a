"""Figures on the study's public dataset (or any ShareGPT file): lint, the checks that need no
sources (claims, unverified specifics, conflicts between records), topics, and a closed-book
`audit sample --no-sources` run with the default offline panel.

    python bench/study_dataset.py STUDY.jsonl [--n 20] [--no-audit]

The data is not committed: STUDY.jsonl is whatever part of
codermillat/study-abroad-dataset `dataset/study_abroad_dataset_cleaned.jsonl` you have; the
result records its record count and content hash.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import save  # noqa: E402

# The study is student-advising data like the bundled example: the example's critical topics.
POLICY = Path(__file__).resolve().parent.parent / "examples" / "advising" / "policy.toml"


def lint_figures(dataset) -> dict:
    from audit.lint import lint_dataset

    report = lint_dataset(dataset)
    return {"passed": report.passed, "counts": report.counts,
            "distinct_1": round(report.distinct_1, 3), "distinct_2": round(report.distinct_2, 3),
            "answer_words_median": report.answer_words.median,
            "findings": [f.model_dump() for f in report.findings]}


def specifics_figures(records) -> dict:
    from audit.specifics import check_specifics

    started = time.perf_counter()
    report = check_specifics(records)
    seconds = time.perf_counter() - started
    per_record = Counter(c.record_id for c in report.claims.claims)
    reasons = Counter("unhedged figure for a named institution" if "without a hedge" in r
                      else "named by no other conversation"
                      for c in report.unverified for r in c.unverified)
    return {
        **report.summary(),
        "seconds": round(seconds, 2),
        "claims_per_record_max": max(per_record.values(), default=0),
        "unverified_by_reason": dict(reasons),
        "conflict_list": [c.row() for c in report.conflicts],
        "unverified_examples": [{"record_id": c.record_id, "why": list(c.unverified),
                                 "sentence": c.sentence} for c in report.unverified[:25]],
    }


def topic_figures(records) -> dict:
    from audit.gate import load_policy
    from audit.topics import assign_topics

    assigned = assign_topics(records, load_policy(POLICY).critical_topics)
    return {"by_topic": dict(Counter(a.topic or "(none)" for a in assigned)),
            "by_how": dict(Counter(a.how or "(none)" for a in assigned))}


def _rate(estimate) -> dict | None:
    """A rate with its Wilson interval (None when nothing was decided)."""
    if estimate is None or estimate.wilson is None:
        return None
    return {"rate": estimate.rate, "k": estimate.k, "n": estimate.n,
            "low": estimate.wilson.low, "high": estimate.wilson.high}


def closed_book_audit(path: Path, n: int) -> dict:
    """`audit sample --no-sources --n N` with the default panel, in a scratch store."""
    from audit.gate import evaluate_gate, load_policy
    from audit.report_data import build_report
    from audit.sample import SampleOptions, audit_sample
    from core.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "assay.db")
        started = time.perf_counter()
        outcome = audit_sample(store, SampleOptions(dataset=path, no_sources=True, n=n))
        seconds = time.perf_counter() - started
        report = build_report(store, outcome.run_id, bootstrap=0)
        decision = evaluate_gate(store, outcome.run_id, path, load_policy(POLICY))
    consensus = report.summary.consensus
    return {
        "command": f"audit sample --no-sources --n {n} --dataset STUDY.jsonl",
        "seconds": round(seconds, 1),
        "sampled": report.run.n_sampled,
        "consensus": {"error": consensus.errors, "unverifiable": consensus.unverifiable,
                      "ok": consensus.ok, "disputed": consensus.disputed,
                      "undecided": consensus.undecided},
        "error_rate": _rate(consensus.inclusive),
        "unverifiable_share": _rate(consensus.unverifiable_share),
        "per_judge": {name: {"errors": j.inclusive.rate if j.inclusive else None,
                             "unverifiable": j.unverifiable.rate if j.unverifiable else None,
                             "decided": j.decided, "abstained": j.abstained, "failed": j.failed}
                      for name, j in report.summary.per_judge.items()},
        "gate": {"status": decision.status, "reasons": decision.reasons},
        "health": report.health.words,
        "sampled_with_specifics": len(report.specifics.records) if report.specifics else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--n", type=int, default=20, help="records for the closed-book audit")
    parser.add_argument("--no-audit", action="store_true", help="skip the closed-book audit")
    parser.add_argument("--describe", default="codermillat/study-abroad-dataset "
                        "dataset/study_abroad_dataset_cleaned.jsonl (the first complete lines)",
                        help="what the file is (saved with the figures)")
    args = parser.parse_args()
    from core.datasets import load_dataset

    dataset = load_dataset(args.dataset)
    conversations = len({r.id.rpartition(":")[0] for r in dataset.records})
    figures = {
        "dataset": args.describe,
        "conversations": conversations,
        "records": len(dataset.records),
        "dataset_sha256": dataset.sha256,
        "lint": lint_figures(dataset),
        "checks_without_sources": specifics_figures(dataset.records),
        "topics": topic_figures(dataset.records),
    }
    if not args.no_audit:
        figures["closed_book_audit"] = closed_book_audit(args.dataset, args.n)
    checks = figures["checks_without_sources"]
    print(f"{conversations} conversations, {len(dataset.records)} records (assistant turns)")
    print(f"lint: {figures['lint']['counts']}")
    print(f"claims: {checks['claims']} ({checks['claims_per_record']} per record); unverified "
          f"specifics: {checks['unverified_specifics']}; conflicts: {checks['conflicts']}")
    print(f"topics: {figures['topics']['by_topic']}")
    if "closed_book_audit" in figures:
        audit = figures["closed_book_audit"]
        print(f"closed-book audit: {audit['consensus']}, gate {audit['gate']['status']}")
    print(f"saved {save('study_dataset', figures)}")


if __name__ == "__main__":
    main()
