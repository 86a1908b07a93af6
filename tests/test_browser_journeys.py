"""Browser journeys through the real kb web app: Chromium (Debian's, driven by Playwright) against a live server.

Once per module: the repo's corpus/ is ingested with the real engine into a tmp workspace, a rep ("rita")
and a trainer ("tom") are created, and the app is served by uvicorn on a loopback port. Each test gets a
fresh browser context (no cookies) and saves a full-page screenshot of every page it visits under its
tmp_path (01-….png, 02-….png, …) for a person to look at.

The journeys:
  * a new hire searches in Chinese and in English, opens a lesson and switches the interface to English;
  * a rep submits a win/loss review and finds its lesson by search right away (read after write);
  * a trainer builds a lesson set from search results, reorders it, exports it as Markdown and prints it;
  * a rep sees a set without its editing controls, and an anonymous visitor of /reviews/new is sent to sign in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import CORPUS_DIR
from live_server import live_server

from kb.accounts import Accounts
from kb.settings import Settings
from kb.workspace import Workspace

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]

REP = ("rita", "rita-password-1")
TRAINER = ("tom", "tom-password-1")

CJK = re.compile(r"[\u4e00-\u9fff]")
LESSON_HREF = re.compile(r"^/lessons/([0-9A-Za-z_-]+)$")

# Generous ceilings for a small CI box (ingesting a review embeds it synchronously); nothing asserts a duration.
expect.set_options(timeout=20_000)


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The corpus ingested once with the real engine, two accounts, and the app served for the module."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("browser") / "data")
    workspace = Workspace(settings)
    try:
        report = workspace.ingestor.ingest([CORPUS_DIR])
        assert not report.failed, report.failed
        accounts = Accounts(workspace.catalog)
        accounts.add_user(REP[0], "rep", REP[1])
        accounts.add_user(TRAINER[0], "trainer", TRAINER[1])
    finally:
        workspace.close()
    with live_server(settings) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium fonts-noto-cjk)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Browser, base_url: str) -> Iterator[BrowserContext]:
    """A fresh browser profile per test: no cookies, no language choice, nobody signed in."""
    ctx = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
    ctx.set_default_timeout(30_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


class Shots:
    """Numbered full-page screenshots under the test's tmp_path."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0
        self.files: list[Path] = []

    def __call__(self, page: Page, name: str) -> Path:
        self.count += 1
        path = self.directory / f"{self.count:02d}-{name}.png"
        page.screenshot(path=path, full_page=True)
        assert path.stat().st_size > 5_000, f"{path.name} looks empty"
        self.files.append(path)
        return path


@pytest.fixture
def shot(tmp_path: Path) -> Shots:
    return Shots(tmp_path)


# --- helpers ------------------------------------------------------------------------------------


def sign_in(page: Page, shot: Shots, name: str, password: str, role: str) -> None:
    """Sign in through the login form; the header then names the user and role."""
    page.goto("/login")
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    page.locator('input[name="name"]').fill(name)
    page.locator('input[name="password"]').fill(password)
    shot(page, f"login-{name}")
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".account .who")).to_have_text(f"{name} · {role}")
    assert urlparse(page.url).path == "/"


def search(page: Page, query: str) -> None:
    """Type a question into the search box of the current search page and submit it."""
    box = page.get_by_role("searchbox")
    box.fill(query)
    page.get_by_role("button", name=re.compile(r"^(搜索|Search)$")).click()
    expect(page.locator("#results-heading")).to_contain_text(query)


def result_links(page: Page):
    return page.locator("article.result h3 a")


def lesson_id_of(href: str | None) -> str:
    match = LESSON_HREF.match(href or "")
    assert match, f"not a lesson link: {href!r}"
    return match.group(1)


def set_id_of(url: str) -> int:
    match = re.fullmatch(r"/sets/(\d+)", urlparse(url).path)
    assert match, f"not a set page: {url}"
    return int(match.group(1))


def create_set(page: Page, shot: Shots, title: str, audience: str, description: str) -> int:
    """Create a lesson set with the form on /sets (reached through the navigation); returns its id."""
    page.get_by_role("navigation").get_by_role("link", name="课程集").click()
    expect(page.get_by_role("heading", name="新建课程集")).to_be_visible()
    form = page.locator('form[action="/sets"]')
    form.locator('input[name="title"]').fill(title)
    form.locator('input[name="audience"]').fill(audience)
    form.locator('textarea[name="description"]').fill(description)
    shot(page, "sets-new")
    form.get_by_role("button", name="创建").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    header = page.locator("main section.card").first
    expect(header).to_contain_text(f"面向 {audience}")
    expect(header.locator("p.prose")).to_have_text(description)
    return set_id_of(page.url)


