"""Slide decks built with python-pptx: a section per slide with body, tables, groups and speaker notes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pptx import Presentation
from pptx.util import Inches, Pt

from ingest.cleaning import clean_blocks
from ingest.lessons import extract_lessons
from ingest.loaders import load_document
from ingest.structure import build_sections
from kb.errors import BadFileError


def deck(path: Path) -> Path:
    prs = Presentation()
    title_slide = prs.slides.add_slide(prs.slide_layouts[0])
    title_slide.shapes.title.text = "Winning enterprise renewals"
    title_slide.placeholders[1].text = "Sales kickoff 2025"

    bullets = prs.slides.add_slide(prs.slide_layouts[1])
    bullets.shapes.title.text = "Start ninety days early"
    body = bullets.placeholders[1].text_frame
    body.text = "Map every stakeholder who signed last time"
    body.add_paragraph().text = "Book a value review with the economic buyer"
    bullets.notes_slide.notes_text_frame.text = "Renewals lost last year were all started in the final month."

    table_slide = prs.slides.add_slide(prs.slide_layouts[5])
    table_slide.shapes.title.text = "Discount guardrails"
    table = table_slide.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for row, cells in enumerate([("Term", "Maximum discount"), ("1 year", "5%"), ("3 years", "12%")]):
        for column, text in enumerate(cells):
            table.cell(row, column).text = text

    grouped = prs.slides.add_slide(prs.slide_layouts[5])
    grouped.shapes.title.text = "Who to call"
    group = grouped.shapes.add_group_shape()
    for index, text in enumerate(["Champion: head of operations", "Blocker: procurement lead"]):
        box = group.shapes.add_textbox(Inches(1), Inches(2 + index), Inches(5), Inches(1))
        box.text_frame.text = text
        box.text_frame.paragraphs[0].runs[0].font.size = Pt(18)

    prs.save(path)
    return path


def test_a_deck_gives_a_lesson_per_slide_with_notes_and_table_cells(tmp_path: Path) -> None:
    loaded = load_document(deck(tmp_path / "renewals.pptx"))
    cleaned = clean_blocks(loaded.blocks, title=loaded.title)
    root = build_sections(cleaned.blocks, structured=loaded.structured, title=loaded.title)
    lessons = extract_lessons(root, document_id="d", source="renewals.pptx", document_title=loaded.title or "", kind="playbook").lessons

    assert loaded.title == "Winning enterprise renewals"
    by_title = {lesson.title: lesson.body for lesson in lessons}
    assert list(by_title)[-3:] == ["Start ninety days early", "Discount guardrails", "Who to call"]
    assert "- Map every stakeholder who signed last time" in by_title["Start ninety days early"]
    assert "Renewals lost last year were all started in the final month." in by_title["Start ninety days early"]
    assert "| 3 years | 12% |" in by_title["Discount guardrails"]
    assert "Champion: head of operations" in by_title["Who to call"]
    assert "Blocker: procurement lead" in by_title["Who to call"]


def test_a_deck_without_text_is_refused_by_name(tmp_path: Path) -> None:
    prs = Presentation()
    prs.slides.add_slide(prs.slide_layouts[6])  # blank
    path = tmp_path / "pictures.pptx"
    prs.save(path)

    with pytest.raises(BadFileError, match="no text") as error:
        load_document(path)
    assert "pictures.pptx" in str(error.value)


def test_a_broken_deck_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "broken.pptx"
    path.write_bytes(b"PK\x03\x04 not a deck")

    with pytest.raises(BadFileError, match="unreadable .pptx") as error:
        load_document(path)
    assert "broken.pptx" in str(error.value)
