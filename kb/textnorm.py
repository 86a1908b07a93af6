"""Text folding and tokenising shared by indexing and querying, so both sides match."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache
from pathlib import Path

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import opencc

CJK_CHAR = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SENTENCE_RE = re.compile(r"[^。！？!?；;…]*(?:[。！？!?；;…]+[”’」』）)\"']*|$)")
# Splits after the space that follows an English sentence, so joining the pieces restores the text.
_LATIN_SENTENCE_RE = re.compile(r"(?<=[a-zA-Z)\"'][.!?]\s)(?=[A-Z\"'(])")
_NOT_ALNUM_RE = re.compile(r"[\W_]+")  # \w is str.isalnum() plus "_"


# The patterns with the CJK character class are compiled on first use: 3-6 ms each, a share of every short
# command that imports the catalog (`kb stats`) and never tokenizes.
@lru_cache(maxsize=1)
def _cjk_re() -> re.Pattern[str]:
    return re.compile(f"[{CJK_CHAR}]")


@lru_cache(maxsize=1)
def _token_re() -> re.Pattern[str]:
    return re.compile(rf"[0-9a-z{CJK_CHAR}]", re.IGNORECASE)


@lru_cache(maxsize=1)
def _gram_run_re() -> re.Pattern[str]:
    return re.compile(rf"[{CJK_CHAR}]+|[0-9a-z]+")


# Function words only: BM25's IDF weighs every other word, however common.
STOPWORDS = frozenset(
    """
    的 了 是 在 和 与 及 或 也 都 就 而 并 把 被 让 对 从 向 为 以 于 之 其 这 那 这个 那个 这些 那些 一个 一种
    什么 怎么 怎样 如何 为什么 哪些 哪个 吗 呢 吧 啊 呀 有 没有 要 会 能 可以 应该 我们 你们 他们 我 你 他 她 它
    上 下 中 里 后 前 个 些 很 更 最 还 又 再 才 只 等 等等 着 过 给 说 做 去 来 到 得 地 着 所以 因为 如果 但是 但
    a an the of to in on for and or is are was were be been it its this that these those what how why when which who
    do does did can could should would with by from at as about into than then so if not no my your our their we you
    they i he she without within also just very more most some any all there here have has had will them us me
    """.split()
)


@lru_cache(maxsize=1)
def _t2s() -> "opencc.OpenCC":
    import opencc

    return opencc.OpenCC("t2s.json")


def _jieba_idf_text() -> str:
    """jieba's idf.txt ("word idf" lines), read directly: importing jieba.analyse for it would also load its
    part-of-speech dictionary (1-2 s)."""
    import importlib.util

    spec = importlib.util.find_spec("jieba")
    assert spec is not None and spec.submodule_search_locations
    return (Path(spec.submodule_search_locations[0]) / "analyse" / "idf.txt").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def jieba_idf() -> dict[str, float]:
    """jieba's inverse document frequencies over general Chinese text."""
    return {word: float(idf) for word, idf in (line.split(" ") for line in _jieba_idf_text().splitlines() if line)}


@lru_cache(maxsize=1)
def _median_idf() -> float:
    from statistics import median

    return median(jieba_idf().values())


def keyword_weights(text: str, top_k: int) -> dict[str, float]:
    """The text's ``top_k`` keywords as jieba.analyse.extract_tags weighs them (term frequency times jieba's idf, the
    median idf for unknown words; words of two or more characters, function words aside), on rjieba's cut: importing
    jieba.analyse would load jieba's Python dictionary and part-of-speech tables beside rjieba's (about 2 s)."""
    import rjieba

    words = [word.strip() for word in rjieba.cut(text)]
    counts = Counter(word for word in words if len(word) >= 2 and word.lower() not in STOPWORDS)
    total = sum(counts.values()) or 1
    idf, unknown = jieba_idf(), _median_idf()
    weights = {word: n * idf.get(word, unknown) / total for word, n in counts.items()}
    return dict(sorted(weights.items(), key=lambda item: -item[1])[:top_k])


@lru_cache(maxsize=None)
def jieba_words_below(idf: int) -> frozenset[str]:
    """The words of jieba's idf table whose idf is below ``idf`` (1 to 10): a few hundred, found by one regex over
    the integer digit in 0.1 s where the whole table takes 0.4 s (a one-query `kb search` highlights with them)."""
    return frozenset(re.findall(rf"^(\S+) [0-{idf - 1}]\.", _jieba_idf_text(), re.MULTILINE))


def to_simplified(text: str) -> str:
    """Traditional to simplified Chinese (OpenCC), leaving other scripts alone."""
    return _t2s().convert(text)


# Names the tokenizer of the stored lexical tokens: opening a catalog written with another one retokenizes it.
TOKENIZER = "rjieba-search-1"

# Names the fold below; stored with every vector, so changing the fold makes old vectors a mismatch to re-embed.
FOLD_VERSION = "nfkc-t2s-1"


@lru_cache(maxsize=1024)
def fold_script(text: str) -> str:
    """NFKC (full-width to half-width) and simplified script: what every embedder sees, passages and queries alike.

    Case is kept here because the embedders are cased models (lower-casing cost e5 on the paraphrase set).
    Remembered for recent texts: ingest folds a chunk for each engine, each view and the tokenizer.
    """
    return to_simplified(unicodedata.normalize("NFKC", text))


def fold(text: str) -> str:
    """The form used for lexical matching: ``fold_script`` and lower case."""
    return fold_script(text).lower()


def has_cjk(text: str) -> bool:
    return bool(_cjk_re().search(text))


def mainly_cjk(text: str) -> bool:
    """Whether at least 30 % of the text's letters are CJK characters: Chinese with some English in it counts."""
    letters = sum(ch.isalpha() for ch in text)
    return letters > 0 and len(_cjk_re().findall(text)) >= 0.3 * letters


def tokenize(text: str, *, drop_stopwords: bool = False) -> list[str]:
    """Search-mode jieba tokens of the folded text, without punctuation or spaces.

    rjieba (jieba-rs, jieba's dictionary and segmentation in Rust) cuts ~19x faster than jieba here, with the
    same tokens for all but a few hyphenated Latin words; stored tokens name it in TOKENIZER.
    """
    import rjieba

    token = _token_re()
    tokens = [t for t in rjieba.cut_for_search(fold(text)) if token.search(t)]
    if drop_stopwords:
        tokens = [t for t in tokens if t not in STOPWORDS]
    return tokens


def char_bigrams(text: str) -> list[str]:
    """Overlapping character pairs of each run of Chinese characters in the folded text, Latin words and numbers
    whole: the terms of a CJK bigram index (as Lucene's CJKAnalyzer builds), which lets a paraphrase match on
    the characters it shares with a passage where word segmentation cut the two differently."""
    grams: list[str] = []
    for run in _gram_run_re().findall(fold(text)):
        if len(run) > 1 and has_cjk(run[0]):
            grams.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            grams.append(run)
    return grams


def compact(text: str) -> str:
    """Folded text with everything but letters and digits removed: for verbatim-quote matching."""
    return _NOT_ALNUM_RE.sub("", fold(text))


def split_sentences(text: str) -> list[str]:
    """Sentences of mixed Chinese/English text, punctuation kept with the sentence it ends."""
    sentences: list[str] = []
    for piece in _SENTENCE_RE.findall(text):
        if piece.strip():
            sentences.extend(s for s in _LATIN_SENTENCE_RE.split(piece) if s.strip())
    return sentences