def add_to_set(page: Page, shot: Shots, lesson_id: str, set_id: int, note: str = "") -> str:
    """Open the lesson page, use its "add to set" form; lands on the set page at the new item. Returns the title."""
    page.goto(f"/lessons/{lesson_id}")
    title = page.get_by_role("heading", level=1).inner_text().strip()
    add = page.locator(f'form[action="/lessons/{lesson_id}/sets"]')
    expect(add).to_be_visible()
    add.locator('select[name="set_id"]').select_option(str(set_id))
    if note:
        add.locator('textarea[name="note"]').fill(note)
    shot(page, f"lesson-add-{lesson_id}")
    add.get_by_role("button", name="加入", exact=True).click()
    assert set_id_of(page.url) == set_id
    item = page.locator(f"#item-{lesson_id}")
    expect(item.get_by_role("heading", level=3)).to_have_text(title)
    if note:
        expect(item.locator('textarea[name="note"]')).to_have_value(note)
    return title


# --- journeys -----------------------------------------------------------------------------------


def test_new_hire_searches_in_chinese_and_english_and_reads_a_lesson(page: Page, shot: Shots) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="搜索经验")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    shot(page, "search-empty")

    # A Chinese question: result cards, with the matching words marked and lesson titles as links.
    search(page, "如何在客户内部找到教练")
    cards = page.locator("article.result")
    expect(cards.first).to_be_visible()
    assert cards.count() >= 3
    expect(cards.first.locator("p.snippet mark").first).to_be_visible()
    assert any("教练" in mark for mark in page.locator("p.snippet mark").all_inner_texts())
    expect(result_links(page).filter(has_text="教练").first).to_be_visible()
    expect(cards.first.locator(".source")).to_contain_text("出自")
    shot(page, "search-zh")

    # The same question in English still finds the Chinese lessons about coaches.
    search(page, "how do I find a coach inside the customer")
    expect(cards.first).to_be_visible()
    titles = result_links(page).all_inner_texts()
    assert any(CJK.search(title) for title in titles), titles
    assert any("教练" in title for title in titles), titles
    expect(page.locator("p.snippet mark").first).to_be_visible()
    shot(page, "search-en")

    # The first result's title opens its lesson page: title, body and related lessons.
    first = result_links(page).first
    first_title = first.inner_text().strip()
    first_id = lesson_id_of(first.get_attribute("href"))
    first.click()
    assert urlparse(page.url).path == f"/lessons/{first_id}"
    expect(page.get_by_role("heading", level=1)).to_have_text(first_title)
    body = page.locator("article.lesson .lesson-body")
    expect(body).to_be_visible()
    assert len(body.inner_text().strip()) > 20
    related = page.locator("section[aria-labelledby=related-heading]")
    expect(related.get_by_role("heading", name="相关经验")).to_be_visible()
    related_links = related.locator("ul.related li a")
    expect(related_links.first).to_be_visible()
    assert first_id not in [lesson_id_of(href) for href in related_links.evaluate_all("els => els.map(e => e.getAttribute('href'))")]
    # A reader is not a trainer: no "add to set" form.
    expect(page.locator(f'form[action="/lessons/{first_id}/sets"]')).to_have_count(0)
    shot(page, "lesson-zh")

    # The language link switches the whole interface to English (and back link says 中文).
    page.locator("header a.lang").click()
    assert "lang=en" in page.url
    expect(page.locator("html")).to_have_attribute("lang", "en")
    nav = page.get_by_role("navigation")
    expect(nav.get_by_role("link")).to_have_text(["Search", "Submit a review", "Lesson sets", "Documents", "Insights"])
    expect(page.locator("header a.lang")).to_have_text("中文")
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    expect(page.get_by_role("heading", name="Related lessons")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text(first_title)
    shot(page, "lesson-en")

    # The choice is remembered: the search page is now in English too.
    nav.get_by_role("link", name="Search").click()
    expect(page.get_by_role("heading", name="Search lessons")).to_be_visible()
    shot(page, "search-page-en")


def test_rep_submits_a_review_and_finds_its_lesson_right_away(page: Page, shot: Shots) -> None:
    phrase = "预付款比例不能低于百分之三十"
    lesson_1 = f"{phrase}，合同谈判时要守住这条底线"
    lesson_2 = "客户内部的教练要在项目早期识别，并持续给他提供价值"
    customer = "华南某家电制造集团"

    sign_in(page, shot, *REP, role="rep")
    page.get_by_role("navigation").get_by_role("link", name="提交复盘").click()
    assert urlparse(page.url).path == "/reviews/new"
    expect(page.get_by_role("heading", name="提交复盘", level=1)).to_be_visible()
    shot(page, "review-form")

    page.get_by_role("radio", name="输给竞争对手").check()
    page.locator('input[name="customer"]').fill(customer)
    page.locator('textarea[name="lessons"]').fill(f"{lesson_1}\n{lesson_2}")
    shot(page, "review-form-filled")
    page.get_by_role("button", name="提交复盘").first.click()

    # The review page: the notice, the facts, both lessons, and a "learned before" block for each.
    assert re.fullmatch(r"/reviews/[^/]+", urlparse(page.url).path), page.url
    expect(page.get_by_role("status")).to_contain_text("复盘已提交")
    expect(page.locator("dl.facts")).to_contain_text(customer)
    expect(page.locator("dl.facts")).to_contain_text(REP[0])
    lessons = page.locator("ol.review-lessons > li")
    expect(lessons).to_have_count(2)
    expect(lessons.nth(0)).to_contain_text(phrase)
    expect(lessons.nth(1)).to_contain_text("教练")
    before = page.locator(".learned-before")
    expect(before).to_have_count(2)
    expect(before.first.get_by_role("heading", name="之前学到过")).to_be_visible()
    # The coach lesson has plenty of predecessors in the corpus.
    expect(lessons.nth(1).locator(".learned-before li a").first).to_be_visible()
    expect(page.get_by_role("link", name="编辑这份复盘")).to_be_visible()  # rita wrote it
    new_lesson_id = lesson_id_of(lessons.nth(0).locator("h3 a").get_attribute("href"))
    shot(page, "review-page")

    # Read after write: the search box finds the new lesson first.
    page.get_by_role("navigation").get_by_role("link", name="搜索", exact=True).click()
    search(page, phrase)
    first = result_links(page).first
    expect(first).to_contain_text(phrase)
    assert lesson_id_of(first.get_attribute("href")) == new_lesson_id
    first_card = page.locator("article.result").first
    expect(first_card.locator("mark").first).to_be_visible()
    expect(first_card.locator(".badge.review")).to_be_visible()
    expect(first_card.locator(".badge.loss")).to_be_visible()
    shot(page, "search-new-lesson")


def test_trainer_builds_reorders_exports_and_prints_a_lesson_set(page: Page, shot: Shots) -> None:
    title = "新人第一个月：找教练与守回款"
    audience = "华南区新入职销售"
    description = "先读怎样找到教练，再读回款和合同条款。"

    sign_in(page, shot, *TRAINER, role="trainer")
    set_id = create_set(page, shot, title, audience, description)
    expect(page.get_by_text("这个课程集还没有经验")).to_be_visible()
    shot(page, "set-empty")

    # Three lessons found through search.
    page.get_by_role("navigation").get_by_role("link", name="搜索", exact=True).click()
    search(page, "如何在客户内部找到教练")
    expect(result_links(page).nth(2)).to_be_visible()
    ids = []
    for href in result_links(page).evaluate_all("els => els.map(e => e.getAttribute('href'))"):
        lesson_id = lesson_id_of(href)
        if lesson_id not in ids:
            ids.append(lesson_id)
    ids = ids[:3]
    assert len(ids) == 3, ids
    shot(page, "search-for-set")

    titles = [
        add_to_set(page, shot, ids[0], set_id, note="先读这一条：什么是教练。"),
        add_to_set(page, shot, ids[1], set_id),
        add_to_set(page, shot, ids[2], set_id),
    ]
    items = page.locator("ol.set-items > li")
    expect(items.locator("h3")).to_have_text(titles)
    expect(page.get_by_text("3 条经验")).to_be_visible()
    # The ends of the list cannot move further.
    expect(items.first.get_by_role("button", name="上移")).to_be_disabled()
    expect(items.last.get_by_role("button", name="下移")).to_be_disabled()
    shot(page, "set-three")

    # Move the first lesson down: it becomes second; its note travels with it.
    items.first.get_by_role("button", name="下移").click()
    new_order = [titles[1], titles[0], titles[2]]
    expect(items.locator("h3")).to_have_text(new_order)
    expect(page.locator(f"#item-{ids[0]} textarea[name=note]")).to_have_value("先读这一条：什么是教练。")
    page.reload()  # the order is stored, not only shown
    expect(items.locator("h3")).to_have_text(new_order)
    shot(page, "set-reordered")

    # "Export Markdown" downloads the set in the new order.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="导出 Markdown").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".md"), download.suggested_filename
    markdown = Path(download.path()).read_text(encoding="utf-8")
    assert markdown.startswith(f"# {title}\n"), markdown[:200]
    assert audience in markdown and description in markdown
    headings = re.findall(r"^## (\d+)\. (.+)$", markdown, flags=re.MULTILINE)
    assert headings == [(str(n), t) for n, t in enumerate(new_order, start=1)], headings
    assert "> 先读这一条：什么是教练。" in markdown
    # The same file through the context's cookies and the link's URL.
    response = page.context.request.get(f"/sets/{set_id}/export.md")
    assert response.ok and response.headers["content-type"].startswith("text/markdown")
    assert response.text() == markdown

    # The print page: the set's lessons, numbered in the new order, with their bodies.
    page.get_by_role("link", name="打印版").click()
    assert urlparse(page.url).path == f"/sets/{set_id}/print"
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.get_by_text(f"面向：{audience}")).to_be_visible()
    expect(page.locator("section.print-lesson h2")).to_have_text([f"{n}. {t}" for n, t in enumerate(new_order, start=1)])
    expect(page.locator("section.print-lesson .lesson-body").first).not_to_be_empty()
    expect(page.locator("blockquote.note")).to_have_text("先读这一条：什么是教练。")
    expect(page.get_by_role("button", name="打印")).to_be_visible()  # shown by its script
    shot(page, "set-print")

    # The new set is listed on /sets with its count.
    page.get_by_role("link", name="返回课程集").click()
    page.get_by_role("link", name="全部课程集").click()
    row = page.locator("table.sets tr", has=page.get_by_role("link", name=title))
    expect(row).to_contain_text(audience)
    expect(row.locator("td").nth(2)).to_have_text("3")
    shot(page, "sets-list")


