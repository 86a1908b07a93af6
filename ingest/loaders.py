"""Read a file of any supported format into a ``LoadedDocument`` of headings, paragraphs and tables."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import docx
import lxml.etree
import lxml.html
import trafilatura
import yaml
from docx.table import Table as DocxTable
from docx.text.paragraph import Paragraph as DocxParagraph
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.front_matter import front_matter_plugin

from ingest.archives import check_zip
from ingest.cleaning import line_joiner
from ingest.encoding import declared_encoding, decode_bytes
from ingest.pdf import load_pdf
from ingest.slides import load_pptx
from kb.domain import Block, Heading, LoadedDocument, Paragraph, Table
from kb.errors import BadFileError, describe
from kb.yaml_text import load_yaml

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".docx", ".pdf", ".pptx")


def load_document(path: Path, *, encoding: str | None = None) -> LoadedDocument:
    """Read ``path`` into blocks; every problem with the file is raised as ``BadFileError``.

    ``encoding`` forces the codec of a text format (.txt, .md, .html); binary formats ignore it.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    loader = _LOADERS.get(suffix)
    if loader is None:
        raise BadFileError(path, unsupported_type(path))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadFileError(path, f"cannot read the file: {exc.strerror or exc}") from None
    if not data.strip():
        raise BadFileError(path, "empty file")
    document = loader(path, data, encoding)
    if not document.blocks:
        raise BadFileError(path, "no text found")
    return document


def unsupported_type(path: Path) -> str:
    """Why kb passes over a file of this type, naming the types it reads."""
    suffix = path.suffix.lower()
    hint = _CONVERT_HINTS.get(suffix, "")
    return f"unsupported file type {suffix or '(no extension)'}{hint}; kb reads {', '.join(SUPPORTED_SUFFIXES)}"


# Old binary Office formats have well-known conversions to what kb reads.
_CONVERT_HINTS = {
    ".doc": " (save it as .docx)",
    ".ppt": " (save it as .pptx)",
    ".xls": " (save it as .xlsx and use kb import-reviews)",
    ".xlsx": " (for win/loss reviews use kb import-reviews)",
    ".csv": " (for win/loss reviews use kb import-reviews)",
}


# --- plain text -----------------------------------------------------------------------


def _load_txt(path: Path, data: bytes, encoding: str | None) -> LoadedDocument:
    text, encoding = decode_bytes(data, path, forced=encoding)
    blocks: list[Block] = [Paragraph(line.rstrip()) for line in text.split("\n") if line.strip()]
    return LoadedDocument(path=path, format="txt", blocks=blocks, structured=False, encoding=encoding)


# --- Markdown -------------------------------------------------------------------------

# HTML inside Markdown (READMEs are full of it) is parsed so that only its text is kept.
_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable("table").use(front_matter_plugin)


def _load_markdown(path: Path, data: bytes, encoding: str | None) -> LoadedDocument:
    text, encoding = decode_bytes(data, path, forced=encoding)
    tokens = _MARKDOWN.parse(text)
    front_matter = next((_parse_front_matter(t.content, path) for t in tokens if t.type == "front_matter"), {})
    blocks = _markdown_blocks(tokens)
    title = front_matter.get("title")
    if not isinstance(title, str) or not title.strip():
        title = _first_top_heading(blocks)
    return LoadedDocument(
        path=path,
        format="md",
        blocks=blocks,
        structured=True,
        title=title.strip() if title else None,
        front_matter=front_matter,
        encoding=encoding,
    )


def _markdown_blocks(tokens: list[Token]) -> list[Block]:
    blocks: list[Block] = []
    heading_level: int | None = None
    table_rows: list[list[str]] | None = None
    # Only an item's first paragraph is the item; later ones continue it.
    item_starts = False
    for token in tokens:
        if token.type == "heading_open":
            heading_level = int(token.tag[1:])
        elif token.type in ("list_item_open", "list_item_close"):
            item_starts = token.type == "list_item_open"
        elif token.type == "table_open":
            table_rows = []
        elif token.type == "tr_open" and table_rows is not None:
            table_rows.append([])
        elif token.type == "table_close" and table_rows:
            blocks.append(Table(header=tuple(table_rows[0]), rows=tuple(tuple(row) for row in table_rows[1:])))
            table_rows = None
        elif token.type == "html_block":
            blocks.extend(_html_fragment_blocks(token.content))
            item_starts = False
        elif token.type in ("fence", "code_block"):
            if token.content.strip():
                blocks.append(Paragraph(token.content.rstrip("\n")))
            item_starts = False
        elif token.type == "inline":
            inline = _inline_text(token)
            if table_rows is not None:
                table_rows[-1].append(inline)
            elif heading_level is not None:
                if inline:
                    blocks.append(Heading(heading_level, inline))
                heading_level = None
            elif inline:
                blocks.append(Paragraph(inline, list_item=item_starts))
            item_starts = False
    return blocks


