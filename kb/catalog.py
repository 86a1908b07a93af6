"""The catalog: SQLite (WAL) system of record for documents, lessons, chunks and the lexical index.

All SQL of kb lives here. The FTS5 table indexes jieba tokens of the folded chunk text, so
content is searchable the moment the transaction that stored it commits.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.domain import VERIFY_DAYS, Chunk, Document, Lesson, LessonState, Lifecycle, SearchFilters, VectorWork, shown_title
from kb.errors import StoreError
from kb.textnorm import TOKENIZER, tokenize

if TYPE_CHECKING:  # numpy loads where vectors are read or written, not for every command
    import numpy as np

# The meta key that names the tokenizer of the stored lexical tokens.
TOKENIZER_KEY = "lexical.tokenizer"
ACTIVE_KEY = "vectors.collection"
STORE_KEY = "vectors.store_id"


_M001_CORE = """
        CREATE TABLE documents (
            id TEXT PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL,
            format TEXT NOT NULL,
            kind TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}',
            summary TEXT NOT NULL DEFAULT '',
            ingested_at TEXT NOT NULL
        );
        CREATE TABLE lessons (
            id TEXT PRIMARY KEY,
            document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL,
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            heading_path TEXT NOT NULL,
            kind TEXT NOT NULL,
            source TEXT NOT NULL,
            outcome TEXT,
            industry TEXT,
            fields TEXT NOT NULL DEFAULT '{}',
            content_hash TEXT NOT NULL
        );
        CREATE INDEX lessons_document ON lessons(document_id);
        CREATE TABLE lesson_tags (
            lesson_id TEXT NOT NULL REFERENCES lessons(id) ON DELETE CASCADE,
            tag TEXT NOT NULL,
            PRIMARY KEY (lesson_id, tag)
        );
        CREATE INDEX lesson_tags_tag ON lesson_tags(tag);
        CREATE TABLE chunks (
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            lesson_id TEXT NOT NULL REFERENCES lessons(id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL,
            text TEXT NOT NULL,
            context TEXT NOT NULL,
            tokens TEXT NOT NULL
        );
        CREATE INDEX chunks_lesson ON chunks(lesson_id);
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            tokens, content='chunks', content_rowid='rowid', tokenize='unicode61 remove_diacritics 0'
        );
        CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts(rowid, tokens) VALUES (new.rowid, new.tokens);
        END;
        CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
            INSERT INTO chunks_fts(chunks_fts, rowid, tokens) VALUES ('delete', old.rowid, old.tokens);
        END;
        CREATE TABLE embedding_cache (
            model TEXT NOT NULL,
            text_hash TEXT NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (model, text_hash)
        );
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_M002_LESSON_TITLES = """
        ALTER TABLE lessons ADD COLUMN title_tokens TEXT NOT NULL DEFAULT '';
        CREATE VIRTUAL TABLE lessons_fts USING fts5(
            title_tokens, content='lessons', content_rowid='rowid', tokenize='unicode61 remove_diacritics 0'
        );
        CREATE TRIGGER lessons_ai AFTER INSERT ON lessons BEGIN
            INSERT INTO lessons_fts(rowid, title_tokens) VALUES (new.rowid, new.title_tokens);
        END;
        CREATE TRIGGER lessons_ad AFTER DELETE ON lessons BEGIN
            INSERT INTO lessons_fts(lessons_fts, rowid, title_tokens) VALUES ('delete', old.rowid, old.title_tokens);
        END;
        CREATE TRIGGER lessons_au AFTER UPDATE OF title_tokens ON lessons BEGIN
            INSERT INTO lessons_fts(lessons_fts, rowid, title_tokens) VALUES ('delete', old.rowid, old.title_tokens);
            INSERT INTO lessons_fts(rowid, title_tokens) VALUES (new.rowid, new.title_tokens);
        END;
"""

_M003_PEOPLE_AND_CURATION = """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            role TEXT NOT NULL CHECK (role IN ('reader', 'rep', 'trainer', 'admin')),
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE api_tokens (
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            label TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
        CREATE TABLE review_authors (
            document_id TEXT PRIMARY KEY,
            user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE lesson_sets (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            audience TEXT NOT NULL DEFAULT '',
            description TEXT NOT NULL DEFAULT '',
            owner_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE lesson_set_items (
            set_id INTEGER NOT NULL REFERENCES lesson_sets(id) ON DELETE CASCADE,
            lesson_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (set_id, lesson_id)
        );
        CREATE TABLE query_log (
            id INTEGER PRIMARY KEY,
            query TEXT NOT NULL,
            result_count INTEGER NOT NULL,
            top_score REAL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX query_log_created ON query_log(created_at);
"""

# The lexical index's own per-term document counts: a lookup, where counting MATCH rows scans postings.
_M004_CHUNK_VOCABULARY = """
        CREATE VIRTUAL TABLE chunks_vocab USING fts5vocab(chunks_fts, 'row');
"""

# The transactional outbox of the vector index: every change of chunks queues the vector work it
# implies in the same transaction, and the process that owns the vector store applies and removes it.
# Vectors are derived data; whatever was interrupted stays queued until it is done.
_MI7_VECTOR_OUTBOX = """
        CREATE TABLE vector_outbox (
            seq INTEGER PRIMARY KEY,
            chunk_id TEXT NOT NULL UNIQUE,
            op TEXT NOT NULL CHECK (op IN ('upsert', 'delete'))
        );
        -- data dirs of kb 0.1 keep their one vector collection
        INSERT INTO meta (key, value) SELECT 'vectors.collection', 'chunks' WHERE EXISTS (SELECT 1 FROM chunks);
"""

# Accounts that can be ended: disabled users, tokens that show their last use, server-side sessions
# (only a hash of the session id is stored, as for tokens).
_I8_ACCOUNTS = """
        ALTER TABLE users ADD COLUMN disabled_at TEXT;
        ALTER TABLE api_tokens ADD COLUMN last_used_at TEXT;
        CREATE TABLE sessions (
            id_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL
        );
        CREATE INDEX sessions_user ON sessions(user_id);
"""

# Whether search judged a logged query's best result a weak match: the knowledge-gap report lists those.
_I9_WEAK_QUERIES = """
        ALTER TABLE query_log ADD COLUMN weak INTEGER NOT NULL DEFAULT 0;
"""

# A counter bumped by every chunk insert or delete, so in-memory search indexes know when to reload.
_I9_CHUNK_GENERATION = """
        CREATE TABLE chunk_generation (n INTEGER NOT NULL);
        INSERT INTO chunk_generation (n) VALUES (0);
        CREATE TRIGGER chunks_generation_ai AFTER INSERT ON chunks BEGIN UPDATE chunk_generation SET n = n + 1; END;
        CREATE TRIGGER chunks_generation_ad AFTER DELETE ON chunks BEGIN UPDATE chunk_generation SET n = n + 1; END;
"""

# The paragraphs of each document by hash, per source (the folder it came from), and whether the document
# kept them: a paragraph that another document of the source keeps is boilerplate (a newsletter's intro).
_I10_DOCUMENT_PARAGRAPHS = """
        CREATE TABLE document_paragraphs (
            document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            source TEXT NOT NULL,
            hash TEXT NOT NULL,
            kept INTEGER NOT NULL,
            PRIMARY KEY (document_id, hash)
        );
        CREATE INDEX document_paragraphs_source ON document_paragraphs(source, hash);
"""

# Search filters by kind, outcome and industry: without these a filter scanned every lesson (211 ms at
# 92,000 lessons in `kb bench search`).
_I12_LESSON_FILTER_INDEXES = """
        CREATE INDEX lessons_kind_outcome ON lessons(kind, outcome);
        CREATE INDEX lessons_outcome ON lessons(outcome);
        CREATE INDEX lessons_industry ON lessons(industry);
"""

# The chunks' full-text index: search scores chunks in memory from their stored tokens (search/signals.py), so
# it was only kept up to date, at a quarter of a millisecond per chunk written (0.71 vs 0.06 s for 2,788 chunks).
_I12_NO_CHUNK_FULL_TEXT = """
        DROP TRIGGER chunks_ai;
        DROP TRIGGER chunks_ad;
        DROP TABLE chunks_vocab;
        DROP TABLE chunks_fts;
"""

# Lessons by their own heading: a playbook finds the sections of its source that share a title with its own
# (boilerplate.qualify_recurring_titles) by this index, not by reading every lesson of the source (20 ms → 0.1 ms
# at 18,000 lessons, once per playbook ingested).
_I12_LESSON_HEADING_INDEX = """
        CREATE INDEX lessons_heading ON lessons(json_extract(heading_path, '$[#-1]'));
"""

