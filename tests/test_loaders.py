"""File loaders and encoding detection, on small files built in each test."""

from __future__ import annotations

import io
from pathlib import Path

import docx
import pytest
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from ingest.encoding import decode_bytes
from ingest.loaders import SUPPORTED_SUFFIXES, load_document
from kb.domain import Heading, Paragraph, Table
from kb.errors import BadFileError

SIMPLIFIED = "本季度我们赢得了华东区的大客户。关键在于提前与采购部门沟通预算。\n客户最终没有选择竞争对手，原因是实施方案更完整。"
WESTERN = (
    "Müller’s deal – closed at 5 € per seat. Le client a apprécié notre démonstration, "
    "mais la décision finale dépendait du service des achats et de l'équipe technique."
)
TRADITIONAL = "我們在台北贏得了這個專案。關鍵是提早與採購部門溝通預算。\n價格不是決定因素，客戶更看重實施計畫。"


def write(directory: Path, name: str, content: bytes | str) -> Path:
    path = directory / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def paragraphs(text: str) -> list[Paragraph]:
    return [Paragraph(line) for line in text.split("\n")]


def pdf_bytes(lines: list[str], font: str = "Helvetica", encrypt: str | StandardEncryption | None = None) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, encrypt=encrypt)
    pdf.setFont(font, 12)
    for index, line in enumerate(lines):
        pdf.drawString(72, 720 - 20 * index, line)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


# --- encodings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoded", "expected_encoding"),
    [
        (SIMPLIFIED, SIMPLIFIED.encode("utf-8"), "utf-8"),
        (SIMPLIFIED, SIMPLIFIED.encode("utf-8-sig"), "utf-8-sig"),
        (SIMPLIFIED, SIMPLIFIED.encode("gbk"), "gb18030"),
        # 䶮 (CJK extension A) exists in GB18030 but not in GBK.
        (SIMPLIFIED + "\n刘䶮的团队负责续约。", (SIMPLIFIED + "\n刘䶮的团队负责续约。").encode("gb18030"), "gb18030"),
        (TRADITIONAL, TRADITIONAL.encode("big5"), "big5"),
        (SIMPLIFIED, b"\xff\xfe" + SIMPLIFIED.encode("utf-16-le"), "utf-16-le"),
        (SIMPLIFIED, b"\xfe\xff" + SIMPLIFIED.encode("utf-16-be"), "utf-16-be"),
        (WESTERN, WESTERN.encode("cp1252"), "cp1252"),
    ],
    ids=["utf-8", "utf-8-bom", "gbk", "gb18030", "big5", "utf-16-le-bom", "utf-16-be-bom", "cp1252"],
)
def test_text_files_decode_to_the_original_string(
    tmp_path: Path, text: str, encoded: bytes, expected_encoding: str
) -> None:
    document = load_document(write(tmp_path, "notes.txt", encoded))

    assert document.blocks == paragraphs(text)
    assert document.encoding == expected_encoding
    assert (document.format, document.structured, document.title) == ("txt", False, None)


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("客户说价格太贵。", "gbk"),
        ("我们的方案更完整，客户最后签约了。", "gbk"),
        ("项目延期是因为法务审核太慢。", "gbk"),
        ("下次要更早邀请技术专家参与。", "gbk"),
        # headings so short that charset-normalizer on its own ranks a Big5 reading first
        ("签约成功", "gbk"),
        ("价格战", "gbk"),
        ("竞品分析", "gbk"),
        ("售前支持", "gbk"),
        ("付款周期", "gbk"),
        ("價格太高，客戶最後選擇了競爭對手。", "big5"),
        ("輸單原因：報價過高，決策人未接觸。", "big5"),
        ("談判時不要過早讓步；先確認對方的採購流程和簽字人。", "big5"),
        ("項目延期是因為法務審核太慢。", "big5"),
    ],
)
def test_short_chinese_sentences_pick_the_right_legacy_encoding(text: str, encoding: str) -> None:
    # Each of these byte strings also decodes without error in the other encoding.
    other = "big5" if encoding == "gbk" else "gb18030"
    text.encode(encoding).decode(other)

    decoded, _ = decode_bytes(text.encode(encoding), Path("short.txt"))

    assert decoded == text


