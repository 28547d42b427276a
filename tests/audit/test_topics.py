"""Topics for records without a topic field: keyword rules, whole words only, and the gate's
critical-topic rule firing on data that has no topic field."""

from __future__ import annotations

import json
from pathlib import Path

from example_runs import save_audit_run

from audit.gate import GatePolicy, evaluate_gate, load_policy
from audit.topics import assign_topics, topic_matches
from core.datasets import load_dataset
from core.models import Judgment, JudgmentStatus, Label, QARecord, Severity, Verdict
from core.store import Store

STUDY = Path(__file__).parents[1] / "data" / "study_shaped" / "dataset.jsonl"
# The bundled example's critical topics (the built-in policy names none)
EXAMPLE_POLICY = Path(__file__).parents[2] / "examples" / "advising" / "policy.toml"
CRITICAL = load_policy(EXAMPLE_POLICY).critical_topics


def test_study_records_get_topics_from_their_questions_and_say_how():
    records = load_dataset(STUDY).records
    assigned = {a.record_id: a for a in assign_topics(records, CRITICAL)}
    assert assigned["1:1"].topic == "admissions" and assigned["1:1"].how == "rule"
    assert assigned["1:1"].matched == ("GMAT",)
    assert assigned["1:1"].words() == "admissions (by keyword: GMAT)"
    assert assigned["9:1"].topic == "work_authorisation"  # "Can I work while studying in Canada?"
    # A follow-up is read with the user turns before it.
    assert assigned["9:3"].topic == "work_authorisation"  # "What about during breaks?"
    assert assigned["3:3"].topic == "admissions"  # "How should I prepare?" after the test
    assert sum(a.topic is not None for a in assigned.values()) == len(records)


def test_keywords_match_whole_words_never_inside_another_word():
    records = [
        QARecord(id="a", question="Which network do I join on campus?", answer="Eduroam."),
        QARecord(id="b", question="Is the homework graded?", answer="Yes."),
        QARecord(id="c", question="Can I do part-time work?", answer="Yes, 20 hours."),
        QARecord(id="d", question="Can I drop a course?", answer="Yes.", topic="course_load"),
        # The study's questions: a medical school is a place to study, not health care.
        QARecord(id="e", question="Can you explain the admission process for Harvard Medical "
                 "School?", answer="Apply through AMCAS."),
        QARecord(id="f", question="Does my student visa cover health insurance?", answer="No."),
    ]
    assigned = assign_topics(records, CRITICAL)
    assert [a.topic for a in assigned] == [None, None, "work_authorisation", "course_load",
                                           "admissions",
                                           "healthcare"]
    assert assigned[5].matched == ("health insurance",)  # 1 keyword each: the first topic
    assert assigned[2].matched == ("work", "part-time")
    assert assigned[3].how == "field"


def test_topic_names_match_critical_topics_exactly():
    assert topic_matches("work", ["work"]) == "work"
    assert topic_matches("Work", ["work"]) == "work"
    assert topic_matches("work_authorisation", ["work"]) is None  # a name, not a word of it
    assert topic_matches("Work_Authorisation", CRITICAL) == "work_authorisation"
    assert topic_matches("work", CRITICAL) is None
    assert topic_matches("network", CRITICAL) is None
    assert topic_matches("networking events", CRITICAL) is None
    assert topic_matches("Admissions", CRITICAL) == "admissions"
    assert topic_matches(None, CRITICAL) is None


