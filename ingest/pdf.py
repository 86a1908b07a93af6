"""Read a PDF with its structure: sections from the outline or from heading fonts, lines joined into paragraphs.

pypdf opens the file (encryption, outline, metadata); pdfplumber (pdfminer.six) gives each line with its
position and font, which is what tells a heading from body text, a running header from the first line
of a page, and the end of a paragraph from a line that merely wraps.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

import pdfplumber
import pypdf
from pypdf.errors import DependencyError

from ingest.cleaning import CJK, SENTENCE_END, line_joiner
from kb.domain import Block, Heading, LoadedDocument, Paragraph
from kb.errors import BadFileError, describe

# A short line this much larger than the body text, bold at the body's size, or numbered and standing alone,
# is a heading. More lines than this in a row at one size are a paragraph set larger (a lead, a quote).
HEADING_SIZE_RATIO = 1.08
HEADING_MAX_CHARS = 80
HEADING_MAX_LINES = 3
# Running headers and footers sit among the first or last lines of a page and recur on this share of pages.
MARGIN_LINES = 2
RUNNING_SHARE = 0.5
# A vertical gap this many times the usual line spacing starts a new paragraph.
PARAGRAPH_GAP = 1.3
# A gutter: a vertical strip this wide (share of the page) in the middle third that no line crosses.
MIN_GUTTER = 0.02
# Two characters further apart than this share of the font size are two words. pdfplumber's default, a fixed
# 3 points, is wider than a word space at small sizes in justified text (typesetters draw such spaces as gaps).
WORD_GAP_RATIO = 0.15
_LIBRARY_LOGGERS = ("pypdf", "pdfminer", "pdfplumber")

# pdfminer writes a glyph that its font cannot map to a character as "(cid:123)".
_UNMAPPED_GLYPH_RE = re.compile(r"\(cid:\d+\)")
_PAGE_NUMBER_RE = re.compile(
    r"^\s*(?:[-–—]\s*\d{1,4}\s*[-–—]|(?:page|p\.|seite|página)?\s*\d{1,4}(?:\s*(?:/|of|von|de)\s*\d{1,4})?|第\s*\d{1,4}\s*页(?:\s*/?\s*共\s*\d{1,4}\s*页)?|[ivxlcdm]{1,6})\s*$",
    re.IGNORECASE,
)
# Gaps that the word tolerance finds between Chinese characters are letter spacing, not word spaces.
_CJK_GAP_RE = re.compile(rf"(?<={CJK}) (?={CJK})")
# "2", "2.1", "3.", "一、", "（二）", "第三章": a section number opening a line.
_SECTION_NUMBER_RE = re.compile(
    r"^(?:(?P<arabic>\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+(?=\D)|(?P<han>[一二三四五六七八九十]{1,3})\s*、"
    r"|[（(](?P<sub>[一二三四五六七八九十]{1,3})[）)]|第[一二三四五六七八九十\d]{1,3}[章节節部篇])"
)
# How a sentence ends, closing quotes and brackets aside.
_SENTENCE_END_RE = re.compile(rf"[{re.escape(SENTENCE_END)}.:：][”’\"')）」』]*$")
_TOC_LINE_RE = re.compile(r"^(?P<title>.{2,}?)\s*(?:(?:[.·…_]\s?){3,}|\s{2,}|…+)\s*(?P<page>\d{1,4})\s*$")
_TOC_TITLE_RE = re.compile(r"^\s*(contents|table of contents|目\s*录|目\s*錄|inhalt|sommaire|índice)\s*$", re.IGNORECASE)


@dataclass
class _Line:
    text: str
    page: int
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    bold: bool
    column_left: float = 0.0
    column_right: float = 0.0
    chars: list[tuple[float, float]] = field(default_factory=list, repr=False)


@dataclass
class _Headings:
    """Headings at line positions, and headings (from the outline) that go before a line."""

    at: dict[int, Heading] = field(default_factory=dict)
    before: dict[int, list[Heading]] = field(default_factory=dict)


def load_pdf(path: Path, data: bytes) -> LoadedDocument:
    """Blocks of a PDF: Heading blocks from its outline or its fonts, Paragraph blocks of joined lines."""
    with _captured_library_messages() as messages:
        try:
            reader = pypdf.PdfReader(io.BytesIO(data))
            # Many PDFs are encrypted only against editing, with an empty password for reading.
            readable = not reader.is_encrypted or reader.decrypt("") != pypdf.PasswordType.NOT_DECRYPTED
            if not readable:
                raise BadFileError(path, "encrypted PDF that needs a password")
            outline = _outline(reader)
            title = _metadata_title(reader)
            with pdfplumber.open(io.BytesIO(data), password="") as pdf:
                # Whole-width lines first: a running header or footer spans the columns that the body is read in.
                whole = [_text_lines(page, number) for number, page in enumerate(pdf.pages)]
                furniture = _furniture(whole)
                pages = [
                    _column_lines(page, number, lines, items)
                    for number, (page, lines, items) in enumerate(zip(pdf.pages, whole, furniture))
                ]
        except BadFileError:
            raise
        except DependencyError:
            raise BadFileError(path, "encrypted PDF that cannot be decrypted here") from None
        except Exception as exc:  # pypdf and pdfminer raise many kinds of errors on damaged files
            raise BadFileError(path, f"not a readable PDF ({describe(exc)})") from None
    if not any(whole):
        raise BadFileError(path, "no extractable text (scanned PDF?)")
    _fit_short_pages_to_columns(pages)
    pages = [_drop_table_of_contents(lines) for lines in pages]
    lines = [line for page in pages for line in page]
    if not lines:
        raise BadFileError(path, "no text besides page numbers, headers and footers")
    title = title or _first_page_title(lines)
    headings = _outline_headings(lines, outline) if outline else _font_headings(lines)
    blocks = _blocks(lines, headings)
    return LoadedDocument(
        path=path,
        format="pdf",
        blocks=blocks,
        structured=any(isinstance(block, Heading) for block in blocks),
        title=title,
        warnings=_summarise(messages),
    )


# --- reading ----------------------------------------------------------------------------------


@contextmanager
def _captured_library_messages() -> Iterator[list[str]]:
    """Collect what pypdf and pdfminer log or warn while reading, instead of letting it reach stderr unnamed."""
    messages: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler = _Collect(level=logging.WARNING)
    loggers = [logging.getLogger(name) for name in _LIBRARY_LOGGERS]
    saved = [(logger.propagate, logger.level) for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield messages
        messages.extend(str(warning.message) for warning in caught)
    finally:
        for logger, (propagate, level) in zip(loggers, saved):
            logger.removeHandler(handler)
            logger.propagate = propagate
            logger.setLevel(level)


def _summarise(messages: list[str]) -> list[str]:
    """Distinct messages, each cut to one short line (a font dictionary can fill a screen)."""
    distinct = dict.fromkeys(" ".join(message.split())[:160] for message in messages if message.strip())
    return list(distinct)


def _outline(reader: pypdf.PdfReader) -> list[tuple[int, str, int]]:
    """(level, title, page index) of each outline entry, in document order."""
    entries: list[tuple[int, str, int]] = []

    def walk(items: list, level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            title = " ".join(str(getattr(item, "title", "") or "").split())
            page = reader.get_destination_page_number(item)
            if title and page is not None and page >= 0:
                entries.append((level, title, page))

    walk(reader.outline, 1)
    return entries


def _metadata_title(reader: pypdf.PdfReader) -> str | None:
    title = reader.metadata.title if reader.metadata else None
    title = " ".join(str(title).split()) if title else ""
    # Tools often fill the title with a file name or a placeholder.
    if not title or re.search(r"\.(docx?|pptx?|pdf|indd|tex)$|^untitled|^microsoft|^slide \d|^\(?anonymous\)?$", title, re.IGNORECASE):
        return None
    return title


def _text_lines(page: pdfplumber.page.Page, number: int) -> list[_Line]:
    raw_lines = page.extract_text_lines(return_chars=True, x_tolerance_ratio=WORD_GAP_RATIO)
    return [_line(raw, number) for raw in raw_lines if raw["text"].strip()]


def _column_lines(page: pdfplumber.page.Page, number: int, lines: list[_Line], furniture: list[_Line]) -> list[_Line]:
    """The body lines of a page, column by column, less its furniture."""
    body = [line for line in lines if not any(line is item for item in furniture)]
    gutter = _gutter(body, float(page.width))
    if gutter is None:
        columns = [body]
    else:
        halves = (page.crop((0, 0, gutter, page.height)), page.crop((gutter, 0, float(page.width), page.height)))
        columns = [[line for line in _text_lines(half, number) if not _within(line, furniture)] for half in halves]
    for found in columns:
        right = max((line.x1 for line in found), default=0.0)
        if gutter is None:
            # Text usually has equal margins left and right: that gives the right edge of a page of short lines.
            right = max(right, float(page.width) - min((line.x0 for line in found), default=0.0))
        left = min((line.x0 for line in found), default=0.0)
        for line in found:
            line.column_left, line.column_right = left, right
    return [line for found in columns for line in found]


def _fit_short_pages_to_columns(pages: list[list[_Line]]) -> None:
    """A page that only fills the left column of a two-column layout (the last page, often) shows no gutter;
    its lines still end at that column's margin, not at the page's."""
    left_columns = {}
    for lines in pages:
        lefts = sorted({line.column_left for line in lines})
        if len(lefts) == 2:
            left_columns.setdefault(round(lefts[0]), max(line.column_right for line in lines if line.column_left == lefts[0]))
    for lines in pages:
        if len({line.column_left for line in lines}) != 1:
            continue
        right = left_columns.get(round(lines[0].column_left))
        if right is not None and max(line.x1 for line in lines) <= right + 2:
            for line in lines:
                line.column_right = right


def _gutter(lines: list[_Line], width: float) -> float | None:
    """The middle of a vertical strip in the middle third of the page that no character crosses, if the text
    on both sides of it is substantial: the gap between two columns."""
    chars = [char for line in lines for char in line.chars]
    if len(lines) < 6:
        return None
    covered = [False] * 100
    for x0, x1 in chars:
        for slot in range(int(x0 / width * 100), min(int(x1 / width * 100) + 1, 100)):
            covered[slot] = True
    middle = [slot for slot in range(33, 67) if not covered[slot]]
    if len(middle) < MIN_GUTTER * 100:
        return None
    gutter = (middle[0] + middle[-1]) / 2 / 100 * width
    left = sum(1 for x0, x1 in chars if x1 <= gutter)
    if left < len(chars) * 0.2 or left > len(chars) * 0.8:
        return None
    return gutter


def _within(line: _Line, furniture: list[_Line]) -> bool:
    """Does ``line`` (read from one column) sit on the same baseline as a furniture line of the whole page?"""
    return any(abs(line.bottom - item.bottom) < 1 and item.x0 - 1 <= line.x0 and line.x1 <= item.x1 + 1 for item in furniture)


def _line(raw: dict, page: int) -> _Line:
    chars = [char for char in raw["chars"] if char["text"].strip()] or raw["chars"]
    sizes = [round(float(char.get("size", 0)), 1) for char in chars]
    bold = sum(1 for char in chars if re.search(r"bold|black|heavy|semibold", char.get("fontname", ""), re.IGNORECASE))
    text = " ".join(_UNMAPPED_GLYPH_RE.sub("", raw["text"]).split())
    return _Line(
        text=_CJK_GAP_RE.sub("", text),
        page=page,
        x0=float(raw["x0"]),
        x1=float(raw["x1"]),
        top=float(raw["top"]),
        bottom=float(raw["bottom"]),
        size=Counter(sizes).most_common(1)[0][0] if sizes else 0.0,
        bold=bold >= 0.8 * len(chars),
        chars=[(float(char["x0"]), float(char["x1"])) for char in chars if char["text"].strip()],
    )


# --- page furniture ---------------------------------------------------------------------------


def _furniture(pages: list[list[_Line]]) -> list[list[_Line]]:
    """Each page's page number and the headers and footers that recur at the top or bottom of pages."""
    def key(line: _Line) -> str:
        return re.sub(r"\d+", "#", line.text.lower())

    def margins(lines: list[_Line]) -> list[_Line]:
        ordered = sorted(lines, key=lambda line: line.top)
        return ordered[:MARGIN_LINES] + ordered[-MARGIN_LINES:]

    counts = Counter(k for lines in pages for k in {key(line) for line in margins(lines)})
    pages_with_text = sum(1 for lines in pages if lines)
    running = {k for k, n in counts.items() if pages_with_text >= 2 and n >= max(2, RUNNING_SHARE * pages_with_text)}
    return [
        [line for line in margins(lines) if key(line) in running or _PAGE_NUMBER_RE.match(line.text)] for lines in pages
    ]


