"""Lexical retrieval: BM25 (SQLite FTS5) over jieba tokens of the folded text."""

from __future__ import annotations

from kb.catalog import Catalog, fts_phrase
from kb.domain import SearchFilters
from kb.textnorm import tokenize
from search.query import Query

# A token found in more than this share of chunks does not discriminate; drop it from OR queries.
MAX_DOCUMENT_FREQUENCY = 0.35


def query_tokens(query: Query) -> list[str]:
    tokens = tokenize(query.folded, drop_stopwords=True)
    for term in query.expansions:
        tokens.extend(tokenize(term, drop_stopwords=True))
    return list(dict.fromkeys(tokens))


def match_expression(catalog: Catalog, tokens: list[str]) -> str | None:
    """An FTS5 OR of the query's discriminating tokens (from query_tokens), or None when nothing can match."""
    if not tokens:
        return None
    total = catalog.chunk_count() or 1
    frequencies = catalog.token_document_frequency(tokens)
    selective = [t for t in tokens if 0 < frequencies[t] <= MAX_DOCUMENT_FREQUENCY * total]
    # Keep common tokens when nothing else matched, so a query of everyday words still finds something.
    chosen = selective or [t for t in tokens if frequencies[t] > 0]
    return " OR ".join(fts_phrase(t) for t in chosen) if chosen else None


def lexical_search(catalog: Catalog, match: str | None, filters: SearchFilters, limit: int) -> list[tuple[str, str, float]]:
    """(chunk id, lesson id, score) of chunks, best first."""
    return catalog.lexical_search(match, filters, limit) if match else []


def title_search(catalog: Catalog, match: str | None, filters: SearchFilters, limit: int) -> list[tuple[str, float]]:
    """(lesson id, score) of lessons whose title or heading path matches, best first."""
    return catalog.title_search(match, filters, limit) if match else []