def test_policy_keywords_replace_the_built_in_ones(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('[gate]\ncritical_topics = ["visas"]\n'
                    '[gate.topic_keywords]\nvisas = ["study permit", "IRCC"]\n')
    policy = load_policy(path)
    records = [QARecord(id="a", question="How do I renew my study permit?", answer="Online."),
               QARecord(id="b", question="Can I work in Canada?", answer="Yes.")]
    assigned = assign_topics(records, policy.critical_topics, policy.topic_keywords)
    assert [(a.topic, a.matched) for a in assigned] == [("visas", ("study permit",)), (None, ())]
    # Topic by topic: the ones a policy does not list keep their built-in keywords.
    both = assign_topics(records, ["visas", "work"], policy.topic_keywords)
    assert [(a.topic, a.matched) for a in both] == [("visas", ("study permit",)),
                                                    ("work", ("work",))]


def judgment(run_id, record_id, judge, error):
    verdict = Verdict(label=Label.contradicted if error else Label.supported,
                      category="wrong_number" if error else "none",
                      severity=Severity.major if error else Severity.none, confidence=0.9)
    return Judgment(run_id=run_id, record_id=record_id, judge=judge, status=JudgmentStatus.ok,
                    verdict=verdict)


def test_critical_rule_fires_on_data_without_a_topic_field(tmp_path):
    dataset = load_dataset(STUDY)
    store = Store(tmp_path / "assay.db")
    save_audit_run(store, "audit-study", dataset.sha256, dataset_path=str(STUDY))
    records = dataset.records
    store.set_run_records("audit-study", [r.model_dump(mode="json") for r in records])
    wrong = {"5:1", "10:1"}  # the invented GRE rule; a statement-of-purpose answer
    store.save_judgments([judgment("audit-study", r.id, judge, r.id in wrong)
                          for r in records for judge in ("rules", "rules-2")])
    assert all(r.topic is None for r in records)

    decision = evaluate_gate(store, "audit-study", STUDY,
                             GatePolicy(max_error_rate=1.0, critical_topics=CRITICAL))
    critical = next(r for r in decision.reasons if "critical error(s)" in r)
    assert critical.startswith("2 critical error(s)")
    assert "5:1 (admissions (by keyword: GRE), wrong_number)" in critical
    assert "10:1 (admissions (by keyword: statement of purpose), wrong_number)" in critical
    assert decision.status == "fail"

    # Without keywords for its topics the same data has no critical error.
    unmatched = GatePolicy(max_error_rate=1.0, critical_topics=["housing"])
    decision = evaluate_gate(store, "audit-study", STUDY, unmatched)
    assert not any("critical" in r for r in decision.reasons)


def test_cli_topics_lists_assignments_and_how(tmp_path):
    import subprocess
    import sys

    policy = ["--policy", str(EXAMPLE_POLICY)]  # critical topics: the built-in policy has none
    done = subprocess.run([sys.executable, "-m", "audit", "topics", str(STUDY), "--json",
                           *policy], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {r["record_id"]: r for r in json.loads(done.stdout)}
    assert rows["9:1"] == {"record_id": "9:1", "topic": "work_authorisation", "how": "rule",
                           "matched": ["work"], "score": None}
    table = subprocess.run([sys.executable, "-m", "audit", "topics", str(STUDY), *policy],
                           capture_output=True, text=True, cwd=tmp_path)
    assert "admissions" in table.stdout and "yes" in table.stdout  # critical
    assert "work_authorisation (by keyword: work)" in table.stdout


def test_embeddings_place_what_no_keyword_does_and_say_their_score():
    """The packaged MiniLM model against the topics' names and keywords (threshold 0.35)."""
    records = [
        QARecord(id="a", question="How many hours per week can international students be "
                 "employed?", answer="Twenty."),
        QARecord(id="b", question="What are the living costs and campus culture like?",
                 answer="Varied."),
        QARecord(id="c", question="Can I work during breaks?", answer="Yes."),
    ]
    keywords_only = assign_topics(records, CRITICAL)
    assert [a.topic for a in keywords_only] == [None, None, "work_authorisation"]
    assigned = assign_topics(records, CRITICAL, min_similarity=0.35)
    employed, costs, breaks = assigned
    assert (employed.topic, employed.how) == ("work_authorisation", "embedding")
    assert employed.score is not None and employed.score >= 0.35
    assert employed.words() == f"work_authorisation (by embedding: {employed.score:.2f})"
    assert costs.topic is None and costs.how is None  # no topic is close enough
    assert breaks == keywords_only[2]  # keywords first: the model is not asked


def test_a_policy_threshold_lets_the_gate_place_a_paraphrase(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('[gate]\ncritical_topics = ["work"]\nmax_error_rate = 1.0\n'
                    "topic_min_similarity = 0.35\n")
    policy = load_policy(path)
    record = QARecord(id="q1", question="How many hours per week can international students "
                      "be employed?", answer="Sixty hours.")
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps({"id": "q1", "question": record.question,
                                "answer": record.answer}) + "\n")
    sha = load_dataset(data).sha256
    store = Store(tmp_path / "assay.db")
    save_audit_run(store, "audit-w", sha, dataset_path=str(data))
    store.set_run_records("audit-w", [record.model_dump(mode="json")])
    store.save_judgments([judgment("audit-w", "q1", j, True) for j in ("rules", "rules-2")])
    critical = next(r for r in evaluate_gate(store, "audit-w", data, policy).reasons
                    if "critical" in r)
    assert "q1 (work (by embedding: 0." in critical
    keywords_only = policy.model_copy(update={"topic_min_similarity": None})
    assert not any("critical" in r
                   for r in evaluate_gate(store, "audit-w", data, keywords_only).reasons)
