"""The gate: every policy rule, the hash binding, and the exit codes of `audit gate`."""

import json
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from audit.gate import EXIT_CODES, GateEvidence, GatePolicy, decide, load_policy
from core.errors import ConfigError

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)
GOOD = GateEvidence(
    audit_run_id="audit-1", audit_dataset_sha256="a" * 64, current_dataset_sha256="a" * 64,
    audit_created=NOW - timedelta(days=1), n=40, errors=1, decided=40, upper_bound=0.08,
    low_bound=0.004, critical=[], alpha=0.7, unusable_share=0.0,
)


def test_clean_audit_passes_and_names_its_interval():
    decision = decide(GatePolicy(), GOOD, now=NOW)
    assert decision.status == "pass"
    assert "[0.4%, 8.0%]" in decision.reasons[0]


@pytest.mark.parametrize(
    ("change", "status", "phrase"),
    [
        ({"upper_bound": 0.43, "errors": 11}, "fail", "upper bound above the maximum 10.0%"),
        ({"critical": ["adv-7 (healthcare, wrong_number)"]}, "fail", "1 critical error(s)"),
        ({"current_dataset_sha256": "b" * 64}, "fail", "the dataset changed after the audit"),
        ({"current_dataset_sha256": None}, "fail", "cannot be found"),
        ({"current_dataset_sha256": "unreadable"}, "fail", "cannot be read any more"),
        ({"audit_created": NOW - timedelta(days=45)}, "fail", "45 days old"),
        ({"n": 12}, "inconclusive", "only 12 records audited"),
        ({"alpha": 0.05}, "inconclusive", "alpha 0.05"),
        ({"alpha": None}, "inconclusive", "not computable"),
        ({"unusable_share": 0.5}, "inconclusive", "50% of judgments failed"),
    ],
)
def test_each_rule(change, status, phrase):
    decision = decide(GatePolicy(), replace(GOOD, **change), now=NOW)
    assert decision.status == status
    assert any(phrase in reason for reason in decision.reasons), decision.reasons


def test_weak_audit_can_still_fail_data_but_never_pass_it():
    weak_and_bad = replace(GOOD, alpha=0.0, upper_bound=0.5)
    assert decide(GatePolicy(), weak_and_bad, now=NOW).status == "fail"


def test_policy_file_and_its_errors(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text("[gate]\nmax_error_rate = 0.5\nmin_alpha = 0.0\n")
    policy = load_policy(path)
    assert policy.max_error_rate == 0.5
    assert decide(policy, replace(GOOD, upper_bound=0.43), now=NOW).status == "pass"
    path.write_text("[gate]\nmax_error_rate = -1\n")
    with pytest.raises(ConfigError, match="max_error_rate"):
        load_policy(path)
    path.write_text("[gate]\nrate = 'soft'\n")
    with pytest.raises(ConfigError, match="'inclusive' or 'hard', got 'soft'"):
        load_policy(path)
    with pytest.raises(ConfigError, match="cannot read the policy"):
        load_policy(tmp_path / "missing.toml")


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "audit", *args], capture_output=True, text=True,
                          cwd=cwd)


