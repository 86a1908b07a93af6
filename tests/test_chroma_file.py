"""`kb stats` counts vectors from Chroma's SQLite file: the count must be Chroma's own."""

from __future__ import annotations

import chromadb
import numpy as np

from kb.chroma_file import CHROMA_FILE, collection_summary


def test_the_file_count_follows_chromas_own_through_upserts_and_deletes(tmp_path):
    client = chromadb.PersistentClient(str(tmp_path))
    collection = client.get_or_create_collection("kb-test-0", metadata={"hnsw:space": "cosine", "kb_model": "engine:model:8"})
    rng = np.random.default_rng(0)
    collection.upsert(ids=[f"c{i}" for i in range(700)], embeddings=rng.random((700, 8), dtype=np.float32))
    assert collection_summary(tmp_path, "kb-test-0") == (700, "engine:model:8") == (collection.count(), "engine:model:8")
    collection.delete(ids=[f"c{i}" for i in range(0, 700, 7)])
    collection.upsert(ids=[f"c{i}" for i in range(650, 760)], embeddings=rng.random((110, 8), dtype=np.float32))
    assert collection_summary(tmp_path, "kb-test-0")[0] == collection.count() == 700 - 100 + 67  # 7 of the deleted ids come back
    assert collection_summary(tmp_path, "kb-not-there") == (0, None)


def test_an_unreadable_file_gives_none_so_the_caller_asks_chromadb(tmp_path):
    assert collection_summary(tmp_path, "kb-test-0") is None
    (tmp_path / CHROMA_FILE).write_bytes(b"not a database" * 100)
    assert collection_summary(tmp_path, "kb-test-0") is None
