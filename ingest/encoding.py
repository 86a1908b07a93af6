"""Decode the bytes of a text file whose encoding nobody told us."""

from __future__ import annotations

import codecs
import unicodedata
from functools import lru_cache
from pathlib import Path

from charset_normalizer import from_bytes

from kb.errors import BadFileError

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Legacy encodings our users' files come in: mainland and Taiwan/Hong Kong Chinese, Western Windows.
_LEGACY = ("gb18030", "big5", "cp1252")

# The 500 most frequent simplified characters (by jieba dictionary word frequency), common sales
# vocabulary, and their traditional forms. GBK and Big5 share most byte pairs, so a short text usually decodes strictly
# in both; only one reading is made of common characters, the other is a run of rare ones.
_COMMON_HANZI = frozenset(
    "的一是人了不在有大中国和为这上他个地年来我会以到时要出的生学说道民家子也成行下们于后就发自之对得"
    "主长可过天作分方用多你着部能市等业全里工公经本都而高政法面门动日进区事代那去心小同北定开产前其军"
    "还然起种所如现理机体表力好外与文当两实重新三么只山水关明从化平建又制南内西没此将员名手最东头者月"
    "间无安看见各城十相但已些正口通想度加第她合院物性战由位常点海意场武使次二向治因立数样身情入原问把"
    "路被并利石老教万知级量任江及应省资委务元美特期世湖回系比气汉总展电科金先声提品设或义王社很统处四"
    "首共马形己儿司太目基领队直计别女权话少流命至报米给打变果书清活几州华解议更称程今决张导术府才保交"
    "放管结师便走达族反再题色五京河接条规式县白它改风光运信受什组听布百济党指论强做取技黄神选记斯真却"
    "职号界件花类何眼兵传带空干农边据集联古广完质阳难增历史专官每住商即步认车台林必死游举线言皇土团收"
    "考求德叫近备研争非具李众连调感转笑革该持始英克士尔让拉思根格造较际亲单朝红型价校约器字段周亚深候"
    "则功属积快图火千准究往极育装许参半令吃观鱼精办像帝八复影告远群包整构料随划算象容示投势热值夫网望"
    "源息语股铁断派速怎需片爱律纪支早况病境证编"
    "並亞來個們備傳價兒內兩別則動務勢區卻參員問喫單國圖團報場學實將專對導屬師帶幹幾廣張強後從復愛應戰"
    "據數斷於時書會東條業極構樣機權歷氣決沒況準漢濟為無熱爭爲爾現產當發眾種稱積紀約紅級組結給統經網線"
    "編縣總羣義聯聲職聽臺與舉華萬著處號衆術裏裝裡見規親觀計記設許話該認語說説調論證議變讓資質車軍較轉"
    "辦農這連進遊運過達遠選還邊鐵長門開間關陽隊際隨難電領頭題類風馬體魚麼黃點黨"
    # sales vocabulary that the general list misses
    "客户销售采购预签赢输竞标折扣谈判盘渠续费试演痛策拜访索款账优劣险额"
    "戶銷採購預簽籤贏輸競標談盤續費試訪賬帳優險額"
)
_WESTERN_PUNCTUATION = frozenset("\u00a0‘’“”–—…€•™")
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")
# Enough text to tell the readings apart; scoring a whole book would only cost time.
_SAMPLE_CHARS = 100_000


def decode_bytes(data: bytes, path: Path, declared: str | None = None) -> tuple[str, str]:
    """Return the text of ``data`` with newlines normalised to ``\\n``, and the encoding used.

    Tries a byte-order mark, then (refusing NUL bytes as binary) strict UTF-8, then the
    ``declared`` encoding (an HTML charset) if the bytes decode cleanly with it, then the legacy
    encodings, choosing the reading that looks most like real Chinese or Western text.
    """
    text, encoding = _decode(data, path, declared)
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


def _decode(data: bytes, path: Path, declared: str | None) -> tuple[str, str]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding), encoding
            except UnicodeDecodeError:
                raise BadFileError(path, f"cannot decode the text as {encoding}") from None
    if b"\x00" in data:
        raise BadFileError(path, "binary file")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if declared and (text := _strict(data, declared)) is not None and not _has_impossible_chars(text):
        return text, codecs.lookup(declared).name
    readings = [(encoding, _strict(data, encoding)) for encoding in _candidate_order(data)]
    readings = [(encoding, text) for encoding, text in readings if text is not None and not _has_impossible_chars(text)]
    if not readings:
        raise BadFileError(path, "cannot detect the text encoding")
    # max() keeps the first of equal scores, so ties go to charset-normalizer's ranking.
    encoding, text = max(readings, key=lambda reading: _plausibility(reading[1]))
    return text, encoding


def _candidate_order(data: bytes) -> list[str]:
    ranked = [match.encoding for match in from_bytes(data, cp_isolation=list(_LEGACY))]
    return [encoding for encoding in ranked if encoding in _LEGACY] + [e for e in _LEGACY if e not in ranked]


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):  # LookupError: a declared label that is no text codec
        return None


def _has_impossible_chars(text: str) -> bool:
    """Unassigned, private-use and control characters never occur in a correctly decoded document."""
    for char in text:
        category = unicodedata.category(char)
        if category in ("Cn", "Co", "Cs") or (category == "Cc" and char not in _ALLOWED_CONTROLS):
            return True
    return False


def _plausibility(text: str) -> int:
    """Score a reading: common Chinese characters and Western letters inside words count for it,
    rare ideographs and stray symbols (what a wrong codec produces) count against it."""
    sample = text[:_SAMPLE_CHARS]
    score = 0
    for index, char in enumerate(sample):
        if char.isascii():
            continue
        char_score = _char_score(char)
        if char_score is None:
            char_score = 1 if _touches_ascii(sample, index) else -1
        score += char_score
    return score


@lru_cache(maxsize=8192)
def _char_score(char: str) -> int | None:
    """A character's score on its own; None for Western letters, which depend on their neighbours."""
    if char in _COMMON_HANZI:
        return 2
    if _is_level_one_hanzi(char):
        return 0
    if _is_cjk_punctuation(char):
        return 1
    if _is_western(char):
        return None
    return -1


def _is_level_one_hanzi(char: str) -> bool:
    """GB2312 level 1 and Big5's "frequently used" block hold the everyday characters of each script."""
    for encoding, first_lead, last_lead in (("gb2312", 0xB0, 0xD7), ("big5", 0xA4, 0xC6)):
        try:
            lead = char.encode(encoding)[0]
        except UnicodeEncodeError:
            continue
        if first_lead <= lead <= last_lead:
            return True
    return False


def _is_cjk_punctuation(char: str) -> bool:
    return "\u3000" <= char <= "\u303f" or "\uff01" <= char <= "\uff5e"


def _is_western(char: str) -> bool:
    return ("\u00c0" <= char <= "\u024f" and char.isalpha()) or char in _WESTERN_PUNCTUATION


def _touches_ascii(text: str, index: int) -> bool:
    return (index > 0 and text[index - 1].isascii()) or (index + 1 < len(text) and text[index + 1].isascii())
