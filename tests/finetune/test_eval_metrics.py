"""finetune eval's metrics on small fixed inputs: BERTScore, position swap, truncation rates,
confident errors and their paired comparison."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest

from core.models import Judgment, JudgmentStatus, Label, QARecord, Verdict
from finetune.evaluate import answer_state, confident_error, factuality, rate
from finetune.fidelity import bertscore, bootstrap_mean, greedy_match
from finetune.preference import (
    LikelihoodJudge,
    combine,
    judge_pairs,
    judge_prompt,
    parse_choice,
    preference_summary,
)

# -- BERTScore --------------------------------------------------------------------------------


def test_greedy_match_on_fixed_vectors():
    e = np.eye(3, dtype=np.float32)
    assert greedy_match(e, e).f1 == pytest.approx(1.0)
    # candidate = tokens 0 and 1, reference = token 0 only: P = (1 + 0) / 2, R = 1
    score = greedy_match(e[:2], e[:1])
    assert (score.precision, score.recall) == (pytest.approx(0.5), pytest.approx(1.0))
    assert score.f1 == pytest.approx(2 * 0.5 / 1.5)
    assert greedy_match(e[:0], e).f1 == 0.0


def test_bertscore_identical_strings_score_one_and_different_strings_less():
    reference = "The late registration fee is $150 and is charged after the first week."
    scores = bertscore([reference,
                        "A $150 late fee is charged if you register after the first week.",
                        "Campus housing opens on August 20 for new students."],
                       [reference] * 3)
    assert scores[0].f1 == pytest.approx(1.0, abs=1e-5)
    assert scores[1].f1 < 0.99
    assert scores[2].f1 < scores[1].f1  # unrelated content scores below a paraphrase


def test_bertscore_needs_aligned_inputs():
    with pytest.raises(ValueError, match="as many references"):
        bertscore(["a"], ["a", "b"])


def test_bootstrap_interval_of_the_mean():
    assert bootstrap_mean([0.7] * 10).low == pytest.approx(0.7)
    values = [0.2, 0.4, 0.6, 0.8, 1.0] * 4
    ci = bootstrap_mean(values, replicates=2000, seed=1)
    assert ci.low < np.mean(values) < ci.high
    assert bootstrap_mean([]) is None


# -- preference with position swap ------------------------------------------------------------


class AlwaysFirst:
    """A judge with pure position bias: whatever comes first wins."""

    name = "always-A"

    async def choose(self, question, first, second):
        return "A"


class PrefersMention:
    """A judge that picks the answer mentioning '$150', wherever it stands."""

    name = "mentions-150"

    async def choose(self, question, first, second):
        if ("$150" in first) == ("$150" in second):
            return "tie"
        return "A" if "$150" in first else "B"


ITEMS = [("p1", "Late fee?", "It is $100.", "It is $150."),
         ("p2", "Late fee amount?", "$150.", "$100."),
         ("p3", "Fee?", "Unknown.", "Not sure.")]


def test_a_position_biased_judge_gives_only_ties_reported_as_inconsistent():
    verdicts = asyncio.run(judge_pairs(AlwaysFirst(), ITEMS))
    summary = preference_summary(verdicts)
    assert [v.outcome for v in verdicts] == ["tie"] * 3
    assert (summary["wins"], summary["ties"], summary["losses"]) == (0, 3, 0)
    assert summary["position_inconsistent"] == 3
    assert summary["ties_ci"][0] > 0.3 and summary["wins_ci"][0] == pytest.approx(0.0, abs=1e-9)


def test_a_consistent_judge_gives_wins_and_losses():
    verdicts = asyncio.run(judge_pairs(PrefersMention(), ITEMS))
    assert [v.outcome for v in verdicts] == ["tuned", "base", "tie"]
    summary = preference_summary(verdicts)
    assert (summary["wins"], summary["ties"], summary["losses"]) == (1, 1, 1)
    assert summary["position_inconsistent"] == 0
    assert summary["wins_rate"] == pytest.approx(1 / 3)


def test_combine_rules():
    assert combine("x", "B", "A").outcome == "tuned"  # tuned picked in both orders
    assert combine("x", "A", "B").outcome == "base"
    one_tie = combine("x", "tie", "A")
    assert one_tie.outcome == "tie" and not one_tie.position_inconsistent
    assert combine("x", "B", "B").position_inconsistent


def test_parse_choice():
    assert parse_choice("B") == "B"
    assert parse_choice("Answer A is better.") == "A"
    assert parse_choice("It's a tie") == "tie"
    assert parse_choice("both are wrong") == "tie"


class ScoredProvider:
    """Wraps the real local provider, keeping the scores it returned."""

    def __init__(self, provider):
        self.provider, self.model, self.seen = provider, provider.model, []

    async def ascore_pairs(self, pairs):
        scores = await self.provider.ascore_pairs(pairs)
        self.seen.append([s.total for s in scores])
        return scores


@pytest.mark.slow
def test_likelihood_judge_follows_the_letter_log_likelihoods_of_the_real_model():
    from core.providers.local import LocalProvider

    provider = ScoredProvider(LocalProvider())
    question, first, second = "What is the late fee?", "The late fee is $150.", "Bananas."
    choice = asyncio.run(LikelihoodJudge(provider).choose(question, first, second))
    a, b = provider.seen[0]
    assert choice == ("A" if a > b else "B")
    assert a != b
    assert asyncio.run(LikelihoodJudge(provider, margin=abs(a - b) + 1).choose(
        question, first, second)) == "tie"
    assert "Answer A: The late fee is $150." in judge_prompt(question, first, second)


# -- truncation and confident errors ----------------------------------------------------------


def test_truncation_rate_with_wilson_interval():
    entry = rate(2, 8, 0.95)
    assert entry["k"] == 2 and entry["rate"] == 0.25
    assert entry["ci"][0] < 0.25 < entry["ci"][1]


def judgment(record_id: str, judge: str, label: Label | None) -> Judgment:
    if label is None:
        return Judgment(run_id="r", record_id=record_id, judge=judge, status=JudgmentStatus.failed)
    return Judgment(run_id="r", record_id=record_id, judge=judge, status=JudgmentStatus.ok,
                    verdict=Verdict(label=label))


def test_answer_state_from_the_panel():
    wrong, right = Label.contradicted, Label.supported
    assert answer_state("$500.", [judgment("a", "x", wrong), judgment("a", "y", wrong)]) == "error"
    assert answer_state("$500.", [judgment("a", "x", wrong), judgment("a", "y", right)]) == "disputed"
    assert answer_state("$150.", [judgment("a", "x", right)]) == "ok"
    assert answer_state("$150.", [judgment("a", "x", None)]) == "undecided"
    declined = "The guides don't cover that, so I can't answer reliably. Please ask an advisor."
    assert answer_state(declined, [judgment("a", "x", Label.not_in_sources)]) == "declined"
    assert math.isnan(confident_error("undecided")) and confident_error("declined") == 0.0


def test_factuality_counts_by_model_and_topic_with_a_paired_test():
    prompts = [QARecord(id=f"p{i}", question="q", answer="a", topic="fees" if i < 4 else "housing")
               for i in range(6)]
    states = {"base": ["ok", "ok", "error", "ok", "ok", "undecided"],
              "tuned": ["error", "error", "error", "ok", "error", "ok"]}
    result = factuality(states, prompts, 0.95)
    assert result["base"]["k"] == 1 and result["base"]["n"] == 5 and result["base"]["undecided"] == 1
    assert result["tuned"]["k"] == 4 and result["tuned"]["n"] == 6
    assert result["by_topic"] == {"fees": {"n": 4, "base": 1, "tuned": 3},
                                  "housing": {"n": 2, "base": 0, "tuned": 1}}
    paired = result["paired"]
    assert paired["n"] == 5  # the undecided base answer has no pair
    assert (paired["both"], paired["only_a"], paired["only_b"]) == (1, 3, 0)
    assert paired["a"] == "tuned" and paired["p_value_exact"] == pytest.approx(0.25)
