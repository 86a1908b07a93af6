"""Search's side of the gap queue (kb/gaps.py): the vector a weak question is grouped by, feeding each logged search
to the queue, and searching the open gaps' questions again when the base has grown."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kb.accounts import User
from kb.gaps import GapQueue
from search.searcher import Results, Searcher

# The view gaps are grouped by: Universal Sentence Encoder puts a question and its translation close together
# (on benchmarks/gap_grouping.py's sets every question's nearest other question is one of its own group).
GROUPING_VIEW = "use"
# How many open questions one re-check searches again (newest first), and how many weak searches logged outside
# the queue it groups: a re-check runs after an ingest or a review, and must stay a few seconds.
RECHECK_QUESTIONS = 200
BACKFILL_QUERIES = 200


def grouping_vector(searcher: Searcher, question: str) -> np.ndarray:
    """The question's meaning as the gap queue compares it: the cross-lingual "use" view where kb runs it, else the
    engine's own query vector."""
    encoder = next((view for view in searcher.views if view.name == GROUPING_VIEW), searcher.embedder)
    return encoder.embed_query(question)


def note_search(queue: GapQueue, searcher: Searcher, question: str, results: Results, user: User | None) -> int | None:
    """Feed one logged search to the queue: weak, it is counted in its gap (whose id is returned); answered, its
    question leaves any gap it was in."""
    if results.weak:
        return queue.record(question, grouping_vector(searcher, question), user)
    queue.found(question, results[0].lesson_id)
    return None


@dataclass
class Recheck:
    grouped: int = 0  # weak searches logged outside the queue, now in gaps
    searched: int = 0
    answered: list[int] = field(default_factory=list)  # gaps answered by search now


def refresh_gaps(queue: GapQueue, searcher: Searcher) -> Recheck:
    """Group the weak searches logged outside the queue, then search the open gaps' weak questions again: a question
    no longer weak is answered, and its gap once none of its questions is weak. A question weak only because its
    best lesson's document is off the base's subject is answered too: the team asked it, and the document that
    answers it is kept on purpose from then on (search/searcher.py)."""
    done = Recheck()
    for log_id, question, asked_at in queue.ungrouped_weak_queries(BACKFILL_QUERIES):
        queue.link_logged(log_id, queue.record(question, grouping_vector(searcher, question), asked_at=asked_at))
        done.grouped += 1
    for question in queue.open_questions(RECHECK_QUESTIONS):
        results = searcher.search(question, k=1)
        done.searched += 1
        if not results.weak or results.off_subject:
            gap_id = queue.found(question, results[0].lesson_id)
            if gap_id is not None:
                done.answered.append(gap_id)
    return done
