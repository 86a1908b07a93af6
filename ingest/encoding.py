"""Decode the bytes of a text file: what it declares, else charset-normalizer's ranking, checked; else refuse.

Mojibake is worse than a refused file: it is searchable and ranks for unrelated queries. So a reading
is kept only when it is plausible (no control, private-use or unassigned characters, Han characters
that are common ones) and no equally good reading says something else.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from charset_normalizer import from_bytes

from kb.errors import BadFileError

# UTF-32 first: its little-endian mark starts with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Labels that files and pages use loosely for a superset, as browsers (WHATWG) read them, and labels
# Python's codec registry does not know.
_LABEL_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "big5": "big5hkscs",
    "big5-hkscs": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "x-sjis": "cp932",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "x-euc-jp": "euc-jp",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "iso-8859-9": "cp1254",
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "x-mac-roman": "mac-roman",
    "unicode": "utf-16",
    "ucs-2": "utf-16",
    "utf8": "utf-8",
}

_DECLARED_HTML = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_DECLARED_XML = re.compile(rb"""\A\s*<\?xml[^>]*\sencoding\s*=\s*["']([A-Za-z0-9_.:-]+)["']""")

# Chinese codecs read each other's bytes without error; these readings are compared by their characters.
_CHINESE = ("gb18030", "big5")
_CHINESE_FAMILY = {"gb18030", "gbk", "gb2312", "big5", "big5hkscs", "cp950", "hz"}
_EAST_ASIAN = _CHINESE_FAMILY | {
    "cp932", "shift_jis", "shift_jis_2004", "shift_jisx0213", "euc_jp", "euc_jis_2004", "euc_jisx0213", "cp949", "euc_kr", "johab",
}  # fmt: skip
_KOREAN = {"cp949", "euc_kr", "johab", "iso2022_kr"}
_JAPANESE = {"cp932", "shift_jis", "shift_jis_2004", "shift_jisx0213", "euc_jp", "euc_jis_2004", "euc_jisx0213", "iso2022_jp"}
# The 500 most frequent characters make up about three quarters of running Chinese text, and about a
# tenth of a Korean or Japanese file read as Chinese.
_MIN_COMMON_HANZI_SHARE = 0.4
_MAX_KANA_SHARE = 0.05
# One ideograph inside a Latin word ("R點kblick") is a Latin letter and its neighbour read as a pair.
# Chinese is written without spaces between characters.
_HAN_SPACE_HAN = re.compile(r"[\u3400-\u9fff] (?=[\u3400-\u9fff])")
_MAX_SPACED_HAN_SHARE = 0.1
_HAN_INSIDE_WORD = re.compile(r"[A-Za-z][\u3400-\u9fff\uf900-\ufaff][A-Za-z]")

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
# Above this size charset-normalizer samples the file instead of reading all of it.
_WHOLE_FILE_BYTES = 4_000_000
# Share of East Asian characters outside the everyday sets of Chinese, Japanese and Korean above which
# a reading is mojibake.
_MAX_RARE_SHARE = 0.35
# A wrong single-byte codec puts symbols inside words ("R³ckblick"); a right one puts letters there.
_INSIDE_WORD = re.compile(r"(?<=[A-Za-z])[^\x00-\x7f](?=[A-Za-z])")
_WORD_JOINERS = frozenset("’‘‐‑·")
_WESTERN_DEFAULT = "cp1252"
# Readings this close in the detector's scores are equally likely.
_TIE = 0.01


def decode_bytes(data: bytes, path: Path, declared: str | None = None, *, forced: str | None = None) -> tuple[str, str]:
    """Return the text of ``data`` with newlines normalised to ``\\n``, and the encoding used.

    ``forced`` (the user's ``--encoding``) wins; then a byte-order mark, the ``declared`` encoding
    (an HTML meta or XML declaration), strict UTF-8, and charset-normalizer's candidates.
    """
    text, encoding = _decode(data, path, declared, forced)
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


def declared_encoding(data: bytes) -> str | None:
    """The charset an HTML ``<meta>`` or an XML declaration names near the start of ``data``."""
    match = _DECLARED_XML.match(data[:1024]) or _DECLARED_HTML.search(data[:4096])
    return match.group(1).decode("ascii") if match else None


def codec_name(label: str) -> str | None:
    """Python's codec for an encoding label (with the usual web aliases), or None for an unknown label."""
    key = label.strip().lower()
    try:
        return codecs.lookup(_LABEL_ALIASES.get(key, key)).name
    except LookupError:
        return None


def _decode(data: bytes, path: Path, declared: str | None, forced: str | None) -> tuple[str, str]:
    if forced:
        encoding = codec_name(forced)
        if encoding is None:
            raise BadFileError(path, f"unknown encoding {forced!r}")
        text = _strict(data, encoding)
        if text is None:
            raise BadFileError(path, f"cannot decode the text as {encoding} (given with --encoding)")
        return text.removeprefix("\ufeff"), encoding
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            text = _strict(data[len(bom) :], encoding)
            if text is None or _has_impossible_chars(text):
                raise BadFileError(path, f"cannot decode the text as {encoding} (its byte-order mark says so)")
            return text, encoding
    if declared and (encoding := codec_name(declared)) is not None:
        text = _strict(data, encoding)
        if text is not None and _plausible(text):
            return text, encoding
    if b"\x00" not in data:
        text = _strict(data, "utf-8")
        if text is not None and not _has_impossible_chars(text):  # ISO-2022 text is 7-bit with escapes
            return text, "utf-8"
    return _detect(data, path)


def _detect(data: bytes, path: Path) -> tuple[str, str]:
    whole = len(data) <= _WHOLE_FILE_BYTES
    matches = list(from_bytes(data, steps=1 if whole else 10, chunk_size=len(data) if whole else 100_000))
    binary = b"\x00" in data
    readings: list[tuple[str, str, float, float]] = []
    for match in matches:
        # Codecs that give the same text are one match; name it by the codec Western files are written in.
        encoding = _WESTERN_DEFAULT if _WESTERN_DEFAULT in match.could_be_from_charset else codecs.lookup(match.encoding).name
        if binary and not encoding.startswith(("utf-16", "utf-32")):
            continue  # NUL bytes only occur in text as the zero half of UTF-16/32 code units
        text = _strict(data, encoding)
        if text is not None and _plausible(text) and _script_fits(encoding, text):
            readings.append((encoding, text, match.chaos, match.coherence))
    chinese = None if binary else _chinese_reading(data)
    if chinese is not None and (
        not readings or readings[0][0] in _EAST_ASIAN or _plausibility(chinese[0]) > _plausibility(readings[0][1])
    ):
        # Mostly ASCII with a few Chinese words (a CRM export) gives the detector little to go on.
        return chinese
    if not readings:
        if binary:
            raise BadFileError(path, "binary file")
        best_guess = matches[0].encoding if matches else "none"
        raise BadFileError(path, _refusal(path, best_guess))
    encoding, text, chaos, coherence = readings[0]
    rivals = {
        other: other_text
        for other, other_text, other_chaos, other_coherence in readings[1:]
        if abs(other_chaos - chaos) <= _TIE and abs(other_coherence - coherence) <= _TIE
        and other_text != text and other not in _CHINESE_FAMILY
    }
    if rivals:
        raise BadFileError(path, _refusal(path, encoding, also=next(iter(rivals))))
    return text, encoding


def _refusal(path: Path, best_guess: str, also: str | None = None) -> str:
    guess = f"{best_guess}, or as likely {also}" if also else best_guess
    return f"cannot read the text encoding of {path.name} (best guess {guess}); if you know it, pass --encoding NAME"


def _chinese_reading(data: bytes) -> tuple[str, str] | None:
    """The GB18030 or Big5 reading of East Asian bytes when it is everyday Chinese.

    Short Chinese text also decodes as Korean or Japanese, and charset-normalizer often ranks those
    first; a reading of mostly the most frequent characters, without kana, is Chinese. Korean or
    Japanese bytes read as Chinese give rarer characters (or kana) and fail this test.
    """
    readings = [
        (decoded, encoding)
        for encoding in _CHINESE
        if (decoded := _strict(data, encoding)) is not None and not _has_impossible_chars(decoded)
    ]
    if not readings:
        return None
    # max() keeps the first of equal scores: GB18030 before Big5.
    text, encoding = max(readings, key=lambda reading: _plausibility(reading[0]))
    sample = text[:_SAMPLE_CHARS]
    han = [char for char in sample if _is_han(char)]
    kana = sum(1 for char in sample if "\u3040" <= char <= "\u30ff")
    if not han or kana > _MAX_KANA_SHARE * (len(han) + kana) or not _written_like_chinese(sample, len(han)):
        return None
    common = sum(1 for char in han if char in _COMMON_HANZI)
    return (text, encoding) if common >= _MIN_COMMON_HANZI_SHARE * len(han) else None


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):  # LookupError: a declared label that is no text codec
        return None


