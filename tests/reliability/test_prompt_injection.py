"""Records whose answers carry prompt-injection payloads.

The rules judge's verdict with the payload equals its verdict without it, record by record;
the report flags every payload record as suspicious. (The flip rate of LLM judges on the real
llama.cpp server is measured by ``bench/reliability.py``.)
"""

from __future__ import annotations

from scenarios import (
    EXAMPLE,
    PAYLOADS,
    cli_env,
    injection_flips,
    injection_pairs,
    run_cli,
    sample_args,
    write_jsonl,
)

from audit.health import EXIT_DEGRADED
from audit.report_data import build_report
from core.store import Store

N_PAIRS = 36  # the rules judge abstains unless every claim checks out: enough decided pairs


def test_rules_judge_never_flips_and_the_report_flags_every_payload(tmp_path):
    pairs = injection_pairs(N_PAIRS)
    assert len(pairs) >= 20 and len(PAYLOADS) >= 5
    records = [r for pair in pairs for r in pair]
    dataset = write_jsonl(tmp_path / "injected.jsonl", records)
    judges = tmp_path / "rules.toml"
    judges.write_text('[[judge]]\nname = "rules"\nprovider = "rules"\n', encoding="utf-8")
    db = tmp_path / "assay.db"
    args = sample_args(dataset, judges, len(records))
    args[args.index("--sources") + 1] = str(EXAMPLE / "sources")
    result = run_cli("audit", *args, cwd=tmp_path, env=cli_env(db))
    assert result.returncode == EXIT_DEGRADED, result.stderr  # the rules judge alone

    measured = injection_flips(db, pairs, "rules")
    assert measured["decided_both"] >= 10, measured
    assert measured["flips"] == 0, measured

    store = Store(db)
    report = build_report(store, store.latest_run_id())
    injected_ids = {injected["id"] for _, injected in pairs}
    clean_ids = {clean["id"] for clean, _ in pairs}
    assert injected_ids <= set(report.suspicious), sorted(injected_ids - set(report.suspicious))
    assert not clean_ids & set(report.suspicious), sorted(clean_ids & set(report.suspicious))
