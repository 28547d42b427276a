"""Fidelity to the reference answers: BERTScore F1 over all-MiniLM-L6-v2 token embeddings.

BERTScore (Zhang et al., 2020) matches every token of one text greedily to its most similar
token of the other by cosine similarity of contextual embeddings:
``P = mean over candidate tokens of max cosine``, ``R`` the same over reference tokens,
``F1 = 2PR / (P + R)``. Here the embeddings are the packaged all-MiniLM-L6-v2's last-layer
token embeddings (offline, ``core.embeddings``), without IDF weighting or baseline rescaling,
and ``[CLS]``/``[SEP]`` are left out. Scores are therefore not comparable with published
BERTScore numbers (which use RoBERTa-large, layer 17); they are a *fidelity* signal (how
close an answer stays to the reference wording and content), not a measure of quality.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from audit.stats.results import Interval

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class BertScore:
    precision: float
    recall: float
    f1: float


def greedy_match(candidate: np.ndarray, reference: np.ndarray) -> BertScore:
    """BERTScore of two ``(tokens, dim)`` arrays of unit-length token embeddings."""
    if candidate.shape[0] == 0 or reference.shape[0] == 0:
        return BertScore(0.0, 0.0, 0.0)
    similarity = candidate @ reference.T
    precision = float(similarity.max(axis=1).mean())
    recall = float(similarity.max(axis=0).mean())
    total = precision + recall
    f1 = 2 * precision * recall / total if total > 0 else 0.0
    return BertScore(precision, recall, f1)


def token_embeddings(texts: Sequence[str], batch_size: int = 32) -> list[np.ndarray]:
    """Unit-length token embeddings of each text, without ``[CLS]`` and ``[SEP]``."""
    import numpy as np

    from core.embeddings import load_embedder

    if not texts:
        return []
    outputs = load_embedder().encode(list(texts), batch_size=batch_size,
                                     output_value="token_embeddings", show_progress_bar=False)
    arrays = []
    for tokens in outputs:
        array = np.asarray(tokens.detach().cpu().float().numpy(), dtype=np.float32)[1:-1]
        norms = np.linalg.norm(array, axis=1, keepdims=True)
        arrays.append(array / np.maximum(norms, 1e-12))
    return arrays


def bertscore(candidates: Sequence[str], references: Sequence[str]) -> list[BertScore]:
    """BERTScore of each candidate against the reference at the same position."""
    if len(candidates) != len(references):
        raise ValueError(f"need as many references as candidates, got {len(references)} "
                         f"and {len(candidates)}")
    embedded = token_embeddings([*candidates, *references])
    n = len(candidates)
    return [greedy_match(embedded[i], embedded[n + i]) for i in range(n)]


def bootstrap_mean(values: Sequence[float], replicates: int = 2000, seed: int = 0,
                   confidence: float = 0.95) -> Interval | None:
    """Percentile bootstrap interval of the mean over units (None with no units)."""
    import numpy as np

    from audit.stats.bootstrap import percentile_interval

    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return None
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, data.size, size=(replicates, data.size))
    return percentile_interval(data[picks].mean(axis=1), confidence)
