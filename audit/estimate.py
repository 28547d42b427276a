"""The library API behind ``audit estimate``: the error rate of the whole dataset, from cheap
judges on every record corrected by gold labels on a sample (prediction-powered inference).

The *cheap run* judged every record (``audit run --all``, typically with the offline panel);
the *gold run* holds the gold labels of one judge on a sample of the same dataset (``audit
sample`` with an API judge, ``audit review``, ``audit import-labels``, or an active sample from
``audit sample --active``). Both may be the same run. For the inclusive and the hard rate,
overall and per stratum, the estimate puts the PPI++ interval (``audit.stats.ppi_rate``) next to
the gold sample's own interval and the cheap panel's own (biased) rate, and says in words how
much narrower the interval is and why.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from audit.gold import label_vector, require_gold_judge
from audit.predictions import PREDICTION_KINDS, panel_predictions
from audit.stats.ppi import PPIEstimate, ppi_rate
from audit.stats.rates import error_rate
from core.errors import ConfigError
from core.models import Severity
from core.runs import StoredRun, list_runs, open_run
from core.store import Store

MIN_GOLD = 10  # fewest gold labels for a PPI interval (normal approximation) in a stratum
Design = Literal["uniform", "stratified", "active"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GoldOnly(_Model):
    """The classical interval from the gold labels alone."""

    estimate: float
    low: float
    high: float
    method: str


class RateComparison(_Model):
    ppi: PPIEstimate | None = Field(description=f"null with fewer than {MIN_GOLD} gold labels, "
                                    "or when they are all the same (why says which)")
    gold_only: GoldOnly | None
    cheap_rate: float = Field(description="the cheap panel's own rate on every record (biased)")
    width_ratio: float | None = Field(description="PPI interval width / gold-only width")
    why: str


class StratumEstimate(_Model):
    stratum: str
    population: int
    gold_labels: int
    inclusive: RateComparison
    hard: RateComparison


class EstimateReport(_Model):
    """Everything ``audit estimate`` prints (its ``--json`` is this model)."""

    cheap_run_id: str
    gold_run_id: str
    gold_judge: str
    panel: list[str] = Field(description="the cheap run's judges whose verdicts predict")
    prediction: str
    design: Design
    confidence: float
    hard_severity: str
    population: int
    sampled: int = Field(description="records in the gold run's sample")
    gold_labels: int
    no_cheap_verdict: int = Field(description="records no cheap judge decided (prediction 0.5)")
    overall: StratumEstimate
    by: str | None = None
    strata: list[StratumEstimate] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


# -- finding the runs --------------------------------------------------------------------


def cheap_run_for(store: Store, dataset_sha256: str, cheap_run_id: str | None, *,
                  none_found: str) -> StoredRun:
    """The named run (an id or a unique prefix), or the latest run over every record of the
    dataset; ``none_found`` says what to do when there is none."""
    if cheap_run_id is None:
        run = next((r for r in list_runs(store) if r.audit.covers_every_record
                    and r.audit.dataset_sha256 == dataset_sha256), None)
        if run is None:
            raise ConfigError(none_found)
        return run
    run = open_run(store, cheap_run_id)
    if not run.audit.covers_every_record:
        raise ConfigError(f"run {run.id} did not judge every record; the cheap run must have "
                          "the cheap judges on all of them (`audit run --all`)")
    if run.audit.dataset_sha256 != dataset_sha256:
        raise ConfigError(f"run {run.id} audited another version of the dataset (its content "
                          "hash differs); use a run of the same dataset")
    return run


def resolve_cheap_run(store: Store, gold_run: StoredRun, cheap_run_id: str | None) -> StoredRun:
    """The named run, the active sample's own cheap run, the gold run if it covers every
    record, or the latest run over every record of the same dataset."""
    gold = gold_run.audit
    if cheap_run_id is None and gold.sampling is not None:
        cheap_run_id = gold.sampling.cheap_run
    if cheap_run_id is None and gold.covers_every_record:
        return gold_run
    return cheap_run_for(store, gold.dataset_sha256, cheap_run_id, none_found=(
        f"no run over every record of run {gold_run.id}'s dataset: run `audit run --all` "
        "(same --dataset and --sources) first, or name one with --cheap RUN"))


def gold_inclusion(store: Store, gold_run: StoredRun, cheap_run: StoredRun,
                   records: list[dict]) -> tuple[Design, np.ndarray | None]:
    """The gold sample's design and each record's inclusion probability (None: uniform)."""
    if gold_run.id == cheap_run.id:
        return "uniform", None
    stored = store.inclusion(gold_run.id)
    if stored:
        missing = [r["id"] for r in records if r["id"] not in stored]
        if missing:
            raise ConfigError(f"run {gold_run.id} has no inclusion probability for "
                              f"{len(missing)} record(s) of run {cheap_run.id}")
        return "active", np.array([stored[r["id"]] for r in records])
    if gold_run.audit.stratify == "topic":
        sampled = [str(r.get("topic") or "") for r in store.run_records(gold_run.id)]
        topics = [str(r.get("topic") or "") for r in records]
        size = {t: topics.count(t) for t in set(topics)}
        drawn = {t: sampled.count(t) for t in set(topics)}
        pi = np.array([max(drawn[t], 1) / size[t] for t in topics])
        return "stratified", pi
    return "uniform", None


# -- the estimate ------------------------------------------------------------------------


def estimate_error_rate(
    store: Store,
    gold_run_id: str | None = None,
    *,
    cheap_run_id: str | None = None,
    gold_judge: str | None = None,
    prediction: str = "p_error",
    by: str | None = None,
    confidence: float = 0.95,
    hard_severity: str = "major",
) -> EstimateReport:
    """PPI++ estimates of the inclusive and hard error rate of the whole dataset."""
    if prediction not in PREDICTION_KINDS:
        raise ConfigError(f"prediction must be one of {', '.join(PREDICTION_KINDS)}, got {prediction!r}")
    if by not in (None, "topic"):
        raise ConfigError(f"can only break the estimate down by topic, got {by!r}")
    hard_rank = Severity(hard_severity).rank
    gold_run = open_run(store, gold_run_id)
    cheap_run = resolve_cheap_run(store, gold_run, cheap_run_id)
    records = store.run_records(cheap_run.id)
    ids = [r["id"] for r in records]
    gold_judgments = store.judgments(gold_run.id)
    gold = require_gold_judge(gold_run, gold_judgments, gold_judge)
    panel = [name for name in cheap_run.audit.panel if name != gold]
    if not panel:
        raise ConfigError(f"run {cheap_run.id} has no judges besides {gold!r} to predict with")
    cheap_judgments = (gold_judgments if cheap_run.id == gold_run.id
                       else store.judgments(cheap_run.id))
    predictions = panel_predictions(cheap_judgments, ids, panel, kind=prediction,
                                    hard_rank=hard_rank, closed_world=cheap_run.audit.closed_world)
    gold_world = gold_run.audit.closed_world
    y_inclusive = label_vector(gold_judgments, ids, gold, closed_world=gold_world)
    y_hard = label_vector(gold_judgments, ids, gold, hard_rank, closed_world=gold_world)
    design, inclusion = gold_inclusion(store, gold_run, cheap_run, records)
    sampled = len(store.run_records(gold_run.id))

    def stratum(name: str, mask: np.ndarray) -> StratumEstimate:
        pi = None if inclusion is None else inclusion[mask]
        return StratumEstimate(
            stratum=name,
            population=int(mask.sum()),
            gold_labels=int((~np.isnan(y_inclusive[mask])).sum()),
            inclusive=compare_rates(predictions.inclusive[mask], y_inclusive[mask], pi,
                                    confidence, weighted=design == "active"),
            hard=compare_rates(predictions.hard[mask], y_hard[mask], pi, confidence,
                               weighted=design == "active"),
        )

    overall = stratum("all records", np.ones(len(ids), dtype=bool))
    strata = []
    if by == "topic":
        topics = np.array([str(r.get("topic") or "(none)") for r in records])
        strata = [stratum(t, topics == t) for t in sorted(set(topics))]
    return EstimateReport(
        cheap_run_id=cheap_run.id, gold_run_id=gold_run.id, gold_judge=gold, panel=panel,
        prediction=prediction, design=design, confidence=confidence,
        hard_severity=Severity(hard_severity).value, population=len(ids), sampled=sampled,
        gold_labels=overall.gold_labels, no_cheap_verdict=predictions.undecided,
        overall=overall, by=by, strata=strata,
        notes=_notes(gold_run, cheap_run, gold, sampled, overall.gold_labels, predictions.undecided,
                     design, prediction) + _stratum_notes(strata, by),
    )


def _stratum_notes(strata: list[StratumEstimate], by: str | None) -> list[str]:
    """Which strata have no PPI++ interval (n/a in the table), and why: too few gold labels, or
    gold labels all the same."""
    notes = []
    few = [f"{s.stratum} ({s.gold_labels})" for s in strata if s.gold_labels < MIN_GOLD]
    if few:
        notes.append(f"a {by} needs at least {MIN_GOLD} gold labels for a PPI++ interval (n/a in "
                     f"the table); {len(few)} of {len(strata)} have fewer: {', '.join(few)}")
    same = [f"{s.stratum} ({rate})" for s in strata if s.gold_labels >= MIN_GOLD
            for rate in ("inclusive", "hard") if getattr(s, rate).ppi is None]
    if same:
        notes.append(f"no PPI++ interval (n/a) where a {by}'s gold labels are all the same, "
                     f"which would give it no width: {', '.join(same)}")
    return notes


def compare_rates(predicted: np.ndarray, gold: np.ndarray, inclusion: np.ndarray | None,
                  confidence: float, *, weighted: bool) -> RateComparison:
    """PPI++, gold-only and cheap-only views of one rate over one set of records."""
    present = gold[~np.isnan(gold)]
    m = int(present.size)
    cheap_rate = float(predicted.mean())
    # Gold labels all the same (and not a census): λ is 0 and the residuals do not vary, so the
    # normal interval would have no width (13 'ok' labels gave 0.0% [0.0%, 0.0%]).
    constant = 0 < m < gold.size and bool(present.min() == present.max())
    ppi = (ppi_rate(predicted, gold, inclusion=inclusion, confidence=confidence)
           if m >= MIN_GOLD and not constant else None)
    only = _gold_only(predicted, gold, inclusion, confidence, weighted) if m else None
    if constant and weighted:
        only = None  # the weighted interval has the same flaw
    ratio = None
    if ppi is not None and only is not None and only.high > only.low:
        ratio = ppi.interval.width / (only.high - only.low)
    why = why_width(ppi, ratio, m)
    if constant and m >= MIN_GOLD:
        why = (f"the {m} gold labels are all {'errors' if present[0] else 'ok'}: with no "
               "variation among them a PPI++ interval would have no width, so none is given"
               + ("; draw a uniform gold sample for an interval" if weighted
                  else "; the gold labels' own interval holds"))
    return RateComparison(ppi=ppi, gold_only=only, cheap_rate=cheap_rate, width_ratio=ratio,
                          why=why)


def _gold_only(predicted, gold, inclusion, confidence, weighted: bool) -> GoldOnly | None:
    present = gold[~np.isnan(gold)]
    if weighted:  # unequal probabilities: the weighted (Horvitz–Thompson) estimate, λ = 0
        if present.size < MIN_GOLD:
            return None
        hajek = ppi_rate(predicted, gold, inclusion=inclusion, confidence=confidence, lam=0.0)
        return GoldOnly(estimate=hajek.estimate, low=hajek.interval.low, high=hajek.interval.high,
                        method="inverse-probability weighted, normal interval")
    rate = error_rate(int(present.sum()), int(present.size), confidence=confidence,
                      population=int(gold.size))
    if rate.rate is None or rate.wilson is None:
        return None
    method = "Wilson" + (" with finite-population correction" if rate.fpc_applied else "")
    return GoldOnly(estimate=rate.rate, low=rate.wilson.low, high=rate.wilson.high, method=method)


def why_width(ppi: PPIEstimate | None, ratio: float | None, m: int) -> str:
    """One sentence: how the PPI interval compares with the gold sample's alone, and why."""
    if ppi is None:
        return f"only {m} gold label(s) here: at least {MIN_GOLD} are needed for an estimate"
    bias = ppi.gold_minus_prediction
    direction = "under" if bias > 0 else "over"
    corrected = (f"on the gold records the cheap panel {direction}-states the rate by "
                 f"{abs(bias) * 100:.1f} points, which the estimate corrects")
    track = (f"correlation {ppi.correlation:.2f}" if ppi.correlation is not None
             else "no variation to correlate")
    if ratio is None:
        return f"λ = {ppi.lam:.2f}; {corrected}"
    if ratio <= 0.95:
        return (f"{1 - ratio:.0%} narrower than the gold labels alone: the cheap predictions "
                f"track the gold labels ({track} on {m} records), so they carry weight "
                f"λ = {ppi.lam:.2f} and only what they get wrong is left to sampling error; "
                f"{corrected}")
    if ratio < 1.05:
        return (f"about as wide as the gold labels alone: the cheap predictions say little about "
                f"the gold labels here ({track}, λ = {ppi.lam:.2f}), so the estimate rests on "
                f"the gold sample; it stays valid")
    return (f"{ratio - 1:.0%} wider than the gold labels' own interval: with {m} gold labels and "
            f"predictions that say little ({track}, λ = {ppi.lam:.2f}) the normal approximation "
            "is wider than Wilson's; prefer the gold-only interval here")


def _notes(gold_run, cheap_run, gold, sampled, labelled, undecided, design,
           prediction) -> list[str]:
    notes = []
    if gold_run.id == cheap_run.id:
        notes.append(f"the gold labels are in the cheap run itself: the {labelled} records "
                     f"{gold!r} labelled are taken to be a random sample of its records")
    elif labelled < sampled:
        notes.append(f"{sampled - labelled} of the {sampled} sampled records have no gold label "
                     f"from {gold!r} (not reviewed, abstained or failed): the labelled ones are "
                     "taken as the sample, which assumes the gaps are unrelated to errors")
    if undecided:
        notes.append(f"{undecided} record(s) have no cheap verdict; their prediction is 0.5")
    if prediction == "consensus" and labelled < 100:
        notes.append("a majority label as the prediction leaves the correction to the few gold "
                     "records where it is wrong: with under 100 gold labels the interval is "
                     "widened for their skew (Hall's correction, audit.stats.ppi)")
    if design == "active":
        notes.append("the gold sample was drawn actively (unequal probabilities): every "
                     "estimate is inverse-probability weighted")
    return notes
