"""Turn a section tree into lessons: one per section that carries a piece of experience.

Playbook sections become lessons titled by their heading. In a win/loss review, each item of
the lessons-learned section is its own lesson, "what worked" and "what went wrong" are one
lesson each, and every lesson carries the review's fields as filterable metadata.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any


from kb.domain import REVIEW_FIELDS, Block, Lesson, LessonKind, Paragraph, Section, Table
from kb.textnorm import has_cjk, keyword_weights
from ingest.structure import block_text, iter_sections, looks_like_title, sentences_of, split_first_sentence, strip_end_punct

# A headingless preamble shorter than this is an introduction: the document's summary, and the opening of its first
# lesson, where search finds it (an article's first line often states its thesis).
MIN_PREAMBLE_CHARS = 80
# A section's own text this short, above sub-sections, is context for its first sub-section.
MIN_INTRO_CHARS = 60
TITLE_CHARS = 28

_LESSONS_LEARNED = re.compile(r"^(经验教训|經驗教訓|经验|教训|心得|启示|lessons?( learned)?|key (lessons|takeaways)|takeaways)$", re.I)
_WHAT_WORKED = re.compile(r"^(做得好的|做得好|亮点|成功之处|what worked|what went well|went well)$", re.I)
_WHAT_FAILED = re.compile(r"^(做得不好的|做得不好|不足|问题与不足|失误|what went wrong|what didn'?t work|went wrong)$", re.I)
_SUMMARY = re.compile(r"^(项目背景|背景|概述|摘要|项目概况|summary|background|overview|context)$", re.I)
_NEXT = re.compile(r"^(下一步|后续行动|后续|next actions?|next steps?)$", re.I)


@dataclass
class ExtractedLessons:
    lessons: list[Lesson]
    summary: str = ""


def lesson_id(document_id: str, heading_path: tuple[str, ...], occurrence: int) -> str:
    """Stable id from the document and the lesson's place in it, so edits to the text keep it."""
    key = "\x1f".join((document_id, *heading_path, str(occurrence)))
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def content_hash(title: str, body: str) -> str:
    return hashlib.sha1(f"{title}\n{body}".encode("utf-8")).hexdigest()


def render_body(blocks: list[Block]) -> str:
    """Markdown body of a lesson: paragraphs, list items and tables."""
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, Table):
            parts.append(render_table(block.header, block.rows))
        elif isinstance(block, Paragraph) and block.list_item:
            parts.append(f"- {block.text}")
        else:
            parts.append(block.text)
    return "\n\n".join(p for p in parts if p.strip())


def render_table(header: tuple[str, ...], rows: tuple[tuple[str, ...], ...] | list[tuple[str, ...]]) -> str:
    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *(line(r) for r in rows)])


def derive_title(text: str) -> str:
    """A title drawn from a section's own text: its most central sentence that can be a title, cut at a clause."""
    sentences = [s.strip() for s in sentences_of(text) if s.strip()]
    candidates = [s for s in sentences[:12] if looks_like_title(s)] or sentences[:12]
    if not candidates:
        return shorten(text)
    keywords = keyword_weights(text, top_k=12)
    best = max(candidates, key=lambda s: sum(w for k, w in keywords.items() if k in s) / (len(s) ** 0.5 + 1))
    return shorten(strip_end_punct(best))


def shorten(text: str, limit: int = TITLE_CHARS) -> str:
    """Cut a title at a clause boundary; English titles get more room and are cut between words."""
    text = text.strip()
    if not has_cjk(text):
        limit = limit * 5 // 2
    if len(text) <= limit:
        return strip_end_punct(text)
    cut = max(text.rfind(p, 0, limit) for p in "，,、：:；;")
    if cut >= limit // 3:
        return text[:cut]
    if not has_cjk(text) and " " in text[:limit]:
        return text[: text.rfind(" ", 0, limit)].rstrip() + "…"
    return text[:limit].rstrip() + "…"


