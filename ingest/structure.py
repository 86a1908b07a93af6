"""Recover a section tree from cleaned blocks.

Markdown, HTML and .docx bring their headings; plain text and PDF need them found in the
patterns Chinese articles use: ``01 .标题``, ``1.标题``, ``一、``, ``（一）``, ``①``, banners such as
``▼标题▼`` and short stand-alone lines without closing punctuation. Levels follow the order in
which marker styles first appear; a numbering that restarts at one inside a section nests. Numbered paragraphs
in a row that a line ending in a colon introduces, or that have no text of their own, are a list, not headings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kb.domain import Block, Heading, Paragraph, Section, Table
from kb.textnorm import split_sentences

SENTENCE_END = "。！？!?；;…"
CLOSERS = "”’」』》）)】\"'"
_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}

_MARKERS: list[tuple[str, re.Pattern[str]]] = [
    ("chapter", re.compile(r"^第([一二三四五六七八九十\d]{1,3})(?:部分|[章节部篇讲])\s*[、:：.．]?\s*")),
    ("decimal", re.compile(r"^(\d{1,2})\s*[.．、]\s*(?=[^\d\s])")),
    ("cjk", re.compile(r"^([一二三四五六七八九十]{1,3})\s*[、.．]\s*")),
    ("paren-cjk", re.compile(r"^[（(]([一二三四五六七八九十]{1,3})[）)]\s*")),
    ("paren-decimal", re.compile(r"^[（(](\d{1,2})[）)]\s*")),
    ("circled", re.compile(r"^([\u2460-\u2473])\s*")),
]
_BANNER_RE = re.compile(r"^[▼▲■◆●★☆◎※]+\s*(.{1,30}?)\s*[▼▲■◆●★☆◎※]*$")

# Limits that separate a heading from a numbered or short paragraph.
NUMBERED_HEADING_CHARS = 60
SHORT_LINE_HEADING_CHARS = 25
LABEL_HEADING_CHARS = 12


@dataclass(frozen=True)
class HeadingMatch:
    style: str
    number: int | None
    title: str
    rest: str  # text of the same paragraph that follows the heading, kept as body


def build_sections(blocks: list[Block], *, structured: bool, title: str | None = None) -> Section:
    """Return the root section (the preamble) whose children form the document's tree."""
    has_headings = any(isinstance(b, Heading) for b in blocks)
    if structured and has_headings:
        return _tree_from_headings(blocks, title)
    return _tree_from_patterns(blocks, title)


def _tree_from_headings(blocks: list[Block], title: str | None) -> Section:
    root = Section(title=title, level=0, heading_path=())
    stack: list[Section] = [root]
    headings = [b for b in blocks if isinstance(b, Heading) and looks_like_title(b.text)] or [b for b in blocks if isinstance(b, Heading)]
    top = min(h.level for h in headings)
    # A single top-level heading that opens the document, above deeper ones, is the document's title.
    top_is_title = headings[0].level == top and sum(h.level == top for h in headings) == 1 and len(headings) > 1
    for block in blocks:
        if isinstance(block, Heading) and not looks_like_title(block.text):
            if any(pattern.search(block.text.strip()) for pattern in _FILE_NAMES):
                continue  # a file's name set as a heading says nothing
            block = Paragraph(block.text)  # a date set as a heading is text, not a section
        if isinstance(block, Heading):
            if top_is_title and block is headings[0]:
                root.title = root.title or block.text
                continue
            while len(stack) > 1 and stack[-1].level >= block.level:
                stack.pop()
            parent = stack[-1]
            section = Section(block.text, block.level, parent.heading_path + (block.text,))
            parent.children.append(section)
            stack.append(section)
        else:
            stack[-1].blocks.append(block)
    return root


@dataclass
class _Open:
    style: str
    number: int | None
    section: Section


def _tree_from_patterns(blocks: list[Block], title: str | None) -> Section:
    root = Section(title=title, level=0, heading_path=())
    stack: list[_Open] = []
    style_rank: dict[str, int] = {}
    matches = [detect_heading(block, blocks[i - 1] if i else None, blocks[i + 1] if i + 1 < len(blocks) else None) for i, block in enumerate(blocks)]
    for index in _list_items(blocks, matches):
        matches[index] = None
    for block, match in zip(blocks, matches):
        if match is None:
            (stack[-1].section if stack else root).blocks.append(block)
            continue
        style_rank.setdefault(match.style, len(style_rank))
        _place(stack, match)
        parent = stack[-1].section if stack else root
        section = Section(match.title, len(stack) + 1, parent.heading_path + (match.title,))
        parent.children.append(section)
        stack.append(_Open(match.style, match.number, section))
        if match.rest:
            section.blocks.append(Paragraph(match.rest))
    return root


