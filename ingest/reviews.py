"""Win/loss reviews typed into the web form or the API: validated, written as Markdown, then ingested.

The Markdown file (front matter plus sections) is the record: nothing typed into the form lives
only in the database, and the file is exactly what `kb ingest` reads.
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import yaml

from kb.domain import OUTCOMES
from kb.drivers import parse_drivers
from kb.errors import BadFieldError, BadFileError, KbError, Problem
from kb.textnorm import compact
from kb.validation import currency_code, finite_number, iso_date, valid_unicode
from kb.yaml_text import load_yaml

if TYPE_CHECKING:
    from ingest.pipeline import Ingestor
    from kb.catalog import Catalog

SHORT_FIELD_CHARS = 200
LONG_FIELD_CHARS = 5000
LESSON_CHARS = 1000
MAX_LESSONS = 30
MAX_COMPETITORS = 20


class ReviewValidationError(KbError):
    """Field errors of a submitted review, keyed by field name, shown beside the fields."""

    exit_code = 2
    code = "invalid_review"

    def __init__(self, errors: dict[str, Problem]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))


@dataclass
class ReviewInput:
    outcome: str
    customer: str
    lessons: list[str]
    title: str = ""
    industry: str = ""
    region: str = ""
    deal_size: float | None = None
    currency: str = ""
    competitors: list[str] = field(default_factory=list)
    stage: str = ""
    close_date: str = ""
    summary: str = ""
    what_worked: str = ""
    what_went_wrong: str = ""
    next_actions: str = ""
    # One entry per lesson: the win/loss driver ids the rep confirmed, None where kb should suggest them.
    drivers: list[list[str] | None] | None = None


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _split_lines(value: Any) -> list[str]:
    if isinstance(value, list):
        # One item is one lesson: a line break inside it must not split it when the file is read back.
        items = [re.sub(r"\s*\n\s*", " ", _text(v)) for v in value]
    else:
        items = [line.strip() for line in _text(value).splitlines()]
    return [re.sub(r"^[-*•·]\s*|^\d+[.、)]\s*", "", item).strip() for item in items if item.strip()]


def _checked(errors: dict[str, str], name: str, check: Callable[[str, Any], Any], value: Any) -> Any:
    """The value ``check`` returns, or None with the field's problem added to ``errors``."""
    try:
        return check(name, value)
    except BadFieldError as exc:
        errors[name] = exc.problem
        return None


def _too_long(limit: int) -> Problem:
    return Problem("too_long", f"must be at most {limit} characters", {"n": limit})


