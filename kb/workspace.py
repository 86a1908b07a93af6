"""The composition root: opens the stores and the engine for one settings object, once.

The CLI and the web app both work through a Workspace; nothing here runs at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING

from kb.catalog import Catalog
from kb.settings import Settings
from kb.writer_lock import Holder, WriterLock

if TYPE_CHECKING:  # chromadb and the engines load only in the commands that use them
    from kb.embedding import CachedEmbedder
    from kb.vector_index import VectorIndex
    from kb.vector_sync import VectorSync
    from ingest.pipeline import Ingestor
    from ingest.tagging import Facets
    from search.gap_check import Recheck
    from search.searcher import Searcher


class Workspace:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def catalog(self) -> Catalog:
        return Catalog(self.settings.catalog_path)

    @cached_property
    def index(self) -> "VectorIndex":
        from kb.vector_index import VectorIndex

        return VectorIndex(self.settings, self.catalog.active_collection)

    def reopen_index(self) -> None:
        """Open the vector store anew (after its directory was replaced)."""
        from kb.vector_index import forget_open_stores

        forget_open_stores()
        for name in ("index", "vectors", "ingestor", "searcher"):
            self.__dict__.pop(name, None)

    def vector_summary(self) -> tuple[int, str | None]:
        """How many vectors the active collection holds, and the model that built them."""
        from kb.chroma_file import collection_summary

        summary = None if self.settings.chroma_url else collection_summary(self.settings.chroma_dir, self.catalog.active_collection())
        return summary or (self.index.count(), self.index.model_fingerprint)

    def check_vectors_model(self) -> None:
        """Refuse to search or add to vectors that another model built (ModelMismatchError)."""
        from kb.embedding import fingerprint
        from kb.errors import ModelMismatchError

        vectors, model = self.vector_summary()
        ModelMismatchError.check(model, fingerprint(self.embedder), lambda: vectors)

    @cached_property
    def lock(self) -> WriterLock:
        return WriterLock(self.settings.data_dir)

    @cached_property
    def vectors(self) -> "VectorSync":
        from kb.vector_sync import VectorSync

        return VectorSync(self.catalog, self.index, self.embedder, self.lock)

    @contextmanager
    def writing(self, role: str, on_wait: Callable[[Holder | None], None] | None = None) -> Iterator[bool]:
        """Hold the writer lock for one command; yields False when a running server holds it.

        Then the command writes the catalog only and the server applies the queued vector work.
        Two commands never write at once: the second waits (``on_wait`` says for whom).
        """
        if not self.lock.try_acquire(role):
            holder = self.lock.holder()
            if holder is not None and holder.role == "server":
                yield False
                return
            self.lock.acquire(role, on_wait=on_wait)
        try:
            yield True
        finally:
            self.lock.release()

    @cached_property
    def embedder(self) -> "CachedEmbedder":
        from kb.embedding import CachedEmbedder, create_embedder

        return CachedEmbedder(create_embedder(self.settings), self.catalog)

    @cached_property
    def facets(self) -> "Facets":
        from ingest.tagging import Facets

        return Facets.load(self.settings.taxonomy_path)

    @cached_property
    def views(self) -> list["CachedEmbedder"]:
        from kb.embedding import CachedEmbedder, create_views

        return [CachedEmbedder(view, self.catalog) for view in create_views(self.settings)]

    @cached_property
    def ingestor(self) -> "Ingestor":
        from ingest.pipeline import Ingestor
        from ingest.tagging import Tagger, load_taxonomy
        from kb.drivers import SUGGESTED_PER_LESSON

        tagger = Tagger(load_taxonomy(self.settings.taxonomy_path), self.embedder, self.facets)
        drivers = Tagger(load_taxonomy(self.settings.taxonomy_path, "drivers"), self.embedder, max_tags=SUGGESTED_PER_LESSON)
        return Ingestor(self.settings, self.catalog, self.vectors, tagger, self.views, drivers=drivers)

    @cached_property
    def searcher(self) -> "Searcher":
        from ingest.tagging import load_taxonomy
        from search.domain import DomainCheck
        from search.query import Glossary
        from search.searcher import Searcher

        self.check_vectors_model()
        topics = [tag.profile for tag in load_taxonomy(self.settings.taxonomy_path)]
        engines = {"dense": self.embedder, **{view.name: view for view in self.views}}
        return Searcher(
            self.catalog,
            lambda: self.index,
            self.embedder,
            Glossary.load(self.settings.glossary_path),
            views=self.views,
            facets=self.facets,
            max_chars=self.settings.result_chars,
            saved_index=self.settings.search_index_dir,
            domain=DomainCheck.load(self.settings.domain_path, topics, engines),
        )

    def recheck_gaps(self) -> "Recheck":
        """Search the gap queue's open questions again, now that the base has changed (search/gap_check.py)."""
        from kb.gaps import GapQueue
        from search.gap_check import refresh_gaps

        return refresh_gaps(GapQueue(self.catalog), self.searcher)

    def close(self) -> None:
        if "lock" in self.__dict__:
            self.lock.release()
        if "catalog" in self.__dict__:
            self.catalog.close()
