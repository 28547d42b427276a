"""Judge quality against known truth: precision and recall of error votes, coverage.

For each default judge (``rules``, and ``local`` when audit/judges/local.py exists) on

- the bundled example (examples/advising: dataset.jsonl + truth.jsonl, evidence from the real
  retrieval, ``core.retrieval.evidence_for``), and
- a reporting slice of HaluEval QA (each item's knowledge as its one passage; the right
  answer is "correct", the hallucinated one "error"), for orientation,

it prints and saves: error-vote precision and recall (an error vote is a label other than
``supported``; abstentions are counted separately and never as votes), F1, coverage (the
share of records decided), recall per error kind, and the rules judge's precision on the
records it flags as ``wrong_number`` / ``wrong_date`` (goal: at least 0.95). Where every
judge ran on the same records it scores the panel's consensus too
(``audit.stats.weighted_consensus``, the one the reports use: ties resolved, the method
that decided named), with precision, recall, F1 and recall per kind (issue 23's goal:
consensus F1 at least the best judge's + 0.02).

The local judge's model output is cached in the bench store (``--store``, default the
Assay cache's bench/audit_quality.db), so a re-run makes no model call.

    .venv/bin/python bench/judge_quality.py [--halueval-n 300] [--local-n 60]

Writes bench/results/judge_quality.json (figures, machine description, exact command).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from core.models import (  # noqa: E402
    Category,
    JudgeSpec,
    Passage,
    QARecord,
    Verdict,
    sha256_text,
)

EXAMPLE = ROOT / "examples" / "advising"
HALUEVAL = ROOT.parent / "shared" / "data" / "halueval" / "qa_300.jsonl"
OUT = ROOT / "bench" / "results" / "judge_quality.json"
FLAG_CATEGORIES = {Category.wrong_number, Category.wrong_date}


class Case:
    """One record with its evidence and its truth (``error`` bool, error ``kind``)."""

    def __init__(self, record: QARecord, evidence: list[Passage], error: bool, kind: str):
        self.record, self.evidence, self.error, self.kind = record, evidence, error, kind


def example_cases(folder: Path) -> list[Case]:
    """The bundled example with evidence from the real retrieval (top 4 + own sources)."""
    from core.datasets import load_dataset
    from core.retrieval import evidence_for, load_index

    truth = {}
    for line in (folder / "truth.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            truth[row["id"]] = row
    dataset = load_dataset(folder / "dataset.jsonl")
    with tempfile.TemporaryDirectory() as cache:
        index = load_index(folder / "sources", cache_dir=cache)
        cases = []
        for record in dataset.records:
            row = truth.get(record.id)
            if row is None:
                continue
            cases.append(
                Case(record, evidence_for(record, index, k=4), row["label"] == "error",
                     row.get("kind") or "none")
            )
    return cases


def halueval_cases(path: Path, n: int) -> list[Case]:
    """HaluEval QA items: knowledge as one passage; right answer correct, hallucinated error."""
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines()[:n]:
        item = json.loads(line)
        passage = Passage(id=f"{item['id']}#0", doc_id=item["id"], text=item["knowledge"],
                          sha256=sha256_text(item["knowledge"]))
        for field, error in (("right_answer", False), ("hallucinated_answer", True)):
            record = QARecord(id=f"{item['id']}/{field}", question=item["question"],
                              answer=item[field], source_ids=[passage.id])
            cases.append(Case(record, [passage], error, "hallucination" if error else "none"))
    return cases


def consensus_score(cases: list[Case], by_judge: dict[str, list[Verdict | None]]
                    ) -> dict[str, Any]:
    """The weighted consensus of the judges' verdicts on the same cases, scored."""
    import numpy as np

    from audit.quality import p_error
    from audit.stats import weighted_consensus

    names = sorted(by_judge)
    scores = np.full((len(cases), len(names)), np.nan)
    labels = np.full((len(cases), len(names)), np.nan)
    for j, name in enumerate(names):
        for i, verdict in enumerate(by_judge[name]):
            if verdict is not None:
                scores[i, j], labels[i, j] = p_error(verdict), float(verdict.is_error)
    result = weighted_consensus(scores, names, labels=labels)
    flags = [bool(x == 1) for x in result.labels]
    truth = [c.error for c in cases]
    tp = sum(f and t for f, t in zip(flags, truth, strict=True))
    kinds: dict[str, Counter] = defaultdict(Counter)
    for case, flag in zip(cases, flags, strict=True):
        if case.error:
            kinds[case.kind]["n"] += 1
            kinds[case.kind]["flagged"] += flag
    return {
        "n": len(cases), "n_error": sum(truth), "method": result.method,
        "method_reason": result.reason, "error_votes": sum(flags),
        "undecided": int(np.isnan(result.labels).sum()),
        "precision_error": _ratio(tp, sum(flags)), "recall_error": _ratio(tp, sum(truth)),
        "f1": _ratio(2 * tp, sum(flags) + sum(truth)),
        "recall_by_kind": {kind: {**c, "recall": _ratio(c["flagged"], c["n"])}
                           for kind, c in sorted(kinds.items())},
        "sensitivity": result.sensitivity, "specificity": result.specificity,
    }


