"""Lexical side: the query's jieba tokens (function words dropped; BM25's IDF weighs the rest), its character
bigrams, and title matches."""

from __future__ import annotations

from kb.catalog import Catalog, fts_phrase
from kb.domain import SearchFilters
from kb.textnorm import char_bigrams, tokenize
from search.query import Query


def query_tokens(query: Query) -> list[str]:
    tokens = tokenize(query.folded, drop_stopwords=True)
    for term in query.expansions:
        tokens.extend(tokenize(term, drop_stopwords=True))
    return list(dict.fromkeys(tokens))


def query_bigrams(query: Query) -> list[str]:
    """Character bigrams of the query and of its glossary expansions."""
    grams = char_bigrams(query.folded)
    for term in query.expansions:
        grams.extend(char_bigrams(term))
    return list(dict.fromkeys(grams))


def match_expression(tokens: list[str]) -> str | None:
    """An FTS5 OR of the query tokens (from query_tokens), or None when there are none."""
    return " OR ".join(fts_phrase(t) for t in tokens) if tokens else None


def title_search(catalog: Catalog, match: str | None, filters: SearchFilters, limit: int) -> list[tuple[str, float]]:
    """(lesson id, score) of lessons whose title or heading path matches, best first."""
    return catalog.title_search(match, filters, limit) if match else []
