"""The scores of a fixed set of chunks, held in arrays: BM25 postings, the dense vectors and each view's matrix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from kb.embedding import sparse_terms
from search.batched import BatchedProduct
from search.postings import Columns, Postings


@dataclass(frozen=True)
class ChunkIndex:
    """The scores of a set of the catalog's chunks, in the order of their rowids."""

    chunk_ids: list[str]
    lesson_codes: np.ndarray  # per chunk, its lesson's position in lesson_index
    lesson_index: dict[str, int]
    bm25: Postings | None
    bigrams: Postings | None
    matrices: dict[str, np.ndarray | Columns]  # per view: a dense matrix, or the sparse view's terms by column
    # The chunks' dense vectors as columns (dimensions × chunks, see batched.py); None when the embedding cache
    # lacks a chunk's vector (then Chroma is asked).
    dense: np.ndarray | None
    rowids: np.ndarray  # each chunk's rowid in the catalog
    cjk: np.ndarray  # per chunk, whether it is written mainly in CJK characters (kb.textnorm.mainly_cjk)

    @cached_property
    def chunk_lessons(self) -> np.ndarray:
        """Per chunk, its lesson's id (an array of str objects)."""
        return np.array(list(self.lesson_index), dtype=object)[self.lesson_codes]

    @cached_property
    def dense_product(self) -> BatchedProduct | None:
        """The dense vectors' product with a query vector, shared by the searches that run at once."""
        return BatchedProduct(self.dense) if self.dense is not None else None

    @property
    def last_rowid(self) -> int:
        return int(self.rowids[-1]) if len(self.rowids) else 0

    def allowed(self, lesson_ids: set[str] | None) -> np.ndarray:
        if lesson_ids is None:
            return np.ones(len(self.chunk_ids), dtype=bool)
        allowed_lessons = np.zeros(len(self.lesson_index), dtype=bool)
        allowed_lessons[[self.lesson_index[lid] for lid in lesson_ids if lid in self.lesson_index]] = True
        return allowed_lessons[self.lesson_codes]

    def bm25_scores(self, index: Postings | None, terms: Sequence[str]) -> np.ndarray:
        if index is None or not terms:
            return np.zeros(len(self.chunk_ids))
        return index.scores(terms)

    def view(self, name: str, query_vector: np.ndarray) -> np.ndarray:
        matrix = self.matrices[name]
        if not self.chunk_ids:
            return np.zeros(0)
        if isinstance(matrix, np.ndarray):
            return matrix @ query_vector
        return matrix.weighted_sum(*sparse_terms(query_vector))

    def view_at(self, name: str, query_vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The similarity to the query in one view of the chunks at ``rows`` only."""
        matrix = self.matrices[name]
        if isinstance(matrix, np.ndarray):
            return matrix[rows] @ query_vector
        return self.view(name, query_vector)[rows]
