"""One lesson: `GET /lessons/{id}` (the page, with related lessons) and `GET /api/lessons/{id}`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from ingest.tagging import FACET_SECTIONS, Facets
from kb.accounts import User
from kb.catalog import Catalog
from kb.domain import REVIEW_FIELDS, Lesson
from kb.errors import NotFoundError
from kb.lesson_sets import LessonSets
from kb.sources import document_labels
from search.similar import SimilarLessons
from web.auth import can_read, current_user, require
from web.deps import CatalogDep, SearcherDep, WorkspaceDep
from web.i18n import language
from web.routes.login import _safe_next
from web.taxonomy import tag_labels
from web.templating import render

router = APIRouter()

RELATED = 5


def _lesson(catalog: Catalog, lesson_id: str) -> Lesson:
    lesson = catalog.get_lesson(lesson_id)
    if lesson is None:
        raise NotFoundError(f"no lesson {lesson_id}")
    return lesson


@router.get("/api/lessons/{lesson_id}", dependencies=[Depends(can_read)], tags=["lessons"])
def api_lesson(lesson_id: str, catalog: CatalogDep, searcher: SearcherDep):
    """The lesson with its fields, and lessons of other documents that say something like it (``related``)."""
    lesson = _lesson(catalog, lesson_id)
    related = SimilarLessons(searcher).suggest(lesson, RELATED)
    return {
        "id": lesson.id,
        "title": lesson.title,
        "body": lesson.body,
        "heading_path": list(lesson.heading_path),
        "source": lesson.source,
        "kind": lesson.kind,
        "tags": lesson.tags,
        "fields": lesson.fields,
        "document_id": lesson.document_id,
        "related": [suggestion.to_json() for suggestion in related],
    }


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