def _drop_table_of_contents(lines: list[_Line]) -> list[_Line]:
    """A page of 'title ..... page' lines is a table of contents: its entries are not content."""
    entries = [line for line in lines if _TOC_LINE_RE.match(line.text)]
    if len(entries) < 3 or len(entries) < 0.5 * len(lines):
        return lines
    return [line for line in lines if line not in entries and not _TOC_TITLE_RE.match(line.text)]


# --- headings and paragraphs ------------------------------------------------------------------


def _outline_headings(lines: list[_Line], outline: list[tuple[int, str, int]]) -> _Headings:
    """Outline entries placed at the line that prints their title, else at the top of their page."""
    headings = _Headings()
    for level, title, page in outline:
        target = _compact(title)
        on_page = [index for index, line in enumerate(lines) if line.page == page and index not in headings.at]
        match = next((index for index in on_page if _compact(lines[index].text) == target), None)
        if match is None and target:
            match = next((index for index in on_page if _compact(lines[index].text).startswith(target)), None)
        if match is not None:
            headings.at[match] = Heading(level, title)
        elif on_page:
            headings.before.setdefault(on_page[0], []).append(Heading(level, title))
    return headings


def _first_page_title(lines: list[_Line]) -> str | None:
    """The largest line near the top of the first page, when it is set larger than the body text."""
    first_page = [line for line in lines if line.page == lines[0].page][:8]
    largest = max(first_page, key=lambda line: line.size)
    if largest.size >= _body_size(lines) * HEADING_SIZE_RATIO and len(largest.text) <= HEADING_MAX_CHARS:
        return largest.text
    return None