def extract_lessons(
    root: Section,
    *,
    document_id: str,
    source: str,
    document_title: str,
    kind: LessonKind,
    fields: dict[str, Any] | None = None,
) -> ExtractedLessons:
    fields = {k: v for k, v in (fields or {}).items() if k in REVIEW_FIELDS and v not in (None, "", [])}
    drafts = _review_drafts(root, document_title) if kind == "review" else _playbook_drafts(root)
    summary = drafts.summary
    lessons: list[Lesson] = []
    occurrences: dict[tuple[str, ...], int] = {}
    for ordinal, (title, heading_path, blocks) in enumerate(drafts.items):
        body = render_body(blocks)
        occurrence = occurrences.get(heading_path, 0)
        occurrences[heading_path] = occurrence + 1
        lessons.append(
            Lesson(
                id=lesson_id(document_id, heading_path, occurrence),
                document_id=document_id,
                ordinal=ordinal,
                title=title,
                body=body,
                heading_path=heading_path,
                kind=kind,
                source=source,
                fields=dict(fields),
                content_hash=content_hash(title, body),
                blocks=blocks,
            )
        )
    return ExtractedLessons(lessons, summary)


@dataclass
class _Drafts:
    items: list[tuple[str, tuple[str, ...], list[Block]]] = field(default_factory=list)
    summary: str = ""


def _playbook_drafts(root: Section) -> _Drafts:
    drafts = _Drafts()
    carried: dict[int, list[Block]] = {}
    preamble: list[Block] = []
    for section in iter_sections(root):
        blocks = carried.pop(id(section), []) + section.blocks
        text = " ".join(block_text(b) for b in blocks).strip()
        if not text:
            continue
        if section is root:
            if len(text) < MIN_PREAMBLE_CHARS:
                drafts.summary, preamble = text, blocks
                continue
            # The opening of an article, before its first heading, is headed by the article's title.
            title = section.title or derive_title(text)
            drafts.items.append((title, (title,), blocks))
            continue
        if section.children and len(text) < MIN_INTRO_CHARS and not section.title:
            carried[id(section.children[0])] = blocks
            continue
        drafts.items.append((section.title or derive_title(text), section.heading_path, preamble + blocks))
        preamble = []
    return drafts


def _review_drafts(root: Section, document_title: str) -> _Drafts:
    drafts = _Drafts()
    summary_parts: list[str] = []
    for section in iter_sections(root):
        if not section.blocks:
            continue
        heading = (section.title or "").strip()
        if section is root or _SUMMARY.match(heading):
            summary_parts.append(render_body(section.blocks))
        elif _NEXT.match(heading):
            continue
        elif _LESSONS_LEARNED.match(heading):
            for item in _items(section.blocks):
                title = shorten(strip_end_punct(split_first_sentence(block_text(item[0]))[0]))
                blocks = [Paragraph(b.text) if isinstance(b, Paragraph) else b for b in item]
                drafts.items.append((title, section.heading_path + (title,), blocks))
        elif heading:
            # "What worked" alone says little in a result list: name the review it comes from.
            separator = "：" if has_cjk(heading) else ": "
            drafts.items.append((f"{document_title}{separator}{heading}", section.heading_path, section.blocks))
    drafts.summary = "\n\n".join(p for p in summary_parts if p)
    return drafts


def learned_items(lessons: list[Lesson]) -> list[Lesson]:
    """A review's lessons that are items of its lessons-learned list, in the order the review lists them."""
    return [
        lesson
        for lesson in sorted(lessons, key=lambda lesson: lesson.ordinal)
        if lesson.kind == "review" and len(lesson.heading_path) >= 2 and _LESSONS_LEARNED.match(lesson.heading_path[-2].strip())
    ]


def _items(blocks: list[Block]) -> list[list[Block]]:
    """Split a lessons-learned section into items: list items, or else paragraphs."""
    if any(isinstance(b, Paragraph) and b.list_item for b in blocks):
        items: list[list[Block]] = []
        for block in blocks:
            if isinstance(block, Paragraph) and block.list_item or not items:
                items.append([block])
            else:
                items[-1].append(block)
        return items
    return [[b] for b in blocks]
