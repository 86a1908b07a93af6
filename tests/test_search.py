"""Hybrid search over the seeds (session fixture ``seeded``, read-only) and over a tiny filtered corpus."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from kb.domain import SearchFilters
from kb.errors import BadFieldError
from kb.settings import Settings
from kb.textnorm import compact, fold, split_sentences, to_simplified, tokenize
from kb.workspace import Workspace

from conftest import seed_path

pytestmark = pytest.mark.slow


def lesson_titled(ws: Workspace, title: str):
    matches = [lesson for lesson in ws.catalog.iter_lessons() if lesson.title == title]
    assert len(matches) == 1, f"{len(matches)} lessons titled {title!r}"
    return matches[0]


def seed_name(prefix: str) -> str:
    return seed_path(prefix).name


IRON_TRIANGLE = "铁三角的本质,是以客户为中心"
CATFISH = "销售团队建设应该注重“鲶鱼效应”的使用"
WASTE = "企业最大的浪费,是经验的浪费"


# --- ranking --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("铁三角的本质", IRON_TRIANGLE),
        ("鲶鱼效应", CATFISH),
        ("经验的浪费", WASTE),
        ("营销的目的是让推销变得多余", "营销的目的,是让推销变得多余"),
    ],
)
def test_chinese_keyword_query_finds_the_lesson_first(seeded, query, title):
    expected = lesson_titled(seeded, title)
    results = seeded.searcher.search(query, k=5)
    assert results, query
    assert results[0].lesson_id == expected.id, [r.title for r in results]


def test_traditional_query_finds_the_same_lesson_as_simplified(seeded):
    expected = lesson_titled(seeded, IRON_TRIANGLE)
    simplified = seeded.searcher.search("铁三角的本质", k=5)
    traditional = seeded.searcher.search("鐵三角的本質", k=5)
    assert traditional[0].lesson_id == simplified[0].lesson_id == expected.id
    assert [r.lesson_id for r in traditional] == [r.lesson_id for r in simplified]
    # The traditional query's terms are highlighted in the simplified text.
    assert any(traditional[0].text[s:e] == "铁三角" for s, e in traditional[0].highlights)


def test_simplified_quote_finds_the_traditional_article(seeded):
    """Seed 002 is in traditional script; quoting one of its sentences in simplified script finds it."""
    document = next(d for d in seeded.catalog.list_documents() if Path(d.path).name == seed_name("002"))
    lessons = seeded.catalog.lessons_of_document(document.id)
    target = next(lesson for lesson in lessons if "成就客戶" in lesson.body)
    sentence = next(s for s in split_sentences(target.body) if "成就客戶" in s).strip()
    query = to_simplified(sentence)
    assert query != sentence  # it really is a different script
    results = seeded.searcher.search(query, k=5)
    assert results[0].lesson_id == target.id, [r.title for r in results]


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("What is the essence of the iron triangle?", IRON_TRIANGLE),
        ("How should a sales team use the catfish effect?", CATFISH),
        ("What is the biggest waste for a company?", WASTE),
    ],
)
def test_english_question_reaches_the_chinese_lesson(seeded, query, title):
    expected = lesson_titled(seeded, title)
    results = seeded.searcher.search(query, k=5)
    assert expected.id in [r.lesson_id for r in results], [r.title for r in results]


def _quotable_sentences(ws: Workspace):
    """(lesson, sentence) pairs: a sentence of 15–150 characters that occurs in exactly one lesson's chunks."""
    chunks_by_lesson: dict[str, list[str]] = {}
    for chunk in ws.catalog.iter_chunks():
        chunks_by_lesson.setdefault(chunk.lesson_id, []).append(compact(chunk.text))
    picked = []
    for document in ws.catalog.list_documents():
        lessons = ws.catalog.lessons_of_document(document.id)
        # Two lessons of every seed: the first and the last that have a quotable sentence.
        candidates = []
        for lesson in lessons:
            for sentence in split_sentences(lesson.body):
                sentence = sentence.strip().removeprefix("- ").strip()
                if not 15 <= len(sentence) <= 150:
                    continue
                quoted = compact(sentence)
                owners = [lid for lid, texts in chunks_by_lesson.items() if any(quoted in t for t in texts)]
                if owners == [lesson.id]:
                    candidates.append((lesson, sentence))
                    break
        picked.extend(candidates[:1] + candidates[-1:] if len(candidates) > 1 else candidates)
    return picked


def test_a_verbatim_quote_returns_its_lesson_first(seeded):
    pairs = _quotable_sentences(seeded)
    assert len(pairs) >= 8
    misses = []
    for lesson, sentence in pairs:
        results = seeded.searcher.search(sentence, k=3)
        if not results or results[0].lesson_id != lesson.id:
            misses.append((lesson.title, sentence, [r.title for r in results]))
    assert misses == []


