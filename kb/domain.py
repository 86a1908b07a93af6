"""Domain types shared by ingest, the catalog, search and the web app."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

# The domain's vocabulary, defined here once: forms, API, CLI choices and validation use these.
LessonKind = Literal["playbook", "review"]
KINDS: tuple[LessonKind, ...] = ("playbook", "review")
OUTCOMES = ("win", "loss", "no-decision", "unknown")
# Account roles, each allowed what the ones before it may do.
ROLES = ("reader", "rep", "trainer", "admin")
# What a win/loss review cannot be without (the form, the API and CRM imports ask for these).
REQUIRED_REVIEW_FIELDS = ("outcome", "customer", "lessons")
# The most lessons one search returns.
MAX_K = 100

# Review front-matter fields that lessons inherit as filterable metadata.
REVIEW_FIELDS = (
    "outcome",
    "customer",
    "industry",
    "region",
    "deal_size",
    "currency",
    "competitors",
    "stage",
    "date",
    "author",
)


def _letters(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


# --- what loaders produce -------------------------------------------------------------


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str
    list_item: bool = False


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


Block = Union[Heading, Paragraph, Table]


@dataclass
class LoadedDocument:
    """A file read into blocks, before cleaning and structure recovery.

    ``structured`` is true when headings come from the format itself (Markdown, HTML, .docx);
    plain text and PDF paragraphs still need heading detection.
    """

    path: Path
    format: str
    blocks: list[Block]
    structured: bool
    title: str | None = None
    front_matter: dict[str, Any] = field(default_factory=dict)
    encoding: str | None = None
    warnings: list[str] = field(default_factory=list)  # what the format's library complained about


# --- structure and lessons ------------------------------------------------------------


@dataclass
class Section:
    """A node of a document's section tree; ``blocks`` is the section's own content."""

    title: str | None
    level: int
    heading_path: tuple[str, ...]
    blocks: list[Block] = field(default_factory=list)
    children: list["Section"] = field(default_factory=list)


@dataclass
class Lesson:
    """One piece of experience: the unit that is tagged, searched, linked and curated."""

    id: str
    document_id: str
    ordinal: int
    title: str
    body: str
    heading_path: tuple[str, ...]
    kind: LessonKind
    source: str
    tags: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    content_hash: str = ""
    blocks: list[Block] = field(default_factory=list, repr=False, compare=False)

    @property
    def own_text(self) -> str:
        """What the lesson itself says, without its document's title and headings: the title, then the body
        unless the body already holds the title (a one-line review lesson is its own title)."""
        body = self.body.strip()
        if _letters(self.title) in _letters(body):
            return body
        return f"{self.title}\n{body}".strip()


@dataclass
class Chunk:
    """A searchable piece of a lesson: ``text`` is shown, ``context`` is prepended for indexing."""

    id: str
    lesson_id: str
    ordinal: int
    text: str
    context: str

    @property
    def index_text(self) -> str:
        return f"{self.context}\n{self.text}" if self.context else self.text

    @property
    def embedded_text(self) -> str:
        """What the dense engine embeds: the chunk's own words (shared context would dominate short lessons)."""
        return self.text


@dataclass
class VectorWork:
    """One queued change of the vector index: upsert a chunk's vector (with its filter fields) or delete it."""

    seq: int
    chunk_id: str
    op: Literal["upsert", "delete"]
    chunk: Chunk | None  # None when the chunk is gone: nothing to upsert
    document_id: str | None = None
    kind: str | None = None
    outcome: str | None = None
    industry: str | None = None
    tags: list[str] = field(default_factory=list)


def shown_title(title: str | None, path: str) -> str:
    """How a document is named to people: its title, or its file name when it has none."""
    return title or path.replace("\\", "/").rsplit("/", 1)[-1]


@dataclass
class Document:
    id: str
    path: str
    title: str
    format: str
    kind: LessonKind
    content_hash: str
    metadata: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    lesson_count: int = 0
    ingested_at: str = ""


# --- search ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchFilters:
    kind: str | None = None
    outcome: str | None = None
    tag: str | None = None
    industry: str | None = None
    source: str | None = None

    def is_empty(self) -> bool:
        return not any((self.kind, self.outcome, self.tag, self.industry, self.source))


@dataclass
class SearchResult:
    lesson_id: str
    title: str
    text: str
    heading_path: tuple[str, ...]
    source: str
    score: float
    chunk_id: str = ""
    highlights: list[tuple[int, int]] = field(default_factory=list)
    kind: str = "playbook"
    outcome: str | None = None
    tags: list[str] = field(default_factory=list)
    similarity: float | None = None  # cosine of the best chunk to the query, when dense retrieval found it
    document: str = ""  # the document's title (its file name when it has none)

    def to_json(self) -> dict[str, Any]:
        return {
            "lesson_id": self.lesson_id,
            "title": self.title,
            "text": self.text,
            "heading_path": list(self.heading_path),
            "source": self.source,
            "document": self.document,
            "score": round(self.score, 6),
            "highlights": [list(span) for span in self.highlights],
            "kind": self.kind,
            "outcome": self.outcome,
            "tags": self.tags,
        }
