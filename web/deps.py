"""What routes take as parameters (FastAPI dependencies): the workspace the app opened once, and its stores."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import anyio
import anyio.from_thread
from fastapi import BackgroundTasks, Depends, Request

from kb.accounts import Accounts
from kb.catalog import Catalog
from kb.lesson_sets import LessonSets
from kb.workspace import Workspace
from search.searcher import Searcher


def get_workspace(request: Request) -> Workspace:
    return request.app.state.workspace


def get_catalog(request: Request) -> Catalog:
    return get_workspace(request).catalog


def get_searcher(request: Request) -> Searcher:
    return get_workspace(request).searcher


def get_accounts(request: Request) -> Accounts:
    return Accounts(get_catalog(request))


def get_lesson_sets(request: Request) -> LessonSets:
    return LessonSets(get_catalog(request))


# Searches that run at once; the others wait their turn. A search is CPU work over the whole index: run side by
# side, eight of them share two cores and each takes as long as all eight, while in turn most finish sooner
# (docs/BENCHMARKS.md, stop 36). One per core, since a search's query encoders already run on threads of their own.
SEARCH_SLOTS = os.cpu_count() or 1


@contextmanager
def search_slot(request: Request) -> Iterator[None]:
    """Hold one of the server's search slots, from a route's worker thread, waiting in arrival order for one."""
    limiter: anyio.CapacityLimiter = request.app.state.search_slots
    borrower = object()
    anyio.from_thread.run(limiter.acquire_on_behalf_of, borrower)
    try:
        yield
    finally:
        anyio.from_thread.run_sync(limiter.release_on_behalf_of, borrower)


def recheck_gaps_after(request: Request, background: BackgroundTasks) -> None:
    """For a route that adds lessons: once it has answered, search the open knowledge gaps again (kb/gaps.py)."""
    background.add_task(get_workspace(request).recheck_gaps)


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
SearcherDep = Annotated[Searcher, Depends(get_searcher)]
AccountsDep = Annotated[Accounts, Depends(get_accounts)]
LessonSetsDep = Annotated[LessonSets, Depends(get_lesson_sets)]
