"""The malformed-input corpus: bad datasets, configs and sources, each run through the real CLI.

Static files live in ``corpus/``; inputs git cannot hold well (symlink loops, a huge field,
an unreadable file, folders given as files) are made at run time by ``prepare``.
A case passes when the command exits non-zero with one ``error:`` line that names the problem
(``expect``, any of the words, case-insensitive) and no traceback. Dataset errors may add one
indented line per problem (file, line, field), as the README promises.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from scenarios import COMPLETED

CORPUS = Path(__file__).resolve().parent / "corpus"
ROOT = CORPUS.parent.parent.parent
DEAD_URL = "http://127.0.0.1:9/v1"  # nothing listens on port 9 (discard)


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]  # module, then arguments; {c} is the corpus, {w} the work folder
    expect: tuple[str, ...]  # one of these words must appear in the error
    kind: str = "dataset"


@dataclass
class Outcome:
    case: Case
    returncode: int
    stdout: str
    stderr: str
    problems: list[str] = field(default_factory=list)

    @property
    def clear(self) -> bool:
        return not self.problems


def _lint(name: str, file: str, *expect: str) -> Case:
    return Case(name, ("audit", "lint", file), expect)


def _sample(name: str, kind: str, *args: str, expect: tuple[str, ...]) -> Case:
    base = {"--dataset": "{c}/good.jsonl", "--sources": "{c}/sources_ok",
            "--judges": "{c}/judges_rules.toml"}
    given = dict(zip(args[::2], args[1::2], strict=True))
    argv = ["audit", "sample", "--n", "2"]
    for option, value in (base | given).items():
        argv += [option, value]
    return Case(name, tuple(argv), expect, kind)


def _generate(name: str, *args: str, expect: tuple[str, ...]) -> Case:
    base = {"--sources": "{c}/sources_ok", "--n": "1", "--out": "{w}/out.jsonl",
            "--provider": "openai", "--model": "gemma-3-270m", "--base-url": DEAD_URL}
    given = dict(zip(args[::2], args[1::2], strict=True))
    argv = ["generate", "qa"]
    for option, value in (base | given).items():
        argv += [option, value]
    return Case(name, tuple(argv), expect, "generate")


CASES: list[Case] = [
    # datasets
    _lint("broken JSON line", "{c}/broken_json.jsonl", "json", "line 2"),
    _lint("UTF-16 file with BOM", "{c}/utf16_bom.jsonl", "utf-8", "utf-16", "encoding", "decode"),
    _lint("mixed encodings (latin-1 line)", "{c}/mixed_encoding.jsonl", "utf-8", "encoding",
          "decode", "line 2"),
    _lint("empty file", "{c}/empty.jsonl", "empty", "no record"),
    _lint("blank lines only", "{c}/blank_lines.jsonl", "empty", "no record"),
    _lint("duplicate ids", "{c}/duplicate_ids.jsonl", "duplicate"),
    _lint("wrong field type", "{c}/wrong_types.jsonl", "answer"),
    _lint("missing answer key", "{c}/missing_answer.jsonl", "answer"),
    _lint("lines that are not objects", "{c}/not_objects.jsonl", "object", "line 1"),
    _lint("binary garbage", "{c}/binary_garbage.jsonl", "utf-8", "encoding", "binary", "json"),
    _lint("JSON object with trailing garbage", "{c}/object_not_list.json", "json"),
    _lint("CSV without the answer column", "{c}/missing_column.csv", "answer"),
    _lint("not a parquet file", "{c}/not_parquet.parquet", "parquet"),
    _lint("unknown file type", "{c}/spreadsheet.xlsx", ".xlsx", "format", "extension"),
    _lint("a folder given as the dataset", "{c}/sources_ok", "folder", "directory"),
    _lint("missing dataset file", "{w}/nowhere.jsonl", "no such file", "not found"),
    _lint("dataset symlink loop", "{w}/loop_a.jsonl", "symbolic link", "symlink", "loop"),
    # A field this size makes the rules judge run for hours (quadratic in the number of
    # values, audit/judges/facts.py); the loader should refuse it with a clear line.
    _lint("huge field (8 MiB answer)", "{w}/huge_field.jsonl", "too long", "too large",
          "huge", "exceeds", "limit", "characters", "bytes"),
    _lint("dangling symlink as dataset", "{w}/dangling.jsonl", "no such file", "not found"),
    # judges files
    _sample("judges file: bad TOML", "judges", "--judges", "{c}/judges_bad_toml.toml",
            expect=("toml",)),
    _sample("judges file: no judges", "judges", "--judges", "{c}/judges_empty.toml",
            expect=("no judges",)),
    _sample("judges file: unknown provider", "judges", "--judges",
            "{c}/judges_unknown_provider.toml", expect=("provider",)),
    _sample("judges file: judge without name", "judges", "--judges",
            "{c}/judges_missing_name.toml", expect=("name",)),
    _sample("judges file: duplicate names", "judges", "--judges",
            "{c}/judges_duplicate_names.toml", expect=("unique",)),
    _sample("judges file: misspelt param", "judges", "--judges",
            "{c}/judges_unknown_param.toml", expect=("temprature",)),
    _sample("judges file: param of wrong type", "judges", "--judges",
            "{c}/judges_wrong_type.toml", expect=("timeout",)),
    _sample("judges file: judge is not a table", "judges", "--judges",
            "{c}/judges_judge_not_table.toml", expect=("judge",)),
    _sample("judges file: UTF-16", "judges", "--judges", "{c}/judges_utf16.toml",
            expect=("toml", "utf-8")),
    _sample("judges file: hosted OpenAI without a key", "judges", "--judges",
            "{c}/judges_hosted_no_key.toml", expect=("OPENAI_API_KEY",)),
    _sample("judges file: a folder", "judges", "--judges", "{c}", expect=("judges file",
                                                                         "directory")),
    _sample("judges file: missing", "judges", "--judges", "{w}/nowhere.toml",
            expect=("no such file", "cannot read")),
    # gate policies
    Case("policy: bad TOML", ("audit", "gate", "--policy", "{c}/policy_bad_toml.toml"),
         ("toml",), "policy"),
    Case("policy: max_error_rate out of range",
         ("audit", "gate", "--policy", "{c}/policy_out_of_range.toml"), ("max_error_rate",),
         "policy"),
    Case("policy: wrong type", ("audit", "gate", "--policy", "{c}/policy_wrong_type.toml"),
         ("confidence",), "policy"),
    Case("policy: unknown key", ("audit", "gate", "--policy", "{c}/policy_unknown_key.toml"),
         ("max_eror_rate",), "policy"),
    Case("policy: missing file", ("audit", "gate", "--policy", "{w}/nowhere.toml"),
         ("no such file", "cannot read"), "policy"),
    # sources
    _sample("sources: unreadable PDF", "sources", "--sources", "{c}/sources_bad_pdf",
            expect=("pdf",)),
    _sample("sources: not UTF-8", "sources", "--sources", "{c}/sources_non_utf8",
            expect=("utf-8", "encoding", "decode")),
    _sample("sources: only unsupported files", "sources", "--sources",
            "{c}/sources_unsupported", expect=("no source", "supported", ".docx")),
    _sample("sources: missing folder", "sources", "--sources", "{w}/no_sources",
            expect=("no such", "not found", "does not exist")),
    _sample("sources: empty folder", "sources", "--sources", "{w}/empty_sources",
            expect=("no source", "empty")),
    _sample("sources: only a symlink loop", "sources", "--sources", "{w}/looped_sources",
            expect=("no source documents",)),
    _sample("sample: dataset is a folder", "dataset", "--dataset", "{c}/sources_bad_pdf",
            expect=("folder", "directory")),
    # generate
    _generate("generate: missing sources", "--sources", "{w}/no_sources",
              expect=("no such", "not found", "does not exist")),
    _generate("generate: --n 0", "--n", "0", expect=("--n",)),
    _generate("generate: unreadable PDF source", "--sources", "{c}/sources_bad_pdf",
              expect=("pdf",)),
    _generate("generate: teacher file bad TOML", "--teacher", "{c}/teacher_bad_toml.toml",
              expect=("toml",)),
    _generate("generate: teacher file without [teacher]", "--teacher",
              "{c}/teacher_no_table.toml", expect=("[teacher]", "teacher")),
    _generate("generate: --out is a folder", "--out", "{c}", expect=("folder", "directory",
                                                                   "out")),
    Case("plant: broken input", ("generate", "plant", "--in", "{c}/broken_json.jsonl",
                                 "--rate", "0.3", "--out", "{w}/p.jsonl", "--labels",
                                 "{w}/l.jsonl"), ("json", "line 2"), "generate"),
    Case("plant: rate above 1", ("generate", "plant", "--in", "{c}/good.jsonl", "--rate", "1.5",
                                 "--out", "{w}/p.jsonl", "--labels", "{w}/l.jsonl"),
         ("rate",), "generate"),
]

# Inputs that are odd but valid: they must be accepted (exit 0), not rejected.
TOLERATED: list[Case] = [
    _lint("UTF-8 file with BOM", "{c}/ok_utf8_bom.jsonl"),
    Case("no id field (ids fall back to line numbers)",
         ("audit", "lint", "{c}/good.jsonl", "--id-field", "uid"), ()),
    _sample("sources: a symlink loop beside a good file (skipped)", "sources", "--sources",
            "{w}/good_and_loop_sources", expect=()),
]


def prepare(work: Path) -> None:
    """Make the run-time inputs of the corpus under ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    for a, b in (("loop_a.jsonl", "loop_b.jsonl"), ("loop_b.jsonl", "loop_a.jsonl")):
        if not (work / a).is_symlink():
            (work / a).symlink_to(work / b)
    huge = {"id": "r1", "question": "How long do I have?", "answer": "ten days " * 1_000_000}
    (work / "huge_field.jsonl").write_text(json.dumps(huge) + "\n", encoding="utf-8")
    if not (work / "dangling.jsonl").is_symlink():
        (work / "dangling.jsonl").symlink_to(work / "gone" / "data.jsonl")
    (work / "empty_sources").mkdir(exist_ok=True)
    for folder in ("looped_sources", "good_and_loop_sources"):
        looped = work / folder
        looped.mkdir(exist_ok=True)
        for a, b in (("x.md", "y.md"), ("y.md", "x.md")):
            if not (looped / a).is_symlink():
                (looped / a).symlink_to(looped / b)
    good = (CORPUS / "sources_ok" / "immigration.md").read_text(encoding="utf-8")
    (work / "good_and_loop_sources" / "policy.md").write_text(good, encoding="utf-8")


