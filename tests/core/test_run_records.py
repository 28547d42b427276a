"""The typed run record (core.runs): what a run stores is what later commands read.

A dataset with its own field names and a bad line is audited, then gated, filtered and shown by
a run-id prefix; a hybrid-retrieval run's review shows the passages its judges were shown; a
database written before the record (tests/data/store_v3, schema 3) is migrated and read.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from audit.gate import UNREADABLE, checked_sha256, evaluate_gate
from audit.report_data import build_report
from audit.sample import SampleOptions, audit_sample, run_evidence
from core.datasets import load_dataset
from core.runs import AuditRun, list_runs, open_run
from core.store import Store

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "advising"
LEGACY = ROOT / "tests" / "data" / "store_v3"
TWO_RULES = '[[judge]]\nname = "rules"\nprovider = "rules"\n\n' \
            '[[judge]]\nname = "rules-2"\nprovider = "rules"\n'


def audit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audit", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=900)


def reports(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reports", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=900)


def mapped_dataset(folder: Path) -> Path:
    """The example's first 30 records as {uid, prompt, response}, with one broken line."""
    records = load_dataset(EXAMPLE / "dataset.jsonl").records[:30]
    lines = [json.dumps({"uid": r.id, "prompt": r.question, "response": r.answer,
                         "topic": r.topic}) for r in records]
    path = folder / "mapped.jsonl"
    path.write_text("\n".join(lines[:10] + ['{"uid": "broken", "prompt": '] + lines[10:]) + "\n",
                    encoding="utf-8")
    return path


