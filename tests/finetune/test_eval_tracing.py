"""Tracing a tuned model's error to the training records that carry the same wrong claim,
with what the training audit said about them (real store)."""

from __future__ import annotations

from core.models import Judgment, JudgmentStatus, Label, QARecord, Verdict
from core.store import Store
from finetune.tracing import TrainingIndex, audit_flags, is_new_error, trace_error, wrong_facts

TRAIN = [
    QARecord(id="t1", question="What is the late registration fee?",
             answer="The late registration fee is $300, charged after the first week."),
    QARecord(id="t2", question="When does housing open?",
             answer="Campus housing opens on August 20 for new students."),
    QARecord(id="t3", question="How much is the housing deposit?",
             answer="The housing deposit is $150 and is refundable."),
    QARecord(id="t4", question="How many hours can I work on campus?",
             answer="You may work up to 20 hours per week on campus during the semester."),
    QARecord(id="t5", question="Who handles travel signatures?",
             answer="Travel signatures go to oiss-documents@northfield.edu."),
    QARecord(id="t6", question="Do I need a travel signature?",
             answer="You do not need to get a travel signature before re-entering the U.S."),
]
REFERENCE = "The late registration fee is $150, charged after the first week."


def audited_store(tmp_path) -> Store:
    store = Store(tmp_path / "assay.db")
    store.create_run("audit-1", "audit", "sha", {})
    store.set_run_records("audit-1", [r.model_dump(mode="json") for r in TRAIN[:4]])
    verdicts = {("t1", "rules"): Label.contradicted, ("t1", "local"): Label.supported,
                ("t1", "gemini"): Label.contradicted, ("t3", "rules"): Label.supported}
    for (record_id, judge), label in verdicts.items():
        store.save_judgment(Judgment(run_id="audit-1", record_id=record_id, judge=judge,
                                     status=JudgmentStatus.ok, verdict=Verdict(label=label)))
    return store


def test_wrong_facts_are_what_the_reference_does_not_say():
    facts = wrong_facts("The late registration fee is $300 after the first week.", REFERENCE)
    assert [q.text for q in facts.quantities] == ["$300"]
    assert facts.entities == []
    email = wrong_facts("Write to travel@northfield.edu.", "Write to oiss-documents@northfield.edu.")
    assert email.entities == ["travel@northfield.edu"]


def test_a_tuned_claim_is_traced_unless_unflagged_or_the_base_says_it_too():
    wrong = "The late registration fee is $300, charged after the first week."
    assert is_new_error("error", "ok", wrong, "I don't know.", REFERENCE)
    assert is_new_error("disputed", "ok", wrong, "I don't know.", REFERENCE)
    assert not is_new_error("ok", "ok", wrong, "I don't know.", REFERENCE)
    # The base is wrong too, but not in the same way: the tuned model's $300 is its own.
    assert is_new_error("error", "error", wrong, "The late fee is $75.", REFERENCE)
    # The base makes the same wrong claim: nothing the tuning added.
    assert not is_new_error("error", "error", wrong, "It is $300 after the first week.",
                            REFERENCE)


def test_tracing_finds_the_record_that_taught_the_wrong_amount(tmp_path):
    store = audited_store(tmp_path)
    trace = trace_error("p1", "How much is the late fee?", "The late fee is $300.",
                        "The fee is $150.", REFERENCE, TrainingIndex(TRAIN),
                        audit_flags(store, "audit-1"))
    assert trace.wrong_facts == ["$300"]
    assert [m.record_id for m in trace.matches] == ["t1"]  # not t3, which says $150
    match = trace.matches[0]
    assert match.shared == ["$300"]
    assert match.audit.describe() == "flagged by 2 of 3 judges"
    assert match.to_dict()["audit_text"] == "flagged by 2 of 3 judges"


def test_a_record_outside_the_audit_sample_says_so(tmp_path):
    store = audited_store(tmp_path)
    trace = trace_error("p2", "Who signs travel documents?", "Ask oiss-documents@northfield.edu.",
                        "Ask the office.", "Ask the OISS front desk at oiss@northfield.edu.",
                        TrainingIndex(TRAIN), audit_flags(store, "audit-1"))
    assert [m.record_id for m in trace.matches] == ["t5"]
    assert trace.matches[0].audit.describe() == "not in the audit sample"


def test_a_negated_rule_is_traced_by_its_words(tmp_path):
    trace = trace_error("p3", "Is a travel signature required?",
                        "No, you do not need to get a travel signature to re-enter.", "I think so.",
                        "Yes: you must get a travel signature before re-entering the U.S.",
                        TrainingIndex(TRAIN), {})
    assert trace.matches and trace.matches[0].record_id == "t6"
    assert "need" in trace.matches[0].shared_words


def test_no_match_when_no_training_record_carries_the_claim(tmp_path):
    trace = trace_error("p4", "How many hours can I work?", "You can work 35 hours a week.",
                        "20 hours.", "Up to 20 hours per week during the semester.",
                        TrainingIndex(TRAIN), {})
    assert trace.wrong_facts[0] == "35 hours"
    assert trace.matches == []
