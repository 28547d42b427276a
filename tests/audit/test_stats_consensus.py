"""Majority vote with explicit ties, and Dawid–Skene recovery on simulated judges."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audit.stats import dawid_skene, majority_vote
from core.errors import ConfigError

NAN = np.nan


def test_majority_vote_states():
    labels = np.array(
        [
            [1, 1, 0],  # error
            [0, 0, NAN],  # ok, one missing
            [1, 0, NAN],  # tie -> disputed
            [NAN, NAN, NAN],  # nobody decided
            [NAN, 1, NAN],  # a single vote is a majority
            [2, 2, 1],  # any categories
        ]
    )
    vote = majority_vote(labels)
    assert vote.states({0.0: "ok", 1.0: "error", 2.0: "two"}) == [
        "error",
        "ok",
        "disputed",
        "undecided",
        "error",
        "two",
    ]
    assert (vote.n_disputed, vote.n_undecided) == (1, 1)
    assert vote.votes.tolist() == [3, 2, 2, 0, 1, 3]
    json.dumps(vote.to_dict())


def simulate(
    seed, n=500, sens=(0.9, 0.85, 0.8), spec=(0.92, 0.88, 0.8), prevalence=0.35, missing=0.1
):
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < prevalence
    columns = [
        (rng.random(n) < np.where(truth, s, 1 - c)).astype(float)
        for s, c in zip(sens, spec, strict=True)
    ]
    labels = np.column_stack(columns)
    labels[rng.random(labels.shape) < missing] = np.nan  # abstentions / failures
    return labels, truth


def test_dawid_skene_recovers_known_accuracies():
    sens, spec = (0.9, 0.85, 0.8), (0.92, 0.88, 0.8)
    labels, _ = simulate(0, sens=sens, spec=spec)
    result = dawid_skene(labels, ["a", "b", "c"], categories=[0, 1])
    assert result.converged
    assert result.prevalence[1] == pytest.approx(0.35, abs=0.05)
    for name, s, c in zip("abc", sens, spec, strict=True):
        assert result.sensitivity[name] == pytest.approx(s, abs=0.05)
        assert result.specificity[name] == pytest.approx(c, abs=0.05)
    json.dumps(result.to_dict())


def test_dawid_skene_is_unbiased_across_seeds_and_tight_with_more_records():
    # At n=500 the estimates scatter by about ±0.03 (sampling error of ~150 positives per
    # judge), so a single seed is a smoke check; across seeds the mean error is near zero,
    # and with 2,000 records every parameter is within ±0.05 for every seed tried.
    sens, spec = (0.9, 0.85, 0.8), (0.92, 0.88, 0.8)
    errors = []
    for seed in range(30):
        labels, _ = simulate(seed, sens=sens, spec=spec)
        result = dawid_skene(labels, ["a", "b", "c"], categories=[0, 1])
        errors.append([result.sensitivity[k] - s for k, s in zip("abc", sens, strict=True)])
    assert np.abs(np.mean(errors, axis=0)).max() < 0.02
    for seed in range(5):
        labels, _ = simulate(100 + seed, n=2000, sens=sens, spec=spec)
        result = dawid_skene(labels, ["a", "b", "c"], categories=[0, 1])
        got = [result.sensitivity[k] for k in "abc"] + [result.specificity[k] for k in "abc"]
        assert np.abs(np.array(got) - np.array(sens + spec)).max() <= 0.05


@pytest.mark.parametrize("seed", range(3))
def test_dawid_skene_beats_majority_vote_when_most_judges_are_noise(seed):
    # Two good judges and three coin-flippers: the vote follows the noise, EM learns to
    # discount it.
    sens, spec = (0.95, 0.85, 0.55, 0.5, 0.5), (0.95, 0.85, 0.5, 0.55, 0.5)
    labels, truth = simulate(seed, sens=sens, spec=spec, missing=0.0)
    result = dawid_skene(labels, categories=[0, 1])
    ds_accuracy = ((result.posterior[:, 1] > 0.5) == truth).mean()
    mv_accuracy = (majority_vote(labels).labels == truth).mean()
    assert ds_accuracy > mv_accuracy + 0.02
    for noisy in "234":
        assert result.sensitivity[noisy] == pytest.approx(0.5, abs=0.15)


def test_dawid_skene_handles_units_nobody_labelled():
    labels, _ = simulate(1, n=100)
    labels[:5] = np.nan
    result = dawid_skene(labels, categories=[0, 1])
    # With no votes the posterior is the prevalence itself.
    assert result.posterior[:5, 1] == pytest.approx([result.prevalence[1]] * 5, abs=1e-6)


def test_dawid_skene_needs_two_categories():
    with pytest.raises(ConfigError, match="two categories"):
        dawid_skene(np.ones((4, 2)))


# --- issue 23: a consensus that weighs each judge and decides every record ---------------

from audit.stats import weighted_consensus  # noqa: E402


def calibrated_judges(seed, n=400, prevalence=0.4, missing=0.1):
    """One reliable, confident judge and two weak ones that out-vote it in a majority."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < prevalence

    def judge(accuracy, confidence):
        says_error = np.where(rng.random(n) < accuracy, truth, ~truth)
        return np.where(says_error, confidence, 1 - confidence)

    scores = np.column_stack([judge(0.95, 0.9), judge(0.65, 0.7), judge(0.65, 0.7)])
    scores[rng.random(scores.shape) < missing] = np.nan
    return scores, truth


