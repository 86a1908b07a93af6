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

from ingest.cleaning import line_joiner
from kb.domain import Block, Heading, LoadedDocument, Paragraph
from kb.errors import BadFileError, describe

# A line this much larger than the body text, or bold and short, is a heading.
HEADING_SIZE_RATIO = 1.15
HEADING_MAX_CHARS = 80
# Running headers and footers sit among the first or last lines of a page and recur on this share of pages.
MARGIN_LINES = 2
RUNNING_SHARE = 0.5
# A vertical gap this many times the usual line spacing starts a new paragraph.
PARAGRAPH_GAP = 1.6
# A gutter: a vertical strip this wide (share of the page) in the middle third that no line crosses.
MIN_GUTTER = 0.02
_LIBRARY_LOGGERS = ("pypdf", "pdfminer", "pdfplumber")

# pdfminer writes a glyph that its font cannot map to a character as "(cid:123)".
_UNMAPPED_GLYPH_RE = re.compile(r"\(cid:\d+\)")
_PAGE_NUMBER_RE = re.compile(
    r"^\s*(?:[-–—]\s*\d{1,4}\s*[-–—]|(?:page|p\.|seite|página)?\s*\d{1,4}(?:\s*(?:/|of|von|de)\s*\d{1,4})?|第\s*\d{1,4}\s*页(?:\s*/?\s*共\s*\d{1,4}\s*页)?|[ivxlcdm]{1,6})\s*$",
    re.IGNORECASE,
)
_TOC_LINE_RE = re.compile(r"^(?P<title>.{2,}?)\s*(?:[.·…_]{3,}|\s{2,}|…+)\s*(?P<page>\d{1,4})\s*$")
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
    column_right: float = 0.0


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
                pages = [_page_lines(page, number) for number, page in enumerate(pdf.pages)]
        except BadFileError:
            raise
        except DependencyError:
            raise BadFileError(path, "encrypted PDF that cannot be decrypted here") from None
        except Exception as exc:  # pypdf and pdfminer raise many kinds of errors on damaged files
            raise BadFileError(path, f"not a readable PDF ({describe(exc)})") from None
    if not any(pages):
        raise BadFileError(path, "no extractable text (scanned PDF?)")
    pages = _drop_running_lines(pages)
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


def _page_lines(page: pdfplumber.page.Page, number: int) -> list[_Line]:
    """The text lines of a page, column by column."""
    lines: list[_Line] = []
    columns = _columns(page)
    found_by_column = [
        [_line(raw, number) for raw in column.extract_text_lines(return_chars=True) if raw["text"].strip()] for column in columns
    ]
    for found in found_by_column:
        right = max((line.x1 for line in found), default=0.0)
        if len(columns) == 1:
            # Text usually has equal margins left and right: that gives the right edge of a page of short lines.
            right = max(right, float(page.width) - min((line.x0 for line in found), default=0.0))
        for line in found:
            line.column_right = right
        lines.extend(found)
    return lines


def _columns(page: pdfplumber.page.Page) -> list[pdfplumber.page.Page]:
    """The page, or its two halves when a gutter runs down the middle of the text."""
    words = page.extract_words()
    if len(words) < 20:
        return [page]
    width = float(page.width)
    covered = [False] * 100
    for word in words:
        for slot in range(int(word["x0"] / width * 100), min(int(word["x1"] / width * 100) + 1, 100)):
            covered[slot] = True
    middle = [slot for slot in range(33, 67) if not covered[slot]]
    if len(middle) < MIN_GUTTER * 100:
        return [page]
    gutter = (middle[0] + middle[-1]) / 2 / 100 * width
    left = sum(1 for word in words if word["x1"] <= gutter)
    if left < len(words) * 0.2 or left > len(words) * 0.8:
        return [page]
    return [page.crop((0, 0, gutter, page.height)), page.crop((gutter, 0, width, page.height))]


