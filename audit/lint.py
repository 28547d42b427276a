"""Judge-free structural checks of a dataset: schema, roles, truncation, duplicates, diversity.

Lint is cheap and catches broken data; it cannot catch wrong data. The study behind Assay had
data that passed every structural check while 28–40% of its answers were wrong, so a clean
lint report is never evidence that the answers are true (``FACTS_STATEMENT``).
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, computed_field

from core.datasets import Dataset
from core.models import QARecord, Turn

FACTS_STATEMENT = (
    "Passing lint says nothing about whether the answers are true. These checks look at "
    "structure only: in the study behind Assay the data passed every structural check, yet "
    "28–40% of its answers were wrong. Audit the facts with `audit sample`."
)
NEAR_DUPLICATE_THRESHOLD = 0.9
LONG_ANSWER_WORDS = 12  # shorter answers may be bare phrases ("Arthur's Magazine")
_BLOCK_ROWS = 512  # rows of the similarity matrix computed at once (memory ~ rows x n)

Severity = Literal["error", "warning"]
LintStatus = Literal["passed", "skipped_invalid", "errors"]
EXIT_LINT_ERRORS = 1
CHECKS: dict[str, Severity] = {
    "schema": "error",
    "role_alternation": "error",
    "empty_answer": "error",
    "truncated_answer": "warning",
    "duplicate_question": "warning",
    "near_duplicate_question": "warning",
}


class Finding(BaseModel):
    """One problem lint found; ``record_id`` is None for records that failed to load."""

    model_config = ConfigDict(extra="forbid")

    check: str
    severity: Severity
    message: str
    record_id: str | None = None


class LengthStats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min: int = 0
    median: float = 0.0
    mean: float = 0.0
    p95: float = 0.0
    max: int = 0

    @classmethod
    def of(cls, values: Sequence[int]) -> LengthStats:
        if not values:
            return cls()
        arr = np.asarray(values, dtype=float)
        return cls(
            min=int(arr.min()),
            median=float(np.median(arr)),
            mean=float(arr.mean()),
            p95=float(np.percentile(arr, 95)),
            max=int(arr.max()),
        )


class LintReport(BaseModel):
    """The result of ``lint_dataset``; ``model_dump_json()`` gives its JSON form."""

    model_config = ConfigDict(extra="forbid")

    dataset_path: str
    dataset_sha256: str = Field(
        description="content hash of the valid records (canonical JSON), the hash audit runs store"
        " and the gate compares; not the file's sha256sum"
    )
    file_sha256: str | None = Field(default=None, description="sha256 of the file's bytes")
    n_records: int
    n_skipped: int = Field(description="invalid records left out (--skip-invalid)")
    findings: list[Finding] = Field(default_factory=list)
    distinct_1: float = Field(description="unique answer words / all answer words")
    distinct_2: float = Field(description="unique answer word bigrams / all bigrams")
    answer_words: LengthStats
    answer_chars: LengthStats
    near_duplicate_threshold: float = NEAR_DUPLICATE_THRESHOLD
    statement: str = FACTS_STATEMENT

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts(self) -> dict[str, int]:
        """Findings per check (every check listed, zero included)."""
        counts = dict.fromkeys(CHECKS, 0)
        counts.update(Counter(f.check for f in self.findings))
        return counts

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        """No error-level finding. Says nothing about facts: see ``statement``."""
        return not any(f.severity == "error" for f in self.findings)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> LintStatus:
        """``passed``; ``skipped_invalid`` when the only errors are records left out on
        request (--skip-invalid); ``errors`` when a checked record has an error."""
        if self.passed:
            return "passed"
        if all(f.check == "schema" for f in self.findings if f.severity == "error"):
            return "skipped_invalid"
        return "errors"

    @property
    def exit_code(self) -> int:
        """0 passed, or passed after leaving invalid records out on request; 1 errors."""
        return EXIT_LINT_ERRORS if self.status == "errors" else 0


def lint_dataset(
    dataset: Dataset, *, near_duplicate_threshold: float = NEAR_DUPLICATE_THRESHOLD
) -> LintReport:
    """Run every structural check on ``dataset`` (no model is called)."""
    records = dataset.records
    findings = [_finding("schema", str(p)) for p in dataset.skipped]
    for record in records:
        findings += check_roles(record) + check_answer(record)
    annotate_length_cap(records, findings)
    findings += find_duplicate_questions(records, threshold=near_duplicate_threshold)
    answers = [r.answer for r in records]
    words = [len(_words(a)) for a in answers]
    return LintReport(
        dataset_path=str(dataset.path),
        dataset_sha256=dataset.sha256,
        file_sha256=file_sha256(dataset.path),
        n_records=len(records),
        n_skipped=len(dataset.skipped),
        findings=findings,
        distinct_1=distinct_n(answers, 1),
        distinct_2=distinct_n(answers, 2),
        answer_words=LengthStats.of(words),
        answer_chars=LengthStats.of([len(a) for a in answers]),
        near_duplicate_threshold=near_duplicate_threshold,
    )


def file_sha256(path: Path) -> str | None:
    """sha256 of a file's bytes (None for a folder or a path that is not there)."""
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _finding(check: str, message: str, record_id: str | None = None) -> Finding:
    return Finding(check=check, severity=CHECKS[check], message=message, record_id=record_id)


