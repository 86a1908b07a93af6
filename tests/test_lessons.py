"""Lesson extraction from reviews and playbooks, lesson ids, titles and bodies."""

from __future__ import annotations

from ingest.lessons import derive_title, extract_lessons, render_body
from ingest.structure import build_sections
from kb.domain import Heading, Paragraph, Table

FIELDS = {
    "kind": "review",
    "title": "某城商行信贷系统项目复盘",
    "outcome": "loss",
    "customer": "华东某城商行",
    "industry": "金融",
    "region": "",
    "deal_size": 5800000,
    "competitors": ["厂商C", "厂商D"],
}
BACKGROUND = "客户计划替换使用了九年的信贷管理系统,项目公开招标,我们报价580万元,最终以商务谈判失利丢单。"
LESSON_ITEMS = [
    "预算要在方案阶段就摸清楚。报价超出客户批复预算,技术再好也很难翻盘。",
    "技术领先不等于赢单。要在投标前研究清楚评标办法和议价规则。",
    "价值必须量化才能抵抗价格战。如果能算出风险预警每年减少多少损失,差价就有被接受的可能。",
]
NEXT_STEP = "保持与授信审批部的联系,争取后续的风险数据集市项目。"


def review_blocks(lessons_heading: str = "经验教训") -> list:
    return [
        Heading(1, "某城商行信贷系统项目复盘"),
        Heading(2, "项目背景"),
        Paragraph(BACKGROUND),
        Heading(2, "做得好的"),
        Paragraph("技术方案获得科技部和授信审批部的一致好评。"),
        Paragraph("售前团队两周内完成了三轮技术澄清。"),
        Heading(2, "做得不好的"),
        Paragraph("没有认真研究客户的评标办法。", list_item=True),
        Paragraph("没有和财务部建立联系,不知道实际预算。", list_item=True),
        Heading(2, lessons_heading),
        *(Paragraph(item, list_item=True) for item in LESSON_ITEMS),
        Heading(2, "下一步"),
        Paragraph(NEXT_STEP, list_item=True),
    ]


def extract_review(blocks=None, document_id: str = "doc-1", fields=FIELDS):
    root = build_sections(blocks or review_blocks(), structured=True)
    return extract_lessons(
        root,
        document_id=document_id,
        source="review.md",
        document_title=root.title or "",
        kind="review",
        fields=fields,
    )


def playbook_blocks(preamble: str, section_title: str = "客户选择") -> list:
    return [
        Heading(1, "大客户销售手册"),
        Paragraph(preamble),
        Heading(2, section_title),
        Paragraph("选择客户要看战略匹配度,也要看客户的成长性和付款能力,不能只看当年的采购额。"),
        Heading(2, "客户经营"),
        Paragraph("经营大客户要建立多层次的关系,从关键决策人到一线使用者都要覆盖,避免单线联系。"),
    ]


def extract_playbook(blocks, document_id: str = "pb-1"):
    root = build_sections(blocks, structured=True)
    return extract_lessons(
        root, document_id=document_id, source="playbook.md", document_title=root.title or "", kind="playbook"
    )


# --- reviews ---------------------------------------------------------------------------


def test_each_lessons_learned_item_is_its_own_lesson():
    result = extract_review()
    learned = [lesson for lesson in result.lessons if lesson.heading_path[0] == "经验教训"]
    assert len(learned) == 3
    assert [lesson.title for lesson in learned] == ["预算要在方案阶段就摸清楚", "技术领先不等于赢单", "价值必须量化才能抵抗价格战"]
    assert [lesson.body for lesson in learned] == LESSON_ITEMS
    for lesson in learned:
        assert lesson.heading_path == ("经验教训", lesson.title)
        assert lesson.kind == "review"


def test_long_first_sentence_of_an_item_is_cut_at_a_clause():
    item = "要在投标前研究清楚评标办法和议价规则,尤其是银行和国企常用的二次议价,提前准备价格底线和让价梯度。后面还有说明。"
    blocks = [Heading(2, "经验教训"), Paragraph(item, list_item=True), Paragraph("另一条经验。", list_item=True)]
    lesson = extract_review(blocks).lessons[0]
    assert lesson.title == "要在投标前研究清楚评标办法和议价规则"
    assert 0 < len(lesson.title) <= 29


def test_what_worked_and_what_went_wrong_are_one_lesson_each():
    result = extract_review()
    worked = [lesson for lesson in result.lessons if lesson.heading_path == ("做得好的",)]
    failed = [lesson for lesson in result.lessons if lesson.heading_path == ("做得不好的",)]
    assert len(worked) == 1 and len(failed) == 1
    assert worked[0].title == "某城商行信贷系统项目复盘：做得好的"
    assert "三轮技术澄清" in worked[0].body and "一致好评" in worked[0].body
    assert failed[0].body == "- 没有认真研究客户的评标办法。\n\n- 没有和财务部建立联系,不知道实际预算。"
    assert len(result.lessons) == 5


