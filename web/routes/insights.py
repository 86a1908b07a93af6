"""What the base holds and what people look for: `GET /insights` (charts) and `GET /api/insights` (numbers)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request

from kb.catalog import Catalog
from kb.gaps import GapQueue
from kb.insights import Insights
from web.auth import can_read
from web.deps import CatalogDep, WorkspaceDep
from web.charts import bar_chart, column_chart
from web.i18n import language, translate, translate_value
from web.taxonomy import tag_labels
from web.templating import render

router = APIRouter()

TOP_QUERIES = 20


def _numbers(catalog: Catalog) -> dict[str, Any]:
    """Every number the page shows; lessons without an outcome or industry (playbooks) are left out of those counts."""
    insights = Insights(catalog)
    return {
        "counts": catalog.counts(),
        "by_kind": catalog.count_by("kind"),
        "by_outcome": {key: n for key, n in catalog.count_by("outcome").items() if key != "—"},
        "by_industry": {key: n for key, n in catalog.count_by("industry").items() if key != "—"},
        "by_tag": catalog.count_by("tag"),
        "lessons_by_month": insights.lessons_by_month(),
        "queries_by_month": insights.queries_by_month(),
        "frequent_queries": [asdict(stat) for stat in insights.frequent_queries(TOP_QUERIES)],
        "gaps": [asdict(stat) for stat in insights.gaps(TOP_QUERIES)],
        "trust": insights.trust(),
        "gap_queue": GapQueue(catalog).counts(),
    }


@router.get("/api/insights", dependencies=[Depends(can_read)], tags=["insights"])
def api_insights(catalog: CatalogDep):
    """Counts by kind, outcome, industry, tag and month; the most frequent queries and the knowledge gaps; ``trust``:
    the share of lessons in search that are verified and in date, and of logged searches whose top result was stale;
    ``gap_queue``: how many gaps of weak searches are open, answered and dismissed."""
    return _numbers(catalog)


@router.get("/insights", dependencies=[Depends(can_read)], include_in_schema=False)
def insights_page(request: Request, workspace: WorkspaceDep):
    numbers = _numbers(workspace.catalog)
    lang = language(request)
    _ = lambda key: translate(key, lang)  # noqa: E731
    tags = tag_labels(request, lang)
    facets = workspace.facets

    def labelled(counts: dict[str, int], prefix: str) -> list[tuple[str, int]]:
        return [(translate_value(prefix, key, lang), n) for key, n in counts.items()]

    charts = {
        "kind": bar_chart(labelled(numbers["by_kind"], "kind."), _("insights.by_kind")),
        "outcome": bar_chart(labelled(numbers["by_outcome"], "outcome."), _("insights.by_outcome")),
        "industry": bar_chart(
            [(facets.label("industry", key, lang), n) for key, n in numbers["by_industry"].items()], _("insights.by_industry")
        ),
        "tag": bar_chart([(tags.get(key, key), n) for key, n in numbers["by_tag"].items()], _("insights.by_tag"), width=640),
        "lessons_by_month": column_chart(list(numbers["lessons_by_month"].items()), _("insights.lessons_by_month")),
        "queries_by_month": column_chart(list(numbers["queries_by_month"].items()), _("insights.queries_by_month")),
    }
    return render(request, "insights.html", {"numbers": numbers, "charts": charts, "query_total": sum(numbers["queries_by_month"].values())})