# -- roles ----------------------------------------------------------------------------------


def check_roles(record: QARecord) -> list[Finding]:
    """Context turns + (user question, assistant answer) must alternate after a system turn."""
    turns = [
        *record.context,
        Turn(role="user", content=record.question),
        Turn(role="assistant", content=record.answer),
    ]
    start = 1 if turns[0].role == "system" else 0
    for i in range(start, len(turns)):
        expected = "user" if (i - start) % 2 == 0 else "assistant"
        if turns[i].role != expected:
            message = (
                f"turn {i} is {turns[i].role!r} where {expected!r} was expected; user "
                "and assistant turns must alternate after an optional system turn"
            )
            return [_finding("role_alternation", message, record.id)]
    return []


# -- truncation -----------------------------------------------------------------------------

_TERMINAL = frozenset(".!?。！？…")
_CLOSERS = "\"'”’»)]}*_`"
_MID_SENTENCE = {
    ",": "a comma",
    ";": "a semicolon",
    ":": "a colon",
    "-": "a hyphen",
    "–": "a dash",
    "—": "a dash",
    "(": "an open bracket",
    "/": "a slash",
}
_DANGLING = frozenset(
    "a an the and or but nor of to in on at for with by from as into onto than that which "
    "whose if because although while including such e.g i.e their its our your my his her "
    "this these those".split()
)
_LIST_OR_TABLE = re.compile(r"^\s*(?:[-*+•]|\d+[.)]|\|)")
_SENTENCE_BREAK = re.compile(r"(\w+)([.!?])\s+[\"'“(]?[A-Z0-9]")
_ABBREVIATIONS = frozenset("mr mrs ms dr st jr sr vs v no co inc ltd prof gen mt ft".split())
_FINISH_LENGTH = {"length", "max_tokens", "max_output_tokens"}
_MAX_TOKEN_PARAMS = ("max_tokens", "max_output_tokens", "max_completion_tokens", "max_new_tokens")


def check_answer(record: QARecord) -> list[Finding]:
    """An answer with no words, or one that looks cut off."""
    answer = record.answer
    if not re.search(r"\w", answer):
        return [_finding("empty_answer", f"answer has no words: {answer.strip()[:40]!r}", record.id)]
    reason = token_limit_reason(record) or truncation_reason(answer)
    return [_finding("truncated_answer", reason, record.id)] if reason else []


def token_limit_reason(record: QARecord) -> str | None:
    """Why the generator's own metadata says the answer stopped at its token limit."""
    finish = record.meta.get("finish_reason")
    if isinstance(finish, str) and finish.lower() in _FINISH_LENGTH:
        return f"generation stopped at the token limit (finish_reason={finish!r})"
    prov = record.provenance
    if prov is not None and prov.tokens_out:
        limit = next((prov.params[k] for k in _MAX_TOKEN_PARAMS if k in prov.params), None)
        if isinstance(limit, int) and prov.tokens_out >= limit:
            return f"generation used all {limit} output tokens: the answer is likely cut off"
    return None