def test_background_becomes_the_summary_not_a_lesson():
    result = extract_review()
    assert result.summary == BACKGROUND
    assert not any(BACKGROUND in lesson.body for lesson in result.lessons)
    assert not any("项目背景" in lesson.heading_path for lesson in result.lessons)


def test_next_steps_are_not_a_lesson():
    result = extract_review()
    assert not any("下一步" in lesson.heading_path for lesson in result.lessons)
    assert not any("数据集市" in lesson.body for lesson in result.lessons)
    assert "数据集市" not in result.summary


def test_every_lesson_carries_the_review_fields():
    result = extract_review()
    assert result.lessons
    for lesson in result.lessons:
        assert lesson.fields["outcome"] == "loss"
        assert lesson.fields["industry"] == "金融"
        assert lesson.fields["customer"] == "华东某城商行"
        assert lesson.fields["competitors"] == ["厂商C", "厂商D"]
        assert "region" not in lesson.fields, "an empty field is not a filter value"
        assert "kind" not in lesson.fields and "title" not in lesson.fields, "only review fields are kept"
    # Each lesson has its own copy: curating one lesson's fields leaves the others alone.
    result.lessons[0].fields["outcome"] = "win"
    assert result.lessons[1].fields["outcome"] == "loss"


ENGLISH_REVIEW = [
    Heading(1, "Regional Bank Lending Platform Review"),
    Heading(2, "Summary"),
    Paragraph("The bank froze all new technology spending two weeks before the final presentation."),
    Heading(2, "What worked"),
    Paragraph("We built a strong champion in the head of SME banking.", list_item=True),
    Heading(2, "What went wrong"),
    Paragraph("We relied on a single champion.", list_item=True),
    Heading(2, "Lessons learned"),
    Paragraph("Single-threaded deals are fragile. Build relationships with at least three people.", list_item=True),
    Paragraph("Forecast on customer actions, not customer enthusiasm. Mark commit only with budget approval.", list_item=True),
    Heading(2, "Next actions"),
    Paragraph("Propose a smaller pilot under the approval limit.", list_item=True),
]


def test_english_review_headings():
    result = extract_review(ENGLISH_REVIEW, fields={"outcome": "no-decision", "industry": "finance"})
    assert result.summary == "The bank froze all new technology spending two weeks before the final presentation."
    assert len(result.lessons) == 4
    assert [lesson.title for lesson in result.lessons[:2]] == [
        "Regional Bank Lending Platform Review: What worked",
        "Regional Bank Lending Platform Review: What went wrong",
    ]
    learned = result.lessons[2:]
    assert all(lesson.heading_path[0] == "Lessons learned" for lesson in learned)
    assert learned[0].body == "Single-threaded deals are fragile. Build relationships with at least three people."
    assert not any("pilot" in lesson.body for lesson in result.lessons)
    assert all(lesson.fields == {"outcome": "no-decision", "industry": "finance"} for lesson in result.lessons)


def test_english_lesson_items_are_titled_by_their_first_sentence():
    learned = extract_review(ENGLISH_REVIEW).lessons[2:]
    assert [lesson.title for lesson in learned] == [
        "Single-threaded deals are fragile",
        "Forecast on customer actions, not customer enthusiasm",
    ]


def test_lessons_learned_without_list_items_splits_by_paragraph():
    blocks = [Heading(2, "经验教训"), Paragraph("预算要提前摸清。"), Paragraph("商务授权要提前到位。")]
    result = extract_review(blocks)
    assert [lesson.title for lesson in result.lessons] == ["预算要提前摸清", "商务授权要提前到位"]


def test_paragraph_after_a_list_item_belongs_to_that_item():
    blocks = [
        Heading(2, "经验教训"),
        Paragraph("预算要提前摸清。", list_item=True),
        Paragraph("这是对上一条的补充说明。"),
        Paragraph("商务授权要提前到位。", list_item=True),
    ]
    lessons = extract_review(blocks).lessons
    assert len(lessons) == 2
    assert lessons[0].body == "预算要提前摸清。\n\n这是对上一条的补充说明。"
    assert lessons[1].body == "商务授权要提前到位。"


# --- playbooks -------------------------------------------------------------------------


def test_short_playbook_preamble_is_the_summary_and_opens_the_first_lesson():
    preamble = "只有与客户结成同盟,才有可能打败竞争对手。"
    assert len(preamble) < 80
    result = extract_playbook(playbook_blocks(preamble))
    assert result.summary == preamble
    assert [lesson.title for lesson in result.lessons] == ["客户选择", "客户经营"]
    assert result.lessons[0].body.startswith(preamble + "\n\n")  # searchable, not only a document field
    assert preamble not in result.lessons[1].body
    assert [lesson.heading_path for lesson in result.lessons] == [("客户选择",), ("客户经营",)]
    assert [lesson.ordinal for lesson in result.lessons] == [0, 1]


def test_long_playbook_preamble_is_a_lesson_of_its_own():
    preamble = (
        "大客户销售的核心不是一次性的成交,而是长期的经营。销售人员需要理解客户的战略和业务,"
        "在客户内部建立多层次的关系,并把自己的产品和客户的成功绑定在一起,这样才能持续获得订单和客户的信任。"
    )
    assert len(preamble) >= 80
    result = extract_playbook(playbook_blocks(preamble))
    assert result.summary == ""
    first = result.lessons[0]
    assert first.body == preamble
    assert first.title and len(first.title) <= 29
    assert first.heading_path == (first.title,)
    assert len(result.lessons) == 3


