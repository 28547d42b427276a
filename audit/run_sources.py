"""What an audit checks answers against: a folder of sources, or none (closed-book).

There are no silent sources. The bundled example's own command (no ``--dataset``) uses the
example's sources; any other dataset needs ``--sources DIR`` or ``--no-sources``.

Whether a ``not_in_sources`` verdict is an error depends on the sources being *complete*:

- *closed world* (``sources_complete``): the sources are the whole truth (the bundled example's
  are the whole official policy), so a claim they do not state is invented: an error;
- *open world* (the default for a user's sources, always for ``--no-sources``): a claim the
  sources neither support nor contradict is *unverifiable*, never an error.

Both choices are stored in the run's record (``core.runs.AuditRun``: ``sources_path``,
``sources_sha256``, ``sources_complete``, ``closed_book``), so gate, filter, review and reports
read the run as it was audited.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError
from core.models import Passage, QARecord, content_hash

EXAMPLE_DIR = Path(__file__).resolve().parent.parent / "examples" / "advising"
EXAMPLE_DATASET = EXAMPLE_DIR / "dataset.jsonl"
EXAMPLE_SOURCES = EXAMPLE_DIR / "sources"
NO_SOURCES = "none"  # the corpus hash of a closed-book run


@dataclass
class RunSources:
    """The evidence of one run: ``path`` None means closed-book (no retrieval at all)."""

    path: Path | None
    complete: bool
    passages: dict[str, Passage]
    sha256: str
    evidence_of: Callable[[QARecord], list[Passage]]

    @property
    def closed_book(self) -> bool:
        return self.path is None


def is_example(path: Path | None, example: Path) -> bool:
    return path is not None and Path(path).resolve() == example.resolve()


def choose_sources(dataset: Path | None, sources: Path | None, no_sources: bool,
                   sources_complete: bool) -> tuple[Path | None, bool]:
    """(sources folder or None for closed-book, closed world?) for a run's options.

    Raises ``ConfigError`` (one line, exit 2) for a dataset with neither option.
    """
    if no_sources:
        if sources is not None:
            raise ConfigError("--sources and --no-sources exclude each other; give one")
        if sources_complete:
            raise ConfigError("--sources-complete needs --sources DIR: with --no-sources "
                              "there are no sources to be complete")
        return None, False
    if sources is None:
        if dataset is not None and not is_example(dataset, EXAMPLE_DATASET):
            raise ConfigError(
                f"{dataset}: say what to check it against: --sources DIR (a folder of source "
                "documents) or --no-sources (closed-book: no evidence; what cannot be checked "
                "is reported as unverifiable)")
        return EXAMPLE_SOURCES, True
    return sources, sources_complete or is_example(sources, EXAMPLE_SOURCES)


def corpus_sha256(passages: Iterable[Passage]) -> str:
    """The corpus hash a run stores: a hash of its passages' hashes, in sorted order."""
    return content_hash(sorted(p.sha256 for p in passages))


def load_run_sources(path: Path | None, complete: bool, *, hybrid: bool = False,
                     k: int = 4) -> RunSources:
    """Index ``path`` (or nothing, closed-book) and return the run's evidence function."""
    if path is None:
        return RunSources(None, False, {}, NO_SOURCES, lambda record: [])
    from core.retrieval import evidence_for, load_index

    index = load_index(path, hybrid=hybrid)
    passages = index.passages
    sha256 = corpus_sha256(passages.values())
    return RunSources(Path(path), complete, passages, sha256,
                      lambda record: evidence_for(record, index, k=k))
