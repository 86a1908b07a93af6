"""In-memory scores of every chunk: BM25 over the stored jieba tokens and the extra views' vectors.

Loaded from the catalog once and reloaded when its chunks change, so a query costs a few array products.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import bm25s
import numpy as np

from kb.catalog import Catalog
from kb.embedding import CachedEmbedder, SparseE5View, fingerprint, unpack_sparse
from kb.errors import KbError


class ChunkSignals:
    def __init__(self, catalog: Catalog, views: Sequence[CachedEmbedder] = ()) -> None:
        self.catalog = catalog
        self.views = list(views)
        self._lock = threading.Lock()
        self._generation: int | None = None
        self.chunk_ids: list[str] = []
        self.lesson_ids = np.zeros(0, dtype=object)
        self._bm25: bm25s.BM25 | None = None
        self._matrices: dict[str, object] = {}

    def refresh(self) -> None:
        """Reload when chunks were added or removed since the last load."""
        generation = self.catalog.chunk_generation()
        if generation == self._generation:
            return
        with self._lock:
            if generation != self._generation:
                self._load()
                self._generation = generation

    def _load(self) -> None:
        rows = self.catalog.chunk_rows()
        self.chunk_ids = [r["id"] for r in rows]
        self.lesson_ids = np.array([r["lesson_id"] for r in rows], dtype=object)
        self._bm25 = None
        if rows:
            self._bm25 = bm25s.BM25()
            self._bm25.index([r["tokens"].split() for r in rows], show_progress=False)
        texts = [f"{r['context']}\n{r['text']}" if r["context"] else r["text"] for r in rows]
        self._matrices = {view.name: self._view_matrix(view, texts) for view in self.views}

    def _view_matrix(self, view: CachedEmbedder, texts: list[str]) -> object:
        hashes = view.passage_hashes(texts)
        cached = self.catalog.cached_embeddings(fingerprint(view.inner), hashes)
        missing = sum(1 for h in hashes if h not in cached)
        if missing:
            raise KbError(
                f"{missing} chunks have no {view.name!r} vectors for {fingerprint(view.inner)} "
                "(the view or the text fold changed): run `kb reindex`"
            )
        rows = np.stack([cached[h] for h in hashes]) if hashes else np.zeros((0, view.dim), dtype=np.float32)
        if isinstance(view.inner, SparseE5View):
            # Column slices of a CSC matrix touch only the query's own terms.
            return unpack_sparse(rows, view.inner.sparse_dim).tocsc()
        return rows

    def lexical(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every chunk for the query tokens."""
        if self._bm25 is None or not tokens:
            return np.zeros(len(self.chunk_ids))
        return np.asarray(self._bm25.get_scores(list(tokens)), dtype=np.float64)

    def view(self, name: str, query_vector: np.ndarray) -> np.ndarray:
        """Every chunk's similarity to the query in one view."""
        matrix = self._matrices[name]
        if not len(self.chunk_ids):
            return np.zeros(0)
        if isinstance(matrix, np.ndarray):
            return matrix @ query_vector
        query = unpack_sparse(query_vector, matrix.shape[1])
        return np.asarray(matrix[:, query.indices] @ query.data).ravel()
