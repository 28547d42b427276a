"""Evidence retrieval over source passages: BM25 (bm25s), optionally fused with embeddings.

``load_index(sources_dir)`` reads the sources, builds a :class:`SourceIndex` and caches it under
``.assay/index/<key>/`` where ``key`` hashes every passage id and hash plus the index settings,
so a changed document rebuilds the index and an unchanged corpus loads from disk. The cache
holds JSON, numpy arrays saved without pickle and bm25s's own files; nothing is unpickled.

Hybrid ranking (``hybrid=True``) fuses the BM25 ranking with the cosine ranking of the packaged
all-MiniLM-L6-v2 embeddings by reciprocal rank fusion (RRF, k=60).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from core.errors import SourceError
from core.models import Passage, QARecord, canonical_json, content_hash

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger("assay.retrieval")

CACHE_FORMAT = 1
RRF_K = 60
BM25_PARAMS = {"method": "lucene", "k1": 1.5, "b": 0.75}
STOPWORDS = "en"
STEMMER = "s-stemmer"  # Harman (1991): plural endings only; predictable on policy text


def s_stem(word: str) -> str:
    """Harman's S-stemmer: ``policies`` → ``policy``, ``fees`` → ``fee``, ``class`` kept."""
    if len(word) > 3 and word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("es") and not word.endswith(("aes", "ees", "oes")):
        return word[:-1]
    if len(word) > 2 and word.endswith("s") and not word.endswith(("us", "ss")):
        return word[:-1]
    return word


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased word tokens without English stopwords, S-stemmed (bm25s's tokenizer)."""
    import bm25s

    return bm25s.tokenize(
        list(texts),
        stopwords=STOPWORDS,
        stemmer=lambda words: [s_stem(w) for w in words],
        return_ids=False,
        show_progress=False,
    )


def index_settings(hybrid: bool) -> dict[str, Any]:
    """Everything besides the passages that changes what the index holds (part of the key)."""
    from importlib.metadata import version

    settings: dict[str, Any] = {
        "format": CACHE_FORMAT,
        "bm25s": version("bm25s"),
        "bm25": BM25_PARAMS,
        "stopwords": STOPWORDS,
        "stemmer": STEMMER,
        "hybrid": hybrid,
    }
    if hybrid:
        from core.embeddings import EMBEDDER_NAME

        settings["embedder"] = EMBEDDER_NAME
    return settings


def index_key(passages: Sequence[Passage], hybrid: bool) -> str:
    """sha256 over every passage's id and hash, in order, and the index settings."""
    return content_hash(
        {"passages": [[p.id, p.sha256] for p in passages], "settings": index_settings(hybrid)}
    )


class SourceIndex:
    """Passages searchable by BM25, or by BM25 + embeddings fused with RRF when ``hybrid``.

    ``from_cache`` is True when :func:`load_index` read the index from its cache.
    """

    def __init__(
        self,
        passages: Sequence[Passage],
        *,
        hybrid: bool = False,
        _bm25: Any = None,
        _embeddings: np.ndarray | None = None,
    ) -> None:
        if not passages:
            raise SourceError("no passages to index: the sources folder has no text")
        self.passages: dict[str, Passage] = {}
        for passage in passages:
            if passage.id in self.passages:
                raise SourceError(f"duplicate passage id {passage.id!r}; rename one document")
            self.passages[passage.id] = passage
        self._order = list(passages)
        if hybrid:
            from core.embeddings import model_path

            model_path()  # ConfigError now, with the install hint, when the model is missing
        self.hybrid = hybrid
        self.from_cache = False
        self.key = index_key(self._order, hybrid)
        self._bm25 = _bm25 if _bm25 is not None else _build_bm25(self._order)
        self._embeddings = _embeddings
        if hybrid and _embeddings is None:
            from core.embeddings import embed

            self._embeddings = embed([p.text for p in self._order])

    def __len__(self) -> int:
        return len(self._order)

    def get(self, passage_id: str) -> Passage | None:
        """The passage with this id, or None."""
        return self.passages.get(passage_id)

    def bm25_scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage (in index order) for ``query``; 0 where no term matches."""
        import numpy as np

        tokens = [t for t in tokenize([query])[0] if t in self._bm25.vocab_dict]
        if not tokens:
            return np.zeros(len(self._order), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)

    def search(self, query: str, k: int = 4) -> list[tuple[Passage, float]]:
        """Top ``k`` passages, best first, with their score (BM25, or RRF when hybrid).

        BM25-only search returns only passages sharing a term with the query, so it may
        return fewer than ``k``; hybrid search always returns ``min(k, len(index))``.
        """
        import numpy as np

        if k <= 0:
            return []
        bm25 = self.bm25_scores(query)
        if not self.hybrid:
            order = np.argsort(-bm25, kind="stable")[:k]
            return [(self._order[i], float(bm25[i])) for i in order if bm25[i] > 0]
        from core.embeddings import embed

        cosine = self._embeddings @ embed([query])[0]
        fused = _rrf([_ranking(bm25, positive_only=True), _ranking(cosine)], len(self._order))
        order = np.argsort(-fused, kind="stable")[:k]
        return [(self._order[i], float(fused[i])) for i in order]

    def save(self, folder: Path) -> None:
        """Write the index to ``folder`` (JSON, bm25s files and an .npy without pickle)."""
        import numpy as np

        folder.mkdir(parents=True, exist_ok=True)
        passages = [p.model_dump(mode="json") for p in self._order]
        (folder / "passages.json").write_text(canonical_json(passages), encoding="utf-8")
        self._bm25.save(str(folder / "bm25"), show_progress=False)
        if self._embeddings is not None:
            np.save(folder / "embeddings.npy", self._embeddings, allow_pickle=False)
        meta = {"key": self.key, "hybrid": self.hybrid, "settings": index_settings(self.hybrid)}
        (folder / "meta.json").write_text(canonical_json(meta), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> SourceIndex:
        """Read an index written by :meth:`save`; raises ValueError/OSError when damaged."""
        import bm25s
        import numpy as np

        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        raw = json.loads((folder / "passages.json").read_text(encoding="utf-8"))
        passages = [Passage.model_validate(p) for p in raw]
        bm25 = bm25s.BM25.load(str(folder / "bm25"), show_progress=False, allow_pickle=False)
        embeddings = None
        if meta["hybrid"]:
            embeddings = np.load(folder / "embeddings.npy", allow_pickle=False)
            if embeddings.shape[0] != len(passages):
                raise ValueError("embeddings do not match the passages")
        index = cls(passages, hybrid=meta["hybrid"], _bm25=bm25, _embeddings=embeddings)
        if index.key != meta["key"]:
            raise ValueError("cached index key does not match its content")
        return index


def _build_bm25(passages: Sequence[Passage]) -> Any:
    import bm25s

    bm25 = bm25s.BM25(**BM25_PARAMS)
    bm25.index(tokenize([p.text for p in passages]), show_progress=False)
    return bm25


def _ranking(scores: np.ndarray, positive_only: bool = False) -> list[int]:
    """Passage positions ordered best first (ties by position); optionally only scores > 0."""
    import numpy as np

    order = np.argsort(-scores, kind="stable")
    return [int(i) for i in order if not positive_only or scores[i] > 0]


def _rrf(rankings: list[list[int]], n: int) -> np.ndarray:
    """Reciprocal rank fusion: sum over rankings of 1 / (RRF_K + rank), rank from 1."""
    import numpy as np

    fused = np.zeros(n, dtype=np.float64)
    for ranking in rankings:
        for rank, position in enumerate(ranking, start=1):
            fused[position] += 1.0 / (RRF_K + rank)
    return fused


def load_index(
    sources_dir: str | Path, cache_dir: str | Path = ".assay/index", hybrid: bool = False
) -> SourceIndex:
    """Index of the passages under ``sources_dir``, from the cache when the corpus is unchanged.

    The sources are always re-read (to hash them); a cache entry whose key matches is loaded,
    otherwise the index is built and saved, replacing older entries for the same folder.
    ``hybrid=True`` needs the packaged embedding model (ConfigError when it is missing).
    """
    from core.sources import load_passages

    passages = load_passages(sources_dir)
    key = index_key(passages, hybrid)
    cache_root = Path(cache_dir)
    entry = cache_root / key[:32]
    if (entry / "meta.json").is_file():
        try:
            index = SourceIndex.load(entry)
            if index.key == key:
                index.from_cache = True
                return index
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("index cache %s is unreadable (%s); rebuilding it", entry, exc)
    index = SourceIndex(passages, hybrid=hybrid)
    _write_cache(index, cache_root, entry, Path(sources_dir))
    return index


def _write_cache(index: SourceIndex, cache_root: Path, entry: Path, sources_dir: Path) -> None:
    """Save atomically (temp folder + rename) and drop older entries of the same folder."""
    try:
        cache_root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache_root))
        index.save(tmp)
        origin = {"sources_dir": str(sources_dir.resolve()), "hybrid": index.hybrid}
        (tmp / "origin.json").write_text(canonical_json(origin), encoding="utf-8")
        shutil.rmtree(entry, ignore_errors=True)
        os.replace(tmp, entry)
    except OSError as exc:  # a read-only cache must not stop an audit
        logger.warning("could not write the index cache under %s (%s)", cache_root, exc)
        return
    for other in cache_root.iterdir():
        if other == entry or not (other / "origin.json").is_file():
            continue
        try:
            if json.loads((other / "origin.json").read_text(encoding="utf-8")) == origin:
                shutil.rmtree(other, ignore_errors=True)
        except (OSError, ValueError):
            continue


class Evidence(NamedTuple):
    """Passages for a record (its own sources first) and the source ids the index lacks."""

    passages: list[Passage]
    unknown_source_ids: list[str]


def find_evidence(record: QARecord, index: SourceIndex, k: int = 4) -> Evidence:
    """The record's own ``source_ids`` (deduplicated, in order), then the top-``k`` passages
    retrieved for question + answer that are not already included."""
    passages: list[Passage] = []
    seen: set[str] = set()
    unknown: list[str] = []
    for source_id in record.source_ids:
        passage = index.get(source_id)
        if passage is None:
            if source_id not in unknown:
                unknown.append(source_id)
        elif source_id not in seen:
            seen.add(source_id)
            passages.append(passage)
    for passage, _score in index.search(f"{record.question}\n{record.answer}", k=k):
        if passage.id not in seen:
            seen.add(passage.id)
            passages.append(passage)
    return Evidence(passages, unknown)


def evidence_for(record: QARecord, index: SourceIndex, k: int = 4) -> list[Passage]:
    """Evidence passages for ``record`` (see :func:`find_evidence`); unknown source ids are
    logged as a warning on the ``assay.retrieval`` logger and otherwise ignored."""
    evidence = find_evidence(record, index, k)
    if evidence.unknown_source_ids:
        logger.warning(
            "record %s cites source ids not in the sources: %s",
            record.id,
            ", ".join(evidence.unknown_source_ids),
        )
    return evidence.passages