def _has_impossible_chars(text: str) -> bool:
    """Unassigned, private-use, replacement and control characters never occur in a correctly decoded document."""
    if "\ufffd" in text:
        return True
    for char in set(text):  # a document repeats its characters: its distinct ones are a tenth of them or less
        category = unicodedata.category(char)
        if category in ("Cn", "Co", "Cs") or (category == "Cc" and char not in _ALLOWED_CONTROLS):
            return True
    return False


def _written_like_chinese(text: str, han: int) -> bool:
    """Chinese puts no spaces between characters and no character inside a Latin word; the words of a
    spaced script (Cyrillic, Arabic) or accented Latin read as pairs of bytes do."""
    return not _HAN_INSIDE_WORD.search(text) and len(_HAN_SPACE_HAN.findall(text)) <= _MAX_SPACED_HAN_SHARE * han


def _script_fits(encoding: str, text: str) -> bool:
    """Does a reading look like the script its codec is for? Korean is written mostly in Hangul, Japanese with
    kana among its kanji, Chinese without spaces between characters."""
    sample = text[:_SAMPLE_CHARS]
    han = sum(1 for char in sample if _is_han(char))
    if encoding in _CHINESE_FAMILY:
        return _written_like_chinese(sample, han)
    if encoding not in _KOREAN and encoding not in _JAPANESE:
        return True
    if encoding in _KOREAN:
        return han <= sum(1 for char in sample if "\uac00" <= char <= "\ud7a3")
    return han == 0 or any("\u3040" <= char <= "\u30ff" for char in sample)


