"""Win/loss drivers across reviews: why deals are won or lost, counted from the drivers of each review's lessons.

Every lesson of a review's lessons-learned list carries drivers, ids of the taxonomy's ``drivers`` section: those the
rep *confirmed* (stored in the review's front matter, one list per lesson, in order), else those kb *suggested* at
ingest from the taxonomy's keywords and the lesson's meaning (ingest/pipeline.py). A review counts once for a driver
when any of its lessons carries it; a number behind fewer than ``MIN_REVIEWS`` won and lost reviews is marked
``too_few`` ("too few to tell"). Lessons that carry no driver are grouped by the terms they share into candidate new
drivers for trainers to add to the taxonomy. Nothing here is stored: the report is computed from the catalog
(table ``lesson_drivers``, migration ``i23_review_drivers``) whenever it is read.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from kb.catalog import Catalog
from kb.errors import BadFieldError
from kb.textnorm import fold, tokenize

# The most drivers kb suggests for one lesson; the rep adds or removes when confirming.
SUGGESTED_PER_LESSON = 2
# Below this many won and lost reviews behind a driver, its share and win rate are noise ("too few to tell").
MIN_REVIEWS = 5
# Deal-size bands of the size filter, by the amount a review states (in its own currency): [low, high).
SIZE_BANDS: dict[str, tuple[float, float | None]] = {"small": (0, 1_000_000), "medium": (1_000_000, 10_000_000), "large": (10_000_000, None)}
# Candidate drivers: a term shared by at least this many unmatched lessons of different reviews.
CANDIDATE_MIN_LESSONS = 2
CANDIDATE_TERMS = 3
QUOTES_PER_DRIVER = 5


def parse_drivers(value: Any, lesson_count: int, known: Collection[str] | None, name: str = "drivers") -> list[list[str] | None] | None:
    """Drivers as a review gives them: one entry per lesson, in order, each a list of driver ids (or their text, comma
    separated), ``null`` for a lesson whose drivers kb should suggest. ``None`` or absent means none confirmed.
    Ids outside ``known`` are refused; ``known=None`` accepts any (a file keeps ids a trainer has since removed)."""
    if value is None or value == "":
        return None
    if not isinstance(value, list) or len(value) != lesson_count:
        raise BadFieldError(
            name, f"must be a list with one entry per lesson ({lesson_count}), each a list of driver ids", code="drivers_shape", n=lesson_count
        )
    parsed: list[list[str] | None] = []
    for entry in value:
        if entry is None:
            parsed.append(None)
            continue
        if isinstance(entry, str):
            entry = entry.replace("，", ",").split(",")
        if not isinstance(entry, list) or not all(isinstance(item, str) for item in entry):
            raise BadFieldError(name, "each entry must be a list of driver ids", code="drivers_shape", n=lesson_count)
        ids = list(dict.fromkeys(item.strip() for item in entry if item.strip()))
        unknown = [item for item in ids if known is not None and item not in known]
        if unknown:
            choices = ", ".join(sorted(known or ()))
            raise BadFieldError(name, f"unknown driver {unknown[0]!r}; choose from: {choices}", code="unknown_driver", driver=unknown[0], choices=choices)
        parsed.append(ids)
    return parsed


def quarter_of(value: Any) -> str | None:
    """``2026-Q1`` for a date or its ISO text; None when there is none."""
    try:
        day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def size_band(amount: Any) -> str | None:
    if not isinstance(amount, (int, float)) or isinstance(amount, bool):
        return None
    return next((band for band, (low, high) in SIZE_BANDS.items() if amount >= low and (high is None or amount < high)), None)


@dataclass(frozen=True)
class DriverFilters:
    industry: str | None = None  # a facet id (Facets.canonical)
    competitor: str | None = None  # any part of a competitor's name, in any script or case
    size: str | None = None  # a key of SIZE_BANDS
    quarter: str | None = None  # 2026-Q1

    def params(self) -> dict[str, str]:
        return {name: value for name, value in vars(self).items() if value}


@dataclass(frozen=True)
class ReviewLesson:
    """One lesson of a review's lessons-learned list with its drivers."""

    lesson_id: str
    title: str
    text: str
    drivers: tuple[str, ...]
    confirmed: bool


