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
# Where a lesson stands in its lifecycle (kb/lifecycle.py; README "Lesson lifecycle"). Derived from its dates, not stored.
LessonState = Literal["unverified", "verified", "stale", "recheck", "archived"]
LESSON_STATES: tuple[LessonState, ...] = ("unverified", "verified", "stale", "recheck", "archived")
# A lesson is due for verification this many days before its verify-by date (the queue's default window).
DUE_SOON_DAYS = 14
# How long a lesson stays in date after it is written or verified, unless KB_VERIFY_DAYS says otherwise.
VERIFY_DAYS = 180

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
class Lifecycle:
    """Who answers for a lesson and until when it is trusted; dates are ISO (``verify_by`` a day, the others UTC times).

    ``stale`` is derived when the catalog reads the lesson: its verify-by day has passed. ``recheck_of`` names a
    newer lesson that says nearly the same, against which this one is to be checked.
    """

    owner: str | None = None  # an account name; None: nobody owns it (a CLI ingest)
    verify_by: str | None = None
    verified_at: str | None = None
    verified_by: str | None = None
    archived_at: str | None = None
    recheck_of: str | None = None
    stale: bool = False

    @property
    def state(self) -> LessonState:
        if self.archived_at:
            return "archived"
        if self.stale:
            return "stale"
        if self.recheck_of:
            return "recheck"
        return "verified" if self.verified_at else "unverified"

    def carried_to(self, fresh: "Lifecycle", *, changed: bool) -> "Lifecycle":
        """This (stored) state for the same lesson ingested again: kept whole when its text is unchanged; else
        still owned and archived as it was, but unverified again with ``fresh``'s verify-by date."""
        if not changed:
            return self
        return Lifecycle(owner=self.owner, verify_by=fresh.verify_by, archived_at=self.archived_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "stale": self.stale,
            "owner": self.owner,
            "verify_by": self.verify_by,
            "verified_at": self.verified_at,
            "verified_by": self.verified_by,
            "archived": self.archived_at is not None,
            "archived_at": self.archived_at,
            "recheck_of": self.recheck_of,
        }


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
    # Win/loss drivers of a lesson of a review's lessons-learned list (kb/drivers.py): confirmed by the rep, or
    # suggested at ingest; None for every other lesson.
    drivers: list[str] | None = field(default=None, compare=False)
    drivers_confirmed: bool = field(default=False, compare=False)
    lifecycle: Lifecycle = field(default_factory=Lifecycle, compare=False)

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
    stale: bool = False  # past its verify-by date (ranked lower, still shown)
    verify_by: str | None = None
    owner: str | None = None

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
            "stale": self.stale,
            "verify_by": self.verify_by,
            "owner": self.owner,
        }
