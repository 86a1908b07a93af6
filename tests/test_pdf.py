"""PDFs with their structure: outline sections, font headings, joined paragraphs, page furniture removed."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pypdf

import pytest
from reportlab.pdfgen import canvas

from ingest.cleaning import clean_blocks
from ingest.lessons import extract_lessons
from ingest.loaders import load_document
from ingest.structure import build_sections
from kb.domain import Heading, Lesson, Paragraph
from pdf_fixtures import (
    CHINESE_GUIDE,
    CHINESE_GUIDE_HEADER,
    CHINESE_SECTIONS,
    FIELD_GUIDE,
    FIELD_GUIDE_FOOTER,
    FIELD_GUIDE_HEADER,
    FOOTER,
    HEADER,
    SECTIONS,
    chinese_guide_pdf,
    chinese_pdf,
    field_guide_pdf,
    glued_quote_pdf,
    playbook_pdf,
    two_column_pdf,
)


def lessons_of(path: Path) -> list[Lesson]:
    """The lessons kb stores for a file (everything of ingest up to chunking)."""
    loaded = load_document(path)
    cleaned = clean_blocks(loaded.blocks, title=loaded.title)
    root = build_sections(cleaned.blocks, structured=loaded.structured, title=loaded.title)
    return extract_lessons(root, document_id="d", source=path.name, document_title=loaded.title or "", kind="playbook").lessons


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def assert_clean(lessons: list[Lesson], furniture: tuple[str, ...] = (HEADER, FOOTER)) -> None:
    """No running header, footer, page number, contents line or line-broken sentence in what is stored."""
    for lesson in lessons:
        assert not any(line in lesson.body for line in furniture), lesson.body
        assert not re.search(r"\.{5,}", lesson.body), lesson.body
        for paragraph in lesson.body.split("\n\n"):
            assert not re.fullmatch(r"\d+", paragraph.strip())
            # every stored paragraph is whole: it ends a sentence
            assert paragraph.rstrip().endswith((".", "。")), paragraph


def test_outline_gives_one_lesson_per_outlined_section(tmp_path: Path) -> None:
    lessons = lessons_of(write(tmp_path, "playbook.pdf", playbook_pdf(outline=True)))

    assert [lesson.title for lesson in lessons] == list(SECTIONS)
    assert_clean(lessons)
    for lesson, paragraphs in zip(lessons, SECTIONS.values()):
        for paragraph in paragraphs:
            assert paragraph in lesson.body  # each paragraph joined back from its printed lines


def test_without_outline_headings_come_from_the_fonts(tmp_path: Path) -> None:
    path = write(tmp_path, "plain.pdf", playbook_pdf(outline=False, contents_page=False))
    loaded = load_document(path)
    lessons = lessons_of(path)

    assert loaded.title == "Acme Sales Playbook 2025"
    assert [block.text for block in loaded.blocks if isinstance(block, Heading)] == ["Acme Sales Playbook 2025", *SECTIONS]
    assert [lesson.title for lesson in lessons] == list(SECTIONS)
    assert_clean(lessons)


def test_contents_page_is_removed(tmp_path: Path) -> None:
    loaded = load_document(write(tmp_path, "toc.pdf", playbook_pdf(outline=False)))

    texts = [block.text for block in loaded.blocks]
    assert "Contents" not in texts
    assert not any(re.search(r"\.{5,}\s*\d+$", text) for text in texts)


def test_two_columns_are_read_column_by_column_and_hyphens_rejoin_words(tmp_path: Path) -> None:
    loaded = load_document(write(tmp_path, "columns.pdf", two_column_pdf()))

    texts = [block.text for block in loaded.blocks]
    assert texts == [
        "Discovery calls: " + " ".join(SECTIONS["Discovery calls"]),
        "Our champion asked for a written negotiation plan before the committee met in March.",
        "Pricing conversations: " + " ".join(SECTIONS["Pricing conversations"]),
    ]


def test_chinese_lines_join_without_spaces_under_font_headings(tmp_path: Path) -> None:
    lessons = lessons_of(write(tmp_path, "cn.pdf", chinese_pdf()))

    assert [lesson.title for lesson in lessons] == list(CHINESE_SECTIONS)
    for lesson, text in zip(lessons, CHINESE_SECTIONS.values()):
        assert lesson.body == text * 2


@pytest.mark.parametrize("columns", [1, 2], ids=["ragged-indented-larger-headings", "justified-two-columns-bold-headings"])
def test_outline_less_pdf_splits_at_its_visual_headings_into_whole_paragraphs(tmp_path: Path, columns: int) -> None:
    """Paragraphs run across columns and pages mid-sentence; headings are numbered and set a size above the body
    (one column) or bold at the body's size (two columns); every page has a running header and a footer."""
    data = field_guide_pdf(columns=columns)
    assert len(pypdf.PdfReader(io.BytesIO(data)).pages) >= (4 if columns == 1 else 3)

    lessons = lessons_of(write(tmp_path, f"guide-{columns}.pdf", data))

    assert [lesson.title for lesson in lessons] == list(FIELD_GUIDE)
    assert_clean(lessons, furniture=(FIELD_GUIDE_HEADER, FIELD_GUIDE_FOOTER, "Page "))
    for lesson, paragraphs in zip(lessons, FIELD_GUIDE.values()):
        assert lesson.body.split("\n\n") == paragraphs


def test_chinese_pdf_without_outline_splits_at_numbered_headings_and_rejoins_paragraphs_across_pages(tmp_path: Path) -> None:
    data = chinese_guide_pdf()
    assert len(pypdf.PdfReader(io.BytesIO(data)).pages) >= 2

    lessons = lessons_of(write(tmp_path, "guide-cn.pdf", data))

    assert [lesson.title for lesson in lessons] == list(CHINESE_GUIDE)
    for lesson, paragraphs in zip(lessons, CHINESE_GUIDE.values()):
        assert CHINESE_GUIDE_HEADER not in lesson.body and not re.search(r"第\s*\d+\s*页", lesson.body)
        assert lesson.body.split("\n\n") == paragraphs


def test_word_spaces_drawn_as_narrow_gaps_stay_spaces_beside_curly_quotes(tmp_path: Path) -> None:
    loaded = load_document(write(tmp_path, "quote.pdf", glued_quote_pdf()))

    assert [block.text for block in loaded.blocks] == ["The buyer wrote “Huawei listens” in the minutes."]


def test_library_warnings_are_collected_for_the_file_not_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = playbook_pdf(outline=False, contents_page=False, paragraphs_per_section=1)
    # Point the cross-reference table at the wrong offset: pypdf repairs it and complains.
    broken = re.sub(rb"startxref\s+\d+", b"startxref\n999999", data)

    loaded = load_document(write(tmp_path, "damaged.pdf", broken))

    assert loaded.warnings, "the damage is reported"
    assert [block.text for block in loaded.blocks if isinstance(block, Heading)][1:] == list(SECTIONS)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_short_pdf_lines_that_do_not_wrap_stay_paragraphs(tmp_path: Path) -> None:
    path = tmp_path / "notes.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.setFont("Helvetica", 12)
    for index, line in enumerate(["Call the CFO before the pilot ends.", "Bring the reference customer.", "- 3 -"]):
        pdf.drawString(72, 720 - 20 * index, line)
    pdf.showPage()
    pdf.save()

    assert load_document(path).blocks == [
        Paragraph("Call the CFO before the pilot ends."),
        Paragraph("Bring the reference customer."),
    ]  # and no page number
