"""Commands that leave invalid records out (--skip-invalid) say so: never a silent skip."""

from pathlib import Path

from audit.sample import SampleOptions, audit_sample
from core.store import Store

BAD = Path(__file__).resolve().parents[1] / "data" / "bad" / "sharegpt_bad_lines.jsonl"


def test_audit_sample_says_which_records_it_skipped(tmp_path):
    judges = tmp_path / "judges.toml"
    judges.write_text('[[judge]]\nname = "rules"\nprovider = "rules"\n')
    warnings: list[str] = []
    options = SampleOptions(dataset=BAD, no_sources=True, judges_file=judges, n=5,
                            skip_invalid=True)
    outcome = audit_sample(Store(tmp_path / "a.db"), options, warn=warnings.append)
    assert outcome.new_judgments == 1
    assert warnings == [
        "skipped 2 invalid records (--skip-invalid); the first: "
        f'{BAD}, line 1, field "conversations[3].value": is empty (and 1 more)']


def test_audit_run_all_says_which_records_it_skipped(tmp_path):
    import asyncio

    from audit.run_all import RunAllOptions, run_all

    judges = tmp_path / "judges.toml"
    judges.write_text('[[judge]]\nname = "rules"\nprovider = "rules"\n')
    warnings: list[str] = []
    options = RunAllOptions(dataset=BAD, no_sources=True, judges_file=judges, skip_invalid=True)
    outcome = asyncio.run(run_all(Store(tmp_path / "a.db"), options, warn=warnings.append))
    assert outcome.done
    assert warnings == [
        "skipped 2 invalid records (--skip-invalid); the first: "
        f'{BAD}, line 1, field "conversations[3].value": is empty (and 1 more)']
