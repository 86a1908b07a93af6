"""Chunking: hard size limit on any input, sentence boundaries, target size, tables, context."""

from __future__ import annotations

import random
import re
from pathlib import Path

from conftest import seed_text

from ingest.chunking import SENTENCE_LIMIT, chunk_blocks, chunk_context, chunk_lesson
from ingest.cleaning import clean_blocks
from ingest.lessons import extract_lessons
from ingest.pipeline import document_title
from ingest.structure import build_sections
from kb.domain import Block, LoadedDocument, Lesson, Paragraph, Table

TARGET = 350
HARD_MAX = 600
SENTENCE_END = "。！？!?；;…"

# Ordinary sentences of 20 to 60 characters.
SENTENCES = [
    "客户关系是长期经营的结果。",
    "预算要在方案阶段就摸清楚,报价超出客户批复预算,技术再好也很难翻盘。",
    "技术领先不等于赢单!",
    "要在投标前研究清楚评标办法和议价规则,尤其是银行和国企常用的二次议价,提前准备好价格底线和让价梯度。",
    "价值必须量化才能抵抗价格战吗?",
    "商务授权要在谈判前到位,关键项目的价格底线应在谈判前由公司领导审批完毕;",
    "他说:“我们要的不是更快的马。”",
]


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def normal_text(seed: int, sentences: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(SENTENCES) for _ in range(sentences))


def random_text(rng: random.Random, length: int) -> str:
    """Arbitrary text: CJK, Latin, digits and spaces, with every kind of punctuation, only commas, or none."""
    letters = "客户关系经营预算方案价格销售团队abcXYZ019 "
    punctuation = rng.choice([",，、:：;；。!！?？…“”\"'()（）\n", ",，、", ""])
    alphabet = letters + punctuation
    weights = [8] * len(letters) + [1] * len(punctuation)
    return "".join(rng.choices(alphabet, weights=weights, k=length))


def assert_within(chunks: list[str], hard_max: int = HARD_MAX) -> None:
    assert chunks, "no chunk produced"
    for chunk in chunks:
        assert chunk.strip(), "empty chunk"
        assert len(chunk) <= hard_max, f"chunk of {len(chunk)} chars > {hard_max}"


# --- hard maximum ----------------------------------------------------------------------


def test_unpunctuated_2000_char_sentence_is_cut_under_the_hard_max():
    text = "".join(random.Random(1).choices("客户关系经营预算方案价格销售团队", k=2000))
    chunks = chunk_blocks([Paragraph(text)])
    assert_within(chunks)
    assert "".join(chunks) == text
    assert len(chunks) >= 4


def test_comma_only_sentence_is_cut_at_commas_under_the_hard_max():
    clause = "客户关系需要长期经营,"
    text = clause * 200  # 2000 chars, no sentence end
    chunks = chunk_blocks([Paragraph(text)])
    assert_within(chunks)
    assert all(len(c) <= TARGET for c in chunks)
    assert "".join(chunks) == text
    assert all(c.endswith(",") for c in chunks), "cut inside a clause although commas were there"


def test_latin_text_without_punctuation_is_cut_under_the_hard_max():
    chunks = chunk_blocks([Paragraph("pipeline " * 300)])
    assert_within(chunks)
    assert squash("".join(chunks)) == squash("pipeline " * 300)


def test_arbitrary_input_never_exceeds_the_hard_max_and_loses_no_text():
    for seed in range(60):
        rng = random.Random(seed)
        blocks: list[Block] = []
        for _ in range(rng.randint(1, 8)):
            text = random_text(rng, rng.choice([1, 30, 200, 599, 601, 1200, 2500]))
            if text.strip():
                blocks.append(Paragraph(text.strip(), list_item=rng.random() < 0.2))
        chunks = chunk_blocks(blocks)
        assert_within(chunks)
        expected = squash("".join(("- " if b.list_item else "") + b.text for b in blocks))
        assert squash("".join(chunks)) == expected, f"text lost or reordered (seed {seed})"


def test_arbitrary_tables_never_exceed_the_hard_max():
    for seed in range(20):
        rng = random.Random(seed)
        width = rng.randint(1, 5)
        header = tuple(random_text(rng, rng.choice([2, 20, 400])) for _ in range(width))
        rows = tuple(tuple(random_text(rng, rng.choice([1, 10, 80, 700])) for _ in range(width)) for _ in range(rng.randint(0, 12)))
        assert_within(chunk_blocks([Table(header, rows)]))