def test_newlines_are_normalised_and_blank_lines_dropped(tmp_path: Path) -> None:
    path = write(tmp_path, "crlf.txt", "  First line  \r\n\r\nSecond line\rThird\n   \n".encode("utf-8"))

    decoded, _ = decode_bytes(path.read_bytes(), path)
    document = load_document(path)

    assert decoded == "  First line  \n\nSecond line\nThird\n   \n"
    assert document.blocks == [Paragraph("  First line"), Paragraph("Second line"), Paragraph("Third")]


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x01\xff", b"SQLite format 3\x00\x10"])
def test_binary_bytes_are_rejected(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path, "image.txt", content)

    with pytest.raises(BadFileError, match="binary file") as error:
        load_document(path)
    assert "image.txt" in str(error.value)


def test_bytes_no_encoding_can_read_are_rejected() -> None:
    with pytest.raises(BadFileError, match=r"cannot read the text encoding of garbage.txt \(best guess .*--encoding"):
        decode_bytes(b"\x81\xff\x81 \x81\xff", Path("garbage.txt"))


# --- Markdown -------------------------------------------------------------------------

REVIEW_MD = """\
---
title: 赢单复盘：华东银行
kind: review
outcome: win
competitors: [Acme, Globex]
deal_size: 1200000
---
# 华东银行核心系统项目

项目历时三个月，
从首次拜访到签约。

We met the **economic buyer**
in week two, see [the notes](http://example.com).

## 经验教训

- 尽早确认*预算周期*
- 找到内部支持者
  并定期同步

> 客户原话：方案很完整。

| 厂商 | 报价 |
|------|------|
| 我们 | 120万 |
| Acme | 98万 |

```
报价公式 = 成本 × 1.3
```
"""


def test_markdown_review_gives_front_matter_headings_lists_and_tables(tmp_path: Path) -> None:
    document = load_document(write(tmp_path, "review.md", REVIEW_MD))

    assert document.front_matter == {
        "title": "赢单复盘：华东银行",
        "kind": "review",
        "outcome": "win",
        "competitors": ["Acme", "Globex"],
        "deal_size": 1200000,
    }
    assert document.blocks == [
        Heading(1, "华东银行核心系统项目"),
        Paragraph("项目历时三个月，从首次拜访到签约。"),
        Paragraph("We met the economic buyer in week two, see the notes."),
        Heading(2, "经验教训"),
        Paragraph("尽早确认预算周期", list_item=True),
        Paragraph("找到内部支持者并定期同步", list_item=True),
        Paragraph("客户原话：方案很完整。"),
        Table(header=("厂商", "报价"), rows=(("我们", "120万"), ("Acme", "98万"))),
        Paragraph("报价公式 = 成本 × 1.3"),
    ]
    assert document.title == "赢单复盘：华东银行"
    assert (document.format, document.structured, document.encoding) == ("md", True, "utf-8")


def test_markdown_without_front_matter_takes_the_first_top_heading_as_title(tmp_path: Path) -> None:
    path = write(tmp_path, "playbook.markdown", "Intro line.\n\n## Later\n\n# Discovery calls\n\nAsk about budget.\n")

    document = load_document(path)

    assert document.title == "Discovery calls"
    assert document.front_matter == {}
    assert document.format == "md"


def test_markdown_in_gbk_is_decoded(tmp_path: Path) -> None:
    document = load_document(write(tmp_path, "gbk.md", "# 客户拜访\n\n先了解预算和决策流程。\n".encode("gbk")))

    assert document.blocks == [Heading(1, "客户拜访"), Paragraph("先了解预算和决策流程。")]
    assert document.encoding == "gb18030"


