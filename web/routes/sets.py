"""Lesson sets: trainers curate ordered, annotated lists of lessons; everyone who can read sees them.

Pages work with plain forms (move up/down instead of drag and drop); the API does the same in JSON.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict

from kb.accounts import User
from kb.domain import MAX_K, Lesson
from kb.errors import BadFieldError, NotFoundError
from kb.lesson_sets import MAX_TEXT_CHARS, MAX_TITLE_CHARS, LessonSet, export_markdown
from kb.sources import document_labels
from search.query import MAX_QUERY_CHARS
from web.auth import can_read, current_user, require
from web.deps import CatalogDep, LessonSetsDep, get_lesson_sets, get_workspace
from web.i18n import field_error, language, translate
from web.routes.login import _safe_next
from web.templating import render

router = APIRouter()

_LESSON_LINK = re.compile(r"/lessons/([0-9A-Za-z_-]+)")
SET_SEARCH_PAGE = 10


def _lesson_id(raw: str) -> str:
    """A lesson id, or the id inside a pasted lesson link (…/lessons/<id>)."""
    raw = (raw or "").strip()
    match = _LESSON_LINK.search(raw)
    return match.group(1) if match else raw


def _errors(request: Request, exc: BadFieldError) -> dict[str, str]:
    return {exc.field: field_error(exc.problem, language(request))}


def _render_sets(request: Request, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None, status_code: int = 200):
    context = {
        "sets": get_lesson_sets(request).list(),
        "values": values or {"title": "", "audience": "", "description": ""},
        "errors": errors or {},
        "can_edit": _is_trainer(request),
        "title_chars": MAX_TITLE_CHARS,
        "text_chars": MAX_TEXT_CHARS,
    }
    return render(request, "sets.html", context, status_code=status_code)


def _render_set(
    request: Request,
    lesson_set: LessonSet,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    item_errors: dict[str, str] | None = None,
    item_values: dict[str, str] | None = None,
    q: str = "",
    page: int = 1,
    done: str | None = None,
    status_code: int = 200,
):
    workspace = get_workspace(request)
    matches, more = _matches(request, q, lesson_set, page) if q.strip() and _is_trainer(request) else (None, False)
    pages = {"prev_url": None, "next_url": None}
    if page > 1:
        pages["prev_url"] = f"/sets/{lesson_set.id}?" + urlencode({"q": q, "page": page - 1}) + "#find"
    if more:
        pages["next_url"] = f"/sets/{lesson_set.id}?" + urlencode({"q": q, "page": page + 1}) + "#find"
    context = {
        "set": lesson_set,
        "q": q,
        "matches": matches,
        **pages,
        "done": done,
        "sources": document_labels(workspace.catalog.list_documents()),
        "max_query_chars": MAX_QUERY_CHARS,
        "can_edit": _is_trainer(request),
        "errors": errors or {},
        "values": values
        or {"title": lesson_set.title, "audience": lesson_set.audience, "description": lesson_set.description},
        "item_errors": item_errors or {},
        "item_values": item_values or {},
        "title_chars": MAX_TITLE_CHARS,
        "text_chars": MAX_TEXT_CHARS,
    }
    return render(request, "set.html", context, status_code=status_code)


def _matches(request: Request, q: str, lesson_set: LessonSet, page: int) -> tuple[list[Lesson], bool]:
    """One page of what the main search finds for a trainer's question, less the set's own lessons; and
    whether more pages follow."""
    try:
        response = get_workspace(request).searcher.search(q, k=MAX_K)
    except BadFieldError:  # too long: the page says nothing matched rather than failing
        return [], False
    in_set = {item.lesson_id for item in lesson_set.items}
    found = [result.lesson_id for result in response if result.lesson_id not in in_set]
    start = (page - 1) * SET_SEARCH_PAGE
    shown = found[start : start + SET_SEARCH_PAGE]
    lessons = get_workspace(request).catalog.get_lessons(shown)
    return [lessons[one] for one in shown if one in lessons], len(found) > start + SET_SEARCH_PAGE


def _confirmation(request: Request, lesson_set: LessonSet) -> str | None:
    """What the last change did, from the redirect's query (?added=…, ?moved=…, ?noted=…, ?removed=…)."""
    lang = language(request)
    params = request.query_params
    catalog = get_workspace(request).catalog
    for action in ("added", "moved", "noted", "removed"):
        ids = params.getlist(action)
        if not ids:
            continue
        found = catalog.get_lessons(ids)
        titles = [found[one].title for one in ids if one in found]
        if not titles:
            return None
        message = translate(f"set.done.{action}", lang).format(n=len(titles), titles=("、" if lang == "zh" else ", ").join(f"“{t}”" for t in titles))
        if action == "moved":
            position = next((item.position + 1 for item in lesson_set.items if item.lesson_id == ids[0]), None)
            message += translate("set.done.position", lang).format(n=position) if position else ""
        return message
    return None


