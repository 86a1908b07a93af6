"""Win/loss drivers across reviews (kb/drivers.py): `GET /api/insights/drivers` (+ CSV, + one driver's reviews)
and the `/insights/drivers` pages, where every number links to the reviews behind it."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from ingest.tagging import Tag

from kb.drivers import MIN_REVIEWS, SIZE_BANDS, DriverCount, DriverFilters, DriverReport, Drivers, Quote
from kb.errors import NotFoundError
from web.auth import can_read
from web.charts import paired_bar_chart
from web.deps import WorkspaceDep
from web.i18n import language, translate
from web.taxonomy import tag_labels, taxonomy
from web.templating import render

router = APIRouter()

Bucket = Literal["win", "loss", "other"]
SizeBand = Literal["", "small", "medium", "large"]  # the keys of SIZE_BANDS; "" (any) is what an untouched form sends


def driver_filters(
    workspace: WorkspaceDep,
    industry: str | None = Query(None, max_length=200, description="an industry of the taxonomy, by any of its names"),
    competitor: str | None = Query(None, max_length=200, description="any part of a competitor's name"),
    size: SizeBand | None = Query(None, description="deal-size band: small < 1M, medium 1M–10M, large ≥ 10M (in the review's currency)"),
    quarter: str | None = Query(None, pattern=r"^(\d{4}-Q[1-4])?$", description="close quarter, e.g. 2026-Q1"),
) -> DriverFilters:
    return DriverFilters(
        industry=workspace.facets.canonical("industry", industry.strip()) if industry and industry.strip() else None,
        competitor=competitor.strip() if competitor and competitor.strip() else None,
        size=size or None,
        quarter=quarter or None,
    )


def _report(request: Request, workspace: WorkspaceDep, filters: DriverFilters, outcome: str | None = None) -> DriverReport:
    return Drivers(workspace.catalog, list(_taxonomy(request))).report(filters, outcome=outcome)


def _quote_json(quote: Quote) -> dict[str, Any]:
    return {**asdict(quote), "review_url": f"/reviews/{quote.review_id}", "lesson_url": f"/lessons/{quote.lesson_id}"}


def _taxonomy(request: Request) -> dict[str, Tag]:
    """Driver id → its taxonomy entry."""
    return {driver.id: driver for driver in taxonomy(request, "drivers")}


def _driver_json(count: DriverCount, names: dict[str, Tag]) -> dict[str, Any]:
    driver = names.get(count.id)
    name, name_en = (driver.name, driver.name_en or driver.name) if driver else (count.id, count.id)
    body = asdict(count)
    body["reviews"] = {bucket: [{"id": rid, "url": f"/reviews/{rid}"} for rid in ids] for bucket, ids in count.reviews.items()}
    body["quotes"] = [_quote_json(q) for q in count.quotes]
    return {"name": name, "name_en": name_en, **body}


def _report_json(request: Request, report: DriverReport) -> dict[str, Any]:
    names = _taxonomy(request)
    return {
        "filters": report.filters.params(),
        "min_reviews": MIN_REVIEWS,
        "reviews": report.reviews,
        "won": report.won,
        "lost": report.lost,
        "other": report.other,
        "unconfirmed_reviews": report.unconfirmed_reviews,
        "drivers": [_driver_json(count, names) for count in report.drivers],
        "candidates": [{"terms": c.terms, "quotes": [_quote_json(q) for q in c.quotes]} for c in report.candidates],
    }


def _one(report: DriverReport, driver_id: str) -> DriverCount:
    count = next((c for c in report.drivers if c.id == driver_id), None)
    if count is None:
        raise NotFoundError(f"no driver {driver_id}")
    return count


# --- API ------------------------------------------------------------------------------------


@router.get("/api/insights/drivers", dependencies=[Depends(can_read)], tags=["insights"])
def api_drivers(request: Request, workspace: WorkspaceDep, filters: DriverFilters = Depends(driver_filters)):
    """For each win/loss driver: the won, lost and other reviews that name it (with links), its share of all won and
    of all lost reviews, its win rate, counts by close quarter, quotes, and ``too_few`` when fewer than ``min_reviews``
    won and lost reviews stand behind it. ``candidates``: review lessons that fit no driver, grouped by shared terms."""
    return _report_json(request, _report(request, workspace, filters))


@router.get("/api/insights/drivers.csv", dependencies=[Depends(can_read)], tags=["insights"])
def api_drivers_csv(request: Request, workspace: WorkspaceDep, filters: DriverFilters = Depends(driver_filters)):
    """The driver counts as CSV (UTF-8 with a byte-order mark, so that spreadsheet programs read the Chinese names)."""
    report = _report(request, workspace, filters)
    names = _taxonomy(request)
    quarters = sorted({quarter for count in report.drivers for quarter in count.by_quarter})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["driver", "name", "name_en", "won", "lost", "other", "confirmed", "share_of_wins", "share_of_losses", "win_rate", "too_few"]
        + [f"{quarter} {bucket}" for quarter in quarters for bucket in ("won", "lost")]
        + ["reviews"]
    )
    for count in report.drivers:
        driver = names.get(count.id)
        writer.writerow(
            [count.id, driver.name if driver else count.id, (driver.name_en if driver else "") or "", count.won, count.lost, count.other, count.confirmed]
            + ["" if value is None else value for value in (count.share_of_wins, count.share_of_losses, count.win_rate)]
            + [int(count.too_few)]
            + [count.by_quarter.get(quarter, {}).get(bucket, 0) for quarter in quarters for bucket in ("win", "loss")]
            + [" ".join(rid for ids in count.reviews.values() for rid in ids)]
        )
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="drivers.csv"'},
    )


@router.get("/api/insights/drivers/{driver_id}", dependencies=[Depends(can_read)], tags=["insights"])
def api_driver(
    request: Request,
    workspace: WorkspaceDep,
    driver_id: str,
    outcome: Bucket | None = Query(None, description="only the quotes of won, lost or other reviews"),
    filters: DriverFilters = Depends(driver_filters),
):
    """One driver with every review behind its numbers and all their quotes."""
    report = _report(request, workspace, filters, outcome)
    return _driver_json(_one(report, driver_id), _taxonomy(request))


# --- pages ----------------------------------------------------------------------------------


def _link(path: str, filters: DriverFilters, **extra: str | None) -> str:
    params = {**filters.params(), **{k: v for k, v in extra.items() if v}}
    return path + ("?" + urlencode(params) if params else "")


@router.get("/insights/drivers", dependencies=[Depends(can_read)], include_in_schema=False)
def drivers_page(request: Request, workspace: WorkspaceDep, filters: DriverFilters = Depends(driver_filters)):
    lang = language(request)
    report = _report(request, workspace, filters)
    labels = tag_labels(request, lang, "drivers")
    chart = paired_bar_chart(
        [(labels.get(c.id, c.id), c.won, c.lost) for c in report.drivers],
        translate("drivers.chart", lang),
        left=translate("drivers.won", lang),
        right=translate("drivers.lost", lang),
    )
    quarters = sorted({quarter for count in report.drivers for quarter in count.by_quarter})
    return render(
        request,
        "drivers.html",
        {
            "report": report,
            "labels": labels,
            "chart": chart,
            "quarters": quarters,
            "link": lambda path, **extra: _link(path, filters, **extra),
            "industries": [(facet.id, facet.label(lang)) for facet in workspace.facets.entries.get("industry", [])],
            "sizes": list(SIZE_BANDS),
            "min_reviews": MIN_REVIEWS,
            "csv_url": _link("/api/insights/drivers.csv", filters),
        },
    )


@router.get("/insights/drivers/{driver_id}", dependencies=[Depends(can_read)], include_in_schema=False)
def driver_page(
    request: Request,
    workspace: WorkspaceDep,
    driver_id: str,
    outcome: Bucket | None = Query(None),
    filters: DriverFilters = Depends(driver_filters),
):
    """The reviews behind one driver's numbers, with the lessons that name it."""
    lang = language(request)
    report = _report(request, workspace, filters, outcome)
    count = _one(report, driver_id)
    labels = tag_labels(request, lang, "drivers")
    return render(
        request,
        "driver.html",
        {
            "count": count,
            "label": labels.get(driver_id, driver_id),
            "outcome": outcome,
            "filters": filters,
            "back": _link("/insights/drivers", filters),
            "link": lambda path, **extra: _link(path, filters, **extra),
        },
    )
