"""Every `audit`/`generate`/`finetune`/`reports` command in README.md runs and exits as documented.

The commands are read from README.md's fenced blocks when the tests are collected, and run in
README order in one working folder (like a user's first session after
`bash scripts/audit-example.sh`) through the installed console scripts, offline. A trailing
`# exit N` comment gives the expected exit code (default 0). The few commands that cannot run
here are in ``SKIP`` with the reason; an entry the README no longer has fails the suite.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
CONSOLE_SCRIPTS = ("audit", "generate", "finetune", "reports")
NEEDS_SKIP_LIST = (" -m finetune", "accelerate launch")
MIN_COMMANDS = 8
COMMAND_TIMEOUT_S = 300
# What `bash scripts/audit-example.sh` ends with; every README session starts after it.
FIRST_COMMAND = "audit sample --n 40"

SKIP = {
    "audit run --all --batch --judges judges.toml":
        "submits to hosted batch services (OpenAI Batch API, Gemini batch): needs API keys and "
        "the network",
    "audit collect RUN_ID --wait":
        "waits for a batch job at a hosted provider (RUN_ID is a placeholder for such a run)",
    "accelerate launch --multi_gpu --num_processes 2 -m finetune train --model PATH "
    "--data data.jsonl --out runs/NAME --batch-size 4 --grad-accum 4 --budget 9h":
        "needs several GPUs (DDP), a real base model at PATH and data.jsonl",
}

# Only for `audit run --all --judges judges.toml --dry-run`, which sends nothing: an
# OpenAI-compatible judge at a closed loopback port (no key needed) and the rules judge.
JUDGES_TOML = """\
[[judge]]
name = "self-hosted"
provider = "openai"
model = "my-model"
[judge.params]
base_url = "http://127.0.0.1:9/v1"

[[judge]]
name = "rules"
provider = "rules"
"""


@dataclass(frozen=True)
class ReadmeCommand:
    line: str
    expected: int


def fenced_blocks(text: str) -> list[list[str]]:
    """The lines of every ``` fenced block, continuation lines (trailing `\\`) joined."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for raw in text.splitlines():
        if raw.strip().startswith("```"):
            if current is None:
                current = []
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            if current and current[-1].endswith("\\"):
                current[-1] = current[-1][:-1].rstrip() + " " + raw.strip()
            else:
                current.append(raw.strip())
    return blocks


def split_comment(line: str) -> tuple[str, str]:
    """(command, comment) at the first `#` that starts a word outside quotes."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), ""


def expected_exit(comment: str) -> int:
    found = re.match(r"exit (\d+)", comment)
    return int(found.group(1)) if found else 0


def readme_commands(text: str) -> list[ReadmeCommand]:
    commands = []
    for block in fenced_blocks(text):
        for line in block:
            command, comment = split_comment(line)
            words = command.split()
            if not words:
                continue
            if words[0] in CONSOLE_SCRIPTS or any(s in command for s in NEEDS_SKIP_LIST):
                commands.append(ReadmeCommand(command, expected_exit(comment)))
    return commands


COMMANDS = readme_commands(README.read_text(encoding="utf-8"))


def command_env() -> dict[str, str]:
    """The environment of `. .venv/bin/activate`, offline, with the default database."""
    env = dict(os.environ)
    for key in ("ASSAY_DB", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        env.pop(key, None)
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@dataclass(frozen=True)
class Outcome:
    line: str
    returncode: int | None  # None: killed after COMMAND_TIMEOUT_S
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (f"$ {self.line}\nexit {self.returncode}\n--- stdout (tail)\n{self.stdout[-3000:]}"
                f"\n--- stderr (tail)\n{self.stderr[-3000:]}")


def run_line(line: str, cwd: Path) -> Outcome:
    argv = shlex.split(line)
    argv[0] = str(BIN / argv[0])  # the console script of this interpreter's environment
    try:
        done = subprocess.run(argv, cwd=cwd, env=command_env(), capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        return Outcome(line, None, _text(exc.stdout), _text(exc.stderr))
    return Outcome(line, done.returncode, done.stdout, done.stderr)


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode("utf-8", "replace")
    return output or ""


class Session:
    """One working folder; README commands run in README order, each once, when first asked."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.outcomes: dict[int, Outcome] = {}

    def outcome(self, index: int) -> Outcome:
        for i in range(index + 1):
            if i not in self.outcomes and COMMANDS[i].line not in SKIP:
                self.outcomes[i] = run_line(COMMANDS[i].line, self.folder)
        return self.outcomes[index]


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Session:
    folder = tmp_path_factory.mktemp("readme-session")
    shutil.copytree(ROOT / "examples", folder / "examples")
    (folder / "judges.toml").write_text(JUDGES_TOML, encoding="utf-8")
    first = run_line(FIRST_COMMAND, folder)
    if first.returncode != 0:
        pytest.fail(f"the README's first command failed, nothing else can run:\n{first.describe()}")
    return Session(folder)


def test_the_readme_parser_finds_the_commands():
    assert len(COMMANDS) >= MIN_COMMANDS, [c.line for c in COMMANDS]


def test_every_skipped_command_is_still_in_the_readme():
    lines = {c.line for c in COMMANDS}
    stale = [line for line in SKIP if line not in lines]
    assert not stale, f"SKIP lists commands README.md no longer has: {stale}"


def command_params() -> list:
    params = []
    for index, command in enumerate(COMMANDS):
        marks = [pytest.mark.skip(reason=SKIP[command.line])] if command.line in SKIP else []
        params.append(pytest.param(index, command.expected, id=command.line, marks=marks))
    return params


@pytest.mark.parametrize(("index", "expected"), command_params())
def test_readme_command_exits_as_documented(session, index, expected):
    outcome = session.outcome(index)
    assert outcome.returncode == expected, f"expected exit {expected}\n{outcome.describe()}"
