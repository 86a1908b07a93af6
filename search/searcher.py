"""Hybrid search: normalise the query, score chunks lexically, densely and by the extra views, fuse, group by lesson."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kb.catalog import Catalog
from kb.domain import MAX_K, Chunk, Lesson, SearchFilters, SearchResult
from kb.embedding import CachedEmbedder, Embedder, one_blas_thread
from kb.gaps import GapQueue
from kb.textnorm import compact, fold, mainly_cjk
from ingest.tagging import Facets
from search.dense import dense_search
from search.domain import DomainCheck, SubjectShares
from search.fusion import FusionWeights, WeakCalibration, convex_fusion, minmax
from search.lexical import match_expression, query_bigrams, query_tokens, title_search
from search.query import Glossary, Query, parse_query
from search.scripts import ALIGNED_VIEWS, script_gaps
from search.terms import is_meaningful
from search.signals import ChunkSignals, Signals

if TYPE_CHECKING:  # Chroma is opened only when a search needs it: the vectors are in memory otherwise
    from kb.vector_index import VectorIndex

CANDIDATES = 100
# A query that quotes this many letters or characters of a chunk verbatim is a quotation of it.
MIN_QUOTE_CHARS = 10
# A quoted chunk shares every word and character pair with the query, so it ranks among the best by fused score;
# folding every candidate's text to look for the quote cost 15-30 ms a query at 100,000 chunks.
QUOTE_CANDIDATES = 30
QUOTE_BONUS = 1.0
# A lesson past its verify-by date ranks below an equally good fresh one: its fused score is multiplied by this, so it
# stays above fresh lessons that match less well by more than a tenth (docs/ARCHITECTURE.md). Archived lessons leave.
STALE_PENALTY = 0.9
# Views that score only the other signals' candidates rather than every chunk. The universal sentence encoder's
# 512 dimensions took 15 ms of CPU a query at 100,000 chunks, its own best chunks changed few top-10 lessons
# (docs/BENCHMARKS.md, stop 32), and its scores still weigh in the fusion and the weak verdict.
RESCORING_VIEWS = frozenset({"use"})
# For a question about the base's subject, a lesson's score is lowered by this times its document's off-subject
# share (search/domain.py): in a base that also holds newsletters or recipes, a sales question's close calls go to
# sales lessons, while a question about taxes still finds the tax document first. On the two bases with such
# documents every gold set rose or held for values from 0.2 to 0.5 (docs/BENCHMARKS.md, stop 34).
OFF_SUBJECT_PENALTY = 0.3
# Search is weak when its best lesson comes from a document this far off the subject or further (most of its chunks
# nearer to a description of elsewhere): a base that holds an espresso guide beside its sales lessons still has no
# lesson for an espresso question, however well the guide matches it (docs/BENCHMARKS.md, stop 36). A document that
# answers one of the team's gaps is kept on purpose, and trusted (kb/gaps.py).
OFF_SUBJECT_WEAK = 0.6


class Results(list):
    """Search results, best first, with ``weak`` set when none of them is a good match for the question."""

    weak: bool = False
    # Weak only because the best lesson's document is off the base's subject: by its scores alone, it answers.
    off_subject: bool = False


@dataclass
class Evidence:
    """What each signal says about one query: chunk scores over the candidates, title scores, top raw scores."""

    query: Query
    terms: list[str]
    candidates: list[str]
    lessons: list[str]  # each candidate's lesson
    signals: dict[str, np.ndarray]
    titles: dict[str, float]
    tops: dict[str, float] = field(default_factory=dict)
    off_domain: dict[str, float] = field(default_factory=dict)  # DomainCheck's margins of the query, by view
    # Each candidate lesson's document's off-subject share (where it is not zero).
    off_subject: dict[str, float] = field(default_factory=dict)
    # Per signal, what fusion adds to each candidate's score: the cross-script gap (search/scripts.py).
    shifts: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def on_subject(self) -> bool:
        """Whether the question is nearer to the subject's descriptions (then off-subject lessons rank lower)."""
        return self.off_domain.get("dense", 0.0) < 0

    def fusion_inputs(self) -> dict[str, np.ndarray]:
        return {name: scores + self.shifts[name] if name in self.shifts else scores for name, scores in self.signals.items()}


