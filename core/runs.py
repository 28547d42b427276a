"""What a stored run is: one typed record per kind, and the one way to open a run.

An audit run (kind ``audit``, or ``eval-audit`` for a model's answers audited by
``finetune eval``) stores an ``AuditRun``: everything that decided what the judges saw (the
dataset and how it was read, the sources and how they were searched, the panel, the sample)
and what a later command needs to read the run back exactly as it was audited. Each judgment
stores the ids and hashes of the evidence passages its judge was shown (``Judgment.evidence``).
An eval run (kind ``eval``) stores an ``EvalRun``.

``open_run`` opens a run by id, by unique prefix, or the latest of its kind; nothing else reads
a stored run's configuration. Runs stored before this record (database schema 3) are converted
once by ``upgrade_config`` (core.store's migration ``m004_typed_runs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    computed_field,
    model_validator,
)

from core.errors import ConfigError
from core.models import JudgeSpec, content_hash

if TYPE_CHECKING:
    from core.datasets import Dataset
    from core.store import Store

RECORD_VERSION = 4  # the database schema that introduced the typed record; 3: upgraded
AuditKind = Literal["audit", "eval-audit"]
RunKind = Literal["audit", "eval-audit", "eval"]
Retrieval = Literal["bm25", "hybrid"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetFields(_Record):
    """The dataset's field names (``--question-field``, ``--answer-field``, ``--id-field``)."""

    question: str = "question"
    answer: str = "answer"
    id: str = "id"


class ActiveSampling(_Record):
    """How an active gold sample was drawn (``audit sample --active``)."""

    design: Literal["active"] = "active"
    cheap_run: str
    floor: float
    score: str = "sqrt(p (1 - p)) of the cheap panel's mean P(error)"


class AuditRun(_Record):
    """One audit run: what was judged, against what, by whom, and how it was drawn."""

    kind: AuditKind = "audit"
    record_version: int = RECORD_VERSION
    dataset_path: str
    dataset_sha256: str
    fields: DatasetFields = DatasetFields()
    skip_invalid: bool = False
    sources_path: str | None = None  # None: closed-book, or stored before it was recorded
    sources_sha256: str
    closed_book: bool = False  # no sources: no retrieval, judges told so (audit.run_sources)
    sources_complete: bool = True  # closed world: not_in_sources counts as an error
    retrieval: Retrieval | None = "bm25"  # None: closed-book, or not recorded (version 3)
    evidence_k: int = 4
    judges: list[JudgeSpec]
    n: int
    seed: int = 0
    stratify: str | None = None
    population: int = 0
    until_margin: float | None = None
    confidence: float = 0.95
    scope: Literal["sample", "all"] = "sample"
    sampling: ActiveSampling | None = None
    answers_of: str | None = None  # eval-audit: the model whose answers were audited

    @model_validator(mode="before")
    @classmethod
    def _drop_computed(cls, data: Any) -> Any:
        """A stored record carries ``judges_sha256``, which is computed, not read."""
        if isinstance(data, dict) and "judges_sha256" in data:
            data = {k: v for k, v in data.items() if k != "judges_sha256"}
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def judges_sha256(self) -> str:
        return content_hash([spec.model_dump(mode="json") for spec in self.judges])

    @property
    def closed_world(self) -> bool:
        """Whether ``not_in_sources`` is an error (sources declared complete)."""
        return not self.closed_book and self.sources_complete

    @property
    def covers_every_record(self) -> bool:
        return self.scope == "all" or (bool(self.population) and self.n == self.population)

    @property
    def panel(self) -> list[str]:
        """The configured judges' names (reviewers and imported labels are not in it)."""
        return [spec.name for spec in self.judges]

    @property
    def run_id(self) -> str:
        """A hash of what defines the audit, so the same command resumes the same run."""
        key: dict[str, Any] = {
            "dataset": self.dataset_sha256, "sources": self.sources_sha256, "n": self.n,
            "seed": self.seed, "stratify": self.stratify, "k": self.evidence_k,
            "judges": [spec.model_dump(mode="json") for spec in self.judges],
            "until_margin": self.until_margin,
        }
        # Only when set, so the ids of runs stored before each choice existed stay the same.
        if self.closed_book:
            key["closed_book"] = True
        if not self.closed_world:
            key["open_world"] = True
        if self.retrieval == "hybrid":
            key["retrieval"] = "hybrid"
        run_id = "audit-" + content_hash(key)[:12]
        if self.sampling is not None:
            design = self.sampling.model_dump(mode="json")
            run_id = "audit-" + content_hash({"plan": run_id, "design": design})[:12]
        if self.kind == "eval-audit":
            run_id = "evalaudit-" + run_id.removeprefix("audit-")
        return run_id

    def load_dataset(self, path: str | Path | None = None, keep_rows: bool = False) -> Dataset:
        """The audited dataset (or ``path``) read as it was audited: same fields, same
        treatment of invalid lines."""
        from core.datasets import load_dataset

        return load_dataset(path or self.dataset_path, question_field=self.fields.question,
                            answer_field=self.fields.answer, id_field=self.fields.id,
                            skip_invalid=self.skip_invalid, keep_rows=keep_rows)


