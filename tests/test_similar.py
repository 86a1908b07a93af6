"""Lessons compared by what they say (search/similar.py), on the seeds and the corpus ingested with the real engine."""

from __future__ import annotations

import pytest
from conftest import CORPUS_DIR

from ingest.reviews import DuplicateReviewError, submit_review
from kb.accounts import Accounts
from kb.lifecycle import LessonLifecycle
from kb.settings import Settings
from kb.workspace import Workspace
from search.recheck import mark_restated
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


# A rep's own words for what seed (or corpus/) lessons say; one of the listed titles must be among the first three
# for all but one of them. Scored as a rebuilt index scores a review's chunks, the first one's first three are
# corpus/ lessons on veterans and follow-ups (主动向老销售和售前请教 first); a search for its words over the seeds and
# corpus/ puts 「精英销售」模式 and 打法无套路 fifth and sixth. All seven met the bar only while a new review's BM25
# scores were read over its own few chunks (docs/BENCHMARKS.md, stop 36).
MOST_MISSED = 1
PARAPHRASED = [
    # 「精英销售」模式 opens with this very story (the elite leaves, the customers' information leaves with them).
    ("跟了三年的老销售一走，客户的联系人、历史报价和打法全都带走了，接手的人只能从头摸索", ["信息无沉淀", "打法无套路", "经验的浪费", "精英销售"]),
    ("我们只认识客户的一位副总，他退休后新领导完全不认识我们，项目直接黄了", ["增加客户关系的维度", "构建客户关系的组织能力", "普遍客户关系是底座"]),
    ("只顾着冲本季度的单子，老客户没人维护，第二年续约就被对手抢走了", ["战略定力", "今天的耕耘", "土地肥力", "续约是靠平时赢的"]),
    ("我们拿着标准产品去拼价格，最后利润被压得很低还差点丢单", ["三无"]),
    ("团队里业绩好的几个人把大客户攥在手里，新人根本接触不到", ["精英销售", "组织能力"]),
    ("销售指标压得太狠，半年走了一半的人，业绩也没起来", ["压力传递"]),
    ("资源平均撒在所有客户上，真正贡献大的客户反而没服务好", ["最優秀的資源", "高價值客戶"]),
]


def test_learned_before_ranks_like_a_search_for_the_lessons_words(workspace):
    Accounts(workspace.catalog).add_user("sam", "rep", "sam-password-1")
    document_id = submit_review(
        {"outcome": "loss", "customer": "西南某制造集团", "lessons": [text for text, _ in PARAPHRASED]},
        workspace.ingestor,
        workspace.settings.reviews_dir,
        author="sam",
    )
    similar = SimilarLessons(workspace.searcher)
    lessons = workspace.catalog.lessons_of_document(document_id)
    own = {lesson.id for lesson in lessons}
    misses = []
    for lesson, (text, expected) in zip(lessons, PARAPHRASED):
        suggestions = similar.suggest(lesson, 3)
        titles = [s.lesson.title for s in suggestions]
        if not any(want in title for want in expected for title in titles):
            misses.append((text, titles))
        searched = [r.lesson_id for r in workspace.searcher.search(lesson.own_text, k=10) if r.lesson_id not in own]
        assert suggestions[0].lesson.id == searched[0], (text, titles)  # the search's best is the first suggestion
        assert all(s.passage for s in suggestions)
    assert len(misses) <= MOST_MISSED, misses


# Review lessons that restate a stored lesson (title fragments of what must be marked), and lessons on a
# neighbouring point that must mark nothing. Not the texts search/recheck.py's share was measured on.
RESTATING = [
    ("找教练要看三点：他在单位里说话有分量、能碰到决策信息、真心希望我们中标；光对我们客气的只是友好者", ("教练",)),
    ("决策链不是组织架构图：架构图只说谁向谁汇报，决策链要说清这个项目里谁的意见算数，每次重要拜访后都要更新", ("决策链",)),
]
NEIGHBOURING = [
    "客户内部培训做得好，上线后的使用率才会高，续约也更容易",
    "投标文件要提前一天封装好，避免最后时刻出错",
    "出差前把拜访路线排好，一天至少见三个客户",
]


def test_a_review_lesson_that_restates_an_older_one_sends_it_back_to_be_checked(workspace):
    Accounts(workspace.catalog).add_user("tom", "rep", "tom-password-1")
    texts = [text for text, _ in RESTATING] + NEIGHBOURING
    document_id = submit_review(
        {"outcome": "win", "customer": "华中某电力公司", "lessons": texts}, workspace.ingestor, workspace.settings.reviews_dir, author="tom"
    )
    marked = mark_restated(workspace.searcher, document_id)
    lessons = workspace.catalog.lessons_of_document(document_id)
    for lesson, (_, wanted) in zip(lessons, RESTATING):
        older = [workspace.catalog.get_lesson(lid) for lid in marked.get(lesson.id, [])]
        assert any(w in o.title for o in older for w in wanted), (lesson.title, [o.title for o in older])
        assert all(o.document_id != document_id and o.lifecycle.recheck_of == lesson.id for o in older)
        assert all(o.lifecycle.state == "recheck" for o in older)
    assert not any(lesson.id in marked for lesson in lessons[len(RESTATING) :]), marked

    # Verifying an older lesson settles it: no longer to re-check.
    first = marked[lessons[0].id][0]
    LessonLifecycle(workspace.catalog, workspace.settings).verify(first, None)
    assert workspace.catalog.get_lesson(first).lifecycle.recheck_of is None