def validate_review(data: dict[str, Any], driver_ids: Collection[str] | None = None) -> ReviewInput:
    """Check a submitted review; every problem is reported at once, by field. ``driver_ids`` are the drivers a
    review may name (the taxonomy's)."""
    errors: dict[str, Problem] = {}
    outcome = _text(data.get("outcome")).lower()
    if outcome not in OUTCOMES:
        errors["outcome"] = Problem("choose_outcome", f"choose one of: {', '.join(OUTCOMES)}")
    customer = _text(data.get("customer"))
    if not customer:
        errors["customer"] = Problem("customer_required", "is required (an anonymised name such as 华东某城商行 is fine)")
    lessons = _split_lines(data.get("lessons"))
    if not lessons:
        errors["lessons"] = Problem("lessons_required", "write at least one lesson learned, one per line")
    elif len(lessons) > MAX_LESSONS:
        errors["lessons"] = Problem("too_many_lessons", f"at most {MAX_LESSONS} lessons per review", {"n": MAX_LESSONS})
    elif any(len(lesson) > LESSON_CHARS for lesson in lessons):
        errors["lessons"] = Problem("lesson_too_long", f"each lesson must be at most {LESSON_CHARS} characters", {"n": LESSON_CHARS})
    short = {name: _text(data.get(name)) for name in ("title", "industry", "region", "currency", "stage", "close_date")}
    long = {name: _text(data.get(name)) for name in ("summary", "what_worked", "what_went_wrong", "next_actions")}
    for name, value in [*short.items(), ("customer", customer)]:
        if len(value) > SHORT_FIELD_CHARS:
            errors[name] = _too_long(SHORT_FIELD_CHARS)
    for name, value in long.items():
        if len(value) > LONG_FIELD_CHARS:
            errors[name] = _too_long(LONG_FIELD_CHARS)
    deal_size = _checked(errors, "deal_size", finite_number, data.get("deal_size"))
    short["currency"] = _checked(errors, "currency", currency_code, short["currency"]) or ""
    short["close_date"] = _checked(errors, "close_date", iso_date, short["close_date"]) or ""
    competitors = _split_lines(data.get("competitors")) if isinstance(data.get("competitors"), list) else [
        c.strip() for c in re.split(r"[,，;；\n]", _text(data.get("competitors"))) if c.strip()
    ]
    if len(competitors) > MAX_COMPETITORS:
        errors["competitors"] = Problem("too_many_competitors", f"at most {MAX_COMPETITORS} competitors", {"n": MAX_COMPETITORS})
    elif any(len(c) > SHORT_FIELD_CHARS for c in competitors):
        errors["competitors"] = _too_long(SHORT_FIELD_CHARS)
    drivers = _checked(errors, "drivers", lambda name, value: parse_drivers(value, len(lessons), driver_ids, name), data.get("drivers"))
    for name in ReviewInput.__dataclass_fields__:
        if name != "drivers":
            _checked(errors, name, valid_unicode, data.get(name))
    if errors:
        raise ReviewValidationError(errors)
    return ReviewInput(
        outcome=outcome,
        customer=customer,
        lessons=lessons,
        deal_size=deal_size,
        competitors=competitors,
        drivers=drivers if drivers and any(entry is not None for entry in drivers) else None,
        **short,
        **long,
    )


def review_title(review: ReviewInput) -> str:
    if review.title:
        return review.title
    outcome = {"win": "赢单", "loss": "丢单", "no-decision": "未决", "unknown": "结果未知"}[review.outcome]
    return f"{review.customer}{outcome}复盘"


def review_markdown(review: ReviewInput, *, author: str, today: date | None = None) -> str:
    """The review in the Markdown + front matter format that ingest reads."""
    front: dict[str, Any] = {
        "kind": "review",
        "title": review_title(review),
        "outcome": review.outcome,
        "customer": review.customer,
        "industry": review.industry or None,
        "region": review.region or None,
        "deal_size": (int(review.deal_size) if review.deal_size is not None and review.deal_size.is_integer() else review.deal_size),
        "currency": review.currency or None,
        "competitors": review.competitors or None,
        "stage": review.stage or None,
        "date": review.close_date or (today or date.today()).isoformat(),
        "author": author,
        "drivers": review.drivers,
    }
    front = {k: v for k, v in front.items() if v is not None}
    parts = ["---", yaml.safe_dump(front, allow_unicode=True, sort_keys=False).strip(), "---", "", f"# {front['title']}", ""]
    for heading, text in (("项目背景", review.summary), ("做得好的", review.what_worked), ("做得不好的", review.what_went_wrong)):
        if text:
            parts += [f"## {heading}", "", _markdown_text(text), ""]
    parts += ["## 经验教训", ""] + [f"- {_markdown_text(lesson)}" for lesson in review.lessons] + [""]
    if review.next_actions:
        parts += ["## 下一步", "", _markdown_text(review.next_actions), ""]
    return "\n".join(parts)


def _markdown_text(text: str) -> str:
    """User text as Markdown paragraphs: a line that looks like a heading must stay text."""
    return re.sub(r"^(\s*)(#{1,6}\s)", r"\1\\\2", text.strip(), flags=re.MULTILINE)


