"""create_app(settings): the FastAPI app. Nothing is built at import time; resources open in the lifespan."""

from __future__ import annotations

import logging
import threading
from http import HTTPStatus
from contextlib import asynccontextmanager
from importlib.resources import files

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from kb.errors import BadFieldError, BadFileError, ForbiddenError, KbError, ModelMismatchError, NotFoundError, Problem, StoreError
from kb.settings import Settings
from kb.workspace import Workspace
from kb.writer_lock import Holder
from ingest.reviews import ReviewValidationError
from web.deps import SEARCH_SLOTS
from web.i18n import RememberLanguage, field_error, language
from web.security import install_security_headers
from web.templating import create_templates, render
from web.throttle import LoginThrottle

STATIC_DIR = files("web") / "static"
log = logging.getLogger("kb.web")


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        workspace = Workspace(settings)
        app.state.workspace = workspace
        app.state.search_slots = anyio.CapacityLimiter(SEARCH_SLOTS)  # made in the event loop, which it belongs to
        # The server is the vector store's one writer while it runs; CLI writers queue work for it.
        workspace.lock.acquire("server", on_wait=lambda holder: log.warning("waiting for %s to finish writing", _who(holder)))
        # Load the engines and the in-memory indexes, open Chroma and apply what writers queued, before the first
        # request rather than beside it (opening Chroma in the relay slowed the first searches by up to a second).
        workspace.searcher.warm_up()
        workspace.vectors.drain()
        stop = threading.Event()
        relay = threading.Thread(target=_relay, args=(workspace, stop), name="kb-vector-relay", daemon=True)
        relay.start()
        yield
        stop.set()
        relay.join(timeout=30)
        workspace.close()

    app = FastAPI(
        title="kb — sales experience knowledge base",
        description="Search lessons from playbooks and win/loss reviews; submit reviews; curate lesson sets.",
        lifespan=lifespan,
        # The schema and the docs pages are served by web.routes.docs: from local assets, behind can_read.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.templates = create_templates()
    app.state.login_throttle = LoginThrottle()
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret(),
        session_cookie="kb_session",
        same_site="lax",
        https_only=settings.https,
        max_age=14 * 24 * 3600,
    )

    app.add_middleware(RememberLanguage, secure=settings.https)

    install_security_headers(app)
    _install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    from web.routes import admin, docs, documents, drivers, gaps, insights, lessons, login, reviews, search, sets

    app.mount(docs.ASSETS_URL, StaticFiles(directory=str(docs.ASSETS_DIR)), name="static-docs")
    for module in (login, search, lessons, reviews, sets, documents, insights, drivers, gaps, admin, docs):
        app.include_router(module.router)
    return app


def _who(holder: Holder | None) -> str:
    return f"kb {holder.role} (pid {holder.pid})" if holder else "another kb process"


def _relay(workspace: Workspace, stop: threading.Event) -> None:
    """Finish what a crash interrupted, then apply the vector work other processes queue."""
    try:
        workspace.ingestor.finish_interrupted()
    except Exception:  # the server keeps serving; the work stays queued for the loop below
        log.exception("finishing interrupted work failed")
    workspace.vectors.run_relay(stop)


def _status_for(exc: KbError) -> int:
    if isinstance(exc, (BadFieldError, ReviewValidationError)):
        return 422
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ForbiddenError):
        return 403
    if isinstance(exc, BadFileError):
        return 400
    if isinstance(exc, ModelMismatchError):
        return 409
    if isinstance(exc, StoreError):
        return 503
    return 400


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api") or request.url.path == "/openapi.json" or "application/json" in request.headers.get("accept", "")


def _error_response(request: Request, status: int, code: str, message: str, problems: dict[str, Problem] | None = None):
    """One error shape for the API and the pages: {"error": {"status", "code", "message", "fields", "field_codes"}}.

    ``code`` and ``field_codes`` are stable ids for programs; the messages are English for the API and
    in the reader's language, where a field's problem has a translation, on the pages."""
    problems = problems or {}
    if _wants_json(request):
        body = {
            "status": status,
            "code": code,
            "message": message,
            "fields": {name: problem.text for name, problem in problems.items()},
            "field_codes": {name: problem.code for name, problem in problems.items()},
        }
        return JSONResponse({"error": body}, status_code=status)
    fields = {name: field_error(problem, language(request)) for name, problem in problems.items()}
    return render(request, "error.html", {"status": status, "message": message, "fields": fields}, status_code=status)


def _http_code(status: int) -> str:
    """``not_found``, ``too_many_requests``…: the status's reason phrase as an id."""
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return f"http_{status}"


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(KbError)
    async def kb_error(request: Request, exc: KbError):
        problems = exc.errors if isinstance(exc, ReviewValidationError) else ({exc.field: exc.problem} if isinstance(exc, BadFieldError) else None)
        return _error_response(request, _status_for(exc), exc.code, str(exc), problems)

    # Starlette's own HTTPException (unknown URL, unreadable form) is the base of FastAPI's: one handler for both.
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 401 and not _wants_json(request) and request.method == "GET":
            from fastapi.responses import RedirectResponse

            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return _error_response(request, exc.status_code, _http_code(exc.status_code), str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        problems = {".".join(str(p) for p in error["loc"][1:]) or "request": Problem(error["type"], error["msg"]) for error in exc.errors()}
        return _error_response(request, 422, "invalid_request", "invalid request", problems)
