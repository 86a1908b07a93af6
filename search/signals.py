"""In-memory scores of every chunk: BM25 over the stored jieba tokens and over character bigrams, the dense
vectors and the extra views'.

Loaded from the catalog (its embedding cache) once, so a query costs a few array products, filters are a mask,
and Chroma's metadata filtering (slow at scale) is not on the search path. When chunks change, the chunks
written since the load are indexed at once as a small second part, so the next search finds them; once they are
more than a few percent of the whole, the whole index is rebuilt in the background (a minute at 100,000 chunks)
and then takes the parts' place. Removed chunks stay in the loaded part until then, but a search never shows
them: while the loaded part holds any, it asks the catalog which of its candidates are still there. Every whole
index is saved (search/snapshot.py), so the next process maps it instead of building it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kb.catalog import Catalog
from kb.domain import Chunk
from kb.embedding import CachedEmbedder, fingerprint, unpack_sparse
from kb.errors import KbError
from kb.textnorm import char_bigrams, mainly_cjk
from search import snapshot
from search.chunk_index import ChunkIndex
from search.postings import Columns, Postings

log = logging.getLogger(__name__)

# Chunks written or removed since the load, as a share of the loaded ones, that make the index rebuild.
REBUILD_SHARE = 0.05
# Chunks of a saved index compared with the catalog's rows before it is used.
IDENTITY_SAMPLE = 32


@dataclass(frozen=True)
class Signals:
    """One consistent view of the in-memory indexes for one search: the loaded chunks, then those written since."""

    parts: tuple[ChunkIndex, ...]
    generation: int
    saved_in: Path | None = None  # the folder of the first part's saved copy, where the second part is saved too
    holds_removed: bool = False  # whether the first part holds chunks that the catalog no longer has
    chunk_ids: list[str] = field(init=False)
    lesson_ids: np.ndarray = field(init=False)  # per chunk, its lesson's id (an array of str objects)
    cjk: np.ndarray = field(init=False)  # per chunk, whether it is written mainly in CJK characters
    _current: np.ndarray = field(init=False)  # False where a later part holds a newer version of the chunk

    def __post_init__(self) -> None:
        ids = [cid for part in self.parts for cid in part.chunk_ids]
        newest = {cid: i for i, cid in enumerate(ids)}
        object.__setattr__(self, "chunk_ids", ids)
        lessons = [part.chunk_lessons for part in self.parts if part.chunk_ids]
        object.__setattr__(self, "lesson_ids", np.concatenate(lessons) if lessons else np.array([], dtype=object))
        object.__setattr__(self, "cjk", np.concatenate([part.cjk for part in self.parts] or [np.zeros(0, dtype=bool)]))
        object.__setattr__(self, "_current", np.array([newest[cid] == i for i, cid in enumerate(ids)], dtype=bool))

    def allowed(self, lesson_ids: set[str] | None) -> np.ndarray:
        """Per chunk, whether its lesson is among ``lesson_ids`` (all chunks when None)."""
        return np.concatenate([part.allowed(lesson_ids) for part in self.parts]) & self._current

    def lexical(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every chunk for the query's word tokens."""
        return np.concatenate([part.bm25_scores(part.bm25, tokens) for part in self.parts])

    def bigrams(self, grams: Sequence[str]) -> np.ndarray:
        """BM25 score of every chunk for the query's character bigrams."""
        return np.concatenate([part.bm25_scores(part.bigrams, grams) for part in self.parts])

    def view(self, name: str, query_vector: np.ndarray) -> np.ndarray:
        """Every chunk's similarity to the query in one view."""
        return np.concatenate([part.view(name, query_vector) for part in self.parts])

    def view_at(self, name: str, query_vector: np.ndarray, rows: Sequence[int]) -> np.ndarray:
        """The similarity to the query in one view of the chunks at ``rows`` (positions in ascending order) only."""
        rows = np.asarray(rows, dtype=np.int64)
        scores, start = [], 0
        for part in self.parts:
            end = start + len(part.chunk_ids)
            scores.append(part.view_at(name, query_vector, rows[(rows >= start) & (rows < end)] - start))
            start = end
        return np.concatenate(scores) if scores else np.zeros(0)

    def dense(self, query_vector: np.ndarray) -> np.ndarray | None:
        """Every chunk's cosine similarity to the query, or None when the vectors are not all in memory."""
        if any(part.dense_product is None for part in self.parts):
            return None
        return np.concatenate([part.dense_product(query_vector) for part in self.parts])


