"""Consensus labels: majority vote with explicit ties, and Dawid–Skene latent-truth EM.

Missing values (NaN: no judgment, abstention, failure) are simply absent votes. Dawid–Skene
(1979) treats them as missing at random: a unit's likelihood multiplies over the judges that
did label it, so abstentions neither count as agreement nor as a vote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import logsumexp

from audit.stats.coding import MISSING, as_label_matrix, category_counts, encode_labels
from core.errors import ConfigError


@dataclass(frozen=True)
class MajorityVote:
    """Per-unit majority labels: ``labels`` is NaN where the vote is disputed or empty."""

    labels: np.ndarray
    disputed: np.ndarray  # bool: two or more categories tie for the most votes
    undecided: np.ndarray  # bool: no rater labelled the unit
    votes: np.ndarray  # int: how many raters labelled the unit

    @property
    def n_disputed(self) -> int:
        return int(self.disputed.sum())

    @property
    def n_undecided(self) -> int:
        return int(self.undecided.sum())

    def states(self, names: dict[float, str]) -> list[str]:
        """Per-unit state names: ``names[label]``, ``"disputed"`` or ``"undecided"``."""
        out = []
        for label, tie, empty in zip(self.labels, self.disputed, self.undecided, strict=True):
            out.append("undecided" if empty else "disputed" if tie else names[float(label)])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": [None if np.isnan(x) else float(x) for x in self.labels],
            "disputed": self.disputed.tolist(),
            "undecided": self.undecided.tolist(),
            "votes": self.votes.tolist(),
        }


def majority_vote(labels, categories: Sequence[float] | None = None) -> MajorityVote:
    """The category with strictly the most votes per unit; ties are ``disputed``."""
    codes, cats = encode_labels(as_label_matrix(labels), categories)
    counts = category_counts(codes, len(cats))
    votes = counts.sum(axis=1)
    if len(cats) == 0:
        empty = np.zeros(len(codes), dtype=bool)
        return MajorityVote(np.full(len(codes), np.nan), empty, votes == 0, votes)
    top = counts.max(axis=1)
    winners = (counts == top[:, None]).sum(axis=1)
    undecided = votes == 0
    disputed = ~undecided & (winners > 1)
    chosen = cats[counts.argmax(axis=1)]
    result = np.where(undecided | disputed, np.nan, chosen)
    return MajorityVote(result, disputed, undecided, votes)


@dataclass(frozen=True)
class DawidSkeneResult:
    """EM estimates: class prevalence, per-judge confusion matrices and unit posteriors.

    ``confusion[j][t][l]`` = P(judge j says category l | true category t). For two
    categories ``[0, 1]`` (1 = error), ``sensitivity`` = P(says 1 | truth 1) and
    ``specificity`` = P(says 0 | truth 0).
    """

    categories: list[float]
    judges: list[str]
    prevalence: list[float]
    confusion: dict[str, list[list[float]]]
    posterior: np.ndarray
    iterations: int
    converged: bool
    log_likelihood: float
    sensitivity: dict[str, float] = field(default_factory=dict)
    specificity: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "categories": self.categories,
            "judges": self.judges,
            "prevalence": self.prevalence,
            "confusion": self.confusion,
            "posterior": self.posterior.tolist(),
            "iterations": self.iterations,
            "converged": self.converged,
            "log_likelihood": self.log_likelihood,
            "sensitivity": self.sensitivity,
            "specificity": self.specificity,
        }


def dawid_skene(
    labels,
    judges: Sequence[str] | None = None,
    *,
    categories: Sequence[float] | None = None,
    max_iter: int = 500,
    tol: float = 1e-8,
    smoothing: float = 0.01,
) -> DawidSkeneResult:
    """Dawid–Skene EM on a label matrix, initialised from vote shares.

    ``smoothing`` is a pseudo-count added to every confusion cell and class, which keeps
    a perfect (or never-observed) judge from producing ``log(0)``.
    """
    labels = as_label_matrix(labels)
    judges = list(judges) if judges is not None else [str(i) for i in range(labels.shape[1])]
    if len(judges) != labels.shape[1]:
        raise ConfigError(f"got {len(judges)} judge names for {labels.shape[1]} label columns")
    codes, cats = encode_labels(labels, categories)
    k = len(cats)
    if k < 2:
        raise ConfigError(
            "Dawid–Skene needs at least two categories; pass categories=[0, 1] for error labels"
        )
    onehot = np.zeros(codes.shape + (k,))
    observed = codes != MISSING
    units, raters = np.nonzero(observed)
    onehot[units, raters, codes[observed]] = 1.0

    counts = onehot.sum(axis=1)
    totals = counts.sum(axis=1, keepdims=True)
    posterior = np.where(totals > 0, counts / np.where(totals > 0, totals, 1), 1.0 / k)
    fit = _em(posterior, onehot, smoothing=smoothing, cell_smoothing=smoothing,
              max_iter=max_iter, tol=tol)
    return _ds_result(cats, judges, fit.prior, fit.confusion, fit.posterior, fit.iterations,
                      fit.converged, fit.log_likelihood)


@dataclass(frozen=True)
class _Fit:
    prior: np.ndarray
    confusion: np.ndarray
    posterior: np.ndarray
    iterations: int
    converged: bool
    log_likelihood: float


def _em(posterior: np.ndarray, onehot: np.ndarray, *, smoothing: float, cell_smoothing: float,
        max_iter: int, tol: float) -> _Fit:
    """Dawid–Skene EM from an initial ``posterior`` (units × classes) over ``onehot`` answers
    (units × judges × answers): ``smoothing`` pseudo-counts per class, ``cell_smoothing`` per
    confusion cell."""
    classes = posterior.shape[1]
    previous = log_likelihood = -np.inf
    prior = confusion = posterior
    iteration, converged = 0, False
    while iteration < max_iter:
        iteration += 1
        prior = (posterior.sum(axis=0) + smoothing) / (len(posterior) + classes * smoothing)
        confusion = np.einsum("ut,url->rtl", posterior, onehot) + cell_smoothing
        confusion /= confusion.sum(axis=2, keepdims=True)
        joint = np.log(prior)[None, :] + np.einsum("url,rtl->ut", onehot, np.log(confusion))
        norm = logsumexp(joint, axis=1, keepdims=True)
        posterior = np.exp(joint - norm)
        log_likelihood = float(norm.sum())
        if abs(log_likelihood - previous) < tol * max(1.0, abs(log_likelihood)):
            converged = True
            break
        previous = log_likelihood
    return _Fit(prior, confusion, posterior, iteration, converged, log_likelihood)


def _ds_result(cats, judges, prior, confusion, posterior, iterations, converged, loglik):
    sens: dict[str, float] = {}
    spec: dict[str, float] = {}
    if len(cats) == 2:
        sens = {name: float(confusion[j, 1, 1]) for j, name in enumerate(judges)}
        spec = {name: float(confusion[j, 0, 0]) for j, name in enumerate(judges)}
    return DawidSkeneResult(
        categories=[float(c) for c in cats],
        judges=judges,
        prevalence=[float(p) for p in prior],
        confusion={name: confusion[j].tolist() for j, name in enumerate(judges)},
        posterior=posterior,
        iterations=iterations,
        converged=converged,
        log_likelihood=loglik,
        sensitivity=sens,
        specificity=spec,
    )


# --- a consensus that weighs each judge -------------------------------------------------------

#: P(error) bins of the latent-class model: a judge's calibrated probability is read as one
#: of ``len(SCORE_EDGES) + 1`` ordered answers, and what each answer is worth is estimated
#: from the data. Chosen on the development slices only (bench/audit_quality.py --split dev,
#: n 120, default panel): four bins (0.25, 0.5, 0.75) gave consensus F1 .947 on HaluEval
#: against .974 for two (error / not), equal on FaithDial (.763), so two: Dawid–Skene on the
#: judges' labels with abstentions missing; the probabilities still break the majority's ties.
SCORE_EDGES: tuple[float, ...] = (0.5,)
#: Fewer units than this with a vote and the latent-class model is not fitted (majority).
MIN_UNITS = 20


@dataclass(frozen=True)
class WeightedConsensus:
    """Per-unit P(error) and label from all judges, with the method that decided.

    ``posterior`` is NaN and ``labels`` NaN only where no judge voted (``undecided``); every
    other unit has a label, ties included. ``ranking`` orders the units by risk, as quantiles
    in [0, 1] (NaN where no judge voted): by ``posterior``, and among units with the same
    posterior (the latent-class model reads each judge's answer as error / not, so units with
    the same votes share one) by the sum of the voting judges' log-odds of error. It is for
    ordering (AUC), not a probability: rates use ``posterior`` and ``labels``. ``method`` is
    ``"latent-class"`` (Dawid–Skene on binned calibrated probabilities, abstentions missing)
    or ``"majority"`` (ties broken by the mean P(error); a tie at exactly 0.5 counts as an
    error); ``reason`` says why the majority decided when it did.
    """

    posterior: np.ndarray
    labels: np.ndarray
    method: str
    reason: str
    prevalence: float | None = None
    sensitivity: dict[str, float] = field(default_factory=dict)
    specificity: dict[str, float] = field(default_factory=dict)
    iterations: int = 0
    ranking: np.ndarray = field(default_factory=lambda: np.empty(0))

    @property
    def undecided(self) -> np.ndarray:
        return np.isnan(self.labels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "posterior": [None if np.isnan(x) else float(x) for x in self.posterior],
            "labels": [None if np.isnan(x) else float(x) for x in self.labels],
            "method": self.method,
            "reason": self.reason,
            "prevalence": self.prevalence,
            "sensitivity": self.sensitivity,
            "specificity": self.specificity,
            "iterations": self.iterations,
            "ranking": [None if np.isnan(x) else float(x) for x in self.ranking],
        }


def weighted_consensus(
    scores,
    judges: Sequence[str] | None = None,
    *,
    labels=None,
    min_units: int = MIN_UNITS,
    max_iter: int = 500,
    tol: float = 1e-9,
    smoothing: float = 0.5,
) -> WeightedConsensus:
    """Combine judges' P(error) (``(n_units, n_judges)``, NaN = no vote) into one per unit.

    ``labels`` (same shape, 1 = error, 0 = not; default ``scores >= 0.5``) are the judges'
    own votes: a score on the wrong side of 0.5 for its label (a "supported" verdict of
    confidence 0.5) is read as just on the label's side.

    A latent-class model (Dawid & Skene 1979) with two classes (error / not) and each judge's
    P(error) read as one of the ordered answers ``SCORE_EDGES`` cut it into: how often each
    judge gives each answer to errors and to non-errors is estimated by EM without truth
    labels,
    abstentions are missing at random, and a unit's P(error) multiplies over the judges that
    voted. It is initialised from the mean P(error). Falls back to the majority vote when it
    cannot be estimated: one judge, fewer than ``min_units`` units with a vote, a single
    answer everywhere, or a degenerate fit (a class with (almost) no units, or classes whose
    meaning flipped: the "error" class must hold the higher P(error) on average).
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2:
        raise ConfigError(f"scores must be a (units, judges) matrix, got shape {scores.shape}")
    if labels is not None:
        labels = np.asarray(labels, dtype=float)
        if labels.shape != scores.shape:
            raise ConfigError(f"labels {labels.shape} and scores {scores.shape} differ in shape")
        below = np.nextafter(0.5, 0.0)
        scores = np.where(np.isnan(labels), np.nan, np.where(
            labels == 1, np.maximum(scores, 0.5), np.minimum(scores, below)))
    judges = list(judges) if judges is not None else [str(i) for i in range(scores.shape[1])]
    if len(judges) != scores.shape[1]:
        raise ConfigError(f"got {len(judges)} judge names for {scores.shape[1]} score columns")
    present = ~np.isnan(scores)
    voted = present.any(axis=1)
    active = present.any(axis=0)
    if int(active.sum()) < 2:
        return _majority_with_ties(
            scores, "no judge voted on error" if not active.any() else "only one judge voted")
    if int(voted.sum()) < min_units:
        return _majority_with_ties(
            scores, f"{int(voted.sum())} records with a vote, fewer than the {min_units} the "
            "weighted model needs")
    k = len(SCORE_EDGES) + 1
    codes = np.where(present, np.digitize(np.nan_to_num(scores), SCORE_EDGES), -1)
    if len({int(c) for c in codes[present]}) < 2:
        return _majority_with_ties(scores, "every vote gave the same answer")
    sub, subcodes = scores[voted][:, active], codes[voted][:, active]
    names = [name for name, keep in zip(judges, active, strict=True) if keep]
    onehot = np.zeros(subcodes.shape + (k,))
    units, raters = np.nonzero(subcodes >= 0)
    onehot[units, raters, subcodes[units, raters]] = 1.0
    mean = np.nanmean(sub, axis=1)
    posterior = np.column_stack([1.0 - mean, mean])
    fit = _em(posterior, onehot, smoothing=smoothing, cell_smoothing=smoothing / k,
              max_iter=max_iter, tol=tol)
    prior, confusion, iteration = fit.prior, fit.confusion, fit.iterations
    p_error = fit.posterior[:, 1]
    smallest = 1.0 / len(p_error)
    if prior[1] < smallest or prior[0] < smallest:
        return _majority_with_ties(scores, "degenerate fit: one class holds (almost) no records")
    weights = np.where(np.isnan(sub), 0.0, 1.0)
    filled = np.nan_to_num(sub)
    in_error = (filled * weights * p_error[:, None]).sum() / max(
        (weights * p_error[:, None]).sum(), 1e-12)
    in_ok = (filled * weights * (1 - p_error)[:, None]).sum() / max(
        (weights * (1 - p_error)[:, None]).sum(), 1e-12)
    if in_error <= in_ok:
        return _majority_with_ties(scores, "degenerate fit: the error class lost its meaning")
    full = np.full(len(scores), np.nan)
    full[voted] = p_error
    # P(says error | truth) per judge: the answers at or above 0.5 are "error" answers.
    high = np.arange(k) >= int(np.searchsorted(SCORE_EDGES, 0.5) + 1)
    sens = {n: float(confusion[j, 1, high].sum()) for j, n in enumerate(names)}
    spec = {n: float(confusion[j, 0, ~high].sum()) for j, n in enumerate(names)}
    return WeightedConsensus(
        posterior=full, labels=np.where(np.isnan(full), np.nan, (full >= 0.5).astype(float)),
        method="latent-class", reason="", prevalence=float(prior[1]),
        sensitivity=sens, specificity=spec, iterations=iteration,
        ranking=_risk_ranking(full, scores),
    )


