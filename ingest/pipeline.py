"""The ingest pipeline: file → blocks → clean → sections → lessons → chunks → tags → catalog and vectors.

Idempotent and incremental: an unchanged file is skipped without embedding; a changed one
replaces its lessons and chunks (lessons keep their ids when their place or text is unchanged),
and nothing of the old version stays searchable.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ingest.boilerplate import drop_shared_paragraphs, qualify_recurring_titles, source_of
from ingest.chunking import chunk_lesson
from ingest.cleaning import clean_blocks, clean_inline
from ingest.lessons import derive_title, extract_lessons
from ingest.loaders import SUPPORTED_SUFFIXES, load_document, unsupported_type
from ingest.structure import block_text, build_sections, ends_sentence, iter_sections
from ingest.tagging import Tagger
from kb.catalog import Catalog, utc_now
from kb.domain import Chunk, Document, LoadedDocument, Lesson, Paragraph, Section
from kb.embedding import CachedEmbedder, fingerprint
from kb.errors import BadFileError, KbError
from kb.settings import Settings
from kb.vector_index import VectorIndex, chunk_metadata

Status = Literal["added", "updated", "unchanged", "failed", "removed", "skipped"]


@dataclass
class FileResult:
    path: str
    status: Status
    lessons: int = 0
    chunks: int = 0
    error: str | None = None
    document_id: str | None = None  # of the stored document, when the file is in the catalog
    warnings: list[str] = field(default_factory=list)  # what the file format's library complained about


@dataclass
class IngestReport:
    files: list[FileResult] = field(default_factory=list)
    embedded: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    def count(self, status: Status) -> int:
        return sum(1 for f in self.files if f.status == status)


@dataclass
class Prepared:
    """A file made ready to store: its document, lessons and chunks, its paragraphs (for boilerplate), warnings."""

    document: Document
    lessons: list[Lesson]
    chunks: list[Chunk]
    paragraphs: list[tuple[str, str, bool]]
    warnings: list[str]


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[FileResult]]:
    """Supported files under the given paths, in a stable order; missing paths and other file types are reported."""
    found: list[Path] = []
    problems: list[FileResult] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                if not p.is_file() or any(part.startswith(".") for part in p.relative_to(path).parts):
                    continue
                if p.suffix.lower() in SUPPORTED_SUFFIXES:
                    found.append(p)
                else:
                    problems.append(FileResult(str(p.resolve()), "skipped", error=unsupported_type(p)))
        elif path.is_file():
            found.append(path)
        else:
            problems.append(FileResult(str(path), "failed", error="no such file or directory"))
    return list(dict.fromkeys(p.resolve() for p in found)), problems


def document_id(path: Path) -> str:
    return hashlib.sha1(str(path).encode("utf-8")).hexdigest()[:12]


class Ingestor:
    """Writes documents into the catalog and the vector index, embedding only new text."""

    def __init__(self, settings: Settings, catalog: Catalog, index: VectorIndex, embedder: CachedEmbedder, tagger: Tagger) -> None:
        self.settings = settings
        self.catalog = catalog
        self.index = index
        self.embedder = embedder
        self.tagger = tagger

    def ingest(
        self,
        paths: Iterable[Path],
        *,
        prune: bool = False,
        encoding: str | None = None,
        on_start: Callable[[int], None] | None = None,
        on_file: Callable[[FileResult], None] | None = None,
    ) -> IngestReport:
        started = time.perf_counter()
        self.index.check_model(fingerprint(self.embedder))
        embedded_before = self.embedder.computed
        files, problems = discover(paths)
        report = IngestReport(files=list(problems))
        if on_start:
            on_start(len(files))
        for path in files:
            result = self.ingest_file(path, encoding=encoding)
            report.files.append(result)
            if on_file:
                on_file(result)
        if prune:
            report.files.extend(self.prune())
        report.embedded = self.embedder.computed - embedded_before
        report.seconds = time.perf_counter() - started
        return report

    def ingest_file(self, path: Path, *, encoding: str | None = None) -> FileResult:
        """Ingest one file; ``encoding`` forces the codec of a text file."""
        path = Path(path).resolve()
        try:
            data = path.read_bytes()
        except OSError as exc:
            return FileResult(str(path), "failed", error=exc.strerror or str(exc))
        digest = hashlib.sha256(data).hexdigest()
        previous = self.catalog.document_by_path(str(path))
        if previous and previous.content_hash == digest:
            return FileResult(str(path), "unchanged", previous.lesson_count, document_id=previous.id)
        try:
            prepared = self.prepare(path, digest, encoding=encoding)
        except KbError as exc:
            reason = exc.reason if isinstance(exc, BadFileError) else str(exc)
            return FileResult(str(path), "failed", error=reason)
        document, lessons, chunks = prepared.document, prepared.lessons, prepared.chunks
        if previous:
            _keep_ids(self.catalog.lessons_of_document(previous.id), lessons, chunks)
        self.store(document, lessons, chunks, prepared.paragraphs)
        status: Status = "updated" if previous else "added"
        return FileResult(str(path), status, len(lessons), len(chunks), document_id=document.id, warnings=prepared.warnings)

    def prepare(self, path: Path, digest: str, *, encoding: str | None = None) -> "Prepared":
        """Everything up to storage: parse, clean, drop boilerplate, structure, extract lessons, chunk."""
        loaded = load_document(path, encoding=encoding)
        kind = "review" if str(loaded.front_matter.get("kind", "")).lower() == "review" else "playbook"
        title = document_title(loaded)
        cleaned = clean_blocks(loaded.blocks, title=title)
        doc_id = document_id(path)
        source = source_of(path)
        # Boilerplate is a property of a publication; two reviews may well give the same reason.
        blocks, paragraphs = (
            drop_shared_paragraphs(cleaned.blocks, self.catalog, source, doc_id) if kind == "playbook" else (cleaned.blocks, [])
        )
        root = build_sections(blocks, structured=loaded.structured, title=title)
        if not title:
            title = _title_from_sections(root)
        extracted = extract_lessons(
            root,
            document_id=doc_id,
            source=path.name,
            document_title=title or "",
            kind=kind,
            fields=loaded.front_matter,
        )
        if not extracted.lessons:
            raise BadFileError(path, "no lesson text found")
        if kind == "playbook":
            qualify_recurring_titles(extracted.lessons, self.catalog, source, doc_id, title or "")
        metadata = {**{k: v for k, v in loaded.front_matter.items()}, **cleaned.metadata}
        if loaded.encoding:
            metadata["encoding"] = loaded.encoding
        document = Document(
            id=doc_id,
            path=str(path),
            title=title,
            format=loaded.format,
            kind=kind,
            content_hash=digest,
            metadata=metadata,
            summary=extracted.summary,
            ingested_at=utc_now(),
        )
        chunks = [
            chunk
            for lesson in extracted.lessons
            for chunk in chunk_lesson(
                lesson,
                document_title=title,
                target=self.settings.chunk_chars,
                hard_max=self.settings.chunk_max_chars,
            )
        ]
        return Prepared(document, extracted.lessons, chunks, paragraphs, loaded.warnings)

    def store(
        self, document: Document, lessons: list[Lesson], chunks: list[Chunk], paragraphs: list[tuple[str, str, bool]] = ()
    ) -> None:
        vectors = self.embedder.embed_passages([c.index_text for c in chunks])
        self._tag(lessons, chunks, vectors)
        removed = self.catalog.replace_document(document, lessons, chunks, paragraphs)
        lesson_by_id = {lesson.id: lesson for lesson in lessons}
        self.index.delete(removed)
        self.index.claim(fingerprint(self.embedder))
        self.index.add(
            [c.id for c in chunks],
            vectors,
            [_metadata(lesson_by_id[c.lesson_id], document.id) for c in chunks],
        )

    def _tag(self, lessons: list[Lesson], chunks: list[Chunk], vectors: np.ndarray) -> None:
        """Tag each lesson from its text and the mean of its chunk vectors."""
        rows: dict[str, list[int]] = {}
        for i, chunk in enumerate(chunks):
            rows.setdefault(chunk.lesson_id, []).append(i)
        for lesson in lessons:
            if lesson.id in rows:
                mean = vectors[rows[lesson.id]].mean(axis=0)
                lesson.tags = self.tagger.tag(lesson, mean / (np.linalg.norm(mean) or 1.0))

    def reindex(self, on_progress: Callable[[int, int], None] | None = None) -> int:
        """Rebuild vectors (configured model), tags (current taxonomy) and the lexical index from the catalog."""
        self.index.reset(fingerprint(self.embedder))
        self.catalog.retokenize()
        documents = self.catalog.list_documents()
        total = 0
        for done, document in enumerate(documents, start=1):
            lessons = self.catalog.lessons_of_document(document.id)
            chunks = self.catalog.chunks_of_lessons([lesson.id for lesson in lessons])
            vectors = self.embedder.embed_passages([c.index_text for c in chunks])
            self._tag(lessons, chunks, vectors)
            for lesson in lessons:
                self.catalog.set_lesson_tags(lesson.id, lesson.tags)
            by_id = {lesson.id: lesson for lesson in lessons}
            self.index.add([c.id for c in chunks], vectors, [_metadata(by_id[c.lesson_id], document.id) for c in chunks])
            total += len(chunks)
            if on_progress:
                on_progress(done, len(documents))
        return total

    def prune(self) -> list[FileResult]:
        """Remove documents whose files are gone, vectors included."""
        results = []
        for document in self.catalog.list_documents():
            if not Path(document.path).exists():
                self.index.delete(self.catalog.delete_document(document.id))
                results.append(FileResult(document.path, "removed", document.lesson_count, document_id=document.id))
        return results


def _metadata(lesson: Lesson, document_id: str) -> dict:
    return chunk_metadata(
        lesson_id=lesson.id,
        document_id=document_id,
        kind=lesson.kind,
        outcome=lesson.fields.get("outcome"),
        industry=lesson.fields.get("industry"),
        tags=lesson.tags,
    )


def _keep_ids(old: list[Lesson], new: list[Lesson], chunks: list[Chunk]) -> None:
    """A lesson whose text did not change keeps its old id even if its place in the document did."""
    by_hash = {lesson.content_hash: lesson.id for lesson in old}
    taken = {lesson.id for lesson in new}
    renamed: dict[str, str] = {}
    for lesson in new:
        old_id = by_hash.get(lesson.content_hash)
        if old_id and old_id != lesson.id and old_id not in taken:
            renamed[lesson.id] = old_id
            taken.add(old_id)
    for lesson in new:
        lesson.id = renamed.get(lesson.id, lesson.id)
    for chunk in chunks:
        chunk.lesson_id = renamed.get(chunk.lesson_id, chunk.lesson_id)


def _title_from_sections(root: Section) -> str:
    """A lone top-level section (a banner over numbered points) names the document; else its central sentence."""
    if len(root.children) == 1 and root.children[0].children and root.children[0].title:
        return root.children[0].title
    text = " ".join(block_text(b) for section in iter_sections(root) for b in section.blocks)
    return derive_title(text) if text.strip() else ""


def document_title(loaded: LoadedDocument) -> str | None:
    """Front matter or format title; for plain text, a short first line that reads as a title."""
    if loaded.front_matter.get("title"):
        return str(loaded.front_matter["title"]).strip()
    if loaded.title:
        return clean_inline(loaded.title)
    if loaded.structured or not loaded.blocks:
        return None
    first = loaded.blocks[0]
    if isinstance(first, Paragraph) and len(loaded.blocks) > 1:
        text = clean_inline(first.text)
        if 0 < len(text) <= 40 and (not ends_sentence(text) or text.rstrip("”’」』》）)").endswith(("?", "？"))):
            return text
    return None