def test_rep_sees_a_set_without_editing_controls(browser: Browser, base_url: str, shot: Shots) -> None:
    # A trainer makes a set with one lesson …
    trainer_ctx = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    try:
        trainer = trainer_ctx.new_page()
        sign_in(trainer, shot, *TRAINER, role="trainer")
        set_id = create_set(trainer, shot, "投标前必读", "投标团队", "投标前请先读完这些经验。")
        trainer.goto("/")
        search(trainer, "投标前要看评标办法")
        lesson_id = lesson_id_of(result_links(trainer).first.get_attribute("href"))
        lesson_title = add_to_set(trainer, shot, lesson_id, set_id, note="评标办法决定报价策略。")
        expect(trainer.get_by_role("button", name="移除")).to_be_visible()
        shot(trainer, "set-as-trainer")
    finally:
        trainer_ctx.close()

    # … which a rep can read, export and print, but not edit.
    rep_ctx = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    try:
        page = rep_ctx.new_page()
        sign_in(page, shot, *REP, role="rep")
        page.goto(f"/sets/{set_id}")
        expect(page.get_by_role("heading", level=1)).to_have_text("投标前必读")
        expect(page.locator("ol.set-items > li h3")).to_have_text([lesson_title])
        expect(page.locator("blockquote.note")).to_have_text("评标办法决定报价策略。")
        expect(page.get_by_role("link", name="导出 Markdown")).to_be_visible()
        expect(page.get_by_role("link", name="打印版")).to_be_visible()
        for control in ("上移", "下移", "移除", "保存讲解", "添加", "保存", "删除课程集"):
            expect(page.get_by_role("button", name=control, exact=True)).to_have_count(0)
        expect(page.locator("form")).to_have_count(1)  # only the header's sign-out form
        expect(page.locator('textarea[name="note"]')).to_have_count(0)
        expect(page.get_by_text("修改课程集信息")).to_have_count(0)
        shot(page, "set-as-rep")

        # No "new set" form on /sets and no "add to set" form on a lesson page for a rep either.
        page.get_by_role("link", name="全部课程集").click()
        expect(page.get_by_role("link", name="投标前必读")).to_be_visible()
        expect(page.get_by_role("heading", name="新建课程集")).to_have_count(0)
        expect(page.locator('form[action="/sets"]')).to_have_count(0)
        shot(page, "sets-as-rep")
        page.goto(f"/lessons/{lesson_id}")
        expect(page.get_by_role("heading", level=1)).to_have_text(lesson_title)
        expect(page.get_by_role("heading", name="加入课程集")).to_have_count(0)
        shot(page, "lesson-as-rep")
    finally:
        rep_ctx.close()


def test_anonymous_submit_review_lands_on_login_and_returns_after_sign_in(page: Page, shot: Shots) -> None:
    page.goto("/")
    page.get_by_role("navigation").get_by_role("link", name="提交复盘").click()
    url = urlparse(page.url)
    assert url.path == "/login" and url.query == "next=/reviews/new", page.url
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    expect(page.locator('input[name="next"]')).to_have_value("/reviews/new")
    expect(page.get_by_role("heading", name="提交复盘")).to_have_count(0)
    shot(page, "login-redirect")

    # A wrong password keeps the visitor on the login page with a message.
    page.locator('input[name="name"]').fill(REP[0])
    page.locator('input[name="password"]').fill("not-the-password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_have_text("用户名或密码不正确")
    shot(page, "login-failed")

    # Signing in then leads back to the review form.
    page.locator('input[name="password"]').fill(REP[1])
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="提交复盘", level=1)).to_be_visible()
    assert urlparse(page.url).path == "/reviews/new"
    expect(page.locator(".account .who")).to_have_text("rita · rep")
    shot(page, "review-form-after-login")
