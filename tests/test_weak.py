"""The weak verdict on a base where unrelated documents sit beside the sales lessons (tests/eval/distractors/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CORPUS_DIR, DISTRACTORS

from kb.errors import BadFileError
from kb.settings import Settings
from kb.workspace import Workspace
from search.domain import DomainCheck

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
    assert printer.off_subject == {}  # a printer question is not about sales: the printer FAQ keeps its score
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
