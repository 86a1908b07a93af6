"""Read a PowerPoint deck (.pptx, python-pptx): one section per slide, titled by the slide title.

A slide's section holds its body text (bullets as list items), its tables, the text of grouped
shapes and the speaker notes, which often say more than the slide itself.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from pathlib import Path

from pptx import Presentation
from pptx.enum.shapes import MSO_SHAPE_TYPE, PP_PLACEHOLDER
from pptx.shapes.base import BaseShape

from kb.domain import Block, Heading, LoadedDocument, Paragraph, Table
from kb.errors import BadFileError, describe

_TITLE_PLACEHOLDERS = (PP_PLACEHOLDER.TITLE, PP_PLACEHOLDER.CENTER_TITLE, PP_PLACEHOLDER.VERTICAL_TITLE)
# Footers, dates and slide numbers repeat on every slide and say nothing.
_FURNITURE_PLACEHOLDERS = (PP_PLACEHOLDER.FOOTER, PP_PLACEHOLDER.DATE, PP_PLACEHOLDER.SLIDE_NUMBER)
# A slide without a title is named by its first line when that line is this short.
TITLE_LINE_CHARS = 60


def load_pptx(path: Path, data: bytes) -> LoadedDocument:
    try:
        deck = Presentation(io.BytesIO(data))
        title = (deck.core_properties.title or "").strip() or None
        slides = [_slide(slide) for slide in deck.slides]
    except Exception as exc:  # python-pptx raises anything from zipfile, lxml and its own errors
        raise BadFileError(path, f"corrupt or unreadable .pptx file ({describe(exc)})") from None
    blocks: list[Block] = []
    opens_with_title_slide = bool(slides) and slides[0][2]
    for number, (slide_title, body, is_title_slide) in enumerate(slides, start=1):
        if not slide_title and not body:
            continue
        if not slide_title and isinstance(body[0], Paragraph) and len(body[0].text) <= TITLE_LINE_CHARS:
            slide_title, body = body[0].text, body[1:]
        level = 1 if is_title_slide or not opens_with_title_slide else 2
        blocks.append(Heading(level, slide_title or f"{path.stem} ({number})"))
        blocks.extend(body)
    if not blocks:
        raise BadFileError(path, "no text in the slides (pictures only?)")
    if title is None and opens_with_title_slide and isinstance(blocks[0], Heading):
        title = blocks[0].text
    return LoadedDocument(path=path, format="pptx", blocks=blocks, structured=True, title=title)


def _slide(slide) -> tuple[str, list[Block], bool]:
    """(title, body blocks, whether it is a title slide) of one slide."""
    title = ""
    is_title_slide = False
    body: list[Block] = []
    for shape in _shapes(slide.shapes):
        placeholder = shape.placeholder_format.type if shape.is_placeholder else None
        if placeholder in _FURNITURE_PLACEHOLDERS:
            continue
        if placeholder in _TITLE_PLACEHOLDERS and not title and shape.has_text_frame:
            title = " ".join(shape.text_frame.text.split())
            is_title_slide = placeholder == PP_PLACEHOLDER.CENTER_TITLE
            continue
        if shape.has_text_frame:
            body.extend(_text_frame(shape.text_frame))
        elif getattr(shape, "has_table", False) and shape.has_table:
            if table := _table(shape.table):
                body.append(table)
    if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
        body.extend(_text_frame(slide.notes_slide.notes_text_frame, bullets=False))
    return title, body, is_title_slide


def _shapes(shapes: Iterable[BaseShape]) -> Iterator[BaseShape]:
    """Every shape, with the members of groups in place of the group, top to bottom and left to right."""
    def position(shape: BaseShape) -> tuple[int, int]:
        return (shape.top or 0, shape.left or 0)

    for shape in sorted(shapes, key=position):
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shapes(shape.shapes)
        else:
            yield shape


def _text_frame(frame, *, bullets: bool = True) -> list[Paragraph]:
    """Each paragraph of a text frame; in a body placeholder or a multi-line box, lines are bullets."""
    lines = [(" ".join(p.text.split()), p.level) for p in frame.paragraphs]
    lines = [(text, level) for text, level in lines if text]
    as_list = bullets and len(lines) > 1
    return [Paragraph(text, list_item=as_list) for text, _ in lines]


def _table(table) -> Table | None:
    rows = [tuple(" ".join(cell.text.split()) for cell in row.cells) for row in table.rows]
    rows = [row for row in rows if any(row)]
    return Table(header=rows[0], rows=tuple(rows[1:])) if rows else None
