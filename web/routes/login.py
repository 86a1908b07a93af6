"""Sign in (throttled) and out; the signed, HttpOnly, SameSite cookie names a session kept in the catalog."""

from __future__ import annotations

import math

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from web.auth import check_csrf, login_session, logout_session
from web.deps import AccountsDep
from web.throttle import LoginThrottle
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
def login(request: Request, accounts: AccountsDep, name: str = Form(max_length=64), password: str = Form(max_length=200), next: str = Form("/")):
    throttle: LoginThrottle = request.app.state.login_throttle
    client = request.client.host if request.client else "unknown"
    context = {"next": _safe_next(next), "name": name, "failed": True}
    wait = throttle.retry_after(name, client)
    if wait is not None:
        response = render(request, "login.html", {**context, "retry_minutes": math.ceil(wait / 60)}, status_code=429)
        response.headers["Retry-After"] = str(wait)
        return response
    user = accounts.authenticate(name, password)
    if user is None:
        throttle.failed(name, client)
        return render(request, "login.html", context, status_code=401)
    throttle.succeeded(name, client)
    login_session(request, user)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request):
    logout_session(request)
    return RedirectResponse("/", status_code=303)
