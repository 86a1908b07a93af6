"""Win/loss reviews: the quick form, the review page with "learned before" lessons, editing, and the API.

Every save goes validate → Markdown file under reviews_dir → synchronous ingest, so the review is
searchable when the response is sent (ingest/reviews.py does the work; these handlers only adapt).
"""

from __future__ import annotations

from dataclasses import fields as dataclass_fields

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from ingest.reviews import (
    LONG_FIELD_CHARS,
    MAX_LESSONS,
    DuplicateReviewError,
    SHORT_FIELD_CHARS,
    ReviewInput,
    ReviewValidationError,
    confirm_drivers,
    editable_review_path,
    read_review,
    submit_review,
    update_review,
)
from kb.accounts import User
from kb.domain import OUTCOMES, REQUIRED_REVIEW_FIELDS, Document
from kb.drivers import Drivers, ReviewLesson
from kb.errors import NotFoundError, Problem
from kb.sources import document_labels
from search.recheck import mark_restated
from search.similar import SimilarLessons
from web.auth import can_read, current_user, require
from web.deps import get_workspace, recheck_gaps_after
from web.i18n import field_error, language
from web.taxonomy import tag_labels
from web.templating import render

router = APIRouter()

# The form has one field per ReviewInput field, in the same order; drivers are confirmed on the review's page.
FORM_FIELDS = tuple(field.name for field in dataclass_fields(ReviewInput) if field.name != "drivers")
CURRENCIES = ("CNY", "USD", "EUR", "HKD", "JPY", "GBP")
SIMILAR_PER_LESSON = 3


# --- helpers --------------------------------------------------------------------------------


async def review_form(request: Request) -> dict[str, str]:
    """The review fields of a submitted form, as typed (kept for re-display on errors)."""
    form = await request.form()
    return {name: str(form.get(name) or "") for name in FORM_FIELDS}


def _review_document(request: Request, document_id: str) -> Document:
    document = get_workspace(request).catalog.get_document(document_id)
    if document is None or document.kind != "review":
        raise NotFoundError(f"no review {document_id}")
    return document


def _may_edit(request: Request, user: User | None, document: Document) -> bool:
    """Only the author of a review submitted through kb, and admins, may edit it."""
    if user is None or not user.can("rep"):
        return False
    if editable_review_path(document.path, request.app.state.settings.reviews_dir) is None:
        return False
    return user.can("admin") or get_workspace(request).catalog.review_author(document.id) == user.id


def _editable_path(request: Request, user: User, document: Document) -> Path:
    if not _may_edit(request, user, document):
        raise HTTPException(status_code=403, detail="only the author of this review (or an admin) may edit it")
    return editable_review_path(document.path, request.app.state.settings.reviews_dir)  # type: ignore[return-value]


def _stored_fields(request: Request, document: Document) -> dict[str, Any]:
    """The review's fields: read back from its Markdown file, else from the catalog's front matter."""
    path = Path(document.path)
    if path.suffix == ".md" and path.is_file():
        return read_review(path)
    meta = document.metadata
    return {
        "outcome": str(meta.get("outcome") or ""),
        "customer": str(meta.get("customer") or ""),
        "title": document.title,
        "summary": document.summary,
        **{name: meta.get(name) or "" for name in ("industry", "region", "deal_size", "currency", "stage", "author")},
        "competitors": meta.get("competitors") or [],
        "close_date": str(meta.get("date") or ""),
    }


def _form_values(fields: dict[str, Any]) -> dict[str, str]:
    """Stored fields as the strings the form shows."""
    values = {name: "" if fields.get(name) is None else str(fields.get(name)) for name in FORM_FIELDS}
    if isinstance(fields.get("lessons"), list):
        values["lessons"] = "\n".join(fields["lessons"])
    if isinstance(fields.get("competitors"), list):
        values["competitors"] = ", ".join(fields["competitors"])
    return values


def _similar_lessons(request: Request, document_id: str) -> list[dict[str, Any]]:
    """Each lesson of the review with what other documents taught before ("learned before")."""
    workspace = get_workspace(request)
    similar = SimilarLessons(workspace.searcher)
    return [
        {"lesson": lesson, "similar": similar.suggest(lesson, SIMILAR_PER_LESSON)}
        for lesson in workspace.catalog.lessons_of_document(document_id)
    ]


def _review_drivers(request: Request, document_id: str) -> dict[str, ReviewLesson]:
    """Lesson id → its win/loss drivers, for the lessons of the review's lessons-learned list."""
    return Drivers(get_workspace(request).catalog).of_document(document_id)