# --- result shape -----------------------------------------------------------------------


def test_results_are_one_per_lesson_by_default(seeded):
    results = seeded.searcher.search("客户关系", k=20)
    assert len(results) == 20
    ids = [r.lesson_id for r in results]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("per_lesson", [1, 3])
def test_shown_text_stays_within_the_result_length(seeded, per_lesson):
    # 001's lessons are 1,500 characters long: the shown window must still stop at result_chars.
    limit = seeded.settings.result_chars
    for query in ("大客户 信息化 销售人", "客户关系", "How to build a process-driven sales organisation?"):
        results = seeded.searcher.search(query, k=30, per_lesson=per_lesson)
        assert results
        assert all(0 < len(r.text) <= limit for r in results), [len(r.text) for r in results]
        assert max(Counter(r.lesson_id for r in results).values()) <= per_lesson


def test_a_long_lesson_shows_the_passage_that_answers_after_the_one_that_matched(seeded):
    # 001 asks "how do we judge whether a customer is worth serving?" in one chunk and answers in the next two:
    # the result shows the question and what follows it, not only the chunk the words matched.
    result = seeded.searcher.search("如何判断一个客户是否值得重点服务", k=1)[0]
    folded = compact(result.text)
    assert compact("判断一个客户是否有重点服务的价值") in folded
    assert compact("首先,这个大客户是不是我们有能力服务的") in folded
    assert compact("其次,客户是否具有比较大的成长性") in folded


def test_window_joins_the_best_chunks_in_reading_order():
    from kb.domain import Chunk
    from search.searcher import _window

    texts = ["甲" * 100, "乙" * 100, "丙" * 100, "丁" * 100, "戊" * 100]
    chunks = {i: Chunk(f"c{i}", "L", i, text, "") for i, text in enumerate(texts)}
    scores = {"c3": 0.9, "c0": 0.8}
    # the best chunk (c3) and the next best (c0) fit in 250 characters; shown in reading order with the gap marked
    assert _window(chunks[3], chunks, scores, 250, set()) == "\n".join([texts[0], "…", texts[3]])
    # with room left, the chunks that follow them are added
    assert _window(chunks[3], chunks, scores, 320, set()) == "\n".join([texts[0], texts[1], "…", texts[3]])
    # a chunk another result of the same lesson shows is left to that result
    assert _window(chunks[3], chunks, scores, 250, {"c0"}) == "\n".join([texts[3], texts[4]])


def test_per_lesson_allows_several_chunks_of_one_lesson(seeded):
    # 001's long lessons have several chunks each.
    query = "大客户 销售 信息化 营销"
    results = seeded.searcher.search(query, k=5, per_lesson=2)
    counts = Counter(r.lesson_id for r in results)
    assert max(counts.values()) == 2, counts
    assert len(counts) <= 5
    # The chunks shown for one lesson are different chunks, listed together.
    for lesson_id, n in counts.items():
        positions = [i for i, r in enumerate(results) if r.lesson_id == lesson_id]
        assert positions == list(range(positions[0], positions[0] + n)), [r.lesson_id for r in results]
        assert len({results[i].chunk_id for i in positions}) == n
    single = seeded.searcher.search(query, k=5)
    assert len({r.lesson_id for r in single}) == len(single) == 5


def test_result_fields(seeded):
    query = "铁三角的本质"
    results = seeded.searcher.search(query, k=10)
    assert len(results) == 10
    terms = [t for t in tokenize(query, drop_stopwords=True) if len(t) > 1]
    lessons = seeded.catalog.get_lessons([r.lesson_id for r in results])
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)
    for result in results:
        lesson = lessons[result.lesson_id]
        assert result.title == lesson.title
        assert result.heading_path == lesson.heading_path and result.heading_path
        assert result.source == lesson.source and result.source.endswith(".txt")
        assert isinstance(result.score, float) and result.score > 0
        assert 0 < len(result.text) <= seeded.settings.result_chars
        for line in result.text.split("\n"):
            assert line == "…" or line.strip() in lesson.body, line
        document = seeded.catalog.get_document(lesson.document_id)
        assert result.document == document.title and document.title and not result.document.endswith(".txt")
        for start, end in result.highlights:
            assert 0 <= start < end <= len(result.text)
            shown = fold(result.text[start:end])
            assert any(term in shown for term in terms), (shown, terms)
        payload = result.to_json()
        for key in ("lesson_id", "title", "text", "heading_path", "source", "document", "score", "highlights"):
            assert key in payload
    top = results[0]
    assert top.highlights, "the best result shows where the query matched"
    assert {top.text[s:e] for s, e in top.highlights} >= {"铁三角", "本质"}