def _html_fragment_blocks(source: str) -> list[Block]:
    """The text of a block of HTML in Markdown, with its headings and paragraphs."""
    try:
        fragment = lxml.html.fragment_fromstring(source, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return []
    _drop(fragment, lambda element: element.tag.lower() in _ALWAYS_DROPPED)
    return _walk_html(fragment)


def _parse_front_matter(source: str, path: Path) -> dict[str, Any]:
    try:
        parsed = load_yaml(source)
    except yaml.MarkedYAMLError as exc:
        where = f" (line {exc.problem_mark.line + 2})" if exc.problem_mark else ""
        raise BadFileError(path, f"front matter: {exc.problem or exc.context}{where}") from None
    except yaml.YAMLError as exc:
        raise BadFileError(path, f"front matter: {exc}") from None
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise BadFileError(path, "front matter: expected 'key: value' lines")
    return {str(key): value for key, value in parsed.items()}


_SOFT_BREAK = object()


def _inline_text(token: Token) -> str:
    """The visible text of an inline token: markup dropped, soft line breaks joined per script."""
    pieces: list[str | object] = []
    # Tags of inline HTML are dropped (their text is in text tokens); an image's alt text is no prose.
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            pieces.append(child.content)
        elif child.type == "softbreak":
            pieces.append(_SOFT_BREAK)
        elif child.type == "hardbreak":
            pieces.append("\n")
    text = ""
    for index, piece in enumerate(pieces):
        if piece is _SOFT_BREAK:
            following = next((p for p in pieces[index + 1 :] if isinstance(p, str) and p), "")
            text += line_joiner(text, following)
        else:
            text += str(piece)
    return text.strip()


def _first_top_heading(blocks: Iterable[Block]) -> str | None:
    return next((block.text for block in blocks if isinstance(block, Heading) and block.level == 1), None)


# --- HTML -----------------------------------------------------------------------------

_ALWAYS_DROPPED = {
    "script", "style", "noscript", "template", "iframe", "svg", "canvas", "button", "select", "dialog", "nav", "aside",
}  # fmt: skip
# Page chrome, unless inside an article or section, where they hold that article's own title or notes.
_PAGE_CHROME = {"header", "footer"}
_CONTENT_SECTIONS = {"article", "main", "section"}
_BOILERPLATE_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "dialog", "alertdialog"}
_BOILERPLATE_MARKERS = re.compile(
    r"cookie|consent|gdpr|breadcrumb|sidebar|newsletter|advert|(?<![a-z])(?:share|social|menu)(?![a-z])", re.IGNORECASE
)
_HEADING_TAGS = {f"h{level}": level for level in range(1, 7)}
_TEXT_TAGS = {"p", "li", "dt", "dd", "blockquote", "figcaption", "caption", "address"}
_CONTAINER_TAGS = {
    "html", "body", "main", "article", "section", "header", "footer", "hgroup", "div", "ul", "ol", "dl", "figure",
    "details", "summary", "fieldset", "center", "form", "hr",
}  # fmt: skip
_BLOCK_TAGS = _CONTAINER_TAGS | _TEXT_TAGS | set(_HEADING_TAGS) | {"table", "pre"}
# Below this much text trafilatura falls back to a flat extraction that loses the headings.
_TRAFILATURA_MIN_CHARS = 250


def _load_html(path: Path, data: bytes, encoding: str | None) -> LoadedDocument:
    text, encoding = decode_bytes(data, path, declared_encoding(data), forced=encoding)
    try:
        tree = lxml.html.document_fromstring(
            text.encode("utf-8"), parser=lxml.html.HTMLParser(encoding="utf-8", remove_comments=True)
        )
    except (lxml.etree.ParserError, ValueError) as exc:
        raise BadFileError(path, f"cannot parse the HTML: {exc}") from None
    page_title = _squash(tree.findtext(".//title") or "") or None
    _drop_boilerplate(tree)
    for line_break in tree.iter("br"):
        line_break.tail = "\n" + (line_break.tail or "")
    blocks = _html_blocks(tree)
    title = _metadata_title(text) or page_title or _first_top_heading(blocks)
    return LoadedDocument(path=path, format="html", blocks=blocks, structured=True, title=title, encoding=encoding)