@pytest.mark.parametrize("seed", [0, 1])
def test_weighted_consensus_weighs_the_reliable_judge(seed):
    scores, truth = calibrated_judges(seed)
    result = weighted_consensus(scores, ["strong", "weak1", "weak2"])
    assert result.method == "latent-class" and result.reason == ""
    voted = ~np.isnan(scores).all(axis=1)
    assert not np.isnan(result.labels[voted]).any()  # every record with a vote decided
    assert np.isnan(result.labels[~voted]).all()
    vote = majority_vote(np.where(np.isnan(scores), NAN, (scores >= 0.5).astype(float)), [0, 1])
    majority_right = ((vote.labels == 1) == truth) & ~np.isnan(vote.labels)
    weighted_right = (result.labels == 1) == truth
    assert weighted_right.mean() > majority_right.mean() + 0.03
    assert result.sensitivity["strong"] > max(result.sensitivity["weak1"],
                                              result.sensitivity["weak2"])
    json.dumps(result.to_dict())


def test_weighted_consensus_falls_back_to_the_majority_and_resolves_ties():
    scores = np.array([[0.9, 0.2], [0.6, 0.1], [0.3, 0.2], [NAN, NAN], [0.8, NAN]])
    result = weighted_consensus(scores, ["a", "b"])
    assert result.method == "majority" and "4 records" in result.reason
    # ties go to the mean P(error): 0.55 -> error, 0.35 -> ok; no judge: undecided
    assert result.labels[:3].tolist() == [1.0, 0.0, 0.0]
    assert np.isnan(result.labels[3]) and result.labels[4] == 1.0
    one = weighted_consensus(np.column_stack([np.linspace(0, 1, 30), np.full(30, NAN)]))
    assert one.method == "majority" and "one judge" in one.reason
    none = weighted_consensus(np.full((30, 2), NAN))  # every verdict unverifiable: no vote
    assert none.reason == "no judge voted on error" and np.isnan(none.labels).all()
    same = weighted_consensus(np.full((30, 2), 0.9))
    assert same.method == "majority" and "same answer" in same.reason


def test_weighted_consensus_reads_labels_on_their_side_of_one_half():
    # a "supported" verdict of confidence 0.5 is P(error) 0.5 but still an ok vote
    scores = np.array([[0.5, 0.5], [0.5, 0.5]])
    labels = np.array([[1.0, 0.0], [0.0, 0.0]])
    result = weighted_consensus(scores, labels=labels)
    assert result.labels.tolist() == [1.0, 0.0]  # a tie at exactly 0.5 counts as an error
    with pytest.raises(ConfigError, match="shape"):
        weighted_consensus(scores, labels=labels[:1])


@pytest.mark.parametrize("seed", [0, 1])
def test_consensus_ranking_orders_records_with_the_same_votes_by_the_judges_confidence(seed):
    """The latent-class posterior is one value per pattern of votes; its ranking breaks those
    ties by the judges' pooled log-odds, never going against the posterior."""
    scores, truth = calibrated_judges(seed)
    result = weighted_consensus(scores, ["strong", "weak1", "weak2"])
    voted = ~np.isnan(result.posterior)
    assert np.isnan(result.ranking[~voted]).all()
    ranks = result.ranking[voted]
    assert ranks.min() == 0.0 and ranks.max() == 1.0 and len(set(ranks)) == voted.sum()
    # never against the posterior: a higher posterior always ranks higher
    post = result.posterior[voted]
    higher = post[:, None] > post[None, :]
    assert (ranks[:, None] > ranks[None, :])[higher].all()
    assert len(set(post)) < voted.sum() / 4  # few distinct posteriors: ties are common
    # among the records sharing one posterior, the one whose judges are surer ranks higher
    same = post == np.median(post)
    pooled = np.nansum(np.log(scores[voted] / (1 - scores[voted])), axis=1)
    order = np.argsort(pooled[same])
    assert (np.diff(ranks[same][order]) > 0).all()
    assert len(result.to_dict()["ranking"]) == len(scores)
