"""In-memory scores of every chunk: BM25 over the stored jieba tokens and over character bigrams, the dense
vectors and the extra views'.

Loaded from the catalog (its embedding cache) once and reloaded when its chunks change, so a query costs a few
array products, filters are a mask, and Chroma's metadata filtering (slow at scale) is not on the search path.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import bm25s
import numpy as np

from kb.catalog import Catalog
from kb.domain import Chunk
from kb.embedding import CachedEmbedder, SparseE5View, fingerprint, unpack_sparse
from kb.errors import KbError
from kb.textnorm import char_bigrams


class ChunkSignals:
    def __init__(self, catalog: Catalog, views: Sequence[CachedEmbedder] = (), dense: CachedEmbedder | None = None) -> None:
        self.catalog = catalog
        self.views = list(views)
        self.dense_engine = dense
        self._lock = threading.Lock()
        self._generation: int | None = None
        self.chunk_ids: list[str] = []
        self._lesson_codes = np.zeros(0, dtype=np.int64)  # per chunk, its lesson's position in _lesson_index
        self._lesson_index: dict[str, int] = {}
        self._bm25: bm25s.BM25 | None = None
        self._bigrams: bm25s.BM25 | None = None
        self._matrices: dict[str, object] = {}
        self._dense: np.ndarray | None = None

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
        chunks = [Chunk(r["id"], r["lesson_id"], 0, r["text"], r["context"]) for r in rows]
        self.chunk_ids = [c.id for c in chunks]
        self._lesson_index = {}
        self._lesson_codes = np.array([self._lesson_index.setdefault(c.lesson_id, len(self._lesson_index)) for c in chunks], dtype=np.int64)
        texts = [c.index_text for c in chunks]
        self._bm25 = _bm25(r["tokens"].split() for r in rows)
        self._bigrams = _bm25(char_bigrams(text) for text in texts)
        self._matrices = {view.name: self._view_matrix(view, texts) for view in self.views}
        # Without every chunk's vector in the cache (a data dir from before the cache), dense search asks Chroma.
        self._dense = self._cached_rows(self.dense_engine, [c.embedded_text for c in chunks]) if self.dense_engine else None

    def _cached_rows(self, view: CachedEmbedder, texts: list[str]) -> np.ndarray | None:
        """The cached passage vectors of the texts, one row each; None when any is missing."""
        hashes = view.passage_hashes(texts)
        cached = self.catalog.cached_embeddings(fingerprint(view.inner), hashes)
        if any(h not in cached for h in hashes):
            return None
        return np.stack([cached[h] for h in hashes]) if hashes else np.zeros((0, view.dim), dtype=np.float32)

    def _view_matrix(self, view: CachedEmbedder, texts: list[str]) -> object:
        rows = self._cached_rows(view, texts)
        if rows is None:
            raise KbError(
                f"chunks have no {view.name!r} vectors for {fingerprint(view.inner)} "
                "(the view or the text fold changed): run `kb reindex`"
            )
        if isinstance(view.inner, SparseE5View):
            # Column slices of a CSC matrix touch only the query's own terms.
            return unpack_sparse(rows, view.inner.sparse_dim).tocsc()
        return rows

    def allowed(self, lesson_ids: set[str] | None) -> np.ndarray:
        """Per chunk, whether its lesson is among ``lesson_ids`` (all chunks when None)."""
        if lesson_ids is None:
            return np.ones(len(self.chunk_ids), dtype=bool)
        allowed_lessons = np.zeros(len(self._lesson_index), dtype=bool)
        allowed_lessons[[self._lesson_index[lid] for lid in lesson_ids if lid in self._lesson_index]] = True
        return allowed_lessons[self._lesson_codes]

    def dense(self, query_vector: np.ndarray) -> np.ndarray | None:
        """Every chunk's cosine similarity to the query, or None when the vectors are not all in memory."""
        return None if self._dense is None else self._dense @ np.asarray(query_vector, dtype=np.float32)

    def lexical(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every chunk for the query's word tokens."""
        return self._scores(self._bm25, tokens)

    def bigrams(self, grams: Sequence[str]) -> np.ndarray:
        """BM25 score of every chunk for the query's character bigrams."""
        return self._scores(self._bigrams, grams)

    def _scores(self, index: bm25s.BM25 | None, terms: Sequence[str]) -> np.ndarray:
        if index is None or not terms:
            return np.zeros(len(self.chunk_ids))
        return np.asarray(index.get_scores(list(terms)), dtype=np.float64)

    def view(self, name: str, query_vector: np.ndarray) -> np.ndarray:
        """Every chunk's similarity to the query in one view."""
        matrix = self._matrices[name]
        if not len(self.chunk_ids):
            return np.zeros(0)
        if isinstance(matrix, np.ndarray):
            return matrix @ query_vector
        query = unpack_sparse(query_vector, matrix.shape[1])
        return np.asarray(matrix[:, query.indices] @ query.data).ravel()


def _bm25(documents: Iterable[list[str]]) -> bm25s.BM25 | None:
    """A BM25 index of the token lists, read one at a time and kept as ids: at 100,000 chunks this peaks at a
    third of the memory that bm25s's lists of strings take (measured 342 vs 1,037 MB for the bigrams)."""
    vocabulary: dict[str, int] = {}
    ids = [[vocabulary.setdefault(token, len(vocabulary)) for token in tokens] for tokens in documents]
    if not ids:
        return None
    index = bm25s.BM25()
    index.index((ids, vocabulary), show_progress=False)
    return index
