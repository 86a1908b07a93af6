"""Cleaning rules, checked on excerpts read from the scraped seeds at test time (plus a few synthetic lines).

Seed text is never copied here: each test finds its excerpt in the seed file by a short marker
(an entity name, a key word, a line position) and checks what cleaning makes of it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import seed_text

from ingest.cleaning import CleanedBlocks, clean_blocks, clean_inline, split_flattened
from ingest.pipeline import document_title
from kb.domain import Heading, LoadedDocument, Paragraph, Table
from kb.textnorm import CJK_CHAR, to_simplified

CJK = f"[{CJK_CHAR}]"


# --- helpers ---------------------------------------------------------------------------


def raw_lines(prefix: str) -> list[str]:
    """The seed's non-empty lines, as the plain-text loader makes paragraphs of them."""
    return [line.rstrip() for line in seed_text(prefix).split("\n") if line.strip()]


def seed_title(prefix: str) -> str | None:
    blocks = [Paragraph(line) for line in raw_lines(prefix)]
    return document_title(LoadedDocument(path=Path(f"{prefix}.txt"), format="txt", blocks=blocks, structured=False))


def clean_seed(prefix: str) -> CleanedBlocks:
    """Clean a seed the way the pipeline does: a paragraph per line, the title from the first line."""
    blocks = [Paragraph(line) for line in raw_lines(prefix)]
    return clean_blocks(blocks, title=seed_title(prefix))


def texts(cleaned: CleanedBlocks) -> list[str]:
    return [b.text for b in cleaned.blocks if not isinstance(b, Table)]


def raw_line_with(prefix: str, marker: str) -> str:
    for line in raw_lines(prefix):
        if marker in line:
            return line
    raise AssertionError(f"no line of seed {prefix} contains {marker!r}: the seed changed")


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def filler(i: int) -> str:
    return f"第{i}段:大客户经营需要销售团队长期投入,持续了解客户的业务和决策链,才能在关键时刻得到支持。"


# --- HTML entities ---------------------------------------------------------------------


def test_entities_without_semicolon_are_decoded_in_seed_004():
    cleaned = clean_seed("004")
    everything = texts(cleaned) + list(cleaned.metadata.values())
    assert sum("&ldquo" in line for line in raw_lines("004")) >= 10, "seed 004 should carry bare &ldquo entities"
    leftovers = [t for t in everything if re.search(r"&[A-Za-z#]", t)]
    assert leftovers == []
    assert sum("“" in t for t in texts(cleaned)) >= 10
    assert sum("”" in t for t in texts(cleaned)) >= 10


def test_entity_without_semicolon_running_into_latin_letters():
    # "&rdquoVS&ldquo": the entity name runs into the following word.
    line = raw_line_with("004", "&rdquoVS")
    cleaned = clean_inline(line)
    assert "”VS“" in cleaned
    assert "&" not in cleaned and "rdquo" not in cleaned and "ldquo" not in cleaned


def test_double_mdash_without_semicolon_becomes_a_pair_of_em_dashes():
    raw = [line for line in raw_lines("004") if "&mdash&mdash" in line]
    assert len(raw) >= 3
    for line in raw:
        cleaned = clean_inline(line)
        assert "——" in cleaned
        assert "mdash" not in cleaned and "&" not in cleaned
    assert clean_inline("一无&mdash&mdash打法无套路") == "一无——打法无套路"


def test_single_mdash_without_semicolon_before_cjk():
    line = raw_line_with("004", "培训&mdash华营")
    cleaned = clean_inline(line)
    assert "培训—华营" in cleaned
    assert "&" not in cleaned


def test_named_entities_with_semicolon():
    assert clean_inline("&ldquo;精英销售&rdquo;模式") == "“精英销售”模式"
    assert clean_inline("收入&gt;成本&amp;费用&lt;预算") == "收入>成本&费用<预算"
    assert clean_inline("一无&mdash;&mdash;打法") == "一无——打法"


def test_numeric_entities_decimal_and_hex():
    assert clean_inline("&#8220;客户&#8221;") == "“客户”"
    assert clean_inline("&#x201C;客户&#X201d;") == "“客户”"
    assert clean_inline("&#20013;&#x6587;") == "中文"
    assert clean_inline("&#8220客户&#8221") == "“客户”"  # numeric, without semicolons


def test_ampersands_that_are_not_entities_are_left_alone():
    assert clean_inline("R&D部门和AT&T合作") == "R&D部门和AT&T合作"
    assert clean_inline("A & B") == "A & B"
    assert clean_inline("&zzzz;") == "&zzzz;"


# --- pinyin annotations ----------------------------------------------------------------


