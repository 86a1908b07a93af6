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
from starlette.datastructures import MutableHeaders, QueryParams
from starlette.responses import Response
from starlette.types import ASGIApp, Scope

from kb.errors import Problem
from web.security import HeadersMiddleware

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


class RememberLanguage(HeadersMiddleware):
    """A ``?lang=`` choice is kept in a cookie for the next pages."""

    def __init__(self, app: ASGIApp, *, secure: bool) -> None:
        super().__init__(app)
        self.secure = secure

    def edit(self, scope: Scope, headers: MutableHeaders) -> None:
        lang = QueryParams(scope.get("query_string", b"").decode("latin-1")).get("lang")
        if lang in LANGUAGES:
            cookie = Response()  # Starlette's cookie format, with its attributes
            cookie.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax", httponly=True, secure=self.secure)
            headers.append("set-cookie", cookie.headers["set-cookie"])


def translate(key: str, lang: str, default: str | None = None) -> str:
    """The text of a message id in the language; an unknown id gives ``default``, else the id itself."""
    text = catalog(lang).gettext(key)
    return default if text == key and default is not None else text


def field_error(problem: Problem, lang: str) -> str:
    """A validation problem in the interface language, for display beside a field (by its code, never its wording)."""
    text = translate(f"err.{problem.code}", lang, default="")
    return text.format(**problem.params) if text else problem.text


def translate_value(prefix: str, value: str, lang: str) -> str:
    """The label of a stored value (``kind.`` + ``review`` → 复盘); a value without one is shown as it is."""
    return translate(f"{prefix}{value}", lang, default=value)