def truncation_reason(answer: str) -> str | None:
    """Why ``answer`` looks cut mid-sentence, or None when it ends like finished text."""
    text = answer.rstrip()
    if text.count("```") % 2:
        return "a code block is opened and never closed"
    if text[-1] in _MID_SENTENCE:
        return f"ends with {_MID_SENTENCE[text[-1]]} mid-sentence: ...{_tail(text)!r}"
    core = text.rstrip(_CLOSERS).rstrip()
    if not core or core[-1] in _TERMINAL or text.endswith("```"):
        return None
    words = _words(core)
    last_line = core.rsplit("\n", 1)[-1]
    if len(words) >= 3 and words[-1] in _DANGLING:
        return f"ends with the dangling word {words[-1]!r}: ...{_tail(text)!r}"
    if _LIST_OR_TABLE.match(last_line):
        return None  # a list item or table row needs no full stop
    multi_sentence = any(_is_sentence_end(m) for m in _SENTENCE_BREAK.finditer(core))
    if len(words) >= LONG_ANSWER_WORDS or multi_sentence:
        return f"ends without terminal punctuation: ...{_tail(text)!r}"
    return None


def _is_sentence_end(match: re.Match[str]) -> bool:
    """A full stop after an abbreviation or an initial ("Mr. Burns", "J. Smith") is not one."""
    word, mark = match.group(1), match.group(2)
    return mark != "." or (len(word) > 1 and word.lower() not in _ABBREVIATIONS)


def annotate_length_cap(records: Sequence[QARecord], findings: list[Finding]) -> None:
    """Annotate truncation findings that sit at a shared maximum length (a token limit).

    When three or more answers (but not most of them) end within 3% of the longest answer's
    length, that length is probably the generator's output cap; flagged answers there get the
    explanation added.
    """
    lengths = {r.id: _approx_tokens(r.answer) for r in records}
    cap = max(lengths.values(), default=0)
    at_cap = {rid for rid, n in lengths.items() if n >= 0.97 * cap}
    # A cap is a shared ceiling of a minority of long answers, not a dataset of equal lengths.
    if len(at_cap) < 3 or len(at_cap) > len(lengths) // 2 or cap < 32:
        return
    for finding in findings:
        if finding.check == "truncated_answer" and finding.record_id in at_cap:
            finding.message += (
                f"; {len(at_cap)} answers end near the same length "
                f"(~{cap} tokens), which suggests a generation token limit"
            )


def _approx_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)  # the usual ~4 characters per token of English BPE


def _tail(text: str, n: int = 30) -> str:
    return text[-n:].replace("\n", " ")


# -- duplicates -----------------------------------------------------------------------------


def prompt_text(record: QARecord) -> str:
    """The question with its non-system context: what a duplicate check compares.

    System turns are left out because templates share them across every record.
    """
    parts = [t.content for t in record.context if t.role != "system"]
    return "\n".join([*parts, record.question])