def write_review(review: ReviewInput, reviews_dir: Path, *, author: str) -> Path:
    """Write the review under a generated name; user text never becomes part of a path."""
    reviews_dir.mkdir(parents=True, exist_ok=True)
    path = reviews_dir / f"{date.today().isoformat()}-{secrets.token_hex(6)}.md"
    path.write_text(review_markdown(review, author=author), encoding="utf-8")
    return path


def rewrite_review(review: ReviewInput, path: Path, *, author: str) -> Path:
    """Replace an existing review file with the edited review (same path, so the same document)."""
    path.write_text(review_markdown(review, author=author), encoding="utf-8")
    return path


# Section headings review_markdown writes, and the field each one holds.
_SECTION_FIELDS = {"项目背景": "summary", "做得好的": "what_worked", "做得不好的": "what_went_wrong", "经验教训": "lessons", "下一步": "next_actions"}
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.S)


def read_review(path: Path) -> dict[str, Any]:
    """A review file written by review_markdown, read back into the fields validate_review takes.

    The result round-trips: validate_review(read_review(p)) writes the same file again. A title
    that review_markdown generated comes back empty, so it follows a changed customer or outcome.
    Also returns ``author`` and ``date`` from the front matter.
    """
    text = Path(path).read_text(encoding="utf-8")
    match = _FRONT_MATTER.match(text)
    front = (load_yaml(match.group(1)) if match else None) or {}
    if not isinstance(front, dict):
        front = {}
    body = text[match.end():] if match else text
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in body.splitlines():
        heading = re.match(r"^(#{1,2})\s+(.*?)\s*$", line)
        if heading:
            name = _SECTION_FIELDS.get(heading.group(2)) if heading.group(1) == "##" else None
            current = sections.setdefault(name, []) if name else None
            continue
        if current is not None:
            current.append(line)
    fields = {name: _unescape("\n".join(lines).strip()) for name, lines in sections.items() if name != "lessons"}
    lessons: list[str] = []
    for line in sections.get("lessons", []):
        if re.match(r"^[-*]\s+", line):
            lessons.append(re.sub(r"^[-*]\s+", "", line).strip())
        elif line.strip() and lessons:
            lessons[-1] += " " + line.strip()
    competitors = front.get("competitors") or []
    if not isinstance(competitors, list):
        competitors = [c.strip() for c in re.split(r"[,，;；]", str(competitors)) if c.strip()]
    deal_size = front.get("deal_size")
    stored_date = front.get("date")
    data: dict[str, Any] = {
        "outcome": _text(front.get("outcome")),
        "customer": _text(front.get("customer")),
        "lessons": [_unescape(lesson) for lesson in lessons],
        "title": _text(front.get("title")),
        "industry": _text(front.get("industry")),
        "region": _text(front.get("region")),
        "deal_size": deal_size if isinstance(deal_size, (int, float)) else _text(deal_size),
        "currency": _text(front.get("currency")),
        "competitors": [_text(c) for c in competitors],
        "stage": _text(front.get("stage")),
        "close_date": stored_date.isoformat() if isinstance(stored_date, date) else _text(stored_date),
        "summary": fields.get("summary", ""),
        "what_worked": fields.get("what_worked", ""),
        "what_went_wrong": fields.get("what_went_wrong", ""),
        "next_actions": fields.get("next_actions", ""),
        "drivers": front.get("drivers"),
        "author": _text(front.get("author")),
    }
    if data["outcome"] in OUTCOMES and data["customer"]:
        generated = review_title(ReviewInput(outcome=data["outcome"], customer=data["customer"], lessons=[]))
        if data["title"] == generated:
            data["title"] = ""
    return data


def _unescape(text: str) -> str:
    """Undo _markdown_text: a backslash that kept a heading-like line as text."""
    return re.sub(r"^(\s*)\\(#{1,6}\s)", r"\1\2", text, flags=re.MULTILINE)


class DuplicateReviewError(KbError):
    """The author already submitted this review (same customer, same lessons): ``document_id`` is the first."""

    code = "duplicate_review"

    def __init__(self, document_id: str) -> None:
        self.document_id = document_id
        super().__init__(f"you already submitted this review: /reviews/{document_id}")


