"""Ingest pipeline end to end: real files → real engine → real SQLite catalog and Chroma index.

The seeds are read through the session fixture ``seeded`` (read-only here); every test that
writes builds a tiny corpus of its own in ``tmp_path`` and a workspace on its own data dir.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from kb.domain import SearchFilters
from kb.settings import Settings
from kb.textnorm import tokenize
from kb.workspace import Workspace

from conftest import SEEDS_DIR, seed_path

pytestmark = pytest.mark.slow

# --- helpers ----------------------------------------------------------------------------


def write(directory: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(text.encode(encoding))
    return path


def document_of(ws: Workspace, path: Path):
    document = ws.catalog.document_by_path(str(path.resolve()))
    assert document is not None, f"{path.name} is not in the catalog"
    return document


def chunk_ids_of_document(ws: Workspace, document_id: str) -> list[str]:
    lessons = ws.catalog.lessons_of_document(document_id)
    return sorted(c.id for c in ws.catalog.chunks_of_lessons([lesson.id for lesson in lessons]))


def vector_ids(ws: Workspace, document_id: str | None = None) -> list[str]:
    """Ids of the vectors Chroma holds (of one document, or all)."""
    where = {"document_id": document_id} if document_id else None
    return sorted(ws.index.collection.get(where=where, include=[])["ids"])


def all_catalog_chunk_ids(ws: Workspace) -> list[str]:
    return sorted(c.id for c in ws.catalog.iter_chunks())


def assert_index_matches_catalog(ws: Workspace) -> None:
    """Chroma holds exactly one vector per catalog chunk: nothing stale, nothing missing."""
    assert ws.index.count() == ws.catalog.counts()["chunks"]
    assert vector_ids(ws) == all_catalog_chunk_ids(ws)


# --- seeds: structure and cleaning --------------------------------------------------------

VIEWPOINT_RE = re.compile(r"^(\d{2})\s*\.\s*(.+?)\s*$")


def test_seed_000_gives_one_lesson_per_numbered_viewpoint(seeded):
    path = seed_path("000")
    expected = [m.group(2) for line in path.read_text(encoding="utf-8").splitlines() if (m := VIEWPOINT_RE.match(line))]
    assert len(expected) == 21  # the seed itself: 01 … 21

    lessons = seeded.catalog.lessons_of_document(document_of(seeded, path).id)

    assert len(lessons) == 21
    assert [lesson.title for lesson in lessons] == expected
    by_title = {lesson.title: lesson for lesson in lessons}
    assert "铁三角运作模式的本质,是以客户为中心" in by_title["铁三角的本质,是以客户为中心"].body
    # No numbering left in titles, and every viewpoint has its own body text.
    for lesson in lessons:
        assert not re.match(r"^\d", lesson.title), lesson.title
        assert len(lesson.body) > 40, lesson.title
        assert lesson.heading_path[-1] == lesson.title
        assert lesson.kind == "playbook"
        assert lesson.source == path.name


NOISE_STRINGS = ("&ldquo", "&mdash", "&rdquo", "&nbsp", "文章图片", "相关内容", "推荐阅读", "仙人掌", "来自:", "來自:", "网址:")
PINYIN_RE = re.compile(r"\([a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ]{1,6}\)")
PROMO_RE = re.compile(r"训战营\s*[:：]\s*让每一个客户")


def _seed_texts(ws: Workspace):
    for document in ws.catalog.list_documents():
        yield f"document {document.path} title", document.title
        yield f"document {document.path} summary", document.summary
        for lesson in ws.catalog.lessons_of_document(document.id):
            yield f"lesson {lesson.source} {lesson.title!r} title", lesson.title
            yield f"lesson {lesson.source} {lesson.title!r} body", lesson.body
            for chunk in ws.catalog.chunks_of_lessons([lesson.id]):
                yield f"chunk {chunk.id} of {lesson.source} {lesson.title!r}", chunk.text
                yield f"chunk {chunk.id} context", chunk.context


def test_seed_noise_is_cleaned_from_lessons_and_chunks(seeded):
    # The raw seeds do contain this noise; the stored text must not.
    raw = "\n".join(p.read_text(encoding="utf-8") for p in sorted(SEEDS_DIR.glob("*.txt")))
    assert "&ldquo" in raw and PINYIN_RE.search(raw) and "仙人掌" in raw and PROMO_RE.search(raw)

    problems = []
    for where, text in _seed_texts(seeded):
        for noise in NOISE_STRINGS:
            if noise in text:
                problems.append(f"{where}: {noise!r}")
        if match := PINYIN_RE.search(text):
            problems.append(f"{where}: pinyin {match.group()!r}")
        if PROMO_RE.search(text):
            problems.append(f"{where}: promotion line")
    assert problems == []


def test_seed_traditional_article_keeps_its_script_without_pinyin(seeded):
    document = document_of(seeded, seed_path("002"))
    lessons = seeded.catalog.lessons_of_document(document.id)
    assert lessons
    body = "\n".join(lesson.body for lesson in lessons)
    # 發(fā)現 in the raw file becomes 發現; the text stays traditional.
    assert "發現" in body and "(fā)" not in body
    assert "客戶" in body


# --- idempotence ------------------------------------------------------------------------

PLAYBOOK_MD = """\
# 报价与谈判手册

