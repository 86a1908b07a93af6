"""Hybrid search: normalise the query, retrieve lexically and densely, fuse, group by lesson."""

from __future__ import annotations

import re

from kb.catalog import Catalog
from kb.domain import Chunk, Lesson, SearchFilters, SearchResult
from kb.embedding import Embedder, fingerprint
from kb.textnorm import compact, fold, split_sentences
from kb.vector_index import VectorIndex
from search.dense import dense_search
from search.fusion import FusionWeights, reciprocal_rank_fusion
from search.lexical import lexical_search, match_expression, query_tokens, title_search
from search.query import Glossary, Query, parse_query
from search.terms import is_meaningful

CANDIDATES = 100
# A query that quotes this many letters or characters of a chunk verbatim is a quotation of it.
MIN_QUOTE_CHARS = 10
QUOTE_BONUS = 1.0
MAX_K = 100


class Searcher:
    def __init__(
        self,
        catalog: Catalog,
        index: VectorIndex,
        embedder: Embedder,
        glossary: Glossary,
        weights: FusionWeights = FusionWeights(),
        max_chars: int = 600,
    ) -> None:
        index.check_model(fingerprint(embedder))
        self.catalog = catalog
        self.index = index
        self.embedder = embedder
        self.glossary = glossary
        self.weights = weights
        self.max_chars = max_chars

    def parse(self, raw: str) -> Query:
        return parse_query(raw, self.glossary)

    def search(self, raw_query: str, *, k: int = 10, filters: SearchFilters | None = None, per_lesson: int = 1) -> list[SearchResult]:
        """Best lessons for the query; at most ``per_lesson`` results (chunks) from one lesson."""
        query = self.parse(raw_query)
        filters = filters or SearchFilters()
        k = max(1, min(int(k), MAX_K))
        document_ids = self.catalog.document_ids_for_source(filters.source) if filters.source else None
        terms = query_tokens(query)
        match = match_expression(self.catalog, terms)
        lexical = [cid for cid, _, _ in lexical_search(self.catalog, match, filters, CANDIDATES)]
        dense_hits = dense_search(self.index, self.embedder, query, filters, CANDIDATES, document_ids)
        dense = [cid for cid, _ in dense_hits]
        similarity = dict(dense_hits)
        titles = [lid for lid, _ in title_search(self.catalog, match, filters, CANDIDATES)]
        chunks = self.catalog.get_chunks(list(dict.fromkeys(lexical + dense)))
        weights = self.weights
        chunk_scores = reciprocal_rank_fusion([(lexical, weights.lexical), (dense, weights.dense)], weights.rank_constant)
        quoting: set[str] = set()  # lessons the query quotes verbatim
        quoted = compact(query.text)
        if len(quoted) >= MIN_QUOTE_CHARS:
            for chunk_id, chunk in chunks.items():
                if quoted in compact(chunk.text):
                    chunk_scores[chunk_id] += QUOTE_BONUS
                    quoting.add(chunk.lesson_id)
        # Lessons are ranked by fusing each list's lesson order (a lesson ranks where its best chunk does)
        # with the title ranking; each lesson then shows its best chunks.
        lesson_scores = reciprocal_rank_fusion(
            [
                (_lesson_order(lexical, chunks), weights.lexical),
                (_lesson_order(dense, chunks), weights.dense),
                (titles, weights.title),
            ],
            weights.rank_constant,
        )
        best_chunks: dict[str, list[str]] = {}
        for chunk_id in sorted(chunks, key=lambda cid: -chunk_scores.get(cid, 0.0)):
            best_chunks.setdefault(chunks[chunk_id].lesson_id, []).append(chunk_id)
        for lesson_id in quoting:
            lesson_scores[lesson_id] = lesson_scores.get(lesson_id, 0.0) + QUOTE_BONUS
        ranked_lessons = sorted((lid for lid in lesson_scores if lid in best_chunks), key=lambda lid: -lesson_scores[lid])[:k]
        picked = [(chunks[cid], lesson_scores[lid]) for lid in ranked_lessons for cid in best_chunks[lid][:per_lesson]]
        lessons = self.catalog.get_lessons(ranked_lessons)
        siblings: dict[str, dict[int, Chunk]] = {}
        for chunk in self.catalog.chunks_of_lessons(ranked_lessons):
            siblings.setdefault(chunk.lesson_id, {})[chunk.ordinal] = chunk
        results = []
        for chunk, score in picked:
            if chunk.lesson_id not in lessons:
                continue
            text = _window(chunk, siblings.get(chunk.lesson_id, {}), chunk_scores, self.max_chars)
            result = _result(chunk, text, lessons[chunk.lesson_id], score, terms)
            result.similarity = max((similarity[c] for c in best_chunks[chunk.lesson_id] if c in similarity), default=None)
            results.append(result)
        return results


def _lesson_order(chunk_ids: list[str], chunks: dict[str, Chunk]) -> list[str]:
    return list(dict.fromkeys(chunks[cid].lesson_id for cid in chunk_ids if cid in chunks))


def _window(chunk: Chunk, siblings: dict[int, Chunk], scores: dict[str, float], max_chars: int) -> str:
    """The matched chunk widened by its better-scoring neighbour, sentence by sentence, up to max_chars."""
    before, after = siblings.get(chunk.ordinal - 1), siblings.get(chunk.ordinal + 1)
    room = max_chars - len(chunk.text) - 1
    if room <= 0 or not (before or after):
        return chunk.text[:max_chars]
    score_before = scores.get(before.id, 0.0) if before else -1.0
    score_after = scores.get(after.id, 0.0) if after else -1.0
    if after and score_after >= score_before:
        extra = ""
        for sentence in split_sentences(after.text):
            if len(extra) + len(sentence) > room:
                break
            extra += sentence
        return f"{chunk.text}\n{extra}".strip() if extra else chunk.text
    extra = ""
    for sentence in reversed(split_sentences(before.text)):
        if len(extra) + len(sentence) > room:
            break
        extra = sentence + extra
    return f"{extra}\n{chunk.text}".strip() if extra else chunk.text


def _result(chunk: Chunk, text: str, lesson: Lesson, score: float, terms: list[str]) -> SearchResult:
    return SearchResult(
        lesson_id=lesson.id,
        title=lesson.title,
        text=text,
        heading_path=lesson.heading_path,
        source=lesson.source,
        score=score,
        chunk_id=chunk.id,
        highlights=highlight_spans(text, terms),
        kind=lesson.kind,
        outcome=lesson.fields.get("outcome"),
        tags=lesson.tags,
    )


def highlight_spans(text: str, terms: list[str]) -> list[tuple[int, int]]:
    """Character spans of the query's terms in the shown text (matched on the folded form)."""
    folded = fold(text)
    if len(folded) != len(text):  # a conversion changed the length: fold char by char so offsets stay true
        folded = "".join(f if len(f := fold(ch)) == 1 else ch.lower() for ch in text)
    spans: list[tuple[int, int]] = []
    for term in sorted({t for t in terms if is_meaningful(t)}, key=len, reverse=True):
        for match in re.finditer(re.escape(term), folded):
            spans.append((match.start(), match.end()))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