def _plausible(text: str) -> bool:
    return not _has_impossible_chars(text) and _plausible_east_asian(text) and _letters_inside_words(text)


def _letters_inside_words(text: str) -> bool:
    return all(
        char in _WORD_JOINERS or unicodedata.category(char)[0] in "LM" for char in _INSIDE_WORD.findall(text[:_SAMPLE_CHARS])
    )


def _plausible_east_asian(text: str) -> bool:
    """Text read in the wrong East Asian codec is a run of rare ideographs, rare Hangul or half-width kana."""
    rare = han = hangul = kana = 0
    for char in text[:_SAMPLE_CHARS]:
        if _is_han(char):
            han += 1
            rare += not _is_everyday_han(char)
        elif "\uac00" <= char <= "\ud7a3":
            hangul += 1
            rare += not _is_everyday_hangul(char)
        elif "\uff61" <= char <= "\uff9f":
            kana += 1
            rare += 1
    total = han + hangul + kana
    # Modern Korean is written almost without Han characters, and Chinese without Hangul.
    mixed = min(han, hangul) > _MAX_RARE_SHARE * total
    return total == 0 or (rare <= _MAX_RARE_SHARE * total and not mixed)


@lru_cache(maxsize=16384)
def _is_everyday_hangul(char: str) -> bool:
    """The 2,350 syllables of KS X 1001 (EUC-KR) are those Korean text uses."""
    try:
        return len(char.encode("euc_kr")) == 2  # longer: spelled out by jamo, outside the 2,350
    except UnicodeEncodeError:
        return False


def _is_han(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff" or "\U00020000" <= char <= "\U0003134f"


@lru_cache(maxsize=16384)
def _is_everyday_han(char: str) -> bool:
    """In the first levels of GB2312, Big5 or JIS X 0208: the characters ordinary Chinese and Japanese text uses."""
    if char in _COMMON_HANZI or _is_level_one_hanzi(char):
        return True
    try:
        lead = char.encode("euc-jp")[0]
    except UnicodeEncodeError:
        return False
    return 0xB0 <= lead <= 0xF4  # JIS X 0208 levels 1 and 2


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