def make_judges(store_path: Path, with_local: bool) -> tuple[dict[str, Any], list[str]]:
    """The default panel: rules, plus local when its module exists (lazy import)."""
    from audit.judges.rules import RulesJudge
    from core.store import Store

    judges: dict[str, Any] = {"rules": RulesJudge(JudgeSpec(name="rules", provider="rules"))}
    notes = []
    if not with_local:
        notes.append("local judge skipped (--no-local)")
    elif not (ROOT / "audit" / "judges" / "local.py").is_file():
        notes.append("local judge skipped: audit/judges/local.py does not exist yet")
    else:
        try:
            from audit.judges.local import LocalJudge

            spec = JudgeSpec(name="local", provider="local")
            judges["local"] = LocalJudge(spec, Store(store_path))
        except Exception as exc:  # report, never hide, why the local judge is missing
            notes.append(f"local judge skipped: {type(exc).__name__}: {exc}")
    return judges, notes


async def run_judge(judge: Any, cases: list[Case]) -> tuple[list[Verdict | None], float]:
    verdicts = []
    start = time.perf_counter()
    for n, case in enumerate(cases, start=1):
        outcome = await judge.judge(case.record, case.evidence)
        verdicts.append(outcome.verdict)
        if n % 50 == 0:
            print(f"  {judge.spec.name}: {n}/{len(cases)}", file=sys.stderr, flush=True)
    return verdicts, time.perf_counter() - start


def score(cases: list[Case], verdicts: list[Verdict | None]) -> dict[str, Any]:
    """Precision/recall of error votes, coverage, recall per kind, flagged-number precision."""
    n_err = sum(c.error for c in cases)
    decided = [(c, v) for c, v in zip(cases, verdicts, strict=True) if v is not None]
    votes = [(c, v) for c, v in decided if v.is_error]
    tp = sum(c.error for c, _ in votes)
    kinds: dict[str, Counter] = defaultdict(Counter)
    for case, verdict in zip(cases, verdicts, strict=True):
        if case.error:
            kinds[case.kind]["n"] += 1
            kinds[case.kind]["flagged"] += bool(verdict and verdict.is_error)
            kinds[case.kind]["abstained"] += verdict is None
    flagged = [(c, v) for c, v in votes if v.category in FLAG_CATEGORIES]
    return {
        "n": len(cases),
        "n_error": n_err,
        "decided": len(decided),
        "abstained": len(cases) - len(decided),
        "coverage": _ratio(len(decided), len(cases)),
        "error_votes": len(votes),
        "precision_error": _ratio(tp, len(votes)),
        "recall_error": _ratio(tp, n_err),
        "recall_error_decided": _ratio(tp, sum(c.error for c, _ in decided)),
        "f1": _ratio(2 * tp, len(votes) + n_err),
        "supported_votes": len(decided) - len(votes),
        "precision_supported": _ratio(
            sum(not c.error for c, v in decided if not v.is_error), len(decided) - len(votes)
        ),
        "labels": dict(Counter(v.label.value if v else "abstain" for v in verdicts)),
        "recall_by_kind": {
            kind: {**counts, "recall": _ratio(counts["flagged"], counts["n"])}
            for kind, counts in sorted(kinds.items())
        },
        "precision_by_flag": precision_by_flag(votes),
        "flagged_number_date": {
            "n": len(flagged),
            "true_errors": sum(c.error for c, _ in flagged),
            "precision": _ratio(sum(c.error for c, _ in flagged), len(flagged)),
            "false_flags": [
                {"id": c.record.id, "category": v.category.value, "rationale": v.rationale}
                for c, v in flagged
                if not c.error
            ],
        },
    }


