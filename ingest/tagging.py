"""Tag lessons from the editable taxonomy: keyword hits plus embedding similarity to each topic."""

from __future__ import annotations

from typing import Any

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from kb.domain import Lesson, SearchFilters
from kb.embedding import CachedEmbedder
from kb.errors import BadFileError
from kb.textnorm import fold
from kb.yaml_text import read_yaml_file

MAX_TAGS = 3
# e5 similarities of any sales text to any sales topic sit in a narrow band (about 0.80–0.90), so a
# topic counts by how far it stands above the lesson's mean similarity, in hundredths, plus keyword hits.
SIMILARITY_SCALE = 100.0
MAX_KEYWORD_POINTS = 4
MIN_SCORE = 2.5


@dataclass(frozen=True)
class Tag:
    id: str
    name: str
    name_en: str
    description: str
    keywords: tuple[str, ...]

    @property
    def profile(self) -> str:
        """The text embedded to represent the topic."""
        return f"{self.name} {self.name_en}：{self.description} {'、'.join(self.keywords)}"


def load_taxonomy(path: Path, section: str = "tags") -> list[Tag]:
    """The entries of one section of the taxonomy file: its topic ``tags``, or the win/loss ``drivers``."""
    data = read_yaml_file(path, "the taxonomy")
    tags = []
    for index, entry in enumerate(data.get(section) or []):
        if not isinstance(entry, dict) or not entry.get("id") or not entry.get("name"):
            raise BadFileError(path, f"{section} #{index + 1} needs an id and a name")
        tags.append(
            Tag(
                id=str(entry["id"]),
                name=str(entry["name"]),
                name_en=str(entry.get("name_en", "")),
                description=str(entry.get("description", "")),
                keywords=tuple(str(k) for k in entry.get("keywords") or ()),
            )
        )
    return tags


@dataclass(frozen=True)
class Facet:
    id: str
    name: str
    name_en: str
    synonyms: tuple[str, ...]

    def label(self, lang: str) -> str:
        return self.name if lang == "zh" else (self.name_en or self.name)


# Review fields whose values are facets, and the taxonomy section that lists each one's values.
FACET_SECTIONS = {"industry": "industries", "stage": "stages"}


class Facets:
    """Industries and stages of the taxonomy: any name or synonym of an entry, in any language, means its id."""

    def __init__(self, entries: dict[str, list[Facet]]) -> None:
        self.entries = entries
        self._ids = {
            field: {fold(term).strip(): facet.id for facet in facets for term in (facet.id, facet.name, facet.name_en, *facet.synonyms) if term}
            for field, facets in entries.items()
        }

    @classmethod
    def load(cls, path: Path) -> "Facets":
        data = read_yaml_file(path, "the taxonomy")
        entries: dict[str, list[Facet]] = {}
        for field, section in FACET_SECTIONS.items():
            entries[field] = []
            for index, entry in enumerate(data.get(section) or []):
                if not isinstance(entry, dict) or not entry.get("id"):
                    raise BadFileError(path, f"{section} #{index + 1} needs an id")
                synonyms = entry.get("synonyms") or ()
                if not isinstance(synonyms, list | tuple):
                    raise BadFileError(path, f"{section} #{index + 1}: synonyms must be a list")
                entries[field].append(
                    Facet(str(entry["id"]), str(entry.get("name") or entry["id"]), str(entry.get("name_en", "")), tuple(str(s) for s in synonyms))
                )
        return cls(entries)

    def canonical(self, field: str, value: str | None) -> str | None:
        """The facet id that ``value`` names; an unknown value stays as it is."""
        if not value:
            return value
        return self._ids.get(field, {}).get(fold(str(value)).strip(), value)

    def canonical_fields(self, fields: dict) -> dict:
        return {**fields, **{f: self.canonical(f, fields[f]) for f in FACET_SECTIONS if fields.get(f)}}

    def canonical_filters(self, filters: SearchFilters) -> SearchFilters:
        return replace(filters, industry=self.canonical("industry", filters.industry))

    def label(self, field: str, value: str, lang: str) -> str:
        """The facet's name in ``lang``; a value outside the taxonomy is shown as it is."""
        facet = next((f for f in self.entries.get(field, []) if f.id == value), None)
        return facet.label(lang) if facet else value


class Tagger:
    def __init__(self, tags: list[Tag], embedder: CachedEmbedder, facets: Facets | None = None, *, max_tags: int = MAX_TAGS) -> None:
        self.tags = tags
        self.max_tags = max_tags
        self.facets = facets or Facets({})
        self.vectors = np.stack([embedder.embed_query_cached(t.profile) for t in tags]) if tags else np.zeros((0, embedder.dim))
        self._keywords = [[fold(k) for k in t.keywords + (t.name,)] for t in tags]

    def tag(self, lesson: Lesson, lesson_vector: np.ndarray) -> list[str]:
        if not self.tags:
            return []
        text = fold(f"{lesson.title}\n{lesson.body}")
        title = fold(lesson.title)
        similarities = self.vectors @ lesson_vector
        baseline = float(similarities.mean())
        scored = []
        for tag, keywords, similarity in zip(self.tags, self._keywords, similarities):
            hits = sum(1 for k in keywords if k and k in text) + sum(1 for k in keywords if k and k in title)
            score = min(hits, MAX_KEYWORD_POINTS) + SIMILARITY_SCALE * (float(similarity) - baseline)
            if score >= MIN_SCORE:
                scored.append((score, tag.id))
        return [tag_id for _, tag_id in sorted(scored, reverse=True)[: self.max_tags]]


def tags_mentioned(tags: list[Tag], text: str) -> list[Tag]:
    """Tags whose name, English name or a keyword occurs in ``text`` (or that contain all of it), most hits first.

    Used to suggest where to look when a search finds nothing.
    """
    folded = fold(text).strip()
    if not folded:
        return []
    scored = []
    for position, tag in enumerate(tags):
        terms = {fold(t).strip() for t in (tag.name, tag.name_en, *tag.keywords)} - {""}
        hits = sum(1 for term in terms if _mentions(folded, term) or (len(folded) >= 2 and folded in term))
        if hits:
            scored.append((-hits, position, tag))
    return [tag for _, _, tag in sorted(scored)]


def _mentions(text: str, term: str) -> bool:
    if re.search(r"[a-z0-9]", term[0] + term[-1]):
        # Latin terms match whole words ("roi" is not in "heroic").
        return re.search(rf"(?<![a-z0-9]){re.escape(term)}(?![a-z0-9])", text) is not None
    return term in text
