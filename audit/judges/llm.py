"""A judge that asks a hosted or self-hosted LLM for a structured, cited Verdict.

Every call goes through ``core.calls.CallRunner`` (cache, limits, retries, cost). Output is
parsed leniently (code fences, surrounding prose, label synonyms, confidence as text); if it
still does not validate, the model gets one repair round-trip with the errors, and then a
``JudgeOutputError`` carries the raw text.
"""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import Any

from pydantic import ValidationError

from audit.judges.base import JudgeOutcome
from audit.judges.prompts import build_messages, judge_template, repair_message, verdict_schema
from core.calls import CallResult
from core.errors import ConfigError, JudgeOutputError
from core.models import Category, JudgeSpec, Label, Passage, QARecord, Severity, Verdict
from core.providers.base import ChatRequest, Provider
from core.providers.factory import CHAT_PROVIDERS, make_provider, make_runner
from core.store import Store

KNOWN_PARAMS = {
    "base_url": "server URL (an OpenAI-compatible server, or a Gemini proxy)",
    "api_key_env": "environment variable that holds the key",
    "timeout": "seconds per request",
    "max_retries": "retries of 429/5xx/timeouts (by the SDK for openai, else by the runner)",
    "concurrency": "requests in flight at once",
    "requests_per_minute": "rate limit (0 = none)",
    "temperature": "sampling temperature (0 = deterministic, cached)",
    "max_tokens": "output token limit",
    "prices": 'USD per million tokens, {"in": ..., "out": ...}',
    "template": "path of a prompt template replacing the default",
    "seed": "sampling seed",
    "schema_format": "auto, json_schema or json_object (openai only)",
    "fold_system": "merge the system prompt into the user turn (openai only)",
}
MAX_ATTEMPTS = 2  # the first answer and one repair round-trip


class LLMJudge:
    """Judge one record by asking ``spec.provider`` (openai or gemini) for a Verdict."""

    def __init__(self, spec: JudgeSpec, store: Store, provider: Provider | None = None, *,
                 closed_book: bool = False) -> None:
        unknown = sorted(set(spec.params) - set(KNOWN_PARAMS))
        if unknown:
            raise ConfigError(
                f"judge {spec.name}: unknown params {', '.join(unknown)}; "
                f"known: {', '.join(sorted(KNOWN_PARAMS))}"
            )
        for name in ("timeout", "max_retries", "concurrency", "requests_per_minute", "temperature",
                     "max_tokens"):
            value = spec.params.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or value < 0):
                raise ConfigError(
                    f"judge {spec.name}: {name} should be a non-negative number, got {value!r}"
                )
        self.spec = spec
        if provider is None and spec.provider not in CHAT_PROVIDERS:
            raise ConfigError(f"judge {spec.name}: an LLM judge needs provider "
                              f"{' or '.join(CHAT_PROVIDERS)}, got {spec.provider}")
        self.provider = provider or make_provider(spec.provider, spec.model, spec.params)
        self.closed_book = closed_book  # no sources: the closed-book prompt, uncited verdicts
        self.template = judge_template(spec.params.get("template"), closed_book)
        params = spec.params
        self.temperature = float(params.get("temperature", 0.0))
        self.max_tokens = int(params.get("max_tokens", 1024))
        self.seed = params.get("seed", 0)
        self.runner = make_runner(self.provider, store, params, prices=judge_prices(spec))

    def request(self, messages: list[dict[str, str]]) -> ChatRequest:
        schema = verdict_schema() if self.provider.capabilities.json_schema else None
        return ChatRequest(
            messages=messages,
            json_schema=schema,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            seed=self.seed,
        )

    async def judge(self, record: QARecord, evidence: list[Passage]) -> JudgeOutcome:
        """A Verdict for ``record``; raises ProviderError or JudgeOutputError."""
        messages = build_messages(record, evidence, self.template, self.closed_book)
        results: list[CallResult] = []
        errors: list[str] = []
        for attempt in range(1, MAX_ATTEMPTS + 1):
            result = await self.runner.complete(self.request(messages))
            results.append(result)
            raw = result.completion.text
            try:
                verdict = parse_verdict(raw)
            except VerdictParseError as exc:
                errors.extend(f"attempt {attempt}: {e}" for e in exc.errors)
                messages = [
                    *messages,
                    {"role": "assistant", "content": raw},
                    repair_message(exc.errors),
                ]
                continue
            return _outcome(verdict, raw, results)
        raise JudgeOutputError(
            f"judge {self.spec.name} ({self.provider.model}) gave no valid verdict for record "
            f"{record.id} after {MAX_ATTEMPTS} attempts: {errors[-1]}",
            raw=results[-1].completion.text,
            errors=errors,
            attempts=MAX_ATTEMPTS,
        )

    async def aclose(self) -> None:
        """Close the provider's HTTP connections."""
        close = getattr(self.provider, "aclose", None)
        if close is not None:
            await close()


def judge_prices(spec: JudgeSpec) -> dict[str, tuple[float, float]]:
    """The judge's own prices (USD per million tokens in and out) from its ``prices`` param,
    keyed by its model; empty when it gives none (the built-in price table then applies)."""
    prices = spec.params.get("prices")
    if prices is None:
        return {}
    try:
        return {spec.model: (float(prices["in"]), float(prices["out"]))}
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f'judge {spec.name}: prices should be {{"in": usd_per_M, "out": usd_per_M}}, got {prices!r}'
        ) from exc


def _outcome(verdict: Verdict, raw: str, results: list[CallResult]) -> JudgeOutcome:
    return JudgeOutcome(
        verdict=verdict,
        raw=raw,
        tokens_in=sum(r.completion.tokens_in for r in results),
        tokens_out=sum(r.completion.tokens_out for r in results),
        cost_usd=sum(r.cost_usd for r in results),
        cache_hit=all(r.cache_hit for r in results),
    )


