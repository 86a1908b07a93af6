"""Accounts for admins in the browser: disable or enable users, set passwords, list and revoke API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from kb.accounts import Accounts, User
from kb.errors import BadFieldError, Problem
from web.auth import require
from web.deps import AccountsDep
from web.i18n import field_error, language
from web.templating import render

router = APIRouter(prefix="/admin", include_in_schema=False)


def _page(request: Request, accounts: Accounts, *, done: bool = False, errors: dict[str, Problem] | None = None, status_code: int = 200):
    lang = language(request)
    context = {
        "users": accounts.list_users(),
        "tokens": accounts.list_tokens(),
        "done": done,
        "errors": {name: field_error(problem, lang) for name, problem in (errors or {}).items()},
    }
    return render(request, "admin_users.html", context, status_code=status_code)


def _saved(anchor: str) -> RedirectResponse:
    return RedirectResponse(f"/admin/users?done=1#{anchor}", status_code=303)


@router.get("/users")
def users_page(request: Request, accounts: AccountsDep, done: bool = False, _: User = Depends(require("admin"))):
    return _page(request, accounts, done=done)


@router.post("/users/{name}/disable")
def disable_user(request: Request, accounts: AccountsDep, name: str, admin: User = Depends(require("admin"))):
    if name.casefold() == admin.name.casefold():
        return _page(request, accounts, errors={"name": Problem("own_account", "you cannot disable your own account")}, status_code=422)
    accounts.set_disabled(name, True)
    return _saved("users")


@router.post("/users/{name}/enable")
def enable_user(request: Request, accounts: AccountsDep, name: str, _: User = Depends(require("admin"))):
    accounts.set_disabled(name, False)
    return _saved("users")


@router.post("/users/{name}/password")
def set_password(request: Request, accounts: AccountsDep, name: str, password: str = Form(""), _: User = Depends(require("admin"))):
    try:
        accounts.set_password(name, password)
    except BadFieldError as exc:
        return _page(request, accounts, errors={exc.field: exc.problem}, status_code=422)
    return _saved("users")


@router.post("/tokens/{token_id}/revoke")
def revoke_token(request: Request, accounts: AccountsDep, token_id: str, _: User = Depends(require("admin"))):
    accounts.revoke_token(token_id)
    return _saved("tokens")
