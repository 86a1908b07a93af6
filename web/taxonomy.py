"""The tag taxonomy and its win/loss drivers as the pages show them: read once per change of the file, named in the
reader's language."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import Request

from ingest.tagging import Tag, load_taxonomy


def taxonomy(request: Request, section: str = "tags") -> list[Tag]:
    """The taxonomy's tags (or ``drivers``); the file is re-read only after it changes (it is meant to be edited)."""
    path = Path(request.app.state.settings.taxonomy_path)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None  # load_taxonomy reports the missing file
    return list(_load(path, stamp, section))


@lru_cache(maxsize=8)
def _load(path: Path, stamp: int | None, section: str) -> tuple[Tag, ...]:
    return tuple(load_taxonomy(path, section))


def tag_label(tag: Tag, lang: str) -> str:
    return tag.name if lang == "zh" else (tag.name_en or tag.name)


def tag_labels(request: Request, lang: str, section: str = "tags") -> dict[str, str]:
    """Tag (or driver) id → its name in ``lang``; ids no longer in the taxonomy are shown as they are."""
    return {tag.id: tag_label(tag, lang) for tag in taxonomy(request, section)}
