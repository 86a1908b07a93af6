"""Query normalisation and bilingual glossary expansion."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from kb.errors import BadFileError, BadFieldError
from kb.textnorm import fold, fold_script, has_cjk
from kb.yaml_text import load_yaml

MAX_QUERY_CHARS = 500


@dataclass(frozen=True)
class Query:
    raw: str
    text: str  # NFKC + simplified script, case kept: what the embedder sees
    folded: str  # lower-cased too: what lexical matching sees
    expansions: tuple[str, ...]  # glossary terms in the other language (and synonyms)


def normalise(raw: str) -> str:
    return fold_script(raw).strip()


class Glossary:
    """Groups of terms that mean the same, in English and Chinese; editable as glossary.yaml in the data dir (`kb taxonomy export`)."""

    def __init__(self, groups: list[tuple[tuple[str, ...], tuple[str, ...]]]) -> None:
        self.groups = groups
        # Every term with its group, scanned in one pass: a query is checked against each term of the glossary.
        self._terms = [(term, index) for index, (english, chinese) in enumerate(groups) for term in (*english, *chinese)]

    @classmethod
    def load(cls, path: Path | None) -> "Glossary":
        if path is None or not Path(path).exists():
            return cls([])
        try:
            data = load_yaml(Path(path).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise BadFileError(path, f"invalid YAML: {exc}") from exc
        groups = []
        for index, entry in enumerate(data.get("terms") or []):
            if not isinstance(entry, dict):
                raise BadFileError(path, f"term #{index + 1} must be a mapping with en and zh lists")
            english = tuple(fold(str(t)) for t in entry.get("en") or [])
            chinese = tuple(fold(str(t)) for t in entry.get("zh") or [])
            if english or chinese:
                groups.append((english, chinese))
        return cls(groups)

    def expand(self, folded_query: str) -> tuple[str, ...]:
        """Terms of every group the query mentions, in the language the query lacks."""
        query_is_chinese = has_cjk(folded_query)
        mentioned = sorted({index for term, index in self._terms if term in folded_query and _mentions(folded_query, term)})
        extra = [term for index in mentioned for term in self.groups[index][0 if query_is_chinese else 1]]
        return tuple(dict.fromkeys(t for t in extra if t not in folded_query))


def _mentions(folded_query: str, term: str) -> bool:
    """Whether the query mentions a term it contains: English terms match whole words, with an optional plural s."""
    return has_cjk(term) or _word_pattern(term).search(folded_query) is not None


@lru_cache(maxsize=None)
def _word_pattern(term: str) -> re.Pattern[str]:
    """Compiled when a query first contains the term: compiling all of a glossary's took a second per start."""
    return re.compile(rf"(?<![a-z]){re.escape(term)}s?(?![a-z])")


def parse_query(raw: str, glossary: Glossary) -> Query:
    if not raw or not raw.strip():
        raise BadFieldError("query", "is empty", code="empty_query")
    if len(raw) > MAX_QUERY_CHARS:
        raise BadFieldError("query", f"is longer than {MAX_QUERY_CHARS} characters", code="too_long", n=MAX_QUERY_CHARS)
    text = normalise(raw)
    folded = fold(text)
    return Query(raw=raw, text=text, folded=folded, expansions=glossary.expand(folded))
