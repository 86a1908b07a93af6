"""The packaged default taxonomy and glossary; a team's edited copies in the data dir take their place."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

DEFAULT_FILES = ("taxonomy.yaml", "glossary.yaml", "domain.yaml")


def default_file(name: str) -> Path:
    """The packaged copy of ``name``; wheels install unpacked, so the resource is a real file."""
    return Path(str(files(__name__) / name))