def _body_size(lines: list[_Line]) -> float:
    weights: Counter[float] = Counter()
    for line in lines:
        weights[line.size] += len(line.text)
    return weights.most_common(1)[0][0]


def _font_headings(lines: list[_Line]) -> _Headings:
    """Headings told by their look: set larger than the body text (larger sizes are higher levels), bold at the
    body's size, or opening with a section number on a line of its own (deeper numbers are lower levels)."""
    body = _body_size(lines)
    spacing = _usual_spacing(lines)

    def alone(index: int) -> bool:
        """Not part of a paragraph: a heading's own lines aside, nothing runs into it or out of it."""
        line = lines[index]
        after = lines[index + 1] if index + 1 < len(lines) else None
        before = lines[index - 1] if index else None
        if line.bold:  # bold lines in a row are one heading; a change of font ends it
            return before is None or _same_look(before, line) or not _continues(before, line, spacing)
        return (after is None or not _fills(line, after)) and (before is None or not _continues(before, line, spacing))

    def looks_like_heading(index: int) -> bool:
        line = lines[index]
        if len(line.text) > HEADING_MAX_CHARS or _PAGE_NUMBER_RE.match(line.text):
            return False
        if line.size >= body * HEADING_SIZE_RATIO:
            return True
        at_body_size = line.size >= body - 0.25 and not _SENTENCE_END_RE.search(line.text)
        numbered = _SECTION_NUMBER_RE.match(line.text) is not None and not line.text.endswith(("，", ",", "、", "；", ";"))
        return at_body_size and (line.bold or numbered) and alone(index)

    candidates = {index: lines[index] for index in range(len(lines)) if looks_like_heading(index)}
    for run in _runs_of_one_size(candidates):
        if len(run) > HEADING_MAX_LINES:
            for index in run:
                del candidates[index]
    larger = sorted({line.size for line in candidates.values() if line.size >= body * HEADING_SIZE_RATIO}, reverse=True)
    level_of = {size: level for level, size in enumerate(larger, start=1)}
    return _Headings(
        at={
            index: Heading(min(level_of.get(line.size, len(larger) + 1) + _numbering_depth(line.text), 6), line.text)
            for index, line in candidates.items()
        }
    )


