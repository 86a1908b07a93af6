"""kb export / kb import: everything a team made, as files a person can read, and back.

Layout of an export directory::

    kb-export.yaml                  format version, when, from which data dir, counts
    users.yaml                      accounts with roles and password hashes (no tokens, no sessions)
    sets.yaml                       lesson sets with their order and notes
    documents/<id>/document.yaml    the document's metadata (reviews: every field and the author)
    documents/<id>/lessons.yaml     its lessons with ids, titles, bodies, tags, fields and lifecycle (owner, dates)
    documents/<id>/source.<ext>     the source file as it was ingested (when it still existed)

Chunks and vectors are derived data: import rebuilds them from the lessons.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from ingest.chunking import chunk_lesson
from kb.catalog import utc_today
from kb.domain import KINDS, Chunk, Document, Lesson, Lifecycle
from kb.errors import StoreError
from kb.lifecycle import next_verify_by
from kb.workspace import Workspace
from kb.yaml_text import load_yaml

FORMAT = 1
MANIFEST = "kb-export.yaml"
# What lessons.yaml keeps of each lesson's lifecycle (kb.domain.Lifecycle; ``stale`` is derived).
LIFECYCLE_FIELDS = ("owner", "verify_by", "verified_at", "verified_by", "archived_at", "recheck_of")


@dataclass
class TransferSummary:
    documents: int
    lessons: int
    reviews: int
    sets: int
    users: int
    chunks: int = 0


def export_knowledge_base(workspace: Workspace, target: Path) -> TransferSummary:
    """Write one consistent snapshot of the catalog under ``target`` (which must not exist or be empty)."""
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise StoreError(f"{target} is not empty; export into a new directory")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "documents").mkdir(parents=True)
    catalog, data_dir = workspace.catalog, workspace.settings.data_dir.resolve()
    lessons_total = reviews = 0
    with catalog.snapshot():
        documents = catalog.list_documents()
        authors = catalog.review_author_names()
        for document in documents:
            folder = partial / "documents" / document.id
            folder.mkdir()
            source = Path(document.path)
            source_name = f"source{source.suffix.lower()}" if source.is_file() else None
            if source_name:
                shutil.copyfile(source, folder / source_name)
            lessons = catalog.lessons_of_document(document.id)
            lessons_total += len(lessons)
            reviews += document.kind == "review"
            _write_yaml(folder / "document.yaml", {
                "id": document.id,
                "path": document.path,
                "stored_in_data_dir": _relative_to(source, data_dir),
                "title": document.title,
                "format": document.format,
                "kind": document.kind,
                "content_hash": document.content_hash,
                "metadata": document.metadata,
                "summary": document.summary,
                "ingested_at": document.ingested_at,
                "author": authors.get(document.id),
                "source": source_name,
            })
            _write_yaml(folder / "lessons.yaml", [
                {
                    "id": lesson.id,
                    "ordinal": lesson.ordinal,
                    "title": lesson.title,
                    "heading_path": list(lesson.heading_path),
                    "kind": lesson.kind,
                    "source": lesson.source,
                    "tags": lesson.tags,
                    "fields": lesson.fields,
                    "content_hash": lesson.content_hash,
                    "lifecycle": {name: getattr(lesson.lifecycle, name) for name in LIFECYCLE_FIELDS},
                    "body": lesson.body,
                }
                for lesson in lessons
            ])
        users = catalog.users_for_export()
        sets = catalog.sets_for_export()
    _write_yaml(partial / "users.yaml", users)
    _write_yaml(partial / "sets.yaml", sets)
    summary = TransferSummary(len(documents), lessons_total, reviews, len(sets), len(users))
    _write_yaml(partial / MANIFEST, {"format": FORMAT, "data_dir": str(data_dir), "counts": vars(summary)})
    if target.exists():
        target.rmdir()
    partial.rename(target)  # a directory with a manifest is always complete
    return summary


def import_knowledge_base(
    workspace: Workspace, source: Path, *, merge: bool = False, on_progress: Callable[[int, int], None] | None = None
) -> TransferSummary:
    """Restore an export into this data dir: same lesson ids, sets, reviews and users.

    Everything is read and checked first; nothing is written unless the whole export is sound.
    """
    source = Path(source)
    manifest = _read_yaml(source / MANIFEST, dict)
    if manifest.get("format") != FORMAT:
        raise StoreError(f"{source / MANIFEST}: export format {manifest.get('format')!r} is not one this kb reads ({FORMAT})")
    catalog, settings = workspace.catalog, workspace.settings
    if not merge and not catalog.is_empty():
        counts = catalog.counts()
        raise StoreError(
            f"{settings.data_dir} already holds {counts['documents']} documents, {counts['users']} users and "
            f"{counts['sets']} lesson sets; import into an empty data dir, or pass --merge to add only what it lacks"
        )
    users = [_check_user(u, source / "users.yaml", i) for i, u in enumerate(_read_yaml(source / "users.yaml", list), 1)]
    sets = [_check_set(s, source / "sets.yaml", i) for i, s in enumerate(_read_yaml(source / "sets.yaml", list), 1)]
    folders = sorted(p for p in (source / "documents").iterdir() if p.is_dir()) if (source / "documents").is_dir() else []
    read = [_read_document(folder, workspace) for folder in folders]
    records = [record for record, _ in read]
    chunks = [c for _, _, document_chunks, _ in records for c in document_chunks]
    batch = 64
    for start in range(0, len(chunks), batch):  # embedded before writing, so a running server only indexes
        workspace.ingestor.embed_chunks(chunks[start : start + batch])
        if on_progress:
            on_progress(min(start + batch, len(chunks)), len(chunks))
    for (record, meta), folder in zip(read, folders):
        _restore_source(record[0], meta, folder, settings.data_dir)
    added = catalog.import_records(users=users, documents=records, sets=sets, merge=merge)
    workspace.vectors.drain()
    lessons = sum(len(r[1]) for r in records)
    reviews = sum(1 for r in records if r[0].kind == "review")
    return TransferSummary(added["documents"], lessons, reviews, added["sets"], added["users"], len(chunks))


def _read_document(folder: Path, workspace: Workspace) -> tuple[tuple[Document, list[Lesson], list[Chunk], str | None], dict]:
    """The document of one export folder with its lessons, chunks and review author, and its raw metadata."""
    meta_file, lessons_file = folder / "document.yaml", folder / "lessons.yaml"
    meta = _read_yaml(meta_file, dict)
    for key, kind in (("id", str), ("path", str), ("title", str), ("format", str), ("kind", str), ("content_hash", str)):
        _field(meta, key, kind, meta_file)
    if meta["kind"] not in KINDS:
        raise StoreError(f"{meta_file}: kind must be playbook or review, not {meta['kind']!r}")
    document = Document(
        id=meta["id"],
        path=meta["path"],
        title=meta["title"],
        format=meta["format"],
        kind=meta["kind"],
        content_hash=meta["content_hash"],
        metadata=_field(meta, "metadata", dict, meta_file, default={}),
        summary=_field(meta, "summary", str, meta_file, default=""),
        ingested_at=_field(meta, "ingested_at", str, meta_file, default=""),
    )
    lessons = []
    for number, item in enumerate(_read_yaml(lessons_file, list), start=1):
        where = f"{lessons_file}: lesson {number}"
        if not isinstance(item, dict):
            raise StoreError(f"{where}: must be a mapping with id, title and body")
        heading_path = _field(item, "heading_path", list, where, default=[])
        lessons.append(
            Lesson(
                id=_field(item, "id", str, where),
                document_id=document.id,
                ordinal=_field(item, "ordinal", int, where, default=number - 1),
                title=_field(item, "title", str, where),
                body=_field(item, "body", str, where),
                heading_path=tuple(str(h) for h in heading_path),
                kind=_field(item, "kind", str, where, default=document.kind),
                source=_field(item, "source", str, where, default=Path(document.path).name),
                tags=[str(t) for t in _field(item, "tags", list, where, default=[])],
                fields=_field(item, "fields", dict, where, default={}),
                content_hash=_field(item, "content_hash", str, where, default=""),
                lifecycle=_lifecycle(item, where, document, meta.get("author"), workspace),
            )
        )
    settings = workspace.settings
    chunks = [
        chunk
        for lesson in lessons
        for chunk in chunk_lesson(lesson, document_title=document.title, target=settings.chunk_chars, hard_max=settings.chunk_max_chars)
    ]
    author = meta.get("author")
    return (document, lessons, chunks, str(author) if author else None), meta


def _lifecycle(item: dict, where: str, document: Document, author: Any, workspace: Workspace) -> Lifecycle:
    """The lesson's exported lifecycle; an export made before kb had one gives the defaults of a lesson ingested on
    the document's ingest day (owned by the review's author)."""
    exported = _field(item, "lifecycle", dict, where, default=None)
    if exported is None:
        try:
            written = date.fromisoformat(document.ingested_at[:10])
        except ValueError:
            written = utc_today()
        return Lifecycle(owner=str(author) if author else None, verify_by=next_verify_by(workspace.settings, document.kind, written))
    values = {name: exported.get(name) for name in LIFECYCLE_FIELDS}
    for name, value in values.items():
        if value is not None and not isinstance(value, (str, date)):
            raise StoreError(f"{where}: lifecycle {name!r} must be text, not {type(value).__name__}")
    return Lifecycle(**{name: None if value is None else str(value) for name, value in values.items()})


def _restore_source(document: Document, meta: dict[str, Any], folder: Path, data_dir: Path) -> None:
    """Put the source file where this data dir expects it; the document's path follows it.

    Reviews and uploads move into this data dir; any other file keeps its path when it exists on
    this machine, else its exported copy is kept under ``imported/`` so that nothing points nowhere.
    """
    copy = folder / meta["source"] if meta.get("source") else None
    if meta.get("stored_in_data_dir"):
        destination = data_dir / meta["stored_in_data_dir"]
    elif Path(document.path).exists() or copy is None:
        return
    else:
        destination = data_dir / "imported" / f"{document.id}{Path(document.path).suffix.lower()}"
    if copy is not None and copy.is_file():
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(copy, destination)
    document.path = str(destination.resolve())


def _check_user(user: Any, path: Path, number: int) -> dict[str, Any]:
    where = f"{path}: user {number}"
    if not isinstance(user, dict):
        raise StoreError(f"{where}: must be a mapping with name, role and password_hash")
    for key in ("name", "role", "password_hash", "created_at"):
        _field(user, key, str, where)
    return user


def _check_set(lesson_set: Any, path: Path, number: int) -> dict[str, Any]:
    where = f"{path}: set {number}"
    if not isinstance(lesson_set, dict):
        raise StoreError(f"{where}: must be a mapping with title and items")
    _field(lesson_set, "id", int, where)
    _field(lesson_set, "title", str, where)
    for key in ("audience", "description"):
        lesson_set[key] = _field(lesson_set, key, str, where, default="")
    for key in ("created_at", "updated_at"):
        _field(lesson_set, key, str, where)
    lesson_set.setdefault("owner", None)
    items = _field(lesson_set, "items", list, where, default=[])
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("lesson"), str):
            raise StoreError(f"{where}, item {position}: must be a mapping with a lesson id")
        item["note"] = _field(item, "note", str, f"{where}, item {position}", default="")
    lesson_set["items"] = items
    return lesson_set


_MISSING = object()


def _field(mapping: dict, key: str, kind: type, where: Any, default: Any = _MISSING) -> Any:
    value = mapping.get(key, _MISSING)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise StoreError(f"{where}: {key!r} is missing; export again or fix the file")
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise StoreError(f"{where}: {key!r} must be {kind.__name__}, not {type(value).__name__}")
    return value


def _read_yaml(path: Path, kind: type) -> Any:
    if not path.is_file():
        raise StoreError(f"{path} is missing: this is not a complete kb export")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: not readable YAML ({str(exc).splitlines()[0]})") from exc
    if data is None:
        data = kind()
    if not isinstance(data, kind):
        raise StoreError(f"{path}: must hold a {'mapping' if kind is dict else 'list'}, not {type(data).__name__}")
    return data


def _write_yaml(path: Path, data: Any) -> None:
    path.write_text(yaml.dump(data, Dumper=_ReadableDumper, allow_unicode=True, sort_keys=False, width=1000), encoding="utf-8")


def _relative_to(path: Path, root: Path) -> str | None:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return None


class _ReadableDumper(yaml.SafeDumper):
    """Multi-line text as YAML block scalars, so bodies read like the lessons they are."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text and not any(line != line.rstrip() for line in text.split("\n")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_ReadableDumper.add_representer(str, _represent_text)
