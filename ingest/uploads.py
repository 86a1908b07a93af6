"""Files uploaded through the web app: checked, stored under a generated name, then ingested.

The uploaded name is never used as a path: only a sanitised copy of its last component, after a
random prefix, names the stored file, and the final path is checked to lie inside the uploads folder.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ingest.archives import ArchiveLimitError, check_zip
from ingest.loaders import SUPPORTED_SUFFIXES
from ingest.pipeline import Ingestor
from kb.errors import BadFileError

# Stored names are counted in UTF-8 bytes: file systems limit a name to 255 bytes, and one CJK character takes 3.
MAX_NAME_BYTES = 120
# Why an upload was refused before ingest; the web page words each one in the reader's language.
Problem = Literal["unsupported", "too_large", "empty", "archive"]
# Problems that mean "over a limit": a request refused only for these answers 413.
SIZE_PROBLEMS = ("too_large", "archive")

_UNSAFE_RUN = re.compile(r"[^\w.\-]+")  # \w: letters and digits of every script (CJK included) and _


@dataclass
class UploadResult:
    name: str  # the name the file was uploaded under, for the person who uploaded it
    status: Literal["added", "updated", "unchanged", "failed"]
    lessons: int = 0
    error: str | None = None
    problem: Problem | None = None
    document_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "lessons": self.lessons, "error": self.error}


def original_basename(name: str) -> str:
    """The last component of an uploaded name, whichever separator the sender's system uses."""
    return re.split(r"[\\/]", name or "")[-1].strip()


def safe_upload_name(name: str) -> str:
    """Letters, digits (any script), '.', '_' and '-' of the name's last component; never empty or dotted."""
    cleaned = _UNSAFE_RUN.sub("_", original_basename(name)).strip("._") or "upload"
    if len(cleaned.encode("utf-8")) > MAX_NAME_BYTES:
        stem, dot, suffix = cleaned.rpartition(".")
        if dot and stem and len(suffix) < 10:
            cleaned = f"{_utf8_prefix(stem, MAX_NAME_BYTES - len(suffix) - 1)}.{suffix}"
        else:
            cleaned = _utf8_prefix(cleaned, MAX_NAME_BYTES)
    return cleaned


def _utf8_prefix(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 form fits in ``limit`` bytes, never cutting a character."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def store_upload(uploads_dir: Path, name: str, data: bytes) -> Path:
    """Write the bytes under ``<random>-<safe name>`` inside ``uploads_dir``, never over another file."""
    root = Path(uploads_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    path = (root / f"{uuid.uuid4().hex[:12]}-{safe_upload_name(name)}").resolve()
    if path.parent != root:  # cannot happen with a sanitised name; checked because it must never happen
        raise ValueError(f"upload path {path} escapes {root}")
    with path.open("xb") as handle:
        handle.write(data)
    return path


def ingest_upload(
    ingestor: Ingestor, uploads_dir: Path, name: str, data: bytes, *, max_bytes: int, uploader: str | None = None
) -> UploadResult:
    """Check, store and ingest one uploaded file, its lessons owned by ``uploader``; a refused or failed file
    leaves nothing behind."""
    catalog = ingestor.catalog
    shown = original_basename(name) or "(unnamed)"
    suffix = Path(safe_upload_name(name)).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        supported = ", ".join(SUPPORTED_SUFFIXES)
        return UploadResult(shown, "failed", error=f"unsupported file type {suffix or '(no extension)'}; supported: {supported}", problem="unsupported")
    if len(data) > max_bytes:
        return UploadResult(shown, "failed", error=f"larger than the upload limit of {max_bytes // (1024 * 1024)} MB", problem="too_large")
    if not data.strip():
        return UploadResult(shown, "failed", error="empty file", problem="empty")
    if suffix == ".docx":
        try:
            check_zip(data, shown)
        except BadFileError as exc:
            return UploadResult(shown, "failed", error=str(exc), problem="archive" if isinstance(exc, ArchiveLimitError) else None)
    existing = catalog.document_by_content_hash(hashlib.sha256(data).hexdigest())
    if existing is not None:  # the same bytes again: a second copy would only duplicate its lessons
        return UploadResult(shown, "unchanged", existing.lesson_count, document_id=existing.id)
    path = store_upload(uploads_dir, name, data)
    result = ingestor.ingest_file(path, owner=uploader)
    if result.status == "failed":
        path.unlink(missing_ok=True)
        error = (result.error or "could not be ingested").replace(str(path), shown)
        return UploadResult(shown, "failed", error=error)
    return UploadResult(shown, result.status, result.lessons, document_id=result.document_id)