def test_broken_front_matter_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.md", "---\ntitle: [unclosed\noutcome: win\n---\n# Body\n")

    with pytest.raises(BadFileError, match="front matter") as error:
        load_document(path)
    assert "broken.md" in str(error.value)


def test_front_matter_that_is_not_a_mapping_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(BadFileError, match="front matter"):
        load_document(write(tmp_path, "list.md", "---\n- just\n- a list\n---\n# Body\n"))


# --- HTML -----------------------------------------------------------------------------

ARTICLE_HTML = """\
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Loss review: Globex | Sales wiki</title>
<style>.banner { color: red }</style><script>var trackingId = "SCRIPT-TEXT";</script></head>
<body>
<header><div class="logo">HEADER-TEXT</div></header>
<nav><a href="/">NAV-HOME</a> <a href="/deals">NAV-DEALS</a></nav>
<div class="cookie-banner">COOKIE-TEXT We use cookies.</div>
<!-- COMMENT-TEXT -->
<article>
  <h2>Why we lost</h2>
  <p>The customer chose Globex because our <b>implementation plan</b> came two weeks late.</p>
  <h2>Price comparison</h2>
  <table>
    <tr><th>Vendor</th><th>Price</th></tr>
    <tr><td>Us</td><td>120k</td></tr>
    <tr><td>Globex</td><td>98k</td></tr>
  </table>
  <ul><li>Send the plan with the first quote.</li></ul>
</article>
<aside>ASIDE-TEXT Related reviews</aside>
<footer>FOOTER-TEXT Copyright</footer>
<script>console.log("SCRIPT-TWO")</script>
</body></html>
"""


def test_html_keeps_the_article_and_drops_page_furniture(tmp_path: Path) -> None:
    document = load_document(write(tmp_path, "review.html", ARTICLE_HTML))

    assert document.blocks == [
        Heading(2, "Why we lost"),
        Paragraph("The customer chose Globex because our implementation plan came two weeks late."),
        Heading(2, "Price comparison"),
        Table(header=("Vendor", "Price"), rows=(("Us", "120k"), ("Globex", "98k"))),
        Paragraph("Send the plan with the first quote.", list_item=True),
    ]
    all_text = repr(document.blocks)
    for noise in ("HEADER", "NAV", "COOKIE", "COMMENT", "SCRIPT", "ASIDE", "FOOTER", "banner"):
        assert noise not in all_text
    assert document.title is not None and document.title.startswith("Loss review: Globex")
    assert (document.format, document.structured, document.encoding) == ("html", True, "utf-8")


def test_short_html_without_article_keeps_its_structure(tmp_path: Path) -> None:
    html = (
        "<html><head><title>Discovery</title></head><body><nav>Menu</nav>"
        "<h1>Discovery</h1><p>Ask about <i>budget</i><br>and timing.</p><footer>Footer</footer></body></html>"
    )

    document = load_document(write(tmp_path, "page.htm", html))

    assert document.blocks == [Heading(1, "Discovery"), Paragraph("Ask about budget and timing.")]
    assert document.format == "html"


def test_long_html_without_article_uses_main_text_extraction(tmp_path: Path) -> None:
    sentence = "Confirm the budget owner before the second meeting, or the deal stalls in procurement."
    html = (
        "<html><head><title>Playbook</title></head><body>"
        '<div class="menu"><a href="/a">Home</a> <a href="/b">Deals</a> <a href="/c">Team</a></div>'
        f'<div class="content"><h1>Qualification</h1><p>{sentence}</p><h2>Budget</h2><p>{sentence}</p>'
        f"<h2>Timing</h2><p>{sentence}</p><p>{sentence}</p></div></body></html>"
    )

    document = load_document(write(tmp_path, "playbook.html", html))

    assert [b for b in document.blocks if isinstance(b, Heading)] == [
        Heading(1, "Qualification"),
        Heading(2, "Budget"),
        Heading(2, "Timing"),
    ]
    assert Paragraph(sentence) in document.blocks
    assert "Home" not in repr(document.blocks)


def test_html_declared_charset_is_used(tmp_path: Path) -> None:
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312"></head>'
        "<body><main><h2>输单原因</h2><p>报价过高。</p></main></body></html>"
    )

    document = load_document(write(tmp_path, "gbk.html", html.encode("gbk")))

    assert document.blocks == [Heading(2, "输单原因"), Paragraph("报价过高。")]
    assert document.encoding == "gb18030"


# --- Word -----------------------------------------------------------------------------


def test_docx_blocks_keep_document_order_levels_and_tables(tmp_path: Path) -> None:
    word = docx.Document()
    word.add_heading("客户拜访手册", level=1)
    word.add_paragraph("第一次拜访前先研究客户的年报。")
    word.add_heading("准备工作", level=2)
    word.add_paragraph("确认参会人和他们的角色。")
    table = word.add_table(rows=3, cols=2)
    for row, cells in zip(table.rows, [("角色", "关注点"), ("CFO", "成本"), ("CIO", "安全")]):
        for cell, text in zip(row.cells, cells):
            cell.text = text
    word.add_paragraph("带上成功案例。", style="List Bullet")
    word.add_paragraph("   ")
    word.add_heading("跟进", level=2)
    path = tmp_path / "playbook.docx"
    word.save(str(path))

    document = load_document(path)

    assert document.blocks == [
        Heading(1, "客户拜访手册"),
        Paragraph("第一次拜访前先研究客户的年报。"),
        Heading(2, "准备工作"),
        Paragraph("确认参会人和他们的角色。"),
        Table(header=("角色", "关注点"), rows=(("CFO", "成本"), ("CIO", "安全"))),
        Paragraph("带上成功案例。", list_item=True),
        Heading(2, "跟进"),
    ]
    assert document.title == "客户拜访手册"
    assert (document.format, document.structured, document.encoding) == ("docx", True, None)