def _line(raw: dict, page: int) -> _Line:
    chars = [char for char in raw["chars"] if char["text"].strip()] or raw["chars"]
    sizes = [round(float(char.get("size", 0)), 1) for char in chars]
    bold = sum(1 for char in chars if re.search(r"bold|black|heavy|semibold", char.get("fontname", ""), re.IGNORECASE))
    return _Line(
        text=" ".join(_UNMAPPED_GLYPH_RE.sub("", raw["text"]).split()),
        page=page,
        x0=float(raw["x0"]),
        x1=float(raw["x1"]),
        top=float(raw["top"]),
        bottom=float(raw["bottom"]),
        size=Counter(sizes).most_common(1)[0][0] if sizes else 0.0,
        bold=bold >= 0.8 * len(chars),
    )


# --- page furniture ---------------------------------------------------------------------------


def _drop_running_lines(pages: list[list[_Line]]) -> list[list[_Line]]:
    """Remove page numbers and the headers and footers that recur at the top or bottom of pages."""
    def key(line: _Line) -> str:
        return re.sub(r"\d+", "#", line.text.lower())

    def margins(lines: list[_Line]) -> list[_Line]:
        ordered = sorted(lines, key=lambda line: line.top)
        return ordered[:MARGIN_LINES] + ordered[-MARGIN_LINES:]

    counts = Counter(k for lines in pages for k in {key(line) for line in margins(lines)})
    pages_with_text = sum(1 for lines in pages if lines)
    running = {k for k, n in counts.items() if pages_with_text >= 2 and n >= max(2, RUNNING_SHARE * pages_with_text)}
    cleaned = []
    for lines in pages:
        edge = {id(line) for line in margins(lines)}
        cleaned.append(
            [line for line in lines if not (id(line) in edge and (key(line) in running or _PAGE_NUMBER_RE.match(line.text)))]
        )
    return cleaned


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
    """Lines set larger than the body text, or bold and short, are headings; larger sizes are higher levels."""
    body = _body_size(lines)
    candidates = {
        index: line
        for index, line in enumerate(lines)
        if len(line.text) <= HEADING_MAX_CHARS
        and not _PAGE_NUMBER_RE.match(line.text)
        and (line.size >= body * HEADING_SIZE_RATIO or (line.bold and line.size >= body and not line.text.endswith(("。", "."))))
    }
    sizes = sorted({line.size for line in candidates.values()}, reverse=True)
    level_of = {size: level for level, size in enumerate(sizes, start=1)}
    return _Headings(at={index: Heading(min(level_of[line.size], 6), line.text) for index, line in candidates.items()})


def _blocks(lines: list[_Line], headings: _Headings) -> list[Block]:
    """Join lines into paragraphs; a heading, a wide gap, a short last line or a change of font ends one."""
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
    """Does ``line`` carry on the paragraph that ``previous`` ends?"""
    if abs(line.size - previous.size) > 0.5:
        return False
    if line.page == previous.page:
        gap = line.top - previous.top
        if gap <= 0 or (spacing and gap > PARAGRAPH_GAP * spacing):
            return False  # a new column or a blank line between paragraphs
    # A line wraps when the next line's first word would not have fitted at its end; when it would have,
    # the writer ended the paragraph there.
    char_width = (previous.x1 - previous.x0) / max(len(previous.text), 1)
    first_word = re.match(r"\S+", line.text)
    first_width = char_width * ((1 if line_joiner("a", line.text) == "" else len(first_word.group(0)) + 1) if first_word else 1)
    return previous.column_right - previous.x1 < first_width + 2 * char_width  # widths are estimates: some slack


def _join(text: str, following: str) -> str:
    """Join a wrapped line: a hyphen that split a Latin word goes, CJK lines join without a space."""
    if re.search(r"[A-Za-z]-$", text) and re.match(r"[a-z]", following):
        return text[:-1] + following
    return text + line_joiner(text, following) + following


def _compact(text: str) -> str:
    return re.sub(r"\W", "", text).lower()