def test_custom_limits_are_respected():
    text = normal_text(3, 80) + "客" * 900
    chunks = chunk_blocks([Paragraph(text)], target=120, hard_max=200)
    assert_within(chunks, hard_max=200)


def test_sentence_over_the_chunk_limit_is_cut_at_clause_boundaries():
    clause = "客户关系要做厚" * 6 + "，"  # 43 chars ending at a clause boundary
    sentence = clause * 11 + "这是结论。"  # about 480 chars: over the ~350 limit, under the hard max
    chunks = chunk_blocks([Paragraph(sentence)])
    assert len(chunks) > 1
    assert all(len(c) <= SENTENCE_LIMIT for c in chunks)
    assert all(c.endswith(("，", "。")) for c in chunks)
    assert "".join(chunks) == sentence
    assert_within(chunks)


# --- sentence boundaries and target ----------------------------------------------------


def test_chunks_end_at_sentence_boundaries():
    text = normal_text(7, 60)
    chunks = chunk_blocks([Paragraph(text)])
    assert len(chunks) >= 4
    for chunk in chunks:
        assert chunk.rstrip("”’」』)）\"'")[-1] in SENTENCE_END, chunk[-20:]
    assert "".join(chunks) == text


def test_closing_quote_stays_with_its_sentence():
    quoted = "他说:“我们要的不是更快的马。”"
    text = (SENTENCES[1] + quoted) * 20
    chunks = chunk_blocks([Paragraph(text)])
    assert len(chunks) >= 3
    for chunk in chunks:
        assert not chunk.startswith("”"), "a closing quote was cut off its sentence"
        assert chunk.endswith(("。", "。”")), chunk[-10:]
    assert "".join(chunks) == text


def test_target_is_respected_for_normal_text():
    text = normal_text(11, 120)
    chunks = chunk_blocks([Paragraph(text)])
    longest_sentence = max(len(s) for s in SENTENCES)
    assert all(len(c) <= TARGET for c in chunks)
    # Greedy packing: every chunk but the last is close to the target.
    assert all(len(c) > TARGET - longest_sentence for c in chunks[:-1])


def test_target_is_respected_across_paragraphs():
    blocks = [Paragraph(normal_text(seed, 4)) for seed in range(30)]
    chunks = chunk_blocks(blocks)
    assert all(len(c) <= TARGET for c in chunks)
    assert len(chunks) >= 5
    # Paragraphs that fit together share a chunk, separated by a line break.
    assert any("\n" in c for c in chunks)
    assert squash("".join(chunks)) == squash("".join(b.text for b in blocks))


def test_short_text_is_one_chunk():
    assert chunk_blocks([Paragraph("客户关系是长期经营的结果。"), Paragraph("预算要提前摸清。")]) == [
        "客户关系是长期经营的结果。\n预算要提前摸清。"
    ]


def test_list_items_keep_their_marker():
    chunks = chunk_blocks([Paragraph("预算要提前摸清。", list_item=True), Paragraph("技术领先不等于赢单。", list_item=True)])
    assert chunks == ["- 预算要提前摸清。\n- 技术领先不等于赢单。"]


def test_english_sentences_keep_the_space_between_them():
    text = "We built a strong champion. Our proposal was framed around outcomes. The CFO agreed."
    assert chunk_blocks([Paragraph(text)]) == [text]


# --- tables ----------------------------------------------------------------------------


def make_table(rows: int) -> Table:
    return Table(
        ("阶段", "关键动作", "负责人"),
        tuple((f"阶段{i:02d}", f"与客户高层会面,确认项目预算和决策链,记录第{i}次沟通结论", f"负责人{i:02d}") for i in range(rows)),
    )


def table_lines(chunk: str) -> list[str]:
    return chunk.split("\n")


