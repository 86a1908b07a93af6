"""Whether a question is about the knowledge base's subject at all, whatever documents of other subjects match it.

A base may hold unrelated documents (a newsletter, an HR policy) that match an off-topic question well, so the
views' top scores alone cannot tell that a sales knowledge base has no lesson for it. kb ships short descriptions
of questions about its subject and of questions about everything else (`kb/defaults/domain.yaml`, editable);
a question's margin is how much nearer it is to the nearest of the others than to the nearest of its own, the
taxonomy's topics counted as its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from kb.embedding import CachedEmbedder
from kb.errors import BadFileError
from kb.yaml_text import read_yaml_file


class DomainCheck:
    def __init__(self, subject: Sequence[str], elsewhere: Sequence[str], embedder: CachedEmbedder) -> None:
        self.subject, self.elsewhere = list(subject), list(elsewhere)
        self._embedder = embedder

    @classmethod
    def load(cls, path: Path, topics: Sequence[str], embedder: CachedEmbedder) -> "DomainCheck":
        """The file's two lists, the taxonomy's topic profiles added to the subject's."""
        data = read_yaml_file(path, "the domain descriptions")
        lists = {}
        for key in ("subject", "elsewhere"):
            value = data.get(key) if isinstance(data, dict) else None
            if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
                raise BadFileError(path, f"'{key}' must be a list of descriptions (strings)")
            lists[key] = value
        return cls([*lists["subject"], *topics], lists["elsewhere"], embedder)

    @cached_property
    def _vectors(self) -> tuple[np.ndarray, np.ndarray]:
        # Embedded as passages, once per data dir: the embedding cache keeps them.
        vectors = self._embedder.embed_passages([*self.subject, *self.elsewhere])
        return vectors[: len(self.subject)], vectors[len(self.subject) :]

    def margin(self, query_vector: np.ndarray) -> float:
        """Cosine to the nearest description of elsewhere less cosine to the nearest of the subject."""
        subject, elsewhere = self._vectors
        return float((elsewhere @ query_vector).max() - (subject @ query_vector).max())
