"""Limits on zip containers (.docx), checked from the central directory before anything is inflated.

zipfile never inflates an entry past the size its directory declares, so checking the declared
sizes bounds the memory a later read can take, whatever the archive really holds.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from kb.errors import BadFileError

MAX_ENTRIES = 2000
MAX_TOTAL_BYTES = 100 * 1024 * 1024  # all entries inflated
MAX_XML_BYTES = 20 * 1024 * 1024  # one XML part: parsed into a tree several times its size
MAX_RATIO = 200  # inflated bytes per compressed byte, for entries over 1 MB inflated
_RATIO_FLOOR = 1024 * 1024


class ArchiveLimitError(BadFileError):
    """An archive over one of the limits above; the message names the limit."""


def check_zip(data: bytes, name: str | Path) -> None:
    """Refuse a .docx (a zip) that is not a zip, or whose entries are too many, too large in all, or inflate too far (a zip bomb)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise BadFileError(name, f"corrupt or unreadable .docx file (not a zip container: {exc})") from None
    if len(entries) > MAX_ENTRIES:
        raise ArchiveLimitError(name, f"holds {len(entries)} entries; the limit is {MAX_ENTRIES}")
    total = sum(entry.file_size for entry in entries)
    if total > MAX_TOTAL_BYTES:
        raise ArchiveLimitError(name, f"inflates to {_mb(total)}; the limit is {_mb(MAX_TOTAL_BYTES)}")
    for entry in entries:
        if entry.filename.lower().endswith((".xml", ".rels")) and entry.file_size > MAX_XML_BYTES:
            raise ArchiveLimitError(name, f"part {entry.filename} inflates to {_mb(entry.file_size)}; the limit is {_mb(MAX_XML_BYTES)}")
        if entry.file_size > _RATIO_FLOOR and entry.file_size > MAX_RATIO * max(entry.compress_size, 1):
            ratio = entry.file_size // max(entry.compress_size, 1)
            raise ArchiveLimitError(name, f"part {entry.filename} inflates {ratio} times; the limit is {MAX_RATIO} times")


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB"