def _risk_ranking(posterior: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Quantiles in [0, 1] ordering the units by ``posterior``, ties by the sum of the judges'
    log-odds of error (``scores``, NaN = no vote); NaN where the posterior is. Chosen on the
    development slices (bench/audit_quality.py --split dev): consensus AUC .956 -> .970 on
    HaluEval, .816 -> .875 on FaithDial, the labels unchanged."""
    ranking = np.full(len(posterior), np.nan)
    voted = ~np.isnan(posterior)
    if not voted.any():
        return ranking
    clipped = np.clip(scores[voted], 1e-4, 1 - 1e-4)
    pooled = np.nansum(np.log(clipped / (1 - clipped)), axis=1)
    order = np.lexsort((pooled, posterior[voted]))
    ranks = np.empty(len(order))
    ranks[order] = np.arange(len(order))
    ranking[voted] = ranks / max(len(order) - 1, 1)
    return ranking


def _majority_with_ties(scores: np.ndarray, reason: str) -> WeightedConsensus:
    """Majority of the judges' labels (P(error) ≥ 0.5); a tie goes to the mean P(error)."""
    present = ~np.isnan(scores)
    votes = present.sum(axis=1)
    errors = np.where(present, scores >= 0.5, False).sum(axis=1)
    mean = np.where(votes > 0, np.nansum(scores, axis=1) / np.maximum(votes, 1), np.nan)
    label = np.where(2 * errors > votes, 1.0, np.where(2 * errors < votes, 0.0,
                                                       (mean >= 0.5).astype(float)))
    label = np.where(votes == 0, np.nan, label)
    share = np.where(votes > 0, errors / np.maximum(votes, 1), np.nan)
    posterior = np.where(votes == 0, np.nan, np.where(2 * errors == votes, mean, share))
    return WeightedConsensus(posterior=posterior, labels=label, method="majority", reason=reason,
                             ranking=_risk_ranking(posterior, scores))