@pytest.mark.parametrize("query", ["", "   ", "\n\t", "客" * 2000])
def test_empty_or_overlong_query_is_a_bad_field(seeded, query):
    with pytest.raises(BadFieldError) as info:
        seeded.searcher.search(query)
    assert info.value.field == "query"


# --- filters ----------------------------------------------------------------------------

PLAYBOOK = """\
---
title: 大客户拜访手册
---
# 大客户拜访手册

## 拜访前的准备
拜访客户之前先研究客户的年报和预算周期，列出三个要当面确认的问题。

## 高层拜访
高层拜访要围绕客户的战略目标和预算展开，不要一上来就讲产品和价格。
"""

REVIEW_WIN = """\
---
kind: review
title: 城商行信贷系统赢单复盘
outcome: win
industry: finance
---
# 城商行信贷系统赢单复盘

## 项目背景
城商行要替换老旧的信贷系统，预算在年初已经批准。

## 做得好的
- 我们提前三个月拜访了客户的科技部和风险部，摸清了预算归属和决策链。

## 经验教训
- 尽早确认预算归属，客户的预算周期决定了签约时间。
"""

REVIEW_LOSS = """\
---
kind: review
title: 医院运维续约丢单复盘
outcome: loss
industry: healthcare
---
# 医院运维续约丢单复盘

## 项目背景
医院的运维合同到期后改为公开招标，预算被压缩了三成。

## 做得不好的
- 只维护了信息科，没有拜访分管副院长，招标参数和预算被竞争对手影响。

## 经验教训
- 续约项目要在到期前半年重新梳理决策链和预算来源。
"""

FILTER_QUERY = "拜访客户 预算"


@pytest.fixture(scope="module")
def filtered(tmp_path_factory):
    root = tmp_path_factory.mktemp("filters")
    corpus = root / "corpus"
    (corpus / "playbooks").mkdir(parents=True)
    (corpus / "reviews").mkdir()
    (corpus / "playbooks" / "visits.md").write_text(PLAYBOOK, encoding="utf-8")
    (corpus / "reviews" / "bank-win.md").write_text(REVIEW_WIN, encoding="utf-8")
    (corpus / "reviews" / "hospital-loss.md").write_text(REVIEW_LOSS, encoding="utf-8")
    ws = Workspace(Settings(data_dir=root / "data"))
    report = ws.ingestor.ingest([corpus])
    assert not report.failed, report.failed
    yield ws
    ws.close()


def _sources(results):
    return {r.source for r in results}


def test_unfiltered_search_spans_every_document(filtered):
    results = filtered.searcher.search(FILTER_QUERY, k=20)
    assert _sources(results) == {"visits.md", "bank-win.md", "hospital-loss.md"}
    assert len(results) == sum(1 for _ in filtered.catalog.iter_lessons())


@pytest.mark.parametrize(
    ("filters", "sources", "check"),
    [
        (SearchFilters(kind="playbook"), {"visits.md"}, lambda r: r.kind == "playbook" and r.outcome is None),
        (SearchFilters(kind="review"), {"bank-win.md", "hospital-loss.md"}, lambda r: r.kind == "review"),
        (SearchFilters(outcome="win"), {"bank-win.md"}, lambda r: r.outcome == "win"),
        (SearchFilters(outcome="loss"), {"hospital-loss.md"}, lambda r: r.outcome == "loss"),
        (SearchFilters(industry="healthcare"), {"hospital-loss.md"}, lambda r: r.outcome == "loss"),
        (SearchFilters(industry="finance"), {"bank-win.md"}, lambda r: r.outcome == "win"),
        (SearchFilters(source="hospital-loss"), {"hospital-loss.md"}, lambda r: True),
        (SearchFilters(source="playbooks/"), {"visits.md"}, lambda r: True),
        (SearchFilters(kind="review", industry="finance"), {"bank-win.md"}, lambda r: r.kind == "review"),
        (SearchFilters(outcome="no-decision"), set(), lambda r: True),
        (SearchFilters(industry="retail"), set(), lambda r: True),
        (SearchFilters(source="no-such-file"), set(), lambda r: True),
    ],
    ids=lambda value: repr(value) if isinstance(value, SearchFilters) else "",
)
def test_filters_restrict_results(filtered, filters, sources, check):
    results = filtered.searcher.search(FILTER_QUERY, k=20, filters=filters)
    assert _sources(results) == sources
    assert all(check(r) for r in results)
    # Everything that passes the filter is found (the corpus is tiny), and nothing else.
    expected = {lesson.id for lesson in filtered.catalog.iter_lessons(filters)}
    assert {r.lesson_id for r in results} == expected


