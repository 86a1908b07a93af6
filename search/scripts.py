"""Cross-script alignment: a question in the base's minority script (English over a mostly Chinese base) meets
the other script's chunks on the same footing as its own.

A multilingual embedder puts a text nearer to texts in its own language than to the same meaning in another, so an
English question's cosines to every English chunk sit above its cosines to the Chinese ones: on a base with English
newsletters beside Chinese lessons, its nearest chunks are English whatever they say. For such a question the
other script's scores in the embedding views are raised by the gap between the question's mean similarity to the
chunks in its own script and to the others, read on a sample of each. A question in the majority script is left
as it is: there the other script is a minority of documents, and nothing says the question is asked across
languages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

ALIGNED_VIEWS = ("dense", "use")  # the embedding signals whose scores carry the language offset
MIN_SCRIPT_CHUNKS = 3  # fewer chunks than this in either script: no offset to read
SAMPLE = 512  # chunks of each script whose scores give its mean (0.9 ms per English question at 93k chunks)


def script_gaps(
    query_cjk: bool,
    chunk_cjk: np.ndarray,
    rows: Sequence[int],
    scores_at: dict[str, Callable[[np.ndarray], np.ndarray]],
) -> dict[str, np.ndarray]:
    """Per aligned view, what to add to the scores of the candidate chunks at ``rows``; empty when the question
    is in the base's majority script or one script has too few chunks.

    ``scores_at`` gives, per view, the question's scores of the chunks at some positions (in ascending order).
    """
    own = chunk_cjk == query_cjk
    n_own = int(own.sum())
    if n_own < MIN_SCRIPT_CHUNKS or len(own) - n_own < MIN_SCRIPT_CHUNKS or 2 * n_own >= len(own):
        return {}
    own_sample, other_sample = (_spread(np.flatnonzero(mask)) for mask in (own, ~own))
    other_rows = ~own[np.asarray(rows, dtype=np.int64)]
    gaps = {}
    for view, score in scores_at.items():
        gap = float(score(own_sample).mean() - score(other_sample).mean())
        gaps[view] = np.where(other_rows, gap, 0.0)
    return gaps


def _spread(positions: np.ndarray) -> np.ndarray:
    """At most SAMPLE of the positions, evenly spaced."""
    if len(positions) <= SAMPLE:
        return positions
    return positions[np.linspace(0, len(positions) - 1, SAMPLE).astype(np.int64)]
