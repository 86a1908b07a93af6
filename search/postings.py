"""Sparse scores as plain arrays, saved as ``.npy`` files and memory-mapped back: a matrix by column (the sparse
view's term weights), and a BM25 index (each term's postings with precomputed scores, bm25s's eager layout) with
its vocabulary as sorted UTF-8 bytes, so that no dictionary of every term is rebuilt (a million character
bigrams at 100,000 chunks) and no scipy is imported to answer a query."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse

_COLUMN_ARRAYS = ("data", "indices", "indptr")
_TERM_ARRAYS = ("terms", "term_starts", "term_ids")
# bm25s's defaults (its "lucene" variant), which every index here is scored with.
K1, B = 1.5, 0.75


def mapped_array(path: Path) -> np.ndarray:
    """A saved array, memory-mapped (read whole when empty: there is nothing to map).

    A plain ndarray over the mapping, not np.memmap: every slice of a memmap runs Python code, and a query
    slices a column per term (3.7 vs 0.7 ms for the sparse view's 135 columns at 100,000 chunks)."""
    array = np.load(path, allow_pickle=False, mmap_mode="r")
    return np.load(path, allow_pickle=False) if array.size == 0 else np.asarray(array)


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
class Columns:
    """A sparse matrix kept by column (scipy's CSC layout) as plain arrays, scored without scipy."""

    data: np.ndarray  # each stored value
    indices: np.ndarray  # the row of each stored value
    indptr: np.ndarray  # where each column's values start in ``data`` and ``indices``
    num_rows: int

    @classmethod
    def of(cls, matrix: "scipy.sparse.spmatrix") -> "Columns":
        csc = matrix.tocsc()
        return cls(csc.data, csc.indices, csc.indptr, csc.shape[0])

    def weighted_sum(self, columns: Sequence[int] | np.ndarray, weights: Sequence[float] | np.ndarray) -> np.ndarray:
        """Per row, the sum of weight × value over the given columns (a repeated column counts again)."""
        columns = np.asarray(columns, dtype=np.int64)
        if not len(columns):
            return np.zeros(self.num_rows, dtype=np.float64)
        starts, ends = self.indptr[columns], self.indptr[columns + 1]
        rows = np.concatenate([self.indices[start:end] for start, end in zip(starts, ends)])
        values = np.concatenate([self.data[start:end] for start, end in zip(starts, ends)])
        values = values * np.repeat(np.asarray(weights, dtype=np.float64), ends - starts)
        return np.bincount(rows, weights=values, minlength=self.num_rows)

    def save(self, folder: Path, name: str) -> None:
        for array in _COLUMN_ARRAYS:
            np.save(folder / f"{name}.{array}.npy", getattr(self, array), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, name: str, num_rows: int) -> "Columns":
        """The columns saved under ``name``, memory-mapped."""
        return cls(*(mapped_array(folder / f"{name}.{array}.npy") for array in _COLUMN_ARRAYS), num_rows=num_rows)


@dataclass(frozen=True)
class Postings:
    """BM25 scores of a list of token lists (one column per term, one row per list), looked up by term."""

    terms: np.ndarray  # uint8: every term's UTF-8 bytes, in sorted order, concatenated
    term_starts: np.ndarray  # int64: where each sorted term starts in ``terms`` (one more entry than terms)
    term_ids: np.ndarray  # int64: the column of each sorted term
    columns: Columns  # the BM25 score of each (term, list) pair
    total_length: int  # the lists' tokens, all counted: what their average length is read from

    @classmethod
    def build(cls, documents: Iterable[list[str]], beside: "Postings | None" = None) -> "Postings | None":
        """The BM25 index of the token lists (None when there are none), scored by bm25s with its defaults; or,
        ``beside`` another index, scored as if the lists were added to it (see ``_scored_beside``).

        The lists are read one at a time and kept as ids: at 100,000 chunks this peaks at a third of the memory
        that bm25s's lists of strings take (measured 342 vs 1,037 MB for the bigrams).
        """
        vocabulary: dict[str, int] = {}
        ids = [[vocabulary.setdefault(token, len(vocabulary)) for token in tokens] for tokens in documents]
        if not ids:
            return None
        if beside is None:
            import bm25s

            index = bm25s.BM25(k1=K1, b=B, method="lucene")
            index.index((ids, vocabulary), show_progress=False)
            vocabulary = index.vocab_dict
            columns = Columns(
                data=np.asarray(index.scores["data"]),
                indices=np.asarray(index.scores["indices"]),
                indptr=np.asarray(index.scores["indptr"]),
                num_rows=int(index.scores["num_docs"]),
            )
        else:
            columns = _scored_beside(ids, list(vocabulary), beside)
        encoded = sorted((term.encode("utf-8", "surrogatepass"), column) for term, column in vocabulary.items())
        lengths = np.fromiter((len(term) for term, _ in encoded), dtype=np.int64, count=len(encoded))
        return cls(
            terms=np.frombuffer(b"".join(term for term, _ in encoded), dtype=np.uint8),
            term_starts=np.concatenate(([0], np.cumsum(lengths))),
            term_ids=np.fromiter((column for _, column in encoded), dtype=np.int64, count=len(encoded)),
            columns=columns,
            total_length=sum(map(len, ids)),
        )

    def frequency(self, term: str) -> int:
        """How many lists hold the term."""
        column = self.column(term)
        return 0 if column is None else int(self.columns.indptr[column + 1] - self.columns.indptr[column])

    def column(self, term: str) -> int | None:
        """The term's column, or None when no document has it."""
        sorted_terms = _SortedTerms(self.terms, self.term_starts)
        key = term.encode("utf-8", "surrogatepass")
        position = bisect_left(sorted_terms, key)
        if position < len(sorted_terms) and sorted_terms[position] == key:
            return int(self.term_ids[position])
        return None

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """Every list's BM25 score for the terms (a repeated term counts again, as in bm25s)."""
        found = [column for column in map(self.column, terms) if column is not None]
        return self.columns.weighted_sum(found, [1.0] * len(found))

    def save(self, folder: Path, name: str) -> None:
        for array in _TERM_ARRAYS:
            np.save(folder / f"{name}.{array}.npy", getattr(self, array), allow_pickle=False)
        np.save(folder / f"{name}.total_length.npy", np.array([self.total_length], dtype=np.int64), allow_pickle=False)
        self.columns.save(folder, name)

    @classmethod
    def load(cls, folder: Path, name: str, num_rows: int) -> "Postings":
        """The postings saved under ``name``, memory-mapped."""
        arrays = {array: mapped_array(folder / f"{name}.{array}.npy") for array in _TERM_ARRAYS}
        total = int(np.load(folder / f"{name}.total_length.npy", allow_pickle=False)[0])
        return cls(**arrays, columns=Columns.load(folder, name, num_rows), total_length=total)


def _scored_beside(ids: list[list[int]], terms: list[str], beside: Postings) -> Columns:
    """BM25 scores of the token lists (``ids`` into ``terms``) as one index with ``beside``'s lists would give them:
    each term's document frequency and the average length count ``beside``'s lists too.

    The chunks written since the loaded index are scored so (search/signals.py): scored alone, a handful of new
    chunks gave their terms the idf of a tiny corpus, half what the whole index gives, and a new review's lessons
    ranked and compared differently before the index was rebuilt than after.
    """
    counts = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    flat = np.fromiter((term for document in ids for term in document), dtype=np.int64, count=int(counts.sum()))
    rows = np.repeat(np.arange(len(ids), dtype=np.int64), counts)
    pairs, tf = np.unique(flat * len(ids) + rows, return_counts=True)  # sorted by term, then row: CSC order
    term_of, row_of = pairs // len(ids), pairs % len(ids)
    own_frequency = np.bincount(term_of, minlength=len(terms))
    frequency = own_frequency + np.fromiter(map(beside.frequency, terms), dtype=np.int64, count=len(terms))
    n = beside.columns.num_rows + len(ids)
    idf = np.log(1 + (n - frequency + 0.5) / (frequency + 0.5))
    average = (beside.total_length + counts.sum()) / n
    scores = idf[term_of] * tf / (tf + K1 * (1 - B + B * counts[row_of] / average))
    return Columns(scores.astype(np.float32), row_of.astype(np.int32), np.concatenate(([0], np.cumsum(own_frequency))), len(ids))