# Chunk rowids that only grow: search indexes the chunks written since its index was built as those past the
# index's last rowid, and SQLite gives a new row the largest rowid + 1, so re-writing the file ingested last
# reused its old chunks' rowids and hid the new ones. Inserts take the high-water mark + 1.
_I12_GROWING_CHUNK_ROWIDS = """
        ALTER TABLE chunk_generation ADD COLUMN top_rowid INTEGER NOT NULL DEFAULT 0;
        UPDATE chunk_generation SET top_rowid = (SELECT coalesce(max(rowid), 0) FROM chunks);
        DROP TRIGGER chunks_generation_ai;
        CREATE TRIGGER chunks_generation_ai AFTER INSERT ON chunks BEGIN
            UPDATE chunk_generation SET n = n + 1, top_rowid = max(top_rowid, new.rowid);
        END;
"""

# Row counts kept by triggers (as sqlite-utils' enable_counts does), so `kb stats` and the pages that show
# counts read one small table instead of counting: the 363,972 embedding-cache rows of a 100,000-chunk base
# took 27-38 ms to count with the pages cached, over 2 s without.
COUNTED = {
    "documents": "SELECT count(*) FROM documents",
    "reviews": "SELECT count(*) FROM documents WHERE kind = 'review'",
    "lessons": "SELECT count(*) FROM lessons",
    "review_lessons": "SELECT count(*) FROM lessons WHERE kind = 'review'",
    "chunks": "SELECT count(*) FROM chunks",
    "cached_embeddings": "SELECT count(*) FROM embedding_cache",
}


def _count_triggers(table: str, name: str, reviews: str | None = None) -> str:
    """Triggers that keep ``name`` (and ``reviews``, the rows of kind 'review') counting the table's rows."""
    review = f" OR (name = '{reviews}' AND {{row}}.kind = 'review')" if reviews else ""
    sql = f"""
        CREATE TRIGGER {table}_count_ai AFTER INSERT ON {table} BEGIN
            UPDATE table_counts SET n = n + 1 WHERE name = '{name}'{review.format(row="new")};
        END;
        CREATE TRIGGER {table}_count_ad AFTER DELETE ON {table} BEGIN
            UPDATE table_counts SET n = n - 1 WHERE name = '{name}'{review.format(row="old")};
        END;"""
    if reviews:
        sql += f"""
        CREATE TRIGGER {table}_count_au AFTER UPDATE OF kind ON {table} BEGIN
            UPDATE table_counts SET n = n + (new.kind IS 'review') - (old.kind IS 'review') WHERE name = '{reviews}';
        END;"""
    return sql


_I12_TABLE_COUNTS = (
    """
        CREATE TABLE table_counts (name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
"""
    + "".join(f"        INSERT INTO table_counts (name, n) VALUES ('{name}', ({sql}));\n" for name, sql in COUNTED.items())
    + _count_triggers("documents", "documents", "reviews")
    + _count_triggers("lessons", "lessons", "review_lessons")
    + _count_triggers("chunks", "chunks")
    + _count_triggers("embedding_cache", "cached_embeddings")
)

# How many lessons have each kind, outcome, industry and tag, kept the same way: `kb stats` and the insights page
# group 91,740 lessons and 111,076 tags in one small table instead of scanning three indexes (39 ms at 100,000
# chunks). A lesson without an outcome or industry counts under ''.
VALUE_COUNTED = {
    "kind": "SELECT coalesce(kind, ''), count(*) FROM lessons GROUP BY 1",
    "outcome": "SELECT coalesce(outcome, ''), count(*) FROM lessons GROUP BY 1",
    "industry": "SELECT coalesce(industry, ''), count(*) FROM lessons GROUP BY 1",
    "tag": "SELECT tag, count(*) FROM lesson_tags GROUP BY 1",
}


def _value_count_triggers(table: str, columns: Sequence[str]) -> str:
    """Triggers that keep value_counts counting the rows of ``table`` by each of ``columns``."""

    def values(row: str, then: str = "") -> str:
        return ", ".join(f"('{column}', coalesce({row}.{column}, ''){then})" for column in columns)

    increment = f"INSERT INTO value_counts (col, value, n) VALUES {values('new', ', 1')} ON CONFLICT (col, value) DO UPDATE SET n = n + 1;"
    decrement = f"UPDATE value_counts SET n = n - 1 WHERE (col, value) IN (VALUES {values('old')});"
    return f"""
        CREATE TRIGGER {table}_values_ai AFTER INSERT ON {table} BEGIN
            {increment}
        END;
        CREATE TRIGGER {table}_values_ad AFTER DELETE ON {table} BEGIN
            {decrement}
        END;
        CREATE TRIGGER {table}_values_au AFTER UPDATE OF {", ".join(columns)} ON {table} BEGIN
            {decrement}
            {increment}
        END;"""


_I12_VALUE_COUNTS = (
    """
        CREATE TABLE value_counts (col TEXT NOT NULL, value TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (col, value)) WITHOUT ROWID;
"""
    + "".join(f"        INSERT INTO value_counts (col, value, n) SELECT '{column}', * FROM ({sql});\n" for column, sql in VALUE_COUNTED.items())
    + _value_count_triggers("lessons", ("kind", "outcome", "industry"))
    + _value_count_triggers("lesson_tags", ("tag",))
)

# The filter indexes hold the lesson's id too, so a filtered search reads the ids it lets through from the index
# alone: 15.4 -> 4.3 ms a filter (p50 of the bench's 66 filters at 100,000 chunks, warm); without it each lesson
# is a lookup in the table, scattered over a file of 1.4 GB when its pages are not in memory.
_I12_COVERING_FILTER_INDEXES = """
        DROP INDEX lessons_kind_outcome;
        DROP INDEX lessons_outcome;
        DROP INDEX lessons_industry;
        CREATE INDEX lessons_kind_outcome ON lessons(kind, outcome, id);
        CREATE INDEX lessons_outcome ON lessons(outcome, id);
        CREATE INDEX lessons_industry ON lessons(industry, kind, outcome, id);
        DROP INDEX lesson_tags_tag;
        CREATE INDEX lesson_tags_tag ON lesson_tags(tag, lesson_id);
"""

# The lesson lifecycle (README "Lesson lifecycle"): each lesson's owner (an account), the day it must be verified by,
# who verified it and when, when it was archived (out of search, kept) and the newer lesson it is to be re-checked
# against. Lessons already stored get their document's ingest day + 180 days (KB_VERIFY_DAYS' default; the setting is
# not known to the catalog) and, for reviews submitted through kb, their author as owner. The indexes serve what
# reads the lifecycle often: search's per-query look-up of archived and stale candidates by id, the due queue and the
# trust counts (both read the second index alone), a person's own queue. A logged search records whether its top
# result was stale.
_I23_LESSON_LIFECYCLE = f"""
        ALTER TABLE lessons ADD COLUMN owner_id INTEGER REFERENCES users(id) ON DELETE SET NULL;
        ALTER TABLE lessons ADD COLUMN verify_by TEXT;
        ALTER TABLE lessons ADD COLUMN verified_at TEXT;
        ALTER TABLE lessons ADD COLUMN verified_by_id INTEGER REFERENCES users(id) ON DELETE SET NULL;
        ALTER TABLE lessons ADD COLUMN archived_at TEXT;
        ALTER TABLE lessons ADD COLUMN recheck_of TEXT;
        UPDATE lessons SET
            verify_by = date((SELECT d.ingested_at FROM documents d WHERE d.id = lessons.document_id), '+{VERIFY_DAYS} days'),
            owner_id = (SELECT r.user_id FROM review_authors r WHERE r.document_id = lessons.document_id);
        CREATE INDEX lessons_state ON lessons(id, archived_at, verify_by);
        CREATE INDEX lessons_due ON lessons(archived_at, verify_by, verified_at, recheck_of);
        CREATE INDEX lessons_owner ON lessons(owner_id, verify_by);
        ALTER TABLE query_log ADD COLUMN top_stale INTEGER;
"""