def test_tag_filter_restricts_results(filtered):
    lessons = list(filtered.catalog.iter_lessons())
    tagged = Counter(tag for lesson in lessons for tag in lesson.tags)
    # A tag that some lessons have and others lack.
    partial = [tag for tag, n in tagged.items() if 0 < n < len(lessons)]
    if not partial:
        pytest.skip(f"the tagger gave every lesson the same tags: {tagged}")
    for tag in partial:
        with_tag = {lesson.id for lesson in lessons if tag in lesson.tags}
        results = filtered.searcher.search(FILTER_QUERY, k=20, filters=SearchFilters(tag=tag))
        assert {r.lesson_id for r in results} == with_tag, tag
        assert all(tag in r.tags for r in results)
    assert filtered.searcher.search(FILTER_QUERY, k=20, filters=SearchFilters(tag="no-such-tag")) == []


def test_off_topic_question_is_weak_and_still_shows_the_nearest_lessons(seeded):
    results = seeded.searcher.search("how far is the moon from the earth", k=5)
    assert results.weak is True
    assert len(results) == 5


def test_on_topic_question_is_not_weak(seeded):
    results = seeded.searcher.search("如何在客户内部找到教练", k=5)
    assert results.weak is False


def test_convex_fusion_keeps_score_magnitude():
    from search.fusion import FusionWeights, convex_fusion

    # the lexical side's clear winner (item 0) is not outvoted by a nearly flat dense list
    fused = convex_fusion(
        {"lexical": np.array([10.0, 1.0, 0.0]), "dense": np.array([0.870, 0.872, 0.860])},
        FusionWeights(dense=1.0, lexical=1.0),
    )
    assert int(np.argmax(fused)) == 0
    assert fused.max() <= 1.0 and fused.min() >= 0.0


def test_character_bigrams_match_a_paraphrase_cut_into_other_words():
    from kb.textnorm import char_bigrams

    assert char_bigrams("客戶關係 CRM 2024年") == ["客户", "户关", "关系", "crm", "2024", "年"]
    # jieba cuts 售前 (pre-sales) out of a query but 销售 / 前期 out of a passage: no word in common, a bigram
    assert not set(tokenize("售前准备")) & set(tokenize("销售前期的准备工作")) - {"准备"}
    assert "售前" in set(char_bigrams("售前准备")) & set(char_bigrams("销售前期的准备工作"))


def test_signals_reload_when_chunks_change(settings, tmp_path, monkeypatch):
    from kb.workspace import Workspace

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("# 回款\n\n## 合同\n\n付款节点要和可控的里程碑挂钩，验收标准写清楚。\n", encoding="utf-8")
    ws = Workspace(settings)
    try:
        ws.ingestor.ingest([corpus])
        assert len(ws.searcher.search("验收标准", k=5)) == 1
        signals = ws.searcher.signals
        # Hold the background rebuild, so that the part of the index for chunks written since the load is what answers.
        with monkeypatch.context() as hold:
            hold.setattr(signals, "_rebuild_in_background", lambda: None)
            (corpus / "b.md").write_text("# 教练\n\n## 培养\n\n先给价值，再要信息，保护教练的身份。\n", encoding="utf-8")
            ws.ingestor.ingest([corpus])
            assert ws.searcher.search("保护教练的身份", k=5)[0].title == "培养"
            assert len(signals.current().parts) == 2
            # a changed file: its lesson shows the new text only; the chunk's stale version in the loaded part is masked
            (corpus / "a.md").write_text("# 回款\n\n## 合同\n\n付款节点要和可控的里程碑挂钩，预付款比例先谈定。\n", encoding="utf-8")
            ws.ingestor.ingest([corpus])
            found = ws.searcher.search("预付款比例", k=5)
            assert [r.title for r in found].count("合同") == 1 and "预付款比例" in found[0].text
            assert all("验收标准" not in r.text for r in ws.searcher.search("验收标准", k=5))
        (corpus / "b.md").unlink()
        ws.ingestor.ingest([corpus], prune=True)
        assert all(r.title != "培养" for r in ws.searcher.search("保护教练的身份", k=5))
        signals.settle()  # the rebuilt index takes the parts' place
        assert len(signals.current().parts) == 1
        assert "预付款比例" in ws.searcher.search("预付款比例", k=5)[0].text
        assert all(r.title != "培养" for r in ws.searcher.search("保护教练的身份", k=5))
    finally:
        ws.close()
