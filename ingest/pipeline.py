"""The ingest pipeline: file → blocks → clean → sections → lessons → chunks → tags → catalog and vectors.

Idempotent and incremental: an unchanged file is skipped without embedding; a changed one
replaces its lessons and chunks (lessons keep their ids when their place or text is unchanged),
and nothing of the old version stays searchable.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ingest.boilerplate import drop_shared_paragraphs, qualify_recurring_titles, source_of
from ingest.chunking import chunk_lesson
from ingest.cleaning import clean_blocks, clean_inline
from ingest.lessons import derive_title, extract_lessons, learned_items
from ingest.loaders import SUPPORTED_SUFFIXES, load_document, unsupported_type
from ingest.structure import block_text, build_sections, ends_sentence, iter_sections
from ingest.tagging import Tagger
from kb.catalog import Catalog, utc_now
from kb.drivers import parse_drivers
from kb.domain import REVIEW_FIELDS, Chunk, Document, LoadedDocument, Lesson, Paragraph, Section
from kb.embedding import CacheEntry, CachedEmbedder, fingerprint
from kb.errors import BadFieldError, BadFileError, KbError
from kb.lifecycle import fresh_lifecycle
from kb.settings import Settings
from kb.validation import front_matter_fields
from kb.vector_sync import BATCH as VECTOR_BATCH, VectorSync

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
    """Writes documents into the catalog, which queues their vector work; embeds only new text.

    The vector work is applied here when this process holds the writer lock, else by the holder.
    """

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        vectors: VectorSync,
        tagger: Tagger,
        views: Sequence[CachedEmbedder] = (),
        drivers: Tagger | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.vectors = vectors
        self.embedder = vectors.embedder
        self.tagger = tagger
        self.views = list(views)
        self.drivers = drivers

    @property
    def driver_ids(self) -> list[str] | None:
        """The win/loss drivers a review may name; None when this ingestor has no driver taxonomy (any id then)."""
        return [driver.id for driver in self.drivers.tags] if self.drivers is not None else None

    def embed_chunks(self, chunks: list[Chunk], unstored: list[CacheEntry] | None = None) -> np.ndarray:
        """Dense vectors of the chunks; the extra views' vectors are cached for search."""
        for view in self.views:
            view.embed_passages(view.chunk_texts(chunks), unstored=unstored)
        return self.embedder.embed_passages(self.embedder.chunk_texts(chunks), unstored=unstored)

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
        self.vectors.index.check_model(fingerprint(self.embedder))
        embedded_before = self.embedder.computed
        files, problems = discover(paths)
        report = IngestReport(files=list(problems))
        report.files.extend(self.finish_interrupted())
        if on_start:
            on_start(len(files))
        with self.catalog.bulk_writes():
            for path in files:
                result = self._ingest_file(path, encoding=encoding)
                report.files.append(result)
                if on_file:
                    on_file(result)
                if self.catalog.pending_vector_count() >= VECTOR_BATCH:
                    self.vectors.drain()
            if prune:
                report.files.extend(self.prune())
        self.vectors.drain()
        report.embedded = self.embedder.computed - embedded_before
        report.seconds = time.perf_counter() - started
        return report

    def finish_interrupted(self) -> list[FileResult]:
        """Apply queued vector work, and ingest reviews and uploads whose writing was cut short."""
        self.vectors.drain()
        stranded = [
            path
            for folder in (self.settings.reviews_dir, self.settings.uploads_dir)
            if folder.is_dir()
            for path in sorted(folder.iterdir())
            if path.is_file() and self.catalog.document_by_path(str(path.resolve())) is None
        ]
        results = [self._ingest_file(path) for path in stranded]
        self.vectors.drain()
        return results

    def ingest_file(self, path: Path, *, encoding: str | None = None, owner: str | None = None) -> FileResult:
        """Ingest one file (``encoding`` forces the codec of a text file) and apply its vector work now; ``owner``
        names the account that answers for its new lessons (an upload's uploader)."""
        result = self._ingest_file(path, encoding=encoding, owner=owner)
        self.vectors.drain()
        return result

    def _ingest_file(self, path: Path, *, encoding: str | None = None, owner: str | None = None) -> FileResult:
        path = Path(path).resolve()
        try:
            if path.stat().st_size > self.settings.max_file_mb * 1024 * 1024:
                return FileResult(str(path), "failed", error=f"larger than the file size limit of {self.settings.max_file_mb} MB (KB_MAX_FILE_MB)")
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
        stored = self.catalog.lessons_of_document(previous.id) if previous else []
        _keep_ids(stored, lessons, chunks)
        # New lessons are owned by the uploader or the review's author, else by whoever owned the earlier version;
        # lessons stored before keep their own state (Catalog.replace_document).
        owner = owner or self._review_author(document) or _usual_owner(stored)
        for lesson in lessons:
            lesson.lifecycle = fresh_lifecycle(self.settings, lesson.kind, owner)
        self.store(document, lessons, chunks, prepared.paragraphs)
        status: Status = "updated" if previous else "added"
        return FileResult(str(path), status, len(lessons), len(chunks), document_id=document.id, warnings=prepared.warnings)

    def prepare(self, path: Path, digest: str, *, encoding: str | None = None) -> "Prepared":
        """Everything up to storage: parse, clean, drop boilerplate, structure, extract lessons, chunk."""
        loaded = load_document(path, encoding=encoding)
        loaded.front_matter = front_matter_fields(loaded.front_matter, REVIEW_FIELDS)
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
        if kind == "review":
            try:
                parse_drivers(loaded.front_matter.get("drivers"), len(learned_items(extracted.lessons)), known=None, name="front matter drivers")
            except BadFieldError as exc:
                raise BadFileError(path, str(exc)) from None
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
        self, document: Document, lessons: list[Lesson], chunks: list[Chunk], paragraphs: Sequence[tuple[str, str, bool]] = ()
    ) -> None:
        """Embed, tag, and write the document; its new cache entries and vector work are written in the same
        transaction, which starts only once the embedding is done (a server's review never waits for it)."""
        unstored: list[CacheEntry] = []
        vectors = self.embed_chunks(chunks, unstored)
        self._tag(document, lessons, chunks, vectors)
        self.catalog.replace_document(
            document, lessons, chunks, paragraphs, review_author=self._review_author(document), embeddings=unstored
        )

    def _review_author(self, document: Document) -> str | None:
        """The account named in a review that kb itself wrote (under the reviews folder), else None."""
        author = document.metadata.get("author")
        if document.kind != "review" or not author:
            return None
        try:
            Path(document.path).relative_to(self.settings.reviews_dir.resolve())
        except ValueError:
            return None
        return str(author)

    def _tag(self, document: Document, lessons: list[Lesson], chunks: list[Chunk], vectors: np.ndarray) -> None:
        """Tag each lesson from its text and the mean of its chunk vectors; give a review's lessons their drivers."""
        rows: dict[str, list[int]] = {}
        for i, chunk in enumerate(chunks):
            rows.setdefault(chunk.lesson_id, []).append(i)
        means: dict[str, np.ndarray] = {}
        for lesson in lessons:
            lesson.fields = self.tagger.facets.canonical_fields(lesson.fields)
            if lesson.id in rows:
                mean = vectors[rows[lesson.id]].mean(axis=0)
                means[lesson.id] = mean / (np.linalg.norm(mean) or 1.0)
                lesson.tags = self.tagger.tag(lesson, means[lesson.id])
        if document.kind == "review":
            self._assign_drivers(document, lessons, means)

    def _assign_drivers(self, document: Document, lessons: list[Lesson], means: dict[str, np.ndarray]) -> None:
        """The drivers the review's front matter confirms for each lessons-learned item, else suggested ones."""
        items = learned_items(lessons)
        try:
            confirmed = parse_drivers(document.metadata.get("drivers"), len(items), known=None, name="front matter drivers")
        except BadFieldError:
            confirmed = None  # prepare() refuses such a file; one stored before drivers existed is suggested anew
        for index, lesson in enumerate(items):
            chosen = confirmed[index] if confirmed else None
            if chosen is not None:
                lesson.drivers, lesson.drivers_confirmed = chosen, True
            elif self.drivers is not None and lesson.id in means:
                lesson.drivers, lesson.drivers_confirmed = self.drivers.tag(lesson, means[lesson.id]), False
            else:
                lesson.drivers, lesson.drivers_confirmed = [], False

    def reindex(self, on_progress: Callable[[str, int, int], None] | None = None) -> int:
        """Rebuild the lexical index, tags (current taxonomy) and vectors (configured model) from the catalog.

        The vectors fill a new collection and replace the old one only when complete. When a running
        server holds the writer lock, the embedding is done here and the server is asked to switch.
        """
        self.catalog.retokenize()
        documents = self.catalog.list_documents()
        for done, document in enumerate(documents, start=1):
            lessons = self.catalog.lessons_of_document(document.id)
            chunks = self.catalog.chunks_of_lessons([lesson.id for lesson in lessons])
            self._tag(document, lessons, chunks, self.embed_chunks(chunks))
            for lesson in lessons:
                self.catalog.set_lesson_tags(lesson.id, lesson.tags)
            self.catalog.set_lesson_drivers(lessons)
            if on_progress:
                on_progress("embed", done, len(documents))
        return self.vectors.rebuild(lambda done, total: on_progress and on_progress("index", done, total))

    def prune(self) -> list[FileResult]:
        """Remove documents whose files are gone, vectors included."""
        results = []
        for document in self.catalog.list_documents():
            if not Path(document.path).exists():
                self.catalog.delete_document(document.id)
                results.append(FileResult(document.path, "removed", document.lesson_count, document_id=document.id))
        self.vectors.drain()
        return results


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


def _usual_owner(lessons: list[Lesson]) -> str | None:
    """The owner of most of these lessons (the earlier version of a document), if any has one."""
    owners = Counter(lesson.lifecycle.owner for lesson in lessons if lesson.lifecycle.owner)
    return owners.most_common(1)[0][0] if owners else None


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