def test_docx_title_style_and_core_title(tmp_path: Path) -> None:
    word = docx.Document()
    word.core_properties.title = "Renewal playbook"
    word.add_heading("Renewals", level=0)
    word.add_paragraph("Start ninety days before the end of the term.")
    path = tmp_path / "renewals.docx"
    word.save(str(path))

    document = load_document(path)

    assert document.blocks[0] == Heading(1, "Renewals")
    assert document.title == "Renewal playbook"


def test_corrupt_docx_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.docx", bytes(range(256)) * 4)

    with pytest.raises(BadFileError, match="docx") as error:
        load_document(path)
    assert "broken.docx" in str(error.value)


# --- PDF ------------------------------------------------------------------------------


def test_pdf_gives_one_paragraph_per_line(tmp_path: Path) -> None:
    path = write(tmp_path, "review.pdf", pdf_bytes(["Win review: Acme Bank", "Engage the economic buyer early."]))

    document = load_document(path)

    assert document.blocks == [Paragraph("Win review: Acme Bank"), Paragraph("Engage the economic buyer early.")]
    assert (document.format, document.structured, document.title) == ("pdf", False, None)


def test_chinese_pdf_text_is_extracted(tmp_path: Path) -> None:
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    lines = ["赢单复盘：华东银行项目", "关键在于尽早接触决策人。"]

    document = load_document(write(tmp_path, "cn.pdf", pdf_bytes(lines, font="STSong-Light")))

    assert document.blocks == [Paragraph(line) for line in lines]


def test_pdf_encrypted_only_against_editing_is_read(tmp_path: Path) -> None:
    protected = pdf_bytes(["Pricing guardrails"], encrypt=StandardEncryption("", ownerPassword="owner"))

    assert load_document(write(tmp_path, "owner.pdf", protected)).blocks == [Paragraph("Pricing guardrails")]


def test_pdf_that_needs_a_password_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "locked.pdf", pdf_bytes(["Secret"], encrypt="secret"))

    with pytest.raises(BadFileError, match="encrypted") as error:
        load_document(path)
    assert "locked.pdf" in str(error.value)


def test_pdf_without_text_is_rejected(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.rect(72, 72, 200, 200, fill=1)
    pdf.save()

    with pytest.raises(BadFileError, match="no extractable text"):
        load_document(write(tmp_path, "scan.pdf", buffer.getvalue()))


def test_file_that_is_not_a_pdf_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "fake.pdf", "This is a text file with a .pdf name.\n")

    with pytest.raises(BadFileError, match="PDF") as error:
        load_document(path)
    assert "fake.pdf" in str(error.value)


# --- any format -----------------------------------------------------------------------


def test_unsupported_suffix_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "pipeline.xlsx", b"PK\x03\x04 not really a spreadsheet")

    with pytest.raises(BadFileError, match="unsupported file type .xlsx") as error:
        load_document(path)
    assert "pipeline.xlsx" in str(error.value)


@pytest.mark.parametrize("suffix", SUPPORTED_SUFFIXES)
def test_empty_file_is_rejected(tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path, f"empty{suffix}", b"")

    with pytest.raises(BadFileError, match="empty file") as error:
        load_document(path)
    assert f"empty{suffix}" in str(error.value)


def test_missing_file_is_a_bad_file(tmp_path: Path) -> None:
    with pytest.raises(BadFileError, match="cannot read"):
        load_document(tmp_path / "missing.md")


@pytest.mark.parametrize(
    ("name", "content"),
    [("blank.md", "---\n---\n\n"), ("blank.html", "<html><body><nav>Only navigation</nav></body></html>")],
)
def test_file_with_no_text_is_rejected(tmp_path: Path, name: str, content: str) -> None:
    with pytest.raises(BadFileError, match="no text found"):
        load_document(write(tmp_path, name, content))
