"""The checks that need no sources, together: claims, unverified specifics, conflicts.

``check_specifics`` runs them over a dataset's records; ``write_claims`` exports the claim
list (CSV or JSONL, by the file's suffix) with each claim's markers and conflicts, so that a
person or a judge with access to the web can check them. None of this counts as a judge's
error: a conflict proves that one of two answers is wrong, not which; an unverified specific
is only where to look first.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from audit.claims import Claim, ClaimList, NameBook, list_claims
from audit.consistency import Conflict, conflicts_by_record, find_conflicts
from core.errors import AssayError, ConfigError
from core.models import QARecord
from core.runs import AuditRun

EXPORT_FIELDS = ["record_id", "sentence", "kinds", "values", "entities", "named", "hedged",
                 "unverified", "conflicts"]


@dataclass
class SpecificsReport:
    """What the source-free checks found in ``n_records`` records."""

    n_records: int
    claims: ClaimList
    conflicts: list[Conflict]

    @property
    def unverified(self) -> list[Claim]:
        return self.claims.unverified

    def for_record(self, record_id: str) -> tuple[list[Claim], list[Conflict]]:
        """The record's claims and the conflicts it is part of."""
        claims = self.claims.per_record().get(record_id, [])
        return claims, conflicts_by_record(self.conflicts).get(record_id, [])

    def summary(self) -> dict:
        """The headline figures (JSON-ready)."""
        per_record = self.claims.per_record()
        flagged = {r for c in self.conflicts for r in (c.a.record_id, c.b.record_id)}
        return {
            "records": self.n_records,
            "claims": len(self.claims.claims),
            "claims_per_record": round(len(self.claims.claims) / self.n_records, 2)
            if self.n_records else 0.0,
            "records_with_claims": len(per_record),
            "unverified_specifics": len(self.unverified),
            "records_with_unverified_specifics": len({c.record_id for c in self.unverified}),
            "conflicts": len(self.conflicts),
            "records_in_conflicts": len(flagged),
        }


def check_specifics(records: Sequence[QARecord], *,
                    only: set[str] | None = None) -> SpecificsReport:
    """Claims, unverified specifics and cross-record conflicts of ``records`` (offline);
    with ``only``, conflicts are looked for just between those records and the others."""
    book = NameBook(records)
    claims = list_claims(records, book)
    return SpecificsReport(len(records), claims,
                           find_conflicts(records, claims, book, only=only))


def claim_rows(report: SpecificsReport) -> list[dict]:
    """One export row per claim; ``conflicts`` quotes the other record of each conflict."""
    by_record = conflicts_by_record(report.conflicts)
    rows = []
    for claim in report.claims.claims:
        row = claim.row()
        row["conflicts"] = [
            f"{theirs.record_id} says {theirs.value!r}: {theirs.claim.sentence}"
            for conflict in by_record.get(claim.record_id, [])
            for mine, theirs in [conflict.seen_from(claim.record_id)]
            if mine.claim.start == claim.start
        ]
        rows.append(row)
    return rows


