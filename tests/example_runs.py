"""Real rules-judge runs of the bundled example, and its answer key as an import-labels file
(for the tests of `audit estimate`, `audit import-labels` and judges against gold labels)."""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.store import Store

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "advising"


@dataclass
class ExampleRuns:
    """A database holding a rules-judge run over every example record (the cheap run) and a
    uniform 40-record sample run by the same judge; ``truth`` is the example's answer key."""

    db: Path
    judges: Path
    cheap: str
    sample: str
    truth: dict[str, dict]

    def store(self, folder: Path) -> Store:
        """A private copy of the database for one test."""
        copy = folder / "runs.db"
        shutil.copy(self.db, copy)
        return Store(copy)


def build_example_runs(folder: Path) -> ExampleRuns:
    """Judge the example with the rules judge: every record, then a uniform sample of 40."""
    from audit.batch_run import RunAllOptions, run_all
    from audit.pipeline import SampleOptions, audit_sample

    judges = folder / "rules.toml"
    judges.write_text('[[judge]]\nname = "rules"\nprovider = "rules"\n', encoding="utf-8")
    store = Store(folder / "runs.db")
    cheap = asyncio.run(run_all(store, RunAllOptions(judges_file=judges))).run_id
    sample = audit_sample(store, SampleOptions(n=40, judges_file=judges)).run_id
    store.close()
    truth = {row["id"]: row for row in map(json.loads, (EXAMPLE / "truth.jsonl").read_text(
        encoding="utf-8").splitlines())}
    return ExampleRuns(folder / "runs.db", judges, cheap, sample, truth)


def write_truth_labels(path: Path, truth: dict[str, dict], ids) -> Path:
    """The answer key for ``ids`` as an import-labels file (CSV or JSONL by suffix)."""
    rows = [truth[rid] for rid in ids]
    if path.suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "label", "severity", "note"])
            writer.writerows([r["id"], r["label"], r["severity"] or "", r["note"]] for r in rows)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