def _same_look(line: _Line, other: _Line) -> bool:
    return line.size == other.size and line.bold == other.bold


def _runs_of_one_size(candidates: dict[int, _Line]) -> list[list[int]]:
    """Runs of consecutive candidate lines at one size."""
    runs: list[list[int]] = []
    for index in sorted(candidates):
        if runs and runs[-1][-1] == index - 1 and candidates[index - 1].size == candidates[index].size:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


def _numbering_depth(text: str) -> int:
    """Levels below the first that a section number gives: 0 for "2" or "二、", 1 for "2.1" or "（二）"."""
    match = _SECTION_NUMBER_RE.match(text)
    if match is None:
        return 0
    if match.group("arabic"):
        return match.group("arabic").count(".")
    return 1 if match.group("sub") else 0


def _blocks(lines: list[_Line], headings: _Headings) -> list[Block]:
    """Join lines into paragraphs (see ``_continues``); a heading ends one."""
    spacing = _usual_spacing(lines)
    blocks: list[Block] = []
    text = ""
    previous: _Line | None = None
    for index, line in enumerate(lines):
        inserted = headings.before.get(index, [])
        heading = headings.at.get(index)
        if inserted or heading is not None:
            if text:
                blocks.append(Paragraph(text))
                text = ""
            blocks.extend(inserted)
            if heading is not None:
                # A heading that wraps onto a second line continues the one before it.
                wraps = (index - 1) in headings.at and not inserted and previous is not None and _wraps(previous, line)
                if wraps and blocks and isinstance(blocks[-1], Heading):
                    blocks[-1] = Heading(blocks[-1].level, blocks[-1].text + line_joiner(blocks[-1].text, line.text) + line.text)
                else:
                    blocks.append(heading)
                previous = line
                continue
        if text and previous is not None and _continues(previous, line, spacing):
            text = _join(text, line.text)
        else:
            if text:
                blocks.append(Paragraph(text))
            text = line.text
        previous = line
    if text:
        blocks.append(Paragraph(text))
    return blocks