def _drop_boilerplate(tree: lxml.html.HtmlElement) -> None:
    _drop(tree, _is_page_furniture)
    half_page = len(_squash(tree.text_content())) / 2
    # Guessed from names only, so never throw away most of the page (e.g. an ASP.NET form around everything).
    _drop(tree, lambda element: _looks_like_boilerplate(element) and len(_squash(element.text_content())) < half_page)


def _drop(tree: lxml.html.HtmlElement, doomed: Callable[[lxml.html.HtmlElement], bool]) -> None:
    for element in [element for element in tree.iter() if isinstance(element.tag, str) and doomed(element)]:
        if element.getparent() is not None:
            element.drop_tree()


def _is_page_furniture(element: lxml.html.HtmlElement) -> bool:
    tag = element.tag.lower()
    if tag in _PAGE_CHROME:
        return not any(ancestor.tag in _CONTENT_SECTIONS for ancestor in element.iterancestors())
    return tag in _ALWAYS_DROPPED


def _looks_like_boilerplate(element: lxml.html.HtmlElement) -> bool:
    if element.tag.lower() in ("html", "body", "main", "article"):
        return False
    return (
        element.tag.lower() == "form"
        or element.get("role", "").lower() in _BOILERPLATE_ROLES
        or _BOILERPLATE_MARKERS.search(f"{element.get('id', '')} {element.get('class', '')}") is not None
    )


def _html_blocks(tree: lxml.html.HtmlElement) -> list[Block]:
    """Walk the page's declared main content; without one, let trafilatura find it on pages long enough."""
    main = _main_container(tree)
    if main is not None and (blocks := _walk_html(main)):
        return blocks
    body = tree.find("body")
    root = body if body is not None else tree
    if len(_squash(root.text_content())) >= _TRAFILATURA_MIN_CHARS:
        if extracted := _trafilatura_blocks(lxml.html.tostring(tree, encoding="unicode")):
            return extracted
    return _walk_html(root)


def _main_container(tree: lxml.html.HtmlElement) -> lxml.html.HtmlElement | None:
    for candidates in (tree.xpath("//main | //*[@role='main']"), tree.xpath("//article")):
        if len(candidates) == 1:
            return candidates[0]
    return None


def _walk_html(element: lxml.html.HtmlElement) -> list[Block]:
    """Block elements become blocks; runs of text and inline elements between them become paragraphs."""
    blocks: list[Block] = []
    inline = [element.text or ""]
    for child in element.iterchildren():
        if isinstance(child.tag, str) and child.tag.lower() in _BLOCK_TAGS:
            _append_text(blocks, "".join(inline))
            inline = []
            blocks.extend(_html_block(child))
        elif isinstance(child.tag, str):
            inline.append(child.text_content())
        inline.append(child.tail or "")
    _append_text(blocks, "".join(inline))
    return blocks


def _html_block(element: lxml.html.HtmlElement) -> list[Block]:
    tag = element.tag.lower()
    if tag in _HEADING_TAGS:
        text = _squash(element.text_content())
        return [Heading(_HEADING_TAGS[tag], text)] if text else []
    if tag == "table":
        table = _table(element.xpath(".//tr"), lambda row: row.xpath("./th | ./td"))
        return [table] if table else []
    if tag == "pre":
        code = element.text_content().strip("\n")
        return [Paragraph(code)] if code.strip() else []
    if tag in _TEXT_TAGS and not any(isinstance(c.tag, str) and c.tag.lower() in _BLOCK_TAGS for c in element):
        text = _squash(element.text_content())
        return [Paragraph(text, list_item=tag == "li")] if text else []
    blocks = _walk_html(element)
    if tag == "li" and blocks and isinstance(blocks[0], Paragraph):
        blocks[0] = Paragraph(blocks[0].text, list_item=True)
    return blocks


def _append_text(blocks: list[Block], text: str, list_item: bool = False) -> None:
    if squashed := _squash(text):
        blocks.append(Paragraph(squashed, list_item))


def _squash(text: str) -> str:
    return " ".join(text.split())


def _table(rows: list[Any], cells_of: Callable[[Any], list[Any]]) -> Table | None:
    """A table whose first non-empty row is the header."""
    cells = [tuple(_squash("".join(cell.itertext())) for cell in cells_of(row)) for row in rows]
    cells = [row for row in cells if any(row)]
    if not cells:
        return None
    return Table(header=cells[0], rows=tuple(cells[1:]))


