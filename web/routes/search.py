"""The search page (`GET /`) and `GET /api/search`: the same Searcher and defaults as `kb search --jsonl`."""

from __future__ import annotations

from itertools import islice
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request
from fastapi.responses import JSONResponse

from ingest.tagging import tags_mentioned
from kb.domain import KINDS, OUTCOMES, SearchFilters
from kb.errors import BadFieldError
from kb.gaps import GapQueue
from kb.insights import Insights
from kb.workspace import Workspace
from kb.sources import document_labels
from search.query import MAX_QUERY_CHARS
from search.gap_check import note_search
from search.searcher import MAX_K, Results
from web.auth import can_read, current_user
from web.deps import WorkspaceDep, search_slot
from web.i18n import language, translate
from web.taxonomy import tag_label, taxonomy
from web.templating import render

router = APIRouter()

PAGE_SIZE = 10
MAX_PAGE = MAX_K // PAGE_SIZE  # the searcher returns at most MAX_K lessons
SUGGESTED_TAGS = 8
FILTER_NAMES = ("kind", "outcome", "industry", "tag", "source")


def search_filters(
    workspace: WorkspaceDep,
    kind: str | None = Query(None, max_length=20, description="playbook or review"),
    outcome: str | None = Query(None, max_length=20, description="win, loss, no-decision or unknown"),
    industry: str | None = Query(None, max_length=200),
    tag: str | None = Query(None, max_length=200, description="a tag id of the taxonomy"),
    source: str | None = Query(None, max_length=500, description="a document id, path or part of the path"),
) -> SearchFilters:
    """The filters of a search request; an empty parameter (an untouched select) means no filter."""
    filters = SearchFilters(
        **{name: (value or "").strip() or None for name, value in zip(FILTER_NAMES, (kind, outcome, industry, tag, source))}
    )
    if filters.kind and filters.kind not in KINDS:
        raise BadFieldError("kind", f"must be one of {', '.join(KINDS)}")
    if filters.outcome and filters.outcome not in OUTCOMES:
        raise BadFieldError("outcome", f"must be one of {', '.join(OUTCOMES)}")
    return workspace.facets.canonical_filters(filters)


def _log(request: Request, workspace: Workspace, query: str, results: Results, shown: int) -> None:
    """Log the search (``shown``: how many results the reader got) and feed it to the gap queue.

    The routes run it after the response is sent: the reader does not wait for the log's writes.
    """
    gap_id = note_search(GapQueue(workspace.catalog), workspace.searcher, query, results, current_user(request))
    top = results[0] if results else None
    Insights(workspace.catalog).log_query(
        query,
        min(len(results), shown),
        top.similarity if top else None,
        weak=results.weak,
        top_stale=top.stale if top else None,
        gap_id=gap_id,
    )


@router.get("/api/search", dependencies=[Depends(can_read)], tags=["search"])
def api_search(
    request: Request,
    workspace: WorkspaceDep,
    background: BackgroundTasks,
    q: str = Query(..., description=f"the question, at most {MAX_QUERY_CHARS} characters"),
    k: int = Query(10, ge=1, le=MAX_K, description="number of lessons"),
    filters: SearchFilters = Depends(search_filters),
):
    """Best lessons for ``q``: ``{"results": [...]}``, each item as one result line of `kb search --jsonl`."""
    with search_slot(request):
        results = workspace.searcher.search(q, k=k, filters=filters)
    background.add_task(_log, request, workspace, q, results, k)
    # Plain JSON already: a JSONResponse spares FastAPI's walk over every value of the results.
    return JSONResponse({"weak": results.weak, "off_subject": results.off_subject, "results": [result.to_json() for result in results]})


@router.get("/", dependencies=[Depends(can_read)], include_in_schema=False)
def search_page(
    request: Request,
    workspace: WorkspaceDep,
    background: BackgroundTasks,
    q: str = "",
    page: int = Query(1, ge=1, le=MAX_PAGE),
    filters: SearchFilters = Depends(search_filters),
):
    lang = language(request)
    tags = taxonomy(request)
    sources = document_labels(workspace.catalog.list_documents())
    context = {
        "q": q,
        "filters": filters,
        "page": page,
        "max_query_chars": MAX_QUERY_CHARS,
        "options": {  # (value, label) of each filter's select
            "kind": [(kind, translate(f"kind.{kind}", lang)) for kind in KINDS],
            "outcome": [(outcome, translate(f"outcome.{outcome}", lang)) for outcome in OUTCOMES],
            "industry": [(industry, workspace.facets.label("industry", industry, lang)) for industry in workspace.catalog.industries()],
            "tag": [(tag.id, tag_label(tag, lang)) for tag in tags],
            "source": sorted(((document_id, label) for document_id, label in sources.items()), key=lambda option: option[1]),
        },
        "sources": sources,
        "lesson_sources": {},  # lesson id → its document's label, for the shown results
        "total": 0,
        "back": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        "tag_label": {tag.id: tag_label(tag, lang) for tag in tags},
        "results": None,  # a search was run: the page of results
        "lessons": None,  # no question but filters: the lessons they match
        "too_long": False,
        "weak": False,  # the search found nothing that really matches: the results are only the nearest lessons
        "off_subject": False,  # weak only because the best lesson's document is about something else
        "suggested_tags": [],
        "prev_url": None,
        "next_url": None,
    }
    start, end = (page - 1) * PAGE_SIZE, page * PAGE_SIZE
    more = False
    if q.strip():
        try:
            with search_slot(request):
                response = workspace.searcher.search(q, k=MAX_K, filters=filters)
        except BadFieldError:  # the only thing a non-empty question can get wrong is its length
            context["too_long"] = True
            return render(request, "search.html", context, status_code=422)
        found = list(response)
        context["weak"] = response.weak  # even the best answers are weak: they are shown as the nearest lessons
        context["off_subject"] = response.off_subject
        if page == 1:  # later pages repeat a question already logged; the count is what the first page shows
            background.add_task(_log, request, workspace, q, response, PAGE_SIZE)
        context["results"], context["total"] = found[start:end], len(found)
        # Weak answers are shown as the nearest lessons on one page, not as pages of confident results.
        more = len(found) > end and not context["weak"]
        lessons = workspace.catalog.get_lessons([result.lesson_id for result in context["results"]])
        context["lesson_sources"] = {lid: sources.get(lesson.document_id, lesson.source) for lid, lesson in lessons.items()}
        if not found:
            context["suggested_tags"] = [tag.id for tag in tags_mentioned(tags, q)][:SUGGESTED_TAGS]
    elif not filters.is_empty():
        lessons = list(islice(workspace.catalog.iter_lessons(filters, archived=False), start, end + 1))
        context["lessons"], more = lessons[:PAGE_SIZE], len(lessons) > PAGE_SIZE
        context["lesson_sources"] = {lesson.id: sources.get(lesson.document_id, lesson.source) for lesson in lessons}
    if not context["results"] and not context["lessons"] and not context["suggested_tags"]:
        # Nothing found, or nothing asked yet: the most common topics are a place to start.
        common = workspace.catalog.count_by("tag")
        context["suggested_tags"] = [tag_id for tag_id in common if tag_id in context["tag_label"]][:SUGGESTED_TAGS]
    query = {name: value for name, value in [("q", q.strip()), *((name, getattr(filters, name)) for name in FILTER_NAMES)] if value}
    if page > 1:
        context["prev_url"] = "/?" + urlencode({**query, "page": page - 1})
    if more and page < MAX_PAGE:
        context["next_url"] = "/?" + urlencode({**query, "page": page + 1})
    return render(request, "search.html", context)
