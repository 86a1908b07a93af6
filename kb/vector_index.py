"""Chroma holds the chunk vectors: derived data, always rebuildable from the catalog.

One collection is active at a time; its name lives in the catalog (``vectors.collection``), so a
rebuild fills a new collection beside the active one and switches only when it is complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.api.client import SharedSystemClient
from chromadb.config import Settings as ChromaSettings

from kb.domain import SearchFilters, VectorWork
from kb.errors import ModelMismatchError, StoreError
from kb.settings import Settings

ADD_BATCH = 512


class VectorIndex:
    def __init__(self, settings: Settings, active_name: Callable[[], str]) -> None:
        self._active_name = active_name
        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=True)
        try:
            if settings.chroma_url:
                url = urlparse(settings.chroma_url)
                self.client = chromadb.HttpClient(
                    host=url.hostname or "localhost",
                    port=url.port or (443 if url.scheme == "https" else 8000),
                    ssl=url.scheme == "https",
                    settings=chroma_settings,
                )
                self.location = settings.chroma_url
                self.embedded = False
            else:
                settings.chroma_dir.mkdir(parents=True, exist_ok=True)
                self.client = chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings)
                self.location = str(settings.chroma_dir)
                self.embedded = True
        except Exception as exc:  # chromadb raises many types (ValueError, its own errors, OS errors)
            raise StoreError(
                f"cannot open the vector store at {settings.chroma_url or settings.chroma_dir}: {exc}; "
                "run `kb doctor --repair` to rebuild it from the catalog"
            ) from exc
        self._collections: dict[str, chromadb.Collection] = {}

    # --- collections ---------------------------------------------------------------------

    @property
    def collection(self) -> chromadb.Collection:
        """The active collection (created empty the first time)."""
        return self._collection(self._active_name())

    def _collection(self, name: str) -> chromadb.Collection:
        if name not in self._collections:
            self._collections[name] = self.client.get_or_create_collection(name, metadata={"hnsw:space": "cosine"})
        return self._collections[name]

    def collection_names(self) -> list[str]:
        return sorted(c if isinstance(c, str) else c.name for c in self.client.list_collections())

    def create(self, name: str, fingerprint: str) -> None:
        """A new, empty collection for a rebuild (an earlier one of that name is dropped)."""
        self.drop(name)
        self._collections[name] = self.client.create_collection(name, metadata={"hnsw:space": "cosine", "kb_model": fingerprint})

    def drop(self, name: str) -> None:
        self._collections.pop(name, None)
        if name in self.collection_names():
            self.client.delete_collection(name)


    # --- the model that built the vectors ------------------------------------------------

    @property
    def model_fingerprint(self) -> str | None:
        return (self.collection.metadata or {}).get("kb_model")

    def check_model(self, fingerprint: str) -> None:
        """Refuse to mix vectors of two models in one index."""
        ModelMismatchError.check(self.model_fingerprint, fingerprint, self.collection.count)

    def claim(self, fingerprint: str) -> None:
        """Record the model that builds the active collection."""
        if self.model_fingerprint != fingerprint:
            self.collection.modify(metadata={"kb_model": fingerprint})

    def stored_dimension(self) -> int | None:
        """The length of a stored vector, or None when the collection is empty."""
        sample = self.collection.get(limit=1, include=["embeddings"])
        embeddings = sample.get("embeddings")
        return len(embeddings[0]) if embeddings is not None and len(embeddings) else None

    # --- vectors ---------------------------------------------------------------------------

    def apply(self, work: Sequence[VectorWork], vectors: dict[str, np.ndarray], *, name: str | None = None) -> None:
        """Upsert and delete as the work says; ``vectors`` holds the vector of every chunk to upsert."""
        collection = self._collection(name) if name else self.collection
        deletes = [w.chunk_id for w in work if w.op == "delete" or w.chunk is None]
        upserts = [w for w in work if w.op == "upsert" and w.chunk is not None]
        for start in range(0, len(deletes), ADD_BATCH):
            collection.delete(ids=deletes[start : start + ADD_BATCH])
        for start in range(0, len(upserts), ADD_BATCH):
            part = upserts[start : start + ADD_BATCH]
            collection.upsert(
                ids=[w.chunk_id for w in part],
                embeddings=np.asarray([vectors[w.chunk_id] for w in part], dtype=np.float32),
                metadatas=[chunk_metadata(w) for w in part],
            )

    def delete(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), ADD_BATCH):
            self.collection.delete(ids=list(ids[start : start + ADD_BATCH]))

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        """Stored vectors of the given chunk ids, in that order (missing ids are skipped)."""
        if not ids:
            return np.zeros((0, 0), dtype=np.float32)
        found = self.collection.get(ids=list(ids), include=["embeddings"])
        by_id = dict(zip(found["ids"], found["embeddings"]))
        return np.asarray([by_id[i] for i in ids if i in by_id], dtype=np.float32)

    def iter_ids(self, page: int = 5000) -> Iterator[str]:
        """Every id in the active collection."""
        collection = self.collection
        offset = 0
        while True:
            ids = collection.get(limit=page, offset=offset, include=[])["ids"]
            yield from ids
            if len(ids) < page:
                return
            offset += page

    def count(self) -> int:
        return self.collection.count()

    def query(
        self,
        vector: np.ndarray,
        limit: int,
        filters: SearchFilters | None = None,
        document_ids: Sequence[str] | None = None,
    ) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the nearest chunks, optionally filtered."""
        collection = self.collection
        total = collection.count()
        if total == 0 or document_ids == []:
            return []
        where = chroma_where(filters or SearchFilters(), document_ids)
        result = collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=min(limit, total),
            where=where,
            include=["distances"],
        )
        return [(cid, 1.0 - float(d)) for cid, d in zip(result["ids"][0], result["distances"][0])]


def forget_open_stores() -> None:
    """Let a new VectorIndex open its directory anew: chromadb keeps one client per path for the process."""
    SharedSystemClient.clear_system_cache()


def chunk_metadata(work: VectorWork) -> dict:
    """What Chroma stores beside a vector so that filters work on the dense side too."""
    metadata: dict[str, str | bool] = {"lesson_id": work.chunk.lesson_id, "document_id": work.document_id or "", "kind": work.kind or ""}
    if work.outcome:
        metadata["outcome"] = work.outcome
    if work.industry:
        metadata["industry"] = work.industry
    for tag in work.tags:
        metadata[f"tag:{tag}"] = True
    return metadata


def chroma_where(filters: SearchFilters, document_ids: Sequence[str] | None = None) -> dict | None:
    clauses: list[dict] = []
    if document_ids is not None:
        clauses.append({"document_id": {"$in": list(document_ids)}})
    if filters.kind:
        clauses.append({"kind": filters.kind})
    if filters.outcome:
        clauses.append({"outcome": filters.outcome})
    if filters.industry:
        clauses.append({"industry": filters.industry})
    if filters.tag:
        clauses.append({f"tag:{filters.tag}": True})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}
