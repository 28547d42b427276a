"""Build the ``AuditSummary`` that reports and the gate read: rates, consensus, agreement.

Pure computation over stored judgments: it never calls a model. Conventions:

- A judgment *decides* when ``status == ok`` and it carries a verdict. Each verdict has one of
  three outcomes (``Verdict.outcome``): error, unverifiable or ok. In a *closed-world* run
  (sources declared complete) ``not_in_sources`` is an error, as every non-supported label
  always was; otherwise it is *unverifiable*, never an error. A *hard* error is an error
  whose severity rank is at least ``hard_severity``. Abstained, failed and invalid-citation
  judgments are missing values for that judge: counted per judge, never counted as agreement.
- Consensus (issue 23) decides every record some judge decided: whether it is an error comes
  from ``audit.stats.weighted_consensus`` over the judges' calibrated P(error) (a
  latent-class model that weighs each judge by its reliability, estimated without truth
  labels; the majority with ties broken by the mean P(error) where that model cannot be
  estimated; ``consensus.method`` says which decided). A record the weighted consensus does
  not call an error is ``ok`` when more of its deciding judges said ok than unverifiable,
  else ``unverifiable`` (open world only). A record no judge decided is ``undecided``. The
  consensus rates are over every record with a verdict, so the hardest (disputed) records
  are never left out; ``consensus.bounds`` gives the plain majority's rate with its
  disputed and undecided records counted both ways, over all sampled records.
  ``records`` keeps the plain majority's state per record (``disputed`` on a tie, for the
  disagreement views); ``resolved`` is the state the rates count.
- An unverifiable verdict is no vote on error (its P(error) is missing); the error rate and
  the unverifiable share have the same denominator, so the true error rate lies between the
  error rate and the two summed.
- The hard rate follows the consensus: a record is a hard error when the consensus calls it
  an error and most of the judges that voted error gave a severity of ``hard_severity`` or
  worse; every other record with a verdict is not one; ``hard_disputed`` counts the errors
  whose error votes split evenly on severity (left out of the hard rate).
- Agreement coefficients compare error vs not error.
- Severity for the ordinal α is the verdict's severity rank, with supported verdicts as
  ``none`` (an answer that is not an error has no error severity).
- Fleiss' κ uses Gwet's (2014) generalisation for unequal numbers of raters per record
  (see ``audit.stats.agreement``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import combinations
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from audit.stats import agreement
from audit.stats.consensus import dawid_skene, majority_vote, weighted_consensus
from audit.stats.rates import error_rate, rate_range
from audit.stats.results import AgreementResult, RateEstimate, RateRange
from core.errors import ConfigError, DatasetError
from core.models import Category, Judgment, JudgmentStatus, Outcome, Severity

RecordState = Literal["error", "unverifiable", "ok", "disputed", "undecided"]
_BINARY = [0.0, 1.0]
_OUTCOME_CODES = {Outcome.ok: 0.0, Outcome.error: 1.0, Outcome.unverifiable: 2.0}
_OUTCOMES = [0.0, 1.0, 2.0]
_SEVERITY_RANKS = [float(s.rank) for s in Severity]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JudgeSummary(_Model):
    judge: str
    decided: int
    abstained: int
    failed: int
    invalid_citation: int
    missing: int = Field(description="sampled records with no judgment from this judge")
    inclusive: RateEstimate | None
    hard: RateEstimate | None
    unverifiable: RateEstimate | None = Field(
        default=None, description="share of this judge's verdicts that are unverifiable")
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    cache_hits: int = 0


class RateBounds(_Model):
    low: float = Field(description="disputed and undecided records counted as not errors")
    high: float = Field(description="disputed and undecided records counted as errors")
    n: int = Field(description="all sampled records")


class ConsensusSummary(_Model):
    inclusive: RateEstimate | None = Field(
        description="consensus errors over every record some judge decided (ties resolved)")
    hard: RateEstimate | None
    unverifiable_share: RateEstimate | None = Field(
        default=None, description="records whose consensus is unverifiable, over the same "
        "records as the error rate (always 0 in a closed-world run)")
    errors: int
    unverifiable: int = 0
    ok: int
    disputed: int
    undecided: int
    hard_errors: int
    hard_disputed: int
    method: str = Field(default="majority", description="what decided the consensus: "
                        "'latent-class' (judges weighed by estimated reliability) or 'majority' "
                        "(ties broken by the mean P(error))")
    method_reason: str = Field(default="", description="why the majority decided, if it did")
    expected_errors: float | None = Field(
        default=None, description="sum of the records' consensus P(error)")
    majority: RateEstimate | None = Field(
        default=None, description="the plain majority's rate over the records with a majority "
        "(disputed and undecided left out; for comparison only)")
    bounds: RateBounds | None = None


class DawidSkeneSummary(_Model):
    prevalence: float = Field(description="estimated share of records that are errors")
    sensitivity: dict[str, float]
    specificity: dict[str, float]
    expected_errors: float
    iterations: int
    converged: bool


class PairAgreement(_Model):
    judge_a: str
    judge_b: str
    cohen_kappa: AgreementResult
    confusion: list[list[int]] = Field(description="rows judge_a, columns judge_b: ok, error")
    n_both: int


class AgreementSummary(_Model):
    percent_agreement: AgreementResult
    fleiss_kappa: AgreementResult
    krippendorff_alpha_nominal: AgreementResult
    krippendorff_alpha_ordinal_severity: AgreementResult
    gwet_ac1: AgreementResult
    pairs: list[PairAgreement]
    disagreements: int = Field(description="records whose deciding judges do not all agree")


class TopicSummary(_Model):
    n: int
    errors: int
    unverifiable: int = 0
    ok: int
    disputed: int
    undecided: int


class Totals(_Model):
    judgments: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    latency_s: float
    cache_hits: int


class AuditSummary(_Model):
    n: int
    closed_world: bool = Field(
        default=True, description="not_in_sources counted as an error (sources declared "
        "complete); false: it is unverifiable")
    population: int | None
    confidence: float
    hard_severity: str
    bootstrap: int
    seed: int
    judges: list[str]
    per_judge: dict[str, JudgeSummary]
    consensus: ConsensusSummary
    dawid_skene: DawidSkeneSummary | None
    range_inclusive: RateRange | None
    range_hard: RateRange | None
    agreement: AgreementSummary | None
    categories: dict[str, int] = Field(description="consensus errors by error category")
    topics: dict[str, TopicSummary]
    records: dict[str, RecordState]
    resolved: dict[str, RecordState] = Field(
        default_factory=dict, description="per record, the consensus state the rates count")
    totals: Totals


def _hard_rank(hard_severity: str) -> int:
    try:
        return Severity(hard_severity).rank
    except ValueError:
        names = ", ".join(s.value for s in Severity)
        raise ConfigError(
            f"hard_severity must be one of {names}, got {hard_severity!r}"
        ) from None


def _index_records(records: list[dict]) -> dict[str, int]:
    index: dict[str, int] = {}
    for record in records:
        rid = str(record["id"])
        if rid in index:
            raise DatasetError(f"record id {rid!r} appears twice in the sample; ids must be unique")
        index[rid] = len(index)
    return index


def _latest(judgments: list[Judgment], index: dict[str, int]) -> dict[tuple[str, str], Judgment]:
    """One judgment per (record, judge): a decided one wins over others, then the latest."""
    chosen: dict[tuple[str, str], Judgment] = {}
    for judgment in judgments:
        if judgment.record_id not in index:
            raise DatasetError(
                f"judgment of {judgment.judge!r} is for record {judgment.record_id!r}, which is "
                "not in the records given; pass the sampled records the judgments were made on"
            )
        key = (judgment.record_id, judgment.judge)
        if key not in chosen or judgment.decided or not chosen[key].decided:
            chosen[key] = judgment
    return chosen


def summarize(
    judgments: list[Judgment],
    records: list[dict],
    *,
    population: int | None,
    confidence: float = 0.95,
    bootstrap: int = 1000,
    seed: int = 0,
    hard_severity: str = "major",
    closed_world: bool = True,
) -> AuditSummary:
    """Everything the reports need about one audit run, computed from its judgments.

    ``closed_world``: the run's sources are complete (``audit.run_sources.is_closed_world``).
    """
    hard_rank = _hard_rank(hard_severity)
    if population is not None and population < len(records):
        raise ConfigError(
            f"population ({population}) is smaller than the sample ({len(records)}); "
            "pass the number of records in the whole dataset"
        )
    index = _index_records(records)
    chosen = _latest(judgments, index)
    judges = sorted({judgment.judge for judgment in judgments})
    err, hard, severity, outcomes = _label_matrices(chosen, index, judges, hard_rank, closed_world)
    rate = {"confidence": confidence, "population": population}

    per_judge = {
        name: _judge_summary(name, j, chosen, judgments, (err, hard, outcomes), len(index), rate)
        for j, name in enumerate(judges)
    }
    vote = majority_vote(outcomes, _OUTCOMES)
    states = vote.states({0.0: "ok", 1.0: "error", 2.0: "unverifiable"})
    weighted = _weighted(chosen, index, judges, closed_world)
    resolved = _resolved_states(weighted, outcomes)
    consensus = _consensus_summary(vote, _hard_labels(resolved, err, hard), weighted, resolved,
                                   rate)
    disagreements = _disagreements(err)

    return AuditSummary(
        n=len(index),
        closed_world=closed_world,
        population=population,
        confidence=confidence,
        hard_severity=Severity(hard_severity).value,
        bootstrap=bootstrap,
        seed=seed,
        judges=judges,
        per_judge=per_judge,
        consensus=consensus,
        dawid_skene=_dawid_skene(err, judges),
        range_inclusive=rate_range(
            {n: s.inclusive for n, s in per_judge.items() if s.inclusive},
            disagreements=disagreements,
        ),
        range_hard=rate_range(
            {n: s.hard for n, s in per_judge.items() if s.hard},
            disagreements=_disagreements(hard),
        ),
        agreement=_agreement(err, severity, judges, bootstrap, confidence, seed, disagreements),
        categories=_categories(chosen, index, resolved, closed_world),
        topics=_topics(records, resolved),
        records=dict(zip(index, states, strict=True)),
        resolved=dict(zip(index, resolved, strict=True)),
        totals=_totals(judgments),
    )


def consensus_counts(judgments: list[Judgment], closed_world: bool = True) -> tuple[int, int]:
    """(consensus errors, records with a consensus) over the records these judgments cover.

    For the sampler's early stop: the same consensus as the headline (ties resolved); only
    records no judge decided are not counted.
    """
    record_ids = list(dict.fromkeys(judgment.record_id for judgment in judgments))
    index = {rid: i for i, rid in enumerate(record_ids)}
    chosen = _latest(judgments, index)
    judges = sorted({judgment.judge for judgment in judgments})
    outcomes = _label_matrices(chosen, index, judges, Severity.critical.rank, closed_world)[3]
    states = _resolved_states(_weighted(chosen, index, judges, closed_world), outcomes)
    return states.count("error"), sum(state != "undecided" for state in states)


def _weighted(chosen, index, judges, closed_world):
    """The weighted consensus over each deciding judge's P(error) per record: its confidence
    when it says error, one minus it when it says ok; no vote for no decision and for an
    unverifiable verdict (which says nothing about error)."""
    scores = np.full((len(index), len(judges)), np.nan)
    labels = np.full((len(index), len(judges)), np.nan)
    column = {name: j for j, name in enumerate(judges)}
    for (record_id, judge), judgment in chosen.items():
        if not judgment.decided:
            continue
        verdict = judgment.verdict
        outcome = verdict.outcome(closed_world)
        if outcome is Outcome.unverifiable:
            continue
        confidence = verdict.confidence
        value = confidence if outcome is Outcome.error else 1.0 - confidence
        scores[index[record_id], column[judge]] = value
        labels[index[record_id], column[judge]] = float(outcome is Outcome.error)
    return weighted_consensus(scores, judges, labels=labels)


def _resolved_states(weighted, outcomes: np.ndarray) -> list[RecordState]:
    """Per record: error (weighted consensus), else ok or unverifiable by their votes (a tie
    is unverifiable: nothing was verified), undecided where no judge decided."""
    states: list[RecordState] = []
    for label, row in zip(weighted.labels, outcomes, strict=True):
        if np.isnan(row).all():
            states.append("undecided")
        elif label == 1:
            states.append("error")
        else:
            ok, unverifiable = int((row == 0).sum()), int((row == 2).sum())
            states.append("ok" if ok > unverifiable else "unverifiable")
    return states


def _label_matrices(chosen, index, judges, hard_rank, closed_world=True) -> tuple[np.ndarray, ...]:
    """(error 0/1, hard error 0/1, severity rank, outcome code) per record and judge."""
    shape = (len(index), len(judges))
    err, hard, severity = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    outcomes = np.full(shape, np.nan)
    column = {name: j for j, name in enumerate(judges)}
    for (record_id, judge), judgment in chosen.items():
        if not judgment.decided:
            continue
        verdict = judgment.verdict
        i, j = index[record_id], column[judge]
        outcome = verdict.outcome(closed_world)
        is_error = outcome is Outcome.error
        rank = verdict.severity.rank if is_error else 0
        err[i, j] = float(is_error)
        hard[i, j] = float(is_error and rank >= hard_rank)
        severity[i, j] = float(rank)
        outcomes[i, j] = _OUTCOME_CODES[outcome]
    return err, hard, severity, outcomes


def _share_of(labels: np.ndarray, code: float) -> np.ndarray:
    """1.0 where ``labels`` is ``code``, 0.0 elsewhere, NaN kept (missing stays missing)."""
    return np.where(np.isnan(labels), np.nan, (labels == code).astype(float))


def _judge_summary(name, j, chosen, judgments, matrices, n_records, rate) -> JudgeSummary:
    err, hard, outcomes = matrices
    statuses = Counter(
        judgment.status
        for (_, judge), judgment in chosen.items()
        if judge == name and not judgment.decided
    )
    decided = int((~np.isnan(err[:, j])).sum())
    own = [judgment for judgment in judgments if judgment.judge == name]
    seen = sum(1 for (_, judge) in chosen if judge == name)
    return JudgeSummary(
        judge=name,
        decided=decided,
        abstained=statuses[JudgmentStatus.abstain],
        # an "ok" judgment without a verdict is unusable output: counted as failed
        failed=statuses[JudgmentStatus.failed] + statuses[JudgmentStatus.ok],
        invalid_citation=statuses[JudgmentStatus.invalid_citation],
        missing=n_records - seen,
        inclusive=_rate(err[:, j], rate),
        hard=_rate(hard[:, j], rate),
        unverifiable=_rate(_share_of(outcomes[:, j], 2.0), rate),
        tokens_in=sum(x.tokens_in for x in own),
        tokens_out=sum(x.tokens_out for x in own),
        cost_usd=sum(x.cost_usd for x in own),
        latency_s=sum(x.latency_s for x in own),
        cache_hits=sum(1 for x in own if x.cache_hit),
    )


def _rate(column: np.ndarray, rate: dict) -> RateEstimate | None:
    decided = column[~np.isnan(column)]
    if decided.size == 0:
        return None
    return error_rate(int(decided.sum()), int(decided.size), **rate)


def _hard_labels(resolved: list[RecordState], err: np.ndarray,
                 hard: np.ndarray) -> np.ndarray:
    """Per record: 1 a hard error (the consensus's error, most of its error votes hard), 0 not
    one (every other record with a verdict), NaN undecided or its error votes split evenly."""
    labels = np.full(len(resolved), np.nan)
    for i, state in enumerate(resolved):
        if state == "undecided":
            continue
        voted = err[i] == 1
        hard_votes = int((hard[i][voted] == 1).sum())
        soft_votes = int(voted.sum()) - hard_votes
        if state != "error" or soft_votes > hard_votes:
            labels[i] = 0.0
        elif hard_votes > soft_votes:
            labels[i] = 1.0
    return labels


def _consensus_summary(vote, hard: np.ndarray, weighted, resolved, rate) -> ConsensusSummary:
    codes = {"ok": 0.0, "error": 1.0, "unverifiable": 2.0}
    labels = np.array([codes.get(state, np.nan) for state in resolved], dtype=float)
    n = len(resolved)
    majority_errors = int((vote.labels == 1).sum())
    open_records = vote.n_disputed + vote.n_undecided
    posterior = weighted.posterior[~np.isnan(weighted.posterior)]
    return ConsensusSummary(
        inclusive=_rate(_share_of(labels, 1.0), rate),
        hard=_rate(hard, rate),
        unverifiable_share=_rate(_share_of(labels, 2.0), rate),
        errors=resolved.count("error"),
        unverifiable=resolved.count("unverifiable"),
        ok=resolved.count("ok"),
        disputed=vote.n_disputed,
        undecided=vote.n_undecided,
        hard_errors=int((hard == 1).sum()),
        hard_disputed=sum(state == "error" and bool(np.isnan(label))
                          for state, label in zip(resolved, hard, strict=True)),
        method=weighted.method,
        method_reason=weighted.reason,
        expected_errors=float(posterior.sum()) if posterior.size else None,
        majority=_rate(_share_of(vote.labels, 1.0), rate),
        bounds=RateBounds(low=majority_errors / n, high=(majority_errors + open_records) / n,
                          n=n) if n else None,
    )


def _disagreements(labels: np.ndarray) -> int:
    present = ~np.isnan(labels)
    ones = np.where(present, labels, 0).sum(axis=1)
    votes = present.sum(axis=1)
    return int(((votes >= 2) & (ones > 0) & (ones < votes)).sum())


def _dawid_skene(err: np.ndarray, judges: list[str]) -> DawidSkeneSummary | None:
    if len(judges) < 2 or np.isnan(err).all():
        return None
    result = dawid_skene(err, judges, categories=_BINARY)
    return DawidSkeneSummary(
        prevalence=result.prevalence[1],
        sensitivity=result.sensitivity,
        specificity=result.specificity,
        expected_errors=float(result.posterior[:, 1].sum()),
        iterations=result.iterations,
        converged=result.converged,
    )


def _agreement(err, severity, judges, bootstrap, confidence, seed, disagreements):
    if len(judges) < 2:
        return None
    options = {"bootstrap": bootstrap, "confidence": confidence, "seed": seed}
    pairs = []
    for a, b in combinations(range(len(judges)), 2):
        table = agreement.confusion_matrix(err[:, a], err[:, b], _BINARY)
        pairs.append(
            PairAgreement(
                judge_a=judges[a],
                judge_b=judges[b],
                cohen_kappa=agreement.cohen_kappa(err[:, a], err[:, b], **options),
                confusion=table.tolist(),
                n_both=int(table.sum()),
            )
        )
    return AgreementSummary(
        percent_agreement=agreement.percent_agreement(err, **options),
        fleiss_kappa=agreement.fleiss_kappa(err, **options),
        krippendorff_alpha_nominal=agreement.krippendorff_alpha(err, "nominal", **options),
        krippendorff_alpha_ordinal_severity=agreement.krippendorff_alpha(
            severity, "ordinal", categories=_SEVERITY_RANKS, **options
        ),
        gwet_ac1=agreement.gwet_ac1(err, categories=_BINARY, **options),
        pairs=pairs,
        disagreements=disagreements,
    )


def _categories(chosen, index, states, closed_world) -> dict[str, int]:
    """Consensus errors by the category most error-voting judges gave (ties: enum order)."""
    order = {category: i for i, category in enumerate(Category)}
    by_record: dict[str, list[Category]] = {}
    for (record_id, _), judgment in chosen.items():
        if judgment.decided and judgment.verdict.outcome(closed_world) is Outcome.error:
            by_record.setdefault(record_id, []).append(judgment.verdict.category)
    counts: Counter[str] = Counter()
    for record_id, state in zip(index, states, strict=True):
        if state != "error":
            continue
        votes = Counter(by_record.get(record_id) or [Category.other])
        top = max(votes.values())
        winner = min((c for c, v in votes.items() if v == top), key=order.__getitem__)
        counts[winner.value] += 1
    return dict(sorted(counts.items()))


def _topics(records: list[dict], states: Sequence[str]) -> dict[str, TopicSummary]:
    tally: dict[str, Counter[str]] = {}
    for record, state in zip(records, states, strict=True):
        topic = record.get("topic") or "(none)"
        tally.setdefault(str(topic), Counter())[state] += 1
    return {
        topic: TopicSummary(
            n=sum(c.values()),
            errors=c["error"],
            unverifiable=c["unverifiable"],
            ok=c["ok"],
            disputed=c["disputed"],
            undecided=c["undecided"],
        )
        for topic, c in sorted(tally.items())
    }


def _totals(judgments: list[Judgment]) -> Totals:
    return Totals(
        judgments=len(judgments),
        tokens_in=sum(j.tokens_in for j in judgments),
        tokens_out=sum(j.tokens_out for j in judgments),
        cost_usd=sum(j.cost_usd for j in judgments),
        latency_s=sum(j.latency_s for j in judgments),
        cache_hits=sum(1 for j in judgments if j.cache_hit),
    )
