"""Checks that need no sources, on the study-shaped fixture: cross-record conflicts, the claim
list and its export, unverified specifics."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from audit.claims import list_claims
from audit.consistency import find_conflicts
from audit.specifics import check_specifics, write_claims
from core.datasets import load_dataset
from core.errors import ConfigError
from core.models import QARecord

STUDY = Path(__file__).parents[1] / "data" / "study_shaped" / "dataset.jsonl"


@pytest.fixture(scope="module")
def report():
    return check_specifics(load_dataset(STUDY).records)


def pairs(conflicts):
    return {(c.a.record_id, c.a.quantity.text, c.b.record_id, c.b.quantity.text)
            for c in conflicts}


def test_the_three_conflicting_repeats_are_found_and_nothing_else(report):
    assert pairs(report.conflicts) == {
        ("1:1", "700", "2:1", "650"),  # Oxford minimum GMAT
        ("3:1", "5", "4:1", "3.5"),  # Dhaka University applicants, in lakh
        ("6:1", "6.5", "7:1", "6.0"),  # UK overall IELTS band
    }
    oxford = next(c for c in report.conflicts if c.a.record_id == "1:1")
    assert set(oxford.subject) == {"oxford", "gmat"}
    assert {"minimum", "score"} <= set(oxford.measure)


def test_a_conflict_shows_on_both_records_quoting_the_other(report):
    _, mine = report.for_record("1:1")
    _, theirs = report.for_record("2:1")
    assert mine == theirs and len(mine) == 1
    here, there = mine[0].seen_from("2:1")
    assert here.record_id == "2:1" and "650" in here.claim.sentence
    assert there.record_id == "1:1" and there.claim.sentence == (
        "Oxford requires a minimum GMAT score of 700.")


def rec(rid, question, answer):
    return QARecord(id=rid, question=question, answer=answer)


def test_no_conflict_between_numbers_about_different_things():
    records = [
        rec("a", "What GMAT score does Oxford require?",
            "Oxford requires a minimum GMAT score of 700."),
        rec("b", "What GMAT score does Harvard require?",  # another school
            "Harvard requires a minimum GMAT score of 730."),
        rec("c", "Does Oxford need the GRE?",  # another test, same school
            "Oxford requires a minimum GRE score of 320."),
        rec("d", "When does Oxford open applications?",  # a year vs a deadline
            "Oxford opened applications in 2023; the deadline is January 15, 2026."),
        rec("e", "What GMAT score do Oxford students have?",  # another measure
            "Admitted Oxford students average 690 on the GMAT, with a class of 330."),
        rec("e2", "What GMAT score do Oxford students have?",  # other years
            "In 2022, the median GMAT of the Oxford class was 690."),
        rec("e3", "What GMAT score do Oxford students have?",
            "In 2023, the median GMAT of the Oxford class was 710."),
        rec("f", "What GMAT score does Oxford require?",  # says both values: no conflict
            "Oxford asks for a minimum GMAT score of 700; older guides said 650."),
        # Another clause's deadline (seen in the study's data): the date is the regular one's.
        rec("g:1", "What are the deadlines at Johns Hopkins?",
            "If you miss the early action deadline, you can still apply by the regular "
            "decision deadline of January 4, 2024."),
        rec("h:1", "What are the deadlines at Johns Hopkins?",
            "As discussed before, the early action deadline is November 1, 2023, for fall "
            "2024 admission."),
        # Two programmes of one university (the study's data): not the same subject.
        rec("i:1", "How do I write a strong SOP for MS in Data Science at Cambridge?",
            "The application deadline for the MS in Data Science program at Cambridge is "
            "January 6th. Start at least 3 months before the application deadline."),
        rec("j:1", "How do I write a strong SOP for MS in Computer Science at Cambridge?",
            "The application deadline for the MS in Computer Science program at Cambridge is "
            "December 15th. Decisions are sent within 8-12 weeks after the application "
            "deadline. Preview 3-4 key points."),
        rec("k:1", "How do I write a strong SOP for MS in Computer Science at Cambridge?",
            "Here are three key points that you should emphasize."),
    ]
    assert find_conflicts(records) == []


def test_same_value_written_differently_is_no_conflict_and_hedges_allow_slack():
    records = [
        rec("a", "How many students apply to Dhaka University?",
            "About 5 lakh students applied to Dhaka University in 2023."),
        rec("b", "How many students apply to Dhaka University?",
            "Roughly 4.8 lakh students applied to Dhaka University in 2023."),
        rec("c", "When is the Oxford GMAT deadline?", "Oxford's GMAT deadline is March 1."),
        rec("d", "When is the Oxford GMAT deadline?", "Oxford's GMAT deadline is 1st of March."),
    ]
    assert find_conflicts(records) == []
    # Durations of different scales measure different things (the bundled example's CPT).
    cpt = [rec("m", "Will CPT affect my OPT?", "Using 12 months of full-time CPT makes you "
               "ineligible for OPT."),
           rec("n", "What is full-time CPT?", "Full-time CPT is more than 20 hours per week; "
               "using it makes you ineligible for OPT."),
           rec("o", "Will CPT affect my OPT?", "Using 6 months of full-time CPT makes you "
               "ineligible for OPT.")]
    assert pairs(find_conflicts(cpt)) == {("m", "12 months", "o", "6 months")}
    records.append(rec("e", "When is the Oxford GMAT deadline?",
                       "Oxford's GMAT deadline is April 1."))
    assert pairs(find_conflicts(records)) == {("c", "March 1", "e", "April 1"),
                                              ("d", "1st of March", "e", "April 1")}


def test_claims_per_record_and_unverified_specifics(report):
    per_record = report.claims.per_record()
    assert "10:3" not in per_record  # no such record
    assert "1:3" not in per_record  # a list of documents: nothing specific to check
    gre = per_record["5:1"][0]
    assert gre.kinds == ("figure", "requirement")
    assert [q.text for q in gre.quantities] == ["320", "December 15, 2022"]
    assert "Dhaka University" in gre.entities and not gre.hedged
    assert any("without a hedge" in u and "dhaka" in u for u in gre.unverified)
    unverified = {c.record_id: c.unverified for c in report.unverified}
    assert any("OUCAS" in u and "no other conversation" in u for u in unverified["1:1"])
    assert any("IMM-5709-B" in u for u in unverified["9:1"])
    # Hedged general statements are claims, but not flagged.
    assert "6:1" in per_record and "6:1" not in unverified
    assert set(unverified) == {"1:1", "2:1", "5:1", "9:1"}
    assert report.summary() == {
        "records": 15, "claims": len(report.claims.claims),
        "claims_per_record": round(len(report.claims.claims) / 15, 2),
        "records_with_claims": len(per_record),
        "unverified_specifics": len(report.unverified),
        "records_with_unverified_specifics": 4,
        "conflicts": 3, "records_in_conflicts": 6,
    }


def test_a_name_another_conversation_mentions_is_not_flagged():
    records = [
        rec("1:1", "Can I work in Canada?", "According to IRCC Form IMM-5709-B, you may work."),
        rec("2:1", "Which form extends a study permit?", "Use Form IMM-5709-B from IRCC."),
    ]
    claims = list_claims(records)
    assert not any("no other conversation" in u for c in claims.claims for u in c.unverified)
    # The same conversation repeating a name does not corroborate it.
    records[1] = rec("1:3", "Which form again?", "Use Form IMM-5709-B from IRCC.")
    flagged = [c.record_id for c in list_claims(records).unverified]
    assert flagged == ["1:1", "1:3"]


def test_claim_list_export_csv_and_jsonl(report, tmp_path):
    write_claims(report, tmp_path / "claims.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "claims.jsonl").read_text().splitlines()]
    assert len(rows) == len(report.claims.claims)
    oxford = next(r for r in rows if r["record_id"] == "1:1" and "700" in r["sentence"])
    assert oxford["sentence"] == "Oxford requires a minimum GMAT score of 700."
    assert oxford["values"] == ["700 (number)"]
    assert oxford["conflicts"] == [
        "2:1 says '650': Oxford's Said Business School asks for a minimum GMAT score of 650."]
    assert any("without a hedge" in u for u in oxford["unverified"])

    write_claims(report, tmp_path / "claims.csv")
    with (tmp_path / "claims.csv").open(newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert [r["record_id"] for r in table] == [r["record_id"] for r in rows]
    form = next(r for r in table if r["record_id"] == "9:1")
    assert "IRCC Form IMM-5709-B" in form["sentence"] and form["kinds"] == "figure | named"
    assert form["hedged"] == "True" and "IMM-5709-B" in form["unverified"]
    with pytest.raises(ConfigError, match=r"\.csv or \.jsonl"):
        write_claims(report, tmp_path / "claims.txt")


def test_cli_claims_prints_the_figures_and_exports(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "claims.jsonl"
    done = subprocess.run([sys.executable, "-m", "audit", "claims", str(STUDY), "--out", str(out)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "conflicts between records │ 3 (6 records)" in done.stdout
    assert "Not judge errors" in done.stdout
    assert f"wrote 15 claims to {out}" in done.stdout.replace("\n", "")
    assert len(out.read_text().splitlines()) == 15
    as_json = subprocess.run([sys.executable, "-m", "audit", "claims", str(STUDY), "--json"],
                             capture_output=True, text=True, cwd=tmp_path)
    figures = json.loads(as_json.stdout)
    assert (figures["conflicts"], figures["unverified_specifics"]) == (3, 5)
    dhaka = next(c for c in figures["conflict_list"] if c["record_a"] == "3:1")
    assert (dhaka["value_a"], dhaka["value_b"]) == ("5 lakh", "3.5 lakh")
    bad = subprocess.run([sys.executable, "-m", "audit", "claims", str(STUDY), "--out", "x.txt"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert ".csv or .jsonl" in bad.stderr


def test_run_report_shows_conflicts_on_both_sampled_records_not_as_errors(tmp_path):
    import io

    from example_runs import save_audit_run
    from rich.console import Console

    from audit.report_data import build_report
    from core.models import Judgment, JudgmentStatus, Label, Verdict
    from core.store import Store
    from reports.html import to_html
    from reports.terminal import render_report

    dataset = load_dataset(STUDY)
    store = Store(tmp_path / "assay.db")
    config = {"dataset_path": str(STUDY), "seed": 0,
              "judges": [{"name": "a", "provider": "rules"}, {"name": "b", "provider": "rules"}]}
    save_audit_run(store, "audit-x", dataset.sha256, **config)
    sampled = [r for r in dataset.records if r.id in {"1:1", "2:1", "8:1"}]
    store.set_run_records("audit-x", [r.model_dump(mode="json") for r in sampled])
    store.save_judgments([
        Judgment(run_id="audit-x", record_id=r.id, judge=j, status=JudgmentStatus.ok,
                 verdict=Verdict(label=Label.supported, confidence=0.9))
        for r in sampled for j in "ab"])

    report = build_report(store, "audit-x", bootstrap=0)
    section = report.specifics
    assert section is not None and section.available
    # Conflicts are looked for with the sampled records only: 1:1/2:1 (Oxford), not 3:1/4:1.
    assert (section.dataset_records, section.sample_conflicts) == (15, 1)
    rows = {r.record_id: r for r in section.records}
    assert set(rows) == {"1:1", "2:1"}  # 8:1 has neither
    assert rows["1:1"].conflicts[0].other_record == "2:1"
    assert rows["2:1"].conflicts[0].other_record == "1:1"
    assert rows["2:1"].conflicts[0].other_sentence == "Oxford requires a minimum GMAT score of 700."
    assert report.summary.consensus.errors == 0  # a conflict is not a judge's error

    console = Console(file=io.StringIO(), width=120, record=True)
    render_report(report, console)
    text = console.export_text()
    assert "Checks without sources (not judge errors)" in text
    assert "but 1:1 says '700'" in text and "but 2:1 says '650'" in text
    assert "1 conflict of sampled records" in text  # not "1 conflicts"
    page = to_html(report)
    assert 'id="specifics"' in page and "<strong>2:1</strong> says <strong>650</strong>" in page
    assert "1 conflict of sampled records" in page

    # A changed dataset file: the section says so instead of showing other data's figures.
    changed = tmp_path / "changed.jsonl"
    changed.write_text(STUDY.read_text().splitlines()[0] + "\n")
    save_audit_run(store, "audit-y", dataset.sha256, **{**config, "dataset_path": str(changed)})
    store.set_run_records("audit-y", [r.model_dump(mode="json") for r in sampled])
    later = build_report(store, "audit-y", bootstrap=0).specifics
    assert later is not None and not later.available and "changed" in later.note


def test_review_shows_a_records_claims_markers_and_conflicts(report):
    import io

    from rich.console import Console

    from audit.review import ReviewItem
    from reports.review import show_item

    record = next(r for r in load_dataset(STUDY).records if r.id == "2:1")
    console = Console(file=io.StringIO(), width=160, record=True)
    show_item(ReviewItem(record, [], 1, 1), console, report)
    text = console.export_text()
    assert "claims to check (2; not judge errors)" in text
    assert "1. Oxford's Said Business School asks for a minimum GMAT score of 650." in text
    assert "conflict: 1:1 says '700': Oxford requires a minimum GMAT score of 700." in text
    assert "unverified: figure stated without a hedge for a named institution" in text


def test_conflicts_of_some_records_are_the_full_search_restricted_to_them(report):
    records = load_dataset(STUDY).records
    for chosen in ({"2:1"}, {"4:1", "7:1"}, {"8:1"}):
        some = find_conflicts(records, only=chosen)
        assert pairs(some) == {p for p in pairs(report.conflicts)
                               if p[0] in chosen or p[2] in chosen}
