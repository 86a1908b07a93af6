"""The catalog itself: migrations, WAL, and writes from many threads at once (as the web app does)."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kb.accounts import Accounts
from kb.catalog import MIGRATIONS, Catalog
from kb.insights import Insights


def test_migrations_run_once_and_are_recorded(tmp_path: Path):
    path = tmp_path / "catalog.sqlite"
    Catalog(path).close()
    Catalog(path).close()  # opening again applies nothing twice
    db = sqlite3.connect(path)
    assert [row[0] for row in db.execute("SELECT name FROM migrations ORDER BY rowid")] == [name for name, _ in MIGRATIONS]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


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