class Searcher:
    def __init__(
        self,
        catalog: Catalog,
        index: Callable[[], VectorIndex],
        embedder: Embedder,
        glossary: Glossary,
        weights: FusionWeights = FusionWeights(),
        max_chars: int = 1000,
        *,
        views: Sequence[CachedEmbedder] = (),
        calibration: WeakCalibration = WeakCalibration(),
        facets: Facets | None = None,
        saved_index: Path | None = None,
        domain: DomainCheck | None = None,
    ) -> None:
        self.catalog = catalog
        self._index = index
        self.embedder = embedder
        self.glossary = glossary
        self.weights = weights
        self.max_chars = max_chars
        self.views = list(views)
        self.signals = ChunkSignals(
            catalog, self.views, dense=embedder if isinstance(embedder, CachedEmbedder) else None, snapshots=saved_index
        )
        self.calibration = calibration
        self.domain = domain
        self.subject_shares = SubjectShares(catalog, domain) if domain else None
        self.gaps = GapQueue(catalog)
        self.facets = facets or Facets({})
        # The query encoders run side by side: each on one thread (see one_omp_thread), the machine has more.
        one_blas_thread()
        self._encoders = ThreadPoolExecutor(max_workers=1 + len(self.views), thread_name_prefix="kb-query")

    def warm_up(self) -> None:
        """Answer one query, so that what a first query loads (indexes, dictionaries, engines) is loaded now."""
        self.search("预热 warm-up 客户")

    def parse(self, raw: str) -> Query:
        return parse_query(raw, self.glossary)

    def evidence(self, raw_query: str, filters: SearchFilters | None = None, *, titles: bool | None = None) -> Evidence:
        """Every signal's scores for the query's candidate chunks (the union of each signal's best).

        Lesson titles are searched when ``titles`` says so, by default when their fusion weight is not zero.
        """
        query = self.parse(raw_query)
        filters = self.facets.canonical_filters(filters or SearchFilters())
        # Each encoder's thread also scores every chunk with its vector, beside the lexical scoring here.
        snapshot: Future[Signals] = Future()
        dense_future = self._encoders.submit(_encode_and_score, self.embedder, query.text, snapshot, None)
        view_futures = {
            view.name: self._encoders.submit(_encode_and_score, view, query.text, snapshot, view.name, view.name not in RESCORING_VIEWS)
            for view in self.views
        }
        try:
            signals = self.signals.current()
        except BaseException as exc:
            snapshot.set_exception(exc)
            raise
        snapshot.set_result(signals)
        ids = signals.chunk_ids
        allowed = signals.allowed(None if filters.is_empty() else self.catalog.lesson_ids(filters))
        among = None if allowed.all() else np.flatnonzero(allowed)
        terms = query_tokens(query)
        full = {"lexical": signals.lexical(terms), "bigrams": signals.bigrams(query_bigrams(query))}
        # The lexical signals' best and the titles' while the encoders run.
        chosen = {i for scores in full.values() for i in _top(scores, among)}
        searched_titles: dict[str, float] = {}
        if self.weights.title > 0 if titles is None else titles:
            searched_titles = dict(title_search(self.catalog, match_expression(terms), filters, CANDIDATES))
        scanned = {name: future.result()[1] for name, future in view_futures.items() if name not in RESCORING_VIEWS}
        for scores in scanned.values():
            chosen.update(_top(scores, among))
        full.update(scanned)
        query_vector, dense_scores = dense_future.result()
        query_vectors = {"dense": query_vector, **{name: future.result()[0] for name, future in view_futures.items()}}
        if dense_scores is None:  # the vectors are not all in memory: Chroma's nearest chunks
            document_ids = self.catalog.document_ids_for_source(filters.source) if filters.source else None
            dense_hits = dense_search(self._index(), self.embedder, query, filters, CANDIDATES, document_ids)
            position = {cid: i for i, cid in enumerate(ids)}
            chosen.update(position[cid] for cid, _ in dense_hits if cid in position)
            dense = dict(dense_hits)
        else:
            dense_top = _top(dense_scores, among)
            chosen.update(dense_top)
            dense = {ids[i]: float(dense_scores[i]) for i in dense_top}
        # The loaded index may keep chunks removed since it was built (signals.py); the shown ones come from the
        # catalog whatever this check finds.
        present = self.catalog.chunk_ids([ids[i] for i in chosen]) if signals.holds_removed else None
        rows = sorted(i for i in chosen if present is None or ids[i] in present)
        chosen_scores = {name: scores[rows] for name, scores in full.items()}
        for name in RESCORING_VIEWS & view_futures.keys():
            chosen_scores[name] = signals.view_at(name, query_vectors[name], rows)
        floor = min(dense.values(), default=0.0)
        chosen_scores["dense"] = np.array([dense.get(ids[i], floor) for i in rows])
        # Every signal's best score; the weak verdict reads those it is calibrated for.
        tops = {name: float(scores.max()) for name, scores in chosen_scores.items() if scores.size}
        # Margins only in the views the weak verdict weighs; their query vectors are made for the search anyway.
        weighed = {view: vector for view, vector in query_vectors.items() if view in self.calibration.off_domain}
        off_domain = self.domain.margins(weighed) if self.domain else {}
        lessons = signals.lesson_ids[rows].tolist()
        shares = self.subject_shares.of_chunks(signals) if self.subject_shares else None
        off_subject = {} if shares is None else {lid: float(shares[i]) for i, lid in zip(rows, lessons) if shares[i] > 0}
        scores_at = {name: partial(signals.view_at, name, vector) for name, vector in query_vectors.items() if name in ALIGNED_VIEWS}
        if dense_scores is None:  # Chroma's scores of its nearest chunks only: no mean to read
            del scores_at["dense"]
        else:
            scores_at["dense"] = dense_scores.__getitem__
        shifts = script_gaps(mainly_cjk(query.text), signals.cjk, rows, scores_at)
        return Evidence(
            query, terms, [ids[i] for i in rows], lessons, chosen_scores, searched_titles, tops, off_domain, off_subject, shifts
        )

    def search(self, raw_query: str, *, k: int = 10, filters: SearchFilters | None = None, per_lesson: int = 1) -> Results:
        """Best lessons for the query; at most ``per_lesson`` results (chunks) from one lesson."""
        k = max(1, min(int(k), MAX_K))
        return self.rank(self.evidence(raw_query, filters), k=k, per_lesson=per_lesson)

    def rank(self, evidence: Evidence, *, k: int = 10, per_lesson: int = 1) -> Results:
        """Fuse the evidence into ranked lessons (each showing its best chunks) and judge whether they are weak."""
        query, terms = evidence.query, evidence.terms
        fused = convex_fusion(evidence.fusion_inputs(), self.weights)
        chunk_scores = {cid: float(score) for cid, score in zip(evidence.candidates, fused)}
        lesson_of = dict(zip(evidence.candidates, evidence.lessons))
        quoting: set[str] = set()  # lessons the query quotes verbatim
        quoted = compact(query.text)
        if len(quoted) >= MIN_QUOTE_CHARS:
            best = sorted(evidence.candidates, key=lambda cid: -chunk_scores[cid])[:QUOTE_CANDIDATES]
            for chunk in self.catalog.get_chunks(best).values():
                if quoted in compact(chunk.text):
                    chunk_scores[chunk.id] += QUOTE_BONUS
                    quoting.add(chunk.lesson_id)
        best_chunks: dict[str, list[str]] = {}
        for chunk_id in sorted(evidence.candidates, key=lambda cid: -chunk_scores[cid]):
            best_chunks.setdefault(lesson_of[chunk_id], []).append(chunk_id)
        # A query that is a lesson's title, word for word, names that lesson as surely as a quotation; its words
        # and character pairs put the lesson among the best by fused score.
        titled = self.catalog.lesson_titles(list(best_chunks)[:QUOTE_CANDIDATES]) if quoted else {}
        for lesson_id, title in titled.items():
            if lesson_id not in quoting and compact(title) == quoted:
                chunk_scores[best_chunks[lesson_id][0]] += QUOTE_BONUS
                quoting.add(lesson_id)
        # A lesson scores as its best chunk, plus its title's match (normalised like the other signals), less its
        # document's off-subject share when the question is on the subject.
        title_ids = list(evidence.titles)
        title_scores = dict(zip(title_ids, minmax(np.array([evidence.titles[t] for t in title_ids]))))
        penalty = OFF_SUBJECT_PENALTY if evidence.on_subject else 0.0
        lesson_scores = {
            lid: chunk_scores[ids[0]] + self.weights.title * float(title_scores.get(lid, 0.0)) - penalty * evidence.off_subject.get(lid, 0.0)
            for lid, ids in best_chunks.items()
        }
        lesson_scores = _lifecycle_scores(lesson_scores, self.catalog.lesson_states(list(lesson_scores)))
        ranked_lessons = sorted(lesson_scores, key=lambda lid: -lesson_scores[lid])[:k]
        lessons = self.catalog.get_lessons(ranked_lessons)
        siblings: dict[str, dict[int, Chunk]] = {}
        by_id: dict[str, Chunk] = {}
        for chunk in self.catalog.chunks_of_lessons(ranked_lessons):
            siblings.setdefault(chunk.lesson_id, {})[chunk.ordinal] = chunk
            by_id[chunk.id] = chunk
        picked = [(by_id[cid], lesson_scores[lid]) for lid in ranked_lessons for cid in best_chunks[lid][:per_lesson] if cid in by_id]
        documents = self.catalog.document_titles([lesson.document_id for lesson in lessons.values()])
        similarity = dict(zip(evidence.candidates, evidence.signals["dense"]))
        results = Results()
        for chunk, score in picked:
            if chunk.lesson_id not in lessons:
                continue
            others = set(best_chunks[chunk.lesson_id][:per_lesson]) - {chunk.id}
            text = _window(chunk, siblings.get(chunk.lesson_id, {}), chunk_scores, self.max_chars, others)
            result = _result(chunk, text, lessons[chunk.lesson_id], score, terms)
            result.document = documents.get(lessons[chunk.lesson_id].document_id, result.source)
            result.similarity = max((float(similarity[c]) for c in best_chunks[chunk.lesson_id] if c in similarity), default=None)
            results.append(result)
        results.weak = not results or (not quoting and self.calibration.weak(evidence.tops, evidence.off_domain))
        if not results.weak and evidence.off_subject.get(results[0].lesson_id, 0.0) >= OFF_SUBJECT_WEAK:
            results.weak = results.off_subject = not self.gaps.vouches_for(results[0].lesson_id)
        return results