# -- lenient parsing -------------------------------------------------------------------------


class VerdictParseError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


LABEL_SYNONYMS = {
    **{
        s: Label.supported
        for s in (
            "support",
            "supports",
            "correct",
            "true",
            "yes",
            "entailed",
            "entailment",
            "faithful",
            "grounded",
            "consistent",
            "valid",
            "accurate",
            "verified",
        )
    },
    **{
        s: Label.contradicted
        for s in (
            "contradiction",
            "contradicts",
            "contradictory",
            "incorrect",
            "false",
            "wrong",
            "refuted",
            "refutes",
            "inaccurate",
            "inconsistent",
            "conflict",
            "conflicting",
        )
    },
    **{
        s: Label.not_in_sources
        for s in (
            "unsupported",
            "not_supported",
            "notsupported",
            "not_in_source",
            "not_found",
            "unverifiable",
            "not_verifiable",
            "not_enough_info",
            "nei",
            "insufficient",
            "insufficient_evidence",
            "unknown",
            "neutral",
            "hallucinated",
            "hallucination",
            "no_evidence",
            "cannot_verify",
        )
    },
}
SEVERITY_SYNONYMS = {
    "low": Severity.minor,
    "medium": Severity.major,
    "moderate": Severity.major,
    "high": Severity.critical,
    "severe": Severity.critical,
}
CONFIDENCE_WORDS = {
    "very high": 0.95,
    "high": 0.85,
    "medium": 0.6,
    "moderate": 0.6,
    "low": 0.3,
    "very low": 0.1,
}
KEY_ALIASES = {
    "verdict": "label",
    "judgement": "label",
    "judgment": "label",
    "error_category": "category",
    "error_type": "category",
    "type": "category",
    "reason": "rationale",
    "reasoning": "rationale",
    "explanation": "rationale",
    "justification": "rationale",
    "evidence": "citations",
    "sources": "citations",
}
_FENCE = re.compile(r"```[a-zA-Z]*\s*(.*?)```", re.DOTALL)


def parse_verdict(text: str) -> Verdict:
    """The Verdict in a model's reply, tolerating fences, prose and common variants."""
    data = extract_json_object(text)
    try:
        return Verdict.model_validate(coerce_verdict(data))
    except ValidationError as exc:
        raise VerdictParseError([_describe(e) for e in exc.errors()]) from exc


def _describe(error: Any) -> str:
    """One pydantic error as ``field: message (got value)``, short enough for a prompt."""
    where = ".".join(map(str, error["loc"])) or "verdict"
    got = repr(error.get("input"))
    got = got if len(got) <= 80 else got[:77] + "..."
    return f"{where}: {error['msg']} (got {got})"


def extract_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in ``text`` (inside a code fence if there is one)."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for match in re.finditer(r"\{", candidate):
            try:
                value, _ = decoder.raw_decode(candidate, match.start())
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    excerpt = text.strip()[:200] or "(empty reply)"
    raise VerdictParseError([f"the reply contains no JSON object: {excerpt!r}"])


def coerce_verdict(data: dict[str, Any]) -> dict[str, Any]:
    """Map common variants onto the Verdict fields; what cannot be mapped is left to pydantic."""
    data = {KEY_ALIASES.get(_norm(k), _norm(k)): v for k, v in data.items()}
    label = _coerce_label(data.get("label"))
    out: dict[str, Any] = {"label": label}
    supported = label is Label.supported
    out["category"] = _coerce_enum(
        data.get("category"), Category, {}, Category.none if supported else Category.other
    )
    out["severity"] = _coerce_enum(
        data.get("severity"),
        Severity,
        SEVERITY_SYNONYMS,
        Severity.none if supported else Severity.minor,
    )
    if "confidence" in data:
        out["confidence"] = _coerce_confidence(data["confidence"])
    out["citations"] = _coerce_citations(data.get("citations", []))
    rationale = data.get("rationale", "")
    out["rationale"] = rationale if isinstance(rationale, str) else json.dumps(rationale)
    return out


def _norm(value: Any) -> str:
    return re.sub(r"[\s\-]+", "_", str(value).strip().lower())


def _coerce_label(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    key = _norm(value)
    if key in Label.__members__:
        return Label(key)
    return LABEL_SYNONYMS.get(key, LABEL_SYNONYMS.get(key.replace("_", ""), value))


def _coerce_enum(value: Any, enum: type[Enum], synonyms: dict[str, Any], fallback: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return fallback
    key = _norm(value)
    if key in enum.__members__:
        return enum(key)
    return synonyms.get(key, fallback)


def _coerce_confidence(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in CONFIDENCE_WORDS:
            return CONFIDENCE_WORDS[text]
        percent = text.endswith("%")
        try:
            number = float(text.rstrip("%").strip())
        except ValueError:
            return value
        return number / 100 if percent else _coerce_confidence(number)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 1 < value <= 100 and float(value).is_integer():
            return value / 100  # a whole percentage without the sign
    return value


def _coerce_citations(value: Any) -> Any:
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return value
    citations = []
    for item in value:
        if isinstance(item, dict):
            item = {_norm(k): v for k, v in item.items()}
            passage_id = next((item[k] for k in ("passage_id", "id", "passage", "source") if k in item), None)
            quote = next((item[k] for k in ("quote", "text", "excerpt", "span") if k in item), "")
            citations.append({"passage_id": passage_id, "quote": quote})
        else:
            citations.append(item)  # left for pydantic to report
    return citations
