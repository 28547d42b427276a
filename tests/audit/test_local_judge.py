"""The local likelihood judge, with the real packaged model and a real store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from audit.judges.local import (
    COEF,
    LocalJudge,
    content_words,
    error_probability,
    novelty,
    split_sentences,
)
from core.local_model import hf_model_dir
from core.models import JudgeSpec, Label, Passage, QARecord, sha256_text
from core.providers.local import LocalProvider
from core.store import Store

REPORTING_ITEMS = 12  # the first 12 held-out items (odd id numbers) in file order


def passage(pid: str, text: str) -> Passage:
    return Passage(id=pid, doc_id=pid.split("#")[0], text=text, sha256=sha256_text(text))


@pytest.fixture(scope="session")
def provider() -> LocalProvider:
    return LocalProvider(str(hf_model_dir()))


@pytest.fixture
def judge(tmp_path: Path, provider: LocalProvider) -> LocalJudge:
    spec = JudgeSpec(name="local", provider="local", model="gemma-3-270m")
    return LocalJudge(spec, Store(tmp_path / "assay.db"), provider=provider)


POLICY = [
    passage(
        "leave#0",
        "Annual leave.Employees receive 25 days of paid annual leave per year. Up to five "
        "unused days may be carried over into the next year.",
    ),
    passage(
        "leave#1",
        "Parental leave is 16 weeks at full pay. It must be requested at least eight weeks "
        "before the expected start date.",
    ),
]


def test_sentences_are_verbatim_and_split_without_spaces() -> None:
    text = "Arthur's Magazine was published in Philadelphia.First for Women is a magazine."
    sentences = split_sentences(passage("d#0", text))
    assert [s.text for s in sentences] == [
        "Arthur's Magazine was published in Philadelphia.",
        "First for Women is a magazine.",
    ]
    for s in split_sentences(POLICY[0]) + split_sentences(POLICY[1]):
        assert s.text in {p.id: p.text for p in POLICY}[s.passage_id]
    assert split_sentences(POLICY[0])[0].text.startswith("Annual leave.Employees")  # merged


def test_novelty_counts_content_words_missing_from_the_evidence() -> None:
    assert content_words("The houses are in the gardens") == {"house", "garden"}
    assert novelty("Delhi", "head office in Delhi") == 0.0
    assert novelty("Mumbai, the financial capital", "head office in Delhi") == 1.0


def test_calibration_orders_errors_above_support() -> None:
    assert COEF["novelty"] > 0  # more unsupported words, more likely an error
    from audit.judges.local import LikelihoodFeatures

    def feats(nov: float, gain: float) -> LikelihoodFeatures:
        return LikelihoodFeatures(nov, gain, gain, -1.0, -2.0, gain, None, None, 0)

    assert error_probability(feats(0.9, 0.0)) > 0.5 > error_probability(feats(0.0, 2.0))


def test_verdict_cites_a_verbatim_evidence_sentence(judge: LocalJudge) -> None:
    record = QARecord(
        id="r1",
        question="How many unused leave days can be carried over?",
        answer="Up to five unused days can be carried over into the next year.",
    )
    outcome = asyncio.run(judge.judge(record, POLICY))
    verdict = outcome.verdict
    assert verdict is not None and not outcome.cache_hit
    assert verdict.label is Label.supported
    assert 0.5 <= verdict.confidence <= 1.0
    (citation,) = verdict.citations
    assert citation.quote in {p.id: p.text for p in POLICY}[citation.passage_id]
    assert "carried over" in citation.quote
    assert outcome.tokens_in > 0

    wrong = record.model_copy(
        update={"id": "r2", "answer": "Employees can carry over 40 days, and sell the rest."}
    )
    flagged = asyncio.run(judge.judge(wrong, POLICY)).verdict
    assert flagged is not None and flagged.label is Label.not_in_sources
    assert flagged.citations[0].quote in {p.id: p.text for p in POLICY}[flagged.citations[0].passage_id]


def test_second_run_hits_the_cache(judge: LocalJudge, tmp_path: Path) -> None:
    record = QARecord(id="r1", question="How long is parental leave?", answer="16 weeks.")
    first = asyncio.run(judge.judge(record, POLICY))
    passes = judge.provider.forward_passes
    assert passes > 0 and judge.store.count_calls() == 1
    again = LocalJudge(judge.spec, Store(tmp_path / "assay.db"), provider=judge.provider)
    second = asyncio.run(again.judge(record, POLICY))
    assert judge.provider.forward_passes == passes  # no forward pass on a re-run
    assert second.cache_hit and second.tokens_in == 0
    assert second.verdict == first.verdict
    changed = [POLICY[0], passage("leave#1", POLICY[1].text.replace("16", "12"))]
    asyncio.run(again.judge(record, changed))  # other evidence: a new computation
    assert judge.provider.forward_passes > passes


def test_abstains_without_evidence(judge: LocalJudge) -> None:
    record = QARecord(id="r1", question="Q?", answer="A.")
    passes = judge.provider.forward_passes
    for evidence in ([], [passage("empty#0", "  ")]):
        outcome = asyncio.run(judge.judge(record, evidence))
        assert outcome.verdict is None and outcome.raw
    assert judge.provider.forward_passes == passes


def _auc(scores: list[float], labels: list[int]) -> float:
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_separates_halueval_errors_on_held_out_items(judge: LocalJudge, shared_data: Path) -> None:
    halueval = shared_data / "halueval" / "qa_300.jsonl"
    items = [json.loads(line) for line in halueval.read_text().splitlines()]
    held_out = [it for it in items if int(it["id"].rsplit("-", 1)[1]) % 2 == 1]
    scores, labels = [], []
    for item in held_out[:REPORTING_ITEMS]:
        evidence = [passage(f"{item['id']}#0", item["knowledge"])]
        for key, is_error in (("right_answer", 0), ("hallucinated_answer", 1)):
            record = QARecord(id=f"{item['id']}:{key}", question=item["question"], answer=item[key])
            outcome = asyncio.run(judge.judge(record, evidence))
            verdict = outcome.verdict
            assert verdict is not None
            assert verdict.citations[0].quote in item["knowledge"]
            p_error = verdict.confidence if verdict.is_error else 1 - verdict.confidence
            scores.append(p_error)
            labels.append(is_error)
    auc = _auc(scores, labels)
    print(f"local judge AUC on {len(labels)} held-out HaluEval records: {auc:.3f}")
    assert auc > 0.6


def test_closed_book_says_unverifiable_without_loading_the_model(tmp_path: Path) -> None:
    """No sources: the likelihood judge has nothing to score against, so it never invents an
    error (nor a support) and does not load its model."""
    store = Store(tmp_path / "assay.db")
    spec = JudgeSpec(name="local", provider="local", model="gemma-3-270m")
    judge = LocalJudge(spec, store, closed_book=True)
    asyncio.run(judge.prepare())
    record = QARecord(id="r", question="Does Dhaka University require the GRE?",
                      answer="Yes, a minimum GRE score of 320.")
    verdict = asyncio.run(judge.judge(record, [])).verdict
    assert verdict.label is Label.not_in_sources and verdict.outcome(False).value == "unverifiable"
    assert "closed-book" in verdict.rationale
    assert judge.provider.forward_passes == 0 and store.count_calls() == 0
