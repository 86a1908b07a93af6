"""Who is asking, and may they: session cookies, bearer tokens, CSRF tokens and role checks."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable

from fastapi import HTTPException, Request

from kb.accounts import User
from web.deps import get_accounts

SESSION_ID = "sid"  # the server-side session in the catalog; the signed cookie holds only its id
SESSION_CSRF = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def current_user(request: Request) -> User | None:
    """The user of a bearer token or of the session cookie, or None for anonymous."""
    if hasattr(request.state, "user"):
        return request.state.user
    accounts = get_accounts(request)
    token = bearer_token(request)
    user = None
    if token:
        user = accounts.user_for_token(token)
        if user is None:
            raise HTTPException(status_code=401, detail="invalid API token")
    elif isinstance(request.session.get(SESSION_ID), str):
        idle_s = request.app.state.settings.session_idle_minutes * 60
        user = accounts.user_for_session(request.session[SESSION_ID], idle_s)
        if user is None:  # ended by logout, a password change, disabling or idleness
            request.session.pop(SESSION_ID, None)
    request.state.user = user
    return user


def login_session(request: Request, user: User) -> None:
    accounts = get_accounts(request)
    if isinstance(request.session.get(SESSION_ID), str):
        accounts.end_session(request.session[SESSION_ID])
    request.session.clear()  # a new session id for a new login: no fixation
    request.session[SESSION_ID] = accounts.start_session(user)
    request.session[SESSION_CSRF] = secrets.token_urlsafe(32)
    request.state.user = user


def logout_session(request: Request) -> None:
    """End the session in the catalog, so a copy of the cookie made before opens nothing."""
    if isinstance(request.session.get(SESSION_ID), str):
        get_accounts(request).end_session(request.session[SESSION_ID])
    request.session.clear()
    request.state.user = None


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use; every state-changing form carries it."""
    token = request.session.get(SESSION_CSRF)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return token


async def check_csrf(request: Request) -> None:
    """Reject a cookie-authenticated write without the session's CSRF token (form field or header)."""
    if request.method in {"GET", "HEAD", "OPTIONS"} or bearer_token(request):
        return
    expected = request.session.get(SESSION_CSRF)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = (await request.form()).get(CSRF_FIELD)
    if not expected or not sent or not hmac.compare_digest(str(sent), str(expected)):
        raise HTTPException(status_code=403, detail="missing or invalid CSRF token; reload the page and try again")


def can_read(request: Request) -> None:
    """Reading needs an account only when public reading is off (KB_PUBLIC_READ=0)."""
    if not request.app.state.settings.public_read and current_user(request) is None:
        raise HTTPException(status_code=401, detail="sign in to read the knowledge base")


def require(role: str) -> Callable[..., User]:
    """A dependency that admits users of at least ``role`` and checks the CSRF token of cookie writes."""

    async def dependency(request: Request) -> User:
        # Anonymous first: without an account there is nothing to forge, and "sign in" is the useful answer.
        user = current_user(request)
        if user is None:
            raise HTTPException(status_code=401, detail="sign in first")
        await check_csrf(request)
        if not user.can(role):
            raise HTTPException(status_code=403, detail=f"this needs the {role} role")
        return user

    return dependency