def _wraps(previous: _Line, line: _Line) -> bool:
    return previous.page == line.page and previous.size == line.size and line.top - previous.bottom < previous.size


def _usual_spacing(lines: list[_Line]) -> float:
    gaps = [
        line.top - before.top
        for before, line in zip(lines, lines[1:])
        if line.page == before.page and 0 < line.top - before.top < 3 * max(before.size, 1)
    ]
    return median(gaps) if gaps else 0.0


def _continues(previous: _Line, line: _Line, spacing: float) -> bool:
    """Does ``line`` carry on the paragraph that ``previous`` ends?

    Within a column, a line continues one that runs to the margin, unless a sentence ended there and the new
    line is indented. Across a column or page break, or a blank line, only an unfinished sentence carries on.
    """
    if abs(line.size - previous.size) > 0.5:
        return False
    ends_sentence = _SENTENCE_END_RE.search(previous.text) is not None
    unfinished = not ends_sentence and (_fills(previous, line) or line.text[:1].islower())
    gap = line.top - previous.top
    next_in_column = line.page == previous.page and gap > 0 and not (spacing and gap > PARAGRAPH_GAP * spacing)
    if not next_in_column:
        return unfinished
    if ends_sentence and line.x0 - line.column_left > 1.5 * _char_width(previous):
        return False
    return unfinished or _fills(previous, line)


def _fills(previous: _Line, line: _Line) -> bool:
    """Does ``previous`` run to its column's margin, so that the first word of ``line`` would not have fitted?
    When it would have, the writer ended the line there."""
    char_width = _char_width(previous)
    first_word = re.match(r"\S+", line.text)
    first_width = char_width * ((1 if line_joiner("a", line.text) == "" else len(first_word.group(0)) + 1) if first_word else 1)
    return previous.column_right - previous.x1 < first_width + 2 * char_width  # widths are estimates: some slack


def _char_width(line: _Line) -> float:
    return (line.x1 - line.x0) / max(len(line.text), 1)


def _join(text: str, following: str) -> str:
    """Join a wrapped line: a hyphen that split a Latin word goes, CJK lines join without a space."""
    if re.search(r"[A-Za-z]-$", text) and re.match(r"[a-z]", following):
        return text[:-1] + following
    return text + line_joiner(text, following) + following


def _compact(text: str) -> str:
    return re.sub(r"\W", "", text).lower()
