"""Gemini through the ``google-genai`` SDK (the Gemini Developer API, not Vertex AI).

The key comes from ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``) only and travels in the
``x-goog-api-key`` header. The SDK does not retry by default, so ``CallRunner`` does.
SDK exceptions are mapped to ``core.errors`` once, here, with ``raise ... from exc``.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from core.errors import AuthError, ProviderError, RateLimited, Unavailable
from core.providers.base import Capabilities, ChatRequest, Completion, connection_refused

if TYPE_CHECKING:
    from google.genai import Client, types

FALLBACK_KEY_ENV = "GOOGLE_API_KEY"
_ROLES = {"user": "user", "assistant": "model", "model": "model"}


class GeminiProvider:
    """``client.aio.models.generate_content`` with JSON-schema structured output.

    ``http_options`` (a ``google.genai.types.HttpOptions`` or its dict) sets base_url,
    timeout or an injected ``httpx_async_client``; ``client`` replaces the SDK client.
    """

    name = "gemini"
    capabilities = Capabilities(json_schema=True, seed=True, sdk_retries=False)

    def __init__(
        self,
        model: str,
        *,
        api_key_env: str = "GEMINI_API_KEY",
        http_options: types.HttpOptions | dict[str, Any] | None = None,
        client: Client | None = None,
    ) -> None:
        if not model:
            raise ProviderError(
                "no model given for the gemini provider: set `model` in the judges file",
                provider=self.name,
            )
        self.model = model
        self.api_key_env = api_key_env
        self._api_key = ""
        if client is None:
            self._api_key = _api_key(api_key_env, model)
            from google import genai
            from google.genai import types

            if isinstance(http_options, dict):  # as the SDK itself converts it
                http_options = types.HttpOptions(**http_options)
            client = genai.Client(api_key=self._api_key, vertexai=False, http_options=http_options)
        self._client = client

    async def complete(self, request: ChatRequest) -> Completion:
        """One generateContent call; raises RateLimited, AuthError, Unavailable, ProviderError."""
        from google.genai import errors

        system, contents = split_messages(request.messages)
        try:
            response = await self._client.aio.models.generate_content(
                model=self.model, contents=contents, config=self._config(request, system)
            )
        except errors.APIError as exc:
            raise self._map_api_error(exc) from exc
        except Exception as exc:
            if _is_transport_error(exc):
                raise Unavailable(
                    f"gemini model {self.model} could not be reached ({type(exc).__name__})",
                    refused=connection_refused(exc),
                    provider=self.name,
                    model=self.model,
                    body=self._redact(str(exc)),
                ) from exc
            raise
        return self._completion(response)

    async def aclose(self) -> None:
        """Close the SDK's HTTP connections (an injected httpx client stays open)."""
        await self._client.aio.aclose()

    def _config(self, request: ChatRequest, system: str | None) -> types.GenerateContentConfig:
        from google.genai import types

        config: dict[str, Any] = {
            "temperature": request.temperature,
            "max_output_tokens": request.max_tokens,
            "seed": request.seed,
            "system_instruction": system,
        }
        if request.json_schema is not None:
            config["response_mime_type"] = "application/json"
            config["response_json_schema"] = request.json_schema
        return types.GenerateContentConfig(**{k: v for k, v in config.items() if v is not None})

    def _completion(self, response: types.GenerateContentResponse) -> Completion:
        candidates = response.candidates or []
        if not candidates:
            feedback = response.prompt_feedback
            reason = feedback.block_reason if feedback else None
            raise ProviderError(
                f"gemini model {self.model} returned no candidates (block reason: {reason})",
                provider=self.name,
                model=self.model,
            )
        candidate = candidates[0]
        parts = (candidate.content.parts if candidate.content else None) or []
        text = "".join(part.text or "" for part in parts if not part.thought)
        usage = response.usage_metadata
        tokens_out = 0
        if usage:
            tokens_out = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
        finish = candidate.finish_reason
        return Completion(
            text=text,
            tokens_in=(usage.prompt_token_count or 0) if usage else 0,
            tokens_out=tokens_out,
            model=response.model_version or self.model,
            finish_reason=getattr(finish, "value", finish),
        )

    def _map_api_error(self, exc: Any) -> ProviderError:
        code = exc.code
        message = self._redact(str(exc.message or exc.status or ""))
        fields: dict[str, Any] = {
            "provider": self.name,
            "model": self.model,
            "status": code,
            "body": self._redact(str(exc.details)),
        }
        where = f"gemini model {self.model}"
        if code == 429:
            error = RateLimited(
                f"{where} is rate limited (429 {exc.status}); lower requests_per_minute "
                "or concurrency for this judge",
                **fields,
            )
            error.retry_after = _retry_delay(exc.details)  # type: ignore[attr-defined]
            return error
        if code in (401, 403) or "API_KEY_INVALID" in fields["body"]:
            return AuthError(
                f"{where} refused the credentials ({code}: {message}): check the key in the "
                f"{self.api_key_env} environment variable",
                **fields,
            )
        if isinstance(code, int) and code >= 500:
            return Unavailable(f"{where} answered {code} {exc.status}: {message}", **fields)
        return ProviderError(f"{where} failed ({code} {exc.status}): {message}", **fields)

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text


def _api_key(api_key_env: str, model: str) -> str:
    for env in (api_key_env, FALLBACK_KEY_ENV):
        key = os.environ.get(env, "").strip()
        if key:
            return key
    raise AuthError(
        f"no Gemini API key: set the {api_key_env} environment variable "
        f"(or {FALLBACK_KEY_ENV}); keys are read from the environment only",
        provider="gemini",
        model=model,
    )


def split_messages(messages: list[dict[str, str]]) -> tuple[str | None, list[types.ContentDict]]:
    """System turns become the system instruction; assistant turns become ``model`` turns."""
    system = [m["content"] for m in messages if m["role"] == "system"]
    contents: list[types.ContentDict] = [
        {"role": _ROLES.get(m["role"], "user"), "parts": [{"text": m["content"]}]}
        for m in messages
        if m["role"] != "system"
    ]
    return ("\n\n".join(system) or None), contents


def _retry_delay(details: Any) -> float | None:
    """Seconds from the ``google.rpc.RetryInfo`` detail of a 429 body (``"retryDelay": "27s"``)."""
    error = details.get("error", details) if isinstance(details, dict) else {}
    for detail in error.get("details", []) if isinstance(error, dict) else []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and (match := re.fullmatch(r"([\d.]+)s", delay.strip())):
            return float(match.group(1))
    return None


def _is_transport_error(exc: Exception) -> bool:
    """httpx / httpx2 timeouts and connection failures (either backend may be in use)."""
    for cls in type(exc).__mro__:
        if cls.__module__.split(".")[0] in ("httpx", "httpx2") and cls.__name__ in (
            "TransportError",
            "TimeoutException",
        ):
            return True
    return False
