"""The gap queue for trainers (kb/gaps.py): `GET /api/gaps`, assigning, answering, dismissing and reopening a gap
(API and plain forms), searching the open gaps again, and the `/gaps` pages."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from kb.accounts import Accounts, User
from kb.gaps import GapQueue, GapStatus
from web.auth import require
from web.deps import CatalogDep, WorkspaceDep, get_catalog
from web.routes.login import _safe_next
from web.templating import render

router = APIRouter()

trainer = require("trainer")
PAGE = 50
# The nearest lessons a gap's page offers as its answer.
CANDIDATES = 5


def _queue(request: Request) -> GapQueue:
    return GapQueue(get_catalog(request))


class Assignment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: str | None = Field(None, max_length=64, description="an account name; null or \"\" for nobody")


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lesson_id: str = Field(..., min_length=1, max_length=200, description="the lesson that answers the gap")


# --- API ------------------------------------------------------------------------------------


@router.get("/api/gaps", tags=["gaps"])
def api_gaps(
    request: Request,
    status: Literal["open", "answered", "dismissed", "all"] = Query("open"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
    _: User = Depends(trainer),
):
    """Weak searches grouped by meaning, most asked first: each gap's count, first and last asked, its most asked
    questions (with the account that asked last) and its state. ``counts``: gaps in each state."""
    queue = _queue(request)
    gaps = queue.list(None if status == "all" else status, limit=limit + 1, offset=offset)
    return {"gaps": [gap.to_json(askers=True) for gap in gaps[:limit]], "more": len(gaps) > limit, "counts": queue.counts()}


@router.post("/api/gaps/refresh", tags=["gaps"])
def api_refresh_gaps(workspace: WorkspaceDep, _: User = Depends(trainer)):
    """Search the open gaps' questions again: those search now answers close their gap (``answered``: gap ids)."""
    return asdict(workspace.recheck_gaps())


@router.post("/api/gaps/{gap_id}/assign", tags=["gaps"])
def api_assign_gap(request: Request, gap_id: int, body: Assignment = Body(...), user: User = Depends(trainer)):
    """Give the gap to an account to answer."""
    return _queue(request).assign(gap_id, body.assignee, user).to_json(askers=True)


@router.post("/api/gaps/{gap_id}/answer", tags=["gaps"])
def api_answer_gap(request: Request, gap_id: int, body: Answer = Body(...), user: User = Depends(trainer)):
    """The gap is answered by this lesson (one written for it, or one that was there)."""
    return _queue(request).answer(gap_id, body.lesson_id, user).to_json(askers=True)


@router.post("/api/gaps/{gap_id}/dismiss", tags=["gaps"])
def api_dismiss_gap(request: Request, gap_id: int, user: User = Depends(trainer)):
    """Not a gap to fill (off-topic, a test): out of the open queue; its questions still count under it."""
    return _queue(request).dismiss(gap_id, user).to_json(askers=True)


@router.post("/api/gaps/{gap_id}/reopen", tags=["gaps"])
def api_reopen_gap(request: Request, gap_id: int, user: User = Depends(trainer)):
    """Back into the open queue, without its answer."""
    return _queue(request).reopen(gap_id, user).to_json(askers=True)


# --- pages ----------------------------------------------------------------------------------


@router.get("/gaps", include_in_schema=False)
def gaps_page(
    request: Request,
    catalog: CatalogDep,
    status: GapStatus = Query("open"),
    page: int = Query(1, ge=1, le=10_000),
    _: User = Depends(trainer),
):
    queue = _queue(request)
    gaps = queue.list(status, limit=PAGE + 1, offset=(page - 1) * PAGE)
    here = "/gaps?" + urlencode({"status": status, **({"page": page} if page > 1 else {})})
    return render(
        request,
        "gaps.html",
        {
            "gaps": gaps[:PAGE],
            "status": status,
            "counts": queue.counts(),
            "accounts": Accounts(catalog).list_users(),
            "answers": catalog.get_lessons([gap.answer_lesson_id for gap in gaps if gap.answer_lesson_id]),
            "here": here,
            "prev_url": "/gaps?" + urlencode({"status": status, "page": page - 1}) if page > 1 else None,
            "next_url": "/gaps?" + urlencode({"status": status, "page": page + 1}) if len(gaps) > PAGE else None,
        },
    )


@router.get("/gaps/{gap_id}", include_in_schema=False)
def gap_page(request: Request, workspace: WorkspaceDep, gap_id: int, _: User = Depends(trainer)):
    """One gap: its questions, and the lessons search finds nearest its most asked one, each offered as its answer."""
    gap = _queue(request).get(gap_id)
    nearest = workspace.searcher.search(gap.questions[0].question, k=CANDIDATES) if gap.questions else []
    answer = workspace.catalog.get_lesson(gap.answer_lesson_id) if gap.answer_lesson_id else None
    return render(
        request,
        "gap.html",
        {
            "gap": gap,
            "answer": answer,
            "nearest": nearest,
            "accounts": Accounts(workspace.catalog).list_users(),
            "here": f"/gaps/{gap_id}",
        },
    )


def _back(next: str, gap_id: int) -> RedirectResponse:
    return RedirectResponse(next if next and _safe_next(next) == next else f"/gaps/{gap_id}", status_code=303)


@router.post("/gaps/{gap_id}/assign", include_in_schema=False)
def assign_form(request: Request, gap_id: int, assignee: str = Form("", max_length=64), next: str = Form(""), user: User = Depends(trainer)):
    _queue(request).assign(gap_id, assignee, user)
    return _back(next, gap_id)


@router.post("/gaps/{gap_id}/answer", include_in_schema=False)
def answer_form(request: Request, gap_id: int, lesson_id: str = Form("", max_length=200), next: str = Form(""), user: User = Depends(trainer)):
    _queue(request).answer(gap_id, lesson_id, user)
    return _back(next, gap_id)


@router.post("/gaps/{gap_id}/dismiss", include_in_schema=False)
def dismiss_form(request: Request, gap_id: int, next: str = Form(""), user: User = Depends(trainer)):
    _queue(request).dismiss(gap_id, user)
    return _back(next, gap_id)


@router.post("/gaps/{gap_id}/reopen", include_in_schema=False)
def reopen_form(request: Request, gap_id: int, next: str = Form(""), user: User = Depends(trainer)):
    _queue(request).reopen(gap_id, user)
    return _back(next, gap_id)


@router.post("/gaps/refresh", include_in_schema=False)
def refresh_form(workspace: WorkspaceDep, _: User = Depends(trainer)):
    workspace.recheck_gaps()
    return RedirectResponse("/gaps", status_code=303)