@dataclass
class Review:
    id: str
    title: str
    outcome: str
    industry: str | None
    competitors: list[str]
    deal_size: float | None
    quarter: str | None
    lessons: list[ReviewLesson] = field(default_factory=list)

    def matches(self, filters: DriverFilters) -> bool:
        if filters.industry and self.industry != filters.industry:
            return False
        if filters.competitor and not any(fold(filters.competitor).strip() in fold(c) for c in self.competitors):
            return False
        if filters.size and size_band(self.deal_size) != filters.size:
            return False
        return not filters.quarter or self.quarter == filters.quarter

    def lessons_with(self, driver: str) -> list[ReviewLesson]:
        return [lesson for lesson in self.lessons if driver in lesson.drivers]


@dataclass(frozen=True)
class Quote:
    review_id: str
    review_title: str
    outcome: str
    lesson_id: str
    text: str
    confirmed: bool


@dataclass
class DriverCount:
    id: str
    won: int = 0
    lost: int = 0
    other: int = 0  # no decision or unknown outcome
    confirmed: int = 0  # reviews counted through a driver their rep confirmed (the rest were only suggested)
    share_of_wins: float | None = None  # of the won reviews in the report, how many name this driver
    share_of_losses: float | None = None
    win_rate: float | None = None  # won / (won + lost) of the reviews that name it
    too_few: bool = True
    by_quarter: dict[str, dict[str, int]] = field(default_factory=dict)
    reviews: dict[str, list[str]] = field(default_factory=lambda: {"win": [], "loss": [], "other": []})
    quotes: list[Quote] = field(default_factory=list)


@dataclass(frozen=True)
class Candidate:
    """Lessons that fit no driver and share ``terms``: perhaps a driver the taxonomy lacks."""

    terms: list[str]
    quotes: list[Quote]


@dataclass
class DriverReport:
    filters: DriverFilters
    reviews: int
    won: int
    lost: int
    other: int
    drivers: list[DriverCount]
    candidates: list[Candidate]
    unconfirmed_reviews: int  # reviews whose drivers are all suggestions a rep has not confirmed


def _bucket(outcome: str) -> str:
    return outcome if outcome in ("win", "loss") else "other"


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


