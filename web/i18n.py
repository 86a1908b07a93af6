"""The interface in Chinese (default) and English: gettext catalogs under web/locale, and the language choice.

Messages are looked up by id (``nav.search``, ``err.too_long``); the texts of each language live in
``web/locale/<lang>/LC_MESSAGES/messages.po``, which Babel extracts and updates (`make messages`).
"""

from __future__ import annotations

import gettext
from functools import lru_cache
from importlib.resources import files
from io import BytesIO

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi import Request

from kb.errors import Problem

LANGUAGES = ("zh", "en")
LANG_COOKIE = "kb_lang"
DOMAIN = "messages"


@lru_cache(maxsize=None)
def catalog(lang: str) -> gettext.GNUTranslations:
    """The compiled catalog of one language, read once from its .po file (package data)."""
    source = files("web") / "locale" / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    with source.open("rb") as handle:
        compiled = BytesIO()
        write_mo(compiled, read_po(handle, locale=None, domain=DOMAIN))
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def language(request: Request) -> str:
    """?lang= wins (and is remembered in a cookie by the middleware), then the cookie, then Chinese."""
    lang = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "zh"
    return lang if lang in LANGUAGES else "zh"


def translate(key: str, lang: str) -> str:
    """The text of a message id in the language; an unknown id is returned as it is."""
    return catalog(lang).gettext(key)


def field_error(problem: Problem, lang: str) -> str:
    """A validation problem in the interface language, for display beside a field (by its code, never its wording)."""
    key = f"err.{problem.code}"
    text = translate(key, lang)
    return problem.text if text == key else text.format(**problem.params)


def translate_value(prefix: str, value: str, lang: str) -> str:
    """The label of a stored value (``kind.`` + ``review`` → 复盘); a value without one is shown as it is."""
    key = f"{prefix}{value}"
    text = translate(key, lang)
    return value if text == key else text