@pytest.fixture
def rules_audit(tmp_path, example_dir):
    """A real audit of the bundled example by the rules judge (fast, no model)."""
    data = tmp_path / "data.jsonl"
    data.write_text((example_dir / "dataset.jsonl").read_text())
    # the example's policy (its critical topics), found beside the dataset
    (tmp_path / "policy.toml").write_text((example_dir / "policy.toml").read_text())
    judges = tmp_path / "judges.toml"
    judges.write_text('[[judge]]\nname = "rules"\nprovider = "rules"\n'
                      '[[judge]]\nname = "rules-2"\nprovider = "rules"\n')
    done = run_cli("sample", "--n", "60", "--dataset", str(data), "--sources",
                   str(example_dir / "sources"), "--judges", str(judges), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return data


def test_gate_exit_codes_json_and_hash_binding(rules_audit, tmp_path):
    strict = run_cli("gate", "--json", cwd=tmp_path)
    decision = json.loads(strict.stdout)
    assert strict.returncode == EXIT_CODES[decision["status"]] == 1
    assert any("error rate" in r and "upper bound above" in r for r in decision["reasons"])
    assert any("critical error(s)" in r for r in decision["reasons"])  # policy-sensitive topics

    lenient = tmp_path / "lenient.toml"
    lenient.write_text("max_error_rate = 1.0\nmax_critical_errors = 1000\nmin_alpha = -1\n")
    assert run_cli("gate", "--policy", str(lenient), cwd=tmp_path).returncode == 0

    lines = rules_audit.read_text().splitlines()
    record = json.loads(lines[0])
    record["answer"] += " (edited)"
    rules_audit.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    edited = run_cli("gate", "--policy", str(lenient), "--json", cwd=tmp_path)
    assert edited.returncode == 1
    assert "the dataset changed after the audit" in edited.stdout

    shy = tmp_path / "shy.toml"
    shy.write_text("max_error_rate = 1.0\nmax_critical_errors = 1000\nmin_sample = 1000\n")
    rules_audit.write_text("\n".join(lines) + "\n")
    assert run_cli("gate", "--policy", str(shy), cwd=tmp_path).returncode == 3
    usage = run_cli("gate", "--policy", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert usage.returncode == 2
    assert "cannot read the policy" in usage.stderr
    assert "Traceback" not in usage.stderr


def test_filter_removes_consensus_errors(rules_audit, tmp_path):
    out = tmp_path / "clean.jsonl"
    done = run_cli("filter", "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    kept = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    removed = [line.strip()[2:] for line in done.stdout.splitlines() if line.strip().startswith("- ")]
    assert removed and not set(removed) & set(kept)
    assert len(kept) + len(removed) == len(rules_audit.read_text().splitlines())
    unjudged = len(kept) + len(removed) - 60  # the fixture audits 60 of the example's records
    assert f"kept {unjudged} records outside the audited sample" in done.stdout


def _stored_audit(folder, records):
    """A database with one audit run of ``records`` (written to data.jsonl), half errors."""
    from example_runs import store_half_wrong_run

    return store_half_wrong_run(folder, records)


def test_a_decision_about_another_file_is_stored_under_that_file(tmp_path, example_dir):
    from audit.gate import evaluate_gate
    from audit.report_data import build_report
    from core.datasets import load_dataset

    example = load_dataset(example_dir / "dataset.jsonl")
    store, audited = _stored_audit(tmp_path, example.records[:6])
    own = evaluate_gate(store, "audit-1")
    assert own.dataset_sha256 == audited.sha256
    assert not any("changed" in r for r in own.reasons)

    other = evaluate_gate(store, "audit-1", dataset_path=example_dir / "dataset.jsonl")
    assert other.status == "fail" and other.dataset_sha256 == example.sha256
    assert any("the dataset changed after the audit" in r for r in other.reasons)
    assert store.decisions_for_dataset(example.sha256) == [other]
    # The audited run's report shows only the decision about its own dataset.
    report = build_report(store, "audit-1", passages={}, bootstrap=0)
    assert report.decisions == [own]
    assert store.decisions("audit-1") == [own, other]


def test_checking_a_file_that_is_not_there_is_an_error_not_a_decision(tmp_path, example_dir):
    from audit.gate import evaluate_gate
    from core.datasets import load_dataset
    from core.errors import DatasetError

    store, _ = _stored_audit(tmp_path, load_dataset(example_dir / "dataset.jsonl").records[:4])
    with pytest.raises(DatasetError, match="no such file"):
        evaluate_gate(store, "audit-1", dataset_path=tmp_path / "missing.jsonl")
    assert store.decisions("audit-1") == []


def test_gate_and_filter_open_a_run_by_unique_prefix(rules_audit, tmp_path, example_dir):
    from core.store import Store

    run_id = Store(None).latest_run_id("audit")
    prefix = run_id[: len("audit-") + 4]
    by_prefix = run_cli("gate", prefix, "--json", cwd=tmp_path)
    assert json.loads(by_prefix.stdout)["audit_run_id"] == run_id
    assert by_prefix.returncode == 1
    out = tmp_path / "clean.jsonl"
    assert run_cli("filter", prefix, "--out", str(out), cwd=tmp_path).returncode == 0
    assert out.read_text().strip()

    # a second run whose id shares the prefix "audit-": the bare prefix is ambiguous
    assert run_cli("sample", "--n", "5", "--seed", "1", "--dataset", str(rules_audit),
                   "--sources", str(example_dir / "sources"), "--judges",
                   str(tmp_path / "judges.toml"), cwd=tmp_path).returncode == 0
    ambiguous = run_cli("gate", "audit-", cwd=tmp_path)
    assert ambiguous.returncode == 2
    assert "matches 2 runs" in ambiguous.stderr and run_id in ambiguous.stderr
    assert "Traceback" not in ambiguous.stderr


def test_the_policy_in_force_is_the_file_beside_the_dataset_else_the_built_in_one(
        tmp_path, example_dir):
    from audit.gate import evaluate_gate, find_policy, run_policy
    from core.datasets import load_dataset

    assert GatePolicy().critical_topics == []  # the built-in policy names no topics
    empty = run_cli("gate", "--show-policy", "--db", str(tmp_path / "new.db"), cwd=tmp_path)
    assert empty.returncode == 0 and "critical_topics" in empty.stdout
    example = find_policy(None, example_dir / "dataset.jsonl")
    assert example == load_policy(example_dir / "policy.toml")
    assert "work_authorisation" in example.critical_topics
    records = [r.model_copy(update={"topic": "work"})
               for r in load_dataset(example_dir / "dataset.jsonl").records[:6]]
    store, _ = _stored_audit(tmp_path, records)  # tmp_path/data.jsonl, no policy.toml yet
    assert run_policy(store, "audit-1") == GatePolicy()
    assert not any("critical" in r for r in evaluate_gate(store, "audit-1").reasons)

    (tmp_path / "policy.toml").write_text('[gate]\ncritical_topics = ["Work"]\n')
    assert run_policy(store, "audit-1").critical_topics == ["Work"]
    critical = [r for r in evaluate_gate(store, "audit-1").reasons if "critical error(s)" in r]
    assert critical and critical[0].startswith("3 critical error(s)")
    shown = run_cli("gate", "--show-policy", "--db", str(tmp_path / "assay.db"), cwd=tmp_path)
    assert shown.returncode == 0 and "['Work']" in shown.stdout
    # --policy wins over the file beside the dataset
    other = tmp_path / "other.toml"
    other.write_text("[gate]\nmax_error_rate = 0.9\n")
    assert run_policy(store, "audit-1", other).critical_topics == []


def test_network_is_not_work(tmp_path, example_dir):
    """Critical topics match a record's topic by its whole name (case-insensitive), never a
    part of it."""
    from audit.gate import evaluate_gate
    from core.datasets import load_dataset
    from core.models import Label

    topics = ["network", "Work", "homework", "work_authorisation", "networking", "work"]
    records = [r.model_copy(update={"topic": t}) for r, t in
               zip(load_dataset(example_dir / "dataset.jsonl").records, topics, strict=False)]
    store, dataset = _stored_audit(tmp_path, records)  # records 0, 2, 4 are errors
    policy = GatePolicy(critical_topics=["work"], max_error_rate=1.0)
    reasons = evaluate_gate(store, "audit-1", policy=policy).reasons
    assert not any("critical" in r for r in reasons)  # network, homework, networking: no

    every = store.judgments("audit-1")
    for j in every:  # now every record but "network" is an error: only Work and work count
        index = [r.id for r in dataset.records].index(j.record_id)
        wrong = topics[index] != "network"
        store.save_judgment(j.model_copy(update={"verdict": j.verdict.model_copy(update={
            "label": Label.contradicted if wrong else Label.supported})}))
    critical = next(r for r in evaluate_gate(store, "audit-1", policy=policy).reasons
                    if "critical" in r)
    assert critical.startswith("2 critical error(s)")
    assert "(Work," in critical and "(work," in critical and "work_authorisation" not in critical


def test_a_run_audited_by_a_relative_path_is_gated_and_filtered_from_another_folder(
        tmp_path, example_dir):
    """The run records where its files were, not how they were spelled from one folder."""
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "qa.jsonl").write_text((example_dir / "dataset.jsonl").read_text())
    (project / "judges.toml").write_text('[[judge]]\nname = "rules"\nprovider = "rules"\n'
                                         '[[judge]]\nname = "rules-2"\nprovider = "rules"\n')
    done = run_cli("sample", "--n", "10", "--dataset", "data/qa.jsonl", "--sources",
                   str(example_dir / "sources"), "--judges", "judges.toml", cwd=project)
    assert done.returncode == 0, done.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    gate = run_cli("gate", "--json", "--policy", str(example_dir / "policy.toml"),
                   cwd=elsewhere)
    assert gate.returncode in (0, 1, 3), gate.stderr
    reasons = json.loads(gate.stdout)["reasons"]
    assert not any("cannot be found" in reason for reason in reasons), reasons
    out = elsewhere / "clean.jsonl"
    filtered = run_cli("filter", "--out", str(out), cwd=elsewhere)
    assert filtered.returncode == 0, filtered.stderr
    total = len((project / "data" / "qa.jsonl").read_text().splitlines())
    assert 0 < len(out.read_text().splitlines()) < total  # the dataset minus its errors