class ChunkSignals:
    def __init__(
        self,
        catalog: Catalog,
        views: Sequence[CachedEmbedder] = (),
        dense: CachedEmbedder | None = None,
        snapshots: Path | None = None,
    ) -> None:
        self.catalog = catalog
        self.views = list(views)
        self.dense_engine = dense
        self.snapshots = snapshots
        self._lock = threading.Lock()
        self._signals: Signals | None = None
        self._rebuilding: threading.Thread | None = None

    @property
    def loaded(self) -> Signals | None:
        """The indexes as last loaded, without asking the catalog whether they are current."""
        return self._signals

    @property
    def fingerprints(self) -> dict[str, str]:
        """The engines a saved index must have been built with."""
        found = {view.name: fingerprint(view.inner) for view in self.views}
        if self.dense_engine is not None:
            found["dense"] = fingerprint(self.dense_engine.inner)
        return found

    def current(self) -> Signals:
        """The indexes as of the catalog's latest chunk generation (loading them on first use)."""
        generation = self.catalog.chunk_generation()
        signals = self._signals
        if signals is not None and signals.generation == generation:
            return signals
        with self._lock:
            if self._signals is None:
                self._signals = self._saved(generation) or self._whole(generation)
            elif self._signals.generation != generation:
                self._signals, rebuild = self._updated(self._signals, generation)
                if rebuild:
                    self._rebuild_in_background()
            return self._signals

    def save_current(self) -> None:
        """Leave a saved index that the next process can use (what `kb ingest` does last): the chunks written
        since the saved one as its saved second part, or a whole index built and saved when it does not fit."""
        if self.snapshots is None:
            return
        generation = self.catalog.chunk_generation()
        found = self._usable_saved(generation)
        if found is None:
            with self._lock:
                self._signals = self._whole(generation)
            return
        index, folder, written, _ = found
        if written:
            self._part(index, folder, written, generation)

    def _updated(self, signals: Signals, generation: int) -> tuple[Signals, bool]:
        """The loaded index with the chunks written since as a second part, and whether a rebuild should follow."""
        base = signals.parts[0]
        written, removed, rebuild = self._written_since(base)
        parts = (base, self._part(base, signals.saved_in, written, generation)) if written else (base,)
        return Signals(parts, generation, signals.saved_in, holds_removed=removed > 0), rebuild

    def _part(self, base: ChunkIndex, saved_in: Path | None, written: list, generation: int) -> ChunkIndex:
        """The chunks written since ``base`` (saved in ``saved_in``): the part saved beside it when that holds exactly
        them, else indexed here, their BM25 scores read with ``base``'s statistics, and saved there for the next
        process."""
        ids = [r["id"] for r in written]
        saved = snapshot.load_part(saved_in, generation) if saved_in is not None else None
        if saved is not None and saved.chunk_ids == ids:
            return saved
        part = self._index(written, beside=base)
        if saved_in is not None:
            try:
                snapshot.save_part(saved_in, part, generation, self.fingerprints)
            except OSError as exc:  # the next process indexes them again
                log.warning("could not save the chunks written since the search index under %s: %s", saved_in, exc)
        return part

    def _written_since(self, base: ChunkIndex) -> tuple[list, int, bool]:
        """The catalog's rows written after the index, how many of the index's chunks it no longer has, and whether
        it drifted so far that a rebuild should follow."""
        written = self.catalog.chunk_rows(after_rowid=base.last_rowid)
        removed = len(base.chunk_ids) - self.catalog.chunk_count(up_to_rowid=base.last_rowid)
        # Rows changed in place (new tokens), or enough change that the parts drift from one index: a
        # rebuild holds a second copy of every index while it runs (+1 GB at 100,000 chunks), so not per review.
        return written, removed, (not written and not removed) or len(written) + removed > REBUILD_SHARE * len(base.chunk_ids)

    def _usable_saved(self, generation: int) -> tuple[ChunkIndex, Path, list, int] | None:
        """The saved index, its folder, the catalog's rows written since and the count of its chunks removed since,
        when it is this catalog's and needs no rebuild."""
        found = snapshot.load(self.snapshots, self.fingerprints) if self.snapshots is not None else None
        if found is None or not self._of_this_catalog(found[0]):
            return None
        index, saved_generation, folder = found
        if saved_generation == generation:
            return index, folder, [], 0
        written, removed, rebuild = self._written_since(index)
        return None if rebuild else (index, folder, written, removed)

    def _saved(self, generation: int) -> Signals | None:
        """The saved index brought up to date, when there is one of this catalog that needs no rebuild."""
        found = self._usable_saved(generation)
        if found is None:
            return None
        index, folder, written, removed = found
        parts = (index, self._part(index, folder, written, generation)) if written else (index,)
        return Signals(parts, generation, folder, holds_removed=removed > 0)

    def _of_this_catalog(self, index: ChunkIndex) -> bool:
        """Whether a sample of the index's chunks that the catalog still has sit at the same rowids (a catalog
        replaced by another has other chunks at them)."""
        if not index.chunk_ids:
            return True
        sample = np.unique(np.linspace(0, len(index.chunk_ids) - 1, IDENTITY_SAMPLE).astype(np.int64))
        present = self.catalog.chunk_ids_at([int(index.rowids[i]) for i in sample])
        expected = {int(index.rowids[i]): index.chunk_ids[i] for i in sample}
        return bool(present) and all(expected[rowid] == chunk_id for rowid, chunk_id in present.items())

    def _whole(self, generation: int) -> Signals:
        """Every chunk indexed from the catalog, and saved for the next process."""
        index = self._index(self.catalog.chunk_rows())
        saved_in = None
        if self.snapshots is not None:
            try:
                # The saved file's pages replace the built arrays: shared with other processes, and the kernel
                # can drop them under memory pressure.
                saved_in = snapshot.save(self.snapshots, index, generation, self.fingerprints)
                index = snapshot.read(saved_in)
            except (OSError, ValueError) as exc:  # the next process builds it again
                log.warning("could not save the search index under %s: %s", self.snapshots, exc)
                saved_in = None
        return Signals((index,), generation, saved_in)

    def settle(self) -> None:
        """Wait for a background rebuild to finish."""
        thread = self._rebuilding
        if thread is not None:
            thread.join()

    def _rebuild_in_background(self) -> None:
        if self._rebuilding is not None and self._rebuilding.is_alive():
            return  # the running rebuild is followed by another when it finds the catalog moved on
        self._rebuilding = threading.Thread(target=self._rebuild, name="kb-signals-rebuild", daemon=True)
        self._rebuilding.start()

    def _rebuild(self) -> None:
        try:
            whole = self._whole(self.catalog.chunk_generation())
        except Exception:  # a failed rebuild leaves the search on its parts; the next change tries again
            log.exception("rebuilding the in-memory search indexes failed")
            return
        with self._lock:
            self._signals = whole

    def _index(self, rows: Sequence, beside: ChunkIndex | None = None) -> ChunkIndex:
        """The rows' index; ``beside`` the loaded index, their BM25 scores as one index with its chunks would give."""
        chunks = [Chunk(r["id"], r["lesson_id"], 0, r["text"], r["context"]) for r in rows]
        lesson_index: dict[str, int] = {}
        codes = np.array([lesson_index.setdefault(c.lesson_id, len(lesson_index)) for c in chunks], dtype=np.int64)
        texts = [c.index_text for c in chunks]
        return ChunkIndex(
            chunk_ids=[c.id for c in chunks],
            lesson_codes=codes,
            lesson_index=lesson_index,
            bm25=Postings.build(((r["tokens"] or "").split() for r in rows), beside.bm25 if beside else None),
            bigrams=Postings.build((char_bigrams(text) for text in texts), beside.bigrams if beside else None),
            matrices={view.name: self._view_matrix(view, view.chunk_texts(chunks)) for view in self.views},
            dense=self._dense_columns(chunks),
            rowids=np.array([r["rowid"] for r in rows], dtype=np.int64),
            cjk=np.array([mainly_cjk(text) for text in texts], dtype=bool),
        )

    def _dense_columns(self, chunks: list[Chunk]) -> np.ndarray | None:
        """The chunks' cached dense vectors, one per column (the layout BatchedProduct reads fastest)."""
        rows = self._cached_rows(self.dense_engine, self.dense_engine.chunk_texts(chunks)) if self.dense_engine else None
        return None if rows is None else np.ascontiguousarray(rows.T)

    def _cached_rows(self, view: CachedEmbedder, texts: list[str]) -> np.ndarray | None:
        """The cached passage vectors of the texts, one row each; None when any is missing."""
        return self.catalog.embedding_matrix(fingerprint(view.inner), view.passage_hashes(texts), view.dim)

    def _view_matrix(self, view: CachedEmbedder, texts: list[str]) -> object:
        rows = self._cached_rows(view, texts)
        if rows is None:
            raise KbError(
                f"chunks have no {view.name!r} vectors for {fingerprint(view.inner)} "
                "(the view or the text fold changed): run `kb reindex`"
            )
        sparse_dim = getattr(view.inner, "sparse_dim", None)
        if sparse_dim:  # packed (term ids, weights) rows, read by column: a query reads only its own terms' columns
            return Columns.of(unpack_sparse(rows, sparse_dim))
        return rows

