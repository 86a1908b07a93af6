"""The interface's gettext catalogs: every message id in code and templates has a Chinese and an English text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from kb.errors import Problem
from web.i18n import LANGUAGES, field_error, translate, translate_value

ROOT = Path(__file__).resolve().parent.parent


def catalog_ids(lang: str) -> dict[str, str]:
    with (ROOT / "web" / "locale" / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return {message.id: message.string for message in read_po(handle) if message.id}


def test_both_languages_have_the_same_ids_and_no_empty_text():
    zh, en = catalog_ids("zh"), catalog_ids("en")
    assert set(zh) == set(en)
    assert [key for key in zh if not zh[key] or not en[key]] == []


def test_every_id_babel_extracts_from_code_and_templates_is_translated():
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    extracted = {message for _, _, message, _, _ in extract_from_dir(ROOT, method_map, options_map, keywords={"_": None, "translate": None})}
    assert len(extracted) > 150  # templates and routes were both read
    for lang in LANGUAGES:
        assert sorted(extracted - set(catalog_ids(lang))) == [], lang


def test_every_problem_code_raised_in_the_source_has_a_message():
    codes = set()
    for path in [*ROOT.glob("kb/**/*.py"), *ROOT.glob("ingest/*.py"), *ROOT.glob("search/*.py"), *ROOT.glob("web/**/*.py")]:
        source = path.read_text(encoding="utf-8")
        codes |= set(re.findall(r'\bcode="([a-z_]+)"', source)) | set(re.findall(r'\bProblem\("([a-z_]+)"', source))
    assert {"too_long", "choose_outcome", "positive_number"} <= codes
    for lang in LANGUAGES:
        assert sorted(code for code in codes if f"err.{code}" not in catalog_ids(lang)) == [], lang


@pytest.mark.parametrize(
    ("lang", "expected"), [("zh", "太长了：最多 200 个字"), ("en", "Too long: at most 200 characters")]
)
def test_a_problem_is_shown_by_its_code_with_its_parameters(lang, expected):
    assert field_error(Problem("too_long", "is longer than 200 characters", {"n": 200}), lang) == expected


def test_unknown_codes_and_values_fall_back_to_their_own_text():
    assert field_error(Problem("no_such_code", "must be up or down"), "zh") == "must be up or down"
    assert translate_value("kind.", "memo", "zh") == "memo"
    assert translate_value("kind.", "review", "zh") == "复盘"
    assert translate("nav.search", "en") == "Search"
