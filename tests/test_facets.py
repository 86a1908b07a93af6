"""Facets across languages: industries and stages map through the taxonomy's names and synonyms."""

from __future__ import annotations

import pytest

from ingest.tagging import Facets
from kb.defaults import default_file
from kb.domain import SearchFilters
from kb.errors import BadFileError

from conftest import CORPUS_DIR


@pytest.fixture(scope="module")
def facets() -> Facets:
    return Facets.load(default_file("taxonomy.yaml"))


def test_english_and_chinese_industry_names_are_one_facet(facets):
    assert facets.canonical("industry", "manufacturing") == facets.canonical("industry", "制造") == "manufacturing"
    assert facets.canonical("industry", "Finance") == facets.canonical("industry", "金融") == "finance"
    assert facets.canonical("stage", "商务谈判") == facets.canonical("stage", "negotiation") == "negotiation"


def test_every_industry_and_stage_of_the_corpus_reviews_is_known(facets):
    known = {field: {f.id for f in entries} for field, entries in facets.entries.items()}
    for path in (CORPUS_DIR / "reviews").glob("*.md"):
        for line in path.read_text(encoding="utf-8").splitlines():
            field, _, value = line.partition(":")
            if field in ("industry", "stage"):
                assert facets.canonical(field, value.strip()) in known[field], (path.name, line)


def test_unknown_values_stay_and_filters_map(facets):
    assert facets.canonical("industry", "aerospace") == "aerospace"
    assert facets.canonical_filters(SearchFilters(industry="制造")).industry == "manufacturing"
    assert facets.canonical_fields({"industry": "医疗", "stage": "签约", "region": "华东"}) == {
        "industry": "healthcare",
        "stage": "closed",
        "region": "华东",
    }
    assert facets.label("industry", "manufacturing", "zh") == "制造"
    assert facets.label("industry", "manufacturing", "en") == "Manufacturing"


def test_a_bad_facet_entry_names_the_file(tmp_path):
    path = tmp_path / "taxonomy.yaml"
    path.write_text("industries:\n  - name: 制造\n", encoding="utf-8")
    with pytest.raises(BadFileError, match="industries #1 needs an id"):
        Facets.load(path)
