"""``audit filter``: the dataset minus the records its audit judged erroneous by consensus."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audit.gatekeeper import resolve_audit_run
from core.errors import DatasetError
from core.store import Store


@dataclass
class FilterResult:
    out: Path
    kept: int
    removed: list[str]  # record ids, in dataset order
    disputed: list[str]  # kept, but worth a look


def filter_dataset(store: Store, run_id: str | None, out: Path, dataset_path=None) -> FilterResult:
    """Write the audited dataset without its consensus errors; refuses a changed dataset."""
    from audit.summary import summarize
    from core.datasets import load_dataset, write_jsonl

    run = resolve_audit_run(store, run_id)
    config = run["config"]
    dataset = load_dataset(dataset_path or config["dataset_path"])
    if dataset.sha256 != config["dataset_sha256"]:
        raise DatasetError(
            f"{dataset.path}: the dataset changed after audit {run['id']} (sha256"
            f" {dataset.sha256[:12]} now, {config['dataset_sha256'][:12]} audited); re-run the audit"
        )
    judgments = store.judgments(run["id"])
    judged = {j.record_id for j in judgments}
    rows = [{"id": r["id"], "topic": r.get("topic")} for r in store.run_records(run["id"])
            if r["id"] in judged]
    states = summarize(judgments, rows, population=len(dataset.records), bootstrap=0).records
    removed = [r.id for r in dataset.records if states.get(r.id) == "error"]
    disputed = [r.id for r in dataset.records if states.get(r.id) == "disputed"]
    kept = [r for r in dataset.records if states.get(r.id) != "error"]
    write_jsonl(kept, out)
    return FilterResult(Path(out), len(kept), removed, disputed)
