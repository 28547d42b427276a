"""The ``local`` judge: evidence-aware likelihood scoring with the packaged 270M model.

A 270M base model cannot be asked for a verdict (on HaluEval, comparing its Yes/No logits
gives AUC 0.48), but it can tell how much the evidence makes an answer *expected*. For each
record the judge measures, in one batched scoring pass:

- ``gain``: mean token log-probability of the answer given evidence + question, minus given
  the question alone (nats/token);
- ``gain_p10``: the 10th percentile of that per-token gain (reported in the rationale;
  it added nothing to ``novelty`` + ``gain`` on the development slice);
- ``novelty``: the share of the answer's content words found nowhere in the evidence;
- for the few most relevant evidence sentences, the answer's likelihood given that sentence
  alone; the best one is the verdict's citation (verbatim from its passage).

A logistic calibration (coefficients below) turns the features into an error probability.
The model's output (the features) is cached in the store, so a re-run makes no model call.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from dataclasses import asdict, dataclass
from typing import cast

from audit.citations import MIN_QUOTE_CHARS, normalise
from audit.judges.base import JudgeOutcome, closed_book_verdict
from core.models import (
    Category,
    Citation,
    JudgeSpec,
    Label,
    Passage,
    QARecord,
    Severity,
    Verdict,
    content_hash,
)
from core.providers.factory import make_provider
from core.providers.local import ContinuationScore, LocalProvider
from core.store import Store

# Bump when the features change: it is part of the cache key.
FEATURE_VERSION = "local-likelihood-v1"

# Logistic calibration: P(error) = sigmoid(INTERCEPT + sum(COEF[f] * feature f)).
# Fitted by bench/calibrate_local_judge.py (logistic regression, 1e-4 ridge) on a fixed
# DEVELOPMENT slice of ../shared/data/halueval/qa_300.jsonl: the first 60 items (file
# order) whose id number is even, each with its right and its hallucinated answer (120
# records), the item's `knowledge` as the one evidence passage. The feature subset
# (novelty + gain) had the best 5-fold CV AUC on development among 1-3 feature subsets but one
# (within 0.001). Held-out (first 60 odd-numbered items, 120 records): AUC 0.972, accuracy at
# 0.5: 0.95, Brier 0.055; development AUC 0.978. Figures: bench/results/
# local_judge_calibration.json. Caveat: HaluEval's right answers are mostly spans copied
# from the knowledge, hence the steep novelty weight; paraphrased answers score higher.
INTERCEPT = -1.2085
COEF: dict[str, float] = {"novelty": 18.9683, "gain": -0.5079}

MAX_EVIDENCE_TOKENS = 512  # keeps one record near a second or two on a 2-core CPU
MAX_ANSWER_TOKENS = 192
CANDIDATE_SENTENCES = 2

STOPWORDS = frozenset(
    """a an the and or but if then than so of in on at to for from by with without about
    as into onto over under is are was were be been being am do does did done has have had
    having it its it's this that these those there here which who whom whose what when where
    why how not no nor yes i you he she we they me him her us them my your his our their
    can could may might must shall should will would also just only very more most less
    such any all each some other both either neither one s t""".split()
)

_SENTENCE_BOUNDARY = re.compile(r"[.!?][\"')\]]*\s+|(?<=[a-z0-9])[.!?](?=[A-Z][a-z])|\n\s*")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Sentence:
    passage_id: str
    text: str  # verbatim substring of the passage text


@dataclass
class LikelihoodFeatures:
    novelty: float
    gain: float
    gain_p10: float
    mean_with: float
    mean_without: float
    best_sentence_gain: float
    citation_passage: str | None
    citation_quote: str | None
    tokens_scored: int


def split_sentences(passage: Passage, max_chars: int = 400) -> list[Sentence]:
    """Sentences of a passage, each a verbatim substring; short fragments are merged into
    the next sentence and very long ones cut at whitespace."""
    text = passage.text
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_BOUNDARY.finditer(text):
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(text)))
    merged: list[tuple[int, int]] = []
    carry: int | None = None
    for s, e in spans:
        s = carry if carry is not None else s
        carry = s if len(text[s:e].strip()) < 25 else None
        if carry is None:
            merged.append((s, e))
    if carry is not None:  # a short tail ("No.") joins the sentence before it
        if merged:
            merged[-1] = (merged[-1][0], len(text))
        else:
            merged.append((carry, len(text)))
    out = []
    for s, e in merged:
        for cs, ce in _cut_long(text, s, e, max_chars):
            quote = text[cs:ce].strip()
            if quote:
                out.append(Sentence(passage.id, quote))
    return out


def _cut_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    pieces = []
    while end - start > max_chars:
        cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
        cut = cut if cut > start else start + max_chars
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def content_words(text: str) -> set[str]:
    """Lower-cased words minus stopwords, with a plural 's' removed."""
    words = set()
    for word in _WORD.findall(text.lower()):
        if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.add(word)
    return words


def novelty(answer: str, evidence_text: str) -> float:
    """Share of the answer's content words that occur nowhere in the evidence (0..1)."""
    words = content_words(answer)
    if not words:
        return 0.0
    return len(words - content_words(evidence_text)) / len(words)