def _trafilatura_blocks(html: str) -> list[Block]:
    xml = trafilatura.extract(html, output_format="xml", include_tables=True, include_comments=False)
    if not xml:
        return []
    main = lxml.etree.fromstring(xml.encode("utf-8")).find("main")
    return _walk_trafilatura(main) if main is not None else []


def _walk_trafilatura(element: lxml.etree._Element) -> list[Block]:
    """Walk trafilatura's XML: ``head rend="h2"``, ``p``, ``list``/``item``, ``table``/``row``/``cell``, ``code``."""
    blocks: list[Block] = []
    _append_text(blocks, element.text or "")
    for child in element:
        if child.tag == "head":
            rend = child.get("rend", "")
            level = int(rend[1]) if re.fullmatch(r"h[1-6]", rend) else 2
            if heading := _squash("".join(child.itertext())):
                blocks.append(Heading(level, heading))
        elif child.tag == "table":
            if table := _table(child.findall(".//row"), lambda row: row.findall("cell")):
                blocks.append(table)
        elif child.tag == "item":
            _append_text(blocks, (child.text or "") + "".join(_item_inline_text(child)), list_item=True)
            for nested in child.findall("list"):
                blocks.extend(_walk_trafilatura(nested))
        elif child.tag in ("list", "div", "quote") and len(child):
            blocks.extend(_walk_trafilatura(child))
        elif child.tag == "code":
            code = "".join(child.itertext()).strip("\n")
            if code.strip():
                blocks.append(Paragraph(code))
        else:
            _append_text(blocks, "".join(child.itertext()))
        _append_text(blocks, child.tail or "")
    return blocks


def _item_inline_text(item: lxml.etree._Element) -> Iterable[str]:
    for child in item:
        if child.tag != "list":
            yield "".join(child.itertext())
        yield child.tail or ""


def _metadata_title(html: str) -> str | None:
    metadata = trafilatura.extract_metadata(html)
    title = metadata.title if metadata is not None else None
    return title.strip() if title and title.strip() else None


# --- Word -----------------------------------------------------------------------------

_HEADING_STYLE = re.compile(r"(?:heading|标题)\s*([1-9])?", re.IGNORECASE)


def _load_docx(path: Path, data: bytes, _encoding: str | None) -> LoadedDocument:
    check_zip(data, path)
    try:
        document = docx.Document(io.BytesIO(data))
        title = (document.core_properties.title or "").strip() or None
        blocks = [block for item in document.iter_inner_content() if (block := _docx_block(item)) is not None]
    except Exception as exc:  # python-docx raises anything from zipfile, lxml and its own errors
        raise BadFileError(path, f"corrupt or unreadable .docx file ({describe(exc)})") from None
    if title is None:
        title = next((block.text for block in blocks if isinstance(block, Heading)), None)
    return LoadedDocument(path=path, format="docx", blocks=blocks, structured=True, title=title)


def _docx_block(item: DocxParagraph | DocxTable) -> Block | None:
    if isinstance(item, DocxTable):
        rows = [tuple(cell.text.strip() for cell in row.cells) for row in item.rows]
        rows = [row for row in rows if any(row)]
        return Table(header=rows[0], rows=tuple(rows[1:])) if rows else None
    text = item.text.strip()
    if not text:
        return None
    style = item.style.name if item.style is not None and item.style.name else ""
    level = _heading_level(style)
    if level:
        return Heading(level, text)
    properties = item._p.pPr  # python-docx has no public API for a paragraph's numbering
    numbered = properties is not None and properties.numPr is not None
    return Paragraph(text, list_item=numbered or style.lower().startswith("list"))


def _heading_level(style_name: str) -> int | None:
    """``Heading 2`` / ``标题 2`` give 2; ``Title`` / ``标题`` give 1; Word's levels 7-9 fold into 6."""
    name = style_name.strip()
    if name.lower() == "title":
        return 1
    match = _HEADING_STYLE.fullmatch(name)
    if match is None:
        return None
    return min(int(match.group(1) or 1), 6)


_LOADERS: dict[str, Callable[[Path, bytes, str | None], LoadedDocument]] = {
    ".txt": _load_txt,
    ".md": _load_markdown,
    ".markdown": _load_markdown,
    ".html": _load_html,
    ".htm": _load_html,
    ".docx": _load_docx,
    ".pdf": lambda path, data, _encoding: load_pdf(path, data),
    ".pptx": lambda path, data, _encoding: load_pptx(path, data),
}
