"""Errors that users cause; the CLI and the web app turn these, and only these, into plain messages."""

from __future__ import annotations

from pathlib import Path


class KbError(Exception):
    """Base of every error a user can cause and fix."""

    exit_code = 1


class BadFileError(KbError):
    """A file that cannot be read or understood; the message names the file and the reason."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class BadFieldError(KbError):
    """A field of user input that is missing or invalid."""

    def __init__(self, field_name: str, reason: str) -> None:
        self.field = field_name
        self.reason = reason
        super().__init__(f"{field_name}: {reason}")


class ModelMismatchError(KbError):
    """The index was built by another embedding model than the one configured."""

    def __init__(self, indexed: str, configured: str) -> None:
        super().__init__(
            f"the index was built with {indexed} but kb is configured for {configured}; "
            "run `kb reindex` to rebuild the vectors with the configured model"
        )


class NotFoundError(KbError):
    """A lesson, document or other record that does not exist."""


class StoreError(KbError):
    """The data dir cannot be used as it is: written by another version, or a store is damaged."""


def describe(exc: Exception) -> str:
    """A library's exception as one short line: its type and the first line of its message."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
