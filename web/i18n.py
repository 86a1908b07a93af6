"""The interface in Chinese (default) and English: message catalog and language choice."""

from __future__ import annotations

from fastapi import Request

LANGUAGES = ("zh", "en")
LANG_COOKIE = "kb_lang"

# key: (中文, English). Keep keys grouped by page.
MESSAGES: dict[str, tuple[str, str]] = {
    # layout
    "app.name": ("销售经验库", "Sales Lessons"),
    "nav.search": ("搜索", "Search"),
    "nav.new_review": ("提交复盘", "Submit a review"),
    "nav.sets": ("课程集", "Lesson sets"),
    "nav.documents": ("文档", "Documents"),
    "nav.insights": ("洞察", "Insights"),
    "nav.login": ("登录", "Sign in"),
    "nav.logout": ("退出", "Sign out"),
    "nav.switch": ("English", "中文"),
    "error.title": ("出错了", "Something went wrong"),
    "error.back": ("返回首页", "Back to search"),
    # login
    "login.title": ("登录", "Sign in"),
    "login.name": ("用户名", "User name"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Sign in"),
    "login.failed": ("用户名或密码不正确", "Wrong user name or password"),
    # kinds and outcomes
    "kind.playbook": ("打法手册", "Playbook"),
    "kind.review": ("复盘", "Review"),
    "outcome.win": ("赢单", "Win"),
    "outcome.loss": ("丢单", "Loss"),
    "outcome.no-decision": ("客户未决", "No decision"),
    "outcome.unknown": ("未知", "Unknown"),
}


def language(request: Request) -> str:
    """?lang= wins (and is remembered in a cookie by the middleware), then the cookie, then Chinese."""
    lang = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "zh"
    return lang if lang in LANGUAGES else "zh"


def translate(key: str, lang: str) -> str:
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    return pair[LANGUAGES.index(lang)]
