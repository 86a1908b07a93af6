"""Older lessons that a newer review lesson says nearly the same as: marked "to re-check" against it.

"Nearly the same" is read from the search's own evidence for the new lesson's words, measured against the new
lesson itself, which that search finds too: a match counts when its word (BM25) score and its Universal Sentence
Encoder score are, on average, at least ``RESTATEMENT_SHARE`` of the new lesson's own. Raw cosines cannot tell a
restatement from a lesson on the same subject (e5's sit at 0.90-0.97 for both); a share of the lesson's own score
does not depend on how long it is or on the base. Measured on seeds + corpus/ (docs/ARCHITECTURE.md "Re-check"):
nine restatements of seed and corpus lessons 0.475-0.69, the best match of nine lessons on a neighbouring point
0.18-0.41.
"""

from __future__ import annotations

import numpy as np

from kb.domain import Lesson
from search.query import MAX_QUERY_CHARS
from search.searcher import Searcher

RESTATEMENT_SHARE = 0.44
RESTATEMENT_SIGNALS = ("lexical", "use")
CANDIDATES = 10
# The most older lessons one new lesson sends back to be checked.
MOST_MARKED = 3


def restated(searcher: Searcher, lesson: Lesson) -> list[str]:
    """The lessons of other documents that ``lesson`` (stored and indexed) says nearly the same as, best first."""
    evidence = searcher.evidence(lesson.own_text[:MAX_QUERY_CHARS])
    results = searcher.rank(evidence, k=CANDIDATES)
    position = {chunk_id: i for i, chunk_id in enumerate(evidence.candidates)}
    own = next((position[r.chunk_id] for r in results if r.lesson_id == lesson.id and r.chunk_id in position), None)
    signals = [evidence.signals[name] for name in RESTATEMENT_SIGNALS if name in evidence.signals]
    if own is None or not signals or min(float(values[own]) for values in signals) <= 0:
        return []  # not indexed yet (a server applies its vectors), or nothing to measure against
    documents = {lid: found.document_id for lid, found in searcher.catalog.get_lessons([r.lesson_id for r in results]).items()}
    marked = []
    for result in results:
        if documents.get(result.lesson_id, lesson.document_id) == lesson.document_id or result.chunk_id not in position:
            continue
        match = position[result.chunk_id]
        if np.mean([float(values[match]) / float(values[own]) for values in signals]) >= RESTATEMENT_SHARE:
            marked.append(result.lesson_id)
    return marked[:MOST_MARKED]


def mark_restated(searcher: Searcher, document_id: str) -> dict[str, list[str]]:
    """Mark every lesson that one of the document's lessons restates as to re-check against it; new lesson id →
    the older lessons marked."""
    marked: dict[str, list[str]] = {}
    for lesson in searcher.catalog.lessons_of_document(document_id):
        older = restated(searcher, lesson)
        if older:
            searcher.catalog.mark_recheck(older, newer=lesson.id)
            marked[lesson.id] = older
    return marked
