"""One lesson and its lifecycle: `GET /lessons/{id}` (the page, with related lessons), `GET /api/lessons/{id}`,
verifying, archiving and reassigning it (API and plain forms), and the queue of lessons to verify (`/verify`,
`GET /api/lessons?due=1`)."""

from __future__ import annotations

from itertools import groupby
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict

from ingest.tagging import FACET_SECTIONS, Facets
from kb.accounts import Accounts, User
from kb.catalog import Catalog
from kb.domain import DUE_SOON_DAYS, REVIEW_FIELDS, Lesson
from kb.errors import NotFoundError
from kb.lesson_sets import LessonSets
from kb.lifecycle import MAX_WITHIN_DAYS, LessonLifecycle, lesson_json, may_reassign, may_verify
from kb.sources import document_labels
from search.similar import SimilarLessons
from web.auth import can_read, current_user, require
from web.deps import CatalogDep, SearcherDep, WorkspaceDep, get_workspace
from web.i18n import language
from web.routes.login import _safe_next
from web.taxonomy import tag_labels
from web.templating import render

router = APIRouter()

RELATED = 5
QUEUE_PAGE = 50
# The windows the /verify page offers (days ahead of the verify-by date).
QUEUE_WINDOWS = (0, 14, 30, 90)
signed_in = require("reader")


def _lesson(catalog: Catalog, lesson_id: str) -> Lesson:
    lesson = catalog.get_lesson(lesson_id)
    if lesson is None:
        raise NotFoundError(f"no lesson {lesson_id}")
    return lesson


def _lifecycle(request: Request) -> LessonLifecycle:
    workspace = get_workspace(request)
    return LessonLifecycle(workspace.catalog, workspace.settings)


# --- API ------------------------------------------------------------------------------------


class LessonPatch(BaseModel):
    """What trainers change: any of these; ``owner`` null (or "") leaves the lesson to nobody."""

    model_config = ConfigDict(extra="forbid")
    owner: str | None = None
    verify_by: str | None = None
    archived: bool | None = None


@router.get("/api/lessons", tags=["lessons"])
def api_lessons(
    request: Request,
    user: User = Depends(signed_in),
    due: bool = Query(False, description="only the lessons due for verification or to re-check (archived ones left out)"),
    within: int = Query(DUE_SOON_DAYS, ge=0, le=MAX_WITHIN_DAYS, description="with due: days ahead of the verify-by date"),
    owner: str | None = Query(None, max_length=64, description="one owner's lessons (trainers; others always get their own)"),
    unowned: bool = Query(False, description="only lessons nobody owns (trainers)"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=1_000_000),
):
    """Lessons with their lifecycle, by owner (the unowned last), oldest verify-by first: a trainer's are everyone's,
    anyone else's their own. ``more`` says whether another page follows."""
    lessons = _lifecycle(request).queue(user, due=due, within_days=within, owner=owner, unowned=unowned, limit=limit + 1, offset=offset)
    return {"lessons": [lesson_json(lesson) for lesson in lessons[:limit]], "more": len(lessons) > limit}


@router.get("/api/lessons/{lesson_id}", dependencies=[Depends(can_read)], tags=["lessons"])
def api_lesson(lesson_id: str, catalog: CatalogDep, searcher: SearcherDep):
    """The lesson with its fields and lifecycle (``stale``, ``owner``, ``verify_by``…), and lessons of other
    documents that say something like it (``related``)."""
    lesson = _lesson(catalog, lesson_id)
    related = SimilarLessons(searcher).suggest(lesson, RELATED)
    return {**lesson_json(lesson), "fields": lesson.fields, "related": [suggestion.to_json() for suggestion in related]}


@router.patch("/api/lessons/{lesson_id}", tags=["lessons"])
def api_update_lesson(request: Request, lesson_id: str, body: LessonPatch, user: User = Depends(signed_in)):
    """Give the lesson another owner or verify-by date (YYYY-MM-DD), or archive or restore it: trainers and admins."""
    return lesson_json(_lifecycle(request).update(lesson_id, user, body.model_dump(include=body.model_fields_set)))


@router.post("/api/lessons/{lesson_id}/verify", tags=["lessons"])
def api_verify_lesson(request: Request, lesson_id: str, user: User = Depends(signed_in)):
    """Verify the lesson (its owner, trainers, admins): verified now, in date for KB_VERIFY_DAYS more."""
    return lesson_json(_lifecycle(request).verify(lesson_id, user))


@router.post("/api/lessons/{lesson_id}/archive", tags=["lessons"])
def api_archive_lesson(request: Request, lesson_id: str, user: User = Depends(signed_in)):
    """Take the lesson out of search; it is kept and can be restored (its owner, trainers, admins)."""
    return lesson_json(_lifecycle(request).set_archived(lesson_id, user, True))


@router.post("/api/lessons/{lesson_id}/restore", tags=["lessons"])
def api_restore_lesson(request: Request, lesson_id: str, user: User = Depends(signed_in)):
    """Bring an archived lesson back into search (its owner, trainers, admins)."""
    return lesson_json(_lifecycle(request).set_archived(lesson_id, user, False))


