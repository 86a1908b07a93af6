"""The composition root: opens the stores and the engine for one settings object, once.

The CLI and the web app both work through a Workspace; nothing here runs at import time.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from kb.catalog import Catalog
from kb.embedding import CachedEmbedder, create_embedder, create_views
from kb.settings import Settings
from kb.vector_index import VectorIndex

if TYPE_CHECKING:
    from ingest.pipeline import Ingestor
    from ingest.tagging import Facets
    from search.searcher import Searcher


class Workspace:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def catalog(self) -> Catalog:
        return Catalog(self.settings.catalog_path)

    @cached_property
    def index(self) -> VectorIndex:
        return VectorIndex(self.settings)

    @cached_property
    def embedder(self) -> CachedEmbedder:
        return CachedEmbedder(create_embedder(self.settings), self.catalog)

    @cached_property
    def facets(self) -> "Facets":
        from ingest.tagging import Facets

        return Facets.load(self.settings.taxonomy_path)

    @cached_property
    def views(self) -> list[CachedEmbedder]:
        return [CachedEmbedder(view, self.catalog) for view in create_views(self.settings)]

    @cached_property
    def ingestor(self) -> "Ingestor":
        from ingest.pipeline import Ingestor
        from ingest.tagging import Tagger, load_taxonomy

        tagger = Tagger(load_taxonomy(self.settings.taxonomy_path), self.embedder, self.facets)
        return Ingestor(self.settings, self.catalog, self.index, self.embedder, tagger, self.views)

    @cached_property
    def searcher(self) -> "Searcher":
        from search.query import Glossary
        from search.searcher import Searcher

        return Searcher(
            self.catalog,
            self.index,
            self.embedder,
            Glossary.load(self.settings.glossary_path),
            views=self.views,
            facets=self.facets,
            max_chars=self.settings.chunk_max_chars,
        )

    def close(self) -> None:
        if "catalog" in self.__dict__:
            self.catalog.close()
