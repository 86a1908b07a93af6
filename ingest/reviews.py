"""Win/loss reviews typed into the web form or the API: validated, written as Markdown, then ingested.

The Markdown file (front matter plus sections) is the record: nothing typed into the form lives
only in the database, and the file is exactly what `kb ingest` reads.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from kb.errors import KbError

OUTCOME_CHOICES = ("win", "loss", "no-decision", "unknown")
SHORT_FIELD_CHARS = 200
LONG_FIELD_CHARS = 5000
LESSON_CHARS = 1000
MAX_LESSONS = 30


class ReviewValidationError(KbError):
    """Field errors of a submitted review, keyed by field name, shown beside the fields."""

    exit_code = 2

    def __init__(self, errors: dict[str, str]) -> None:
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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _split_lines(value: Any) -> list[str]:
    if isinstance(value, list):
        items = [_text(v) for v in value]
    else:
        items = [line.strip() for line in _text(value).splitlines()]
    return [re.sub(r"^[-*•·]\s*|^\d+[.、)]\s*", "", item).strip() for item in items if item.strip()]


def validate_review(data: dict[str, Any]) -> ReviewInput:
    """Check a submitted review; every problem is reported at once, by field."""
    errors: dict[str, str] = {}
    outcome = _text(data.get("outcome")).lower()
    if outcome not in OUTCOME_CHOICES:
        errors["outcome"] = f"choose one of: {', '.join(OUTCOME_CHOICES)}"
    customer = _text(data.get("customer"))
    if not customer:
        errors["customer"] = "is required (an anonymised name such as 华东某城商行 is fine)"
    lessons = _split_lines(data.get("lessons"))
    if not lessons:
        errors["lessons"] = "write at least one lesson learned, one per line"
    elif len(lessons) > MAX_LESSONS:
        errors["lessons"] = f"at most {MAX_LESSONS} lessons per review"
    elif any(len(lesson) > LESSON_CHARS for lesson in lessons):
        errors["lessons"] = f"each lesson must be at most {LESSON_CHARS} characters"
    short = {name: _text(data.get(name)) for name in ("title", "industry", "region", "currency", "stage", "close_date")}
    long = {name: _text(data.get(name)) for name in ("summary", "what_worked", "what_went_wrong", "next_actions")}
    for name, value in [*short.items(), ("customer", customer)]:
        if len(value) > SHORT_FIELD_CHARS:
            errors[name] = f"must be at most {SHORT_FIELD_CHARS} characters"
    for name, value in long.items():
        if len(value) > LONG_FIELD_CHARS:
            errors[name] = f"must be at most {LONG_FIELD_CHARS} characters"
    deal_size = None
    raw_size = _text(data.get("deal_size")).replace(",", "")
    if raw_size:
        try:
            deal_size = float(raw_size)
            if deal_size < 0:
                raise ValueError
        except ValueError:
            errors["deal_size"] = "must be a positive number"
    if short["close_date"]:
        try:
            date.fromisoformat(short["close_date"])
        except ValueError:
            errors["close_date"] = "use the form YYYY-MM-DD"
    competitors = _split_lines(data.get("competitors")) if isinstance(data.get("competitors"), list) else [
        c.strip() for c in re.split(r"[,，;；\n]", _text(data.get("competitors"))) if c.strip()
    ]
    if errors:
        raise ReviewValidationError(errors)
    return ReviewInput(
        outcome=outcome,
        customer=customer,
        lessons=lessons,
        deal_size=deal_size,
        competitors=competitors,
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
