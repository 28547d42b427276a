"""Measure a real ``audit`` against public labelled data that nobody on the project wrote.

    .venv/bin/python bench/audit_quality.py --data ../shared/data/halueval --n 400
    .venv/bin/python bench/audit_quality.py --data ../shared/data/halueval --judges judges.toml

Converts the set into Assay's dataset + sources form (audit/quality.py: one source document
per item, records citing their own passage), draws a seeded sample balanced between correct
and erroneous answers from the REPORTING slice (HaluEval: items with an odd id number; the
even ones are the development slice, where the local judge is calibrated and where changes
to the panel may be tried), runs ``audit.sample.audit_sample`` on exactly those records,
and scores every judge, the consensus (weighted; ties resolved), the plain majority,
Dawid–Skene and the panel's mean P(error)
against the truth. Without --judges the default offline panel (local + rules) is used.

Model calls are cached in the bench store, so re-runs are cheap; stored judgments are
cleared first, so the figures always reflect the judges' current code. Results go to
bench/results/audit_quality_<set>[_<split>].json with the exact command and the machine.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audit import quality  # noqa: E402
from bench import common  # noqa: E402

RESULTS = ROOT / "bench" / "results"
REFERENCE_AUC = {  # ../shared/data/README.md: other HaluEval items, Gemma 3 270M
    "yes_no_logits": 0.48,
    "logprob_with_minus_without_knowledge": 0.68,
    "content_words_absent_from_knowledge": 0.85,
}


def judge_code() -> dict[str, Any]:
    """Which judge code made the figures: file hashes and the local judge's calibration."""
    import hashlib

    files = sorted((ROOT / "audit" / "judges").glob("*.py"))
    out: dict[str, Any] = {
        str(f.relative_to(ROOT)): hashlib.sha256(f.read_bytes()).hexdigest()[:12] for f in files
    }
    try:
        from audit.judges import local

        out["local_calibration"] = {"version": local.FEATURE_VERSION,
                                    "intercept": local.INTERCEPT, "coef": local.COEF}
    except ImportError as exc:
        out["local_calibration"] = f"unavailable: {exc}"
    return out


def set_name(data: Path) -> str:
    return (data if data.is_dir() else data.parent).name


def default_store() -> Path:
    from core.local_model import cache_dir

    return cache_dir() / "bench" / "audit_quality.db"


def clear_judgments(store, dataset: Path) -> None:
    """This set's judgments are re-made on every run (the model calls stay cached)."""
    with store.transaction() as db:
        db.execute(
            "DELETE FROM judgments WHERE run_id IN (SELECT id FROM runs"
            " WHERE json_extract(config, '$.dataset_path') = ?)",
            (str(dataset),),
        )


def novelty_auc(inputs: quality.AssayInputs, bootstrap: int, seed: int) -> dict[str, Any]:
    """The README's strongest reference line, recomputed on exactly these records."""
    from audit.judges.local import novelty

    rows = [json.loads(line) for line in inputs.dataset.read_text(encoding="utf-8").splitlines()]
    scores, truth, groups = [], [], []
    for row in rows:
        doc = row["source_ids"][0].split("#")[0]
        knowledge = (inputs.sources / f"{doc}.md").read_text(encoding="utf-8")
        scores.append(novelty(row["answer"], knowledge))
        truth.append(inputs.truth[row["id"]])
        groups.append(inputs.items[row["id"]])
    return quality.auc_with_interval(scores, truth, groups, bootstrap=bootstrap, seed=seed)