# The gap queue (README "Gap queue"): searches search called weak, grouped by meaning into gaps a trainer assigns,
# answers (with a lesson, or because search now finds one) or dismisses. A gap's questions are its distinct wordings,
# by folded key, each with the vector it was grouped by (float32, the engine's own dimension) and how often it was asked.
_I23_GAP_QUEUE = """
        CREATE TABLE gaps (
            id INTEGER PRIMARY KEY,
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'dismissed')),
            assignee_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
            answer_lesson_id TEXT,
            answered_how TEXT CHECK (answered_how IN ('lesson', 'search')),
            closed_by_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
            closed_at TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX gaps_status ON gaps(status, id);
        CREATE TABLE gap_questions (
            id INTEGER PRIMARY KEY,
            gap_id INTEGER NOT NULL REFERENCES gaps(id) ON DELETE CASCADE,
            question TEXT NOT NULL,
            key TEXT NOT NULL UNIQUE,
            vector BLOB NOT NULL,
            asked INTEGER NOT NULL DEFAULT 1,
            weak INTEGER NOT NULL DEFAULT 1,
            first_asked TEXT NOT NULL,
            last_asked TEXT NOT NULL,
            last_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL
        );
        CREATE INDEX gap_questions_gap ON gap_questions(gap_id);
        ALTER TABLE query_log ADD COLUMN gap_id INTEGER REFERENCES gaps(id) ON DELETE SET NULL;
"""

# Win/loss drivers (README "Win/loss drivers"): one row per lesson of a review's lessons-learned list, with the drivers
# (ids of the taxonomy's ``drivers``, a JSON list, possibly empty) the rep confirmed or, unconfirmed, kb suggested at
# ingest. Reviews ingested before this migration get their suggestions on the next ingest of the file or `kb reindex`.
_I23_REVIEW_DRIVERS = """
        CREATE TABLE lesson_drivers (
            lesson_id TEXT PRIMARY KEY REFERENCES lessons(id) ON DELETE CASCADE,
            drivers TEXT NOT NULL DEFAULT '[]',
            confirmed INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
"""

# Named, ordered schema changes; each runs once, in one transaction, and is recorded.
MIGRATIONS: list[tuple[str, str]] = [
    ("001_core", _M001_CORE),
    ("002_lesson_titles", _M002_LESSON_TITLES),
    ("003_people_and_curation", _M003_PEOPLE_AND_CURATION),
    ("004_chunk_vocabulary", _M004_CHUNK_VOCABULARY),
    ("i7_vector_outbox", _MI7_VECTOR_OUTBOX),
    ("i8_accounts", _I8_ACCOUNTS),
    ("i9_chunk_generation", _I9_CHUNK_GENERATION),
    ("i9_weak_queries", _I9_WEAK_QUERIES),
    ("i10_document_paragraphs", _I10_DOCUMENT_PARAGRAPHS),
    ("i12_lesson_filter_indexes", _I12_LESSON_FILTER_INDEXES),
    ("i12_no_chunk_full_text", _I12_NO_CHUNK_FULL_TEXT),
    ("i12_lesson_heading_index", _I12_LESSON_HEADING_INDEX),
    ("i12_growing_chunk_rowids", _I12_GROWING_CHUNK_ROWIDS),
    ("i12_table_counts", _I12_TABLE_COUNTS),
    ("i12_value_counts", _I12_VALUE_COUNTS),
    ("i12_covering_filter_indexes", _I12_COVERING_FILTER_INDEXES),
    ("i23_lesson_lifecycle", _I23_LESSON_LIFECYCLE),
    ("i23_gap_queue", _I23_GAP_QUEUE),
    ("i23_review_drivers", _I23_REVIEW_DRIVERS),
]


# Values bound in one "IN (…)" list: well under SQLite's limit on a statement's variables.
IN_BATCH = 500


def _in_batches(values: Sequence[str]) -> Iterator[tuple[list[str], str]]:
    """The distinct values IN_BATCH at a time, each batch with its "?,?,…" placeholders."""
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), IN_BATCH):
        batch = unique[start : start + IN_BATCH]
        yield batch, ",".join("?" * len(batch))


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def utc_today() -> date:
    """Today in UTC: the day verify-by dates are compared with."""
    return datetime.now(timezone.utc).date()


