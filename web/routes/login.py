"""Sign in and out with a signed, HttpOnly, SameSite session cookie."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from kb.accounts import Accounts
from web.auth import check_csrf, login_session, logout_session
from web.templating import render

router = APIRouter()


def _safe_next(target: str) -> str:
    """Only local paths: a login link must not send people to another site."""
    # "/\\host" is "//host" to browsers: a path must start with one slash followed by neither slash nor backslash.
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


@router.get("/login")
def login_page(request: Request, next: str = "/"):
    return render(request, "login.html", {"next": _safe_next(next), "name": "", "failed": False})


@router.post("/login", dependencies=[Depends(check_csrf)])
def login(request: Request, name: str = Form(max_length=64), password: str = Form(max_length=200), next: str = Form("/")):
    user = Accounts(request.app.state.workspace.catalog).authenticate(name, password)
    if user is None:
        return render(request, "login.html", {"next": _safe_next(next), "name": name, "failed": True}, status_code=401)
    login_session(request, user)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request):
    logout_session(request)
    return RedirectResponse("/", status_code=303)