def test_a_field_mapped_run_is_gated_filtered_and_shown_by_a_prefix(tmp_path):
    data = mapped_dataset(tmp_path)
    (tmp_path / "judges.toml").write_text(TWO_RULES)
    db = str(tmp_path / "a.db")
    sampled = audit("sample", "--dataset", str(data), "--sources", str(EXAMPLE / "sources"),
                    "--sources-complete", "--question-field", "prompt", "--answer-field",
                    "response", "--id-field", "uid", "--skip-invalid", "--judges", "judges.toml",
                    "--n", "30", "--db", db, cwd=tmp_path)
    assert sampled.returncode == 0, sampled.stderr
    assert "skipped 1 invalid record" in sampled.stderr
    store = Store(db)
    run = open_run(store, None)
    record = run.audit
    assert (record.fields.question, record.fields.answer, record.fields.id) == \
        ("prompt", "response", "uid")
    assert record.skip_invalid and record.retrieval == "bm25" and record.n == 30
    assert sorted(run.sample_ids) == sorted(r.id for r in record.load_dataset().records)
    prefix = run.id[:10]

    gated = audit("gate", prefix, "--json", "--db", db, cwd=tmp_path)
    decision = json.loads(gated.stdout)
    assert decision["audit_run_id"] == run.id
    assert decision["dataset_sha256"] == record.dataset_sha256  # re-read as audited
    assert not [r for r in decision["reasons"] if "changed" in r or "unreadable" in r]
    assert gated.returncode == {"pass": 0, "fail": 1, "inconclusive": 3}[decision["status"]]

    out = tmp_path / "kept.jsonl"
    filtered = audit("filter", prefix, "--out", str(out), "--db", db, cwd=tmp_path)
    assert filtered.returncode == 0, filtered.stderr
    summary = build_report(store, prefix, bootstrap=0).summary
    kept = load_dataset(out, question_field="prompt", answer_field="response",
                        id_field="uid").records
    assert len(kept) == 30 - summary.consensus.errors
    first = json.loads(out.read_text().splitlines()[0])  # the file's own field names, kept
    assert {"prompt", "response", "uid"} <= set(first) and "question" not in first
    assert summary.consensus.errors > 0  # the example's planted errors are found and dropped

    shown = reports("show", prefix, "--db", db, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert run.id in shown.stdout and "30 of 30 records, 30 judged" in shown.stdout


def test_a_hybrid_run_is_its_own_run_and_review_shows_the_passages_judged(tmp_path):
    judges = tmp_path / "judges.toml"
    judges.write_text(TWO_RULES)
    store = Store(tmp_path / "a.db")
    bm25 = audit_sample(store, SampleOptions(n=6, judges_file=judges))
    hybrid = audit_sample(store, SampleOptions(n=6, judges_file=judges, hybrid=True))
    assert hybrid.run_id != bm25.run_id  # the retrieval mode is part of what defines a run
    assert open_run(store, hybrid.run_id).audit.retrieval == "hybrid"

    evidence_of = run_evidence(store, hybrid.run_id)
    differs = 0
    for record in hybrid.records:
        stored = [j.evidence for j in hybrid.judgments if j.record_id == record.id]
        assert stored[0] and all(refs == stored[0] for refs in stored)  # every judge saw them
        shown = evidence_of(record)
        assert [(p.id, p.sha256) for p in shown] == [(r.id, r.sha256) for r in stored[0]]
        bm25_refs = next(j.evidence for j in bm25.judgments if j.record_id == record.id)
        differs += [r.id for r in bm25_refs] != [p.id for p in shown]
    assert differs > 0  # BM25 alone would have shown a reviewer other passages

    reviewed = subprocess.run(
        [sys.executable, "-m", "audit", "review", hybrid.run_id[:12], "--db",
         str(tmp_path / "a.db")], input="q\n", capture_output=True, text=True, cwd=tmp_path,
        timeout=900)
    assert reviewed.returncode == 0, reviewed.stderr
    first = hybrid.records[0]
    refs = next(j.evidence for j in hybrid.judgments if j.record_id == first.id)
    assert first.id in reviewed.stdout
    assert all(ref.id in reviewed.stdout for ref in refs)


@pytest.fixture
def legacy(tmp_path, monkeypatch) -> Store:
    """A copy of the schema-3 database, opened (and so migrated) from the repository root,
    where its relative paths lead."""
    shutil.copy(LEGACY / "store.db", tmp_path / "store.db")
    monkeypatch.chdir(ROOT)
    return Store(tmp_path / "store.db")


def test_a_database_of_the_previous_schema_is_migrated_and_read(legacy):
    names = [row["name"] for row in legacy.query("SELECT name FROM _migrations")]
    assert names[-1] == "m004_typed_runs"
    audits = list_runs(legacy)
    assert len(audits) == 3 and all(r.audit.record_version == 3 for r in audits)
    assert all(r.audit.retrieval is None for r in audits)  # schema 3 did not record it
    example = open_run(legacy, "audit-fb41")
    assert example.audit.dataset_path == "examples/advising/dataset.jsonl"
    assert example.audit.closed_world and example.audit.panel == ["local", "rules"]
    assert len(legacy.judgments(example.id)) == 12 and len(example.sample_ids) == 6
    assert legacy.decisions(example.id)[0].status == "fail"
    report = build_report(legacy, example.id, bootstrap=0)
    assert report.run.n_judged == 6 and report.run.sources_available
    closed = open_run(legacy, "audit-ec6a").audit
    assert closed.closed_book and closed.sources_path is None and not closed.closed_world
    evaluated = open_run(legacy, None, "eval")
    assert evaluated.id == "eval-legacy00000" and evaluated.eval.inputs.version == "eval-v1"
    answers = list_runs(legacy, "eval-audit")[0].audit
    assert answers.answers_of == "base" and answers.kind == "eval-audit"
    # Schema 3 lost the field mapping: the mapped run's file cannot be re-read as audited...
    assert checked_sha256(None, closed) == UNREADABLE


def test_the_same_command_resumes_a_migrated_run_and_completes_its_record(legacy):
    example = {"dataset": Path("examples/advising/dataset.jsonl"),
               "sources": Path("examples/advising/sources"), "sources_complete": True}
    again = audit_sample(legacy, SampleOptions(n=6, **example))
    assert again.run_id == "audit-fb41b5c2ba01" and again.new_judgments == 0  # same id
    mapped = SampleOptions(dataset=LEGACY / "mapped.jsonl", no_sources=True, n=5,
                           question_field="prompt", answer_field="response", id_field="uid",
                           skip_invalid=True)
    resumed = audit_sample(legacy, mapped)
    assert resumed.run_id == "audit-ec6a2f2f7781" and resumed.new_judgments == 0
    record = open_run(legacy, resumed.run_id).audit
    assert record.record_version == AuditRun.model_fields["record_version"].default
    assert record.fields.question == "prompt" and record.skip_invalid
    decision = evaluate_gate(legacy, resumed.run_id)
    assert decision.dataset_sha256 == record.dataset_sha256  # ...until the run is re-run
    assert not [r for r in decision.reasons if "changed" in r or "unreadable" in r]
