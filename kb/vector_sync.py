"""Keeps the vector index in step with the catalog: applies the outbox, rebuilds beside the active collection.

Only the process that holds the writer lock touches Chroma; the others leave their work queued (and,
for a rebuild, a request in the catalog) for the holder, usually the running server, to apply.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from kb.catalog import ACTIVE_KEY, Catalog
from kb.domain import VectorWork
from kb.embedding import CachedEmbedder, fingerprint
from kb.writer_lock import WriterLock

if TYPE_CHECKING:  # `kb stats` reads the active collection's name without importing chromadb
    from kb.vector_index import VectorIndex

log = logging.getLogger(__name__)

REBUILD_KEY = "vectors.rebuild_requested"
LEGACY_COLLECTION = "chunks"  # the one collection of data dirs written by kb 0.1
BATCH = 1024


class VectorSync:
    def __init__(self, catalog: Catalog, index: VectorIndex, embedder: CachedEmbedder, lock: WriterLock) -> None:
        self.catalog = catalog
        self.index = index
        self.embedder = embedder
        self.lock = lock
        self._mutex = threading.RLock()  # one drain or rebuild at a time within the process

    @contextmanager
    def owning(self) -> Iterator[bool]:
        """Hold the writer lock for a step, if it is free or already ours; yields whether it is."""
        owner = self.lock.try_acquire("kb")
        try:
            yield owner
        finally:
            if owner:
                self.lock.release()

    def drain(self, on_progress: Callable[[int], None] | None = None) -> int:
        """Apply queued vector work (when this process may write vectors); return how many chunks were done."""
        done = 0
        with self.owning() as owner, self._mutex:
            if not owner:
                return 0
            while work := self.catalog.pending_vectors(BATCH):
                self.index.claim(fingerprint(self.embedder))
                self.index.apply(work, self._vectors(work))
                self.catalog.vectors_done(work)
                done += len(work)
                if on_progress:
                    on_progress(len(work))
        return done

    def _vectors(self, work: Sequence[VectorWork]) -> dict[str, np.ndarray]:
        """Vectors of the upserts: from the embedding cache, computed only for text never embedded."""
        upserts = [w for w in work if w.op == "upsert" and w.chunk is not None]
        vectors = self.embedder.embed_passages(self.embedder.chunk_texts([w.chunk for w in upserts]))
        return {w.chunk_id: vectors[i] for i, w in enumerate(upserts)}

    def rebuild(self, on_progress: Callable[[int, int], None] | None = None) -> int:
        """Fill a new collection from the catalog, then switch to it; search uses the old one until then.

        When another process (a running server) holds the writer lock, it is asked to do it instead and
        None of the vectors change here; returns the number of chunks indexed here.
        """
        with self.owning() as owner, self._mutex:
            if not owner:
                self.request_rebuild()
                return 0
            name = f"{self.catalog.vector_store_prefix()}{time.strftime('%Y%m%d%H%M%S')}{secrets.token_hex(2)}"
            self.index.create(name, fingerprint(self.embedder))
            total, done, after = self.catalog.chunk_count(), 0, 0
            while work := self.catalog.all_vector_work(after_rowid=after, limit=BATCH):
                self.index.apply(work, self._vectors(work), name=name)
                after = work[-1].seq
                done += len(work)
                if on_progress:
                    on_progress(done, total)
            self.catalog.set_meta(ACTIVE_KEY, name)
            self.catalog.delete_meta(REBUILD_KEY)
            self.drop_stale_collections()
            self.drain()  # what changed while the new collection filled
        return done

    def stale_collections(self) -> list[str]:
        """This data dir's collections that are not the active one: left by an interrupted or finished rebuild."""
        active, prefix = self.catalog.active_collection(), self.catalog.vector_store_prefix()
        return [n for n in self.index.collection_names() if n != active and (n.startswith(prefix) or (n == LEGACY_COLLECTION and self.index.embedded))]

    def drop_stale_collections(self) -> None:
        with self.owning() as owner:
            for name in self.stale_collections() if owner else []:
                self.index.drop(name)

    def request_rebuild(self) -> None:
        """Ask the lock holder to rebuild (used when another process, such as the server, holds the lock)."""
        self.catalog.set_meta(REBUILD_KEY, fingerprint(self.embedder))

    def rebuild_requested(self) -> bool:
        return self.catalog.get_meta(REBUILD_KEY) is not None

    def wait_until_applied(self, timeout_s: float, poll_s: float = 0.5) -> bool:
        """Wait for the lock holder to apply the queue and any requested rebuild; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.catalog.pending_vector_count() or self.rebuild_requested():
            if time.monotonic() > deadline:
                return False
            time.sleep(poll_s)
        return True

    def run_relay(self, stop: threading.Event, interval_s: float = 1.0) -> None:
        """The lock holder's loop: apply what other processes queued, until ``stop`` is set."""
        while not stop.is_set():
            try:
                if self.rebuild_requested():
                    self.rebuild()
                self.drain()
            except Exception:  # keep serving; the work stays queued and is retried
                log.exception("applying queued vector work failed; retrying")
            stop.wait(interval_s)
