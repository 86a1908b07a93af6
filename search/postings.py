"""A BM25 index as plain arrays: each term's postings (chunk positions and precomputed BM25 scores, bm25s's eager
CSC layout) and the vocabulary as sorted UTF-8 bytes, so that it is saved as ``.npy`` files and memory-mapped back
without rebuilding a dictionary of every term (a million character bigrams at 100,000 chunks)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_ARRAYS = ("terms", "term_starts", "term_ids", "data", "indices", "indptr")


def mapped_array(path: Path) -> np.ndarray:
    """A saved array, memory-mapped (read whole when empty: there is nothing to map)."""
    array = np.load(path, allow_pickle=False, mmap_mode="r")
    return np.load(path, allow_pickle=False) if array.size == 0 else array


class _SortedTerms(Sequence[bytes]):
    """The vocabulary's terms, UTF-8 encoded and sorted, read one at a time from one byte array."""

    def __init__(self, terms: np.ndarray, starts: np.ndarray) -> None:
        self._terms = terms
        self._starts = starts

    def __len__(self) -> int:
        return len(self._starts) - 1

    def __getitem__(self, position: int) -> bytes:  # type: ignore[override]
        return self._terms[self._starts[position] : self._starts[position + 1]].tobytes()


@dataclass(frozen=True)
class Postings:
    """BM25 scores of ``num_docs`` token lists, looked up by term."""

    terms: np.ndarray  # uint8: every term's UTF-8 bytes, in sorted order, concatenated
    term_starts: np.ndarray  # int64: where each sorted term starts in ``terms`` (one more entry than terms)
    term_ids: np.ndarray  # int64: the column of each sorted term
    data: np.ndarray  # float32: the BM25 score of each posting
    indices: np.ndarray  # int32/int64: the chunk position of each posting
    indptr: np.ndarray  # int64: where each column's postings start in ``data`` and ``indices``
    num_docs: int

    @classmethod
    def build(cls, documents: Iterable[list[str]]) -> "Postings | None":
        """The BM25 index of the token lists (None when there are none), scored by bm25s with its defaults.

        The lists are read one at a time and kept as ids: at 100,000 chunks this peaks at a third of the memory
        that bm25s's lists of strings take (measured 342 vs 1,037 MB for the bigrams).
        """
        import bm25s

        vocabulary: dict[str, int] = {}
        ids = [[vocabulary.setdefault(token, len(vocabulary)) for token in tokens] for tokens in documents]
        if not ids:
            return None
        index = bm25s.BM25()
        index.index((ids, vocabulary), show_progress=False)
        encoded = sorted((term.encode("utf-8", "surrogatepass"), column) for term, column in index.vocab_dict.items())
        lengths = np.fromiter((len(term) for term, _ in encoded), dtype=np.int64, count=len(encoded))
        return cls(
            terms=np.frombuffer(b"".join(term for term, _ in encoded), dtype=np.uint8),
            term_starts=np.concatenate(([0], np.cumsum(lengths))),
            term_ids=np.fromiter((column for _, column in encoded), dtype=np.int64, count=len(encoded)),
            data=np.asarray(index.scores["data"]),
            indices=np.asarray(index.scores["indices"]),
            indptr=np.asarray(index.scores["indptr"]),
            num_docs=int(index.scores["num_docs"]),
        )

    def column(self, term: str) -> int | None:
        """The term's column, or None when no document has it."""
        sorted_terms = _SortedTerms(self.terms, self.term_starts)
        key = term.encode("utf-8", "surrogatepass")
        position = bisect_left(sorted_terms, key)
        if position < len(sorted_terms) and sorted_terms[position] == key:
            return int(self.term_ids[position])
        return None

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """Every document's BM25 score for the terms (a repeated term counts again, as in bm25s)."""
        scores = np.zeros(self.num_docs, dtype=np.float64)
        for column in (self.column(term) for term in terms):
            if column is not None:
                start, end = self.indptr[column], self.indptr[column + 1]
                scores[self.indices[start:end]] += self.data[start:end]  # a column holds each document once
        return scores

    def save(self, folder: Path, name: str) -> None:
        for array in _ARRAYS:
            np.save(folder / f"{name}.{array}.npy", getattr(self, array), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, name: str, num_docs: int) -> "Postings":
        """The postings saved under ``name``, memory-mapped."""
        arrays = {array: mapped_array(folder / f"{name}.{array}.npy") for array in _ARRAYS}
        return cls(**arrays, num_docs=num_docs)
