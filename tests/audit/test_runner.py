"""The audit runner: citation verification, failures recorded and retried, resume."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from test_llm_judge import PASSAGES, RECORD, FakeOpenAI, chat_completion  # noqa: F401

from audit.judges.llm import LLMJudge
from audit.runner import AuditPlan, choose_sample, judge_one, run_panel
from core.models import JudgeSpec, JudgmentStatus, QARecord
from core.providers.openai import OpenAIProvider
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
    plan = AuditPlan(dataset_sha256="d" * 64, dataset_path="x.jsonl", sources_sha256="s",
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
