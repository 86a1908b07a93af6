"""Whether a question is about the knowledge base's subject at all, whatever documents of other subjects match it.

A base may hold unrelated documents (a newsletter, an HR policy) that match an off-topic question well, so the
views' top scores alone cannot tell that a sales knowledge base has no lesson for it. kb ships short descriptions
of questions about its subject and of questions about everything else (`kb/defaults/domain.yaml`, editable);
a question's margin in one view is how much nearer it is to the nearest of the others than to the nearest of its
own, the taxonomy's topics counted as its own. The margin is read in every view the weak verdict weighs (the
engine's and the universal sentence encoder's): their similarities spread differently, and together they tell
more questions apart than either alone (docs/BENCHMARKS.md).

The same descriptions tell which documents keep to the subject: a chunk is off the subject when its vector is
nearer to a description of elsewhere than to any of the subject's, and a document's off-subject share is the
share of its chunks that are (search/searcher.py ranks the lessons of such documents lower).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kb.embedding import CachedEmbedder
from kb.errors import BadFileError
from kb.yaml_text import read_yaml_file

if TYPE_CHECKING:
    from kb.catalog import Catalog
    from search.chunk_index import ChunkIndex
    from search.signals import Signals

# Chunks whose subject is judged in one product: bounds the similarity matrix at a few megabytes.
SUBJECT_BLOCK = 16384


class DomainCheck:
    def __init__(self, subject: Sequence[str], elsewhere: Sequence[str], engines: Mapping[str, CachedEmbedder]) -> None:
        """``engines``: the views whose query vectors the margins are read in, by view name ("dense" the engine's)."""
        self.subject, self.elsewhere = list(subject), list(elsewhere)
        self._engines = dict(engines)
        self._vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def load(cls, path: Path, topics: Sequence[str], engines: Mapping[str, CachedEmbedder]) -> "DomainCheck":
        """The file's two lists, the taxonomy's topic profiles added to the subject's."""
        data = read_yaml_file(path, "the domain descriptions")
        lists = {}
        for key in ("subject", "elsewhere"):
            value = data.get(key) if isinstance(data, dict) else None
            if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
                raise BadFileError(path, f"'{key}' must be a list of descriptions (strings)")
            lists[key] = value
        return cls([*lists["subject"], *topics], lists["elsewhere"], engines)

    def _described(self, view: str) -> tuple[np.ndarray, np.ndarray]:
        # Embedded as passages, once per data dir and view: the embedding cache keeps them.
        if view not in self._vectors:
            vectors = self._engines[view].embed_passages([*self.subject, *self.elsewhere])
            self._vectors[view] = (vectors[: len(self.subject)], vectors[len(self.subject) :])
        return self._vectors[view]

    def margins(self, query_vectors: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Per view of the check: cosine to the nearest description of elsewhere less cosine to the nearest of the
        subject."""
        found = {}
        for view, vector in query_vectors.items():
            if view in self._engines:
                subject, elsewhere = self._described(view)
                found[view] = float((elsewhere @ vector).max() - (subject @ vector).max())
        return found

    def off_subject(self, columns: np.ndarray) -> np.ndarray:
        """Per column of dense vectors (dimensions × chunks), whether it is nearer to elsewhere than to the subject."""
        subject, elsewhere = self._described("dense")
        found = np.zeros(columns.shape[1], dtype=bool)
        for start in range(0, columns.shape[1], SUBJECT_BLOCK):
            block = columns[:, start : start + SUBJECT_BLOCK]
            found[start : start + block.shape[1]] = (elsewhere @ block).max(axis=0) > (subject @ block).max(axis=0)
        return found


class SubjectShares:
    """Per chunk of the loaded index, the off-subject share of its document, from the vectors the index holds. Each
    part of the index is judged once (under a second at 100,000 chunks); chunks written since are judged as they
    come."""

    def __init__(self, catalog: "Catalog", domain: DomainCheck) -> None:
        self.catalog, self.domain = catalog, domain
        self._lock = threading.Lock()
        self._last: tuple["Signals", np.ndarray | None] | None = None
        # By id(part): the part, its chunks' verdicts and their documents' ids.
        self._judged: dict[int, tuple["ChunkIndex", np.ndarray, np.ndarray]] = {}

    def of_chunks(self, signals: "Signals") -> np.ndarray | None:
        """Each chunk's document's off-subject share, in the order of ``signals.chunk_ids``; None when the vectors
        are not all in memory."""
        with self._lock:
            if self._last is None or self._last[0] is not signals:
                self._last = (signals, self._shares(signals))
            return self._last[1]

    def _shares(self, signals: "Signals") -> np.ndarray | None:
        parts = [part for part in signals.parts if part.chunk_ids]
        if not parts or any(part.dense is None for part in parts):
            return None
        judged = {}
        for part in parts:
            found = self._judged.get(id(part))
            judged[id(part)] = found if found is not None and found[0] is part else (part, *self._judge(part))
        self._judged = judged
        off = np.concatenate([verdicts for _, verdicts, _ in judged.values()])
        _, documents = np.unique(np.concatenate([ids for _, _, ids in judged.values()]), return_inverse=True)
        share = np.bincount(documents, weights=off) / np.bincount(documents)
        return share[documents].astype(np.float32)

    def _judge(self, part: "ChunkIndex") -> tuple[np.ndarray, np.ndarray]:
        """The part's chunks' verdicts (True: off the subject) and their documents' ids."""
        lessons = list(part.lesson_index)
        documents = self.catalog.lesson_documents(lessons)
        return self.domain.off_subject(part.dense), np.array([documents.get(lid, "") for lid in lessons])[part.lesson_codes]
