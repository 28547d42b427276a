"""audit.quality: labelled sets → Assay inputs, and judge metrics against truth."""

from __future__ import annotations

import json

import pytest

from audit import quality
from audit.stats import cohen_kappa, wilson_interval
from core.models import Citation, Judgment, JudgmentStatus, Label, Verdict
from core.store import Store


@pytest.fixture
def halueval_rows(shared_data):
    lines = (shared_data / "halueval" / "qa_300.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_conversion_of_five_items_gives_own_passages_and_balance(halueval_rows, tmp_path):
    from core.datasets import load_dataset
    from core.retrieval import evidence_for, load_index
    from core.sources import load_passages

    rows = halueval_rows[:5]
    answers = quality.halueval_answers(rows)
    inputs = quality.write_assay_inputs(answers, tmp_path / "set", seed=3)

    passages = {p.id: p for p in load_passages(inputs.sources)}
    assert sorted(passages) == sorted(f"{row['id']}#0" for row in rows)
    for row in rows:
        assert passages[f"{row['id']}#0"].text == " ".join(row["knowledge"].split(" ")).strip()

    dataset = load_dataset(inputs.dataset)
    assert len(dataset.records) == 10
    assert sum(inputs.truth.values()) == 5 and len(inputs.truth) == 10
    by_item: dict[str, list[bool]] = {}
    index = load_index(inputs.sources, cache_dir=tmp_path / "index")
    knowledge = {row["id"]: row for row in rows}
    for record in dataset.records:
        item = inputs.items[record.id]
        assert record.source_ids == [f"{item}#0"]
        assert [p.id for p in evidence_for(record, index, k=0)] == [f"{item}#0"]
        assert record.question == knowledge[item]["question"]
        expected = "hallucinated_answer" if inputs.truth[record.id] else "right_answer"
        assert record.answer == knowledge[item][expected]
        assert record.id.startswith(item + ".")  # neutral id: .1 or .2, never the label
        by_item.setdefault(item, []).append(inputs.truth[record.id])
    assert all(sorted(v) == [False, True] for v in by_item.values())
    # which id carries the error is a seeded coin, so the suffix does not give it away
    error_suffixes = {rid.rsplit(".", 1)[1] for rid, err in inputs.truth.items() if err}
    assert error_suffixes == {"1", "2"}
    truth_rows = [json.loads(x) for x in (tmp_path / "set" / "truth.jsonl").read_text().split("\n")
                  if x]
    assert {r["id"]: r["error"] for r in truth_rows} == inputs.truth


def test_reporting_slice_excludes_the_local_calibration_dev_items(halueval_rows):
    answers = quality.halueval_answers(halueval_rows)
    sample = quality.balanced_sample(answers, 40, seed=7)
    numbers = [int(a.item_id.rsplit("-", 1)[1]) for a in sample.answers]
    assert numbers and all(n % 2 == 1 for n in numbers)  # calibration dev = even numbers
    assert len(sample.answers) == 40 and sum(a.error for a in sample.answers) == 20
    assert len({a.item_id for a in sample.answers}) == 20  # both answers of 20 items
    again = quality.balanced_sample(answers, 40, seed=7)
    assert [a.answer for a in again.answers] == [a.answer for a in sample.answers]

    one = quality.balanced_sample(answers, 40, seed=7, pairing="one")
    assert len({a.item_id for a in one.answers}) == 40
    assert sum(a.error for a in one.answers) == 20

    dev = quality.balanced_sample(answers, 1000, seed=7, split=quality.DEV)
    assert all(int(a.item_id.rsplit("-", 1)[1]) % 2 == 0 for a in dev.answers)
    assert dev.note  # asked for more than the slice holds
    assert quality.split_of("halueval-qa-004") == quality.DEV
    assert quality.split_of("halueval-qa-131") == quality.REPORT


# A fixed confusion: TP=6, FP=2, FN=4, TN=8 (20 records, 10 errors in truth).
TRUTH = [True] * 10 + [False] * 10
FLAGGED = [True] * 6 + [False] * 4 + [True] * 2 + [False] * 8


def test_metrics_on_a_fixed_confusion_match_hand_computation():
    c = quality.Confusion.of(TRUTH, FLAGGED)
    assert (c.tp, c.fp, c.fn, c.tn) == (6, 2, 4, 8)
    groups = [f"item-{i % 10}" for i in range(20)]  # both answers of an item share a group
    m = quality.binary_metrics(TRUTH, FLAGGED, groups, bootstrap=500, seed=1)
    assert m["precision"]["value"] == pytest.approx(6 / 8)
    assert m["recall"]["value"] == pytest.approx(6 / 10)
    assert m["accuracy"]["value"] == pytest.approx(14 / 20)
    assert m["f1"]["value"] == pytest.approx(12 / 18)  # 2TP / (2TP + FP + FN)
    # po = 0.7; pe = (8*10 + 12*10) / 400 = 0.5; kappa = 0.2 / 0.5
    assert m["kappa"]["value"] == pytest.approx(0.4)
    assert cohen_kappa([float(x) for x in TRUTH], [float(x) for x in FLAGGED]).value == (
        pytest.approx(0.4))
    interval = wilson_interval(6, 8)
    assert m["precision"]["ci"] == pytest.approx([interval.low, interval.high])
    # Wilson 95% for 6/8 by hand: centre (0.75 + 1.92/8)/(1 + 3.84/8), half-width ...
    z2 = 1.959964 ** 2
    centre = (0.75 + z2 / 16) / (1 + z2 / 8)
    half = (z2 ** 0.5) * ((0.75 * 0.25 / 8 + z2 / 256) ** 0.5) / (1 + z2 / 8)
    assert m["precision"]["ci"] == pytest.approx([centre - half, centre + half], abs=1e-5)
    for key in ("f1", "kappa"):
        ci = m[key]["ci"]
        assert ci[0] < m[key]["value"] < ci[1]
        assert ci[1] - ci[0] > 0.05


def test_decided_only_figures_and_undefined_cases():
    decided = [True] * 8 + [False] * 2 + [True] * 10  # the two undecided were missed errors
    m = quality.binary_metrics(TRUTH, FLAGGED, list(range(20)), decided=decided, bootstrap=0)
    assert m["coverage"]["value"] == pytest.approx(18 / 20)
    assert m["decided_only"]["recall"] == pytest.approx(6 / 8)
    # decided: 6 TP + 2 FN among errors, 2 FP + 8 TN among correct answers
    assert m["decided_only"]["accuracy"]["value"] == pytest.approx(14 / 18)
    nothing = quality.binary_metrics([True, False], [False, False], ["a", "b"], bootstrap=0)
    assert nothing["precision"]["value"] is None and nothing["f1"]["value"] == 0.0
    assert quality.kappa(quality.Confusion(0, 0, 0, 4)) is None  # one category only


def test_auc_and_error_score():
    # pairs (pos, neg): (0.9, 0.8) win, (0.9, 0.3) win, (0.4, 0.8) loss, (0.4, 0.3) win
    assert quality.auc([0.9, 0.8, 0.4, 0.3], [True, False, True, False]) == pytest.approx(0.75)
    assert quality.auc([0.5, 0.5], [True, False]) == pytest.approx(0.5)  # a tie counts half
    assert quality.auc([0.1, 0.2], [True, True]) is None
    error = Verdict(label=Label.not_in_sources, confidence=0.8)
    fine = Verdict(label=Label.supported, confidence=0.8)
    assert quality.p_error(error) == pytest.approx(0.8)
    assert quality.p_error(fine) == pytest.approx(0.2)


def _judgment(record: str, judge: str, label: Label | None, confidence: float = 0.9,
              status: JudgmentStatus = JudgmentStatus.ok) -> Judgment:
    verdict = None
    if label is not None:
        verdict = Verdict(label=label, confidence=confidence,
                          citations=[Citation(passage_id="a#0", quote="x")])
    return Judgment(run_id="r", record_id=record, judge=judge, status=status, verdict=verdict)


def test_evaluate_run_scores_judges_consensus_and_invalid_citations(tmp_path):
    err, ok = Label.contradicted, Label.supported
    inputs = quality.AssayInputs(
        tmp_path / "d.jsonl", tmp_path / "s",
        truth={"a.1": True, "a.2": False, "b.1": True, "b.2": False},
        items={"a.1": "a", "a.2": "a", "b.1": "b", "b.2": "b"},
    )
    store = Store(tmp_path / "assay.db")
    for j in [
        _judgment("a.1", "x", err), _judgment("a.2", "x", ok), _judgment("b.1", "x", err),
        _judgment("b.2", "x", err, 0.6),
        _judgment("a.1", "y", err), _judgment("a.2", "y", err),
        _judgment("b.1", "y", None, status=JudgmentStatus.abstain),
        _judgment("b.2", "y", ok, status=JudgmentStatus.invalid_citation),
    ]:
        store.save_judgment(j)
    result = quality.evaluate_run(store.judgments("r"), inputs, bootstrap=50)
    x, y = result["judges"]["x"], result["judges"]["y"]
    assert (x["tp"], x["fp"], x["fn"], x["tn"]) == (2, 1, 0, 1)
    assert (y["tp"], y["fp"], y["fn"], y["tn"]) == (1, 1, 1, 1)
    assert y["coverage"]["value"] == pytest.approx(0.5)
    assert y["invalid_citations"]["value"] == pytest.approx(0.25)
    assert x["invalid_citations"]["value"] == 0
    assert x["auc"]["value"] == pytest.approx(1.0)  # 0.9, 0.9 vs 0.1, 0.6
    # majority: a.1 error (both), a.2 disputed, b.1 error (x alone), b.2 error (x alone)
    majority = result["majority"]
    assert majority["disputed"] == 1
    assert (majority["tp"], majority["fp"], majority["fn"], majority["tn"]) == (2, 1, 0, 1)
    # consensus: a.2's tie resolved by the mean P(error) (.1 and .9: 0.5 counts as an error);
    # four records are too few to weigh the judges, so the majority decided and says why
    consensus = result["consensus"]
    assert consensus["method"] == "majority" and "4 records" in consensus["method_reason"]
    assert consensus["undecided"] == 0
    assert (consensus["tp"], consensus["fp"], consensus["fn"], consensus["tn"]) == (2, 2, 0, 0)
    # panel mean P(error): a.1 .9, a.2 (.1+.9)/2 = .5, b.1 .9, b.2 .6
    assert result["panel_mean_p_error"]["auc"]["value"] == pytest.approx(1.0)
    assert "dawid_skene" in result


def test_a_real_rules_only_audit_on_converted_items(halueval_rows, tmp_path):
    from audit.sample import SampleOptions, audit_sample

    answers = quality.halueval_answers(halueval_rows[:6])
    inputs = quality.write_assay_inputs(answers, tmp_path / "set")
    judges = tmp_path / "judges.toml"
    judges.write_text('[[judge]]\nname = "rules"\nprovider = "rules"\n', encoding="utf-8")
    store = Store(tmp_path / "assay.db")
    options = SampleOptions(dataset=inputs.dataset, sources=inputs.sources,
                            n=len(inputs.truth), judges_file=judges, evidence_k=0)
    outcome = audit_sample(store, options)
    assert {r.id for r in outcome.records} == set(inputs.truth)
    result = quality.evaluate_run(store.judgments(outcome.run_id), inputs, bootstrap=0)
    rules = result["judges"]["rules"]
    assert rules["n"] == 12 and sum(rules["statuses"].values()) == 12
    assert rules["tp"] + rules["fn"] == 6
    assert "dawid_skene" not in result  # one judge: no latent-truth model