def _list_items(blocks: list[Block], matches: list[HeadingMatch | None]) -> set[int]:
    """Positions of numbered paragraphs that are the items of a list rather than headings: runs of one numbering's
    consecutive numbers, one paragraph each, that a line ending in a colon introduces or whose items (but the
    last) have no text besides the heading: as headings, those would be sections without a body."""
    items: set[int] = set()
    start = 0
    while start < len(blocks):
        first = matches[start]
        run = [first] if first is not None else []
        while run and start + len(run) < len(blocks):
            following = matches[start + len(run)]
            if following is None or not _follows(run[-1].style, run[-1].number, following):
                break
            run.append(following)
        before = blocks[start - 1] if start else None
        introduced = isinstance(before, Paragraph) and before.text.rstrip().endswith((":", "："))
        if len(run) >= 2 and (introduced or any(not match.rest for match in run[:-1])):
            items.update(range(start, start + len(run)))
        start += max(len(run), 1)
    return items


def _follows(style: str, number: int | None, match: HeadingMatch) -> bool:
    """Whether ``match`` is the next number of the numbering of ``style`` (its "+label" variant alike)."""
    return number is not None and _numbering(style) == _numbering(match.style) and match.number == number + 1


def _place(stack: list[_Open], match: HeadingMatch) -> None:
    """Pop the stack to where a heading of this style and number belongs."""
    for depth in range(len(stack) - 1, -1, -1):
        open_ = stack[depth]
        if open_.style != match.style:
            continue
        restarts = match.number == 1 and open_.number is not None and open_.number >= 1
        if restarts and depth == len(stack) - 1:
            return  # a list that starts again at one inside a numbered section nests below it
        if restarts:
            continue
        del stack[depth:]
        return
    # A terse label ("（1）目标。…") and a longer one ("（2）关系地图只写了自己认识的人。…") that continue one
    # numbering are items of one list, whichever of the two styles each got.
    for depth in range(len(stack) - 1, -1, -1):
        if _follows(stack[depth].style, stack[depth].number, match):
            del stack[depth:]
            return
    # A style not open yet nests under the current section.


def _numbering(style: str) -> str:
    """The marker style without its "+label" variant."""
    return style.removesuffix("+label")


def detect_heading(block: Block, previous: Block | None, following: Block | None) -> HeadingMatch | None:
    """Recognise a heading in a plain-text paragraph, or return None."""
    if not isinstance(block, Paragraph) or block.list_item:
        return None
    text = block.text.strip()
    banner = _BANNER_RE.match(text)
    if banner and looks_like_title(banner.group(1)):
        return HeadingMatch("banner", None, banner.group(1).strip(), "")
    for style, pattern in _MARKERS:
        marker = pattern.match(text)
        if marker:
            return _numbered(style, _number(marker.group(1)), text[marker.end():].strip())
    if _is_short_line_heading(text, previous, following) and looks_like_title(text):
        return HeadingMatch("line", None, text, "")
    return None


def _numbered(style: str, number: int | None, body: str) -> HeadingMatch | None:
    if not body or not looks_like_title(split_first_sentence(body)[0]):
        return None
    first, rest = split_first_sentence(body)
    if not rest:
        if len(first) > NUMBERED_HEADING_CHARS:
            return None
        return HeadingMatch(style, number, strip_end_punct(first), "")
    if len(first) <= LABEL_HEADING_CHARS:
        # A terse label run into its paragraph ("一、价值评价要素。大多数…") is its own style: it usually nests.
        return HeadingMatch(f"{style}+label", number, strip_end_punct(first), rest)
    if len(first) <= NUMBERED_HEADING_CHARS:
        return HeadingMatch(style, number, strip_end_punct(first), rest)
    return None


def _is_short_line_heading(text: str, previous: Block | None, following: Block | None) -> bool:
    if not text or len(text) > SHORT_LINE_HEADING_CHARS or ends_sentence(text) or text[-1] in ":：":
        return False
    if sum(text.count(c) for c in "，,、") > 1:
        return False
    if not isinstance(following, Paragraph) or following.list_item:
        return False
    if len(following.text) <= SHORT_LINE_HEADING_CHARS and not ends_sentence(following.text):
        return False  # followed by another bare short line: the first item of a list
    if isinstance(previous, Paragraph) and not ends_sentence(previous.text) and not _looks_like_heading(previous.text):
        return False  # a run of unpunctuated lines is a list, not a heading
    return len(following.text) > len(text)


def _looks_like_heading(text: str) -> bool:
    return any(p.match(text) for _, p in _MARKERS) or bool(_BANNER_RE.match(text))


def ends_sentence(text: str) -> bool:
    stripped = text.rstrip().rstrip(CLOSERS)
    return bool(stripped) and stripped[-1] in SENTENCE_END