def test_pinyin_annotations_removed_from_seed_002():
    annotation = re.compile(rf"(?<={CJK})[(（][a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]{{1,7}}[)）]")
    raw = seed_text("002")
    assert len(annotation.findall(raw)) >= 50, "seed 002 should carry pinyin annotations"
    cleaned = clean_seed("002")
    joined = "\n".join(texts(cleaned))
    assert annotation.findall(joined) == []
    assert "發(fā)現(xiàn)" in raw
    assert "發現" in joined
    # Only the annotations go: the characters they annotated are all still there.
    assert len(re.findall(CJK, joined)) >= len(re.findall(CJK, annotation.sub("", raw))) - 20


def test_normal_parentheses_are_kept():
    cleaned = clean_seed("004")
    assert "笔记侠(ID:Notesman)" in cleaned.metadata["source"]
    kept = clean_inline(raw_line_with("004", "(低薪+高提成)"))
    assert "(低薪+高提成)" in kept
    kept = clean_inline(raw_line_with("004", "(笔记侠注:"))
    assert "(笔记侠注:BusinessGroup" in kept
    assert clean_inline("华为(Huawei)的客户") == "华为(Huawei)的客户"
    assert clean_inline("成立于(2019年)的公司") == "成立于(2019年)的公司"
    assert clean_inline("成交周期（3个月）") == "成交周期（3个月）"


def test_lowercase_acronym_in_parentheses_is_not_taken_for_pinyin():
    # "saas" or "crm" are not pinyin syllables; only the annotation reading of a character should go.
    assert clean_inline("软件即服务(saas)模式") == "软件即服务(saas)模式"
    assert clean_inline("客户关系管理(crm)系统") == "客户关系管理(crm)系统"


# --- spacing ---------------------------------------------------------------------------


def test_spaces_around_cjk_punctuation_removed_in_seed_004():
    raw = seed_text("004")
    assert raw.count(" , ") >= 50 and raw.count(" 。") >= 20
    for text in texts(clean_seed("004")):
        assert not re.search(r"\s[，。,、：:；;！？!?]", text), text
        assert not re.search(r"[，。,：；！？]\s", text), text
        assert not re.search(rf"(?<={CJK}),\s|\s,(?={CJK})", text), text


def test_spaces_between_english_words_are_kept():
    assert clean_inline("我们用 Salesforce CRM 管理客户 , 效果很好 。") == "我们用 Salesforce CRM 管理客户,效果很好。"
    assert clean_inline("Single-threaded deals are fragile, so build relationships.") == (
        "Single-threaded deals are fragile, so build relationships."
    )
    assert clean_inline("客户  说   好") == "客户 说 好"


# --- line noise ------------------------------------------------------------------------


def test_title_repeated_by_the_page_template_is_dropped():
    title = seed_title("004")
    assert title and raw_lines("004")[0] == title
    assert raw_lines("004").count(title) == 2, "seed 004 repeats its title"
    compact_title = re.sub(r"\W", "", title)
    cleaned = clean_seed("004")
    assert all(re.sub(r"\W", "", t) != compact_title for t in texts(cleaned))
    assert all(title not in t for t in texts(cleaned))


def test_title_in_brackets_inside_a_paragraph_is_removed():
    title = seed_title("004")
    raw = raw_line_with("004", f"【{title}】")
    expected = clean_inline(raw.replace(f"【{title}】", ""))
    cleaned = texts(clean_seed("004"))
    assert expected in cleaned
    assert not any("【" in t and title in t for t in cleaned)


def test_image_placeholder_line_is_dropped():
    assert "文章图片" in raw_lines("004")
    assert "文章图片" not in texts(clean_seed("004"))
    blocks = [Paragraph(filler(0)), Paragraph("[图片]"), Paragraph("图片3"), Paragraph("点击查看大图"), Paragraph(filler(1))]
    assert texts(clean_blocks(blocks)) == [filler(0), filler(1)]
    assert clean_inline("客户名单[图片]如下") == "客户名单如下"


def test_source_lines_become_metadata_and_leave_the_text():
    cleaned = clean_seed("004")
    assert "笔记侠(ID:Notesman)" in cleaned.metadata["source"].split("; ")
    assert cleaned.metadata["speaker"].startswith("黄彬,华为前解决方案架构设计部部长")
    for text in texts(cleaned):
        assert not text.startswith(("来源于", "内容来源", "分享嘉宾")), text
        assert "Notesman" not in text and "黄彬" not in text


def test_every_source_line_value_is_kept_in_metadata():
    # 004 has two source lines ("来源于微信公众号:…" and "内容来源:…"); the second must not be lost.
    second = clean_inline(raw_line_with("004", "内容来源").split(":", 1)[1])
    cleaned = clean_seed("004")
    assert second not in texts(cleaned)
    assert any(second in str(value) for value in cleaned.metadata.values()), cleaned.metadata


