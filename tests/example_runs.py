"""Real rules-judge runs of the bundled example, and its answer key as an import-labels file
(for the tests of `audit estimate`, `audit import-labels` and judges against gold labels)."""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.runs import AuditRun, save_run
from core.store import Store

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "advising"


def save_audit_run(store: Store, run_id: str, dataset_sha256: str, **fields) -> AuditRun:
    """Store an audit run record as ``run_id`` (a made-up run: defaults for what the test
    does not set)."""
    defaults = {"dataset_path": "d.jsonl", "sources_sha256": "s", "judges": [], "n": 0}
    record = AuditRun.model_validate(defaults | fields | {"dataset_sha256": dataset_sha256})
    save_run(store, record, run_id)
    return record


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
    from audit.run_all import RunAllOptions, run_all
    from audit.sample import SampleOptions, audit_sample

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


def store_half_wrong_run(folder: Path, records) -> tuple[Store, object]:
    """A database (folder/assay.db) with one audit run, "audit-1", of ``records`` (written to
    folder/data.jsonl): records 0, 2, 4, ... contradicted and the others supported by both
    judges, rules and local. Returns the open store and the dataset as loaded."""
    from core.datasets import load_dataset, write_jsonl
    from core.models import Judgment, JudgmentStatus, Label, Verdict

    data = write_jsonl(records, folder / "data.jsonl")
    dataset = load_dataset(data)
    store = Store(folder / "assay.db")
    save_audit_run(store, "audit-1", dataset.sha256, dataset_path=str(data),
                   judges=[{"name": "rules", "provider": "rules"},
                           {"name": "local", "provider": "local"}])
    store.set_run_records("audit-1", [r.model_dump(mode="json") for r in dataset.records])
    for i, record in enumerate(dataset.records):
        label = Label.contradicted if i % 2 == 0 else Label.supported
        for judge in ("rules", "local"):
            store.save_judgment(Judgment(run_id="audit-1", record_id=record.id, judge=judge,
                                         status=JudgmentStatus.ok,
                                         verdict=Verdict(label=label, confidence=0.9)))
    return store, dataset