def _same_review(review: ReviewInput, stored: dict[str, Any]) -> bool:
    """Same customer and the same lessons, whatever the spacing, punctuation or order of the lessons."""
    return compact(review.customer) == compact(stored.get("customer") or "") and sorted(map(compact, review.lessons)) == sorted(
        map(compact, stored.get("lessons") or [])
    )


def find_duplicate(review: ReviewInput, catalog: "Catalog", author: str) -> str | None:
    """The first review this author submitted with the same customer and lessons, if any."""
    for document_id in catalog.reviews_by_author(author):
        document = catalog.get_document(document_id)
        path = Path(document.path) if document else None
        if path and path.is_file() and _same_review(review, read_review(path)):
            return document_id
    return None


# --- submitting and editing: validate → write the file → ingest it (synchronously) ----------------

# One review file is written and ingested at a time, so two saves never interleave.
_write_lock = threading.Lock()


def submit_review(data: dict[str, Any], ingestor: "Ingestor", reviews_dir: Path, *, author: str) -> str:
    """Validate, write under reviews_dir and ingest; return the new document id.

    The author named in the file is recorded with the review's lessons in one transaction. When this
    returns, the review's lessons are in the catalog, the lexical index and the vectors.
    Raises DuplicateReviewError when the author already submitted the same review.
    """
    review = validate_review(data, ingestor.driver_ids)
    with _write_lock:
        duplicate = find_duplicate(review, ingestor.catalog, author)
        if duplicate:
            raise DuplicateReviewError(duplicate)
        path = write_review(review, reviews_dir, author=author)
        result = ingestor.ingest_file(path)
        if result.status == "failed":
            path.unlink(missing_ok=True)
            raise BadFileError(path.name, result.error or "the review could not be ingested")
    return result.document_id


def update_review(data: dict[str, Any], ingestor: "Ingestor", path: Path) -> None:
    """Rewrite an existing review file with the edited fields and re-ingest it in place.

    The front matter keeps its original author; lessons whose text did not change keep their ids.
    """
    review = validate_review(data, ingestor.driver_ids)
    with _write_lock:
        previous = path.read_bytes()
        stored = read_review(path)
        author = stored.get("author") or ""
        if "drivers" not in data:
            review.drivers = carried_drivers(stored, review.lessons)
        rewrite_review(review, path, author=author)
        result = ingestor.ingest_file(path)
        if result.status == "failed":
            path.write_bytes(previous)
            raise BadFileError(path.name, result.error or "the review could not be ingested")


def confirm_drivers(drivers: Any, ingestor: "Ingestor", path: Path) -> None:
    """The rep confirms the drivers of each lesson (one entry per lesson, in order): written to the file, re-ingested."""
    stored = read_review(path)
    stored.pop("author", None)
    update_review({**stored, "drivers": drivers}, ingestor, path)


def carried_drivers(stored: dict[str, Any], lessons: list[str]) -> list[list[str] | None] | None:
    """The confirmed drivers of the stored review, kept for each lesson whose text is unchanged (in any position)."""
    try:
        confirmed = parse_drivers(stored.get("drivers"), len(stored.get("lessons") or []), known=None)
    except BadFieldError:
        return None
    if not confirmed:
        return None
    by_text = {compact(text): entry for text, entry in zip(stored["lessons"], confirmed) if entry is not None}
    carried = [by_text.get(compact(lesson)) for lesson in lessons]
    return carried if any(entry is not None for entry in carried) else None


def editable_review_path(document_path: str, reviews_dir: Path) -> Path | None:
    """The file of a review submitted through kb (under reviews_dir), or None for any other document."""
    path = Path(document_path)
    try:
        path.resolve().relative_to(reviews_dir.resolve())
    except ValueError:
        return None
    return path if path.suffix == ".md" and path.is_file() else None