def fmt_ci(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("value") is None:
        return "   n/a         "
    ci = entry.get("ci")
    span = f"[{ci[0]:.2f},{ci[1]:.2f}]" if ci else "[  n/a   ]"
    return f"{entry['value']:.3f} {span}"


def print_table(results: dict[str, Any]) -> None:
    rows = [(name, r) for name, r in results["judges"].items()]
    rows += [("consensus", results["consensus"]), ("majority", results.get("majority")),
             ("dawid-skene", results.get("dawid_skene")),
             ("panel-mean", results["panel_mean_p_error"])]
    print(f"{'':12} {'precision':17} {'recall':17} {'F1':17} {'accuracy':17} "
          f"{'kappa':17} {'AUC':17} coverage  invalid-cit")
    for name, r in rows:
        if r is None:
            continue
        coverage = r.get("coverage", {}).get("value")
        invalid = r.get("invalid_citations", {}).get("value")
        print(f"{name:12} {fmt_ci(r['precision'])} {fmt_ci(r['recall'])} {fmt_ci(r['f1'])} "
              f"{fmt_ci(r['accuracy'])} {fmt_ci(r['kappa'])} {fmt_ci(r.get('auc'))} "
              f"{'' if coverage is None else f'{coverage:.2f}':9} "
              f"{'' if invalid is None else f'{invalid:.3f}'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True,
                        help="labelled set: HaluEval QA or FaithDial JSONL, or its folder")
    parser.add_argument("--n", type=int, default=400, help="records (half correct, half error)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--judges", type=Path, help="judges TOML (default: offline panel)")
    parser.add_argument("--split", choices=[quality.REPORT, quality.DEV], default=quality.REPORT)
    parser.add_argument("--pairing", choices=["both", "one"], default="both",
                        help="both answers of each item (default) or one answer per item")
    parser.add_argument("--evidence-k", type=int, default=0,
                        help="retrieved passages added to each record's own (default 0)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--store", type=Path, help="bench store (default: Assay cache)")
    parser.add_argument("--work", type=Path, help="folder for the converted set")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from audit.sample import SampleOptions, audit_sample
    from core.local_model import cache_dir
    from core.store import Store

    name = set_name(args.data)
    suffix = "" if args.split == quality.REPORT else f"_{args.split}"
    tag = f"{name}{suffix}_n{args.n}_s{args.seed}_{args.pairing}"
    work = args.work or cache_dir() / "bench" / "audit_quality" / tag
    out = args.out or RESULTS / f"audit_quality_{name}{suffix}.json"

    answers = quality.load_labelled(args.data)
    sample = quality.balanced_sample(answers, args.n, args.seed, split=args.split,
                                     pairing=args.pairing)
    if sample.note:
        print("note:", sample.note)
    inputs = quality.write_assay_inputs(sample.answers, work, seed=args.seed)
    store = Store(args.store or default_store())
    clear_judgments(store, inputs.dataset)
    options = SampleOptions(dataset=inputs.dataset, sources=inputs.sources,
                            n=len(inputs.truth), seed=args.seed, judges_file=args.judges,
                            evidence_k=args.evidence_k, concurrency=args.concurrency)
    started = time.monotonic()
    last = [0.0]

    def progress(done: int, total: int, *_: object) -> None:
        if time.monotonic() - last[0] > 30 or done == total:
            last[0] = time.monotonic()
            print(f"  {done}/{total} judgments ({time.monotonic() - started:.0f}s)", flush=True)

    outcome = audit_sample(store, options, progress)
    seconds = time.monotonic() - started
    results = quality.evaluate_run(outcome.judgments, inputs, bootstrap=args.bootstrap,
                                   seed=args.seed)
    results["reference_auc"] = REFERENCE_AUC
    results["novelty_auc_same_records"] = novelty_auc(inputs, args.bootstrap, args.seed)
    print_table(results)
    print(f"content-words-absent baseline on these records: "
          f"AUC {fmt_ci(results['novelty_auc_same_records'])} (README line: 0.85)")

    payload = {
        "benchmark": "audit_quality",
        "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
        "machine": common.machine(),
        "data": str(args.data),
        "design": {
            "split": args.split,
            "split_rule": "HaluEval: dev = even id number (= local judge calibration dev), "
                          "report = odd; other sets: parity of sha256(item id)",
            "pairing": args.pairing,
            "records": len(inputs.truth),
            "items": len(set(inputs.items.values())),
            "requested_n": args.n,
            "note": sample.note,
            "seed": args.seed,
            "evidence_k": args.evidence_k,
            "flag_rule": "a record is flagged when the judge's decided verdict is not "
                         "'supported'; abstained / invalid-citation / failed = not flagged",
            "intervals": "Wilson for proportions; F1, kappa, AUC: percentile bootstrap "
                         f"({args.bootstrap} replicates) resampling whole items",
            "score": "P(error) = confidence if error label else 1 - confidence; "
                     "undecided = 0.5; panel = mean over deciding judges",
        },
        "panel": [spec.model_dump(mode="json") for spec in _specs(args.judges)],
        "judges_file": args.judges.read_text(encoding="utf-8") if args.judges else None,
        "judge_code": judge_code(),
        "run_id": outcome.run_id,
        "seconds": round(seconds, 1),
        "new_judgments": outcome.new_judgments,
        "cached_judgments": sum(1 for j in outcome.judgments if j.cache_hit),
        "seconds_note": "wall time of this invocation; model calls answered from the bench "
                        "store's cache cost almost nothing (see cached_judgments)",
        "results": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    common.write_json(out, payload)
    print(f"saved {out}")
    return 0


def _specs(judges_file: Path | None):
    from audit.sample import panel_specs

    return panel_specs(judges_file)


if __name__ == "__main__":
    raise SystemExit(main())
