"""Remove the noise that scraped articles carry, keeping the author's text and script.

Inline noise (HTML entities, pinyin annotations, stray spaces) is fixed in every block;
line noise (image placeholders, bylines, repeated titles, source lines, footers and
"related content" tails) is dropped, with source lines kept as document metadata.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from html.entities import html5

from kb.domain import Block, Heading, Paragraph, Table
from kb.textnorm import CJK_CHAR

CJK = f"[{CJK_CHAR}]"
# Sentence-final punctuation in both widths; closing quotes may follow it.
SENTENCE_END = "。！？!?；;…"
CLAUSE_PUNCT = "，、,：:；;"
_ENTITY_RE = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});?")
_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜńňǹḿü"
# A tone mark tells a pinyin annotation from an acronym in brackets such as (crm).
_PINYIN_RE = re.compile(rf"(?<={CJK})[(（](?=[a-z{_TONED}]*[{_TONED}])([a-z{_TONED}]{{1,7}})[)）]")
# Full-width marks belong to CJK text; quotes, dashes and ellipses are shared with Latin text, where their
# spaces are part of the sentence ("growing “p” potential"), so spaces go only between them and CJK text.
_FULL_WIDTH_PUNCT = "，。、：；！？「」『』（）《》【】"
_SHARED_PUNCT = "“”‘’—…·"
_CJK_SIDE = f"[{CJK_CHAR}{re.escape(_FULL_WIDTH_PUNCT)}]"
_SPACE_BEFORE_PUNCT_RE = re.compile(
    rf"\s+(?=[{re.escape(_FULL_WIDTH_PUNCT)}])|(?<={CJK})\s+(?=[,.:;!?])|(?<={CJK}[”’])\s+(?=[,.:;!?])"
    rf"|(?<={_CJK_SIDE})\s+(?=[{re.escape(_SHARED_PUNCT)}])"
)
_SPACE_AFTER_PUNCT_RE = re.compile(
    rf"(?<=[{re.escape(_FULL_WIDTH_PUNCT)}])\s+|(?<=[,.:;!?])\s+(?=[“‘]?{CJK})|(?<=[{re.escape(_SHARED_PUNCT)}])\s+(?={_CJK_SIDE})"
)
# Typographic ligatures (ﬁ, ﬀ, ﬂ) that PDFs carry; NFKC spells them out. Only these: NFKC would also turn
# full-width Chinese punctuation into ASCII.
_LIGATURE_RE = re.compile("[\ufb00-\ufb4f]")
# Control characters (a PDF's stray form feeds, NULs from a broken font map) and the replacement character
# say nothing, and an entity such as &#1; can bring them in.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_MULTISPACE_RE = re.compile(r"[ \t\u3000\xa0]{2,}")

# A long line whose sentences are separated by spaces is a page flattened into one line.
FLATTENED_LINE_CHARS = 400
_FLATTENED_BREAK_RE = re.compile(rf"(?<=[{re.escape(SENTENCE_END)}：:」』”])\s+|(?<={CJK})\s+(?={CJK})")

_PLACEHOLDER_RE = re.compile(
    r"^[\[【(（]?\s*(文章图片|图片|圖片|图|image|img|photo|视频|點擊查看大圖|点击查看大图|点击图片查看大图)\s*\d*\s*[\]】)）]?$",
    re.IGNORECASE,
)
_INLINE_PLACEHOLDER_RE = re.compile(r"[\[【](图片|圖片|image|img)[\]】]", re.IGNORECASE)
_SOURCE_KEYS = (
    "来源于|来源|內容來源|内容来源|來源|出处|出處|来自|來自|作者|文|编辑|編輯|责编|责任编辑|原标题|原文链接|原文|"
    "网址|網址|链接|转载自|本文来源|图片来源|分享嘉宾|嘉宾|整理|撰文|摄影|source|author|via"
)
_SOURCE_LINE_RE = re.compile(rf"^\s*({_SOURCE_KEYS})\s*[:：]\s*(.+)$", re.IGNORECASE)
# In an article's header, "来源于微信公众号:X" names the channel between the key and the colon.
_CHANNEL_LINE_RE = re.compile(r"^\s*(来源于|转载自|本文来自|本文转载自)[^:：。！？!?，,]{1,8}[:：]\s*(.+)$")
_ATTRIBUTION_RE = re.compile(r"^(部分)?(观点|內容|内容|文章|本文)?(源自|摘自|选自|转自|整理自)\s*(.+)$")
_BYLINE_RE = re.compile(r"^[^。！？!?，,；;]{1,20}[|｜][^。！？!?，,；;]{1,20}$")
_TAIL_MARKER_RE = re.compile(
    r"^\s*(相关内容|相關內容|相关阅读|相關閱讀|相关文章|相关推荐|推荐阅读|推薦閱讀|延伸阅读|猜你喜欢|热门推荐|热门文章|"
    r"更多阅读|往期回顾|往期推荐|精彩推荐|related( content| articles| posts)?|recommended( reading)?|read more)\s*[:：]?\s*$",
    re.IGNORECASE,
)
# A publisher's reader prompt ("…邀您阅读前，先思考：") opens an article with questions; the questions go with it.
_READER_PROMPT_RE = re.compile(
    r"(阅读前|閱讀前|读前|讀前|先思考|带着(这些|以下|下面的)?问题|帶著(這些|以下)?問題|阅读提示|閱讀提示|思考题|思考題|"
    r"before (you )?read(ing)?|questions to (consider|think about)|think about these)",
    re.IGNORECASE,
)
_QUESTION_END = ("?", "？")
# Editor's notes, and calls to subscribe, scan a QR code, share or sign up, at an article's start or end.
_EDITOR_NOTE_RE = re.compile(r"^\s*[【\[（(]?\s*(编者按|編者按|编者注|編者注|编辑注|小编注|小编按|editor'?s note)", re.IGNORECASE)
_CALL_TO_ACTION_RE = re.compile(
    r"扫码|掃碼|扫描二维码|二维码|二維碼|长按识别|長按識別|关注(我们|本号|公众号|公眾號)|關注(我們|公眾號)|点击(上方|下方|蓝字|阅读原文)|"
    r"點擊(上方|下方|藍字)|订阅|訂閱|设为星标|星标|点赞|點讚|在看|转发给|轉發給|分享给|加微信|添加微信|"
    r"合作请|合作請|投稿|商务合作|商務合作|subscribe|sign up|newsletter|scan the qr|follow us|share this",
    re.IGNORECASE,
)
# A reprint or rights notice ("本文转载自…，如有侵权请联系删除") at an article's start or end: the page's, not the author's.
_RIGHTS_NOTICE_RE = re.compile(
    r"侵权|侵權|版权归|版權歸|版权所有|版權所有|转载请|轉載請|禁止转载|禁止轉載|已获授权|已獲授權|仅供(内部)?学习|僅供(內部)?學習|"
    r"all rights reserved|reprinted with permission",
    re.IGNORECASE,
)
# Promotions of the publisher's courses and events close articles; at the start such words are the author's.
_PROMOTION_RE = re.compile(r"报名|報名|训练营|训战营|訓練營|开课|開課|名额有限|席位有限|register now|early bird", re.IGNORECASE)
CALL_TO_ACTION_CHARS = 160
BODY_PARAGRAPH_CHARS = 40
_ONLY_PUNCT_RE = re.compile(r"^[\s|｜\-—_=*·•>▼▲■□◆◇.。,，]*$")

# Footers (source lines, promotions) are only trusted near the end of an article.
FOOTER_ZONE = 0.6
FOOTER_TAIL_SHARE = 0.1
HEADER_LINES = 15


@dataclass
class CleanedBlocks:
    blocks: list[Block]
    metadata: dict[str, str] = field(default_factory=dict)


def clean_inline(text: str) -> str:
    """Fix entities, pinyin annotations and spacing inside one piece of text."""
    text = _ENTITY_RE.sub(_decode_entity, text)
    text = _CONTROL_RE.sub("", text)
    text = _LIGATURE_RE.sub(lambda match: unicodedata.normalize("NFKC", match.group(0)), text)
    text = _PINYIN_RE.sub("", text)
    text = text.replace("\u200b", "").replace("\ufeff", "")
    text = _INLINE_PLACEHOLDER_RE.sub("", text)
    text = _SPACE_BEFORE_PUNCT_RE.sub("", text)
    text = _SPACE_AFTER_PUNCT_RE.sub("", text)
    text = _MULTISPACE_RE.sub(" ", text)
    return text.strip()


def _decode_entity(match: re.Match[str]) -> str:
    name = match.group(1)
    with_semicolon = match.group(0).endswith(";")
    if name.startswith("#"):
        try:
            code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
            return chr(code)
        except (ValueError, OverflowError):
            return match.group(0)
    if with_semicolon:
        return html5.get(name + ";", match.group(0))
    # Without a semicolon the entity may run into following letters (&rdquoVS): take the longest entity prefix.
    for end in range(len(name), 1, -1):
        decoded = html5.get(name[:end] + ";")
        if decoded is not None:
            return decoded + name[end:]
    return match.group(0)


def line_joiner(before: str, after: str) -> str:
    """What joins two wrapped lines: Chinese and Japanese lines are wrapped without spaces, so nothing; else a space."""
    if not before or not after or _is_cjk(before[-1]) or _is_cjk(after[0]):
        return ""
    return " "


def _is_cjk(char: str) -> bool:
    return (
        "\u2e80" <= char <= "\u9fff"  # radicals, CJK punctuation, kana, ideographs
        or "\uac00" <= char <= "\ud7af"  # Hangul syllables
        or "\uf900" <= char <= "\ufaff"  # compatibility ideographs
        or "\uff00" <= char <= "\uffef"  # full-width forms
        or "\U00020000" <= char <= "\U0003134f"  # ideograph extensions B and later
    )


def split_flattened(text: str) -> list[str]:
    """Split a page that was flattened into one long line back into paragraphs."""
    if len(text) < FLATTENED_LINE_CHARS:
        return [text]
    return [part for part in _FLATTENED_BREAK_RE.split(text) if part.strip()]


def clean_blocks(blocks: list[Block], *, title: str | None = None) -> CleanedBlocks:
    """Clean every block and drop line noise; source lines become metadata."""
    metadata: dict[str, str] = {}
    expanded: list[Block] = []
    for block in blocks:
        if isinstance(block, Paragraph):
            raw_parts = split_flattened(block.text.strip())
            expanded.extend(Paragraph(clean_inline(part), block.list_item) for part in raw_parts)
        elif isinstance(block, Heading):
            expanded.append(Heading(block.level, clean_inline(block.text)))
        else:
            expanded.append(
                Table(
                    tuple(clean_inline(c) for c in block.header),
                    tuple(tuple(clean_inline(c) for c in row) for row in block.rows),
                )
            )

    title_key = _compact_title(title)
    total_chars = sum(_block_chars(b) for b in expanded) or 1
    seen_chars = 0
    kept: list[Block] = []
    previous_was_metadata = False
    skip_questions = False  # inside the questions of a reader prompt
    for index, block in enumerate(expanded):
        seen_chars += _block_chars(block)
        if isinstance(block, Table):
            kept.append(block)
            previous_was_metadata = False
            continue
        text = block.text
        in_footer_zone = seen_chars / total_chars >= FOOTER_ZONE
        if _TAIL_MARKER_RE.match(text) and (in_footer_zone or index > len(expanded) / 2):
            break
        if isinstance(block, Paragraph):
            if title_key:
                text = text.replace(f"【{title}】", "").strip()
            if not text or _ONLY_PUNCT_RE.match(text) or _PLACEHOLDER_RE.match(text):
                continue
            in_header = index < HEADER_LINES
            at_end = total_chars - seen_chars <= FOOTER_TAIL_SHARE * total_chars
            # Before the first paragraph of the article's own prose.
            at_start = in_header and not any(isinstance(b, Paragraph) and len(b.text) >= BODY_PARAGRAPH_CHARS for b in kept)
            if at_start and _READER_PROMPT_RE.search(text) and text.rstrip().endswith((":", "：", *_QUESTION_END)):
                skip_questions = True
                continue
            if skip_questions and text.rstrip().endswith(_QUESTION_END) and len(text) <= CALL_TO_ACTION_CHARS:
                continue
            skip_questions = False
            short = len(text) <= CALL_TO_ACTION_CHARS
            if (at_start or at_end) and (
                _EDITOR_NOTE_RE.match(text) or (short and (_CALL_TO_ACTION_RE.search(text) or _RIGHTS_NOTICE_RE.search(text)))
            ):
                continue
            if at_end and short and _PROMOTION_RE.search(text):
                continue
            source = _source_line(text, in_header=in_header) if in_header or in_footer_zone else None
            if source is not None:
                key, value = source
                metadata[key] = f"{metadata[key]}; {value}" if key in metadata and value not in metadata[key] else value
                previous_was_metadata = True
                if in_footer_zone and total_chars - seen_chars <= FOOTER_TAIL_SHARE * total_chars:
                    break  # what little follows a trailing source line is site footer or promotion
                continue
            if index < HEADER_LINES and _BYLINE_RE.match(text):
                metadata["byline"] = text
                previous_was_metadata = True
                continue
            if index < HEADER_LINES and previous_was_metadata and len(text) <= 8 and _is_bare(text):
                metadata.setdefault("category", text)
                continue
            if title_key and _compact_title(text) == title_key:
                continue  # the title, kept separately, and its repeats by the page template
            block = Paragraph(text, block.list_item)
        previous_was_metadata = False
        kept.append(block)
    return CleanedBlocks(kept, metadata)


def _source_line(text: str, *, in_header: bool) -> tuple[str, str] | None:
    match = _SOURCE_LINE_RE.match(text) or (_CHANNEL_LINE_RE.match(text) if in_header else None)
    if match and len(text) <= 120:
        return _metadata_key(match.group(1)), match.group(2).strip()
    match = _ATTRIBUTION_RE.match(text)
    if match and len(text) <= 60 and not any(p in text for p in "。！？!?"):
        return "attribution", match.group(4).strip()
    return None


def _metadata_key(label: str) -> str:
    label = label.lower()
    if label in {"作者", "文", "撰文", "author", "整理", "摄影"}:
        return "author"
    if label in {"网址", "網址", "链接", "原文链接", "原文"}:
        return "url"
    if label in {"分享嘉宾", "嘉宾"}:
        return "speaker"
    if label in {"编辑", "編輯", "责编", "责任编辑"}:
        return "editor"
    if label == "原标题":
        return "original_title"
    return "source"


def _is_bare(text: str) -> bool:
    return not any(ch in text for ch in SENTENCE_END + CLAUSE_PUNCT)


def _compact_title(text: str | None) -> str:
    return re.sub(r"\W", "", text or "")


def _block_chars(block: Block) -> int:
    if isinstance(block, Table):
        return sum(len(c) for row in block.rows for c in row)
    return len(block.text)
