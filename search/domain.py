"""Whether a question is about the knowledge base's subject at all, whatever documents of other subjects match it.

A base may hold unrelated documents (a newsletter, an HR policy) that match an off-topic question well, so the
views' top scores alone cannot tell that a sales knowledge base has no lesson for it. kb ships short descriptions
of questions about its subject and of questions about everything else (`kb/defaults/domain.yaml`, editable);
a question's margin in one view is how much nearer it is to the nearest of the others than to the nearest of its
own, the taxonomy's topics counted as its own. The margin is read in every view the weak verdict weighs (the
engine's and the universal sentence encoder's): their similarities spread differently, and together they tell
more questions apart than either alone (docs/BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from kb.embedding import CachedEmbedder
from kb.errors import BadFileError
from kb.yaml_text import read_yaml_file


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