class EvalInputs(BaseModel):
    """Everything that defines one ``finetune eval`` (its run id is their hash)."""

    model_config = ConfigDict(extra="forbid")

    version: str
    model: str
    base_config_sha256: str
    adapter: str
    adapter_sha256: str
    run_name: str
    trained_on: str
    gate: dict[str, Any]
    prompts: str
    prompts_sha256: str
    template: dict[str, str]
    max_new_tokens: int
    judges: list[JudgeSpec]
    sources: str
    evidence_k: int
    train: str | None
    audit_run_id: str | None
    confidence: float
    seed: int
    preference: dict[str, str | None]

    @property
    def run_id(self) -> str:
        return "eval-" + content_hash(self.model_dump(mode="json"))[:12]


class EvalRun(_Record):
    """One ``finetune eval``: its inputs and the result document its reports render."""

    inputs: EvalInputs
    result: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class StoredRun:
    """A run as stored: its row, its record typed by kind, and the ids of its sample in the
    order drawn (the records themselves: ``Store.run_records``)."""

    id: str
    kind: str
    status: str
    created: str
    updated: str
    record: AuditRun | EvalRun
    sample_ids: tuple[str, ...] = ()

    @property
    def audit(self) -> AuditRun:
        if not isinstance(self.record, AuditRun):
            raise ConfigError(f"{self.id} is an {self.kind} run, not an audit run")
        return self.record

    @property
    def eval(self) -> EvalRun:
        if not isinstance(self.record, EvalRun):
            raise ConfigError(f"{self.id} is an {self.kind} run, not an eval run")
        return self.record


def _stored(store: Store, row: dict[str, Any]) -> StoredRun:
    model = EvalRun if row["kind"] == "eval" else AuditRun
    try:
        record = model.model_validate(row["config"])
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "the record"
        raise ConfigError(f"run {row['id']} cannot be read by this version ({where}: "
                          f"{problem['msg']}); audit the data again") from None
    return StoredRun(id=row["id"], kind=row["kind"], status=row["status"],
                     created=row["created"], updated=row["updated"], record=record,
                     sample_ids=tuple(store.run_record_ids(row["id"])))


def save_run(store: Store, record: AuditRun | EvalRun, run_id: str | None = None) -> bool:
    """Store a new run; True when it was created. An existing run is left as it is, except
    one stored before the typed record (``record_version`` 3): the same command run again
    completes its record (field mapping, ``--skip-invalid``, retrieval mode)."""
    if isinstance(record, AuditRun):
        run_id = run_id or record.run_id
        config = record.model_dump(mode="json")
        if store.create_run(run_id, record.kind, record.dataset_sha256, config):
            return True
        held = find_run(store, run_id)
        if held is not None and held.audit.record_version < RECORD_VERSION:
            store.set_run_config(run_id, config)
        return False
    return store.create_run(run_id or record.inputs.run_id, "eval",
                            record.inputs.prompts_sha256, record.model_dump(mode="json"))


