"""Counts of an embedded Chroma store, read from Chroma's own SQLite file.

`kb stats` answers without importing chromadb (about a second of imports on every call). Anything unexpected
in the file gives None, and the caller asks chromadb instead.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

CHROMA_FILE = "chroma.sqlite3"


def collection_summary(chroma_dir: Path, collection: str) -> tuple[int, str | None] | None:
    """(vectors, the kb model recorded on it) of a collection of the store in ``chroma_dir``; None when unreadable."""
    path = chroma_dir / CHROMA_FILE
    if not path.is_file():
        return None
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            found = db.execute("SELECT id FROM collections WHERE name = ?", (collection,)).fetchone()
            if found is None:
                return 0, None  # chromadb creates it empty on first use
            (count,) = db.execute(
                "SELECT count(*) FROM embeddings e JOIN segments s ON s.id = e.segment_id WHERE s.collection = ? AND s.scope = 'METADATA'",
                found,
            ).fetchone()
            model = db.execute("SELECT str_value FROM collection_metadata WHERE collection_id = ? AND key = 'kb_model'", found).fetchone()
    except sqlite3.Error:
        return None
    return int(count), model[0] if model else None
