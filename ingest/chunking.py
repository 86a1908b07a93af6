"""Split lesson bodies into chunks at sentence boundaries; tables by rows with the header repeated."""

from __future__ import annotations

import hashlib
import re

from kb.domain import Block, Chunk, Lesson, Paragraph, Table
from kb.textnorm import split_sentences
from ingest.lessons import render_table

_CLAUSE_RE = re.compile(r"(?<=[，、,：:；;])")


# A chunk holds at most about this many characters; a longer sentence is cut at clause boundaries.
SENTENCE_LIMIT = 350


def _fit(sentence: str, target: int, hard_max: int) -> list[str]:
    """A sentence longer than the limit is cut at clause boundaries, and as a last resort by length."""
    if len(sentence) <= min(max(target, SENTENCE_LIMIT), hard_max):
        return [sentence]
    pieces: list[str] = []
    current = ""
    for clause in _CLAUSE_RE.split(sentence):
        while len(clause) > target:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(clause[:target])
            clause = clause[target:]
        if len(current) + len(clause) > target and current:
            pieces.append(current)
            current = ""
        current += clause
    if current:
        pieces.append(current)
    return pieces


def chunk_context(document_title: str, heading_path: tuple[str, ...]) -> str:
    """Title and heading path, prepended to a chunk for embedding and lexical indexing."""
    parts = [document_title] if document_title and document_title not in heading_path else []
    return " › ".join(parts + list(heading_path))


def chunk_blocks(blocks: list[Block], *, target: int = 350, hard_max: int = 600) -> list[str]:
    texts: list[str] = []
    current: list[str] = []  # paragraphs (or paragraph parts) of the chunk being filled
    size = 0

    def flush() -> None:
        nonlocal current, size
        if current:
            texts.append("\n".join(current))
        current, size = [], 0

    for block in blocks:
        if isinstance(block, Table):
            flush()
            texts.extend(_table_chunks(block, target, hard_max))
            continue
        text = f"- {block.text}" if isinstance(block, Paragraph) and block.list_item else block.text
        pieces = [p for s in split_sentences(text) for p in _fit(s, target, hard_max)]
        paragraph = ""
        for piece in pieces:
            if size + len(paragraph) + len(piece) > target and (current or paragraph):
                if paragraph:
                    current.append(paragraph)
                    paragraph = ""
                flush()
            paragraph += piece
        if paragraph:
            current.append(paragraph)
            size += len(paragraph) + 1
    flush()
    return [t for t in texts if t.strip()]


def _table_chunks(table: Table, target: int, hard_max: int) -> list[str]:
    header = tuple(c[: hard_max // (2 * max(1, len(table.header)))] for c in table.header)
    chunks: list[str] = []
    rows: list[tuple[str, ...]] = []
    for row in table.rows:
        candidate = render_table(header, rows + [row])
        if rows and len(candidate) > target:
            chunks.append(render_table(header, rows))
            rows = []
        rows.append(row)
    if rows or not chunks:
        chunks.append(render_table(header, rows))
    # One row longer than the limit is cut: a result never exceeds hard_max.
    return [c if len(c) <= hard_max else c[: hard_max - 1] + "…" for c in chunks]


def chunk_lesson(lesson: Lesson, *, document_title: str, target: int = 350, hard_max: int = 600) -> list[Chunk]:
    context = chunk_context(document_title, lesson.heading_path)
    blocks = lesson.blocks or [Paragraph(p) for p in lesson.body.split("\n\n")]
    chunks = []
    for ordinal, text in enumerate(chunk_blocks(blocks, target=target, hard_max=hard_max)):
        chunk_id = hashlib.sha1(f"{lesson.id}\x1f{ordinal}\x1f{text}".encode("utf-8")).hexdigest()[:16]
        chunks.append(Chunk(chunk_id, lesson.id, ordinal, text, context))
    return chunks
