"""OpenAI and every OpenAI-compatible server (vLLM, Ollama, llama.cpp server, LM Studio).

An OpenAI-compatible server is the same provider with another ``base_url``. The key comes
from the environment only; a local server without a key gets a placeholder. SDK exceptions
are mapped to ``core.errors`` once, here, with ``raise ... from exc``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse

from core.errors import AuthError, ConfigError, ProviderError, RateLimited, Unavailable
from core.providers.base import Capabilities, ChatRequest, Completion, connection_refused

if TYPE_CHECKING:
    import httpx

OPENAI_HOST = "api.openai.com"
NO_KEY_PLACEHOLDER = "sk-no-key-required"
SCHEMA_FORMATS = ("auto", "json_schema", "json_object")


class OpenAIProvider:
    """Chat completions through the official ``openai`` SDK (``AsyncOpenAI``).

    ``max_retries`` is the SDK's own retry count for 429/5xx/timeouts (it honours
    ``retry-after``), so ``capabilities.sdk_retries`` is True and ``CallRunner`` does not
    retry again. ``http_client`` (an ``httpx.AsyncClient``) is for tests and proxies.

    ``schema_format`` says how a JSON schema is sent: ``json_schema`` (OpenAI, vLLM,
    llama.cpp's ``llama-server``), ``json_object`` (``{"type": "json_object", "schema": ...}``,
    as llama-cpp-python's server takes it) or ``auto``: json_schema for api.openai.com;
    for another server the first structured request (sent without SDK retries) finds out,
    switching to json_object for good when the server rejects ``response_format``.

    ``fold_system`` merges system messages into the first user turn, for servers whose chat
    format has no system role (llama-cpp-python's ``gemma`` format drops them silently).
    """

    name = "openai"
    capabilities = Capabilities(json_schema=True, seed=True, sdk_retries=True)

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 60.0,
        max_retries: int = 3,
        http_client: httpx.AsyncClient | None = None,
        schema_format: Literal["auto", "json_schema", "json_object"] = "auto",
        fold_system: bool = False,
    ) -> None:
        if schema_format not in SCHEMA_FORMATS:
            raise ConfigError(
                f"schema_format should be one of {', '.join(SCHEMA_FORMATS)}, got {schema_format!r}"
            )
        if not model:
            raise ProviderError(
                "no model given for the openai provider: set `model` in the judges file",
                provider=self.name,
            )
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.fold_system = fold_system
        hosted = urlparse(base_url).hostname == OPENAI_HOST if base_url else True
        self.schema_format = "json_schema" if schema_format == "auto" and hosted else schema_format
        self._api_key = _api_key(api_key_env, base_url, model)
        from openai import AsyncOpenAI

        self._client = AsyncOpenAI(
            api_key=self._api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            # The SDK takes an httpx client as well as an httpx2 one (openai._httpx2), but
            # annotates httpx2 only.
            http_client=http_client,  # type: ignore[arg-type]
        )

    async def complete(self, request: ChatRequest) -> Completion:
        """One chat completion; raises RateLimited, AuthError, Unavailable or ProviderError."""
        import openai

        try:
            if self.schema_format == "auto" and request.json_schema is not None:
                response = await self._probe_schema_format(request)
            else:
                response = await self._client.chat.completions.create(**self._arguments(request))
        except openai.OpenAIError as exc:
            raise self._map_error(exc) from exc
        except ValueError as exc:  # a 200 whose body is cut short or not JSON
            raise Unavailable(f"{self.model} returned a malformed response body ({exc})",
                              provider=self.name, model=self.model) from exc
        if not hasattr(response, "choices"):
            raise Unavailable(f"{self.model} returned a malformed response body (not a completion)",
                              provider=self.name, model=self.model)
        if not response.choices:
            raise ProviderError(f"{self.model} returned no choices", provider=self.name, model=self.model)
        choice = response.choices[0]
        usage = response.usage
        return Completion(
            text=choice.message.content or "",
            tokens_in=usage.prompt_tokens if usage else 0,
            tokens_out=usage.completion_tokens if usage else 0,
            model=response.model or self.model,
            finish_reason=choice.finish_reason,
        )

    async def aclose(self) -> None:
        """Close the HTTP connections (an injected ``http_client`` is closed too)."""
        await self._client.close()

    async def _probe_schema_format(self, request: ChatRequest) -> Any:
        """Send json_schema once without SDK retries; fall back to json_object if rejected."""
        import openai

        try:
            probe = self._client.with_options(max_retries=0)
            response = await probe.chat.completions.create(**self._arguments(request))
        except openai.APIError as exc:
            if "response_format" in str(getattr(exc, "body", None) or exc):
                self.schema_format = "json_object"
            elif not _retryable(exc):
                raise
            # Either way, now send it through the retrying client.
            return await self._client.chat.completions.create(**self._arguments(request))
        self.schema_format = "json_schema"
        return response

    def _messages(self, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        if not self.fold_system:
            return messages
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        rest = [dict(m) for m in messages if m["role"] != "system"]
        first_user = next((m for m in rest if m["role"] == "user"), None)
        if system and first_user is not None:
            first_user["content"] = f"{system}\n\n{first_user['content']}"
        elif system:
            rest.insert(0, {"role": "user", "content": system})
        return rest

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": self.model,
            "messages": self._messages(request.messages),
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        if request.seed is not None:
            arguments["seed"] = request.seed
        if request.json_schema is not None and self.schema_format == "json_object":
            arguments["response_format"] = {"type": "json_object", "schema": request.json_schema}
        elif request.json_schema is not None:
            arguments["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": request.schema_name,
                    "schema": request.json_schema,
                    "strict": bool(request.params.get("strict", True)),
                },
            }
        extra = {k: v for k, v in request.params.items() if k != "strict"}
        if extra:
            arguments["extra_body"] = extra
        return arguments

    def _map_error(self, exc: Exception) -> ProviderError:
        import openai

        status = getattr(exc, "status_code", None)
        body = self._redact(str(getattr(exc, "body", None) or exc))
        where = f"{self.name} model {self.model}"
        if self.base_url:
            where += f" at {self.base_url}"
        fields: dict[str, Any] = {
            "provider": self.name,
            "model": self.model,
            "status": status,
            "body": body,
        }
        if isinstance(exc, openai.RateLimitError):
            error = RateLimited(
                f"{where} is rate limited (429) after retries; lower requests_per_minute "
                "or concurrency for this judge",
                **fields,
            )
            error.retry_after = _retry_after(exc.response.headers)  # type: ignore[attr-defined]
            return error
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return AuthError(
                f"{where} refused the credentials ({status}): check the key in "
                f"the {self.api_key_env} environment variable",
                **fields,
            )
        if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
            return Unavailable(
                f"{where} could not be reached ({type(exc).__name__}): check the server "
                "is running and base_url is right",
                refused=connection_refused(exc),
                **fields,
            )
        if isinstance(exc, openai.APIStatusError) and status is not None and status >= 500:
            return Unavailable(f"{where} answered {status} after retries", **fields)
        return ProviderError(f"{where} failed ({status}): {body[:300]}", **fields)

    def _redact(self, text: str) -> str:
        if self._api_key and self._api_key != NO_KEY_PLACEHOLDER:
            text = text.replace(self._api_key, "***")
        return text


def _api_key(api_key_env: str, base_url: str | None, model: str) -> str:
    key = os.environ.get(api_key_env, "").strip()
    if key:
        return key
    host = urlparse(base_url).hostname if base_url else OPENAI_HOST
    if host == OPENAI_HOST:
        raise AuthError(
            f"no OpenAI API key: set the {api_key_env} environment variable "
            "(keys are read from the environment only)",
            provider="openai",
            model=model,
        )
    # Self-hosted OpenAI-compatible servers usually need no key; the SDK insists on one.
    return NO_KEY_PLACEHOLDER


def _retryable(exc: Exception) -> bool:
    import openai

    if isinstance(exc, (openai.APIConnectionError, openai.RateLimitError)):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and status >= 500


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds), if present."""
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header) if headers is not None else None
        if value is None:
            continue
        try:
            return float(value) / divisor
        except ValueError:
            continue
    return None