class Catalog:
    """Opens one SQLite connection per thread (the web app serves requests from a thread pool)."""

    # How long a writer waits for another connection's write transaction before giving up.
    BUSY_TIMEOUT_S = 30.0
    # WAL pages between checkpoints while a bulk write runs (SQLite's default is 1,000, about 4 MB).
    BULK_CHECKPOINT_PAGES = 16384

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self.db.execute("PRAGMA journal_mode=WAL")
        self._migrate()
        self._match_tokenizer()

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=self.BUSY_TIMEOUT_S)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA foreign_keys=ON")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
            with self._connections_lock:
                self._connections.append(connection)
        return connection

    def close(self) -> None:
        with self._connections_lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()

    def _migrate(self) -> None:
        self.db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        done = {row["name"] for row in self.db.execute("SELECT name FROM migrations")}
        unknown = sorted(done - {name for name, _ in MIGRATIONS})
        if unknown:
            raise StoreError(
                f"{self.path} was written by another version of kb (schema changes unknown here: {', '.join(unknown)}); "
                "use that version, or `kb export` there and `kb import` here"
            )
        for name, script in MIGRATIONS:
            if name in done:
                continue
            try:
                self.db.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\n"
                    f"INSERT INTO migrations (name, applied_at) VALUES ('{name}', '{utc_now()}');\nCOMMIT;"
                )
            except sqlite3.Error:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def _match_tokenizer(self) -> None:
        """Stored tokens come from the current tokenizer: a catalog written with another one is retokenized once."""
        if self.get_meta(TOKENIZER_KEY) == TOKENIZER:
            return
        if self.db.execute("SELECT 1 FROM lessons LIMIT 1").fetchone():
            self.retokenize()
        self.set_meta(TOKENIZER_KEY, TOKENIZER)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @contextmanager
    def bulk_writes(self) -> Iterator[None]:
        """Checkpoint the WAL less often while many transactions follow one another, and once at the end.

        Every checkpoint copies the pages written since into the database file and syncs it; the same pages
        (indexes, counts) are rewritten by every document, so fewer checkpoints copy far less: a 4,000-chunk
        synthetic ingest took 9.4-9.6 s with SQLite's default and 8.6 s with this.
        """
        db = self.db
        (pages,) = db.execute("PRAGMA wal_autocheckpoint").fetchone()
        db.execute(f"PRAGMA wal_autocheckpoint={self.BULK_CHECKPOINT_PAGES}")
        try:
            yield
        finally:
            db.execute(f"PRAGMA wal_autocheckpoint={pages}")
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    # --- meta ---------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def set_meta_once(self, key: str, value: str) -> None:
        """Set a value unless one is set (by this or another process)."""
        self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING", (key, value))

    def delete_meta(self, key: str) -> None:
        self.db.execute("DELETE FROM meta WHERE key = ?", (key,))

    def vector_store_prefix(self) -> str:
        """The prefix of this data dir's Chroma collections: several data dirs may share one Chroma server."""
        if self.get_meta(STORE_KEY) is None:
            self.set_meta_once(STORE_KEY, secrets.token_hex(6))
        return f"kb-{self.get_meta(STORE_KEY)}-"

    def active_collection(self) -> str:
        """The Chroma collection searches read (data dirs of kb 0.1 keep their one collection, ``chunks``)."""
        if self.get_meta(ACTIVE_KEY) is None:
            self.set_meta_once(ACTIVE_KEY, self.vector_store_prefix() + "0")
        return self.get_meta(ACTIVE_KEY)

    # --- documents ----------------------------------------------------------------------

    def document_by_path(self, path: str) -> Document | None:
        row = self.db.execute(f"{_DOCUMENT_SELECT} WHERE d.path = ? GROUP BY d.id", (path,)).fetchone()
        return _document(row) if row else None

    def get_document(self, document_id: str) -> Document | None:
        row = self.db.execute(f"{_DOCUMENT_SELECT} WHERE d.id = ? GROUP BY d.id", (document_id,)).fetchone()
        return _document(row) if row else None

    def document_titles(self, document_ids: Sequence[str]) -> dict[str, str]:
        """Document id → its title, or its file name when it has none."""
        unique = list(dict.fromkeys(document_ids))
        marks = ",".join("?" * len(unique))
        rows = self.db.execute(f"SELECT id, title, path FROM documents WHERE id IN ({marks})", unique) if unique else []
        return {r["id"]: shown_title(r["title"], r["path"]) for r in rows}

    def list_documents(self) -> list[Document]:
        rows = self.db.execute(f"{_DOCUMENT_SELECT} GROUP BY d.id ORDER BY d.path").fetchall()
        return [_document(r) for r in rows]

    def document_by_content_hash(self, content_hash: str) -> Document | None:
        """A document whose file had exactly these bytes (sha256), if any: an upload of it adds nothing."""
        row = self.db.execute(
            f"{_DOCUMENT_SELECT} WHERE d.content_hash = ? GROUP BY d.id ORDER BY d.ingested_at LIMIT 1", (content_hash,)
        ).fetchone()
        return _document(row) if row else None

    def document_ids_for_source(self, source: str) -> list[str]:
        """Documents a source filter names: by id, path, or part of the path."""
        clause, params = source_filter_sql(source)
        rows = self.db.execute(f"SELECT d.id FROM documents d WHERE {clause}", params)
        return [r["id"] for r in rows]

    def replace_document(
        self,
        document: Document,
        lessons: Sequence[Lesson],
        chunks: Sequence[Chunk],
        paragraphs: Sequence[tuple[str, str, bool]] = (),
        *,
        review_author: str | None = None,
        embeddings: Sequence[tuple[str, str, np.ndarray]] = (),
    ) -> None:
        """Store a document with its lessons and chunks, replacing an earlier version, and queue its vector work.

        ``paragraphs`` are (source, hash, kept) of the document's paragraphs, for boilerplate across documents.
        ``review_author`` names the account that submitted a review through kb; it is recorded in the
        same transaction, so a review never exists without its author or the other way round.
        ``embeddings`` are embedding-cache entries computed for the document, written in the same transaction
        (one commit per document instead of one per engine and view).
        """
        with self.transaction():
            self._replace_document(document, lessons, chunks, paragraphs, review_author=review_author)
            self.store_embeddings(embeddings)

    def _replace_document(
        self,
        document: Document,
        lessons: Sequence[Lesson],
        chunks: Sequence[Chunk],
        paragraphs: Sequence[tuple[str, str, bool]] = (),
        *,
        review_author: str | None,
    ) -> None:
        stored = self._stored_lifecycles(document.id)
        self._delete_document(document.id)
        self.db.execute(
            "INSERT INTO documents (id, path, title, format, kind, content_hash, metadata, summary, ingested_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                document.id,
                document.path,
                document.title,
                document.format,
                document.kind,
                document.content_hash,
                json.dumps(document.metadata, ensure_ascii=False, default=str),
                document.summary,
                document.ingested_at or utc_now(),
            ),
        )
        # A lesson ingested again keeps its stored state (Lifecycle.carried_to), read inside this transaction so that
        # a verification made meanwhile is not lost.
        lifecycles = [
            stored[lesson.id][1].carried_to(lesson.lifecycle, changed=stored[lesson.id][0] != lesson.content_hash)
            if lesson.id in stored
            else lesson.lifecycle
            for lesson in lessons
        ]
        self.db.executemany(
            "INSERT INTO lessons (id, document_id, ordinal, title, body, heading_path, kind, source, outcome, "
            "industry, fields, content_hash, title_tokens, owner_id, verify_by, verified_at, verified_by_id, archived_at, "
            "recheck_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            f"({_USER_ID}), ?, ?, ({_USER_ID}), ?, ?)",
            [
                (
                    lesson.id,
                    document.id,
                    lesson.ordinal,
                    lesson.title,
                    lesson.body,
                    json.dumps(list(lesson.heading_path), ensure_ascii=False),
                    lesson.kind,
                    lesson.source,
                    lesson.fields.get("outcome"),
                    lesson.fields.get("industry"),
                    json.dumps(lesson.fields, ensure_ascii=False, default=str),
                    lesson.content_hash,
                    " ".join(tokenize(title_text(lesson))),
                    lifecycle.owner,
                    lifecycle.verify_by,
                    lifecycle.verified_at,
                    lifecycle.verified_by,
                    lifecycle.archived_at,
                    lifecycle.recheck_of,
                )
                for lesson, lifecycle in zip(lessons, lifecycles)
            ],
        )
        self.db.executemany(
            "INSERT INTO lesson_tags (lesson_id, tag) VALUES (?, ?)",
            [(lesson.id, tag) for lesson in lessons for tag in dict.fromkeys(lesson.tags)],
        )
        self.db.executemany(
            "INSERT INTO lesson_drivers (lesson_id, drivers, confirmed) VALUES (?, ?, ?)",
            [_driver_row(lesson) for lesson in lessons if lesson.drivers is not None],
        )
        self.db.executemany(
            "INSERT INTO chunks (rowid, id, lesson_id, ordinal, text, context, tokens) "
            "VALUES ((SELECT top_rowid + 1 FROM chunk_generation), ?, ?, ?, ?, ?, ?)",
            [
                (c.id, c.lesson_id, c.ordinal, c.text, c.context, " ".join(tokenize(c.index_text)))
                for c in chunks
            ],
        )
        self._queue_vectors([c.id for c in chunks], "upsert")
        self.db.executemany(
            "INSERT OR IGNORE INTO document_paragraphs (document_id, source, hash, kept) VALUES (?, ?, ?, ?)",
            [(document.id, source, digest, int(kept)) for source, digest, kept in paragraphs],
        )
        if review_author is not None:
            self.db.execute(
                "INSERT INTO review_authors (document_id, user_id, created_at) "
                "SELECT ?, id, ? FROM users WHERE name = ? ON CONFLICT(document_id) DO NOTHING",
                (document.id, utc_now(), review_author),
            )

    def _stored_lifecycles(self, document_id: str) -> dict[str, tuple[str, Lifecycle]]:
        """Lesson id → (content hash, lifecycle) of the document's stored lessons."""
        rows = self.db.execute(f"SELECT l.id, l.content_hash, {_LIFECYCLE_COLUMNS} FROM lessons l WHERE l.document_id = ?", (document_id,))
        return {row["id"]: (row["content_hash"], _lifecycle(row)) for row in rows}

    # --- boilerplate across the documents of one source ------------------------------------

    def paragraphs_kept_elsewhere(self, source: str, document_id: str, hashes: Sequence[str]) -> set[str]:
        """Which of these paragraph hashes another document of the source already keeps."""
        found: set[str] = set()
        for batch, marks in _in_batches(hashes):
            found.update(
                row["hash"]
                for row in self.db.execute(
                    f"SELECT DISTINCT hash FROM document_paragraphs WHERE source = ? AND document_id != ? AND kept = 1 AND hash IN ({marks})",
                    (source, document_id, *batch),
                )
            )
        return found

    def headings_in_source(self, source: str, document_id: str, titles: Sequence[str]) -> tuple[set[str], list[tuple[str, str, str]]]:
        """Which of ``titles`` also head lessons of other documents of the source, and (lesson id, document title,
        heading) of those lessons that are still titled by the bare heading."""
        if not titles:
            return set(), []
        marks = ",".join("?" * len(titles))
        heading = "json_extract(l.heading_path, '$[#-1]')"  # as lessons_heading indexes it
        # EXISTS probes the paragraphs' primary key per matching lesson (the unary + keeps it off the source
        # index); listing the source's documents read all their paragraphs on every call instead, a cost that grew
        # with the source (5 s of a 20,000-chunk ingest).
        matching = (
            f"FROM lessons l JOIN documents d ON d.id = l.document_id WHERE {heading} IN ({marks}) AND l.document_id != ? "
            "AND EXISTS (SELECT 1 FROM document_paragraphs p WHERE p.document_id = l.document_id AND +p.source = ?)"
        )
        # One pass over the matching lessons answers both: the last column says the lesson is still bare.
        found = self.db.execute(f"SELECT l.id, d.title, {heading}, l.title = {heading} {matching}", (*titles, document_id, source))
        rows = [tuple(row) for row in found]
        return {row[2] for row in rows}, [row[:3] for row in rows if row[3]]

    def retitle_lesson(self, lesson_id: str, title: str) -> None:
        with self.transaction():
            row = self.db.execute("SELECT heading_path FROM lessons WHERE id = ?", (lesson_id,)).fetchone()
            tokens = " ".join(tokenize(_title_path_text(json.loads(row["heading_path"]) if row else [], title)))
            self.db.execute("UPDATE lessons SET title = ?, title_tokens = ? WHERE id = ?", (title, tokens, lesson_id))

    def delete_document(self, document_id: str) -> None:
        with self.transaction():
            self._delete_document(document_id)

    def _delete_document(self, document_id: str) -> None:
        removed = [
            row["id"]
            for row in self.db.execute(
                "SELECT c.id FROM chunks c JOIN lessons l ON l.id = c.lesson_id WHERE l.document_id = ?", (document_id,)
            )
        ]
        # Chunks go first, one by one through the trigger, so the FTS index forgets them.
        self.db.execute("DELETE FROM chunks WHERE lesson_id IN (SELECT id FROM lessons WHERE document_id = ?)", (document_id,))
        self.db.execute("DELETE FROM documents WHERE id = ?", (document_id,))
        self._queue_vectors(removed, "delete")

    # --- the vector outbox --------------------------------------------------------------

    def _queue_vectors(self, chunk_ids: Sequence[str], op: str) -> None:
        """Queue vector work inside the caller's transaction; a later op on a chunk replaces an earlier one."""
        self.db.executemany(
            "INSERT INTO vector_outbox (chunk_id, op) VALUES (?, ?) "
            "ON CONFLICT(chunk_id) DO UPDATE SET op = excluded.op, seq = (SELECT coalesce(max(seq), 0) + 1 FROM vector_outbox)",
            [(chunk_id, op) for chunk_id in chunk_ids],
        )

    def queue_vectors(self, chunk_ids: Sequence[str], op: str) -> None:
        with self.transaction():
            self._queue_vectors(chunk_ids, op)

    def pending_vector_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM vector_outbox").fetchone()[0])

    def pending_vectors(self, limit: int) -> list[VectorWork]:
        """The oldest queued vector work, with what an upsert needs: the chunk's text and filter fields."""
        rows = self.db.execute(
            """
            SELECT o.seq, o.chunk_id, o.op, c.text, c.context, c.lesson_id, l.document_id, l.kind, l.outcome, l.industry,
                   (SELECT group_concat(tag, '\x1f') FROM lesson_tags t WHERE t.lesson_id = l.id) AS tag_list
            FROM vector_outbox o
            LEFT JOIN chunks c ON c.id = o.chunk_id
            LEFT JOIN lessons l ON l.id = c.lesson_id
            ORDER BY o.seq LIMIT ?
            """,
            (limit,),
        ).fetchall()
        return [_vector_work(r) for r in rows]

    def all_vector_work(self, *, after_rowid: int = 0, limit: int = 512) -> list[VectorWork]:
        """Upserts for stored chunks in rowid order (a rebuild pages through all of them with ``after_rowid``)."""
        rows = self.db.execute(
            """
            SELECT c.rowid AS seq, c.id AS chunk_id, 'upsert' AS op, c.text, c.context, c.lesson_id, l.document_id, l.kind,
                   l.outcome, l.industry,
                   (SELECT group_concat(tag, '\x1f') FROM lesson_tags t WHERE t.lesson_id = l.id) AS tag_list
            FROM chunks c JOIN lessons l ON l.id = c.lesson_id
            WHERE c.rowid > ? ORDER BY c.rowid LIMIT ?
            """,
            (after_rowid, limit),
        ).fetchall()
        return [_vector_work(r) for r in rows]

    def vectors_done(self, work: Sequence[VectorWork]) -> None:
        """Forget applied work; an entry queued again meanwhile has a new seq and stays."""
        with self.transaction():
            self.db.executemany("DELETE FROM vector_outbox WHERE chunk_id = ? AND seq = ?", [(w.chunk_id, w.seq) for w in work])

    def chunk_ids(self, among: Sequence[str] | None = None) -> set[str]:
        """Ids of every chunk, or of those ``among`` the given ids that the catalog has."""
        if among is None:
            return {r[0] for r in self.db.execute("SELECT id FROM chunks")}
        if not among:
            return set()
        marks = ",".join("?" * len(among))
        return {r[0] for r in self._tuples(f"SELECT id FROM chunks WHERE id IN ({marks})", list(among))}

    # --- export and import --------------------------------------------------------------

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one committed state of the catalog, whatever other processes write meanwhile."""
        db = self.db
        db.execute("BEGIN")
        try:
            db.execute("SELECT count(*) FROM documents").fetchone()  # WAL read snapshot starts at the first read
            yield
        finally:
            db.execute("COMMIT")

    def is_empty(self) -> bool:
        counts = self.counts()
        return not any(counts[k] for k in ("documents", "users", "sets"))

    def users_for_export(self) -> list[dict[str, Any]]:
        """Every account with its role and password hash (tokens and sessions stay behind)."""
        return [{k: r[k] for k in r.keys() if k != "id"} for r in self.db.execute("SELECT * FROM users ORDER BY id")]

    def review_author_names(self) -> dict[str, str]:
        rows = self.db.execute("SELECT r.document_id, u.name FROM review_authors r JOIN users u ON u.id = r.user_id")
        return dict(rows.fetchall())

    def sets_for_export(self) -> list[dict[str, Any]]:
        sets = []
        for r in self.db.execute(
            "SELECT s.*, u.name AS owner FROM lesson_sets s LEFT JOIN users u ON u.id = s.owner_id ORDER BY s.id"
        ).fetchall():
            items = self.db.execute(
                "SELECT lesson_id, note FROM lesson_set_items WHERE set_id = ? ORDER BY position", (r["id"],)
            ).fetchall()
            sets.append(
                {
                    "id": r["id"],
                    "title": r["title"],
                    "audience": r["audience"],
                    "description": r["description"],
                    "owner": r["owner"],
                    "created_at": r["created_at"],
                    "updated_at": r["updated_at"],
                    "items": [{"lesson": i["lesson_id"], "note": i["note"]} for i in items],
                }
            )
        return sets

    def import_records(
        self,
        *,
        users: Sequence[dict[str, Any]],
        documents: Sequence[tuple[Document, Sequence[Lesson], Sequence[Chunk], str | None]],
        sets: Sequence[dict[str, Any]],
        merge: bool,
    ) -> dict[str, int]:
        """Write an export's records in one transaction; with ``merge``, what exists already is kept."""
        added = {"users": 0, "documents": 0, "sets": 0}
        with self.transaction():
            columns = {r["name"] for r in self.db.execute("PRAGMA table_info(users)")} - {"id"}
            for user in users:
                names = [k for k in user if k in columns]
                cursor = self.db.execute(
                    f"INSERT INTO users ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) ON CONFLICT(name) DO NOTHING",
                    [user[k] for k in names],
                )
                added["users"] += cursor.rowcount
            for document, lessons, chunks, author in documents:
                if merge and self.db.execute("SELECT 1 FROM documents WHERE id = ?", (document.id,)).fetchone():
                    continue
                self._replace_document(document, lessons, chunks, review_author=author)
                added["documents"] += 1
            for lesson_set in sets:
                set_id = None if merge else lesson_set["id"]
                cursor = self.db.execute(
                    "INSERT INTO lesson_sets (id, title, audience, description, owner_id, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, (SELECT id FROM users WHERE name = ?), ?, ?)",
                    (set_id, lesson_set["title"], lesson_set["audience"], lesson_set["description"], lesson_set["owner"],
                     lesson_set["created_at"], lesson_set["updated_at"]),
                )
                self.db.executemany(
                    "INSERT INTO lesson_set_items (set_id, lesson_id, position, note) VALUES (?, ?, ?, ?)",
                    [(cursor.lastrowid, item["lesson"], position, item["note"]) for position, item in enumerate(lesson_set["items"])],
                )
                added["sets"] += 1
        return added

    # --- review authors -----------------------------------------------------------------

    def review_author(self, document_id: str) -> int | None:
        """The id of the user who submitted the review, or None (not submitted through kb, or user deleted)."""
        row = self.db.execute("SELECT user_id FROM review_authors WHERE document_id = ?", (document_id,)).fetchone()
        return row["user_id"] if row else None

    def reviews_by_author(self, name: str) -> list[str]:
        """Ids of the documents this account submitted as reviews, oldest first."""
        rows = self.db.execute(
            "SELECT r.document_id FROM review_authors r JOIN users u ON u.id = r.user_id WHERE u.name = ? "
            "ORDER BY r.created_at, r.rowid",
            (name,),
        )
        return [r["document_id"] for r in rows]

    # --- the lesson lifecycle (kb/lifecycle.py decides; these read and write it) ------------

    def lesson_states(self, lesson_ids: Sequence[str]) -> dict[str, LessonState]:
        """"archived" or "stale" for each of the lessons that is (fresh ones are left out): what a search reads for
        its candidates, from the index of id, archive and verify-by alone."""
        today = utc_today().isoformat()
        states: dict[str, LessonState] = {}
        for part, marks in _in_batches(lesson_ids):
            rows = self._tuples(
                f"SELECT id, archived_at IS NOT NULL FROM lessons INDEXED BY lessons_state WHERE id IN ({marks}) "
                "AND (archived_at IS NOT NULL OR verify_by < ?)",
                [*part, today],
            )
            states.update((lesson_id, "archived" if archived else "stale") for lesson_id, archived in rows)
        return states

    def verify_lesson(self, lesson_id: str, *, by: str | None, verify_by: str) -> None:
        """Record that ``by`` (an account name; None from the command line) checked the lesson now; it is in date
        until ``verify_by`` and no longer to be re-checked."""
        with self.transaction():
            self.db.execute(
                f"UPDATE lessons SET verified_at = ?, verified_by_id = ({_USER_ID}), verify_by = ?, recheck_of = NULL WHERE id = ?",
                (utc_now(), by, verify_by, lesson_id),
            )

    def set_lifecycle(
        self, lesson_id: str, *, owner: str | None = None, clear_owner: bool = False, verify_by: str | None = None,
        archived: bool | None = None,
    ) -> None:
        """Change what is given: the owner (an existing account's name, or none with ``clear_owner``), the verify-by
        day, archived or not (an archived lesson keeps the time it was archived until it is restored)."""
        sets, params = [], []
        if owner is not None or clear_owner:
            sets.append(f"owner_id = ({_USER_ID})")
            params.append(None if clear_owner else owner)
        if verify_by is not None:
            sets.append("verify_by = ?")
            params.append(verify_by)
        if archived is not None:
            sets.append("archived_at = coalesce(archived_at, ?)" if archived else "archived_at = NULL")
            if archived:
                params.append(utc_now())
        if not sets:
            return
        with self.transaction():
            self.db.execute(f"UPDATE lessons SET {', '.join(sets)} WHERE id = ?", (*params, lesson_id))

    def mark_recheck(self, lesson_ids: Sequence[str], *, newer: str) -> None:
        """The lessons (those in search) are to be re-checked against the ``newer`` lesson that says nearly the same."""
        if not lesson_ids:
            return
        marks = ",".join("?" * len(lesson_ids))
        with self.transaction():
            self.db.execute(
                f"UPDATE lessons SET recheck_of = ? WHERE id IN ({marks}) AND archived_at IS NULL", (newer, *lesson_ids)
            )

    def owned_lessons(
        self, *, due_by: str | None = None, owner: str | None = None, unowned: bool = False, limit: int = 100, offset: int = 0
    ) -> list[Lesson]:
        """Lessons by owner (by name, the unowned last), then verify-by day (the oldest first).

        With ``due_by`` (an ISO day), only the lessons in search whose verify-by day is not after it or that are to
        be re-checked; ``owner`` or ``unowned`` keeps one person's lessons or those of nobody."""
        clauses, params = ["1"], []
        if due_by is not None:
            clauses.append("l.archived_at IS NULL AND (l.verify_by <= ? OR l.recheck_of IS NOT NULL)")
            params.append(due_by)
        if unowned:
            clauses.append("l.owner_id IS NULL")
        elif owner is not None:
            clauses.append(f"l.owner_id = ({_USER_ID})")
            params.append(owner)
        rows = self.db.execute(
            f"{_LESSON_SELECT} WHERE {' AND '.join(clauses)} "
            "ORDER BY owner_name IS NULL, owner_name COLLATE NOCASE, l.verify_by IS NULL, l.verify_by, l.id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [_lesson(r) for r in rows]

    def lifecycle_counts(self, due_by: str) -> dict[str, int]:
        """How many lessons there are, archived, in search, and of those in search: verified and in date, stale, due
        by ``due_by`` or to re-check. Read from the lifecycle index alone."""
        today = utc_today().isoformat()
        row = self.db.execute(
            """
            SELECT count(*), coalesce(sum(archived_at IS NOT NULL), 0),
                   coalesce(sum(archived_at IS NULL AND verified_at IS NOT NULL AND (verify_by IS NULL OR verify_by >= ?)), 0),
                   coalesce(sum(archived_at IS NULL AND verify_by < ?), 0),
                   coalesce(sum(archived_at IS NULL AND (verify_by <= ? OR recheck_of IS NOT NULL)), 0)
            FROM lessons INDEXED BY lessons_due
            """,
            (today, today, due_by),
        ).fetchone()
        total, archived, verified, stale, due = (int(n) for n in row)
        return {"lessons": total, "archived": archived, "in_search": total - archived, "verified_in_date": verified, "stale": stale, "due": due}

    # --- lessons and chunks -------------------------------------------------------------

    def lessons_of_document(self, document_id: str) -> list[Lesson]:
        rows = self.db.execute(f"{_LESSON_SELECT} WHERE l.document_id = ? GROUP BY l.id ORDER BY l.ordinal", (document_id,))
        return [_lesson(r) for r in rows]

    def get_lesson(self, lesson_id: str) -> Lesson | None:
        row = self.db.execute(f"{_LESSON_SELECT} WHERE l.id = ? GROUP BY l.id", (lesson_id,)).fetchone()
        return _lesson(row) if row else None

    def get_lessons(self, lesson_ids: Sequence[str]) -> dict[str, Lesson]:
        if not lesson_ids:
            return {}
        marks = ",".join("?" * len(lesson_ids))
        rows = self.db.execute(f"{_LESSON_SELECT} WHERE l.id IN ({marks}) GROUP BY l.id", list(lesson_ids))
        return {r["id"]: _lesson(r) for r in rows}

    def lesson_documents(self, lesson_ids: Sequence[str]) -> dict[str, str]:
        """Lesson id → its document's id, read 500 at a time."""
        found: dict[str, str] = {}
        for part, marks in _in_batches(lesson_ids):
            found.update(self._tuples(f"SELECT id, document_id FROM lessons WHERE id IN ({marks})", part))
        return found

    def lesson_titles(self, lesson_ids: Sequence[str]) -> dict[str, str]:
        """Lesson id → title, without the rest of the lesson."""
        marks = ",".join("?" * len(lesson_ids))
        rows = self.db.execute(f"SELECT id, title FROM lessons WHERE id IN ({marks})", list(lesson_ids)) if lesson_ids else []
        return {r["id"]: r["title"] for r in rows}

    def iter_lessons(self, filters: SearchFilters | None = None, *, archived: bool = True) -> Iterator[Lesson]:
        """The lessons the filters let through, by document and place; ``archived=False`` leaves out archived ones
        (as search does)."""
        where, params = lesson_filter_sql(filters or SearchFilters())
        if not archived:
            where += " AND l.archived_at IS NULL"
        rows = self.db.execute(
            f"{_LESSON_SELECT} JOIN documents d ON d.id = l.document_id WHERE {where} GROUP BY l.id ORDER BY d.path, l.ordinal",
            params,
        )
        for row in rows:
            yield _lesson(row)

    def lesson_ids(self, filters: SearchFilters) -> set[str]:
        """Ids of the lessons the filters let through (without loading the lessons)."""
        where, params = lesson_filter_sql(replace(filters, tag=None))
        documents = "JOIN documents d ON d.id = l.document_id" if filters.source else ""
        # A tag's own rows (the index of tag and lesson id) join the lessons, rather than every lesson being probed
        # for the tag: 137 -> 21 ms for a tag alone at 100,000 chunks.
        tagged = "JOIN lesson_tags t ON t.lesson_id = l.id AND t.tag = ?" if filters.tag else ""
        params = [filters.tag, *params] if filters.tag else params
        return {row[0] for row in self.db.execute(f"SELECT l.id FROM lessons l {tagged} {documents} WHERE {where}", params)}

    def set_lesson_drivers(self, lessons: Sequence[Lesson]) -> None:
        """Store the win/loss drivers of review lessons again (after `kb reindex` suggested them anew)."""
        with self.transaction():
            self.db.executemany(
                "INSERT INTO lesson_drivers (lesson_id, drivers, confirmed) VALUES (?, ?, ?) ON CONFLICT(lesson_id) "
                "DO UPDATE SET drivers = excluded.drivers, confirmed = excluded.confirmed",
                [_driver_row(lesson) for lesson in lessons if lesson.drivers is not None],
            )

    def set_lesson_tags(self, lesson_id: str, tags: Sequence[str]) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM lesson_tags WHERE lesson_id = ?", (lesson_id,))
            self.db.executemany("INSERT INTO lesson_tags (lesson_id, tag) VALUES (?, ?)", [(lesson_id, t) for t in dict.fromkeys(tags)])

    def chunks_of_lessons(self, lesson_ids: Sequence[str]) -> list[Chunk]:
        if not lesson_ids:
            return []
        marks = ",".join("?" * len(lesson_ids))
        rows = self._tuples(
            f"SELECT id, lesson_id, ordinal, text, context FROM chunks WHERE lesson_id IN ({marks}) ORDER BY lesson_id, ordinal",
            list(lesson_ids),
        )
        return [Chunk(*row) for row in rows]

    def get_chunks(self, chunk_ids: Sequence[str]) -> dict[str, Chunk]:
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        rows = self._tuples(f"SELECT id, lesson_id, ordinal, text, context FROM chunks WHERE id IN ({marks})", list(chunk_ids))
        return {row[0]: Chunk(*row) for row in rows}

    def _tuples(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        """Rows as plain tuples: building a search's few hundred chunks from them takes a third of the time."""
        cursor = self.db.cursor()
        cursor.row_factory = None
        return cursor.execute(sql, params)

    def iter_chunks(self) -> Iterator[Chunk]:
        for r in self.db.execute("SELECT id, lesson_id, ordinal, text, context FROM chunks ORDER BY rowid"):
            yield Chunk(r["id"], r["lesson_id"], r["ordinal"], r["text"], r["context"])

    def retokenize(self) -> None:
        """Rebuild the lexical indexes from stored text (after a tokenizer or dictionary change)."""
        with self.transaction():
            for lesson in [_lesson(r) for r in self.db.execute(f"{_LESSON_SELECT}").fetchall()]:
                self.db.execute("UPDATE lessons SET title_tokens = ? WHERE id = ?", (" ".join(tokenize(title_text(lesson))), lesson.id))
            rows = self.db.execute("SELECT rowid, id, text, context FROM chunks").fetchall()
            self.db.executemany(
                "UPDATE chunks SET tokens = ? WHERE rowid = ?",
                [(" ".join(tokenize(Chunk(r["id"], "", 0, r["text"], r["context"]).index_text)), r["rowid"]) for r in rows],
            )
            self.db.execute("INSERT INTO lessons_fts(lessons_fts) VALUES ('rebuild')")
            self.db.execute("UPDATE chunk_generation SET n = n + 1")  # in-memory indexes reload the new tokens

    def title_search(self, match: str, filters: SearchFilters, limit: int) -> list[tuple[str, float]]:
        """(lesson id, bm25 score) of lessons whose title or heading path matches."""
        where, params = lesson_filter_sql(filters)
        rows = self.db.execute(
            f"""
            SELECT l.id, -bm25(lessons_fts) AS score
            FROM lessons_fts
            JOIN lessons l ON l.rowid = lessons_fts.rowid
            JOIN documents d ON d.id = l.document_id
            WHERE lessons_fts MATCH ? AND {where}
            ORDER BY bm25(lessons_fts)
            LIMIT ?
            """,
            [match, *params, limit],
        )
        return [(r[0], float(r[1])) for r in rows]

    # --- checks (kb doctor) ---------------------------------------------------------------

    def storage_problems(self) -> list[str]:
        """What SQLite's own check finds wrong with the file (empty when it is sound)."""
        return [r[0] for r in self.db.execute("PRAGMA quick_check") if r[0] != "ok"]

    def dangling_references(self) -> dict[str, list[str]]:
        """Rows that point at rows which no longer exist, by what they are."""
        found = {}
        for what, sql in _DANGLING.items():
            rows = [str(r[0]) for r in self.db.execute(f"SELECT {sql[0]} FROM {sql[1]} WHERE {sql[2]}")]
            if rows:
                found[what] = rows
        return found

    def remove_dangling_references(self) -> None:
        """Delete rows that point at nothing; the vectors of removed chunks are queued for deletion."""
        with self.transaction():
            chunks = _DANGLING["chunks whose lesson is gone"]
            self._queue_vectors([r[0] for r in self.db.execute(f"SELECT {chunks[0]} FROM {chunks[1]} WHERE {chunks[2]}")], "delete")
            for _, table, where in _DANGLING.values():
                alias = table.split()[-1]
                self.db.execute(f"DELETE FROM {table.split()[0]} WHERE rowid IN (SELECT {alias}.rowid FROM {table} WHERE {where})")

    def lexical_problems(self, sample: int = 1000) -> list[str]:
        """Where the full-text indexes disagree with the rows they index, or hold tokens of another tokenizer."""
        problems = []
        try:
            self.db.execute("INSERT INTO lessons_fts(lessons_fts, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError:
            problems.append("the full-text index lessons_fts does not match its rows")
        total = self.chunk_count()
        step = max(1, total // sample)
        rows = self.db.execute("SELECT id, text, context, tokens FROM chunks WHERE rowid % ? = 0", (step,)).fetchall()
        stale = [r["id"] for r in rows if r["tokens"] != " ".join(tokenize(Chunk(r["id"], "", 0, r["text"], r["context"]).index_text))]
        if stale:
            problems.append(f"{len(stale)} of {len(rows)} sampled chunks have tokens of an older tokenizer (e.g. {', '.join(stale[:5])})")
        return problems

    def lesson_titles_of_chunks(self, chunk_ids: Sequence[str]) -> dict[str, str]:
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        rows = self.db.execute(f"SELECT c.id, l.title FROM chunks c JOIN lessons l ON l.id = c.lesson_id WHERE c.id IN ({marks})", list(chunk_ids))
        return dict(rows.fetchall())
    def chunk_rows(self, after_rowid: int = 0) -> list[sqlite3.Row]:
        """rowid, id, lesson_id, stored lexical tokens and indexed text of every chunk (written after
        ``after_rowid``): what in-memory search loads."""
        return self.db.execute(
            "SELECT rowid, id, lesson_id, tokens, text, context FROM chunks WHERE rowid > ? ORDER BY rowid", (after_rowid,)
        ).fetchall()

    def chunk_generation(self) -> int:
        """Grows with every chunk added or removed, so in-memory indexes know when to reload."""
        return int(self.db.execute("SELECT n FROM chunk_generation").fetchone()[0])

    # --- embedding cache ----------------------------------------------------------------

    def cached_embeddings(self, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        import numpy as np

        return {text_hash: np.frombuffer(vector, dtype=np.float32) for text_hash, vector in self._cached_vectors(model, hashes)}

    def embedding_matrix(self, model: str, hashes: Sequence[str], dim: int) -> np.ndarray | None:
        """The cached vectors of the hashes as one (len(hashes), dim) matrix, filled as the rows are read (half the
        memory of collecting them first); None when any is missing."""
        import numpy as np

        matrix = np.empty((len(hashes), dim), dtype=np.float32)
        rows: dict[str, list[int]] = {}
        for i, text_hash in enumerate(hashes):
            rows.setdefault(text_hash, []).append(i)
        found = 0
        for text_hash, vector in self._cached_vectors(model, list(rows)):
            matrix[rows[text_hash]] = np.frombuffer(vector, dtype=np.float32)
            found += 1
        return matrix if found == len(rows) else None

    def _cached_vectors(self, model: str, hashes: Sequence[str]) -> Iterator[tuple[str, bytes]]:
        """(text hash, vector bytes) of the hashes that the cache holds, read 500 at a time."""
        for part, marks in _in_batches(hashes):
            yield from self.db.execute(
                f"SELECT text_hash, vector FROM embedding_cache WHERE model = ? AND text_hash IN ({marks})", [model, *part]
            )

    def store_embeddings(self, entries: Sequence[tuple[str, str, np.ndarray]]) -> None:
        """Cache (model, text hash, vector) entries."""
        import numpy as np

        self.db.executemany(
            # An upsert, not INSERT OR REPLACE: the row REPLACE deletes would not reach the delete trigger that counts.
            "INSERT INTO embedding_cache (model, text_hash, vector) VALUES (?, ?, ?) "
            "ON CONFLICT (model, text_hash) DO UPDATE SET vector = excluded.vector",
            [(model, h, np.asarray(v, dtype=np.float32).tobytes()) for model, h, v in entries],
        )

    # --- statistics ---------------------------------------------------------------------

    def chunk_count(self, up_to_rowid: int | None = None) -> int:
        """How many chunks there are (written up to ``up_to_rowid``)."""
        if up_to_rowid is None:
            return int(self.db.execute("SELECT count(*) FROM chunks").fetchone()[0])
        return int(self.db.execute("SELECT count(*) FROM chunks WHERE rowid <= ?", (up_to_rowid,)).fetchone()[0])

    def chunk_ids_at(self, rowids: Sequence[int]) -> dict[int, str]:
        """The id of each chunk still at one of the rowids."""
        marks = ",".join("?" * len(rowids))
        return dict(self.db.execute(f"SELECT rowid, id FROM chunks WHERE rowid IN ({marks})", list(rowids)).fetchall())

    def counts(self) -> dict[str, int]:
        kept = dict(self.db.execute("SELECT name, n FROM table_counts").fetchall())
        sets, users, pending = self.db.execute(
            "SELECT (SELECT count(*) FROM lesson_sets), (SELECT count(*) FROM users), (SELECT count(*) FROM vector_outbox)"
        ).fetchone()
        return {
            **{name: kept[name] for name in ("documents", "lessons", "chunks", "reviews", "review_lessons")},
            "sets": sets,
            "users": users,
            "pending_vectors": pending,
            "cached_embeddings": kept["cached_embeddings"],
        }

    def count_problems(self) -> list[str]:
        """The kept row counts that differ from counting the rows (``recount`` sets them right)."""
        kept = dict(self.db.execute("SELECT name, n FROM table_counts").fetchall())
        counted = {name: self.db.execute(sql).fetchone()[0] for name, sql in COUNTED.items()}
        problems = [f"{name}: kept {kept.get(name)}, counted {n}" for name, n in counted.items() if kept.get(name) != n]
        for column, sql in VALUE_COUNTED.items():
            kept_values = dict(self.db.execute("SELECT value, n FROM value_counts WHERE col = ? AND n != 0", (column,)).fetchall())
            counted_values = dict(self.db.execute(sql).fetchall())
            problems += [
                f"{column} {value!r}: kept {kept_values.get(value, 0)}, counted {counted_values.get(value, 0)}"
                for value in sorted(kept_values.keys() | counted_values.keys())
                if kept_values.get(value, 0) != counted_values.get(value, 0)
            ]
        return problems

    def recount(self) -> None:
        with self.transaction():
            self.db.executemany(
                "INSERT INTO table_counts (name, n) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET n = excluded.n",
                [(name, self.db.execute(sql).fetchone()[0]) for name, sql in COUNTED.items()],
            )
            self.db.execute("DELETE FROM value_counts")
            for column, sql in VALUE_COUNTED.items():
                self.db.execute(f"INSERT INTO value_counts (col, value, n) SELECT ?, * FROM ({sql})", (column,))

    def industries(self) -> list[str]:
        """The distinct industries of review lessons, sorted: the choices of the industry filter."""
        rows = self.db.execute(
            "SELECT DISTINCT industry FROM lessons WHERE industry IS NOT NULL AND industry != '' ORDER BY industry"
        )
        return [r[0] for r in rows]

    def count_by(self, column: str) -> dict[str, int]:
        """How many lessons have each value of the column (or each tag), most first."""
        if column not in VALUE_COUNTED:
            raise ValueError(f"lessons are not counted by {column!r}")
        rows = self.db.execute("SELECT value, n FROM value_counts WHERE col = ? AND n > 0 ORDER BY n DESC, value", (column,))
        return {(value or "—"): n for value, n in rows}


def title_text(lesson: Lesson) -> str:
    """What the title index holds: the heading path, which ends with the title."""
    return _title_path_text(lesson.heading_path, lesson.title)


def _title_path_text(heading_path: Sequence[str], title: str) -> str:
    path = list(heading_path)
    return " ".join(path if title in path else [*path, title])


def fts_phrase(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def source_filter_sql(source: str) -> tuple[str, list[Any]]:
    """Documents ``d`` a source filter names: by id, by path, or by part of the path."""
    return "(d.id = ? OR d.path = ? OR d.path LIKE ?)", [source, source, f"%{source}%"]


def lesson_filter_sql(filters: SearchFilters) -> tuple[str, list[Any]]:
    """WHERE clause over lessons ``l`` and documents ``d`` for the search filters."""
    clauses, params = ["1"], []
    if filters.kind:
        clauses.append("l.kind = ?")
        params.append(filters.kind)
    if filters.outcome:
        clauses.append("l.outcome = ?")
        params.append(filters.outcome)
    if filters.industry:
        clauses.append("l.industry = ?")
        params.append(filters.industry)
    if filters.tag:
        clauses.append("EXISTS (SELECT 1 FROM lesson_tags t WHERE t.lesson_id = l.id AND t.tag = ?)")
        params.append(filters.tag)
    if filters.source:
        clause, source_params = source_filter_sql(filters.source)
        clauses.append(clause)
        params.extend(source_params)
    return " AND ".join(clauses), params


# What kb doctor checks: (what is shown, FROM clause with the row's alias last, WHERE of a dangling row).
_DANGLING: dict[str, tuple[str, str, str]] = {
    "lessons whose document is gone": ("x.id", "lessons x", "NOT EXISTS (SELECT 1 FROM documents d WHERE d.id = x.document_id)"),
    "chunks whose lesson is gone": ("x.id", "chunks x", "NOT EXISTS (SELECT 1 FROM lessons l WHERE l.id = x.lesson_id)"),
    "tags whose lesson is gone": ("x.lesson_id", "lesson_tags x", "NOT EXISTS (SELECT 1 FROM lessons l WHERE l.id = x.lesson_id)"),
    "set items whose lesson is gone": (
        "x.set_id || ':' || x.lesson_id", "lesson_set_items x", "NOT EXISTS (SELECT 1 FROM lessons l WHERE l.id = x.lesson_id)"
    ),
    "set items whose set is gone": (
        "x.set_id || ':' || x.lesson_id", "lesson_set_items x", "NOT EXISTS (SELECT 1 FROM lesson_sets s WHERE s.id = x.set_id)"
    ),
    "review authors whose review is gone": (
        "x.document_id", "review_authors x", "NOT EXISTS (SELECT 1 FROM documents d WHERE d.id = x.document_id)"
    ),
    "review authors whose account is gone": (
        "x.document_id", "review_authors x", "x.user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = x.user_id)"
    ),
    "lesson sets whose owner is gone": (
        "x.id", "lesson_sets x", "x.owner_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = x.owner_id)"
    ),
}

_DOCUMENT_SELECT = (
    "SELECT d.*, count(l.id) AS lesson_count FROM documents d LEFT JOIN lessons l ON l.document_id = d.id"
)
# The account id of the name a parameter gives (NULL for none or an unknown name).
_USER_ID = "SELECT id FROM users WHERE name = ?"
_LIFECYCLE_COLUMNS = (
    "(SELECT name FROM users u WHERE u.id = l.owner_id) AS owner_name, l.verify_by, l.verified_at, "
    "(SELECT name FROM users u WHERE u.id = l.verified_by_id) AS verified_by_name, l.archived_at, l.recheck_of"
)
_LESSON_SELECT = (
    "SELECT l.*, (SELECT group_concat(tag, '\x1f') FROM lesson_tags t WHERE t.lesson_id = l.id) AS tag_list, "
    f"{_LIFECYCLE_COLUMNS} FROM lessons l"
)


def _document(row: sqlite3.Row) -> Document:
    return Document(
        id=row["id"],
        path=row["path"],
        title=row["title"],
        format=row["format"],
        kind=row["kind"],
        content_hash=row["content_hash"],
        metadata=json.loads(row["metadata"]),
        summary=row["summary"],
        lesson_count=row["lesson_count"],
        ingested_at=row["ingested_at"],
    )


def _lesson(row: sqlite3.Row) -> Lesson:
    return Lesson(
        id=row["id"],
        document_id=row["document_id"],
        ordinal=row["ordinal"],
        title=row["title"],
        body=row["body"],
        heading_path=tuple(json.loads(row["heading_path"])),
        kind=row["kind"],
        source=row["source"],
        tags=sorted(row["tag_list"].split("\x1f")) if row["tag_list"] else [],
        fields=json.loads(row["fields"]),
        content_hash=row["content_hash"],
        lifecycle=_lifecycle(row),
    )


def _lifecycle(row: sqlite3.Row) -> Lifecycle:
    verify_by = row["verify_by"]
    return Lifecycle(
        owner=row["owner_name"],
        verify_by=verify_by,
        verified_at=row["verified_at"],
        verified_by=row["verified_by_name"],
        archived_at=row["archived_at"],
        recheck_of=row["recheck_of"],
        stale=verify_by is not None and verify_by < utc_today().isoformat(),
    )


def _vector_work(row: sqlite3.Row) -> VectorWork:
    exists = row["lesson_id"] is not None
    return VectorWork(
        seq=row["seq"],
        chunk_id=row["chunk_id"],
        op=row["op"],
        chunk=Chunk(row["chunk_id"], row["lesson_id"], 0, row["text"], row["context"]) if exists else None,
        document_id=row["document_id"],
        kind=row["kind"],
        outcome=row["outcome"],
        industry=row["industry"],
        tags=sorted(row["tag_list"].split("\x1f")) if row["tag_list"] else [],
    )


def _driver_row(lesson: Lesson) -> tuple[str, str, int]:
    return (lesson.id, json.dumps(lesson.drivers or [], ensure_ascii=False), int(lesson.drivers_confirmed))
