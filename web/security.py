"""Response headers that keep pages from being framed, sniffed, or running script that kb did not serve."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No inline script anywhere: every script is a file under /static, so an injected <script> cannot run.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def docs_policy(nonce: str) -> str:
    """The API docs pages: their one inline script carries a nonce; ReDoc styles itself inline and searches in a worker."""
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # search URLs carry the question: other sites never see them
}


def install_security_headers(app: FastAPI) -> None:
    app.add_middleware(SecurityHeaders)


class HeadersMiddleware:
    """Plain ASGI middleware whose ``edit`` changes each HTTP response's headers as they are sent (an
    ``@app.middleware`` function runs each request in a task of its own, with two streams between it and the route)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def edit(self, scope: Scope, headers: MutableHeaders) -> None:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_edited(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.edit(scope, MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_edited)


class SecurityHeaders(HeadersMiddleware):
    """Every response gets the headers a route did not set itself."""

    def edit(self, scope: Scope, headers: MutableHeaders) -> None:
        for name, value in SECURITY_HEADERS.items():
            headers.setdefault(name, value)
        headers.setdefault("Content-Security-Policy", PAGE_POLICY)
