"""No silent sources, three outcomes kept apart, closed-book judges (issue 22).

The study-shaped fixture (ShareGPT, no sources, invented specifics) is audited the way a new
user would: without `--sources` (a clear error), `--no-sources` (closed-book) and with a small
folder of true facts (open world, and closed world when declared complete).
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from batch_service import FakeBatchService

from audit.gate import GateEvidence, GatePolicy, decide
from audit.judges.prompts import CLOSED_BOOK_SYSTEM_PROMPT
from audit.report_data import build_report
from audit.run_all import RunAllOptions, run_all
from audit.summary import summarize
from core.models import Category, Judgment, JudgmentStatus, Label, Severity, Verdict
from core.runs import open_run
from core.store import Store
from reports.html import to_html

ROOT = Path(__file__).resolve().parents[2]
STUDY = ROOT / "tests" / "data" / "study_shaped" / "dataset.jsonl"
N_STUDY = 15  # ShareGPT turns in the fixture
FACTS = {  # true statements, nothing about the fixture's institutions
    "gre.md": "# GRE\n\nThe GRE General Test Verbal and Quantitative sections are each scored "
              "from 130 to 170, so the combined score ranges from 260 to 340.\n",
    "gmat.md": "# GMAT Focus Edition\n\nThe GMAT Focus Edition total score ranges from 205 to "
               "805. It has three sections: Quantitative Reasoning, Verbal Reasoning and Data "
               "Insights.\n",
    "english.md": "# English tests\n\nIELTS band scores range from 0 to 9 in half bands. The "
                  "TOEFL iBT total score ranges from 0 to 120.\n",
}
TWO_RULES = '[[judge]]\nname = "rules"\nprovider = "rules"\n' \
            '[[judge]]\nname = "rules-2"\nprovider = "rules"\n'


def audit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audit", *args], capture_output=True, text=True,
                          cwd=cwd)


def flat(text: str) -> str:
    """Printed text without panel borders and line breaks (wrapped words joined)."""
    return " ".join(text.replace("|", " ").replace("│", " ").split())


def facts_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "facts"
    folder.mkdir()
    for name, text in FACTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def latest_report(tmp_path: Path):
    store = Store(tmp_path / ".assay" / "assay.db")
    return store, build_report(store, store.latest_run_id(), bootstrap=0)


# -- no silent sources ----------------------------------------------------------------------


@pytest.mark.parametrize("command", [["sample", "--n", "5"], ["run", "--all"]])
def test_another_dataset_without_sources_is_one_clear_error(tmp_path, command):
    done = audit(*command, "--dataset", str(STUDY), cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert "--sources DIR" in lines[0] and "--no-sources" in lines[0]
    db = tmp_path / ".assay" / "assay.db"
    assert not db.exists() or Store(db).list_runs() == []  # nothing was judged


def test_sources_and_no_sources_exclude_each_other(tmp_path):
    done = audit("sample", "--dataset", str(STUDY), "--no-sources", "--sources",
                 str(facts_folder(tmp_path)), cwd=tmp_path)
    assert done.returncode == 2 and "exclude each other" in done.stderr


# -- closed-book, offline panel ----------------------------------------------------------------


def test_closed_book_offline_run_is_all_unverifiable_and_the_gate_is_inconclusive(tmp_path):
    done = audit("sample", "--n", "40", "--dataset", str(STUDY), "--no-sources", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "none (closed-book)" in out
    assert "this run cannot tell a wrong answer from a right one" in flat(out)
    assert "Unverifiable share 100.0% [" in out and f"({N_STUDY}/{N_STUDY})" in out
    assert f"0 error, {N_STUDY} unverifiable, 0 ok" in out
    assert "NOT MEASURED" in flat(out)

    store, report = latest_report(tmp_path)
    run = open_run(store, report.run.run_id).audit
    assert run.closed_book and run.sources_path is None and run.retrieval is None
    assert not run.sources_complete and run.sources_sha256 == "none"
    assert report.run.closed_book and report.run.sources_path is None
    consensus = report.summary.consensus
    assert consensus.errors == 0 and consensus.unverifiable == N_STUDY  # errors not inflated
    assert consensus.inclusive.k == 0 and consensus.unverifiable_share.rate == 1.0
    assert all(v.outcome.value == "unverifiable" and v.uncited
               for r in report.records for v in r.verdicts)
    exported = json.loads(report.model_dump_json())
    assert exported["summary"]["consensus"]["unverifiable_share"]["k"] == N_STUDY
    assert exported["run"]["sources_sha256"] == "none"
    page = to_html(report)
    assert "none (closed-book)" in page and "Unverifiable share 100.0%" in page
    assert "cannot tell a wrong answer from a right one" in page

    gate = audit("gate", "--json", cwd=tmp_path)
    assert gate.returncode == 3, gate.stdout + gate.stderr
    decision = json.loads(gate.stdout)
    assert decision["status"] == "inconclusive"
    assert any("100% of records are unverifiable" in r for r in decision["reasons"])
    assert not any(r.startswith("inclusive error rate") and "does not show" not in r
                   for r in decision["reasons"])  # the upper bound alone fails nothing

    kept = audit("filter", "--out", str(tmp_path / "kept.jsonl"), cwd=tmp_path)
    assert kept.returncode == 0, kept.stderr
    assert f"wrote {N_STUDY} records" in kept.stdout and "removed 0 (errors)" in kept.stdout
    assert "--drop unverifiable" in kept.stdout
    assert "outside the audited sample" not in kept.stdout  # every record was judged
    dropped = audit("filter", "--out", str(tmp_path / "none.jsonl"), "--drop", "errors",
                    "--drop", "unverifiable", cwd=tmp_path)
    assert dropped.returncode == 0, dropped.stderr
    assert "wrote 0 records" in dropped.stdout and "(errors and unverifiable)" in dropped.stdout


# -- open world vs closed world with a user's sources -----------------------------------------


def test_user_sources_are_open_world_unless_declared_complete(tmp_path):
    facts = facts_folder(tmp_path)
    judges = tmp_path / "judges.toml"
    judges.write_text(TWO_RULES)
    base = ("sample", "--n", "40", "--dataset", str(STUDY), "--sources", str(facts),
            "--judges", str(judges))
    done = audit(*base, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    store, open_world = latest_report(tmp_path)
    header = open_world.run
    assert header.sources_path == str(facts) and not header.sources_complete
    assert re.fullmatch(r"[0-9a-f]{64}", header.sources_sha256)
    assert f"corpus sha256 {header.sources_sha256[:40]}" in flat(done.stdout)
    assert "open world" in header.evidence
    c = open_world.summary.consensus
    assert c.unverifiable > 0  # answers the facts do not cover
    assert f"{c.unverifiable} unverifiable," in done.stdout
    assert "Unverifiable share" in done.stdout and "unverifiable" in to_html(open_world)

    declared = audit(*base, "--sources-complete", cwd=tmp_path)
    assert declared.returncode == 0, declared.stderr
    _, closed = latest_report(tmp_path)
    assert closed.run.run_id != header.run_id and closed.run.sources_complete
    k = closed.summary.consensus
    # The same verdicts: declared complete, every unverifiable record becomes an error.
    assert k.unverifiable == 0 and k.errors == c.errors + c.unverifiable
    assert "Unverifiable: none by definition" in declared.stdout


def test_filter_writes_the_conversations_as_they_are_and_drops_one_with_a_wrong_answer(
        tmp_path):
    """ShareGPT in, ShareGPT out: a conversation is one row of the file; one whose answer is
    an error (2:1 says Oxford's Said Business School asks for a minimum GMAT, which the source
    says it does not set) is left out whole, its other answer (2:3) listed with it."""
    facts = tmp_path / "facts"
    facts.mkdir()
    (facts / "oxford.md").write_text("# Oxford\n\nOxford's Said Business School does not set a "
                                     "minimum GMAT score; the average is 690.\n")
    (tmp_path / "judges.toml").write_text(TWO_RULES)
    done = audit("sample", "--n", "40", "--dataset", str(STUDY), "--sources", str(facts),
                 "--judges", "judges.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    _, report = latest_report(tmp_path)
    assert report.summary.resolved["2:1"] == "error"
    out = tmp_path / "kept.jsonl"
    kept = audit("filter", "--out", str(out), cwd=tmp_path)
    assert kept.returncode == 0, kept.stderr
    errors = sorted(r for r, state in report.summary.resolved.items() if state == "error")
    conversations = {r.split(":")[0] for r in errors}
    original = STUDY.read_text(encoding="utf-8").splitlines()
    wanted = [json.loads(line) for number, line in enumerate(original, start=1)
              if str(number) not in conversations]
    assert [json.loads(line) for line in out.read_text().splitlines()] == wanted
    assert f"({len(wanted)} rows of the file, its own fields)" in flat(kept.stdout)
    assert "left out" in kept.stdout and "2:3" in kept.stdout.split("left out", 1)[1]


def test_the_bundled_example_is_closed_world_and_names_its_corpus(example_runs, tmp_path):
    store = example_runs.store(tmp_path)
    report = build_report(store, example_runs.sample, bootstrap=0)
    assert report.run.sources_complete and not report.run.closed_book
    assert report.run.sources_path.endswith(str(Path("examples") / "advising" / "sources"))
    assert re.fullmatch(r"[0-9a-f]{64}", report.run.sources_sha256)
    assert report.summary.closed_world and report.summary.consensus.unverifiable == 0


# -- the three outcomes in the statistics and the gate -------------------------------------------


def _judgment(record: str, judge: str, label: Label) -> Judgment:
    error = label is not Label.supported
    return Judgment(run_id="r", record_id=record, judge=judge, status=JudgmentStatus.ok,
                    verdict=Verdict(label=label, severity=Severity.major if error else
                                    Severity.none,
                                    category=Category.wrong_number if error else Category.none))


def test_not_in_sources_is_unverifiable_in_an_open_world_and_an_error_in_a_closed_one():
    labels = {"a": [Label.contradicted] * 2, "b": [Label.not_in_sources] * 2,
              "c": [Label.supported] * 2, "d": [Label.not_in_sources, Label.supported],
              "e": [Label.contradicted, Label.not_in_sources]}
    judgments = [_judgment(rid, judge, label) for rid, pair in labels.items()
                 for judge, label in zip(("x", "y"), pair, strict=True)]
    records = [{"id": rid} for rid in labels]
    open_world = summarize(judgments, records, population=None, bootstrap=0, closed_world=False)
    assert open_world.records == {"a": "error", "b": "unverifiable", "c": "ok", "d": "disputed",
                                  "e": "disputed"}
    # Issue 23: ties resolved. An unverifiable verdict is no vote on error: e's one error
    # vote decides; d's ok against unverifiable is a tie of non-errors, so nothing was
    # verified (unverifiable).
    assert open_world.resolved == {"a": "error", "b": "unverifiable", "c": "ok",
                                   "d": "unverifiable", "e": "error"}
    c = open_world.consensus
    assert (c.errors, c.unverifiable, c.ok, c.disputed) == (2, 2, 1, 2)
    assert (c.inclusive.k, c.inclusive.n) == (2, 5)  # the same denominator for both shares
    assert (c.unverifiable_share.k, c.unverifiable_share.n) == (2, 5)
    # The hard rate follows the consensus: a and e are its errors, both major (e's one error
    # vote decides its severity too); b, unverifiable, is never a hard error.
    assert (c.hard_errors, c.hard_disputed, c.hard.n) == (2, 0, 5)
    assert open_world.per_judge["x"].inclusive.k == 2 and open_world.per_judge["y"].inclusive.k == 1
    assert open_world.per_judge["y"].unverifiable.k == 2

    closed = summarize(judgments, records, population=None, bootstrap=0)
    assert closed.records == {"a": "error", "b": "error", "c": "ok", "d": "disputed",
                              "e": "error"}
    # d's tie (an error and an ok of equal confidence) counts as an error once resolved
    assert closed.resolved == {**closed.records, "d": "error"}
    assert closed.consensus.unverifiable == 0 and closed.consensus.errors == 4


NOW = datetime(2026, 11, 30, tzinfo=timezone.utc)
BASE = GateEvidence(audit_run_id="audit-1", audit_dataset_sha256="a" * 64,
                    current_dataset_sha256="a" * 64, audit_created=NOW - timedelta(days=1),
                    n=40, errors=1, decided=40, upper_bound=0.13, low_bound=0.004, critical=[],
                    alpha=0.7, unusable_share=0.0, unverifiable=20, unverifiable_share=0.5)


def test_gate_a_large_unverifiable_share_is_inconclusive_never_errors():
    decision = decide(GatePolicy(), BASE, now=NOW)
    assert decision.status == "inconclusive"
    assert any("50% of records are unverifiable (20/40" in r for r in decision.reasons)
    assert any("does not show the data is bad" in r for r in decision.reasons)
    # errors proven beyond the maximum still fail the data
    proven = decide(GatePolicy(), BASE.__class__(**{**BASE.__dict__, "errors": 12,
                                                     "low_bound": 0.17, "upper_bound": 0.45}),
                    now=NOW)
    assert proven.status == "fail"
    # a small unverifiable share changes nothing: the upper bound fails as before
    few = BASE.__class__(**{**BASE.__dict__, "unverifiable": 2, "unverifiable_share": 0.05})
    assert decide(GatePolicy(), few, now=NOW).status == "fail"
    assert decide(GatePolicy(max_unverifiable_share=0.6), BASE, now=NOW).status == "fail"


# -- a closed-book LLM judge, over a real socket -----------------------------------------------


def closed_book_answer(line: dict, action: str | None) -> str:
    """Contradicted for the invented OUCAS, else unverifiable (with a quote from nowhere)."""
    prompt = line["body"]["messages"][-1]["content"]
    if "OUCAS" in prompt:
        verdict = {"label": "contradicted", "category": "wrong_entity", "severity": "major",
                   "confidence": 0.8, "citations": [],
                   "rationale": "Oxford has no OUCAS; graduate applications go online."}
    else:
        verdict = {"label": "unverifiable", "category": "none", "severity": "none",
                   "confidence": 0.6, "rationale": "I cannot confirm these figures.",
                   "citations": [{"passage_id": "memory#0", "quote": "from memory"}]}
    return json.dumps(verdict)


def test_closed_book_llm_judge_prompt_and_unverifiable_answers(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-closed-book")
    service = FakeBatchService(answer=closed_book_answer)
    try:
        judges = tmp_path / "judges.toml"
        judges.write_text(f'[[judge]]\nname = "gpt"\nprovider = "openai"\nmodel = "gpt-4.1-mini"'
                          f'\n[judge.params]\nbase_url = "{service.base_url}"\n'
                          '[[judge]]\nname = "rules"\nprovider = "rules"\n')
        store = Store(tmp_path / "run.db")
        options = RunAllOptions(dataset=STUDY, no_sources=True, judges_file=judges, batch=True)
        outcome = asyncio.run(run_all(store, options, wait=True, poll_s=0.01))
        requests = [line["body"] for lines in service.inputs.values() for line in lines]
    finally:
        service.close()
    assert outcome.done and len(requests) == N_STUDY
    for body in requests:
        system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
        assert system == CLOSED_BOOK_SYSTEM_PROMPT
        assert "CLOSED-BOOK" in user and "EVIDENCE-" not in user
        assert "citations: always an empty list" in user

    report = build_report(store, outcome.run_id, bootstrap=0)
    assert "uncited" in report.run.evidence and "gpt" in report.run.evidence
    gpt = [v for r in report.records for v in r.verdicts if v.judge == "gpt"]
    # a contradicted verdict needs no citation here: there is nothing to quote
    assert all(v.status is JudgmentStatus.ok and v.uncited and not v.citations for v in gpt)
    wrong = sum("OUCAS" in body["messages"][-1]["content"] for body in requests)
    contradicted = [v for v in gpt if v.label is Label.contradicted]
    assert wrong >= 1 and len(contradicted) == wrong
    assert all(v.outcome.value == "error" for v in contradicted)
    assert all(v.outcome.value == "unverifiable" for v in gpt if v not in contradicted)
    per_judge = report.summary.per_judge["gpt"]
    assert (per_judge.inclusive.k, per_judge.unverifiable.k) == (wrong, N_STUDY - wrong)
    tied = [r for r in report.records if any(v in contradicted for v in r.verdicts)]
    assert {r.consensus for r in tied} == {"disputed"}  # gpt: wrong; rules cannot tell: a tie
    assert report.summary.consensus.unverifiable == N_STUDY - wrong