def test_byline_becomes_metadata():
    byline = next(line for line in raw_lines("004")[:10] if "|" in line)
    cleaned = clean_seed("004")
    assert cleaned.metadata["byline"] == byline
    assert byline not in texts(cleaned)
    assert not any("|" in t for t in texts(cleaned))


def test_author_line_becomes_metadata_in_seed_003():
    cleaned = clean_seed("003")
    assert cleaned.metadata["author"] == "Lisa"
    assert not any(t.startswith("作者") for t in texts(cleaned))


def test_related_content_tail_and_everything_after_it_is_dropped():
    raw = seed_text("003")
    assert "相关内容" in raw and "仙人掌" in raw
    cleaned = clean_seed("003")
    everything = texts(cleaned) + [str(v) for v in cleaned.metadata.values()]
    assert not any("仙人掌" in t for t in everything)
    assert not any("相关内容" in t for t in everything)
    # The url line before the tail is metadata; the article's last paragraph is the last block.
    assert "https://mxgxt.com/news/view/923652" in cleaned.metadata["url"]
    lines = raw_lines("003")
    url_index = next(i for i, line in enumerate(lines) if line.startswith("网址"))
    assert texts(cleaned)[-1] == clean_inline(lines[url_index - 1])


def test_recommended_reading_tail_is_dropped():
    assert "推荐阅读" in seed_text("004")
    cleaned = texts(clean_seed("004"))
    assert not any("推荐阅读" in t for t in cleaned)
    last_content = [line for line in raw_lines("004") if "推荐阅读" not in line][-1]
    assert cleaned[-1] == clean_inline(last_content)


def test_footer_after_a_trailing_source_line_is_dropped():
    lines = raw_lines("000")
    attribution_index = next(i for i, line in enumerate(lines) if line.startswith("部分观点源自"))
    assert attribution_index == len(lines) - 2, "seed 000 ends with an attribution line and a promotion"
    cleaned = clean_seed("000")
    assert cleaned.metadata["attribution"] == "《华为营销基本法》"
    assert texts(cleaned)[-1] == clean_inline(lines[attribution_index - 1])
    promo = lines[-1]
    assert not any(squash(promo)[:20] in squash(t) for t in texts(cleaned))
    assert not any("源自" in t for t in texts(cleaned))


def test_footer_of_the_flattened_seed_002():
    cleaned = clean_seed("002")
    assert cleaned.metadata["source"].startswith("QHSE")
    assert cleaned.metadata["source"].endswith("《管理》")
    assert not any(t.strip("| ") == "" for t in texts(cleaned))
    assert not any(t.startswith(("來自", "来自")) for t in texts(cleaned))


def test_banner_and_viewpoints_of_seed_000_survive_cleaning():
    cleaned = texts(clean_seed("000"))
    assert sum(bool(re.match(r"^\d{2}\s*\.", t)) for t in cleaned) == 21
    assert any(t.startswith("▼") for t in cleaned)


# --- flattened pages and script --------------------------------------------------------


def test_flattened_seed_002_is_split_into_paragraphs():
    lines = raw_lines("002")
    long_line = max(lines, key=len)
    assert len(long_line) > 2000
    cleaned = texts(clean_seed("002"))
    assert len(cleaned) >= 20
    assert all(len(t) < 400 for t in cleaned)
    # Section markers that were inline now open their own paragraphs.
    for marker in ("一、", "二、", "三、"):
        assert any(t.startswith(marker) for t in cleaned), marker
    # No text is lost by the split: the paragraphs put together are the cleaned line.
    assert squash("".join(cleaned)) == squash(clean_inline(long_line)).rstrip("|")


def test_split_flattened_only_splits_long_lines():
    sentence = "客户关系是长期经营的结果。"
    short = " ".join([sentence] * 20)
    assert len(short) < 400
    assert split_flattened(short) == [short]
    long = " ".join([sentence] * 40)
    parts = split_flattened(long)
    assert parts == [sentence] * 40


def test_cleaning_keeps_traditional_script():
    cleaned = "".join(texts(clean_seed("002")))
    assert to_simplified(cleaned) != cleaned
    for char in "們關價競爭選擇":
        assert char in cleaned, char
    assert clean_inline("我們與客戶形成同盟。") == "我們與客戶形成同盟。"


# --- what is not noise -----------------------------------------------------------------


