"""The weak verdict on a base where unrelated documents sit beside the sales lessons (tests/eval/distractors/)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import CORPUS_DIR, DISTRACTORS
from web_support import kb_client

from kb.errors import BadFileError
from kb.gaps import GapQueue
from kb.settings import Settings
from kb.workspace import Workspace
from search.domain import DomainCheck
from search.gap_check import note_search, refresh_gaps

pytestmark = pytest.mark.slow

# Questions that the unrelated documents answer well, but a sales knowledge base has no lesson for.
OFF_TOPIC = ["清蒸鱼要蒸几分钟", "打印机老是卡纸怎么办", "How does GitHub paginate REST API results?", "個人所得稅專項附加扣除有哪些"]
ON_TOPIC = ["客户嫌我们报价太高怎么办", "怎样找到客户内部真正拍板的人", "How do we win back a customer after the champion leaves?"]


def test_off_topic_questions_are_weak_though_unrelated_documents_match_them(mixed):
    for question in OFF_TOPIC:
        results = mixed.searcher.search(question, k=5)
        assert results.weak, question
        assert len(results) == 5  # the nearest lessons are still shown
    evidence = mixed.searcher.evidence(OFF_TOPIC[0])
    assert set(evidence.off_domain) == {"dense", "use"}  # the margin is read in both views the verdict weighs
    assert all(margin > 0 for margin in evidence.off_domain.values())
    assert mixed.searcher.calibration.weak(evidence.tops, evidence.off_domain)
    assert not mixed.searcher.calibration.weak(evidence.tops)  # the views alone trust the recipe that matched


def test_sales_questions_are_not_weak_beside_unrelated_documents(mixed):
    for question in ON_TOPIC:
        assert not mixed.searcher.search(question, k=5).weak, question
        assert all(margin < 0 for margin in mixed.searcher.evidence(question).off_domain.values()), question


def test_a_domain_file_without_its_lists_is_refused_by_name(tmp_path: Path, mixed):
    broken = tmp_path / "domain.yaml"
    broken.write_text("subject: []\nelsewhere: [天气]\n", encoding="utf-8")
    with pytest.raises(BadFileError) as refused:
        DomainCheck.load(broken, [], {"dense": mixed.embedder})
    assert "domain.yaml" in str(refused.value) and "subject" in str(refused.value)


def _lessons_by_folder(workspace: Workspace) -> dict[str, set[str]]:
    """Lesson ids of the unrelated documents ("distractors") and of the sales corpus ("corpus")."""
    found: dict[str, set[str]] = {"distractors": set(), "corpus": set()}
    for document in workspace.catalog.list_documents():
        folder = "distractors" if Path(document.path).parent == DISTRACTORS else "corpus"
        found[folder].update(lesson.id for lesson in workspace.catalog.lessons_of_document(document.id))
    return found


def _lesson_shares(workspace: Workspace) -> dict[str, float]:
    signals = workspace.searcher.signals.current()
    return dict(zip(signals.lesson_ids, workspace.searcher.subject_shares.of_chunks(signals).tolist()))


def test_unrelated_documents_are_judged_off_the_subject(mixed):
    shares = _lesson_shares(mixed)
    lessons = _lessons_by_folder(mixed)
    assert min(shares[lid] for lid in lessons["distractors"]) >= 0.8
    assert max(shares[lid] for lid in lessons["corpus"]) <= 0.25


def test_only_a_sales_question_ranks_unrelated_documents_lower(mixed):
    lessons = _lessons_by_folder(mixed)
    evidence = mixed.searcher.evidence(ON_TOPIC[0])
    assert any(lid in lessons["distractors"] for lid in evidence.off_subject)  # candidates, but marked down
    assert all(share <= 0.25 for lid, share in evidence.off_subject.items() if lid in lessons["corpus"])
    printer = mixed.searcher.evidence(OFF_TOPIC[1])
    assert not printer.on_subject  # a printer question is not about sales: the printer FAQ keeps its score
    assert mixed.searcher.rank(printer, k=1)[0].lesson_id in lessons["distractors"]


def test_a_document_added_after_the_first_search_is_judged_too(tmp_path: Path):
    sales, recipe = tmp_path / "sales.md", tmp_path / "recipe.md"
    sales.write_text("# 客户拜访\n\n拜访客户之前，先弄清楚客户内部谁在拍板、谁在用、谁在掏钱，再约决策人见面。\n", encoding="utf-8")
    recipe.write_text("# 番茄炒蛋\n\n鸡蛋打散后先炒到凝固盛出，番茄切块炒出汁，再把鸡蛋倒回去，加盐和少许糖翻匀出锅。\n", encoding="utf-8")
    workspace = Workspace(Settings(data_dir=tmp_path / "data"))
    try:
        workspace.ingestor.ingest([sales])
        assert max(_lesson_shares(workspace).values()) == 0.0
        workspace.ingestor.ingest([recipe])
        shares = _lesson_shares(workspace)
        [recipe_doc] = [d for d in workspace.catalog.list_documents() if d.path.endswith("recipe.md")]
        assert {shares[lesson.id] for lesson in workspace.catalog.lessons_of_document(recipe_doc.id)} == {1.0}
    finally:
        workspace.close()


COFFEE = """# 手冲咖啡入门

