"""Errors that users cause; the CLI and the web app turn these, and only these, into plain messages."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path


class KbError(Exception):
    """Base of every error a user can cause and fix; ``code`` names the kind in the API's error shape."""

    exit_code = 1
    code = "error"


class BadFileError(KbError):
    """A file that cannot be read or understood; the message names the file and the reason."""

    code = "bad_file"

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class Problem:
    """What is wrong with a value: a stable code (the web's message id is ``err.<code>``), its parameters, the English text."""

    code: str
    text: str
    params: Mapping[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.text


class BadFieldError(KbError):
    """A field of user input that is missing or invalid."""

    code = "bad_field"

    def __init__(self, field_name: str, reason: str, *, code: str = "invalid", **params: object) -> None:
        self.field = field_name
        self.reason = reason
        self.problem = Problem(code, reason, params)
        super().__init__(f"{field_name}: {reason}")


class ModelMismatchError(KbError):
    """The index was built by another embedding model than the one configured."""

    code = "model_mismatch"

    def __init__(self, indexed: str, configured: str) -> None:
        super().__init__(
            f"the index was built with {indexed} but kb is configured for {configured}; "
            "run `kb reindex` to rebuild the vectors with the configured model"
        )

    @classmethod
    def check(cls, indexed: str | None, configured: str, vectors: Callable[[], int]) -> None:
        """Refuse to mix vectors of two models in one index: raise when another model built stored vectors."""
        if indexed and indexed != configured and vectors() > 0:
            raise cls(indexed, configured)


class NotFoundError(KbError):
    """A lesson, document or other record that does not exist."""

    code = "not_found"


class ForbiddenError(KbError):
    """The account may not do this to this record (another person's lesson, a role too low)."""

    code = "forbidden"


class StoreError(KbError):
    """The data dir cannot be used as it is: written by another version, or a store is damaged."""

    code = "store"


def describe(exc: Exception) -> str:
    """A library's exception as one short line: its type and the first line of its message."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
