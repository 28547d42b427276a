"""The human judge: verdicts saved one by one, citations checked, stop and resume."""

from audit.review import ReviewItem, pending_items, review_loop
from core.models import JudgmentStatus, Label, Passage, QARecord, sha256_text
from core.store import Store

TEXT = "The OISS office is open Monday to Friday from 9:00 a.m. to 5:00 p.m."
PASSAGE = Passage(id="office#0", doc_id="office", text=TEXT, sha256=sha256_text(TEXT))
RECORDS = [
    QARecord(id="r1", question="When is OISS open?", answer="Monday to Friday, 9 to 5."),
    QARecord(id="r2", question="Is OISS open Saturdays?", answer="Yes, 10 to 2 on Saturdays."),
    QARecord(id="r3", question="Where is OISS?", answer="Harmon Hall."),
]


def scripted(*answers):
    queue = list(answers)
    return lambda prompt: queue.pop(0)


def test_review_saves_each_verdict_and_resumes_where_it_stopped(tmp_path):
    store = Store(tmp_path / "a.db")
    store.create_run("run-1", "audit", "d" * 64, {})
    store.set_run_records("run-1", [r.model_dump(mode="json") for r in RECORDS])
    evidence = lambda record: [PASSAGE]  # noqa: E731
    items = pending_items(store, "run-1", "human", evidence)
    assert [i.record.id for i in items] == ["r1", "r2", "r3"]
    said = []
    ask = scripted(
        "s", "office#0", "open Monday to Friday from 9:00 a.m. to 5:00 p.m.", "",  # r1
        "x", "c", "office#0", "open on Saturdays from 10", "made up quote", "2",  # r2
        "q",  # stop at r3
    )
    saved = review_loop(store, "run-1", "human", items, ask, show=lambda item: None, say=said.append)
    assert saved == 2
    by_record = {j.record_id: j for j in store.judgments("run-1")}
    assert by_record["r1"].status is JudgmentStatus.ok
    assert by_record["r1"].verdict.label is Label.supported
    assert by_record["r2"].status is JudgmentStatus.invalid_citation
    assert by_record["r2"].verdict.severity.value == "major"
    assert "citation is invalid" in said[0]

    remaining = pending_items(store, "run-1", "human", evidence)
    assert [i.record.id for i in remaining] == ["r3"]
    assert isinstance(remaining[0], ReviewItem) and remaining[0].position == 3
    review_loop(store, "run-1", "human", remaining, scripted("n", "", "no source says so", "3"),
                show=lambda item: None, say=said.append)
    assert store.judgments("run-1")[-1].verdict.label is Label.not_in_sources
    assert pending_items(store, "run-1", "human", evidence) == []


def test_closed_book_review_asks_for_no_citation_and_stores_an_uncited_verdict(tmp_path):
    store = Store(tmp_path / "a.db")
    store.create_run("run-cb", "audit", "d" * 64, {"closed_book": True, "sources_path": None})
    store.set_run_records("run-cb", [RECORDS[1].model_dump(mode="json")])
    items = pending_items(store, "run-cb", "human", lambda record: [])
    prompts = []
    answers = iter(["c", "OISS is closed on Saturdays (its website)", "2"])

    def ask(prompt):
        prompts.append(prompt)
        return next(answers)

    assert review_loop(store, "run-cb", "human", items, ask, show=lambda item: None,
                       say=lambda line: None) == 1
    judgment = store.judgments("run-cb")[0]
    assert judgment.status is JudgmentStatus.ok and judgment.verdict.citations == []
    assert judgment.verdict.label is Label.contradicted
    assert not any("cite passage" in p for p in prompts)
    assert "unverifiable" in prompts[0]


def test_review_command_shows_the_keys_of_its_prompt(tmp_path):
    """`[s]upported` is the prompt's text, not Rich markup: the keys must reach the screen."""
    from click.testing import CliRunner

    from audit.cli import cli

    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "r1", "question": "When is OISS open?", "answer": "9 to 5."}\n')
    judges = tmp_path / "j.toml"
    judges.write_text('[[judge]]\nname = "rules"\nprovider = "rules"\n')
    db = str(tmp_path / "a.db")
    runner = CliRunner()
    sampled = runner.invoke(cli, ["sample", "--n", "1", "--dataset", str(data), "--no-sources",
                                  "--judges", str(judges), "--db", db])
    assert sampled.exit_code in (0, 4), sampled.output
    shown = runner.invoke(cli, ["review", "--db", db], input="q\n")
    assert shown.exit_code == 0, shown.output
    assert "[s]upported" in shown.output and "[q]uit" in shown.output
