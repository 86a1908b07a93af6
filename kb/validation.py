"""Checks of values at the domain boundary, shared by the web forms, the API, the CLI and ingest.

Each check returns the normalised value or raises BadFieldError naming the field; ids out of
SQLite's integer range are records that cannot exist, so they raise NotFoundError.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime
from typing import Any

from kb.errors import BadFieldError, NotFoundError

# SQLite stores integers in 64 bits; a larger id names no row (and would overflow the driver).
MAX_RECORD_ID = 2**63 - 1
# Far above any deal, far below where a float stops counting whole units.
MAX_DEAL_SIZE = 1e13
MAX_TAG_CHARS = 64
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_SPACE_RUN = re.compile(r"\s+")


def record_id(value: Any, what: str = "record") -> int:
    """An integer id within SQLite's range; anything else names no record (404)."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise NotFoundError(f"no {what} {str(value)[:40]}") from None
    if isinstance(value, bool) or not 0 < number <= MAX_RECORD_ID:
        raise NotFoundError(f"no {what} {str(value)[:40]}")
    return number


def finite_number(name: str, value: Any, *, maximum: float = MAX_DEAL_SIZE) -> float | None:
    """A finite number in [0, maximum) from a number or its text (thousands commas allowed); blank is None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    problem = f"must be a positive number below {maximum:,.0f}"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadFieldError(name, problem, code="positive_number", maximum=maximum)
    try:
        number = float(value.replace(",", "").strip()) if isinstance(value, str) else float(value)
    except (ValueError, OverflowError):
        raise BadFieldError(name, problem, code="positive_number", maximum=maximum) from None
    if not (math.isfinite(number) and 0 <= number < maximum):
        raise BadFieldError(name, problem, code="positive_number", maximum=maximum)
    return number


def bounded_int(name: str, value: Any, low: int, high: int) -> int:
    """An integer in [low, high]; a float with no fraction counts, text or infinity does not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadFieldError(name, f"must be an integer from {low} to {high}", code="integer_range", low=low, high=high)
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise BadFieldError(name, f"must be an integer from {low} to {high}", code="integer_range", low=low, high=high)
    if not low <= value <= high:
        raise BadFieldError(name, f"must be an integer from {low} to {high}", code="integer_range", low=low, high=high)
    return int(value)


def currency_code(name: str, value: Any) -> str:
    """An ISO 4217 style code of three letters, upper-cased; blank stays blank."""
    code = text_field(name, value, 3).upper()
    if code and not _CURRENCY.match(code):
        raise BadFieldError(name, "use a three-letter currency code such as CNY or USD", code="currency")
    return code


def iso_date(name: str, value: Any) -> str:
    """A calendar date as YYYY-MM-DD (from a date or its ISO text); blank stays blank."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = text_field(name, value, 10)
    if text:
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise BadFieldError(name, "use the form YYYY-MM-DD", code="date_format") from None
    return text


def text_field(name: str, value: Any, limit: int, *, required: bool = False) -> str:
    """Stripped text of at most ``limit`` characters; a list or a mapping is not text."""
    if isinstance(value, (dict, list, tuple, set)):
        raise BadFieldError(name, "must be text", code="not_text")
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise BadFieldError(name, "is required", code="required")
    if len(text) > limit:
        raise BadFieldError(name, f"is longer than {limit} characters", code="too_long", n=limit)
    valid_unicode(name, text)
    return text


def label(name: str, value: Any, limit: int = MAX_TAG_CHARS, *, required: bool = False) -> str:
    """A tag, set or filter name: one Unicode form (NFC), each run of spaces, tabs or line breaks one space."""
    return _SPACE_RUN.sub(" ", unicodedata.normalize("NFC", text_field(name, value, limit, required=required)))


def valid_unicode(name: str, value: Any) -> None:
    """Refuse text (or a list of texts) holding lone surrogates, which no file or JSON reader accepts."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str) and any(0xD800 <= ord(char) <= 0xDFFF for char in item):
            raise BadFieldError(name, "contains characters that are not valid Unicode", code="invalid_unicode")


# Front-matter fields of reviews with a type of their own; the other review fields are short text.
_FRONT_MATTER_CHECKS = {"deal_size": finite_number, "date": iso_date, "currency": currency_code}
FRONT_MATTER_TEXT_CHARS = 200


def front_matter_fields(front: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The front matter with each of ``fields`` checked and normalised; other keys pass unchanged."""
    checked = dict(front)
    for name in fields:
        value = front.get(name)
        if value is None or value == "" or value == []:
            continue
        if name in _FRONT_MATTER_CHECKS:
            normalised = _FRONT_MATTER_CHECKS[name](f"front matter {name}", value)
            checked[name] = value if isinstance(value, int) else normalised  # a whole amount stays whole
        elif isinstance(value, list):
            checked[name] = [text_field(f"front matter {name}", item, FRONT_MATTER_TEXT_CHARS) for item in value]
        else:
            checked[name] = text_field(f"front matter {name}", value, FRONT_MATTER_TEXT_CHARS)
    return checked
