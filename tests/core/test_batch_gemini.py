"""GeminiBatch through google-genai against the Gemini batch REST API, replaced at the HTTP layer.

``models/{model}:batchGenerateContent`` answers an operation named ``batches/…`` whose
``metadata`` is the GenerateContentBatch (state ``BATCH_STATE_*``, batchStats, and, once
done, ``output.inlinedResponses.inlinedResponses``); google-genai parses it into a
``BatchJob`` (``JOB_STATE_*``, ``dest.inlined_responses``).
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from google.genai import types

from audit.judges.prompts import verdict_schema
from core.batch.gemini_batch import GeminiBatch
from core.batch.jobs import COMPLETED, EXPIRED, FAILED, RUNNING, BatchItem
from core.errors import RateLimited
from core.providers.base import ChatRequest
from core.providers.gemini import GeminiProvider

KEY = "AIzaSyBatch-0123456789abcdefghijklmno"
MODEL = "gemini-2.5-flash"
NAME = "batches/8x1tqd3k7wz0m2n4p6r9"
VERDICT = json.dumps({"label": "contradicted", "category": "wrong_number", "severity": "major",
                      "confidence": 0.8, "citations": [{"passage_id": "p#1", "quote": "14 days"}],
                      "rationale": "14, not 30."})


def generate_content_response(text: str) -> dict:
    return {"candidates": [{"content": {"parts": [{"text": text}], "role": "model"},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 812, "candidatesTokenCount": 64,
                              "totalTokenCount": 876},
            "modelVersion": MODEL, "responseId": "q1w2e3r4t5"}


def operation(state: str, *, output: list[dict] | None = None, counts: dict | None = None) -> dict:
    metadata = {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch",
        "model": f"models/{MODEL}", "displayName": "assay-tag1", "name": NAME,
        "createTime": "2026-11-20T10:00:00.123456Z", "updateTime": "2026-11-20T10:05:00.654321Z",
        "batchStats": counts or {"requestCount": "3", "pendingRequestCount": "3"},
        "state": state,
    }
    body = {"name": NAME, "metadata": metadata}
    if output is not None:
        metadata["endTime"] = "2026-11-20T10:05:00.654321Z"
        metadata["output"] = {"inlinedResponses": {"inlinedResponses": output}}
        body["done"] = True
        body["response"] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta."
                     "GenerateContentBatchOutput",
            "inlinedResponses": {"inlinedResponses": output},
        }
    return body


class FakeGemini:
    def __init__(self, *bodies: tuple[int, dict]) -> None:
        self.bodies = list(bodies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body = self.bodies.pop(0) if len(self.bodies) > 1 else self.bodies[0]
        return httpx.Response(status, json=body,
                              headers={"content-type": "application/json; charset=UTF-8"})


def backend(fake: FakeGemini) -> GeminiBatch:
    client = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    return GeminiBatch(GeminiProvider(MODEL, http_options=types.HttpOptions(
        httpx_async_client=client)))


def items(n: int = 3) -> list[BatchItem]:
    return [BatchItem(f"a1-rec{i}", ChatRequest(
        messages=[{"role": "system", "content": "You judge."},
                  {"role": "user", "content": f"Record {i}"}],
        json_schema=verdict_schema(), max_tokens=300, seed=0)) for i in range(n)]


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)


def test_submit_sends_inlined_requests_with_the_interactive_config():
    fake = FakeGemini((200, operation("BATCH_STATE_PENDING")))
    job = asyncio.run(backend(fake).submit(items(), tag="tag1"))

    assert (job.job_id, job.status, job.provider_status) == (NAME, RUNNING, "JOB_STATE_PENDING")
    sent = fake.requests[0]
    assert sent.method == "POST"
    assert sent.url.path.endswith(f"/models/{MODEL}:batchGenerateContent")
    assert sent.headers["x-goog-api-key"] == KEY
    batch = json.loads(sent.content)["batch"]
    assert batch["displayName"] == "assay-tag1"
    requests = batch["inputConfig"]["requests"]["requests"]
    assert [r["metadata"] for r in requests] == [{"key": f"a1-rec{i}"} for i in range(3)]
    first = requests[0]["request"]
    assert first["contents"] == [{"role": "user", "parts": [{"text": "Record 0"}]}]
    config = first["generationConfig"]
    assert (config["temperature"], config["maxOutputTokens"], config["seed"]) == (0.0, 300, 0)
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == verdict_schema()
    assert first["systemInstruction"]["parts"] == [{"text": "You judge."}]


@pytest.mark.parametrize(("state", "normal"), [
    ("BATCH_STATE_PENDING", RUNNING), ("BATCH_STATE_RUNNING", RUNNING),
    ("BATCH_STATE_SUCCEEDED", COMPLETED), ("BATCH_STATE_FAILED", FAILED),
    ("BATCH_STATE_EXPIRED", EXPIRED),
])
def test_poll_maps_states(state, normal):
    fake = FakeGemini((200, operation(state)))
    job = asyncio.run(backend(fake).poll(NAME))
    assert job.status == normal and job.terminal == (normal != RUNNING)
    assert job.provider_status == state.replace("BATCH_", "JOB_")
    assert fake.requests[0].url.path.endswith(f"/{NAME}")


def test_partly_failed_batch_gives_completions_and_errors_in_request_order():
    output = [
        {"response": generate_content_response(VERDICT), "metadata": {"key": "a1-rec0"}},
        {"error": {"code": 3, "message": "Request contains an invalid argument."}},
        {"response": generate_content_response("not json")},  # no echoed key: by position
    ]
    counts = {"requestCount": "3", "successfulRequestCount": "2", "failedRequestCount": "1"}
    fake = FakeGemini((200, operation("BATCH_STATE_SUCCEEDED", output=output, counts=counts)))
    b = backend(fake)
    job = asyncio.run(b.poll(NAME))
    results = {r.custom_id: r for r in asyncio.run(b.results(job, ["a1-rec0", "a1-rec1", "a1-rec2"]))}

    assert job.status == COMPLETED
    assert json.loads(results["a1-rec0"].completion.text)["label"] == "contradicted"
    assert (results["a1-rec0"].completion.tokens_in, results["a1-rec0"].completion.tokens_out) == (812, 64)
    assert results["a1-rec1"].completion is None
    assert results["a1-rec1"].error == "3: Request contains an invalid argument."
    assert results["a1-rec2"].completion.text == "not json"


def test_expired_job_reports_every_item_as_failed():
    fake = FakeGemini((200, operation("BATCH_STATE_EXPIRED")))
    b = backend(fake)
    job = asyncio.run(b.poll(NAME))
    results = asyncio.run(b.results(job, ["a1-rec0", "a1-rec1"]))
    assert job.status == EXPIRED
    assert [r.custom_id for r in results] == ["a1-rec0", "a1-rec1"]
    assert all(r.completion is None and "JOB_STATE_EXPIRED" in r.error for r in results)


def test_find_submitted_by_display_name():
    listing = {"operations": [operation("BATCH_STATE_RUNNING")]}
    fake = FakeGemini((200, listing))
    b = backend(fake)
    assert asyncio.run(b.find_submitted("tag1")).job_id == NAME
    assert asyncio.run(b.find_submitted("tag2")) is None
    assert fake.requests[0].url.path.endswith("/batches")


def test_quota_error_maps_to_rate_limited():
    error = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                       "message": "Resource has been exhausted (e.g. check quota)."}}
    with pytest.raises(RateLimited):
        asyncio.run(backend(FakeGemini((429, error))).submit(items(1), tag="t"))
