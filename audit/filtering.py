"""``audit filter``: the dataset minus the records its audit judged erroneous by consensus.

What to drop is explicit: ``errors`` (the default), ``unverifiable`` (records whose consensus is
that the evidence neither supports nor contradicts them, in an open-world run), or both.
Disputed and undecided records are kept and listed.

The output holds the file's own rows (JSON Lines) with its field names: a mapped
``--question-field prompt`` stays ``prompt``, a ShareGPT conversation stays a conversation. A
conversation with a dropped answer is left out whole (its later turns build on that answer);
its other answers are listed as left out with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ConfigError, DatasetError
from core.runs import open_run
from core.store import Store

DROP_CHOICES = {"errors": "error", "unverifiable": "unverifiable"}  # option → consensus state


@dataclass
class FilterResult:
    out: Path
    kept: int
    removed: list[str]  # record ids, in dataset order
    disputed: list[str]  # kept, but worth a look
    unverifiable_kept: list[str] = field(default_factory=list)  # kept unverifiable records
    dropped: tuple[str, ...] = ("errors",)
    unjudged: int = 0  # records of the dataset the run never judged (kept, as they are)
    with_removed: list[str] = field(default_factory=list)  # in a conversation with a removed one
    rows: int = 0  # rows of the file written (lines; a conversation is one)


def filter_dataset(store: Store, run_id: str | None, out: Path, dataset_path=None,
                   drop: tuple[str, ...] = ("errors",)) -> FilterResult:
    """Write the audited dataset without the records whose consensus ``drop`` names
    (``errors`` and/or ``unverifiable``); refuses a changed dataset."""
    unknown = [d for d in drop if d not in DROP_CHOICES]
    if unknown or not drop:
        raise ConfigError(f"drop should be one or more of {', '.join(DROP_CHOICES)}, got "
                          f"{', '.join(unknown) or 'nothing'}")
    states_dropped = {DROP_CHOICES[d] for d in drop}
    from audit.summary import summarize
    from core.datasets import write_jsonl

    stored = open_run(store, run_id)
    run = stored.audit
    # the run's field mapping and --skip-invalid; the rows to write, as they are in the file
    dataset = run.load_dataset(dataset_path, keep_rows=True)
    if dataset.sha256 != run.dataset_sha256:
        raise DatasetError(
            f"{dataset.path}: the dataset changed after audit {stored.id} (sha256"
            f" {dataset.sha256[:12]} now, {run.dataset_sha256[:12]} audited); re-run the audit"
        )
    judgments = store.judgments(stored.id)
    judged = {j.record_id for j in judgments}
    rows = [{"id": r["id"], "topic": r.get("topic")} for r in store.run_records(stored.id)
            if r["id"] in judged]
    states = summarize(judgments, rows, population=len(dataset.records), bootstrap=0,
                       closed_world=run.closed_world).records
    removed = [r.id for r in dataset.records if states.get(r.id) in states_dropped]
    disputed = [r.id for r in dataset.records if states.get(r.id) == "disputed"]
    unverifiable = [r.id for r in dataset.records if states.get(r.id) == "unverifiable"
                    and "unverifiable" not in states_dropped]
    gone = set(removed)
    rows, with_removed = [], []
    for data, ids in dataset.rows:
        if gone.isdisjoint(ids):
            rows.append(data)
        else:
            with_removed += [i for i in ids if i not in gone]
    write_jsonl(rows, out)
    left = set(with_removed)
    kept = [r.id for r in dataset.records if r.id not in gone and r.id not in left]
    unjudged = sum(1 for i in kept if i not in states)
    return FilterResult(Path(out), len(kept), removed, [i for i in disputed if i not in left],
                        [i for i in unverifiable if i not in left], tuple(drop), unjudged,
                        with_removed, len(rows))
