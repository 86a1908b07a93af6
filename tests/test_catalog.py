"""The catalog itself: migrations, WAL, and writes from many threads at once (as the web app does)."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from kb.accounts import Accounts
from kb.catalog import MIGRATIONS, TOKENIZER_KEY, Catalog
from kb.domain import Chunk, Document, Lesson, SearchFilters
from kb.insights import Insights
from kb.textnorm import TOKENIZER


def test_migrations_run_once_and_are_recorded(tmp_path: Path):
    path = tmp_path / "catalog.sqlite"
    Catalog(path).close()
    Catalog(path).close()  # opening again applies nothing twice
    db = sqlite3.connect(path)
    assert [row[0] for row in db.execute("SELECT name FROM migrations ORDER BY rowid")] == [name for name, _ in MIGRATIONS]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_search_filters_find_lessons_through_an_index(tmp_path: Path):
    # Without an index every filtered search read every lesson (211 ms at 92,000 lessons); with one that lacks the
    # lesson's id, each lesson let through was a lookup in the table (15.4 vs 4.3 ms a filter at 100,000 chunks).
    catalog = Catalog(tmp_path / "catalog.sqlite")
    try:
        asked: list[str] = []
        catalog.db.set_trace_callback(asked.append)  # each statement as run, its parameters filled in
        for filters in (
            SearchFilters(kind="review", outcome="loss"),
            SearchFilters(kind="review"),
            SearchFilters(outcome="win"),
            SearchFilters(industry="retail"),
            SearchFilters(kind="review", outcome="win", industry="retail"),
            SearchFilters(tag="pricing"),
            SearchFilters(kind="review", tag="pricing"),
        ):
            asked.clear()
            catalog.lesson_ids(filters)
            (statement,) = asked
            plan = " ".join(row[3] for row in catalog.db.execute(f"EXPLAIN QUERY PLAN {statement}"))
            # every step an index alone: no scan, and no index that needs the table for the rest of the row
            assert "USING COVERING INDEX" in plan and "SCAN" not in plan and "USING INDEX" not in plan, (filters, plan)
    finally:
        catalog.close()


def test_a_bulk_write_checkpoints_its_pages_into_the_file_once_at_its_end(tmp_path: Path):
    path = tmp_path / "catalog.sqlite"
    catalog = Catalog(path)

    def in_file() -> int:
        """Rows the database file itself holds, read without the WAL."""
        frozen = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
        try:
            return frozen.execute("SELECT count(*) FROM meta WHERE key LIKE 'bulk.%'").fetchone()[0]
        finally:
            frozen.close()

    try:
        catalog.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the schema in the file, the WAL empty
        with pytest.raises(RuntimeError), catalog.bulk_writes():
            for i in range(1500):  # about 1,500 WAL pages: past SQLite's default checkpoint interval
                catalog.set_meta(f"bulk.{i}", "x" * 3000)
            other = sqlite3.connect(path)
            assert other.execute("SELECT count(*) FROM meta WHERE key LIKE 'bulk.%'").fetchone()[0] == 1500
            other.close()
            assert in_file() == 0  # committed, but still only in the WAL
            raise RuntimeError("the ingest stopped")
        assert in_file() == 1500
        assert catalog.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    finally:
        catalog.close()


def test_concurrent_writes_from_threads_all_land(tmp_path: Path):
    catalog = Catalog(tmp_path / "catalog.sqlite")
    accounts, insights = Accounts(catalog), Insights(catalog)

    def work(number: int) -> None:
        accounts.add_user(f"user{number}", "rep", "long-enough-password")
        for repeat in range(5):
            insights.log_query(f"query {number}-{repeat}", repeat, 0.9)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, range(16)))
    assert len(accounts.list_users()) == 16
    assert catalog.db.execute("SELECT count(*) FROM query_log").fetchone()[0] == 80
    catalog.close()


def test_a_catalog_written_with_another_tokenizer_is_retokenized_when_opened(tmp_path: Path):
    path = tmp_path / "catalog.sqlite"
    catalog = Catalog(path)
    document = Document("d1", "/notes/a.md", "手册", "md", "playbook", "hash")
    lesson = Lesson("l1", "d1", 0, "先画决策链", "接手大客户先把决策链画出来。", ("先画决策链",), "playbook", "a.md")
    catalog.replace_document(document, [lesson], [Chunk("c1", "l1", 0, "接手大客户先把决策链画出来。", "手册 › 先画决策链")])
    # As an older kb would have left it: other tokens, another tokenizer's name.
    catalog.db.execute("UPDATE chunks SET tokens = 'stale'")
    catalog.set_meta(TOKENIZER_KEY, "jieba-0.42")
    assert catalog.lexical_problems()
    catalog.close()

    reopened = Catalog(path)
    assert reopened.get_meta(TOKENIZER_KEY) == TOKENIZER
    assert reopened.lexical_problems() == []
    assert "决策" in reopened.db.execute("SELECT tokens FROM chunks").fetchone()[0].split()
    reopened.close()


def test_a_rewritten_document_s_chunks_get_rowids_past_every_earlier_chunk(tmp_path: Path):
    # Search indexes the chunks past its index's last rowid as new; SQLite alone gives a row max(rowid) + 1, so
    # rewriting the document that held the largest rowid handed its new chunk the old one's rowid, unseen.
    catalog = Catalog(tmp_path / "catalog.sqlite")
    try:
        document = Document("d1", "/notes/a.md", "手册", "md", "playbook", "hash")
        lesson = Lesson("l1", "d1", 0, "先画决策链", "接手大客户先把决策链画出来。", ("先画决策链",), "playbook", "a.md")
        catalog.replace_document(document, [lesson], [Chunk("c1", "l1", 0, "接手大客户先把决策链画出来。", "")])
        catalog.replace_document(document, [lesson], [Chunk("c2", "l1", 0, "接手大客户先画决策链，再找教练。", "")])
        assert catalog.chunk_ids_at([1, 2]) == {2: "c2"}
        assert [row["id"] for row in catalog.chunk_rows(after_rowid=1)] == ["c2"]
    finally:
        catalog.close()


def test_a_migration_drops_the_chunks_full_text_index_that_search_no_longer_reads(tmp_path: Path):
    catalog = Catalog(tmp_path / "catalog.sqlite")
    tables = {row[0] for row in catalog.db.execute("SELECT name FROM sqlite_master")}
    assert "chunks_fts" not in tables and "chunks_ai" not in tables and "lessons_fts" in tables
    catalog.close()


def test_kept_row_counts_follow_every_write_and_doctor_sets_them_right(tmp_path: Path):
    catalog = Catalog(tmp_path / "catalog.sqlite")
    try:
        review = Document("d1", "/reviews/r.md", "复盘", "md", "review", "hash")
        lessons = [Lesson(f"l{i}", "d1", i, f"教训{i}", "正文", (f"教训{i}",), "review", "r.md") for i in range(3)]
        chunks = [Chunk(f"c{i}", f"l{i}", 0, f"第{i}段", "") for i in range(3)]
        catalog.replace_document(review, lessons, chunks)
        catalog.replace_document(review, lessons[:2], chunks[:2])  # rewritten: one lesson and chunk fewer
        playbook = Document("d2", "/notes/p.md", "手册", "md", "playbook", "hash2")
        catalog.replace_document(playbook, [Lesson("l9", "d2", 0, "手册", "正文", ("手册",), "playbook", "p.md")], [])
        vector = np.ones(4, dtype=np.float32)
        catalog.store_embeddings([("m", "h1", vector), ("m", "h2", vector)])
        catalog.store_embeddings([("m", "h1", 2 * vector)])  # the same key again replaces, it does not add
        counts = catalog.counts()
        assert {k: counts[k] for k in ("documents", "reviews", "lessons", "review_lessons", "chunks", "cached_embeddings")} == {
            "documents": 2, "reviews": 1, "lessons": 3, "review_lessons": 2, "chunks": 2, "cached_embeddings": 2
        }
        assert catalog.count_problems() == []
        with catalog.transaction():
            catalog.db.execute("DELETE FROM documents WHERE id = 'd1'")  # its lessons and chunks go by cascade
        assert catalog.count_problems() == [] and catalog.counts()["chunks"] == 0
        catalog.db.execute("UPDATE table_counts SET n = 99 WHERE name = 'lessons'")  # what a bug or a hand edit leaves
        assert catalog.count_problems() == ["lessons: kept 99, counted 1"]
        catalog.recount()
        assert catalog.count_problems() == [] and catalog.counts()["lessons"] == 1
    finally:
        catalog.close()


def test_lessons_counted_by_kind_outcome_industry_and_tag_follow_every_write(tmp_path: Path):
    catalog = Catalog(tmp_path / "catalog.sqlite")

    def grouped(sql: str) -> dict[str, int]:
        return {(value or "—"): n for value, n in catalog.db.execute(sql)}

    try:
        review = Document("d1", "/reviews/r.md", "复盘", "md", "review", "hash")
        lessons = [
            Lesson(f"l{i}", "d1", i, f"教训{i}", "正文", (f"教训{i}",), "review", "r.md", tags=["price", "coach"][: i % 3],
                   fields={"outcome": ["loss", "win"][i % 2], "industry": "银行" if i < 2 else None})
            for i in range(4)
        ]
        catalog.replace_document(review, lessons, [])
        catalog.replace_document(review, lessons[1:], [])  # rewritten without its first lesson
        playbook = Document("d2", "/notes/p.md", "手册", "md", "playbook", "hash2")
        catalog.replace_document(playbook, [Lesson("l9", "d2", 0, "手册", "正文", ("手册",), "playbook", "p.md", tags=["coach"])], [])
        catalog.set_lesson_tags("l3", ["price"])
        assert catalog.count_by("kind") == {"review": 3, "playbook": 1}
        assert catalog.count_by("outcome") == {"win": 2, "—": 1, "loss": 1}
        assert catalog.count_by("industry") == {"—": 3, "银行": 1}
        assert list(catalog.count_by("tag").items()) == [("price", 3), ("coach", 2)]  # most first
        for column in ("kind", "outcome", "industry"):
            assert catalog.count_by(column) == grouped(f"SELECT {column}, count(*) FROM lessons GROUP BY 1")
        with catalog.transaction():
            catalog.db.execute("DELETE FROM documents WHERE id = 'd1'")  # its lessons and their tags go by cascade
        assert catalog.count_by("kind") == {"playbook": 1} and catalog.count_by("tag") == {"coach": 1}
        assert catalog.count_problems() == []
        catalog.db.execute("UPDATE value_counts SET n = 5 WHERE col = 'tag' AND value = 'coach'")
        assert catalog.count_problems() == ["tag 'coach': kept 5, counted 1"]
        catalog.recount()
        assert catalog.count_problems() == [] and catalog.count_by("tag") == {"coach": 1}
    finally:
        catalog.close()
