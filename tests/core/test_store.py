import sqlite3

import pytest

from core.errors import StoreError
from core.models import GateDecision, Judgment, JudgmentStatus, Label, Verdict
from core.store import Store


def judgment(record_id: str, judge: str = "rules", status=JudgmentStatus.ok) -> Judgment:
    verdict = Verdict(label=Label.supported) if status is JudgmentStatus.ok else None
    return Judgment(run_id="r1", record_id=record_id, judge=judge, status=status, verdict=verdict)


def test_store_uses_wal_and_records_migrations(tmp_path):
    store = Store(tmp_path / "a.db")
    assert store.query("PRAGMA journal_mode")[0][0] == "wal"
    names = [row["name"] for row in store.query("SELECT name FROM _migrations")]
    assert names == ["m001_initial", "m002_batch_jobs", "m003_sample_inclusion", "m004_typed_runs"]
    Store(tmp_path / "a.db")  # reopening does not re-run migrations
    assert len(store.query("SELECT name FROM _migrations")) == 4


def test_judgments_round_trip_and_failed_ones_are_not_done(tmp_path):
    store = Store(tmp_path / "a.db")
    store.save_judgment(judgment("x"))
    store.save_judgment(judgment("y", status=JudgmentStatus.failed))
    assert store.done_keys("r1") == {("x", "rules")}
    assert [j.record_id for j in store.judgments("r1")] == ["x", "y"]
    store.save_judgment(judgment("y"))  # a retried failure replaces the failed row
    assert len(store.judgments("r1")) == 2
    assert store.done_keys("r1") == {("x", "rules"), ("y", "rules")}


def test_each_write_is_committed_at_once(tmp_path):
    path = tmp_path / "a.db"
    store = Store(path)
    store.save_judgment(judgment("x"))
    # A second, independent connection sees it without any close or flush.
    other = sqlite3.connect(path)
    assert other.execute("SELECT COUNT(*) FROM judgments").fetchone()[0] == 1


def test_runs_samples_calls_and_decisions(tmp_path):
    store = Store(tmp_path / "a.db")
    assert store.create_run("r1", "audit", "abc", {"n": 2}) is True
    assert store.create_run("r1", "audit", "abc", {"n": 2}) is False
    store.set_run_records("r1", [{"id": "a"}, {"id": "b"}])
    store.set_run_records("r1", [{"id": "z"}])  # a sample is stored once, never redrawn
    assert [r["id"] for r in store.run_records("r1")] == ["a", "b"]
    assert store.latest_run_id() == "r1"
    store.save_call("k", provider="p", model="m", request={"a": 1}, response={"text": "t"},
                    tokens_in=3, tokens_out=4, latency_s=0.1, cost_usd=0.0)
    assert store.cached_call("k")["response"] == {"text": "t"}
    assert store.count_calls() == 1
    decision = GateDecision(status="fail", reasons=["too many errors"], dataset_sha256="abc",
                            audit_run_id="r1", policy={})
    store.save_decision(decision)
    assert store.decisions("r1")[0].reasons == ["too many errors"]
    assert store.integrity_ok()


def test_unwritable_location_is_a_clear_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot open the database"):
        Store(blocker / "sub" / "a.db")


def test_m003_adds_sample_inclusion_to_an_existing_database(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)")
    from core.store import m001_initial, m002_batch_jobs

    m001_initial(db)
    m002_batch_jobs(db)
    db.executemany("INSERT INTO _migrations VALUES (?, 'x')", [("m001_initial",), ("m002_batch_jobs",)])
    db.execute("INSERT INTO runs VALUES ('r1', 'audit', NULL, '{}', 'complete', 'c', 'u')")
    db.commit()
    db.close()

    store = Store(path)
    assert store.get_run("r1")["status"] == "complete"  # existing data untouched
    assert store.inclusion("r1") == {}  # a run from before: a uniform sample
    store.set_inclusion("r2", {"a": 0.25, "b": 0.75})
    store.set_inclusion("r2", {"a": 0.5, "b": 0.5})  # stored once: a resume never redraws
    assert Store(path).inclusion("r2") == {"a": 0.25, "b": 0.75}


def test_save_judgments_writes_all_in_one_transaction(tmp_path):
    store = Store(tmp_path / "a.db")
    store.save_judgments([judgment("x", judge="truth"), judgment("y", judge="truth")])
    assert [(j.record_id, j.judge) for j in store.judgments("r1")] == [("x", "truth"), ("y", "truth")]
