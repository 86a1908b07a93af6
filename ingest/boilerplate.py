"""Boilerplate across the documents of one source: paragraphs stored once, recurring section titles qualified.

A newsletter repeats its standing intro, footer and disclaimer in every issue, and names sections the
same way (工具, 资源, 文摘) in each. The source of a document is the folder it comes from; a paragraph
that another document of that source already keeps is dropped, and a section title that another
document of the source also uses is qualified by the document's title, in both documents.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from kb.catalog import Catalog
from kb.domain import Block, Lesson, Paragraph
from kb.textnorm import compact, has_cjk

# Shorter paragraphs (a "谢谢" or a lone label) recur by chance, not as boilerplate.
MIN_BOILERPLATE_CHARS = 20


def source_of(path: Path) -> str:
    return str(Path(path).resolve().parent)


def paragraph_hash(text: str) -> str | None:
    """The key of a paragraph for comparison across documents; None for one too short to count."""
    key = compact(text)
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16] if len(key) >= MIN_BOILERPLATE_CHARS else None


def drop_shared_paragraphs(
    blocks: list[Block], catalog: Catalog, source: str, document_id: str
) -> tuple[list[Block], list[tuple[str, str, bool]]]:
    """The blocks without paragraphs another document of the source keeps, and (source, hash, kept) of each."""
    hashes = {id(block): digest for block in blocks if isinstance(block, Paragraph) and (digest := paragraph_hash(block.text))}
    shared = catalog.paragraphs_kept_elsewhere(source, document_id, list(dict.fromkeys(hashes.values())))
    kept = [block for block in blocks if hashes.get(id(block)) not in shared]
    if not any(isinstance(block, Paragraph) for block in kept):
        # Every paragraph is also elsewhere: the document is a copy (or a translation), not boilerplate.
        kept, shared = blocks, set()
    records = {digest: (source, digest, digest not in shared) for digest in hashes.values()}
    return kept, list(records.values())


def qualify_recurring_titles(lessons: list[Lesson], catalog: Catalog, source: str, document_id: str, document_title: str) -> None:
    """Name a section title that other documents of the source also use after each one's document."""
    if not document_title:
        return
    bare = {lesson.heading_path[-1] for lesson in lessons if lesson.heading_path and lesson.title == lesson.heading_path[-1]}
    recurring, still_bare = catalog.headings_in_source(source, document_id, sorted(bare))
    for lesson_id, other_document_title, heading in still_bare:
        if other_document_title:
            catalog.retitle_lesson(lesson_id, qualified(other_document_title, heading))
    for lesson in lessons:
        if lesson.heading_path and lesson.title == lesson.heading_path[-1] and lesson.title in recurring:
            lesson.title = qualified(document_title, lesson.title)


def qualified(document_title: str, title: str) -> str:
    separator = "：" if has_cjk(document_title + title) else ": "
    return f"{document_title}{separator}{title}"
