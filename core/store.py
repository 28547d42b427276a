"""The SQLite store: datasets, runs, judgments, model calls, gate decisions.

One database file (default ``.assay/assay.db``) in WAL mode. Migrations are numbered
functions recorded in ``_migrations``; each completed unit of work is committed at once,
so a killed process loses at most the unit in flight.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.errors import StoreError
from core.models import GateDecision, Judgment, canonical_json, utcnow

DEFAULT_DB = Path(".assay") / "assay.db"


def default_db_path() -> Path:
    """``$ASSAY_DB`` if set, else ``.assay/assay.db`` in the working directory."""
    return Path(os.environ.get("ASSAY_DB", DEFAULT_DB))


def _run_script(db: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the surrounding migration transaction; run one by one.
    for statement in filter(str.strip, script.split(";")):
        db.execute(statement)


def m001_initial(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE datasets (
            sha256 TEXT PRIMARY KEY, path TEXT NOT NULL, n_records INTEGER NOT NULL,
            created TEXT NOT NULL
        );
        CREATE TABLE runs (
            id TEXT PRIMARY KEY, kind TEXT NOT NULL, dataset_sha256 TEXT,
            config TEXT NOT NULL, status TEXT NOT NULL, created TEXT NOT NULL,
            updated TEXT NOT NULL
        );
        CREATE TABLE run_records (
            run_id TEXT NOT NULL, position INTEGER NOT NULL, record_id TEXT NOT NULL,
            record TEXT NOT NULL,
            PRIMARY KEY (run_id, position)
        );
        CREATE TABLE judgments (
            run_id TEXT NOT NULL, record_id TEXT NOT NULL, judge TEXT NOT NULL,
            status TEXT NOT NULL, body TEXT NOT NULL, created TEXT NOT NULL,
            PRIMARY KEY (run_id, record_id, judge)
        );
        CREATE TABLE model_calls (
            key TEXT PRIMARY KEY, provider TEXT NOT NULL, model TEXT NOT NULL,
            request TEXT NOT NULL, response TEXT NOT NULL,
            tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,
            latency_s REAL NOT NULL, cost_usd REAL NOT NULL, created TEXT NOT NULL
        );
        CREATE TABLE gate_decisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT, audit_run_id TEXT NOT NULL,
            dataset_sha256 TEXT NOT NULL, status TEXT NOT NULL, body TEXT NOT NULL,
            created TEXT NOT NULL
        );
        """
    )


def m002_batch_jobs(db: sqlite3.Connection) -> None:
    """Provider batch jobs (OpenAI Batch API, Gemini batch mode) and their items.

    ``key`` is a hash of the job's requests, written *before* submission (status
    ``submitting``) so a crash between submit and the job id's write can be found again.
    """
    _run_script(
        db,
        """
        CREATE TABLE batch_jobs (
            key TEXT PRIMARY KEY, job_id TEXT, run_id TEXT NOT NULL, judge TEXT NOT NULL,
            provider TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL,
            n_requests INTEGER NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL,
            raw TEXT NOT NULL
        );
        CREATE INDEX batch_jobs_run ON batch_jobs (run_id);
        CREATE TABLE batch_items (
            key TEXT NOT NULL, custom_id TEXT NOT NULL, position INTEGER NOT NULL,
            record_id TEXT NOT NULL, judge TEXT NOT NULL, attempt INTEGER NOT NULL,
            request TEXT NOT NULL, status TEXT NOT NULL,
            PRIMARY KEY (key, custom_id)
        )
        """,
    )


def m003_sample_inclusion(db: sqlite3.Connection) -> None:
    """Each record's probability of being drawn into a run's sample (active gold samples).

    A run without rows here drew a uniform (or proportionally stratified) sample.
    """
    _run_script(
        db,
        """
        CREATE TABLE sample_inclusion (
            run_id TEXT NOT NULL, record_id TEXT NOT NULL, probability REAL NOT NULL,
            PRIMARY KEY (run_id, record_id)
        )
        """,
    )


def m004_typed_runs(db: sqlite3.Connection) -> None:
    """Every stored run's configuration as its typed record (core.runs); batch items keep
    the evidence passages their request showed (ids and hashes), as judgments do."""
    from core.runs import upgrade_config

    rows = db.execute(
        "SELECT id, kind, dataset_sha256, config FROM runs"
        " WHERE kind IN ('audit', 'eval-audit', 'eval')"
    ).fetchall()
    for run_id, kind, sha256, config in rows:
        upgraded = upgrade_config(kind, json.loads(config), sha256)
        if upgraded is not None:
            db.execute("UPDATE runs SET config = ? WHERE id = ?",
                       (canonical_json(upgraded), run_id))
    db.execute("ALTER TABLE batch_items ADD COLUMN evidence TEXT NOT NULL DEFAULT '[]'")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    m001_initial, m002_batch_jobs, m003_sample_inclusion, m004_typed_runs,
]


