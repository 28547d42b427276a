"""The audit runner: citation verification, failures recorded and retried, resume."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from test_llm_judge import PASSAGES, RECORD, FakeOpenAI, chat_completion  # noqa: F401

from audit.judges.llm import LLMJudge
from audit.runner import choose_sample, judge_one, run_panel
from core.models import JudgeSpec, JudgmentStatus, QARecord
from core.providers.openai import OpenAIProvider
from core.runs import AuditRun
from core.store import Store

BY_ID = {p.id: p for p in PASSAGES}
FABRICATED = {
    "label": "contradicted",
    "category": "wrong_number",
    "severity": "major",
    "confidence": 0.95,
    "citations": [{"passage_id": "refunds#0", "quote": "Customers may request a refund within 7 days"}],
    "rationale": "The policy says 7 days.",
}


def judge_replying(handler, store: Store) -> LLMJudge:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    provider = OpenAIProvider("gpt-4.1-mini", http_client=client, max_retries=0)
    return LLMJudge(JudgeSpec(name="gpt", provider="openai", model="gpt-4.1-mini"), store, provider)


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "a.db")


@pytest.fixture(autouse=True)
def openai_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-runner")


def test_fabricated_quote_is_flagged_invalid_citation(store):
    judge = judge_replying(FakeOpenAI(json.dumps(FABRICATED)), store)
    judgment = asyncio.run(judge_one(judge, RECORD, PASSAGES, BY_ID, "run-1"))
    assert judgment.status is JudgmentStatus.invalid_citation
    assert "quote not found in refunds#0" in judgment.error
    assert judgment.verdict.label.value == "contradicted"  # kept as data, not trusted


def test_provider_failure_is_recorded_then_retried_by_a_rerun(store):
    def down(request):
        return httpx.Response(503, json={"error": {"message": "overloaded", "type": "server_error"}})

    records = [RECORD, QARecord(id="rec-8", question="Are gift cards refundable?",
                                answer="No, gift cards are not refundable.")]
    plan = AuditRun(dataset_sha256="d" * 64, dataset_path="x.jsonl", sources_sha256="s",
                     n=2, seed=0, judges=[JudgeSpec(name="gpt", provider="openai",
                                                    model="gpt-4.1-mini")])
    sample = choose_sample(store, plan, records)
    first = asyncio.run(run_panel(store, plan, sample, lambda r: PASSAGES, BY_ID,
                                  judges=[judge_replying(down, store)]))
    assert [j.status for j in first.judgments] == [JudgmentStatus.failed] * 2
    assert "Unavailable" in first.judgments[0].error
    assert store.get_run(plan.run_id)["status"] == "incomplete"

    good = {**FABRICATED, "citations": [{"passage_id": "refunds#0",
                                         "quote": "within 14 days of purchase"}]}

    def up(request):
        return httpx.Response(200, json=chat_completion(json.dumps(good)))

    second = asyncio.run(run_panel(store, plan, sample, lambda r: PASSAGES, BY_ID,
                                   judges=[judge_replying(up, store)]))
    assert second.new_judgments == 2 and second.model_calls >= 1
    assert {j.status for j in second.judgments} == {JudgmentStatus.ok}
    assert store.get_run(plan.run_id)["status"] == "complete"
    third = asyncio.run(run_panel(store, plan, sample, lambda r: PASSAGES, BY_ID,
                                  judges=[judge_replying(up, store)]))
    assert third.new_judgments == 0 and third.model_calls == 0


# -- a judge that cannot work this run; an early stop at the margin -------------------------


class CountingJudge:
    """A judge that raises ``error`` (or says ``label``) and counts its calls."""

    def __init__(self, name: str, error: Exception | None = None, label: str = "supported",
                 errors_on: frozenset[str] = frozenset()) -> None:
        self.spec = JudgeSpec(name=name, provider="rules")
        self.error, self.label, self.errors_on, self.calls = error, label, errors_on, 0

    async def judge(self, record, evidence):
        from audit.judges.base import JudgeOutcome
        from core.models import Verdict

        self.calls += 1
        await asyncio.sleep(0.01)
        if self.error is not None:
            raise self.error
        label = "contradicted" if record.id in self.errors_on else self.label
        return JudgeOutcome(Verdict(label=label, category="other", severity="major",
                                    confidence=0.9, citations=[], rationale="test"))


def numbered(n: int) -> list[QARecord]:
    return [QARecord(id=f"r{i:02d}", question=f"Question {i}?", answer=f"Answer {i}.")
            for i in range(n)]


def plan_for(judges, n: int, **extra) -> AuditRun:
    return AuditRun(dataset_sha256="e" * 64, dataset_path="x.jsonl", sources_sha256="s", n=n,
                     seed=0, judges=[j.spec for j in judges], population=n, **extra)


def test_a_persistent_error_is_tried_once_then_every_record_fails_with_its_reason(store):
    from core.errors import Unavailable

    refused = Unavailable("server at http://127.0.0.1:9/v1 could not be reached", refused=True)
    broken, working = CountingJudge("server", refused), CountingJudge("other")
    plan = plan_for([broken, working], 10)
    warnings: list[str] = []
    outcome = asyncio.run(run_panel(store, plan, choose_sample(store, plan, numbered(10)),
                                    lambda r: PASSAGES, BY_ID, judges=[broken, working],
                                    concurrency=4, warn=warnings.append))
    assert broken.calls == 1  # concurrency 4, yet no second record tried the dead server
    assert working.calls == 10
    assert len(warnings) == 1 and "could not be reached" in warnings[0]
    assert "re-run the same command" in warnings[0]
    failed = [j for j in outcome.judgments if j.judge == "server"]
    assert len(failed) == 10 and all(j.status is JudgmentStatus.failed for j in failed)
    assert all("could not be reached" in j.error for j in failed)
    assert outcome.unusable == {"server": str(refused)}


def test_a_transient_error_is_not_persistent_and_every_record_is_tried(store):
    from core.errors import Unavailable

    flaky = CountingJudge("flaky", Unavailable("answered 503 after retries"))
    plan = plan_for([flaky], 6)
    outcome = asyncio.run(run_panel(store, plan, choose_sample(store, plan, numbered(6)),
                                    lambda r: PASSAGES, BY_ID, judges=[flaky]))
    assert flaky.calls == 6 and outcome.unusable == {}


def test_an_unbuildable_judge_is_unusable_not_fatal(store, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    gpt = JudgeSpec(name="gpt", provider="openai", model="gpt-4.1-mini")
    rules = JudgeSpec(name="rules", provider="rules")
    plan = AuditRun(dataset_sha256="f" * 64, dataset_path="x.jsonl", sources_sha256="s", n=3,
                     seed=0, judges=[gpt, rules])
    outcome = asyncio.run(run_panel(store, plan, choose_sample(store, plan, numbered(3)),
                                    lambda r: PASSAGES, BY_ID))
    assert "OPENAI_API_KEY" in outcome.unusable["gpt"]
    by_judge = {j.judge: j for j in outcome.judgments}
    assert by_judge["gpt"].status is JudgmentStatus.failed
    assert by_judge["rules"].status is not JudgmentStatus.failed


def test_until_margin_stops_at_the_first_window_whose_interval_is_narrow_enough(store):
    from audit.sample import _margin_reached
    from audit.stats import margin_reached

    errors_on = frozenset(f"r{i:02d}" for i in range(0, 40, 5))  # every fifth record wrong
    judges = [CountingJudge("a", errors_on=errors_on), CountingJudge("b", errors_on=errors_on)]
    records = numbered(40)
    margin = 0.2
    plan = plan_for(judges, 40, until_margin=margin)
    outcome = asyncio.run(run_panel(store, plan, choose_sample(store, plan, records),
                                    lambda r: PASSAGES, BY_ID, judges=judges, concurrency=4,
                                    should_stop=_margin_reached(margin, 0.95, 1000)))
    judged = sorted({j.record_id for j in outcome.judgments})
    n = len(judged)
    assert outcome.stopped_early and n % 4 == 0 and n < 40
    errors = sum(1 for rid in judged if rid in errors_on)
    assert margin_reached(errors, n, margin, 0.95, 1000)  # stopped once reached ...
    before = [r.id for r in outcome.records[: n - 4]]  # sample order
    assert not margin_reached(sum(1 for rid in before if rid in errors_on), n - 4, margin,
                              0.95, 1000)  # ... and not a window earlier


def test_when_no_judge_can_work_the_first_error_is_raised_and_nothing_is_stored(store,
                                                                                monkeypatch):
    from core.errors import AuthError

    monkeypatch.delenv("OPENAI_API_KEY")
    gpt = JudgeSpec(name="gpt", provider="openai", model="gpt-4.1-mini")
    plan = AuditRun(dataset_sha256="a" * 64, dataset_path="x.jsonl", sources_sha256="s", n=2,
                     seed=0, judges=[gpt])
    warnings: list[str] = []
    with pytest.raises(AuthError, match="OPENAI_API_KEY"):
        asyncio.run(run_panel(store, plan, choose_sample(store, plan, numbered(2)),
                              lambda r: PASSAGES, BY_ID, warn=warnings.append))
    assert store.judgments(plan.run_id) == [] and warnings == []


def test_a_judges_file_mistake_is_raised_before_anything_runs(store):
    from core.errors import ConfigError

    typo = JudgeSpec(name="gpt", provider="openai", model="m", params={"temprature": 0})
    plan = AuditRun(dataset_sha256="b" * 64, dataset_path="x.jsonl", sources_sha256="s", n=2,
                     seed=0, judges=[typo, JudgeSpec(name="rules", provider="rules")])
    with pytest.raises(ConfigError, match="unknown params temprature"):
        asyncio.run(run_panel(store, plan, choose_sample(store, plan, numbered(2)),
                              lambda r: PASSAGES, BY_ID))
