"""One Jinja environment (autoescape on) with kb's filters and globals, and the render helper views use."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from web.auth import csrf_token, current_user
from web.i18n import language, translate

TEMPLATES_DIR = files("web") / "templates"

# Lesson bodies are Markdown written by users and scraped articles: render it with raw HTML off.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(text: str) -> Markup:
    return Markup(_markdown.render(text or ""))


def highlight(text: str, spans: list[tuple[int, int]] | list[list[int]]) -> Markup:
    """Escape ``text`` and wrap the highlighted spans in <mark>."""
    parts: list[str] = []
    cursor = 0
    for start, end in sorted((int(s), int(e)) for s, e in spans):
        if start < cursor:
            continue
        parts.append(str(escape(text[cursor:start])))
        parts.append(f"<mark>{escape(text[start:end])}</mark>")
        cursor = end
    parts.append(str(escape(text[cursor:])))
    return Markup("".join(parts).replace("\n", "<br>\n"))


def create_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.autoescape = True
    env.filters["markdown"] = render_markdown
    env.filters["highlight"] = highlight
    env.globals["csrf_token"] = csrf_token
    env.globals["current_user"] = current_user
    return templates


def render(request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200):
    """Render a page with the language, a translator and the signed-in user in its context."""
    lang = language(request)
    base = {
        "request": request,
        "lang": lang,
        "_": lambda key: translate(key, lang),
        "user": current_user(request),
        "settings": request.app.state.settings,
    }
    return request.app.state.templates.TemplateResponse(request, template, {**base, **(context or {})}, status_code=status_code)