class Store:
    """A thread-safe handle on the Assay database."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            folder = self.path.parent
            if folder.is_dir() and not os.access(folder, os.W_OK):
                raise StoreError(
                    f"cannot open the database {self.path}: the folder {folder} is read-only;"
                    " pass --db PATH (or set ASSAY_DB) to a writable location"
                ) from exc
            raise StoreError(f"cannot open the database {self.path}: {exc}") from exc

    # -- plumbing -----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One committed unit of work; any sqlite error becomes a StoreError."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write to the database {self.path}: {exc}") from exc

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                cursor = self._db.execute(sql, params)
                cursor.row_factory = sqlite3.Row
                return cursor.fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the database {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)"
        )
        done = {row[0] for row in self._db.execute("SELECT name FROM _migrations")}
        for migration in MIGRATIONS:
            if migration.__name__ in done:
                continue
            with self.transaction() as db:
                migration(db)
                db.execute(
                    "INSERT INTO _migrations VALUES (?, ?)", (migration.__name__, utcnow())
                )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def integrity_ok(self) -> bool:
        return self.query("PRAGMA integrity_check")[0][0] == "ok"

    # -- datasets and runs ----------------------------------------------------------------

    def record_dataset(self, sha256: str, path: str, n_records: int) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO datasets VALUES (?, ?, ?, ?)",
                (sha256, path, n_records, utcnow()),
            )

    def create_run(
        self, run_id: str, kind: str, dataset_sha256: str | None, config: dict[str, Any]
    ) -> bool:
        """Create the run unless it exists; returns True when it was created."""
        now = utcnow()
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, 'running', ?, ?)",
                (run_id, kind, dataset_sha256, canonical_json(config), now, now),
            )
            return cursor.rowcount == 1

    def set_run_config(self, run_id: str, config: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET config = ?, updated = ? WHERE id = ?",
                (canonical_json(config), utcnow(), run_id),
            )

    def set_run_status(self, run_id: str, status: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET status = ?, updated = ? WHERE id = ?", (status, utcnow(), run_id)
            )

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            return None
        run = dict(rows[0])
        run["config"] = json.loads(run["config"])
        return run

    def list_runs(self, kind: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM runs"
        params: tuple[str, ...] = ()
        if kind:
            sql, params = sql + " WHERE kind = ?", (kind,)
        rows = self.query(sql + " ORDER BY created DESC, id DESC", params)
        return [dict(row) | {"config": json.loads(row["config"])} for row in rows]

    def latest_run_id(self, kind: str = "audit") -> str | None:
        runs = self.list_runs(kind)
        return runs[0]["id"] if runs else None

    def set_run_records(self, run_id: str, records: list[dict[str, Any]]) -> None:
        """Store the sampled records (as dicts) of a run, once."""
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM run_records WHERE run_id = ?", (run_id,)).fetchone():
                return
            db.executemany(
                "INSERT INTO run_records VALUES (?, ?, ?, ?)",
                [(run_id, i, r["id"], canonical_json(r)) for i, r in enumerate(records)],
            )

    def run_records(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT record FROM run_records WHERE run_id = ? ORDER BY position", (run_id,)
        )
        return [json.loads(row["record"]) for row in rows]

    def run_record_ids(self, run_id: str) -> list[str]:
        rows = self.query(
            "SELECT record_id FROM run_records WHERE run_id = ? ORDER BY position", (run_id,)
        )
        return [row["record_id"] for row in rows]

    def set_inclusion(self, run_id: str, probabilities: dict[str, float]) -> None:
        """Store every record's inclusion probability for a run's sample, once."""
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM sample_inclusion WHERE run_id = ?", (run_id,)).fetchone():
                return
            db.executemany(
                "INSERT INTO sample_inclusion VALUES (?, ?, ?)",
                [(run_id, rid, float(p)) for rid, p in probabilities.items()],
            )

    def inclusion(self, run_id: str) -> dict[str, float]:
        """Record id → inclusion probability; empty for a uniform sample."""
        rows = self.query(
            "SELECT record_id, probability FROM sample_inclusion WHERE run_id = ?", (run_id,)
        )
        return {row["record_id"]: row["probability"] for row in rows}

    # -- judgments --------------------------------------------------------------------------

    def save_judgment(self, judgment: Judgment) -> None:
        """Insert or replace one judgment, committed at once."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO judgments VALUES (?, ?, ?, ?, ?, ?)",
                (
                    judgment.run_id,
                    judgment.record_id,
                    judgment.judge,
                    judgment.status.value,
                    judgment.model_dump_json(),
                    utcnow(),
                ),
            )

    def save_judgments(self, judgments: list[Judgment]) -> None:
        """Insert or replace several judgments in one transaction: all of them or none."""
        now = utcnow()
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO judgments VALUES (?, ?, ?, ?, ?, ?)",
                [(j.run_id, j.record_id, j.judge, j.status.value, j.model_dump_json(), now)
                 for j in judgments],
            )

    def judgments(self, run_id: str) -> list[Judgment]:
        rows = self.query(
            "SELECT body FROM judgments WHERE run_id = ? ORDER BY record_id, judge", (run_id,)
        )
        return [Judgment.model_validate_json(row["body"]) for row in rows]

    def done_keys(self, run_id: str) -> set[tuple[str, str]]:
        """(record_id, judge) pairs with a judgment that need not be repeated."""
        rows = self.query(
            "SELECT record_id, judge FROM judgments WHERE run_id = ? AND status != 'failed'",
            (run_id,),
        )
        return {(row["record_id"], row["judge"]) for row in rows}

    # -- model calls (the cache) -----------------------------------------------------------

    def cached_call(self, key: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM model_calls WHERE key = ?", (key,))
        if not rows:
            return None
        row = dict(rows[0])
        row["request"] = json.loads(row["request"])
        row["response"] = json.loads(row["response"])
        return row

    def save_call(
        self,
        key: str,
        *,
        provider: str,
        model: str,
        request: dict[str, Any],
        response: dict[str, Any],
        tokens_in: int,
        tokens_out: int,
        latency_s: float,
        cost_usd: float,
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO model_calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    provider,
                    model,
                    canonical_json(request),
                    canonical_json(response),
                    tokens_in,
                    tokens_out,
                    latency_s,
                    cost_usd,
                    utcnow(),
                ),
            )

    def count_calls(self) -> int:
        return self.query("SELECT COUNT(*) FROM model_calls")[0][0]

    # -- gate decisions --------------------------------------------------------------------

    def save_decision(self, decision: GateDecision) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO gate_decisions (audit_run_id, dataset_sha256, status, body, created)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    decision.audit_run_id,
                    decision.dataset_sha256,
                    decision.status,
                    decision.model_dump_json(),
                    decision.created,
                ),
            )

    def decisions(self, audit_run_id: str, *, dataset_sha256: str | None = None) -> list[GateDecision]:
        """Decisions made against a run, oldest first; with ``dataset_sha256`` only those about
        that dataset (a run's report shows the ones about its own dataset)."""
        sql = "SELECT body FROM gate_decisions WHERE audit_run_id = ?"
        params: tuple[str, ...] = (audit_run_id,)
        if dataset_sha256 is not None:
            sql, params = sql + " AND dataset_sha256 = ?", (*params, dataset_sha256)
        rows = self.query(sql + " ORDER BY id", params)
        return [GateDecision.model_validate_json(row["body"]) for row in rows]

    def decisions_for_dataset(self, dataset_sha256: str) -> list[GateDecision]:
        """Every decision about one dataset (by content hash), whichever run it was checked
        against, oldest first."""
        rows = self.query(
            "SELECT body FROM gate_decisions WHERE dataset_sha256 = ? ORDER BY id", (dataset_sha256,)
        )
        return [GateDecision.model_validate_json(row["body"]) for row in rows]

    # -- provider batch jobs ---------------------------------------------------------------

    def add_batch_job(
        self,
        key: str,
        *,
        run_id: str,
        judge: str,
        provider: str,
        model: str,
        items: list[dict[str, Any]],
    ) -> bool:
        """Record a job about to be submitted, with its items; False if ``key`` exists.

        Each item is ``{"custom_id", "record_id", "attempt", "request"}``, and ``evidence``:
        the passages the request shows (``EvidenceRef`` dicts).
        """
        now = utcnow()
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO batch_jobs VALUES (?, NULL, ?, ?, ?, ?, 'submitting', ?,"
                " ?, ?, '{}')",
                (key, run_id, judge, provider, model, len(items), now, now),
            )
            if cursor.rowcount == 0:
                return False
            db.executemany(
                "INSERT INTO batch_items VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                [
                    (key, item["custom_id"], i, item["record_id"], judge, item["attempt"],
                     canonical_json(item["request"]), canonical_json(item.get("evidence", [])))
                    for i, item in enumerate(items)
                ],
            )
            return True

    def update_batch_job(
        self, key: str, *, status: str, raw: dict[str, Any], job_id: str | None = None
    ) -> None:
        """Store the provider's latest job object (and its id, once known)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE batch_jobs SET status = ?, raw = ?, updated = ?,"
                " job_id = COALESCE(?, job_id) WHERE key = ?",
                (status, canonical_json(raw), utcnow(), job_id, key),
            )

    def batch_jobs(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Batch jobs (of one run, or all), oldest first, ``raw`` parsed."""
        sql = "SELECT * FROM batch_jobs"
        params: tuple[str, ...] = ()
        if run_id is not None:
            sql, params = sql + " WHERE run_id = ?", (run_id,)
        rows = self.query(sql + " ORDER BY created, rowid", params)
        return [dict(row) | {"raw": json.loads(row["raw"])} for row in rows]

    def batch_items(self, key: str) -> list[dict[str, Any]]:
        rows = self.query("SELECT * FROM batch_items WHERE key = ? ORDER BY position", (key,))
        return [dict(row) | {"request": json.loads(row["request"]),
                             "evidence": json.loads(row["evidence"])} for row in rows]

    def set_batch_item_status(self, key: str, custom_id: str, status: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE batch_items SET status = ? WHERE key = ? AND custom_id = ?",
                (status, key, custom_id),
            )
