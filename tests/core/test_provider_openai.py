"""OpenAIProvider: the hosted API at the HTTP layer, and a real llama.cpp server."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai_bodies
import pytest
from servers import LLAMA_MODEL_ALIAS, llama_server  # noqa: F401

from audit.judges.prompts import verdict_schema
from core.calls import CallRunner
from core.errors import AuthError, ConfigError, RateLimited, Unavailable
from core.providers.base import ChatRequest, Provider
from core.providers.openai import NO_KEY_PLACEHOLDER, OpenAIProvider
from core.store import Store

KEY = "sk-test-0123456789abcdef"
VERDICT_JSON = json.dumps(
    {
        "label": "supported",
        "category": "none",
        "severity": "none",
        "confidence": 0.9,
        "citations": [{"passage_id": "policy#1", "quote": "refunds within 30 days"}],
        "rationale": "The passage states the refund window.",
    }
)


chat_completion = openai_bodies.chat_completion  # 120 tokens in, 45 out


def openai_error(message: str, type_: str, code: str | None) -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


class FakeOpenAI:
    """An httpx MockTransport handler that answers with queued (status, body, headers)."""

    def __init__(self, *responses: tuple[int, dict, dict]) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body, headers = self.responses.pop(0) if len(self.responses) > 1 else (self.responses[0])
        headers = {"x-request-id": f"req_{len(self.requests)}", **headers}
        return httpx.Response(status, json=body, headers=headers)

    def body(self, index: int = -1) -> dict:
        return json.loads(self.requests[index].content)


def hosted(fake: FakeOpenAI, **kwargs) -> OpenAIProvider:
    client = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    return OpenAIProvider("gpt-4.1-mini", http_client=client, **kwargs)


def request(**kwargs) -> ChatRequest:
    messages = [
        {"role": "system", "content": "You are a judge."},
        {"role": "user", "content": "Judge this."},
    ]
    return ChatRequest(messages=messages, json_schema=verdict_schema(), **kwargs)


def test_hosted_completion_sends_schema_and_reads_usage(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    fake = FakeOpenAI((200, chat_completion(VERDICT_JSON), {}))
    provider = hosted(fake)
    assert isinstance(provider, Provider)

    completion = asyncio.run(provider.complete(request(seed=7, max_tokens=300)))

    assert json.loads(completion.text)["label"] == "supported"
    assert (completion.tokens_in, completion.tokens_out) == (120, 45)
    assert completion.finish_reason == "stop"
    assert completion.model == "gpt-4.1-mini-2025-04-14"
    sent = fake.requests[0]
    assert str(sent.url) == "https://api.openai.com/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    body = fake.body()
    assert body["model"] == "gpt-4.1-mini"
    assert body["messages"][0] == {"role": "system", "content": "You are a judge."}
    assert (body["temperature"], body["seed"], body["max_tokens"]) == (0.0, 7, 300)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "verdict", "schema": verdict_schema(), "strict": True},
    }


def test_rate_limit_with_retry_after_then_success(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    limited = openai_error(
        "Rate limit reached for gpt-4.1-mini in organization org-abc on requests per min "
        "(RPM): Limit 3, Used 3, Requested 1. Please try again in 1s.",
        "requests",
        "rate_limit_exceeded",
    )
    fake = FakeOpenAI(
        (429, limited, {"retry-after": "1", "x-ratelimit-remaining-requests": "0"}),
        (200, chat_completion(VERDICT_JSON), {}),
    )
    store = Store(tmp_path / "calls.db")
    runner = CallRunner(hosted(fake), store)

    result = asyncio.run(runner.complete(request()))

    assert len(fake.requests) == 2  # the SDK honoured retry-after and retried once
    assert json.loads(result.completion.text)["confidence"] == 0.9
    assert runner.calls_made == 1 and store.count_calls() == 1
    assert result.cost_usd == pytest.approx((120 * 0.40 + 45 * 1.60) / 1e6)


def test_rate_limit_after_retries_carries_retry_after(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    limited = openai_error("Rate limit reached.", "tokens", "rate_limit_exceeded")
    fake = FakeOpenAI((429, limited, {"retry-after": "20"}))

    with pytest.raises(RateLimited) as caught:
        asyncio.run(hosted(fake, max_retries=0).complete(request()))

    assert caught.value.status == 429
    assert caught.value.retry_after == 20.0
    assert "requests_per_minute" in str(caught.value)


def test_401_is_auth_error_naming_the_variable_without_the_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    refused = openai_error(
        f"Incorrect API key provided: {KEY}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    )
    fake = FakeOpenAI((401, refused, {}))

    with pytest.raises(AuthError) as caught:
        asyncio.run(hosted(fake).complete(request()))

    assert "OPENAI_API_KEY" in str(caught.value)
    assert caught.value.status == 401
    assert KEY not in str(caught.value) and KEY not in caught.value.body
    assert "Incorrect API key" in caught.value.body
    assert len(fake.requests) == 1  # 401 is not retried


def test_500s_beyond_retries_are_unavailable(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    failing = openai_error(
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    )
    fake = FakeOpenAI((500, failing, {}))
    runner = CallRunner(hosted(fake, max_retries=1), Store(tmp_path / "calls.db"))

    with pytest.raises(Unavailable) as caught:
        asyncio.run(runner.complete(request()))

    assert caught.value.status == 500
    assert len(fake.requests) == 2  # the SDK's own retry; CallRunner adds none on top
    assert runner.store.count_calls() == 0


def test_missing_key_for_the_hosted_api_says_which_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(AuthError, match="set the OPENAI_API_KEY environment variable"):
        OpenAIProvider("gpt-4.1-mini")
    with pytest.raises(AuthError, match="MY_KEY"):
        OpenAIProvider("gpt-4.1-mini", api_key_env="MY_KEY")
    with pytest.raises(ConfigError, match="schema_format"):
        OpenAIProvider("m", base_url="http://127.0.0.1:1/v1", schema_format="xml")  # type: ignore[arg-type]


def test_local_server_without_key_gets_a_placeholder(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    fake = FakeOpenAI((200, chat_completion("{}"), {}))
    client = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    provider = OpenAIProvider("local", base_url="http://127.0.0.1:8080/v1", http_client=client)

    asyncio.run(provider.complete(request()))

    assert str(fake.requests[0].url) == "http://127.0.0.1:8080/v1/chat/completions"
    assert fake.requests[0].headers["authorization"] == f"Bearer {NO_KEY_PLACEHOLDER}"


def test_auto_schema_format_falls_back_to_json_object(monkeypatch):
    # llama-cpp-python's server takes only text|json_object and reports that as a 500.
    rejected = openai_error(
        "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', "
        "'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', "
        "'ctx': {'expected': \"'text' or 'json_object'\"}}\n",
        "internal_server_error",
        None,
    )
    fake = FakeOpenAI((500, rejected, {}), (200, chat_completion(VERDICT_JSON), {}))
    client = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    provider = OpenAIProvider("local", base_url="http://127.0.0.1:8080/v1", http_client=client)
    assert provider.schema_format == "auto"

    completion = asyncio.run(provider.complete(request()))
    asyncio.run(provider.complete(request()))

    assert json.loads(completion.text)["label"] == "supported"
    assert len(fake.requests) == 3  # one probe (no SDK retries on it), then json_object
    assert fake.body(0)["response_format"]["type"] == "json_schema"
    assert fake.body(1)["response_format"] == {"type": "json_object", "schema": verdict_schema()}
    assert fake.body(2)["response_format"]["type"] == "json_object"
    assert provider.schema_format == "json_object"


def test_auto_schema_format_keeps_json_schema_when_accepted(monkeypatch):
    fake = FakeOpenAI((200, chat_completion(VERDICT_JSON), {}))
    client = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    provider = OpenAIProvider("local", base_url="http://127.0.0.1:8080/v1", http_client=client)

    asyncio.run(provider.complete(request()))

    assert provider.schema_format == "json_schema"
    assert fake.body(0)["response_format"]["type"] == "json_schema"


def test_fold_system_merges_system_into_the_first_user_turn(monkeypatch):
    fake = FakeOpenAI((200, chat_completion("{}"), {}))
    client = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    provider = OpenAIProvider(
        "local", base_url="http://127.0.0.1:8080/v1", http_client=client, fold_system=True
    )

    asyncio.run(provider.complete(request()))

    assert fake.body()["messages"] == [{"role": "user", "content": "You are a judge.\n\nJudge this."}]


@pytest.mark.slow
def test_real_llama_server_returns_schema_shaped_json(llama_server):  # noqa: F811
    provider = OpenAIProvider(LLAMA_MODEL_ALIAS, base_url=llama_server, fold_system=True)
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    messages = [{"role": "user", "content": "Is Paris in France? Reply in JSON."}]

    async def ask():
        try:
            return await provider.complete(ChatRequest(messages=messages, json_schema=schema, max_tokens=32))
        finally:
            await provider.aclose()

    completion = asyncio.run(ask())

    assert json.loads(completion.text)["answer"] in {"yes", "no"}
    assert completion.tokens_in > 0 and completion.tokens_out > 0
