"""GeminiProvider against the Gemini REST API, replaced at the HTTP layer."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from google.genai import types

from audit.judges.prompts import verdict_schema
from core.calls import CallRunner
from core.errors import AuthError, ProviderError, RateLimited, Unavailable
from core.providers.base import ChatRequest, Provider
from core.providers.gemini import GeminiProvider
from core.store import Store

KEY = "AIzaSyTest-0123456789abcdefghijklmnopq"
MODEL = "gemini-2.5-flash"
VERDICT = {
    "label": "contradicted",
    "category": "wrong_number",
    "severity": "major",
    "confidence": 0.8,
    "citations": [{"passage_id": "policy#2", "quote": "within 14 days"}],
    "rationale": "The answer says 30 days; the policy says 14.",
}


def generate_content_response(text: str) -> dict:
    """A body shaped exactly like a real ``models.generateContent`` REST response."""
    return {
        "candidates": [
            {
                "content": {"parts": [{"text": text}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 212,
            "candidatesTokenCount": 58,
            "totalTokenCount": 301,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 212}],
            "thoughtsTokenCount": 31,
        },
        "modelVersion": MODEL,
        "responseId": "x2N9aPq3CpSrz7IPl7mE6Qk",
    }


def google_error(code: int, status: str, message: str, details: list | None = None) -> dict:
    error = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


def resource_exhausted(retry_delay: str) -> dict:
    return google_error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/"
                        "generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        "quotaDimensions": {"location": "global", "model": MODEL},
                        "quotaValue": "10",
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
        ],
    )


class FakeGemini:
    """A MockTransport handler answering queued (status, body); the last one repeats."""

    def __init__(self, *responses: tuple[int, dict]) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        return httpx.Response(status, json=body, headers={"content-type": "application/json; charset=UTF-8"})

    def body(self, index: int = -1) -> dict:
        return json.loads(self.requests[index].content)


def provider_for(fake: FakeGemini, **kwargs) -> GeminiProvider:
    client = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    return GeminiProvider(MODEL, http_options=types.HttpOptions(httpx_async_client=client), **kwargs)


def request(**kwargs) -> ChatRequest:
    messages = [
        {"role": "system", "content": "You are a judge."},
        {"role": "user", "content": "Judge this."},
        {"role": "assistant", "content": "not json"},
        {"role": "user", "content": "Fix it."},
    ]
    return ChatRequest(messages=messages, json_schema=verdict_schema(), **kwargs)


def test_structured_output_request_and_response(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    fake = FakeGemini((200, generate_content_response(json.dumps(VERDICT))))
    provider = provider_for(fake)
    assert isinstance(provider, Provider)

    completion = asyncio.run(provider.complete(request(seed=3, max_tokens=900)))

    assert json.loads(completion.text) == VERDICT
    assert completion.tokens_in == 212
    assert completion.tokens_out == 58 + 31  # thinking tokens are billed as output
    assert completion.finish_reason == "STOP"
    assert completion.model == MODEL
    sent = fake.requests[0]
    assert sent.url.path.endswith(f"/models/{MODEL}:generateContent")
    assert sent.url.host == "generativelanguage.googleapis.com"
    assert sent.headers["x-goog-api-key"] == KEY
    assert KEY not in str(sent.url) and KEY.encode() not in sent.content
    body = fake.body()
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == verdict_schema()
    assert (config["temperature"], config["seed"], config["maxOutputTokens"]) == (0.0, 3, 900)
    assert body["systemInstruction"]["parts"] == [{"text": "You are a judge."}]
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][1]["parts"] == [{"text": "not json"}]


def test_resource_exhausted_then_success_through_the_call_runner(monkeypatch, tmp_path):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    fake = FakeGemini(
        (429, resource_exhausted("1s")),
        (200, generate_content_response(json.dumps(VERDICT))),
    )
    provider = provider_for(fake)
    assert not provider.capabilities.sdk_retries  # the SDK does not retry unless told to
    store = Store(tmp_path / "calls.db")
    runner = CallRunner(provider, store)

    result = asyncio.run(runner.complete(request()))

    assert len(fake.requests) == 2
    assert json.loads(result.completion.text)["label"] == "contradicted"
    assert runner.calls_made == 1 and store.count_calls() == 1
    assert result.cost_usd == pytest.approx((212 * 0.30 + 89 * 2.50) / 1e6)


def test_resource_exhausted_maps_to_rate_limited_with_retry_delay(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    fake = FakeGemini((429, resource_exhausted("27s")))

    with pytest.raises(RateLimited) as caught:
        asyncio.run(provider_for(fake).complete(request()))

    assert caught.value.status == 429
    assert caught.value.retry_after == 27.0
    assert "RESOURCE_EXHAUSTED" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (403, google_error(403, "PERMISSION_DENIED", "Permission denied."), AuthError),
        (401, google_error(401, "UNAUTHENTICATED", "Request had invalid credentials."), AuthError),
        (
            400,
            google_error(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    }
                ],
            ),
            AuthError,
        ),
        (503, google_error(503, "UNAVAILABLE", "The model is overloaded."), Unavailable),
        (500, google_error(500, "INTERNAL", "An internal error has occurred."), Unavailable),
        (400, google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload."), ProviderError),
    ],
)
def test_error_mapping(monkeypatch, status, body, error):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    fake = FakeGemini((status, body))

    with pytest.raises(error) as caught:
        asyncio.run(provider_for(fake).complete(request()))

    assert type(caught.value) is error
    assert caught.value.status == status
    assert KEY not in str(caught.value)
    if error is AuthError:
        assert "GEMINI_API_KEY" in str(caught.value)


def test_unavailable_beyond_retries(monkeypatch, tmp_path):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    fake = FakeGemini((503, google_error(503, "UNAVAILABLE", "The model is overloaded.")))
    runner = CallRunner(provider_for(fake), Store(tmp_path / "c.db"), retries=2, backoff_s=0.01)

    with pytest.raises(Unavailable):
        asyncio.run(runner.complete(request()))

    assert len(fake.requests) == 3


def test_key_from_google_api_key_or_an_auth_error(monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(AuthError, match="set the GEMINI_API_KEY environment variable"):
        GeminiProvider(MODEL)

    monkeypatch.setenv("GOOGLE_API_KEY", KEY)
    fake = FakeGemini((200, generate_content_response("{}")))
    asyncio.run(provider_for(fake).complete(request()))
    assert fake.requests[0].headers["x-goog-api-key"] == KEY


def test_blocked_prompt_is_a_provider_error(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    blocked = {
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
        "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 10},
        "modelVersion": MODEL,
        "responseId": "abc",
    }
    fake = FakeGemini((200, blocked))

    with pytest.raises(ProviderError, match="PROHIBITED_CONTENT"):
        asyncio.run(provider_for(fake).complete(request()))
