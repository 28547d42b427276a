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