## 报价之前
报价之前先确认客户的预算区间和决策流程，避免报出一个客户无法审批的价格。

## 让步的节奏
每一次让步都要换回客户的承诺，例如更早的签约时间或者更大的采购范围。
"""

TIPS_TXT = """\
新人销售三条建议
一、每天复盘
每天下班前用十分钟复盘当天的客户拜访，记下客户提到的痛点和下一步动作。
二、先听后说
第一次见客户时多提问，少介绍产品，让客户把自己的问题讲完整。
"""


def test_ingesting_the_same_folder_twice_changes_nothing(tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus, "playbook.md", PLAYBOOK_MD)
    write(corpus, "tips.txt", TIPS_TXT)
    settings = Settings(data_dir=tmp_path / "data")

    first_ws = Workspace(settings)
    try:
        first = first_ws.ingestor.ingest([corpus])
        assert [f.status for f in first.files] == ["added", "added"], first.files
        assert first.embedded > 0
        lessons_before = sorted((lesson.id, lesson.content_hash) for lesson in first_ws.catalog.iter_lessons())
        chunks_before = all_catalog_chunk_ids(first_ws)
        vectors_before = first_ws.index.count()
        assert vectors_before == len(chunks_before) > 0
    finally:
        first_ws.close()

    # A second run, as a second `kb ingest` would do it: a fresh workspace on the same data dir.
    second_ws = Workspace(settings)
    try:
        second = second_ws.ingestor.ingest([corpus])
        assert [f.status for f in second.files] == ["unchanged", "unchanged"], second.files
        assert not second.failed
        assert second.embedded == 0
        assert sorted((lesson.id, lesson.content_hash) for lesson in second_ws.catalog.iter_lessons()) == lessons_before
        assert all_catalog_chunk_ids(second_ws) == chunks_before
        assert second_ws.index.count() == vectors_before
        assert_index_matches_catalog(second_ws)
    finally:
        second_ws.close()


# --- incremental update ----------------------------------------------------------------

OLD_PHRASE = "琥珀灯塔计划"
SECTIONS_MD = """\
# 区域拓展手册

## 选择切入行业
先在一个行业里做出三个样板客户，再复制到相邻行业，不要同时铺开五个行业。

## 组织内部协同
{middle}

