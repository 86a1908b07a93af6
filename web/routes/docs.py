"""The API's OpenAPI schema, Swagger UI and ReDoc: served by kb from bundled assets, readable like any page."""

from __future__ import annotations

import secrets
from importlib.resources import files

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from web.auth import can_read
from web.security import docs_policy

router = APIRouter(dependencies=[Depends(can_read)], include_in_schema=False)

# Swagger UI and ReDoc as the fastapi-offline package ships them: no CDN, so the docs work offline.
ASSETS_DIR = files("fastapi_offline") / "static"
ASSETS_URL = "/static-docs"


@router.get("/openapi.json")
def openapi_schema(request: Request):
    return JSONResponse(request.app.openapi())


@router.get("/docs")
def swagger_ui(request: Request):
    page = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=request.app.title + " - Swagger UI",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        swagger_ui_parameters={"validatorUrl": None},  # Swagger UI would send the schema to an outside validator
    )
    return _with_nonce(page)


@router.get("/redoc")
def redoc(request: Request):
    page = get_redoc_html(
        openapi_url="/openapi.json",
        title=request.app.title + " - ReDoc",
        redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
        with_google_fonts=False,
    )
    return _with_nonce(page)


def _with_nonce(page: HTMLResponse) -> HTMLResponse:
    """The page's inline script, allowed by a nonce of this response alone."""
    nonce = secrets.token_urlsafe(16)
    html = bytes(page.body).decode("utf-8").replace("<script>", f'<script nonce="{nonce}">')
    return HTMLResponse(html, headers={"Content-Security-Policy": docs_policy(nonce)})