def precision_by_flag(votes: list[tuple[Case, Verdict]]) -> dict[str, dict[str, Any]]:
    """Per error category a judge gave: its flags, how many are real errors (of any kind),
    and how many of those are of the kind it named (the truth's kind)."""
    out: dict[str, Counter] = defaultdict(Counter)
    for case, verdict in votes:
        row = out[verdict.category.value]
        row["flags"] += 1
        row["errors"] += case.error
        row["same_kind"] += case.error and case.kind == verdict.category.value
    return {category: {**row, "precision": _ratio(row["errors"], row["flags"])}
            for category, row in sorted(out.items())}


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def report(name: str, judge: str, result: dict[str, Any]) -> None:
    flagged = result["flagged_number_date"]
    print(
        f"{name:9} {judge:6} n={result['n']:4} coverage={_fmt(result['coverage'])} "
        f"precision(error)={_fmt(result['precision_error'])} "
        f"recall(error)={_fmt(result['recall_error'])} abstained={result['abstained']} "
        f"flagged number/date: {flagged['true_errors']}/{flagged['n']} "
        f"(precision {_fmt(flagged['precision'])})  {result['seconds']:.1f}s"
    )
    for kind, row in result["recall_by_kind"].items():
        print(f"{'':17}{kind:22} recall {_fmt(row['recall'])} ({row['flagged']}/{row['n']})")
    for category, row in result.get("precision_by_flag", {}).items():
        print(f"{'':17}flagged {category:22} precision {_fmt(row['precision'])} "
              f"({row['errors']}/{row['flags']}; same kind {row['same_kind']})")


def _fmt(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--example", type=Path, default=EXAMPLE)
    parser.add_argument("--halueval", type=Path, default=HALUEVAL)
    parser.add_argument("--halueval-n", type=int, default=300, help="HaluEval items (rules)")
    parser.add_argument("--local-n", type=int, default=60, help="HaluEval items (local judge)")
    parser.add_argument("--no-local", action="store_true", help="skip the local judge")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--store", type=Path,
                        help="store caching the local judge's model output "
                        "(default: the Assay cache's bench/audit_quality.db)")
    args = parser.parse_args(argv)

    datasets: dict[str, list[Case]] = {}
    notes: list[str] = []
    if (args.example / "truth.jsonl").is_file() and (args.example / "dataset.jsonl").is_file():
        datasets["example"] = example_cases(args.example)
    else:
        notes.append(f"{args.example}: dataset.jsonl/truth.jsonl missing; example skipped")
    if args.halueval.is_file():
        datasets["halueval"] = halueval_cases(args.halueval, args.halueval_n)
    else:
        notes.append(f"{args.halueval} missing; HaluEval slice skipped")

    results: dict[str, dict[str, Any]] = {}
    from core.local_model import cache_dir

    store_path = args.store or cache_dir() / "bench" / "audit_quality.db"
    store_path.parent.mkdir(parents=True, exist_ok=True)
    judges, judge_notes = make_judges(store_path, not args.no_local)
    notes += judge_notes
    for name, cases in datasets.items():
        results[name] = {}
        verdicts_of: dict[str, list[Verdict | None]] = {}
        for judge_name, judge in judges.items():
            subset = cases
            if judge_name == "local" and name == "halueval":
                subset = cases[: 2 * args.local_n]
            verdicts, seconds = asyncio.run(run_judge(judge, subset))
            verdicts_of[judge_name] = verdicts
            result = score(subset, verdicts)
            result["seconds"] = round(seconds, 3)
            results[name][judge_name] = result
            report(name, judge_name, result)
        common_n = min(len(v) for v in verdicts_of.values())
        if len(verdicts_of) >= 2:
            cons = consensus_score(cases[:common_n],
                                   {k: v[:common_n] for k, v in verdicts_of.items()})
            best = max((score(cases[:common_n], v[:common_n])["f1"] or 0, k)
                       for k, v in verdicts_of.items())
            cons["best_judge"] = {"judge": best[1], "f1": best[0]}
            cons["goal_met"] = (cons["f1"] or 0) >= best[0] + 0.02
            results[name]["consensus"] = cons
            print(f"{name:9} consensus ({cons['method']}) n={cons['n']} "
                  f"precision={_fmt(cons['precision_error'])} "
                  f"recall={_fmt(cons['recall_error'])} F1={_fmt(cons['f1'])}; best judge "
                  f"{best[1]} F1={best[0]:.3f}; goal (+0.02) "
                  f"{'met' if cons['goal_met'] else 'missed'}")
    for note in notes:
        print("note:", note)
    payload = {
        "benchmark": "judge_quality",
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "machine": common.machine(),
        "goal": "rules judge precision >= 0.95 on records it flags wrong_number/wrong_date; "
                "consensus F1 >= best judge's F1 + 0.02 (issue 23)",
        "results": results,
        "notes": notes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    common.write_json(args.out, payload)
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
