"""One way to build a provider: judges, teachers, eval and batch all get the same timeout, base
URL, retries, rate limit and concurrency, with the same defaults (``core.providers.factory``).

The hosted APIs are answered at the HTTP layer (the fakes of the provider tests); the
OpenAI-compatible path runs against the real llama.cpp server.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from servers import LLAMA_MODEL_ALIAS, llama_server  # noqa: F401
from test_provider_gemini import FakeGemini, generate_content_response, google_error
from test_provider_openai import FakeOpenAI, chat_completion

from audit.judges.llm import LLMJudge
from core.batch.submit import build_backend
from core.errors import ConfigError, Unavailable
from core.models import JudgeSpec
from core.providers.base import ChatRequest
from core.providers.factory import ProviderSettings, make_provider, make_runner
from core.store import Store
from finetune.evaluate import EvalSpec, make_pairwise_judge

PARAMS = {"timeout": 7, "base_url": "http://127.0.0.1:9/v1", "max_retries": 1,
          "concurrency": 2, "requests_per_minute": 30}
HOSTED = ("openai", "gemini")


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaSyTest-0123456789abcdefghijklmnopq")


def ask(runner, text: str = "Say yes.") -> str:
    request = ChatRequest(messages=[{"role": "user", "content": text}], temperature=0.7)
    return asyncio.run(runner.complete(request)).completion.text


def network_settings(provider) -> tuple[float, str | None]:
    """(timeout in seconds, base URL) as the provider's SDK client holds them."""
    if provider.name == "gemini":
        options = provider._client._api_client._http_options
        return options.timeout / 1000, options.base_url
    return provider._client.timeout, str(provider._client.base_url)


def fake_for(kind: str, *answers: tuple[int, str]):
    """A fake of ``kind``'s hosted API answering ``(status, text)`` in turn."""
    if kind == "openai":
        return FakeOpenAI(*[(s, chat_completion(t) if s == 200 else
                             {"error": {"message": t, "type": "server_error"}}, {})
                            for s, t in answers])
    return FakeGemini(*[(s, generate_content_response(t) if s == 200 else
                         google_error(s, "UNAVAILABLE", t)) for s, t in answers])


@pytest.mark.parametrize("kind", HOSTED)
def test_every_hosted_provider_gets_the_same_defaults(kind):
    provider = make_provider(kind, "m")
    defaults = ProviderSettings()
    assert network_settings(provider)[0] == defaults.timeout == 60
    runner = make_runner(provider, Store())
    assert (runner.concurrency, runner.requests_per_minute, runner.retries) == (4, 0, 3)


@pytest.mark.parametrize("kind", HOSTED)
def test_timeout_and_base_url_reach_the_request(kind):
    fake = fake_for(kind, (200, "yes"))
    client = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    base = "http://127.0.0.1:9/v1" if kind == "openai" else "http://127.0.0.1:9/"
    provider = make_provider(kind, "m", {**PARAMS, "base_url": base, "schema_format": "json_object"},
                             http_client=client)
    assert ask(make_runner(provider, Store(), PARAMS)) == "yes"
    (sent,) = fake.requests
    assert str(sent.url).startswith(base)
    assert sent.extensions["timeout"]["read"] == 7


@pytest.mark.parametrize("kind", HOSTED)
@pytest.mark.parametrize("retries", [0, 1])
def test_max_retries_is_honoured_by_the_sdk_or_the_runner(kind, retries):
    fake = fake_for(kind, (503, "overloaded"), (200, "yes"))
    client = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    params = {"max_retries": retries}
    runner = make_runner(make_provider(kind, "m", params, http_client=client), Store(), params)
    runner.backoff_s = 0.01  # the runner's own wait before a retry (Gemini)
    if retries == 0:
        with pytest.raises(Unavailable):
            ask(runner)
        assert len(fake.requests) == 1
    else:
        assert ask(runner) == "yes"
        assert len(fake.requests) == 2


@pytest.mark.parametrize("kind", HOSTED)
def test_judges_batch_jobs_and_eval_judges_build_their_provider_the_same_way(kind):
    spec = JudgeSpec(name="j", provider=kind, model="m", params=PARAMS)
    judge = LLMJudge(spec, Store())
    backend = build_backend(spec)
    eval_judge = make_pairwise_judge(EvalSpec(model_dir=Path("m"), adapter=Path("a"),
                                              prompts=Path("p"), preference_provider=kind,
                                              preference_model="m", preference_params=PARAMS),
                                     Store())
    for provider in (judge.provider, backend._chat, eval_judge.provider):
        timeout, base_url = network_settings(provider)
        assert timeout == 7 and base_url.rstrip("/") == PARAMS["base_url"]
    for runner in (judge.runner, eval_judge.runner):
        assert (runner.concurrency, runner.requests_per_minute, runner.retries) == (2, 30, 1)


def test_a_bad_setting_is_one_line_naming_it():
    with pytest.raises(ConfigError, match="timeout input should be greater than 0, got -1"):
        make_provider("openai", "m", {"timeout": -1})
    with pytest.raises(ConfigError, match="unknown provider 'azure'"):
        make_provider("azure", "m")


@pytest.mark.slow
def test_an_openai_compatible_server_through_the_factory(llama_server):  # noqa: F811
    params = {"base_url": llama_server, "fold_system": True, "timeout": 120, "concurrency": 1}
    provider = make_provider("openai", LLAMA_MODEL_ALIAS, params)
    assert network_settings(provider) == (120, llama_server.rstrip("/") + "/")
    runner = make_runner(provider, Store(), params)

    async def answer() -> str:
        request = ChatRequest(messages=[{"role": "user", "content": "Is Paris in France?"}],
                              max_tokens=8)
        try:
            return (await runner.complete(request)).completion.text
        finally:
            await provider.aclose()

    assert asyncio.run(answer()).strip()
