"""Which tokens carry meaning: the ones worth highlighting in a result or naming as the reason two lessons match."""

from __future__ import annotations

from kb.textnorm import STOPWORDS, has_cjk, jieba_idf, jieba_words_below

# jieba's inverse document frequencies over general Chinese text: a word below this is everyday language
# (项目 4.9, 之后 4.4, 公司 3.5), above it a topic (客户 6.1, 预算 7.2, 教练 8.4). Unknown words are jargon.
MIN_IDF = 5


def is_meaningful(token: str) -> bool:
    """Not a stop word, not a single letter or character, and not an everyday Chinese word."""
    if len(token) < 2 or token in STOPWORDS:
        return False
    if has_cjk(token):
        return token not in jieba_words_below(MIN_IDF)
    return True


def by_weight(terms: set[str]) -> list[str]:
    """Meaningful terms, most telling first (rarer in general language, then longer)."""
    idf = jieba_idf()
    return sorted((t for t in terms if is_meaningful(t)), key=lambda t: (-idf.get(t, 20.0), -len(t), t))