def _is_trainer(request: Request) -> bool:
    user = current_user(request)
    return user is not None and user.can("trainer")


def _back_to(set_id: int, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"/sets/{set_id}{anchor}", status_code=303)


# --- pages ----------------------------------------------------------------------------------


@router.get("/sets", dependencies=[Depends(can_read)])
def sets_page(request: Request):
    return _render_sets(request)


@router.post("/sets")
def create_set(
    request: Request,
    sets: LessonSetsDep,
    user: User = Depends(require("trainer")),
    title: str = Form(""),
    audience: str = Form(""),
    description: str = Form(""),
):
    try:
        lesson_set = sets.create(title, audience, description, owner_id=user.id)
    except BadFieldError as exc:
        values = {"title": title, "audience": audience, "description": description}
        return _render_sets(request, values=values, errors=_errors(request, exc), status_code=422)
    return _back_to(lesson_set.id)


@router.get("/sets/{set_id}", dependencies=[Depends(can_read)])
def set_page(request: Request, sets: LessonSetsDep, set_id: int, q: str = "", page: int = Query(1, ge=1, le=MAX_K // SET_SEARCH_PAGE)):
    """The set; for trainers, ``q`` lists (paged) what the main search finds but the set lacks, with add buttons."""
    lesson_set = sets.get(set_id)
    return _render_set(request, lesson_set, q=q, page=page, done=_confirmation(request, lesson_set))


@router.get("/sets/{set_id}/print", dependencies=[Depends(can_read)])
def set_print_page(request: Request, sets: LessonSetsDep, set_id: int):
    sources = document_labels(get_workspace(request).catalog.list_documents())
    return render(request, "set_print.html", {"set": sets.get(set_id), "sources": sources})


@router.get("/sets/{set_id}/export.md", dependencies=[Depends(can_read)])
def export_set(sets: LessonSetsDep, catalog: CatalogDep, set_id: int):
    lesson_set = sets.get(set_id)
    filename = f"{lesson_set.title}.md"
    disposition = f"attachment; filename=\"lesson-set-{set_id}.md\"; filename*=UTF-8''{quote(filename)}"
    return Response(
        export_markdown(lesson_set, document_labels(catalog.list_documents())), media_type="text/markdown; charset=utf-8", headers={"Content-Disposition": disposition}
    )


@router.post("/sets/{set_id}/edit", dependencies=[Depends(require("trainer"))])
def edit_set(request: Request, sets: LessonSetsDep, set_id: int, title: str = Form(""), audience: str = Form(""), description: str = Form("")):
    try:
        sets.update(set_id, title=title, audience=audience, description=description)
    except BadFieldError as exc:
        values = {"title": title, "audience": audience, "description": description}
        return _render_set(request, sets.get(set_id), errors=_errors(request, exc), values=values, status_code=422)
    return _back_to(set_id)


@router.post("/sets/{set_id}/delete", dependencies=[Depends(require("trainer"))])
def delete_set(sets: LessonSetsDep, set_id: int):
    sets.delete(set_id)
    return RedirectResponse("/sets", status_code=303)


@router.post("/sets/{set_id}/items", dependencies=[Depends(require("trainer"))])
def add_set_item(
    request: Request,
    sets: LessonSetsDep,
    set_id: int,
    lesson_id: list[str] = Form([]),
    note: str = Form(""),
    next: str = Form(""),
    q: str = Form(""),
):
    """Add one lesson or several (the set page's search lists, the lesson page's "add to set" form); back to
    `next` when it is local, else to the set page (with the search ``q`` still shown) saying what was added."""
    lesson_ids = list(dict.fromkeys(_lesson_id(raw) for raw in lesson_id if raw.strip()))
    local_next = next if next and _safe_next(next) == next else None
    try:
        if not lesson_ids:
            raise BadFieldError("lesson_id", "choose at least one lesson", code="choose_lesson")
        for one in lesson_ids:
            sets.add_lesson(set_id, one, note)
    except BadFieldError as exc:
        if local_next:
            raise  # posted from another page: the error page says what went wrong
        errors = {"add_note" if exc.field == "note" else "add": field_error(exc.problem, language(request))}
        values = {"add": lesson_ids[0] if len(lesson_ids) == 1 else "", "add_note": note}
        return _render_set(request, sets.get(set_id), item_errors=errors, item_values=values, q=q, status_code=422)
    if local_next:
        return RedirectResponse(local_next, status_code=303)
    query = urlencode([*([("q", q)] if q.strip() else []), *(("added", one) for one in lesson_ids)])
    return _back_to(set_id, f"?{query}#item-{lesson_ids[-1]}")


@router.post("/sets/{set_id}/items/{lesson_id}/move", dependencies=[Depends(require("trainer"))])
def move_set_item(sets: LessonSetsDep, set_id: int, lesson_id: str, direction: str = Form("")):
    if direction not in ("up", "down"):
        raise BadFieldError("direction", "must be up or down")
    sets.move(set_id, lesson_id, -1 if direction == "up" else 1)
    return _back_to(set_id, f"?{urlencode({'moved': lesson_id})}#item-{lesson_id}")


@router.post("/sets/{set_id}/items/{lesson_id}/remove", dependencies=[Depends(require("trainer"))])
def remove_set_item(sets: LessonSetsDep, set_id: int, lesson_id: str):
    sets.remove_lesson(set_id, lesson_id)
    return _back_to(set_id, f"?{urlencode({'removed': lesson_id})}")


@router.post("/sets/{set_id}/items/{lesson_id}/note", dependencies=[Depends(require("trainer"))])
def note_set_item(request: Request, sets: LessonSetsDep, set_id: int, lesson_id: str, note: str = Form("")):
    try:
        sets.set_note(set_id, lesson_id, note)
    except BadFieldError as exc:
        errors = {lesson_id: field_error(exc.problem, language(request))}
        return _render_set(request, sets.get(set_id), item_errors=errors, item_values={lesson_id: note}, status_code=422)
    return _back_to(set_id, f"?{urlencode({'noted': lesson_id})}#item-{lesson_id}")


# --- API ------------------------------------------------------------------------------------


class SetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    audience: str = ""
    description: str = ""


class SetPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = None
    audience: str | None = None
    description: str | None = None
    lesson_ids: list[str] | None = None


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lesson_id: str
    note: str = ""


class NotePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str


@router.get("/api/sets", dependencies=[Depends(can_read)])
def api_list_sets(sets: LessonSetsDep) -> dict[str, Any]:
    """All lesson sets, most recently updated first (without their items)."""
    return {"sets": [lesson_set.to_json() for lesson_set in sets.list()]}


@router.post("/api/sets", status_code=201)
def api_create_set(sets: LessonSetsDep, body: SetIn, user: User = Depends(require("trainer"))):
    lesson_set = sets.create(body.title, body.audience, body.description, owner_id=user.id)
    return JSONResponse(lesson_set.to_json(), status_code=201)


@router.get("/api/sets/{set_id}", dependencies=[Depends(can_read)])
def api_get_set(sets: LessonSetsDep, set_id: int) -> dict[str, Any]:
    return sets.get(set_id).to_json()


@router.patch("/api/sets/{set_id}", dependencies=[Depends(require("trainer"))])
def api_update_set(sets: LessonSetsDep, set_id: int, body: SetPatch) -> dict[str, Any]:
    """Change title/audience/description and/or reorder with `lesson_ids` (every lesson of the set, once)."""
    current = sets.get(set_id)
    if body.lesson_ids is not None and sorted(body.lesson_ids) != sorted(item.lesson_id for item in current.items):
        raise BadFieldError("lesson_ids", "must list every lesson of the set exactly once", code="set_order")  # before anything changes
    if body.title is not None or body.audience is not None or body.description is not None:
        sets.update(set_id, title=body.title, audience=body.audience, description=body.description)
    if body.lesson_ids is not None:
        sets.reorder(set_id, body.lesson_ids)
    return sets.get(set_id).to_json()


@router.delete("/api/sets/{set_id}", status_code=204, dependencies=[Depends(require("trainer"))])
def api_delete_set(sets: LessonSetsDep, set_id: int):
    sets.delete(set_id)
    return Response(status_code=204)


@router.post("/api/sets/{set_id}/items", status_code=201, dependencies=[Depends(require("trainer"))])
def api_add_item(sets: LessonSetsDep, set_id: int, body: ItemIn):
    return JSONResponse(sets.add_lesson(set_id, body.lesson_id, body.note).to_json(), status_code=201)


@router.patch("/api/sets/{set_id}/items/{lesson_id}", dependencies=[Depends(require("trainer"))])
def api_note_item(sets: LessonSetsDep, set_id: int, lesson_id: str, body: NotePatch) -> dict[str, Any]:
    sets.get(set_id)  # 404 for a missing set before the item check
    return sets.set_note(set_id, lesson_id, body.note).to_json()


@router.delete("/api/sets/{set_id}/items/{lesson_id}", dependencies=[Depends(require("trainer"))])
def api_remove_item(sets: LessonSetsDep, set_id: int, lesson_id: str) -> dict[str, Any]:
    if all(item.lesson_id != lesson_id for item in sets.get(set_id).items):
        raise NotFoundError(f"lesson {lesson_id} is not in set {set_id}")
    return sets.remove_lesson(set_id, lesson_id).to_json()