## 回款管理
合同签订时就约定回款节点，并把回款责任写进项目团队的考核。
"""
OLD_MIDDLE = f"我们把跨部门的周例会称为{OLD_PHRASE}，每周一由销售、售前和交付一起过一遍重点商机。"
NEW_MIDDLE = "跨部门的周例会每周一召开，销售、售前和交付一起过一遍重点商机，并当场确定下一步负责人。"


def chunks_with_token(workspace: Workspace, token: str) -> int:
    """How many chunks the lexical index (built from the stored tokens) finds the token in."""
    rows = workspace.catalog.db.execute("SELECT tokens FROM chunks").fetchall()
    return sum(token in row[0].split() for row in rows)


def test_editing_one_section_replaces_only_that_lesson(workspace, tmp_path):
    corpus = tmp_path / "corpus"
    path = write(corpus, "expansion.md", SECTIONS_MD.format(middle=OLD_MIDDLE))
    added = workspace.ingestor.ingest([corpus])
    assert [f.status for f in added.files] == ["added"]
    document = document_of(workspace, path)
    before = {lesson.title: lesson for lesson in workspace.catalog.lessons_of_document(document.id)}
    assert set(before) == {"选择切入行业", "组织内部协同", "回款管理"}
    chunks_before = {c.lesson_id: c for c in workspace.catalog.chunks_of_lessons([lesson.id for lesson in before.values()])}
    old_chunk = chunks_before[before["组织内部协同"].id]
    assert OLD_PHRASE in old_chunk.text

    # Tokens of the old phrase that the new version of the file no longer contains anywhere.
    new_text = SECTIONS_MD.format(middle=NEW_MIDDLE)
    gone_tokens = [t for t in dict.fromkeys(tokenize(OLD_PHRASE)) if t not in tokenize(new_text)]
    assert gone_tokens, tokenize(OLD_PHRASE)
    assert all(chunks_with_token(workspace, t) > 0 for t in gone_tokens)
    assert any(OLD_PHRASE in r.text for r in workspace.searcher.search(OLD_PHRASE, k=3))

    path.write_text(new_text, encoding="utf-8")
    report = workspace.ingestor.ingest([corpus])

    assert [f.status for f in report.files] == ["updated"], report.files
    # Only the edited section's chunk is new text; the others come from the embedding cache.
    assert report.embedded == 1
    after = {lesson.title: lesson for lesson in workspace.catalog.lessons_of_document(document.id)}
    assert set(after) == set(before)
    for title in ("选择切入行业", "回款管理"):
        assert after[title].id == before[title].id
        assert after[title].content_hash == before[title].content_hash
    assert after["组织内部协同"].id == before["组织内部协同"].id  # same place in the document
    assert NEW_MIDDLE in after["组织内部协同"].body
    assert OLD_PHRASE not in after["组织内部协同"].body

    # The old text is gone from the catalog, the lexical index and Chroma.
    assert all(OLD_PHRASE not in c.text for c in workspace.catalog.iter_chunks())
    assert all(chunks_with_token(workspace, t) == 0 for t in gone_tokens)
    assert workspace.index.collection.get(ids=[old_chunk.id], include=[])["ids"] == []
    assert_index_matches_catalog(workspace)
    assert workspace.index.count() == 3
    for title in ("选择切入行业", "回款管理"):
        unchanged_chunk = chunks_before[before[title].id]
        assert workspace.index.collection.get(ids=[unchanged_chunk.id], include=[])["ids"] == [unchanged_chunk.id]

    results = workspace.searcher.search(OLD_PHRASE, k=10)
    assert all(OLD_PHRASE not in r.text for r in results)
    # The edited lesson is still found by its new text.
    fresh = workspace.searcher.search("跨部门周例会确定下一步负责人", k=3)
    assert fresh and fresh[0].lesson_id == after["组织内部协同"].id
    assert NEW_MIDDLE in fresh[0].text


VIEWPOINTS_V1 = """\
大客户经营观点
01 .经验是最大的财富
每一次丢单都要复盘，把教训写下来，新人入职时先读复盘，不再重犯同样的错误。
02 .客户意识到的需求才是有效需求
客户没有意识到的需求，销售讲得再多也没有用，要先帮助客户看到问题。
03 .明天的市场靠今天的耕耘
今天的拜访和交流，决定了明年能不能拿到订单，大客户要长期经营。
"""
# A viewpoint inserted as 02; the later ones are renumbered but their text is unchanged.
VIEWPOINTS_V2 = """\
大客户经营观点
01 .经验是最大的财富
每一次丢单都要复盘，把教训写下来，新人入职时先读复盘，不再重犯同样的错误。
02 .像做产品一样做销售
把销售流程标准化，让新人也能按流程打单，减少对销售精英的依赖。
03 .客户意识到的需求才是有效需求
客户没有意识到的需求，销售讲得再多也没有用，要先帮助客户看到问题。
04 .明天的市场靠今天的耕耘
今天的拜访和交流，决定了明年能不能拿到订单，大客户要长期经营。
"""


def test_inserting_a_numbered_viewpoint_keeps_the_other_lessons(workspace, tmp_path):
    path = write(tmp_path / "corpus", "viewpoints.txt", VIEWPOINTS_V1)
    workspace.ingestor.ingest([path])
    document = document_of(workspace, path)
    before = {lesson.title: lesson.id for lesson in workspace.catalog.lessons_of_document(document.id)}
    assert len(before) == 3
    chunks_before = set(chunk_ids_of_document(workspace, document.id))

    path.write_text(VIEWPOINTS_V2, encoding="utf-8")
    report = workspace.ingestor.ingest([path])

    assert [f.status for f in report.files] == ["updated"]
    assert report.embedded == 1
    lessons = workspace.catalog.lessons_of_document(document.id)
    assert [lesson.title for lesson in lessons] == [
        "经验是最大的财富",
        "像做产品一样做销售",
        "客户意识到的需求才是有效需求",
        "明天的市场靠今天的耕耘",
    ]
    after = {lesson.title: lesson.id for lesson in lessons}
    for title, lesson_id in before.items():
        assert after[title] == lesson_id, title
    chunks_after = set(chunk_ids_of_document(workspace, document.id))
    assert len(chunks_after - chunks_before) == 1 and chunks_before <= chunks_after
    assert_index_matches_catalog(workspace)


# --- prune ------------------------------------------------------------------------------


def test_prune_removes_the_lessons_and_vectors_of_deleted_files(workspace, tmp_path):
    corpus = tmp_path / "corpus"
    keep = write(corpus, "playbook.md", PLAYBOOK_MD)
    doomed = write(corpus, "tips.txt", TIPS_TXT)
    workspace.ingestor.ingest([corpus])
    kept_doc, doomed_doc = document_of(workspace, keep), document_of(workspace, doomed)
    doomed_lessons = [lesson.id for lesson in workspace.catalog.lessons_of_document(doomed_doc.id)]
    doomed_chunks = chunk_ids_of_document(workspace, doomed_doc.id)
    kept_chunks = chunk_ids_of_document(workspace, kept_doc.id)
    assert doomed_lessons and doomed_chunks and vector_ids(workspace, doomed_doc.id) == doomed_chunks

    doomed.unlink()
    # Without --prune nothing is removed.
    report = workspace.ingestor.ingest([corpus])
    assert report.count("removed") == 0
    assert workspace.catalog.get_document(doomed_doc.id) is not None

    report = workspace.ingestor.ingest([corpus], prune=True)

    removed = [f for f in report.files if f.status == "removed"]
    assert [Path(f.path).name for f in removed] == ["tips.txt"]
    assert removed[0].lessons == len(doomed_lessons)
    assert workspace.catalog.get_document(doomed_doc.id) is None
    assert all(workspace.catalog.get_lesson(lesson_id) is None for lesson_id in doomed_lessons)
    assert workspace.catalog.get_chunks(doomed_chunks) == {}
    assert vector_ids(workspace, doomed_doc.id) == []
    assert workspace.index.collection.get(ids=doomed_chunks, include=[])["ids"] == []
    # The other document is untouched.
    assert chunk_ids_of_document(workspace, kept_doc.id) == kept_chunks
    assert vector_ids(workspace, kept_doc.id) == kept_chunks
    assert_index_matches_catalog(workspace)
    results = workspace.searcher.search("每天复盘客户拜访", k=10)
    assert all(r.source != "tips.txt" for r in results)


# --- failures ---------------------------------------------------------------------------


def test_a_corrupt_file_is_reported_and_the_rest_is_ingested(workspace, tmp_path):
    earlier = write(tmp_path / "earlier", "playbook.md", PLAYBOOK_MD)
    workspace.ingestor.ingest([earlier.parent])
    earlier_doc = document_of(workspace, earlier)
    earlier_lessons = [(lesson.id, lesson.body) for lesson in workspace.catalog.lessons_of_document(earlier_doc.id)]
    earlier_vectors = vector_ids(workspace, earlier_doc.id)

    corpus = tmp_path / "corpus"
    bad = corpus / "季度复盘.docx"
    corpus.mkdir()
    bad.write_bytes(os.urandom(4096))
    good = write(corpus, "tips.txt", TIPS_TXT)

    report = workspace.ingestor.ingest([corpus, earlier.parent])

    statuses = {Path(f.path).name: f.status for f in report.files}
    assert statuses == {"季度复盘.docx": "failed", "tips.txt": "added", "playbook.md": "unchanged"}
    [failure] = report.failed
    assert Path(failure.path).name == "季度复盘.docx"
    assert failure.error and "docx" in failure.error.lower()
    assert workspace.catalog.document_by_path(str(bad.resolve())) is None
    good_doc = document_of(workspace, good)
    assert len(workspace.catalog.lessons_of_document(good_doc.id)) == 2
    assert vector_ids(workspace, good_doc.id) == chunk_ids_of_document(workspace, good_doc.id)
    # Data stored before the failing run is untouched.
    assert [(lesson.id, lesson.body) for lesson in workspace.catalog.lessons_of_document(earlier_doc.id)] == earlier_lessons
    assert vector_ids(workspace, earlier_doc.id) == earlier_vectors
    assert_index_matches_catalog(workspace)


def test_a_missing_path_is_reported_as_failed(workspace, tmp_path):
    report = workspace.ingestor.ingest([tmp_path / "nowhere"])
    [failure] = report.failed
    assert failure.path.endswith("nowhere")
    assert failure.error
    assert workspace.catalog.counts()["documents"] == 0


# --- reviews and encodings --------------------------------------------------------------

REVIEW_MD = """\
---
kind: review
title: 某省医院运维续约复盘
outcome: loss
industry: healthcare
customer: 某省人民医院
competitors: [竞争对手甲]
---
# 某省医院运维续约复盘