def test_short_section_intro_is_its_own_lesson_so_every_heading_titles_a_lesson():
    blocks = [
        Heading(1, "手册"),
        Heading(2, "客户选择"),
        Paragraph("分两步。"),
        Heading(3, "选择标准"),
        Paragraph("看战略匹配度和成长性。"),
        Heading(3, "选择流程"),
        Paragraph("先评估再立项。"),
    ]
    lessons = extract_playbook(blocks).lessons
    assert [lesson.title for lesson in lessons] == ["客户选择", "选择标准", "选择流程"]
    assert [lesson.body for lesson in lessons] == ["分两步。", "看战略匹配度和成长性。", "先评估再立项。"]


def test_playbook_table_is_rendered_in_the_body():
    blocks = [Heading(2, "报价授权"), Table(("级别", "折扣"), (("经理", "9折"), ("总监", "8折")))]
    lesson = extract_playbook(blocks).lessons[0]
    assert lesson.body == "| 级别 | 折扣 |\n|---|---|\n| 经理 | 9折 |\n| 总监 | 8折 |"


# --- ids -------------------------------------------------------------------------------


def test_lesson_ids_are_stable_across_extractions():
    first = extract_review()
    second = extract_review()
    assert [lesson.id for lesson in first.lessons] == [lesson.id for lesson in second.lessons]
    assert len({lesson.id for lesson in first.lessons}) == len(first.lessons)
    playbook = [lesson.id for lesson in extract_playbook(playbook_blocks("短序言。")).lessons]
    assert playbook == [lesson.id for lesson in extract_playbook(playbook_blocks("短序言。")).lessons]


def test_lesson_id_changes_when_the_heading_path_changes():
    before = extract_playbook(playbook_blocks("短序言。"))
    after = extract_playbook(playbook_blocks("短序言。", section_title="目标客户选择"))
    assert before.lessons[0].id != after.lessons[0].id
    assert before.lessons[1].id == after.lessons[1].id, "an untouched section keeps its id"
    renamed = extract_review(review_blocks(lessons_heading="教训"))
    original = extract_review()
    learned_before = [lesson.id for lesson in original.lessons if lesson.heading_path[0] == "经验教训"]
    learned_after = [lesson.id for lesson in renamed.lessons if lesson.heading_path[0] == "教训"]
    assert len(learned_after) == 3
    assert set(learned_before).isdisjoint(learned_after)


def test_lesson_id_depends_on_the_document_and_not_on_the_body():
    base = extract_playbook(playbook_blocks("短序言。"))
    other_doc = extract_playbook(playbook_blocks("短序言。"), document_id="pb-2")
    assert base.lessons[0].id != other_doc.lessons[0].id
    edited_blocks = playbook_blocks("短序言。")
    edited_blocks[3] = Paragraph("选择客户要看战略匹配度。")
    edited = extract_playbook(edited_blocks)
    assert edited.lessons[0].id == base.lessons[0].id
    assert edited.lessons[0].content_hash != base.lessons[0].content_hash


def test_repeated_heading_paths_get_distinct_ids():
    blocks = [Heading(2, "案例"), Paragraph("第一个案例的经过和结论。"), Heading(2, "案例"), Paragraph("第二个案例的经过和结论。")]
    lessons = extract_playbook(blocks).lessons
    assert len(lessons) == 2
    assert lessons[0].id != lessons[1].id


# --- titles and bodies -----------------------------------------------------------------


def test_derive_title_from_a_long_paragraph():
    text = (
        "在大客户的销售过程中,销售人员如何提高工作效率是一个值得关注的问题。以前的企业只有一个技术中心,"
        "现在的企业往往有两个技术中心,一个以产品制造为核心,另一个以营销信息化为核心。销售人员已经能够在信息系统的支持下,"
        "实现与客户的高效沟通,随时调用企业内部的资源,这使得协同营销成为大客户销售的新方式。"
    ) * 2
    title = derive_title(text)
    assert title.strip()
    assert len(title) <= 29
    assert title.rstrip("…") in text.replace("。", ""), "the title is drawn from the text itself"


def test_derive_title_without_sentence_punctuation_is_shortened():
    text = "客户关系需要长期经营" * 10
    title = derive_title(text)
    assert 0 < len(title) <= 29
    assert title.endswith("…")


def test_derive_title_of_short_text_is_the_text():
    assert derive_title("像做产品一样做销售。") == "像做产品一样做销售"


def test_render_body_joins_paragraphs_items_and_tables():
    body = render_body([
        Paragraph("说明。"),
        Paragraph("第一条", list_item=True),
        Paragraph("   "),
        Table(("a|b",), (("x\ny",),)),
    ])
    assert body == "说明。\n\n- 第一条\n\n| a\\|b |\n|---|\n| x y |"