def error_probability(features: LikelihoodFeatures) -> float:
    """The calibrated probability that the answer is not supported by the evidence."""
    z = INTERCEPT + sum(coef * getattr(features, name) for name, coef in COEF.items())
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = q * (len(ordered) - 1)
    low = int(math.floor(position))
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class LocalJudge:
    """Judge protocol over a ``LocalProvider``; ``spec.params`` may set
    ``max_evidence_tokens`` and ``candidate_sentences``.

    In a closed-book run (no sources) there is nothing to score the answer against: a 270M
    model's own likelihood says nothing about a fact being true, so every answer is
    unverifiable to it and the model is not even loaded."""

    def __init__(self, spec: JudgeSpec, store: Store, provider: LocalProvider | None = None,
                 *, closed_book: bool = False) -> None:
        self.spec = spec
        self.closed_book = closed_book
        self.store = store
        self.provider = provider or cast(LocalProvider, make_provider("local", spec.model))
        self.max_evidence_tokens = int(spec.params.get("max_evidence_tokens", MAX_EVIDENCE_TOKENS))
        self.candidate_sentences = int(spec.params.get("candidate_sentences", CANDIDATE_SENTENCES))

    async def prepare(self) -> None:
        """Before the run: packages and model folder (the first-use conversion happens here)."""
        if not self.closed_book:
            await asyncio.to_thread(self.provider.prepare)

    def cache_key(self, record: QARecord, evidence: list[Passage]) -> str:
        return content_hash(
            {
                "judge": FEATURE_VERSION,
                "model": self.provider.model,
                "question": record.question,
                "answer": record.answer,
                "evidence": [[p.id, p.sha256] for p in evidence],
                "max_evidence_tokens": self.max_evidence_tokens,
                "candidate_sentences": self.candidate_sentences,
            }
        )

    async def judge(self, record: QARecord, evidence: list[Passage]) -> JudgeOutcome:
        """A Verdict from the cached or freshly computed features; abstains with no evidence
        (unverifiable in a closed-book run, where there is none by design)."""
        if self.closed_book:
            return JudgeOutcome(verdict=closed_book_verdict("local likelihood"))
        if not any(p.text.strip() for p in evidence):
            return JudgeOutcome(verdict=None, raw="no evidence to score against")
        key = self.cache_key(record, evidence)
        hit = self.store.cached_call(key)
        if hit is not None:
            features = LikelihoodFeatures(**hit["response"]["features"])
            return self._outcome(features, cache_hit=True, evidence=evidence)
        started = time.monotonic()
        features = await asyncio.to_thread(self.features, record, evidence)
        self.store.save_call(
            key,
            provider=self.provider.name,
            model=self.provider.model,
            request={
                "judge": FEATURE_VERSION,
                "record_id": record.id,
                "evidence": [[p.id, p.sha256] for p in evidence],
            },
            response={"features": asdict(features)},
            tokens_in=features.tokens_scored,
            tokens_out=0,
            latency_s=time.monotonic() - started,
            cost_usd=0.0,
        )
        return self._outcome(features, cache_hit=False, evidence=evidence)

    # -- features (blocking; runs in a worker thread) --------------------------------------

    def features(self, record: QARecord, evidence: list[Passage]) -> LikelihoodFeatures:
        """Score the answer with, without and per candidate sentence in one batched call."""
        sentences = [s for p in evidence for s in split_sentences(p)]
        ranked = self._rank(sentences, record)
        context = self._select_context(sentences, ranked)
        answer = " " + self._clip_answer(record.answer.strip())
        question = f"Question: {record.question.strip()}\nAnswer:"
        candidates = ranked[: self.candidate_sentences]
        pairs = [(f"{context}\n\n{question}", answer), (question, answer)]
        if len(candidates) > 1:  # a lone sentence is the context itself: reuse its score
            pairs += [(f"{s.text}\n\n{question}", answer) for s in candidates]
        scores = self.provider.score_pairs(pairs)
        with_ev, without = scores[0], scores[1]
        per_sentence = scores[2:] if len(candidates) > 1 else [with_ev] * len(candidates)
        gains = [a - b for a, b in zip(with_ev.logprobs, without.logprobs, strict=True)]
        best = max(range(len(candidates)), key=lambda i: per_sentence[i].mean, default=None)
        return LikelihoodFeatures(
            novelty=novelty(record.answer, "\n".join(p.text for p in evidence)),
            gain=with_ev.mean - without.mean,
            gain_p10=_percentile(gains, 0.10),
            mean_with=with_ev.mean,
            mean_without=without.mean,
            best_sentence_gain=(per_sentence[best].mean - without.mean) if best is not None else 0.0,
            citation_passage=candidates[best].passage_id if best is not None else None,
            citation_quote=candidates[best].text if best is not None else None,
            tokens_scored=sum(_pair_tokens(s) for s in scores),
        )

    def _rank(self, sentences: list[Sentence], record: QARecord) -> list[Sentence]:
        """Sentences by content-word overlap with the answer (double weight) and question."""
        answer, question = content_words(record.answer), content_words(record.question)

        def overlap(sentence: Sentence) -> float:
            words = content_words(sentence.text)
            return 2 * len(words & answer) + len(words & question) + 1e-3 / (1 + len(words))

        return sorted(sentences, key=overlap, reverse=True)

    def _select_context(self, sentences: list[Sentence], ranked: list[Sentence]) -> str:
        """The most relevant sentences within the token budget, in document order."""
        tokenizer = self.provider.tokenizer
        chosen: set[int] = set()
        budget = self.max_evidence_tokens
        position = {id(s): i for i, s in enumerate(sentences)}
        for sentence in ranked:
            cost = len(tokenizer(sentence.text, add_special_tokens=False)["input_ids"]) + 1
            if cost > budget:
                continue
            chosen.add(position[id(sentence)])
            budget -= cost
        return " ".join(sentences[i].text for i in sorted(chosen))

    def _clip_answer(self, answer: str) -> str:
        ids = self.provider.tokenizer(answer, add_special_tokens=False)["input_ids"]
        if len(ids) <= MAX_ANSWER_TOKENS:
            return answer
        return self.provider.tokenizer.decode(ids[:MAX_ANSWER_TOKENS])

    # -- verdict ---------------------------------------------------------------------------

    def _outcome(self, features: LikelihoodFeatures, *, cache_hit: bool,
                 evidence: list[Passage] | None = None) -> JudgeOutcome:
        p_error = error_probability(features)
        citations = []
        quote = citable_quote(features.citation_passage, features.citation_quote, evidence or [])
        if features.citation_passage and quote:
            citations = [Citation(passage_id=features.citation_passage, quote=quote)]
        rationale = (
            f"P(error) {p_error:.2f}: {features.novelty:.0%} of the answer's content words are "
            f"absent from the evidence; the evidence changes the answer's likelihood by "
            f"{features.gain:+.2f} nats/token (10th percentile {features.gain_p10:+.2f}). "
            "Likelihood scoring by the local model, calibrated on HaluEval."
        )
        if p_error >= 0.5:
            verdict = Verdict(
                label=Label.not_in_sources,
                category=Category.unsupported_claim,
                severity=Severity.major if p_error >= 0.8 else Severity.minor,
                confidence=round(p_error, 4),
                citations=citations,
                rationale=rationale,
            )
        else:
            verdict = Verdict(
                label=Label.supported,
                confidence=round(1.0 - p_error, 4),
                citations=citations,
                rationale=rationale,
            )
        return JudgeOutcome(
            verdict=verdict,
            raw=json.dumps(asdict(features), sort_keys=True),
            tokens_in=0 if cache_hit else features.tokens_scored,
            cache_hit=cache_hit,
        )


def citable_quote(passage_id: str | None, quote: str | None,
                  evidence: list[Passage]) -> str | None:
    """``quote`` as the quote checker will accept it: a fragment too short to be evidence
    (a cached tail such as "No.") becomes the sentence it ends, taken verbatim from its
    passage; None when no acceptable quote exists (the verdict is then uncited, never
    invalid)."""
    if not passage_id or not quote:
        return None
    if len(normalise(quote)) >= MIN_QUOTE_CHARS:
        return quote
    passage = next((p for p in evidence if p.id == passage_id), None)
    at = passage.text.rfind(quote) if passage else -1
    if passage is None or at < 0:
        return None
    end = at + len(quote)
    sentences = split_sentences(passage)
    for sentence in sentences:  # the merged sentence that holds the fragment
        start = passage.text.find(sentence.text)
        if start <= at and end <= start + len(sentence.text):
            return sentence.text if len(normalise(sentence.text)) >= MIN_QUOTE_CHARS else None
    return None


def _pair_tokens(score: ContinuationScore) -> int:
    return score.prompt_tokens + len(score.logprobs)