def strip_end_punct(text: str) -> str:
    return text.strip().rstrip("。；;，,：:.").strip()


def split_first_sentence(text: str) -> tuple[str, str]:
    """The first sentence (with its closing quote) and the rest."""
    sentences = sentences_of(text)
    if len(sentences) <= 1:
        return text.strip(), ""
    return sentences[0].strip(), "".join(sentences[1:]).strip()


_URL_RE = re.compile(r"(?:https?://|www\.)[^\s，。、；！？）)」』>\]]*[^\s，。、；！？）)」』>\].,;:!?]", re.IGNORECASE)
# A sentence may also end in a number ("…in 1998. Then…"); a decimal point has no space after it.
_AFTER_NUMBER_RE = re.compile(r"(?<=\d[.!?]\s)(?=[A-Z])")
_ABBREVIATION_RE = re.compile(
    r"\b(?:e\.g|i\.e|etc|vs|mr|mrs|ms|dr|prof|inc|ltd|co|corp|no|st|jr|sr|approx|fig|u\.s|a\.m|p\.m)\.", re.IGNORECASE
)
# Stands in for the dots and marks inside URLs and abbreviations while sentences are split.
_MASK = "\u2024"


def sentences_of(text: str) -> list[str]:
    """Sentences of mixed Chinese/English text, never split inside a URL, a decimal or an abbreviation."""
    masked = _URL_RE.sub(lambda m: re.sub(r"[.?!;:]", _MASK, m.group(0)), text)
    masked = _ABBREVIATION_RE.sub(lambda m: m.group(0).replace(".", _MASK), masked)
    pieces: list[str] = []
    start = 0
    for sentence in (part for whole in split_sentences(masked) for part in _AFTER_NUMBER_RE.split(whole) if part):
        at = masked.index(sentence, start)
        pieces.append(text[at : at + len(sentence)])
        start = at + len(sentence)
    return pieces


# What can never be a title: dates, numbers and timestamps, URLs, file names (an image's), HTML.
# An image's or a file's name, where a heading or a line of text should be.
_FILE_NAMES = [
    re.compile(r"^[\w\-.]*\.(?:png|jpe?g|gif|webp|svg|bmp|tiff?|pdf|docx?|pptx?|xlsx?|mp4|mp3)$", re.IGNORECASE),
    re.compile(r"^(?:image|img|pic|photo|screenshot|截图|图片|微信图片)[-_ ]?\d{6,}", re.IGNORECASE),
]
_NOT_A_TITLE = [
    re.compile(r"^[\d\s.,:;/\-–—+%()#*年月日号时分秒]+$"),  # numbers, dates in digits, subtitle cues and timestamps
    re.compile(
        r"^(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{2,4}$"
        r"|^\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?,?\s+\d{2,4}$",
        re.IGNORECASE,
    ),
    re.compile(r"\d{1,2}:\d{2}(?::\d{2})?(?:[,.]\d{1,3})?\s*-->"),  # a subtitle cue
    re.compile(r"https?://|www\.|://|[?&][a-z_]+=|\.(?:com|cn|org|net|html?|php|aspx?)\b", re.IGNORECASE),
    *_FILE_NAMES,
    re.compile(r"</?[a-z][a-z0-9]*(?:\s[^<>]*)?/?>|&(?:nbsp|amp|lt|gt|quot)\b", re.IGNORECASE),
]
# A fragment that starts mid-sentence: a lower-case word, a closing mark or a clause separator first.
_MID_SENTENCE_RE = re.compile(r"^(?:[a-z]|[,，、;；:：.。!！?？)）」』”’])")


def looks_like_title(text: str) -> bool:
    """Could this text name a section? Dates, numbers, URLs, file names, HTML and fragments cannot."""
    text = text.strip().rstrip("。.;；,，:：!！?？ ")
    if not text or not any(char.isalpha() for char in text):
        return False
    return not _MID_SENTENCE_RE.match(text) and not any(pattern.search(text) for pattern in _NOT_A_TITLE)


def _number(token: str) -> int | None:
    if token.isascii() and token.isdigit():
        return int(token)
    if "\u2460" <= token <= "\u2473":
        return ord(token) - 0x2460 + 1
    if token == "十":
        return 10
    if "十" in token:
        tens, _, ones = token.partition("十")
        return (_CN_DIGITS.get(tens, 1) if tens else 1) * 10 + (_CN_DIGITS.get(ones, 0) if ones else 0)
    return _CN_DIGITS.get(token)


def iter_sections(root: Section):
    """Depth-first, document order."""
    yield root
    for child in root.children:
        yield from iter_sections(child)


def block_text(block: Block) -> str:
    if isinstance(block, Table):
        return " ".join(block.header) + " " + " ".join(" ".join(r) for r in block.rows)
    return block.text
