"""Lessons compared by what they say (search/similar.py), on the seeds and the corpus ingested with the real engine."""

from __future__ import annotations

import pytest
from conftest import CORPUS_DIR

from ingest.reviews import DuplicateReviewError, submit_review
from kb.accounts import Accounts
from kb.settings import Settings
from kb.workspace import Workspace
from search.similar import SimilarLessons

pytestmark = pytest.mark.slow

# Paraphrases of two seed lessons: customer knowledge that leaves with a veteran, and knowing one executive only.
REVIEW = {
    "outcome": "loss",
    "customer": "华北某能源集团",
    "lessons": [
        "资深销售离职后客户跟着他走了，客户信息都在他脑子里，公司什么都没留下",
        "只跟客户的一位高层打交道，客户关系维度太单一，他一调走我们就丢了单",
    ],
}
# Lessons (by title) that say the same: any of them among the first three suggestions will do. The last of the
# second set is corpus/'s playbook on a key contact who is transferred, the same story in other words.
EXPECTED = [
    {"“二无”——信息无沉淀", "“精英销售”模式", "因为公司的业务主要靠销售精英搞定关键客户", "构建客户关系的组织能力"},
    {"增加客户关系的维度", "因为公司的业务主要靠销售精英搞定关键客户", "普遍客户关系是底座，关键客户关系是尖刀"},
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, seeds_dir):
    ws = Workspace(Settings(data_dir=tmp_path_factory.mktemp("similar")))
    report = ws.ingestor.ingest([CORPUS_DIR, seeds_dir])
    assert not report.failed, report.failed
    yield ws
    ws.close()


def test_learned_before_finds_the_seed_lessons_a_review_paraphrases(workspace):
    Accounts(workspace.catalog).add_user("rita", "rep", "rita-password-1")
    document_id = submit_review(REVIEW, workspace.ingestor, workspace.settings.reviews_dir, author="rita")
    similar = SimilarLessons(workspace.searcher)
    lessons = workspace.catalog.lessons_of_document(document_id)
    assert len(lessons) == 2
    for lesson, expected in zip(lessons, EXPECTED):
        suggestions = similar.suggest(lesson, 3)
        titles = [s.lesson.title for s in suggestions]
        assert len(suggestions) == 3 and len(set(s.lesson.id for s in suggestions)) == 3, titles
        assert all(s.lesson.document_id != document_id for s in suggestions), titles
        assert expected & set(titles), titles
        assert all(s.shared_terms and s.document for s in suggestions)

    # The same review again by the same author is refused, naming the first.
    with pytest.raises(DuplicateReviewError) as refused:
        submit_review(REVIEW, workspace.ingestor, workspace.settings.reviews_dir, author="rita")
    assert refused.value.document_id == document_id
