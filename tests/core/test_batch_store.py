"""The m002_batch_jobs migration and the Store's batch-job methods (real SQLite)."""

from __future__ import annotations

import sqlite3

from core.store import Store


def items(n: int) -> list[dict]:
    return [{"custom_id": f"a1-{i}", "record_id": f"rec-{i}", "attempt": 1,
             "request": {"messages": [{"role": "user", "content": f"q{i}"}]}} for i in range(n)]


def test_migration_upgrades_an_existing_m001_database(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)")
    from core.store import m001_initial

    m001_initial(db)
    db.execute("INSERT INTO _migrations VALUES ('m001_initial', 'x')")
    db.execute("INSERT INTO runs VALUES ('r1', 'audit', NULL, '{}', 'complete', 'c', 'u')")
    db.commit()
    db.close()

    store = Store(path)
    names = [row[0] for row in store.query("SELECT name FROM _migrations ORDER BY name")]
    assert names == ["m001_initial", "m002_batch_jobs", "m003_sample_inclusion",
                     "m004_typed_runs"]
    assert store.get_run("r1")["status"] == "complete"  # existing data untouched
    assert store.batch_jobs() == []


def test_job_lifecycle_survives_reopening(tmp_path):
    path = tmp_path / "a.db"
    store = Store(path)
    assert store.add_batch_job("k1", run_id="r1", judge="gpt", provider="openai",
                               model="gpt-4.1-mini", items=items(3))
    assert not store.add_batch_job("k1", run_id="r1", judge="gpt", provider="openai",
                                   model="gpt-4.1-mini", items=items(3))
    job = store.batch_jobs("r1")[0]
    assert (job["status"], job["job_id"], job["n_requests"], job["raw"]) == ("submitting", None, 3, {})

    store.update_batch_job("k1", status="running", raw={"id": "batch_1", "status": "validating"},
                           job_id="batch_1")
    store.update_batch_job("k1", status="completed", raw={"id": "batch_1", "status": "completed"})
    store.set_batch_item_status("k1", "a1-1", "failed")
    store.close()

    again = Store(path)
    job = again.batch_jobs("r1")[0]
    assert (job["job_id"], job["status"], job["raw"]["status"]) == ("batch_1", "completed", "completed")
    rows = again.batch_items("k1")
    assert [r["custom_id"] for r in rows] == ["a1-0", "a1-1", "a1-2"]
    assert [r["status"] for r in rows] == ["pending", "failed", "pending"]
    assert rows[0]["request"] == items(1)[0]["request"]
    assert again.batch_jobs("other") == []