class Drivers:
    """The reviews of a catalog with the drivers of their lessons, and the report across them."""

    def __init__(self, catalog: Catalog, driver_ids: Sequence[str] = ()) -> None:
        self.catalog = catalog
        self.driver_ids = list(driver_ids)  # the taxonomy's, in its order: every one is reported, named or not

    def reviews(self, document_id: str | None = None) -> list[Review]:
        """Every review with its lessons' drivers, or only the review ``document_id``."""
        one = "AND d.id = ?" if document_id else ""
        rows = self.catalog.db.execute(
            "SELECT d.id AS review_id, d.title AS review_title, d.metadata, l.id AS lesson_id, l.title, l.body, l.industry, "
            "x.drivers, x.confirmed FROM documents d JOIN lessons l ON l.document_id = d.id "
            f"JOIN lesson_drivers x ON x.lesson_id = l.id WHERE d.kind = 'review' {one} ORDER BY d.id, l.ordinal",
            (document_id,) if document_id else (),
        ).fetchall()
        reviews: dict[str, Review] = {}
        for row in rows:
            review = reviews.get(row["review_id"])
            if review is None:
                meta = json.loads(row["metadata"] or "{}")
                deal_size = meta.get("deal_size")
                competitors = meta.get("competitors") or []
                review = reviews[row["review_id"]] = Review(
                    id=row["review_id"],
                    title=row["review_title"],
                    outcome=str(meta.get("outcome") or "unknown").lower(),
                    industry=row["industry"],
                    competitors=[str(c) for c in competitors] if isinstance(competitors, list) else [str(competitors)],
                    deal_size=deal_size if isinstance(deal_size, (int, float)) else None,
                    quarter=quarter_of(meta.get("date")),
                )
            review.lessons.append(
                ReviewLesson(row["lesson_id"], row["title"], row["body"], tuple(json.loads(row["drivers"])), bool(row["confirmed"]))
            )
        return list(reviews.values())

    def of_document(self, document_id: str) -> dict[str, ReviewLesson]:
        """Lesson id → its drivers, for the lessons of one review."""
        return {lesson.lesson_id: lesson for review in self.reviews(document_id) for lesson in review.lessons}

    def report(self, filters: DriverFilters = DriverFilters(), *, outcome: str | None = None) -> DriverReport:
        """Counts per driver over the reviews that pass ``filters``; ``outcome`` keeps only reviews of that bucket
        (``win``, ``loss``, ``other``) among each driver's quotes, for the page behind one number, and keeps them all."""
        reviews = [review for review in self.reviews() if review.matches(filters)]
        totals = Counter(_bucket(review.outcome) for review in reviews)
        seen = set(self.driver_ids)
        ids = self.driver_ids + sorted({d for r in reviews for lesson in r.lessons for d in lesson.drivers} - seen)
        counts = []
        for driver in ids:
            count = DriverCount(driver)
            for review in reviews:
                lessons = review.lessons_with(driver)
                if not lessons:
                    continue
                bucket = _bucket(review.outcome)
                count.reviews[bucket].append(review.id)
                count.confirmed += any(lesson.confirmed for lesson in lessons)
                if review.quarter and bucket != "other":
                    count.by_quarter.setdefault(review.quarter, {"win": 0, "loss": 0})[bucket] += 1
                if outcome is None or bucket == outcome:
                    count.quotes += [Quote(review.id, review.title, review.outcome, lesson.lesson_id, lesson.text, lesson.confirmed) for lesson in lessons]
            count.won, count.lost, count.other = (len(count.reviews[bucket]) for bucket in ("win", "loss", "other"))
            count.by_quarter = dict(sorted(count.by_quarter.items()))
            count.share_of_wins = _share(count.won, totals["win"])
            count.share_of_losses = _share(count.lost, totals["loss"])
            count.win_rate = _share(count.won, count.won + count.lost)
            count.too_few = count.won + count.lost < MIN_REVIEWS
            if outcome is None:
                count.quotes = count.quotes[:QUOTES_PER_DRIVER]
            counts.append(count)
        return DriverReport(
            filters=filters,
            reviews=len(reviews),
            won=totals["win"],
            lost=totals["loss"],
            other=totals["other"],
            drivers=counts,
            candidates=candidates(reviews),
            unconfirmed_reviews=sum(1 for r in reviews if not any(lesson.confirmed for lesson in r.lessons)),
        )


def candidates(reviews: Sequence[Review]) -> list[Candidate]:
    """Lessons without a driver, grouped greedily by the term most of them share (across at least two reviews)."""
    unmatched = [(review, lesson) for review in reviews for lesson in review.lessons if not lesson.drivers]
    terms = [{t for t in tokenize(lesson.text, drop_stopwords=True) if len(t) >= 2} for _, lesson in unmatched]
    left = set(range(len(unmatched)))
    found: list[Candidate] = []
    while True:
        sharing: dict[str, set[int]] = {}
        for i in left:
            for term in terms[i]:
                sharing.setdefault(term, set()).add(i)
        best = max(
            (
                (len(members), term)
                for term, members in sharing.items()
                if len(members) >= CANDIDATE_MIN_LESSONS and len({unmatched[i][0].id for i in members}) >= 2
            ),
            default=None,
        )
        if best is None:
            return found
        members = sorted(sharing[best[1]])
        common = Counter(t for i in members for t in terms[i] if t != best[1])
        label = [best[1]] + [t for t, n in common.most_common(CANDIDATE_TERMS - 1) if n >= 2]
        quotes = [
            Quote(unmatched[i][0].id, unmatched[i][0].title, unmatched[i][0].outcome, unmatched[i][1].lesson_id, unmatched[i][1].text, unmatched[i][1].confirmed)
            for i in members
        ]
        found.append(Candidate(label, quotes))
        left -= set(members)