def normalise(text: str) -> str:
    """Case-folded NFKC text with punctuation removed and whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def find_duplicate_questions(
    records: Sequence[QARecord], *, threshold: float = NEAR_DUPLICATE_THRESHOLD
) -> list[Finding]:
    """Exact duplicates (normalised text), then near-duplicates (TF-IDF cosine >= threshold).

    What is compared is the question being asked, not the earlier turns of its chat: two
    follow-ups after the same long first exchange are not duplicates because that exchange is
    shared, and the same follow-up after different first questions is one. Each repeated
    record gets one finding naming the earlier record it repeats; when the two were asked
    after different earlier turns, the message quotes both, so a context-dependent question
    ("Why?") can be told from a real repeat.
    """
    keys = [normalise(r.question) for r in records]
    first: dict[str, int] = {}
    findings: list[Finding] = []
    for i, key in enumerate(keys):
        if key in first:
            other = records[first[key]]
            message = f"same question as {other.id!r}" + _context_note(records[i], other)
            findings.append(_finding("duplicate_question", message, records[i].id))
        else:
            first.setdefault(key, i)
    for j, i, score in near_duplicate_pairs([r.question for r in records], threshold):
        if keys[i] != keys[j]:
            other = records[i]
            message = f"near-duplicate of {other.id!r} (TF-IDF cosine {score:.2f})"
            findings.append(
                _finding("near_duplicate_question", message + _context_note(records[j], other), records[j].id)
            )
    return findings


def _context_note(record: QARecord, other: QARecord) -> str:
    """What tells two repeated questions apart (or does not): earlier turns, answers."""
    note = ""
    here, there = _last_user_turn(record), _last_user_turn(other)
    if normalise(here or "") != normalise(there or ""):
        note += f"; asked {_asked(here)}, {other.id!r} {_asked(there)}"
    if normalise(record.answer) == normalise(other.answer):
        note += "; the answers are identical too"
    return note


def _last_user_turn(record: QARecord) -> str | None:
    """The user turn before the question, i.e. the context that shapes it (None: first turn)."""
    return next((t.content for t in reversed(record.context) if t.role == "user"), None)


def _asked(earlier: str | None, limit: int = 80) -> str:
    if earlier is None:
        return "as the first question"
    flat = " ".join(earlier.split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rsplit(" ", 1)[0] + "…"
    return f"after {flat!r}"


def near_duplicate_pairs(
    texts: Sequence[str], threshold: float = NEAR_DUPLICATE_THRESHOLD
) -> list[tuple[int, int, float]]:
    """For each text j, its most similar earlier text i with cosine >= threshold: (j, i, cos).

    The similarity matrix is computed in row blocks of sparse products, so 10k texts stay
    within a few hundred MB.
    """
    matrix = tfidf_matrix(texts)
    if matrix is None:
        return []
    pairs = []
    for start in range(0, matrix.shape[0], _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, matrix.shape[0])
        sims = (matrix[start:stop] @ matrix[:stop].T).tocsr()
        sims.data[sims.data < threshold - 1e-9] = 0.0
        sims.eliminate_zeros()
        sims = sims.tocoo()
        rows, cols = sims.row + start, sims.col
        keep = cols < rows
        best: dict[int, tuple[int, float]] = {}
        for j, i, s in zip(rows[keep], cols[keep], sims.data[keep], strict=True):
            if int(j) not in best or s > best[int(j)][1]:
                best[int(j)] = (int(i), float(s))
        pairs += [(j, i, min(s, 1.0)) for j, (i, s) in sorted(best.items())]
    return pairs


def tfidf_matrix(texts: Sequence[str], *, use_sklearn: bool | None = None) -> Any:
    """Rows: L2-normalised TF-IDF vectors (scipy CSR), or None when no text has a word.

    Uses scikit-learn's ``TfidfVectorizer`` when installed; otherwise an equivalent sparse
    implementation of its defaults (lowercase, tokens of 2+ word characters, smooth idf).
    """
    if use_sklearn is None:
        use_sklearn = _sklearn_available()
    if use_sklearn:
        from sklearn.feature_extraction.text import TfidfVectorizer

        try:
            return TfidfVectorizer().fit_transform(texts).tocsr()
        except ValueError:  # "empty vocabulary": no text has a token
            return None
    return _tfidf_scipy(texts)


def _sklearn_available() -> bool:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def _tfidf_scipy(texts: Sequence[str]) -> Any:
    from scipy import sparse

    vocab: dict[str, int] = {}
    rows, cols, vals = [], [], []
    for r, text in enumerate(texts):
        for token, count in Counter(_TOKEN.findall(text.lower())).items():
            rows.append(r)
            cols.append(vocab.setdefault(token, len(vocab)))
            vals.append(count)
    if not vocab:
        return None
    counts = sparse.csr_matrix((vals, (rows, cols)), shape=(len(texts), len(vocab)), dtype=float)
    df = np.bincount(counts.indices, minlength=len(vocab))
    idf = np.log((1 + len(texts)) / (1 + df)) + 1.0
    weighted = counts.multiply(idf).tocsr()
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.diags(1.0 / norms) @ weighted


# -- diversity ------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct-n over a corpus: unique word n-grams / all word n-grams (0.0 when none).

    Words are case-folded runs of letters/digits; n-grams do not cross text boundaries.
    """
    grams: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        words = _words(text)
        grams.update(tuple(words[k : k + n]) for k in range(len(words) - n + 1))
    total = sum(grams.values())
    return len(grams) / total if total else 0.0
