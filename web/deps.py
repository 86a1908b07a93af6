"""What routes take as parameters (FastAPI dependencies): the workspace the app opened once, and its stores."""

from __future__ import annotations

from typing import Annotated

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


def recheck_gaps_after(request: Request, background: BackgroundTasks) -> None:
    """For a route that adds lessons: once it has answered, search the open knowledge gaps again (kb/gaps.py)."""
    background.add_task(get_workspace(request).recheck_gaps)


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
SearcherDep = Annotated[Searcher, Depends(get_searcher)]
AccountsDep = Annotated[Accounts, Depends(get_accounts)]
LessonSetsDep = Annotated[LessonSets, Depends(get_lesson_sets)]
