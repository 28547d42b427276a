"""Does the whole-dataset PPI++ interval (`audit estimate`) keep its promise? A simulation on
real panel predictions and known truth.

    .venv/bin/python bench/ppi_simulation.py [--sets example halueval faithdial] [--reps 2000]

1. Collect (once per set, cached): the offline panel (`audit run --all`, a real run in the
   bench store) judges every record of the bundled example (231 records, its answer key as
   truth) and of the public labelled sets under ../shared/data, turned into a dataset + sources
   as bench/audit_quality.py does (HaluEval and FaithDial reporting slices, 290 and 222
   records). Per record the panel's mean P(error) and consensus label, with the truth, go to
   bench/results/ppi_panel_<set>.json; later invocations read that file (--recollect redoes it).
2. Simulate (numpy, seconds): for n in --sizes, --reps times, draw a gold sample (truth as the
   gold label), compute the PPI++ interval of the dataset's error rate (audit.stats.ppi_rate)
   and the gold-only Wilson interval (finite-population corrected, as `audit sample` reports),
   for: uniform samples with P(error) and with the consensus label as the prediction; an active
   sample (audit.sampling's design: sqrt(p(1-p)) with a --floor share uniform, Pareto πps); and
   a useless cheap judge (fresh random scores each repetition), uniform and active. Reported:
   coverage of the true rate by the nominal 95% interval, median width, the ratio of median
   widths to the gold-only Wilson interval of a uniform sample of the same size, mean λ, bias.

Writes bench/results/ppi_simulation.json (machine, command, every figure).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audit.stats import (  # noqa: E402
    active_inclusion_probabilities,
    error_rate,
    pareto_sample,
    ppi_rate,
    uncertainty,
)
from bench import common  # noqa: E402

RESULTS = ROOT / "bench" / "results"
EXAMPLE = ROOT / "examples" / "advising"
SHARED = ROOT.parent / "shared" / "data"
SETS = ("example", "halueval", "faithdial")


# -- 1. collecting the panel's predictions -------------------------------------------------


def set_inputs(name: str, work: Path) -> tuple[Path, Path, dict[str, bool], list[str]]:
    """(dataset, sources, truth, extra `audit run` args) for a set."""
    if name == "example":
        truth = {}
        for line in (EXAMPLE / "truth.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            truth[row["id"]] = row["label"] == "error"
        return EXAMPLE / "dataset.jsonl", EXAMPLE / "sources", truth, []
    from audit import quality

    answers = quality.load_labelled(SHARED / name)
    sample = quality.balanced_sample(answers, 400, 0, split=quality.REPORT, pairing="both")
    inputs = quality.write_assay_inputs(sample.answers, work / name, seed=0)
    # Each record cites its own passage; no retrieved extras (as bench/audit_quality.py).
    return inputs.dataset, inputs.sources, inputs.truth, ["--k", "0"]


def collect(name: str, work: Path) -> dict[str, Any]:
    """Run (or resume) `audit run --all` with the offline panel; the per-record predictions."""
    from audit.predictions import panel_predictions
    from core.datasets import load_dataset
    from core.runs import list_runs
    from core.store import Store

    dataset, sources, truth, extra = set_inputs(name, work)
    db = work / "ppi.db"
    command = [str(ROOT / ".venv" / "bin" / "audit"), "run", "--all", "--db", str(db),
               "--dataset", str(dataset), "--sources", str(sources), *extra, "--concurrency", "2"]
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    started = time.monotonic()
    done = subprocess.run(command, env=env, cwd=ROOT)
    seconds = time.monotonic() - started
    if done.returncode not in (0, 4):
        raise SystemExit(f"`{' '.join(command)}` failed with exit {done.returncode}")
    store = Store(db)
    sha = load_dataset(dataset).sha256
    run = next(r for r in list_runs(store)
               if r.audit.covers_every_record and r.audit.dataset_sha256 == sha)
    records = store.run_records(run.id)
    ids = [r["id"] for r in records]
    judgments = store.judgments(run.id)
    panel = run.audit.panel
    p_error = panel_predictions(judgments, ids, panel).inclusive
    consensus = panel_predictions(judgments, ids, panel, kind="consensus").inclusive
    return {
        "set": name,
        "audit_command": " ".join(["audit", *command[1:]]),
        "audit_exit_code": done.returncode,
        "seconds_this_invocation": round(seconds, 1),
        "run_id": run.id,
        "panel": panel,
        "records": [{"id": rid, "topic": r.get("topic"), "truth": truth[rid],
                     "p_error": round(float(p), 6), "consensus": float(c)}
                    for rid, r, p, c in zip(ids, records, p_error, consensus, strict=True)],
    }


def panel_file(name: str) -> Path:
    return RESULTS / f"ppi_panel_{name}.json"


def load_or_collect(name: str, work: Path, recollect: bool) -> dict[str, Any]:
    path = panel_file(name)
    if path.exists() and not recollect:
        return json.loads(path.read_text(encoding="utf-8"))
    data = collect(name, work)
    common.save(f"ppi_panel_{name}", data, path=path)
    return json.loads(path.read_text(encoding="utf-8"))


# -- 2. simulating -------------------------------------------------------------------------


def simulate(data: dict[str, Any], n: int, reps: int, floor: float, seed: int) -> dict[str, Any]:
    truth = np.array([r["truth"] for r in data["records"]], dtype=float)
    p_error = np.array([r["p_error"] for r in data["records"]])
    consensus = np.array([r["consensus"] for r in data["records"]])
    size, target = truth.size, float(truth.mean())
    active = active_inclusion_probabilities(uncertainty(p_error), n, floor)
    rng = np.random.default_rng(seed)
    tally: dict[str, dict[str, list[float]]] = {}

    def record(method: str, low: float, high: float, estimate: float, lam: float | None) -> None:
        row = tally.setdefault(method, {"hit": [], "width": [], "estimate": [], "lam": []})
        row["hit"].append(float(low <= target <= high))
        row["width"].append(high - low)
        row["estimate"].append(estimate)
        if lam is not None:
            row["lam"].append(lam)

    for _ in range(reps):
        drawn = rng.choice(size, n, replace=False)
        gold = np.full(size, np.nan)
        gold[drawn] = truth[drawn]
        wilson = error_rate(int(truth[drawn].sum()), n, population=size)
        assert wilson.wilson is not None and wilson.rate is not None
        record("gold only, Wilson", wilson.wilson.low, wilson.wilson.high, wilson.rate, None)
        random_scores = rng.random(size)
        for method, predicted in (("PPI++ P(error)", p_error), ("PPI++ consensus", consensus),
                                  ("PPI++ random scores", random_scores)):
            result = ppi_rate(predicted, gold)
            record(method, result.interval.low, result.interval.high, result.estimate, result.lam)
        for method, predicted, inclusion in (
            ("PPI++ P(error), active", p_error, active),
            ("PPI++ random scores, active",
             random_scores, active_inclusion_probabilities(uncertainty(random_scores), n, floor)),
        ):
            chosen = pareto_sample(inclusion, n, seed=int(rng.integers(2**31)))
            weighted = np.full(size, np.nan)
            weighted[chosen] = truth[chosen]
            result = ppi_rate(predicted, weighted, inclusion=inclusion)
            record(method, result.interval.low, result.interval.high, result.estimate, result.lam)

    wilson_width = float(np.median(tally["gold only, Wilson"]["width"]))
    return {
        "n": n,
        "population": size,
        "true_rate": target,
        "methods": {
            method: {
                "coverage": float(np.mean(row["hit"])),
                "median_width": float(np.median(row["width"])),
                "width_ratio_vs_wilson": float(np.median(row["width"]) / wilson_width),
                "bias": float(np.mean(row["estimate"]) - target),
                "mean_lambda": float(np.mean(row["lam"])) if row["lam"] else None,
            }
            for method, row in tally.items()
        },
        "active_inclusion_range": [float(active.min()), float(active.max())],
    }


def panel_quality(data: dict[str, Any]) -> dict[str, float]:
    truth = np.array([r["truth"] for r in data["records"]], dtype=float)
    p = np.array([r["p_error"] for r in data["records"]])
    c = np.array([r["consensus"] for r in data["records"]])
    return {"records": int(truth.size), "true_rate": float(truth.mean()),
            "panel_mean_p_error": float(p.mean()), "consensus_rate": float((c == 1).mean()),
            "correlation_p_error_truth": float(np.corrcoef(p, truth)[0, 1]),
            "correlation_consensus_truth": float(np.corrcoef(c, truth)[0, 1])}


def print_table(results: dict[str, Any]) -> None:
    print(f"{'set':10} {'n':>4} {'method':30} {'coverage':>8} {'median width':>12} "
          f"{'vs Wilson':>9} {'λ':>5} {'bias':>7}")
    for name, entry in results.items():
        for sim in entry["simulations"]:
            for method, row in sim["methods"].items():
                lam = "" if row["mean_lambda"] is None else f"{row['mean_lambda']:.2f}"
                print(f"{name:10} {sim['n']:>4} {method:30} {row['coverage']:8.3f} "
                      f"{row['median_width']:12.3f} {row['width_ratio_vs_wilson']:9.2f} "
                      f"{lam:>5} {row['bias']:+7.4f}")


def main(argv: list[str] | None = None) -> int:
    from core.local_model import cache_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[40, 100])
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--floor", type=float, default=0.5,
                        help="active samples: share spread uniformly (audit sample --floor)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None,
                        help="bench store and converted sets (default: the Assay cache)")
    parser.add_argument("--recollect", action="store_true",
                        help="run the panel again instead of reading ppi_panel_<set>.json")
    parser.add_argument("--out", type=Path, default=RESULTS / "ppi_simulation.json")
    args = parser.parse_args(argv)
    work = args.work or cache_dir() / "bench" / "ppi"
    work.mkdir(parents=True, exist_ok=True)

    results: dict[str, Any] = {}
    started = time.monotonic()
    for name in args.sets:
        data = load_or_collect(name, work, args.recollect)
        results[name] = {
            "panel_file": str(panel_file(name).relative_to(ROOT)),
            "run_id": data["run_id"],
            "panel_quality": panel_quality(data),
            "simulations": [simulate(data, n, args.reps, args.floor, args.seed + n)
                            for n in args.sizes],
        }
    print_table(results)
    design = {"reps": args.reps, "sizes": args.sizes, "floor": args.floor, "seed": args.seed,
              "confidence": 0.95, "seconds": round(time.monotonic() - started, 1),
              "uniform": "simple random sample without replacement (numpy, seeded)",
              "active": "audit.sampling design: inclusion ∝ sqrt(p(1-p)) of the panel's P(error),"
                        " a --floor share uniform, Pareto πps draw; estimate weighted by 1/π",
              "useless judge": "fresh uniform random scores each repetition",
              "estimator": "audit.stats.ppi_rate: λ the unweighted slope of gold on prediction "
                           "over the gold records (clipped to [0, 1]); Rosén's finite-population "
                           "variance; Student's t plus Hall's skewness term",
              "width ratio": "median PPI++ width / median gold-only Wilson width (uniform "
                             "sample of the same n, finite-population corrected)"}
    path = common.save("ppi_simulation", {"design": design, "results": results}, path=args.out)
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
