"""Chroma holds the chunk vectors; it can always be rebuilt from the catalog."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings

from kb.domain import SearchFilters
from kb.errors import ModelMismatchError
from kb.settings import Settings

COLLECTION = "chunks"
ADD_BATCH = 512


class VectorIndex:
    def __init__(self, settings: Settings) -> None:
        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=True)
        if settings.chroma_url:
            url = urlparse(settings.chroma_url)
            self.client = chromadb.HttpClient(
                host=url.hostname or "localhost",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        else:
            settings.chroma_dir.mkdir(parents=True, exist_ok=True)
            self.client = chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings)
        self.collection = self.client.get_or_create_collection(COLLECTION, metadata={"hnsw:space": "cosine"})

    @property
    def model_fingerprint(self) -> str | None:
        return (self.collection.metadata or {}).get("kb_model")

    def check_model(self, fingerprint: str) -> None:
        """Refuse to mix vectors of two models in one index."""
        indexed = self.model_fingerprint
        if indexed and indexed != fingerprint and self.collection.count() > 0:
            raise ModelMismatchError(indexed, fingerprint)

    def claim(self, fingerprint: str) -> None:
        """Record the model that builds this index."""
        if self.model_fingerprint != fingerprint:
            metadata = {"hnsw:space": "cosine", "kb_model": fingerprint}
            self.collection.modify(metadata={k: v for k, v in metadata.items() if k != "hnsw:space"})

    def reset(self, fingerprint: str) -> None:
        self.client.delete_collection(COLLECTION)
        self.collection = self.client.create_collection(
            COLLECTION, metadata={"hnsw:space": "cosine", "kb_model": fingerprint}
        )

    def add(self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict]) -> None:
        for start in range(0, len(ids), ADD_BATCH):
            end = start + ADD_BATCH
            self.collection.upsert(
                ids=list(ids[start:end]),
                embeddings=np.asarray(vectors[start:end], dtype=np.float32),
                metadatas=list(metadatas[start:end]),
            )

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[dict]) -> None:
        for start in range(0, len(ids), ADD_BATCH):
            self.collection.update(ids=list(ids[start : start + ADD_BATCH]), metadatas=list(metadatas[start : start + ADD_BATCH]))

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
        total = self.collection.count()
        if total == 0 or document_ids == []:
            return []
        where = chroma_where(filters or SearchFilters(), document_ids)
        result = self.collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=min(limit, total),
            where=where,
            include=["distances"],
        )
        return [(cid, 1.0 - float(d)) for cid, d in zip(result["ids"][0], result["distances"][0])]


def chunk_metadata(*, lesson_id: str, document_id: str, kind: str, outcome: str | None, industry: str | None, tags: Sequence[str]) -> dict:
    """What Chroma stores beside a vector so that filters work on the dense side too."""
    metadata: dict[str, str | bool] = {"lesson_id": lesson_id, "document_id": document_id, "kind": kind}
    if outcome:
        metadata["outcome"] = outcome
    if industry:
        metadata["industry"] = industry
    for tag in tags:
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
