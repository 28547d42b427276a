"""Assay's exception tree.

    AssayError
    ├── DatasetError          a dataset file cannot be read or a record is invalid
    ├── SourceError           a source document cannot be read
    ├── ConfigError           a judges file, policy or option is wrong
    │   └── MissingDependency an optional extra is not installed
    ├── StoreError            the SQLite store cannot be opened or written
    ├── ProviderError(provider, model, status, body)
    │   ├── RateLimited       429 after the provider's own retries
    │   ├── AuthError         401/403, or a key is missing
    │   └── Unavailable       5xx, timeouts, connection failures
    ├── JudgeOutputError(raw, errors, attempts)   unparseable model output after repair
    └── GateFailed(decision)  a gate decision blocks the requested action

An error is ``persistent`` when trying again in the same run cannot help (a missing package,
key, model file or server): the audit runner then marks the judge that raised it unusable for
the run, once, instead of trying it on every record.

Citation mismatches are data in a ``Verdict``, not exceptions. Backend exceptions are
mapped once, at the boundary, with ``raise ... from exc``. The command-line layer maps
every ``AssayError`` to one red line and a non-zero exit code.
"""

from __future__ import annotations

from typing import Any


class AssayError(Exception):
    """Base class of every error Assay raises on purpose."""

    exit_code = 1
    persistent = False  # True: the same call fails the same way for the rest of the run


class DatasetError(AssayError):
    """A dataset file cannot be read, or a record in it is invalid."""

    exit_code = 2


class SourceError(AssayError):
    """A source document cannot be read or parsed."""

    exit_code = 2


class ConfigError(AssayError):
    """A configuration file or option is wrong; the message says how to fix it."""

    exit_code = 2
    persistent = True


class MissingDependency(ConfigError):
    """An optional extra is not installed; the message names the ``pip install`` to run."""


class StoreError(AssayError):
    """The SQLite store cannot be opened or written (read-only, full disk, corrupt)."""


class ProviderError(AssayError):
    """A model provider failed; ``body`` is the provider's (key-free) error text."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        status: int | None = None,
        body: str = "",
        persistent: bool | None = None,
    ) -> None:
        super().__init__(message)
        if persistent is not None:
            self.persistent = persistent
        self.provider = provider
        self.model = model
        self.status = status
        self.body = body


class RateLimited(ProviderError):
    """The provider kept answering 429 after retries."""


class AuthError(ProviderError):
    """The provider refused the credentials, or none were set."""

    persistent = True


class Unavailable(ProviderError):
    """The provider could not be reached, timed out, or answered 5xx.

    ``refused=True`` (the server refused the connection, after retries) makes it persistent.
    """

    def __init__(self, message: str, *, refused: bool = False, **fields: Any) -> None:
        super().__init__(message, persistent=refused, **fields)


class JudgeOutputError(AssayError):
    """A model's output could not be parsed into a Verdict, even after repair."""

    def __init__(self, message: str, *, raw: str, errors: list[str], attempts: int) -> None:
        super().__init__(message)
        self.raw = raw
        self.errors = errors
        self.attempts = attempts


class GateFailed(AssayError):
    """The gate's decision forbids what was asked (for example training)."""

    def __init__(self, decision: Any) -> None:
        super().__init__(f"gate {decision.status}: " + "; ".join(decision.reasons))
        self.decision = decision
