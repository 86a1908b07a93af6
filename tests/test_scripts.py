"""Cross-script alignment (search/scripts.py): an English question over a mostly Chinese base."""

from __future__ import annotations

import numpy as np
import pytest

from kb.textnorm import mainly_cjk
from search.scripts import script_gaps

CHINESE, ENGLISH = True, False


def _scores_by_script(own: float, other: float, cjk: np.ndarray):
    """Scores of the chunks at some positions: ``own`` for English chunks, ``other`` for Chinese ones."""
    return lambda at: np.where(cjk[at], other, own)


def test_a_question_in_the_minority_script_gets_the_gap_on_the_other_scripts_rows():
    cjk = np.array([CHINESE] * 6 + [ENGLISH] * 4)
    gaps = script_gaps(ENGLISH, cjk, [0, 5, 6, 9], {"dense": _scores_by_script(0.82, 0.76, cjk)})
    assert gaps["dense"] == pytest.approx([0.06, 0.06, 0.0, 0.0])


def test_a_question_in_the_majority_script_or_beside_too_few_others_is_left_alone():
    cjk = np.array([CHINESE] * 6 + [ENGLISH] * 4)
    scores = {"dense": _scores_by_script(0.8, 0.7, cjk)}
    assert script_gaps(CHINESE, cjk, [0, 6], scores) == {}
    assert script_gaps(ENGLISH, np.array([CHINESE] * 9 + [ENGLISH] * 2), [0, 9], scores) == {}
    assert script_gaps(ENGLISH, np.array([CHINESE] * 10), [0, 1], scores) == {}


def test_a_chinese_text_with_english_words_still_counts_as_chinese():
    assert mainly_cjk("用CRM记录每次拜访：谁见了谁、谈了什么、下一步做什么")
    assert not mainly_cjk("Let the customer present the results to their own board (客户).")
    assert not mainly_cjk("2026-04-02")


@pytest.mark.slow
def test_an_english_question_reaches_the_chinese_lesson_that_answers_it(mixed):
    question = "How do I prepare for the first visit to a new customer?"
    evidence = mixed.searcher.evidence(question)
    chunks = mixed.catalog.get_chunks(evidence.candidates)
    chinese = np.array([mainly_cjk(chunks[chunk_id].index_text) for chunk_id in evidence.candidates])
    # e5 puts an English question nearer to every English chunk: the gap that makes up for it is positive.
    assert (evidence.shifts["dense"][chinese] > 0).all() and (evidence.shifts["dense"][~chinese] == 0).all()
    titles = [result.title for result in mixed.searcher.rank(evidence, k=3)]
    assert "先问背景，再问问题" in titles, titles
    assert mixed.searcher.evidence("第一次拜访新客户之前要准备什么").shifts == {}


@pytest.mark.slow
def test_an_english_question_an_english_document_answers_still_gets_it_first(mixed):
    results = mixed.searcher.search("How does GitHub paginate REST API results?", k=2)
    assert all(result.source.endswith("dev-digest-issue-52.md") for result in results), [r.source for r in results]