def _lessons_json(request: Request, document_id: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    drivers = _review_drivers(request, document_id)
    lessons = []
    for entry in entries:
        lesson = entry["lesson"]
        item = {"lesson_id": lesson.id, "title": lesson.title, "similar": [s.to_json() for s in entry["similar"]]}
        if lesson.id in drivers:
            item |= {"drivers": list(drivers[lesson.id].drivers), "drivers_confirmed": drivers[lesson.id].confirmed}
        lessons.append(item)
    return lessons


def _duplicate_json(exc: DuplicateReviewError) -> JSONResponse:
    """409 in the app's error shape, with where the first copy lives."""
    url = f"/reviews/{exc.document_id}"
    error = {"status": 409, "code": exc.code, "message": str(exc), "fields": {}, "field_codes": {}, "document_id": exc.document_id, "url": url}
    return JSONResponse({"error": error}, status_code=409, headers={"Location": url})


def _review_json(request: Request, document: Document) -> dict[str, Any]:
    fields = _stored_fields(request, document)
    return {
        "document_id": document.id,
        "title": document.title,
        "author": fields.pop("author", "") or None,
        "review": fields,
        "lessons": _lessons_json(request, document.id, _similar_lessons(request, document.id)),
    }


def _render_form(
    request: Request,
    *,
    values: dict[str, str],
    errors: dict[str, Problem] | None = None,
    document: Document | None = None,
    duplicate_of: str | None = None,
    status_code: int = 200,
):
    lang = language(request)
    errors = {name: field_error(problem, lang) for name, problem in (errors or {}).items()}
    optional = [name for name in FORM_FIELDS if name not in REQUIRED_REVIEW_FIELDS]
    facets = get_workspace(request).facets
    # Stages and industries are the taxonomy's, stored by their Chinese name like the corpus; labels follow the language.
    stages = [(facet.name, facet.label(lang)) for facet in facets.entries.get("stage", [])]
    if values.get("stage") and values["stage"] not in {value for value, _ in stages}:
        stages.append((values["stage"], values["stage"]))  # a stage typed elsewhere (a corpus file, the API) is kept
    currencies = list(CURRENCIES)
    if values.get("currency") and values["currency"] not in currencies:
        currencies.append(values["currency"])
    context = {
        "values": values,
        "errors": errors,
        "document": document,
        "action": f"/reviews/{document.id}/edit" if document else "/reviews",
        "outcomes": OUTCOMES,
        "stages": stages,
        "currencies": currencies,
        "industries": [facet.name for facet in facets.entries.get("industry", [])],
        "duplicate_of": duplicate_of,
        "open_details": any(values.get(name) for name in optional) or any(name in errors for name in optional),
        "short_chars": SHORT_FIELD_CHARS,
        "long_chars": LONG_FIELD_CHARS,
    }
    return render(request, "review_form.html", context, status_code=status_code)


# --- pages ----------------------------------------------------------------------------------


@router.get("/reviews/new")
def new_review_page(request: Request, user: User = Depends(require("rep"))):
    return _render_form(request, values={name: "" for name in FORM_FIELDS})


@router.post("/reviews", dependencies=[Depends(recheck_gaps_after)])
def create_review(request: Request, user: User = Depends(require("rep")), values: dict[str, str] = Depends(review_form)):
    settings = request.app.state.settings
    try:
        document_id = submit_review(
            values, get_workspace(request).ingestor, settings.reviews_dir, author=user.name
        )
    except ReviewValidationError as exc:
        return _render_form(request, values=values, errors=exc.errors, status_code=422)
    except DuplicateReviewError as exc:
        return _render_form(request, values=values, duplicate_of=exc.document_id, status_code=409)
    mark_restated(get_workspace(request).searcher, document_id)
    return RedirectResponse(f"/reviews/{document_id}?submitted=1", status_code=303)


@router.get("/reviews/{document_id}", dependencies=[Depends(can_read)])
def review_page(request: Request, document_id: str, submitted: bool = False, saved: bool = False, drivers_saved: bool = False):
    document = _review_document(request, document_id)
    fields = _stored_fields(request, document)
    facets = get_workspace(request).facets
    stage = str(fields.get("stage") or "")
    context = {
        "document": document,
        "fields": fields,
        "stage_label": facets.label("stage", facets.canonical("stage", stage) or "", language(request)),
        "entries": _similar_lessons(request, document.id),
        "sources": document_labels(get_workspace(request).catalog.list_documents()),
        "can_edit": _may_edit(request, current_user(request), document),
        "tag_names": tag_labels(request, language(request)),
        "drivers": _review_drivers(request, document.id),
        "driver_names": tag_labels(request, language(request), "drivers"),
        "submitted": submitted,
        "saved": saved,
        "drivers_saved": drivers_saved,
    }
    return render(request, "review.html", context)


@router.get("/reviews/{document_id}/edit")
def edit_review_page(request: Request, document_id: str, user: User = Depends(require("rep"))):
    document = _review_document(request, document_id)
    path = _editable_path(request, user, document)
    return _render_form(request, values=_form_values(read_review(path)), document=document)


@router.post("/reviews/{document_id}/edit", dependencies=[Depends(recheck_gaps_after)])
def save_review(
    request: Request, document_id: str, user: User = Depends(require("rep")), values: dict[str, str] = Depends(review_form)
):
    document = _review_document(request, document_id)
    path = _editable_path(request, user, document)
    try:
        update_review(values, get_workspace(request).ingestor, path)
    except ReviewValidationError as exc:
        return _render_form(request, values=values, errors=exc.errors, document=document, status_code=422)
    mark_restated(get_workspace(request).searcher, document_id)
    return RedirectResponse(f"/reviews/{document_id}?saved=1", status_code=303)


async def driver_form(request: Request) -> dict[str, list[str]]:
    """The checked drivers of a submitted form: ``drivers-<n>`` per lesson (n counts the lessons from 0)."""
    form = await request.form()
    return {key: [str(value) for value in form.getlist(key)] for key in form.keys() if key.startswith("drivers-")}


@router.post("/reviews/{document_id}/drivers")
def save_review_drivers(
    request: Request, document_id: str, user: User = Depends(require("rep")), checked: dict[str, list[str]] = Depends(driver_form)
):
    """The rep confirms the drivers of each lesson; a lesson left without a checked box has none."""
    document = _review_document(request, document_id)
    path = _editable_path(request, user, document)
    count = len(read_review(path)["lessons"])
    confirm_drivers([checked.get(f"drivers-{index}", []) for index in range(count)], get_workspace(request).ingestor, path)
    return RedirectResponse(f"/reviews/{document_id}?drivers_saved=1#drivers", status_code=303)


# --- API ------------------------------------------------------------------------------------

_REVIEW_EXAMPLE = {
    "outcome": "loss",
    "customer": "华东某城商行",
    "lessons": ["预算要在方案阶段就摸清楚", "技术领先不等于赢单"],
    "competitors": "某国内厂商C, 某国内厂商D",
    "deal_size": 5800000,
    "currency": "CNY",
}


@router.post("/api/reviews", status_code=201, dependencies=[Depends(recheck_gaps_after)])
def api_create_review(
    request: Request,
    payload: dict[str, Any] = Body(..., examples=[_REVIEW_EXAMPLE]),
    user: User = Depends(require("rep")),
):
    """Submit a review (the form's field names; `lessons` a list or one lesson per line). Searchable on return.
    The same review (customer and lessons) submitted again by its author is refused with 409 and the first's URL."""
    settings = request.app.state.settings
    try:
        document_id = submit_review(payload, get_workspace(request).ingestor, settings.reviews_dir, author=user.name)
    except DuplicateReviewError as exc:
        return _duplicate_json(exc)
    mark_restated(get_workspace(request).searcher, document_id)
    document = _review_document(request, document_id)
    lessons = _lessons_json(request, document.id, _similar_lessons(request, document.id))
    body = {"document_id": document.id, "title": document.title, "lessons": lessons}
    return JSONResponse(body, status_code=201)


@router.get("/api/reviews/{document_id}", dependencies=[Depends(can_read)])
def api_get_review(request: Request, document_id: str):
    """A review's fields (as PUT takes them), its author, and its lessons with similar earlier lessons."""
    return _review_json(request, _review_document(request, document_id))


@router.put("/api/reviews/{document_id}", dependencies=[Depends(recheck_gaps_after)])
def api_update_review(
    request: Request,
    document_id: str,
    payload: dict[str, Any] = Body(..., examples=[_REVIEW_EXAMPLE]),
    user: User = Depends(require("rep")),
):
    """Replace a review's fields (author or admin); unchanged lessons keep their ids."""
    document = _review_document(request, document_id)
    update_review(payload, get_workspace(request).ingestor, _editable_path(request, user, document))
    mark_restated(get_workspace(request).searcher, document_id)
    return _review_json(request, _review_document(request, document_id))


class DriverConfirmation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    drivers: list[list[str] | None] = Field(
        ..., max_length=MAX_LESSONS, description="one entry per lesson of the review, in order: driver ids (the taxonomy's), or null to keep kb's suggestion"
    )


@router.put("/api/reviews/{document_id}/drivers")
def api_confirm_drivers(request: Request, document_id: str, body: DriverConfirmation = Body(...), user: User = Depends(require("rep"))):
    """The rep (the review's author, or an admin) confirms the win/loss drivers of each lesson."""
    document = _review_document(request, document_id)
    confirm_drivers(body.drivers, get_workspace(request).ingestor, _editable_path(request, user, document))
    return _review_json(request, _review_document(request, document_id))