# --- pages ----------------------------------------------------------------------------------


@router.get("/lessons/{lesson_id}", dependencies=[Depends(can_read)], include_in_schema=False)
def lesson_page(request: Request, workspace: WorkspaceDep, lesson_id: str, back: str = ""):
    """``back`` is the search the reader came from (a local URL): the page links back to it."""
    lesson = _lesson(workspace.catalog, lesson_id)
    user = current_user(request)
    lang = language(request)
    shown = [name for name in REVIEW_FIELDS if name in lesson.fields and name != "currency"]
    review_fields = [(name, _label(workspace.facets, name, lesson.fields[name], lang)) for name in shown]
    return render(
        request,
        "lesson.html",
        {
            "lesson": lesson,
            "document": workspace.catalog.get_document(lesson.document_id),
            "review_fields": review_fields,
            "related": SimilarLessons(workspace.searcher).suggest(lesson, RELATED),
            "sources": document_labels(workspace.catalog.list_documents()),
            "back": back if back and _safe_next(back) == back else None,
            "tag_label": tag_labels(request, lang),
            "sets": LessonSets(workspace.catalog).list() if user and user.can("trainer") else [],
            "may_verify": user is not None and may_verify(user, lesson),
            "accounts": Accounts(workspace.catalog).list_users() if user and may_reassign(user) else [],
        },
    )


def _label(facets: Facets, name: str, value: object, lang: str) -> object:
    """A review field as shown: industries and stages are taxonomy facets, named in the reader's language."""
    return facets.label(name, value, lang) if name in FACET_SECTIONS and isinstance(value, str) else value


@router.post("/lessons/{lesson_id}/sets", include_in_schema=False)
def add_to_set(lesson_id: str, set_id: int = Form(...), _: User = Depends(require("trainer"))):
    """The lesson page's "add to set" form picks the set in a select, which a plain form cannot put in its
    action URL: pass the same POST (307 keeps method and body, CSRF token included) to the set's items route."""
    return RedirectResponse(f"/sets/{set_id}/items", status_code=307)


def _back(next: str, lesson_id: str) -> RedirectResponse:
    """To ``next`` when it is a local path (the queue the form was on), else to the lesson's page."""
    return RedirectResponse(next if next and _safe_next(next) == next else f"/lessons/{lesson_id}", status_code=303)


@router.post("/lessons/{lesson_id}/verify", include_in_schema=False)
def verify_form(request: Request, lesson_id: str, next: str = Form(""), user: User = Depends(signed_in)):
    _lifecycle(request).verify(lesson_id, user)
    return _back(next, lesson_id)


@router.post("/lessons/{lesson_id}/archive", include_in_schema=False)
def archive_form(request: Request, lesson_id: str, next: str = Form(""), user: User = Depends(signed_in)):
    _lifecycle(request).set_archived(lesson_id, user, True)
    return _back(next, lesson_id)


@router.post("/lessons/{lesson_id}/restore", include_in_schema=False)
def restore_form(request: Request, lesson_id: str, next: str = Form(""), user: User = Depends(signed_in)):
    _lifecycle(request).set_archived(lesson_id, user, False)
    return _back(next, lesson_id)


@router.post("/lessons/{lesson_id}/lifecycle", include_in_schema=False)
def reassign_form(
    request: Request, lesson_id: str, owner: str = Form(""), verify_by: str = Form(""), user: User = Depends(signed_in)
):
    """The lesson page's form for trainers: owner (blank: nobody) and verify-by date."""
    _lifecycle(request).update(lesson_id, user, {"owner": owner, "verify_by": verify_by})
    return _back("", lesson_id)


@router.get("/verify", include_in_schema=False)
def verify_page(
    request: Request,
    within: int = Query(DUE_SOON_DAYS, ge=0, le=MAX_WITHIN_DAYS),
    page: int = Query(1, ge=1, le=10_000),
    user: User = Depends(signed_in),
):
    """The lessons due for verification or to re-check, by owner, oldest first, each with a verify button:
    everyone's for trainers, one's own for others."""
    workspace = get_workspace(request)
    start = (page - 1) * QUEUE_PAGE
    lessons = _lifecycle(request).queue(user, within_days=within, limit=QUEUE_PAGE + 1, offset=start)
    shown = lessons[:QUEUE_PAGE]
    here = {"within": within, **({"page": page} if page > 1 else {})}
    return render(
        request,
        "verify.html",
        {
            "groups": [(owner, list(items)) for owner, items in groupby(shown, key=lambda lesson: lesson.lifecycle.owner)],
            "count": len(shown),
            "within": within,
            "windows": sorted({*QUEUE_WINDOWS, within}),
            "everyone": user.can("trainer"),
            "sources": document_labels(workspace.catalog.list_documents()),
            "here": "/verify?" + urlencode(here),
            "prev_url": "/verify?" + urlencode({"within": within, "page": page - 1}) if page > 1 else None,
            "next_url": "/verify?" + urlencode({"within": within, "page": page + 1}) if len(lessons) > QUEUE_PAGE else None,
        },
    )
