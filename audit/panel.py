"""Judge panels: the embedded default, judges files (TOML), and building judges from specs.

A judges file declares any mix of judges::

    [[judge]]
    name = "gemini-flash"
    provider = "gemini"            # openai | gemini | local | rules
    model = "gemini-2.5-flash"
    [judge.params]
    requests_per_minute = 60

    [[judge]]
    name = "local-llama"
    provider = "openai"            # any OpenAI-compatible server
    model = "gemma-3-270m"
    [judge.params]
    base_url = "http://127.0.0.1:8080/v1"
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from audit.judges.base import Judge
from core.errors import ConfigError
from core.local_model import DEFAULT_LOCAL_MODEL
from core.models import JudgeSpec
from core.providers.factory import CHAT_PROVIDERS
from core.store import Store
from core.toml_files import read_toml

DEFAULT_PANEL = [
    JudgeSpec(name="local", provider="local", model=DEFAULT_LOCAL_MODEL),
    JudgeSpec(name="rules", provider="rules"),
]


def load_judges_file(path: str | Path) -> list[JudgeSpec]:
    """Judge specs from a TOML file; every problem is a ConfigError naming the file."""
    path = Path(path)
    data = read_toml(path, "the judges file")
    entries = data.get("judge")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: declares no judges; add at least one [[judge]] table")
    specs = []
    for i, entry in enumerate(entries, start=1):
        try:
            specs.append(JudgeSpec.model_validate(entry))
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = ".".join(str(part) for part in problem["loc"]) or "judge"
            raise ConfigError(
                f"{path}: judge #{i}, field {field!r}: {problem['msg']}"
                " (providers: openai, gemini, local, rules, human)"
            ) from exc
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: judge names must be unique, got {names}")
    return specs


def build_judge(spec: JudgeSpec, store: Store, *, closed_book: bool = False) -> Judge:
    """Instantiate the judge for ``spec`` (heavy modules are imported only here).

    ``closed_book``: the run has no sources; LLM judges get the closed-book prompt and the
    offline judges, which can only compare an answer with evidence, say unverifiable.
    """
    if spec.provider in CHAT_PROVIDERS:
        from audit.judges.llm import LLMJudge

        return LLMJudge(spec, store, closed_book=closed_book)
    if spec.provider == "local":
        from audit.judges.local import LocalJudge

        return LocalJudge(spec, store, closed_book=closed_book)
    if spec.provider == "rules":
        from audit.judges.rules import RulesJudge

        return RulesJudge(spec, store, closed_book=closed_book)
    raise ConfigError(
        f"judge {spec.name!r}: provider {spec.provider!r} cannot run unattended;"
        " human judges use `audit review RUN_ID`"
    )