## 水温和粉水比

手冲咖啡的水温一般在 90 到 94 摄氏度之间：浅烘的豆子用偏高的水温，深烘的豆子用偏低的水温。粉水比从 1:15 开始试，
15 克咖啡粉配 225 毫升水，喝着太淡就把比例调到 1:14，太苦就调到 1:16。

## 研磨度

研磨度接近白砂糖的颗粒。磨得太细，萃取时间超过三分钟，咖啡发苦发涩；磨得太粗，两分钟不到就滴完，喝起来发酸、寡淡。
"""
COFFEE_QUESTIONS = ["手冲咖啡的水温应该是多少度？", "What water temperature should I use for pour-over coffee?"]
# Its margins and scores alone trust the coffee guide: only the guide's subject makes it weak.
TRUSTED_BY_SCORES = "手沖咖啡的粉水比多少合適？"


@pytest.fixture(scope="module")
def coffee_client(tmp_path_factory):
    """A server over the corpus's playbooks and a coffee guide nobody filed on purpose."""
    corpus = tmp_path_factory.mktemp("coffee") / "corpus"
    shutil.copytree(CORPUS_DIR / "playbooks", corpus)
    (corpus / "手冲咖啡入门.md").write_text(COFFEE, encoding="utf-8")
    with kb_client(Settings(data_dir=corpus.parent / "data"), corpus) as client:
        yield client


@pytest.fixture(scope="module")
def coffee(coffee_client):
    return coffee_client.app.state.workspace


def test_a_question_only_an_unrelated_document_answers_is_weak(coffee):
    [document] = [d for d in coffee.catalog.list_documents() if d.path.endswith("手冲咖啡入门.md")]
    guide = {lesson.id for lesson in coffee.catalog.lessons_of_document(document.id)}
    for question in [*COFFEE_QUESTIONS, TRUSTED_BY_SCORES]:
        results = coffee.searcher.search(question, k=3)
        assert results.weak, question
        assert results[0].lesson_id in guide, question  # the guide is still shown first
    trusted = coffee.searcher.search(TRUSTED_BY_SCORES, k=3)
    assert trusted.off_subject
    evidence = coffee.searcher.evidence(TRUSTED_BY_SCORES)
    assert not coffee.searcher.calibration.weak(evidence.tops, evidence.off_domain)
    assert not coffee.searcher.search(ON_TOPIC[0], k=3).weak


def test_the_search_page_says_the_nearest_lesson_is_off_the_subject(coffee_client):
    page = coffee_client.get("/", params={"q": TRUSTED_BY_SCORES})
    assert page.status_code == 200
    assert "最接近的经验出自一份与销售无关的文档" in page.text
    assert "最接近的经验出自一份与销售无关的文档" not in coffee_client.get("/", params={"q": ON_TOPIC[0]}).text


def test_a_document_that_answers_a_gap_is_trusted_from_then_on(coffee):
    queue = GapQueue(coffee.catalog)
    searcher = coffee.searcher
    gap_id = note_search(queue, searcher, TRUSTED_BY_SCORES, searcher.search(TRUSTED_BY_SCORES, k=3), None)
    assert gap_id is not None and queue.get(gap_id).status == "open"
    assert refresh_gaps(queue, searcher).answered == [gap_id]
    assert not searcher.search(TRUSTED_BY_SCORES, k=3).weak
    assert not searcher.search(COFFEE_QUESTIONS[1], k=3).off_subject  # the whole guide is the team's now
