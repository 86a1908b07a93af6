"""Section trees: the seeds built the way the pipeline builds plain text, and synthetic marker patterns."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import seed_text

from ingest.cleaning import clean_blocks
from ingest.pipeline import document_title
from ingest.structure import build_sections, detect_heading, iter_sections
from kb.domain import Heading, LoadedDocument, Paragraph, Section

# A full sentence, longer than any short-line heading, used as body text in synthetic documents.
BODY = "客户关系是长期经营的结果,需要销售团队持续投入时间和精力,才能在关键时刻获得客户的支持。"


# --- helpers ---------------------------------------------------------------------------


def seed_tree(prefix: str) -> Section:
    """Paragraph per non-empty line → clean_blocks → build_sections(structured=False), as the pipeline does."""
    blocks = [Paragraph(line.rstrip()) for line in seed_text(prefix).split("\n") if line.strip()]
    title = document_title(LoadedDocument(path=Path(f"{prefix}.txt"), format="txt", blocks=blocks, structured=False))
    cleaned = clean_blocks(blocks, title=title)
    return build_sections(cleaned.blocks, structured=False, title=title)


def titles(sections: list[Section]) -> list[str | None]:
    return [s.title for s in sections]


def find(root: Section, title: str) -> Section:
    matches = [s for s in iter_sections(root) if s.title == title]
    assert len(matches) == 1, f"{len(matches)} sections titled {title!r}: {[s.title for s in iter_sections(root)]}"
    return matches[0]


def body_texts(section: Section) -> list[str]:
    return [b.text for b in section.blocks]


def paragraphs(*texts: str) -> list[Paragraph]:
    return [Paragraph(t) for t in texts]


# --- the seeds -------------------------------------------------------------------------


def test_seed_000_has_21_viewpoints_under_the_banner():
    root = seed_tree("000")
    assert len(root.children) == 1
    banner = root.children[0]
    assert banner.title == "大客户经营价值观点"
    assert len(banner.children) == 21
    assert all(not s.children for s in banner.children)
    assert banner.children[0].title == "企业最大的浪费,是经验的浪费"
    assert banner.children[-1].title == "一花独放不是春,万紫千红春满园"
    for leaf in banner.children:
        assert leaf.heading_path == ("大客户经营价值观点", leaf.title)
        assert leaf.level == banner.level + 1
        assert leaf.blocks, f"viewpoint {leaf.title!r} has no text"


def test_seed_000_viewpoint_titles_are_the_heading_text_without_the_number():
    # Each numbered line of the raw seed ("01 .", "03. ", "09.", "21. ") gives one title, number stripped.
    raw_headings = [line for line in seed_text("000").split("\n") if re.match(r"^\d{2}\s*\.", line)]
    assert len(raw_headings) == 21
    expected = [re.sub(r"^\d{2}\s*\.\s*", "", line).strip() for line in raw_headings]
    got = titles(seed_tree("000").children[0].children)
    assert got == expected
    assert not any(re.match(r"^[\d.\s]", t) for t in got)


def test_seed_000_intro_stays_in_the_preamble():
    root = seed_tree("000")
    assert len(root.blocks) == 1
    first_line = seed_text("000").split("\n")[0]
    assert body_texts(root)[0] == first_line.strip()


def test_seed_002_has_three_top_sections_and_keeps_the_points_a_colon_introduces_in_the_second():
    root = seed_tree("002")
    top = root.children
    assert len(top) == 3
    assert top[0].title.startswith("我們發現高價值客戶")
    assert top[1].title == "在最優秀的客戶身上,投放最優秀的資源,以發揮最大的價值"
    assert top[2].title == "客戶關系非一朝一夕之功"
    assert all(section.children == [] for section in top)
    # A heading run into its paragraph keeps the rest of the paragraph as the section's text.
    assert body_texts(top[1])[0].startswith("所以你會發現")
    # "…有兩個方面需要重點關注:" lists two points; the paragraphs after them are the section's again.
    texts = body_texts(top[1])
    first = next(i for i, text in enumerate(texts) if text.startswith("一、價值評價要素"))
    assert texts[first - 1].endswith(":") and texts[first + 1].startswith("二、價值評價周期")
    assert len(texts) > first + 2
    assert root.blocks, "the opening paragraph stays in the preamble"


def test_seed_003_short_lines_are_headings():
    root = seed_tree("003")
    assert root.title == "如何让订单的庄稼,长在肥沃的客户关系土壤里?"
    assert titles(root.children) == [
        "提升土地肥力,才能多打粮食",
        "保持战略定力,关注长期目标",
        "构建客户关系的组织能力",
        "增加客户关系的维度",
    ]
    assert all(not s.children and len(s.blocks) >= 5 for s in root.children)
    assert all(len(s.heading_path) == 1 for s in root.children)


def test_seed_001_starts_without_a_heading_and_has_two_sections():
    root = seed_tree("001")
    assert titles(root.children) == ["高效销售,学会站在巨人的肩上", "不断地问自己:我的大客户在哪里"]
    assert len(root.blocks) == 3  # the opening paragraphs, before any heading
    assert all(len(s.blocks) > 5 for s in root.children)


def test_seed_004_circled_numbers_nest_under_decimal_numbers():
    root = seed_tree("004")
    elite = find(root, "“精英销售”模式")
    process = find(root, "“流程型销售”模式")
    assert elite.heading_path[:-1] == process.heading_path[:-1], "1. and 2. are siblings"
    assert elite.level == process.level
    assert len(elite.children) == 3
    assert [s.title.split("——")[0] for s in elite.children] == ["“一无”", "“二无”", "“三无”"]
    assert titles(process.children) == ["“流程型销售”模式的好处", "如何建立“流程型销售”组织?"]
    for child in elite.children + process.children:
        assert child.level == elite.level + 1
        assert child.heading_path[:-1] == (elite if child in elite.children else process).heading_path
    # The questions before "前言" are body text, not headings.
    assert not any(s.title and s.title.endswith("?") and s.level == 1 for s in root.children)


# --- synthetic markers -----------------------------------------------------------------


def test_parenthesised_cjk_numbers_nest_under_cjk_numbers():
    root = build_sections(
        paragraphs("一、客户选择", BODY, "（一）选择标准", BODY, "（二）选择流程", BODY, "二、客户经营", BODY),
        structured=False,
    )
    assert titles(root.children) == ["客户选择", "客户经营"]
    assert titles(root.children[0].children) == ["选择标准", "选择流程"]
    assert root.children[0].children[1].heading_path == ("客户选择", "选择流程")
    assert root.children[1].children == []


def test_parenthesised_cjk_numbers_alone_are_top_level():
    root = build_sections(paragraphs("（一）客户选择", BODY, "(二)客户经营", BODY), structured=False)
    assert titles(root.children) == ["客户选择", "客户经营"]
    assert all(body_texts(s) == [BODY] for s in root.children)


def test_chapters_contain_cjk_numbered_sections():
    root = build_sections(
        paragraphs("第一章 客户选择", BODY, "一、选择标准", BODY, "二、选择流程", BODY, "第二章:客户经营", BODY, "一、日常拜访", BODY),
        structured=False,
    )
    assert titles(root.children) == ["客户选择", "客户经营"]
    assert titles(root.children[0].children) == ["选择标准", "选择流程"]
    assert titles(root.children[1].children) == ["日常拜访"]
    assert root.children[1].children[0].heading_path == ("客户经营", "日常拜访")


def test_parts_are_chapters():
    root = build_sections(paragraphs("第一部分 客户选择", BODY, "第二部分:客户经营", BODY), structured=False)
    assert titles(root.children) == ["客户选择", "客户经营"]


def test_numbered_lines_without_text_of_their_own_are_a_list_not_sections():
    items = ("（1）营业执照副本", "（2）法人身份证复印件", "（3）近三年财务报表")
    steps = ("1.鱼身两面各划三刀,抹盐腌十分钟", "2.水开后放鱼,大火蒸八分钟", "3.淋上豉油,浇一勺热油")
    root = build_sections(paragraphs("一、投标准备", BODY, *items, BODY, "二、清蒸鱼", *steps, BODY), structured=False)
    assert titles(root.children) == ["投标准备", "清蒸鱼"]
    assert all(section.children == [] for section in root.children)
    assert body_texts(root.children[0]) == [BODY, *items, BODY]
    assert body_texts(root.children[1]) == [*steps, BODY]


def test_numbered_items_that_a_colon_introduces_are_a_list():
    items = ("（一）价值评价要素。不只看经济价值,也看品牌贡献。", "（二）价值评价周期。不能只看当年的贡献。")
    root = build_sections(paragraphs("一、客户选择", BODY, "评价客户价值要看两个方面:", *items, BODY), structured=False)
    assert titles(root.children) == ["客户选择"] and root.children[0].children == []
    assert body_texts(root.children[0]) == [BODY, "评价客户价值要看两个方面:", *items, BODY]


def test_terse_and_longer_labels_of_one_numbering_are_siblings():
    root = build_sections(
        paragraphs(
            "一、常见错误",
            BODY,
            "（1）目标只有一个数字。写了一个总数,却说不清它来自哪些项目。",
            "（2）关系地图只写了自己认识的人。真正的决策者不在图上。",
            "（3）没有风险。竞品动向和预算变化都没有预案。",
        ),
        structured=False,
    )
    assert titles(root.children[0].children) == ["目标只有一个数字", "关系地图只写了自己认识的人", "没有风险"]


def test_decimal_heading_versus_decimal_number():
    ratio = "1.5倍的投入才能换来客户的信任,这是很多销售新人没有意识到的。"
    root = build_sections(paragraphs("1.客户选择", BODY, ratio, BODY, "2.客户经营", BODY), structured=False)
    assert titles(root.children) == ["客户选择", "客户经营"]
    assert body_texts(root.children[0]) == [BODY, ratio, BODY]
    assert detect_heading(Paragraph(ratio), Paragraph(BODY), Paragraph(BODY)) is None
    match = detect_heading(Paragraph("1.客户选择"), None, Paragraph(BODY))
    assert match is not None and match.title == "客户选择" and match.number == 1


def test_numbered_long_paragraph_is_not_a_heading():
    long_first_sentence = (
        "1.客户关系是长期经营的结果,需要销售团队持续投入时间和精力,才能在关键时刻获得客户的支持和认可,"
        "否则一切都是空谈,这一点非常重要。后面的句子还在继续讲这个道理。"
    )
    root = build_sections(paragraphs(BODY, long_first_sentence, BODY), structured=False)
    assert root.children == []
    assert body_texts(root) == [BODY, long_first_sentence, BODY]
    single_long = "2." + "客户关系需要长期经营" * 8
    assert detect_heading(Paragraph(single_long), Paragraph(BODY), Paragraph(BODY)) is None


def test_run_of_unpunctuated_lines_is_a_list_not_headings():
    items = ("营业执照副本", "法人身份证复印件", "近三年财务报表", "同类项目业绩证明")
    root = build_sections(paragraphs(BODY, *items, BODY), structured=False)
    assert root.children == [], f"list lines taken for headings: {titles(root.children)}"
    assert body_texts(root) == [BODY, *items, BODY]


def test_run_of_unpunctuated_lines_after_an_introducing_colon_is_a_list():
    items = ("营业执照副本", "法人身份证复印件", "近三年财务报表")
    root = build_sections(paragraphs("投标需要准备以下材料:", *items, BODY), structured=False)
    assert root.children == []
    assert len(root.blocks) == 5


def test_short_line_heading_needs_a_longer_following_paragraph():
    assert detect_heading(Paragraph("客户经营的三个阶段"), Paragraph(BODY), Paragraph(BODY)) is not None
    assert detect_heading(Paragraph("客户经营的三个阶段"), Paragraph(BODY), Paragraph("好")) is None
    assert detect_heading(Paragraph("客户经营的三个阶段"), Paragraph(BODY), None) is None
    assert detect_heading(Paragraph("客户经营很重要。"), Paragraph(BODY), Paragraph(BODY)) is None
    assert detect_heading(Paragraph("一、客户选择", list_item=True), None, Paragraph(BODY)) is None


def test_banner_heading():
    match = detect_heading(Paragraph("▼大客户经营▼"), None, Paragraph(BODY))
    assert match is not None and match.style == "banner" and match.title == "大客户经营"


def test_numbering_that_restarts_inside_a_section_nests():
    root = build_sections(
        paragraphs("1.客户选择", BODY, "1.选择标准", BODY, "2.选择流程", BODY), structured=False
    )
    assert titles(root.children) == ["客户选择"]
    assert titles(root.children[0].children) == ["选择标准", "选择流程"]


# --- structured documents --------------------------------------------------------------


def test_single_h1_becomes_the_title_of_a_structured_document():
    blocks = [
        Heading(1, "大客户销售手册"),
        Paragraph("本手册总结一线经验。"),
        Heading(2, "客户选择"),
        Paragraph(BODY),
        Heading(3, "选择标准"),
        Paragraph(BODY),
        Heading(2, "客户经营"),
        Paragraph(BODY),
    ]
    root = build_sections(blocks, structured=True)
    assert root.title == "大客户销售手册"
    assert body_texts(root) == ["本手册总结一线经验。"]
    assert titles(root.children) == ["客户选择", "客户经营"]
    assert titles(root.children[0].children) == ["选择标准"]
    assert root.children[0].children[0].heading_path == ("客户选择", "选择标准")
    assert all("大客户销售手册" not in s.heading_path for s in iter_sections(root))


def test_several_h1_are_sections_not_a_title():
    blocks = [Heading(1, "客户选择"), Paragraph(BODY), Heading(1, "客户经营"), Paragraph(BODY)]
    root = build_sections(blocks, structured=True)
    assert root.title is None
    assert titles(root.children) == ["客户选择", "客户经营"]


def test_given_title_is_kept_over_the_h1():
    blocks = [Heading(1, "手册"), Heading(2, "客户选择"), Paragraph(BODY)]
    root = build_sections(blocks, structured=True, title="前言里的标题")
    assert root.title == "前言里的标题"
    assert titles(root.children) == ["客户选择"]


def test_structured_document_without_headings_falls_back_to_patterns():
    root = build_sections(paragraphs("一、客户选择", BODY, "二、客户经营", BODY), structured=True)
    assert titles(root.children) == ["客户选择", "客户经营"]


def test_iter_sections_is_depth_first_in_document_order():
    root = build_sections(
        paragraphs("一、甲", BODY, "（一）甲一", BODY, "（二）甲二", BODY, "二、乙", BODY), structured=False
    )
    assert titles(list(iter_sections(root))) == [None, "甲", "甲一", "甲二", "乙"]


# --- issue 9: every seed heading is a lesson title, no reader prompt is kept -------------------


SEEDS = ("000", "001", "002", "003", "004")


def seed_lessons(prefix: str):
    from ingest.lessons import extract_lessons

    root = seed_tree(prefix)
    return root, extract_lessons(root, document_id=prefix, source=prefix, document_title=root.title or "", kind="playbook").lessons


def test_every_section_heading_of_the_seeds_titles_a_lesson():
    for prefix in SEEDS:
        root, lessons = seed_lessons(prefix)
        lesson_titles = {lesson.title for lesson in lessons}
        for section in iter_sections(root):
            has_text = any(s.blocks for s in iter_sections(section))
            if section is not root and section.title and section.blocks:
                assert section.title in lesson_titles, (prefix, section.title)
            assert has_text or not section.blocks


def test_no_lesson_of_the_seeds_keeps_a_reader_prompt():
    prompt = re.compile(r"阅读前|閱讀前|先思考|读前思考")
    for prefix in SEEDS:
        _, lessons = seed_lessons(prefix)
        assert not [lesson.title for lesson in lessons if prompt.search(lesson.body)], prefix


def test_heading_mixing_latin_and_chinese_is_found():
    blocks = [Paragraph(BODY), Paragraph("前言:“精英销售”VS“流程型销售”"), Paragraph(BODY + BODY)]

    root = build_sections(blocks, structured=False)

    assert titles(root.children) == ["前言:“精英销售”VS“流程型销售”"]
