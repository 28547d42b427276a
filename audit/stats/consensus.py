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
    previous = -np.inf
    converged = False
    iteration = 0
    log_likelihood = -np.inf
    while iteration < max_iter:
        iteration += 1
        prior = (posterior.sum(axis=0) + smoothing) / (len(posterior) + k * smoothing)
        confusion = np.einsum("ut,url->rtl", posterior, onehot) + smoothing
        confusion /= confusion.sum(axis=2, keepdims=True)
        joint = np.log(prior)[None, :] + np.einsum("url,rtl->ut", onehot, np.log(confusion))
        norm = logsumexp(joint, axis=1, keepdims=True)
        posterior = np.exp(joint - norm)
        log_likelihood = float(norm.sum())
        if abs(log_likelihood - previous) < tol * max(1.0, abs(log_likelihood)):
            converged = True
            break
        previous = log_likelihood
    return _ds_result(
        cats, judges, prior, confusion, posterior, iteration, converged, log_likelihood
    )


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