def _fill(arg: str, work: Path) -> str:
    return arg.replace("{c}", str(CORPUS)).replace("{w}", str(work))


def run_case(case: Case, work: Path, *, timeout: float = 300) -> Outcome:
    """Run one case through the real CLI in ``work`` and judge its error output."""
    argv = [sys.executable, "-m", *(_fill(a, work) for a in case.argv)]
    env = os.environ | {"ASSAY_DB": str(work / f"db-{abs(hash(case.name))}" / "assay.db"),
                        "COLUMNS": "80", "PYTHONPATH": str(ROOT)}
    for key in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "ASSAY_DEBUG"):
        env.pop(key, None)
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=work, env=env,
                          timeout=timeout)
    outcome = Outcome(case, proc.returncode, proc.stdout, proc.stderr)
    if case in TOLERATED:
        outcome.problems = ([] if proc.returncode in COMPLETED
                            else [f"rejected: {proc.stderr[-300:]}"])
    else:
        outcome.problems = judge_error_output(proc.returncode, proc.stderr, case.expect)
    return outcome


def judge_error_output(returncode: int, stderr: str, expect: tuple[str, ...]) -> list[str]:
    """What is wrong with a command's failure output (empty: a clear, one-line error)."""
    problems = []
    if returncode == 0:
        problems.append("exit code 0")
    if "Traceback (most recent call last)" in stderr or re.search(r"^\w+(Error|Exception): ",
                                                                   stderr, re.M):
        problems.append("a traceback or raw exception")
    lines = [line for line in stderr.splitlines() if line.strip()]
    heads = [line for line in lines if not line.startswith("  ")]
    if len(heads) != 1:
        problems.append(f"{len(heads)} unindented lines instead of one error line")
    text = stderr.lower()
    if expect and not any(word.lower() in text for word in expect):
        problems.append(f"the error names none of {list(expect)}")
    return problems


def run_corpus(work: Path, cases: list[Case] | None = None, workers: int = 3) -> list[Outcome]:
    """Every case (in parallel, ``workers`` at a time) → outcomes in case order."""
    prepare(work)
    cases = CASES if cases is None else cases
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda case: run_case(case, work), cases))