def test_content_line_mentioning_source_mid_document_is_not_metadata():
    body = [filler(i) for i in range(40)]
    mentions = "客户的预算来源:年度信息化专项资金,需要在方案阶段提前摸清。"
    starts = "来源:很多线索来自老客户的转介绍,这一点常被忽视。"
    blocks = [Paragraph(t) for t in body[:20] + [mentions, starts] + body[20:]]
    cleaned = clean_blocks(blocks)
    assert mentions in texts(cleaned)
    assert starts in texts(cleaned)
    assert cleaned.metadata == {}
    assert len(cleaned.blocks) == 42


def test_content_sentence_starting_with_a_source_word_near_the_end_is_kept():
    # "来自客户的反馈:…。" is a sentence of the article, not a footer: it and what follows must stay.
    body = [filler(i) for i in range(20)]
    sentence = "来自客户的反馈:交付周期太长,验收标准也不清楚。"
    blocks = [Paragraph(t) for t in body[:16] + [sentence] + body[16:]]
    cleaned = clean_blocks(blocks)
    assert sentence in texts(cleaned)
    assert texts(cleaned)[-1] == body[-1]
    assert len(cleaned.blocks) == 21


def test_headings_and_tables_are_cleaned_too():
    blocks = [
        Heading(2, "&ldquo;经验&rdquo; , 教训"),
        Table(("阶段 ", "动作&amp;结果"), (("投标 , 前", "摸清预算 。"),)),
    ]
    cleaned = clean_blocks(blocks)
    assert cleaned.blocks[0] == Heading(2, "“经验”,教训")
    assert cleaned.blocks[1] == Table(("阶段", "动作&结果"), (("投标,前", "摸清预算。"),))


def test_list_items_stay_list_items():
    cleaned = clean_blocks([Paragraph("预算要提前摸清 。", list_item=True), Paragraph(filler(0))])
    assert cleaned.blocks[0] == Paragraph("预算要提前摸清。", True)


def test_latin_text_keeps_its_spaces_around_quotes_and_dashes():
    assert clean_inline("a growing “p” potential — and ‘more’ … later") == "a growing “p” potential — and ‘more’ … later"
    assert clean_inline("使用 “CRM” 系统 — 客户 “满意”") == "使用“CRM”系统—客户“满意”"


def test_ligatures_are_spelled_out_and_chinese_punctuation_kept():
    assert clean_inline("ﬁnal oﬀer, ﬂat fee") == "final offer, flat fee"
    assert clean_inline("价格（含税）：１０万，客户满意！") == "价格（含税）：１０万，客户满意！"


# --- reader prompts, calls to action and editor's notes -----------------------------------------

ARTICLE = [
    "客户关系是长期经营的结果,需要销售团队持续投入时间和精力,才能在关键时刻获得客户的支持。" * 2,
    "这一点在大项目里尤其明显,决策链长,影响者多,任何一个环节的缺位都会让前期投入付诸东流。" * 2,
    "所以要把客户关系当成组织能力来建设,而不是少数销售精英的个人资源。" * 2,
]


def test_reader_prompt_and_its_questions_at_the_start_are_dropped():
    blocks = [
        Paragraph("小编邀请你在阅读之前,带着这些问题阅读:"),
        Paragraph("大客户和普通客户有什么区别?"),
        Paragraph("怎样衡量客户关系?"),
        *(Paragraph(text) for text in ARTICLE),
    ]

    kept = [block.text for block in clean_blocks(blocks).blocks]

    assert kept == ARTICLE


@pytest.mark.parametrize(
    "opening, middle, closing",
    [
        (
            ["编者按:本文根据作者在年会上的分享整理。"],
            "客户说要先扫码登记才能进会场,我们提前准备了名单,这让客户印象很深。",
            ["长按识别下方二维码,关注我们,获取更多销售干货。", "下期训练营火热报名中,名额有限。"],
        ),
        (
            ["本文轉載自作者個人部落格「B2B業務筆記」,僅供內部學習參考,如有侵權請聯繫刪除。"],
            "客户担心侵权风险,我们请法务逐条解释了授权范围,这一步拉近了距离。",
            ["声明:本文来源于网络,版权归原作者所有。"],
        ),
    ],
    ids=["calls to action and editor notes", "reprint and rights notices"],
)
def test_page_notices_at_either_end_are_dropped_but_not_in_the_middle(opening, middle, closing):
    texts = [*opening, ARTICLE[0], middle, ARTICLE[1], ARTICLE[2], *closing]

    kept = [block.text for block in clean_blocks([Paragraph(text) for text in texts]).blocks]

    assert kept == [ARTICLE[0], middle, ARTICLE[1], ARTICLE[2]]


def test_control_and_replacement_characters_never_reach_stored_text():
    assert clean_inline("a\x00b\ufffdc &#1;d\x0c") == "abc d"