## 项目背景
医院三年运维合同到期，采购方式改为公开招标，我们作为现有供应商参与续约。

## 做得好的
- 日常运维响应及时，信息科对我们的服务评价很高。

## 做得不好的
- 只维护了信息科，没有提前拜访分管副院长和采购办，招标参数被竞争对手影响。

## 经验教训
- 续约项目要在合同到期前半年重新梳理决策链。
- 服务好不等于能续约，采购方式变化时要第一时间调整打法。
"""


def test_review_lessons_carry_kind_outcome_and_industry(workspace, tmp_path):
    path = write(tmp_path / "reviews", "hospital-renewal.md", REVIEW_MD)
    report = workspace.ingestor.ingest([path])
    assert [f.status for f in report.files] == ["added"], report.files

    document = document_of(workspace, path)
    assert document.kind == "review"
    lessons = workspace.catalog.lessons_of_document(document.id)
    # "what worked", "what went wrong" and one lesson per lessons-learned item; background is the summary.
    assert len(lessons) == 4
    assert "公开招标" in document.summary
    for lesson in lessons:
        assert lesson.kind == "review"
        assert lesson.fields["outcome"] == "loss"
        assert lesson.fields["industry"] == "healthcare"
        assert lesson.fields["customer"] == "某省人民医院"
    assert any("决策链" in lesson.title for lesson in lessons)

    # The metadata is filterable on both sides: the catalog and the vectors.
    assert [lesson.id for lesson in workspace.catalog.iter_lessons(SearchFilters(outcome="loss"))] == [
        lesson.id for lesson in lessons
    ]
    assert list(workspace.catalog.iter_lessons(SearchFilters(outcome="win"))) == []
    metadatas = workspace.index.collection.get(where={"document_id": document.id}, include=["metadatas"])["metadatas"]
    assert metadatas and all(m["kind"] == "review" and m["outcome"] == "loss" and m["industry"] == "healthcare" for m in metadatas)
    results = workspace.searcher.search("续约 决策链", k=5, filters=SearchFilters(kind="review", outcome="loss"))
    assert results and all(r.kind == "review" and r.outcome == "loss" for r in results)


GBK_TEXT = """\
大客户回款经验
一、合同阶段
签合同时明确验收标准和付款节点，验收标准越具体，回款越顺利。
二、执行阶段
每个付款节点前两周提醒客户经办人，提前准备好验收材料和发票。
"""


def test_a_gbk_encoded_text_file_is_decoded(workspace, tmp_path):
    path = write(tmp_path / "legacy", "回款经验.txt", GBK_TEXT, encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")

    report = workspace.ingestor.ingest([path])

    assert [f.status for f in report.files] == ["added"], report.files
    document = document_of(workspace, path)
    assert document.metadata.get("encoding") in ("gb18030", "gbk")
    lessons = workspace.catalog.lessons_of_document(document.id)
    text = "\n".join(f"{lesson.title}\n{lesson.body}" for lesson in lessons)
    assert "签合同时明确验收标准和付款节点，验收标准越具体，回款越顺利。" in text
    assert "每个付款节点前两周提醒客户经办人" in text
    assert "\ufffd" not in text
    results = workspace.searcher.search("验收标准 付款节点", k=3)
    assert results and results[0].source == "回款经验.txt"
