"""Dense retrieval: the query's embedding against the chunk vectors in Chroma."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from kb.domain import SearchFilters
from kb.embedding import Embedder
from search.query import Query

if TYPE_CHECKING:  # chromadb loads only when a search needs Chroma (vectors not all in memory)
    from kb.vector_index import VectorIndex


def dense_search(
    index: VectorIndex,
    embedder: Embedder,
    query: Query,
    filters: SearchFilters,
    limit: int,
    document_ids: Sequence[str] | None = None,
) -> list[tuple[str, float]]:
    """(chunk id, cosine similarity) best first; ``document_ids`` restricts to some sources."""
    return index.query(embedder.embed_query(query.text), limit, filters, document_ids)