def find_run(store: Store, run_id: str) -> StoredRun | None:
    """The run with exactly this id, or None."""
    row = store.get_run(run_id)
    return None if row is None else _stored(store, row)


def list_runs(store: Store, kind: RunKind = "audit") -> list[StoredRun]:
    """The runs of ``kind``, newest first."""
    return [_stored(store, row) for row in store.list_runs(kind)]


def open_run(store: Store, run_id: str | None, kind: RunKind = "audit") -> StoredRun:
    """The run of ``kind`` that ``run_id`` names (an id or a unique prefix of one), or the
    latest run of ``kind`` when it is None. One clear line when there is none, when the id
    names a run of another kind, or when a prefix fits several runs (listed)."""
    hint = "`finetune eval`" if kind == "eval" else "`audit sample`"
    if run_id is None:
        latest = store.latest_run_id(kind)
        if latest is None:
            raise ConfigError(f"no {kind} run in {store.path}; run {hint} first")
        run_id = latest
    run = find_run(store, run_id)
    if run is None:
        matches = [r["id"] for r in store.list_runs(kind) if r["id"].startswith(run_id)]
        if len(matches) > 1:
            shown = ", ".join(matches[:6]) + (", …" if len(matches) > 6 else "")
            raise ConfigError(f"{run_id!r} matches {len(matches)} runs ({shown}); "
                              "give more characters")
        if not matches:
            raise ConfigError(f"no run {run_id!r} in {store.path}; see `audit runs` for the "
                              "run ids")
        run = find_run(store, matches[0])
        assert run is not None
    if run.kind != kind:
        raise ConfigError(f"{run.id} is an {run.kind} run, not an {kind} run; see "
                          "`audit runs` for the run ids")
    return run


# -- runs stored before the typed record ---------------------------------------------------


def upgrade_config(kind: str, config: dict[str, Any], dataset_sha256: str | None
                   ) -> dict[str, Any] | None:
    """A run's configuration as database schema 3 stored it, as this record stores it; None
    when it holds too little to be read (it is then left as it was, and ``open_run`` says so).

    Schema 3 did not record the field mapping, ``--skip-invalid`` or the retrieval mode: the
    first two read as their defaults (the runs whose mapping differed could not be re-read
    by gate and filter then either), the retrieval mode as not recorded (None).
    """
    try:
        if kind == "eval":
            return EvalRun.model_validate(config).model_dump(mode="json")
        return _upgrade_audit(kind, config, dataset_sha256)
    except (ValidationError, KeyError):
        return None


def _upgrade_audit(kind: str, old: dict[str, Any], dataset_sha256: str | None) -> dict[str, Any]:
    sampling = old.get("sampling")
    upgraded = {
        "kind": kind,
        "record_version": 3,
        "dataset_path": old.get("dataset_path") or "",
        "dataset_sha256": old.get("dataset_sha256") or dataset_sha256,
        "sources_path": old.get("sources_path"),
        "sources_sha256": old.get("sources_sha256") or "",
        "closed_book": bool(old.get("closed_book", False)),
        "sources_complete": bool(old.get("sources_complete", True)),
        "retrieval": None,
        "evidence_k": old.get("evidence_k", 4),
        "judges": old.get("judges", []),
        "n": old.get("n", 0),
        "seed": old.get("seed") or 0,
        "stratify": old.get("stratify"),
        "population": old.get("population") or 0,
        "until_margin": old.get("until_margin"),
        "confidence": old.get("confidence", 0.95),
        "scope": old.get("scope", "sample"),
        "sampling": sampling if sampling and sampling.get("design") == "active" else None,
        "answers_of": old.get("model"),
    }
    return AuditRun.model_validate(upgraded).model_dump(mode="json")