def write_claims(report: SpecificsReport, path: str | Path) -> Path:
    """Write the claim list to ``path``: ``.csv`` (lists joined by " | ") or ``.jsonl``."""
    path = Path(path)
    rows = claim_rows(report)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise ConfigError(f"{path}: the claim list is written as .csv or .jsonl, "
                          f"got {suffix or 'no suffix'!r}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as out:
            if suffix == ".jsonl":
                for row in rows:
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
            else:
                writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
                writer.writeheader()
                for row in rows:
                    writer.writerow({k: " | ".join(v) if isinstance(v, list) else v
                                     for k, v in row.items()})
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the claim list ({exc.strerror or exc})") from exc
    return path


# -- the section of an audit run's report ---------------------------------------------------

NOT_ERRORS = ("Not judge errors and not counted in any rate: a conflict shows that at least one "
              "of two answers is wrong (not which); an unverified specific is where to check "
              "first. Export every claim with `audit claims DATASET --out claims.csv`.")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConflictRow(_Model):
    value: str
    sentence: str
    other_record: str
    other_value: str
    other_sentence: str


class RecordSpecifics(_Model):
    record_id: str
    unverified: list[str] = Field(description="'reason: sentence' per unverified specific")
    conflicts: list[ConflictRow]


class SpecificsSection(_Model):
    """Source-free checks of the whole dataset, shown for the run's sampled records."""

    available: bool
    note: str = Field(description="why the section is empty, or what it covers")
    dataset_records: int = 0
    dataset_claims: int = 0
    dataset_unverified: int = 0
    sample_conflicts: int = Field(0, description="conflicts between a sampled record and "
                                  "any record of the dataset")
    records: list[RecordSpecifics] = Field(
        default_factory=list, description="sampled records with a conflict or unverified specific")
    statement: str = NOT_ERRORS


def run_specifics(run: AuditRun, only: set[str] | None = None) -> SpecificsReport | None:
    """The checks over a run's dataset, read again as it was audited; None when the file is
    gone or has changed since the audit (the figures must be those of the data audited)."""
    try:
        dataset = run.load_dataset() if run.dataset_path else None
    except AssayError:
        return None
    if dataset is None or dataset.sha256 != run.dataset_sha256:
        return None
    records = dataset.records
    book, claims = _claims_of(dataset.sha256, records)
    return SpecificsReport(len(records), claims,
                           find_conflicts(records, claims, book, only=only))


_CLAIMS_CACHE: dict[str, tuple[NameBook, ClaimList]] = {}


def _claims_of(sha256: str, records: Sequence[QARecord]) -> tuple[NameBook, ClaimList]:
    """The name book and claims of one dataset content (by its hash), kept for the process:
    reports of several runs of the same data read them once. Four contents at most."""
    if sha256 not in _CLAIMS_CACHE:
        if len(_CLAIMS_CACHE) >= 4:
            _CLAIMS_CACHE.pop(next(iter(_CLAIMS_CACHE)))
        book = NameBook(records)
        _CLAIMS_CACHE[sha256] = (book, list_claims(records, book))
    return _CLAIMS_CACHE[sha256]


def sample_specifics(run: AuditRun, sampled_ids: Sequence[str]) -> SpecificsSection:
    """The section for a run: the whole audited dataset is checked; records shown are the
    sampled ones."""
    report = run_specifics(run, only=set(sampled_ids))
    if report is None:
        return SpecificsSection(available=False, note="the audited dataset file is gone or has "
                                "changed since the audit; run `audit claims` on it instead")
    rows = []
    for record_id in sampled_ids:
        claims, conflicts = report.for_record(record_id)
        unverified = [f"{reason}: {c.sentence}" for c in claims for reason in c.unverified]
        shown = []
        for conflict in conflicts:
            mine, theirs = conflict.seen_from(record_id)
            shown.append(ConflictRow(value=mine.value, sentence=mine.claim.sentence,
                                     other_record=theirs.record_id, other_value=theirs.value,
                                     other_sentence=theirs.claim.sentence))
        if unverified or shown:
            rows.append(RecordSpecifics(record_id=record_id, unverified=unverified, conflicts=shown))
    figures = report.summary()
    return SpecificsSection(
        available=True,
        note=f"claims of all {figures['records']} records of the dataset; conflicts and "
             "records shown: those of the sampled records",
        dataset_records=figures["records"], dataset_claims=figures["claims"],
        dataset_unverified=figures["unverified_specifics"],
        sample_conflicts=figures["conflicts"], records=rows,
    )


__all__ = ["EXPORT_FIELDS", "NOT_ERRORS", "SpecificsReport", "SpecificsSection", "check_specifics",
           "claim_rows", "run_specifics", "sample_specifics", "write_claims"]
