"""Lessons that say something like a given lesson: "learned before" on a review, related lessons on a lesson page.

The suggestions come from the same evidence as a search for the lesson's own words (title and body, never the
document title and headings it shares with its siblings): the hybrid searcher's scores are their relevance, so a
better engine or fusion improves search and suggestions at once. Lessons of the excluded documents never appear;
identical or near-identical lessons collapse into one entry that says where else it was written; maximal marginal
relevance spreads the entries over documents and over what they say.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np

from kb.domain import Document, Lesson
from kb.textnorm import compact, tokenize
from search.query import MAX_QUERY_CHARS
from search.searcher import Searcher
from search.terms import by_weight

CANDIDATES = 30
# MMR trade-off: 1.0 ranks by relevance alone, lower values favour lessons unlike those already chosen.
MMR_LAMBDA = 0.7
# Added to the similarity of two lessons of one document, so a second pick from a document must earn its place.
SAME_DOCUMENT_PENALTY = 0.5
# Share of character bigrams two lessons must have in common to count as the same lesson written twice.
NEAR_IDENTICAL = 0.8
SHARED_TERMS = 4


@dataclass
class Suggestion:
    """One lesson to read, with why it matched and the near-identical copies folded into it."""

    lesson: Lesson
    document: Document | None
    score: float  # the search's fused score, scaled to 0..1 over the candidates
    shared_terms: list[str] = field(default_factory=list)
    passage: str = ""  # the lesson's passages that the search matched
    also_in: list[Lesson] = field(default_factory=list)  # the same lesson in other documents

    @property
    def other_documents(self) -> int:
        """In how many more documents the same lesson was written."""
        return len({other.document_id for other in self.also_in} - {self.lesson.document_id})

    def to_json(self) -> dict:
        return {
            "lesson_id": self.lesson.id,
            "title": self.lesson.title,
            "source_title": self.document.title if self.document else self.lesson.source,
            "outcome": self.lesson.fields.get("outcome"),
            "score": round(self.score, 4),
            "shared_terms": self.shared_terms,
            "passage": self.passage,
            "also_in": [other.id for other in self.also_in],
        }


class SimilarLessons:
    def __init__(self, searcher: Searcher) -> None:
        self.searcher = searcher
        self.catalog = searcher.catalog

    def suggest(self, lesson: Lesson, k: int = 3, *, exclude_documents: Collection[str] = ()) -> list[Suggestion]:
        """The ``k`` best lessons like ``lesson``, from documents other than its own and ``exclude_documents``."""
        excluded = {lesson.document_id, *exclude_documents}
        text = lesson.own_text
        response = self.searcher.search(text[:MAX_QUERY_CHARS], k=CANDIDATES)
        found = list(response)
        lessons = self.catalog.get_lessons([r.lesson_id for r in found])
        kept = [r for r in found if r.lesson_id in lessons and lessons[r.lesson_id].document_id not in excluded]
        if not kept:
            return []
        candidates = [lessons[r.lesson_id] for r in kept]
        relevance = _unit(np.array([r.score for r in kept]))
        shapes = [_bigrams(c.own_text) for c in candidates]
        picked = _mmr(_collapse(shapes, relevance), candidates, shapes, relevance, k)
        documents = {d: self.catalog.get_document(d) for d in {candidates[i].document_id for i, _ in picked}}
        return [
            Suggestion(
                lesson=candidates[head],
                document=documents[candidates[head].document_id],
                score=float(relevance[head]),
                shared_terms=_shared_terms(text, candidates[head].own_text),
                passage=kept[head].text,
                also_in=[candidates[i] for i in copies],
            )
            for head, copies in picked
        ]


def _unit(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.ones_like(values)


def _shared_terms(text: str, other: str) -> list[str]:
    """The meaningful words both texts use, most telling first; a word inside a longer shared one (客户 in
    客户关系) is left out."""
    common = set(tokenize(text)) & set(tokenize(other))
    common = {t for t in common if not any(t != u and t in u for u in common)}
    return by_weight(common)[:SHARED_TERMS]


def _bigrams(text: str) -> set[str]:
    folded = compact(text)
    return {folded[i : i + 2] for i in range(len(folded) - 1)} or {folded}


def _overlap(a: set[str], b: set[str]) -> float:
    """Share of character bigrams two texts have in common (Jaccard)."""
    return len(a & b) / len(a | b) if a or b else 1.0


def _collapse(shapes: list[set[str]], relevance: np.ndarray) -> list[tuple[int, list[int]]]:
    """Groups of near-identical candidates as (best index, other indexes), best group first."""
    order = sorted(range(len(shapes)), key=lambda i: -relevance[i])
    groups: list[tuple[int, list[int]]] = []
    for i in order:
        for head, copies in groups:
            if _overlap(shapes[head], shapes[i]) >= NEAR_IDENTICAL:
                copies.append(i)
                break
        else:
            groups.append((i, []))
    return groups


def _mmr(
    groups: list[tuple[int, list[int]]], candidates: list[Lesson], shapes: list[set[str]], relevance: np.ndarray, k: int
) -> list[tuple[int, list[int]]]:
    """Maximal marginal relevance over the groups' best lessons. Similarity between candidates is their share of
    character bigrams, plus a penalty for two lessons of one document."""
    remaining = list(groups)
    chosen: list[int] = []
    result: list[tuple[int, list[int]]] = []
    while remaining and len(result) < k:

        def gain(group: tuple[int, list[int]]) -> float:
            head = group[0]
            redundancy = max(
                (
                    _overlap(shapes[head], shapes[other])
                    + (SAME_DOCUMENT_PENALTY if candidates[head].document_id == candidates[other].document_id else 0.0)
                    for other in chosen
                ),
                default=0.0,
            )
            return MMR_LAMBDA * float(relevance[head]) - (1 - MMR_LAMBDA) * redundancy

        best = max(remaining, key=gain)
        remaining.remove(best)
        chosen.append(best[0])
        result.append(best)
    return result