def _lifecycle_scores(scores: dict[str, float], states: dict[str, str]) -> dict[str, float]:
    """The lessons' scores without the archived lessons, the stale ones' lowered by STALE_PENALTY."""
    return {lid: score * STALE_PENALTY if states.get(lid) == "stale" else score for lid, score in scores.items() if states.get(lid) != "archived"}


def _encode_and_score(
    encoder: Embedder, text: str, snapshot: Future[Signals], view: str | None, scan: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """The query's vector in one view (the dense one when ``view`` is None) and, with ``scan``, every chunk's score
    by it."""
    vector = encoder.embed_query(text)
    if not scan:
        return vector, None
    signals = snapshot.result()
    return vector, signals.dense(vector) if view is None else signals.view(view, vector)


def _top(scores: np.ndarray, among: np.ndarray | None, n: int = CANDIDATES) -> list[int]:
    """Positions of the ``n`` best positive scores, of those at the positions ``among`` when it is not None.

    A score of zero is no evidence (BM25 gives it to every chunk without a query term); leaving those out also
    spares the selection its slowest case, a sea of equal scores (1-12 ms a signal at 100,000 chunks).
    """
    positions = np.flatnonzero(scores > 0) if among is None else among[scores[among] > 0]
    if len(positions) > n:
        positions = positions[np.argpartition(-scores[positions], n)[:n]]
    return positions.tolist()


def _window(chunk: Chunk, siblings: dict[int, Chunk], scores: dict[str, float], max_chars: int, others: set[str]) -> str:
    """The matched chunk and its lesson's next best-scoring chunks that fit in max_chars, then the chunks that
    follow them, in reading order with an ellipsis at each gap. ``others`` are chunks that other results of the
    same lesson show."""
    candidates = [c for c in siblings.values() if c.id in scores and c.id != chunk.id and c.id not in others]
    shown = {chunk.ordinal}
    used = len(chunk.text)
    for other in sorted(candidates, key=lambda c: -scores[c.id]):
        if used + len(other.text) + 1 <= max_chars:
            shown.add(other.ordinal)
            used += len(other.text) + 1
    for ordinal in sorted(shown):
        following = siblings.get(ordinal + 1)
        while following and following.ordinal not in shown and following.id not in others and used + len(following.text) + 1 <= max_chars:
            shown.add(following.ordinal)
            used += len(following.text) + 1
            following = siblings.get(following.ordinal + 1)
    pieces: list[str] = []
    for ordinal in sorted(shown):
        if pieces and ordinal - 1 not in shown:
            pieces.append("…")
        pieces.append(siblings.get(ordinal, chunk).text)
    return "\n".join(pieces)[:max_chars]


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
        stale=lesson.lifecycle.stale,
        verify_by=lesson.lifecycle.verify_by,
        owner=lesson.lifecycle.owner,
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