def test_table_is_chunked_by_rows_with_the_header_repeated():
    table = make_table(40)
    chunks = chunk_blocks([table])
    assert len(chunks) >= 3
    header_line = "| 阶段 | 关键动作 | 负责人 |"
    rows_seen: list[str] = []
    for chunk in chunks:
        lines = table_lines(chunk)
        assert lines[0] == header_line
        assert lines[1] == "|---|---|---|"
        assert len(lines) >= 3, "a chunk without rows"
        assert all(line.startswith("| 阶段") and line.endswith(" |") for line in lines[2:])
        assert len(chunk) <= TARGET
        rows_seen.extend(lines[2:])
    # Every row once, whole, in order.
    assert rows_seen == [f"| {a} | {b} | {c} |" for a, b, c in table.rows]


def test_table_gets_its_own_chunks_between_paragraphs():
    before, after = "表格之前的说明。", "表格之后的结论。"
    chunks = chunk_blocks([Paragraph(before), make_table(3), Paragraph(after)])
    assert chunks[0] == before
    assert chunks[-1] == after
    assert chunks[1].startswith("| 阶段 |") and len(chunks) == 3


def test_table_row_longer_than_the_hard_max_is_cut():
    table = Table(("问题", "原因"), (("交付延期", "客" * 1000), ("预算超支", "短")))
    chunks = chunk_blocks([table])
    assert_within(chunks)
    assert all(c.startswith("| 问题 | 原因 |") for c in chunks)
    assert any("预算超支" in c for c in chunks)


def test_table_without_rows_still_gives_its_header():
    assert chunk_blocks([Table(("阶段", "动作"), ())]) == ["| 阶段 | 动作 |\n|---|---|"]


# --- context ---------------------------------------------------------------------------


def test_chunk_context_joins_title_and_heading_path():
    assert chunk_context("大客户销售手册", ("客户选择", "选择标准")) == "大客户销售手册 › 客户选择 › 选择标准"


def test_chunk_context_does_not_repeat_the_title():
    assert chunk_context("万字长文", ("万字长文", "前言")) == "万字长文 › 前言"
    assert chunk_context("手册", ("客户选择", "手册")).count("手册") == 1


def test_chunk_context_without_title_or_path():
    assert chunk_context("", ("客户选择",)) == "客户选择"
    assert chunk_context("手册", ()) == "手册"
    assert chunk_context("", ()) == ""


def test_chunk_lesson_carries_context_and_stable_ids():
    body = normal_text(21, 40)
    lesson = Lesson(
        id="lesson-1", document_id="doc", ordinal=0, title="预算", body=body,
        heading_path=("经验教训", "预算"), kind="review", source="x.md",
        blocks=[Paragraph(body)],
    )
    chunks = chunk_lesson(lesson, document_title="某银行项目复盘")
    again = chunk_lesson(lesson, document_title="某银行项目复盘")
    assert len(chunks) >= 2
    assert [c.id for c in chunks] == [c.id for c in again]
    assert len({c.id for c in chunks}) == len(chunks)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert all(c.lesson_id == "lesson-1" for c in chunks)
    assert all(c.context == "某银行项目复盘 › 经验教训 › 预算" for c in chunks)
    assert chunks[0].index_text.startswith("某银行项目复盘 › 经验教训 › 预算\n")
    assert "".join(c.text for c in chunks) == body


def test_chunk_lesson_without_blocks_uses_the_body_paragraphs():
    lesson = Lesson(
        id="l2", document_id="doc", ordinal=0, title="t", body="第一段。\n\n第二段。",
        heading_path=("节",), kind="playbook", source="x.md",
    )
    assert [c.text for c in chunk_lesson(lesson, document_title="文")] == ["第一段。\n第二段。"]


def test_every_seed_chunk_is_within_the_hard_max():
    for prefix in ("000", "001", "002", "003", "004"):
        blocks = [Paragraph(line.rstrip()) for line in seed_text(prefix).split("\n") if line.strip()]
        title = document_title(LoadedDocument(path=Path(prefix), format="txt", blocks=blocks, structured=False))
        cleaned = clean_blocks(blocks, title=title)
        root = build_sections(cleaned.blocks, structured=False, title=title)
        lessons = extract_lessons(root, document_id=prefix, source=prefix, document_title=title or "", kind="playbook").lessons
        assert lessons
        chunks = [c for lesson in lessons for c in chunk_lesson(lesson, document_title=title or "")]
        assert_within([c.text for c in chunks])
