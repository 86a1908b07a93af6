"""Lesson sets in the web app: the pages (plain forms) and the JSON API, with real lessons.

Three tiny Markdown files are ingested once per module with the real engine; trainers curate,
reps and readers only read.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from kb.accounts import Accounts
from web_support import app_with, csrf_in, signed_in

pytestmark = pytest.mark.slow


CORPUS = {
    "关系经营.md": """# 关系经营

## 先建立普遍客户关系

不要只盯着一个关键人。各部门的普遍关系是项目推进的土壤，要有计划地拜访使用部门、技术部门和采购部门。

## 找到内部教练

教练能告诉你决策链和预算的真实情况。要在项目早期识别愿意帮助我们的人，并持续给他价值。
""",
    "投标.md": """# 投标

## 研究评标办法

投标前要研究清楚评标办法和议价规则，提前准备价格底线和让价梯度。
""",
    "review.md": """---
kind: review
title: 某医院续约复盘
outcome: win
customer: 某三甲医院
---
# 某医院续约复盘

## 经验教训

- 续约要提前半年启动，先和使用科室确认满意度。<script>alert('x')</script>
""",
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    with app_with(tmp_path_factory.mktemp("web_sets"), CORPUS, (("tina", "trainer"), ("rob", "rep"), ("rae", "reader"))) as application:
        yield application


@pytest.fixture(scope="module")
def lessons(app) -> dict[str, str]:
    """Lesson title → id."""
    return {lesson.title: lesson.id for lesson in app.state.workspace.catalog.iter_lessons()}


@pytest.fixture(scope="module")
def trainer_headers(app) -> dict[str, str]:
    return {"Authorization": f"Bearer {Accounts(app.state.workspace.catalog).create_token('tina')}"}


@pytest.fixture(scope="module")
def rep_headers(app) -> dict[str, str]:
    return {"Authorization": f"Bearer {Accounts(app.state.workspace.catalog).create_token('rob')}"}


@pytest.fixture(scope="module")
def tina(app) -> TestClient:
    return signed_in(app, "tina")


RELATIONS = "先建立普遍客户关系"
COACH = "找到内部教练"
BIDDING = "研究评标办法"


def create_by_form(client: TestClient, **fields) -> int:
    token = csrf_in(client.get("/sets").text)
    response = client.post("/sets", data={"csrf_token": token, **fields}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return int(re.fullmatch(r"/sets/(\d+)", response.headers["location"]).group(1))


def order_on_page(html: str) -> list[str]:
    return re.findall(r'<li id="item-([0-9a-f]+)">', html)


# --- API ----------------------------------------------------------------------------------


def test_api_crud_reorder_and_notes(app, lessons, trainer_headers):
    client = TestClient(app)
    created = client.post("/api/sets", headers=trainer_headers, json={"title": "新人第一周", "audience": "新销售", "description": "先读这三条"})
    assert created.status_code == 201
    set_id = created.json()["id"]
    assert created.json()["title"] == "新人第一周" and created.json()["items"] == []

    for title in (RELATIONS, COACH, BIDDING):
        response = client.post(f"/api/sets/{set_id}/items", headers=trainer_headers, json={"lesson_id": lessons[title], "note": f"读{title}"})
        assert response.status_code == 201
    body = response.json()
    assert [item["title"] for item in body["items"]] == [RELATIONS, COACH, BIDDING]
    assert body["item_count"] == 3

    note = client.patch(f"/api/sets/{set_id}/items/{lessons[COACH]}", headers=trainer_headers, json={"note": "重点：教练"})
    assert note.status_code == 200
    assert [item["note"] for item in note.json()["items"]][1] == "重点：教练"

    new_order = [lessons[BIDDING], lessons[RELATIONS], lessons[COACH]]
    reordered = client.patch(f"/api/sets/{set_id}", headers=trainer_headers, json={"lesson_ids": new_order, "title": "新人第一周（修订）"})
    assert reordered.status_code == 200
    assert [item["lesson_id"] for item in reordered.json()["items"]] == new_order
    assert reordered.json()["title"] == "新人第一周（修订）"

    bad = client.patch(f"/api/sets/{set_id}", headers=trainer_headers, json={"lesson_ids": new_order[:2], "title": "不应保存"})
    assert bad.status_code == 422 and "lesson_ids" in bad.json()["error"]["fields"]
    assert client.get(f"/api/sets/{set_id}").json()["title"] == "新人第一周（修订）"  # nothing changed

    listed = client.get("/api/sets").json()["sets"]
    assert any(s["id"] == set_id and s["item_count"] == 3 for s in listed)

    removed = client.delete(f"/api/sets/{set_id}/items/{lessons[RELATIONS]}", headers=trainer_headers)
    assert removed.status_code == 200
    assert [item["lesson_id"] for item in removed.json()["items"]] == [lessons[BIDDING], lessons[COACH]]
    assert client.delete(f"/api/sets/{set_id}/items/{lessons[RELATIONS]}", headers=trainer_headers).status_code == 404

    assert client.delete(f"/api/sets/{set_id}", headers=trainer_headers).status_code == 204
    assert client.get(f"/api/sets/{set_id}").status_code == 404


def test_api_refuses_bad_input_with_field_errors(app, lessons, trainer_headers):
    client = TestClient(app)
    long_title = client.post("/api/sets", headers=trainer_headers, json={"title": "长" * 201})
    assert long_title.status_code == 422
    assert long_title.json()["error"]["fields"] == {"title": "is longer than 200 characters"}
    assert long_title.json()["error"]["field_codes"] == {"title": "too_long"}
    assert client.post("/api/sets", headers=trainer_headers, json={"title": "  "}).status_code == 422
    assert client.post("/api/sets", headers=trainer_headers, json={}).status_code == 422

    set_id = client.post("/api/sets", headers=trainer_headers, json={"title": "校验"}).json()["id"]
    missing = client.post(f"/api/sets/{set_id}/items", headers=trainer_headers, json={"lesson_id": "nope"})
    assert missing.status_code == 422 and "lesson_id" in missing.json()["error"]["fields"]
    long_note = client.post(f"/api/sets/{set_id}/items", headers=trainer_headers, json={"lesson_id": lessons[COACH], "note": "注" * 2001})
    assert long_note.status_code == 422 and "note" in long_note.json()["error"]["fields"]
    assert client.post("/api/sets/999999/items", headers=trainer_headers, json={"lesson_id": lessons[COACH]}).status_code == 404


def test_api_writes_need_a_trainer(app, lessons, trainer_headers, rep_headers):
    client = TestClient(app)
    set_id = client.post("/api/sets", headers=trainer_headers, json={"title": "只读给销售"}).json()["id"]
    item = {"lesson_id": lessons[COACH]}

    assert client.post("/api/sets", json={"title": "匿名"}).status_code == 401
    assert client.post("/api/sets", headers=rep_headers, json={"title": "销售"}).status_code == 403
    assert client.patch(f"/api/sets/{set_id}", headers=rep_headers, json={"title": "改"}).status_code == 403
    assert client.post(f"/api/sets/{set_id}/items", headers=rep_headers, json=item).status_code == 403
    assert client.delete(f"/api/sets/{set_id}", headers=rep_headers).status_code == 403
    assert client.delete(f"/api/sets/{set_id}").status_code == 401
    # reading is open (public reading is on by default)
    assert client.get(f"/api/sets/{set_id}", headers=rep_headers).status_code == 200
    assert client.get("/api/sets").status_code == 200


# --- pages --------------------------------------------------------------------------------


def test_trainers_see_the_create_form_others_do_not(app, tina):
    assert 'action="/sets"' in tina.get("/sets").text
    assert 'action="/sets"' not in signed_in(app, "rob").get("/sets").text
    anonymous = TestClient(app).get("/sets")
    assert anonymous.status_code == 200 and 'action="/sets"' not in anonymous.text


def test_sets_by_form_add_move_note_remove_edit_delete(app, lessons, tina):
    set_id = create_by_form(tina, title="大客户入门", audience="新销售", description="第一周读完")
    page = tina.get("/sets").text
    assert f'<a href="/sets/{set_id}">大客户入门</a>' in page and "<td>新销售</td>" in page

    token = csrf_in(tina.get(f"/sets/{set_id}").text)
    for title in (RELATIONS, COACH):
        response = tina.post(f"/sets/{set_id}/items", data={"csrf_token": token, "lesson_id": lessons[title]}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == f"/sets/{set_id}?added={lessons[title]}#item-{lessons[title]}"
    # a pasted lesson link works too, and `next` sends the user back where they were
    response = tina.post(
        f"/sets/{set_id}/items",
        data={"csrf_token": token, "lesson_id": f"http://kb.example/lessons/{lessons[BIDDING]}", "note": "投标前必读", "next": f"/lessons/{lessons[BIDDING]}"},
        follow_redirects=False,
    )
    assert response.headers["location"] == f"/lessons/{lessons[BIDDING]}"
    assert order_on_page(tina.get(f"/sets/{set_id}").text) == [lessons[RELATIONS], lessons[COACH], lessons[BIDDING]]

    move = tina.post(f"/sets/{set_id}/items/{lessons[BIDDING]}/move", data={"csrf_token": token, "direction": "up"}, follow_redirects=False)
    assert move.status_code == 303
    tina.post(f"/sets/{set_id}/items/{lessons[RELATIONS]}/move", data={"csrf_token": token, "direction": "down"})
    assert order_on_page(tina.get(f"/sets/{set_id}").text) == [lessons[BIDDING], lessons[RELATIONS], lessons[COACH]]
    tina.post(f"/sets/{set_id}/items/{lessons[BIDDING]}/move", data={"csrf_token": token, "direction": "up"})  # already first
    assert order_on_page(tina.get(f"/sets/{set_id}").text)[0] == lessons[BIDDING]

    tina.post(f"/sets/{set_id}/items/{lessons[COACH]}/note", data={"csrf_token": token, "note": "找教练的三个信号"})
    html = tina.get(f"/sets/{set_id}").text
    assert ">找教练的三个信号</textarea>" in html
    assert ">投标前必读</textarea>" in html

    tina.post(f"/sets/{set_id}/items/{lessons[RELATIONS]}/remove", data={"csrf_token": token})
    assert order_on_page(tina.get(f"/sets/{set_id}").text) == [lessons[BIDDING], lessons[COACH]]

    tina.post(f"/sets/{set_id}/edit", data={"csrf_token": token, "title": "大客户入门（二版）", "audience": "", "description": ""})
    assert "<h1>大客户入门（二版）</h1>" in tina.get(f"/sets/{set_id}").text

    response = tina.post(f"/sets/{set_id}/delete", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/sets"
    assert tina.get(f"/sets/{set_id}").status_code == 404


def test_readers_see_the_set_without_controls(app, lessons, tina):
    set_id = create_by_form(tina, title="给销售看的")
    token = csrf_in(tina.get(f"/sets/{set_id}").text)
    tina.post(f"/sets/{set_id}/items", data={"csrf_token": token, "lesson_id": lessons[COACH], "note": "为什么要找教练"})

    html = signed_in(app, "rob").get(f"/sets/{set_id}").text
    assert f'href="/lessons/{lessons[COACH]}"' in html
    assert '<blockquote class="note">为什么要找教练</blockquote>' in html
    assert "/move" not in html and "/remove" not in html and "/delete" not in html
    assert '<p class="meta">关系经营 · ' in html  # the lesson's source, by its document's title
    assert "投标.md" not in html


def test_over_long_form_fields_are_refused_beside_the_field(app, lessons, tina):
    token = csrf_in(tina.get("/sets").text)
    response = tina.post("/sets", data={"csrf_token": token, "title": "题" * 201, "audience": "新人"})
    assert response.status_code == 422
    assert '<p class="field-error" id="title-error">太长了：最多 200 个字</p>' in response.text
    assert 'name="audience" value="新人"' in response.text

    set_id = create_by_form(tina, title="长讲解")
    tina.post(f"/sets/{set_id}/items", data={"csrf_token": token, "lesson_id": lessons[COACH]})
    response = tina.post(f"/sets/{set_id}/items/{lessons[COACH]}/note", data={"csrf_token": token, "note": "讲" * 2001})
    assert response.status_code == 422
    assert f'<p class="field-error" id="note-error-{lessons[COACH]}">太长了：最多 2000 个字</p>' in response.text

    response = tina.post(f"/sets/{set_id}/items", data={"csrf_token": token, "lesson_id": "no-such-lesson"})
    assert response.status_code == 422
    assert '<p class="field-error" id="add-error">找不到这条经验</p>' in response.text
    assert 'name="lesson_id" value="no-such-lesson"' in response.text


def test_form_writes_need_a_trainer_and_a_csrf_token(app, tina):
    assert tina.post("/sets", data={"title": "没有令牌"}).status_code == 403
    rep = signed_in(app, "rob")
    token = csrf_in(rep.get("/sets").text)
    assert rep.post("/sets", data={"csrf_token": token, "title": "销售建的"}).status_code == 403
    assert TestClient(app).post("/sets", data={"title": "匿名"}).status_code == 401
    titles = [s["title"] for s in TestClient(app).get("/api/sets").json()["sets"]]
    assert not {"没有令牌", "销售建的", "匿名"} & set(titles)


def test_unsafe_next_goes_back_to_the_set(app, lessons, tina):
    set_id = create_by_form(tina, title="跳转")
    token = csrf_in(tina.get(f"/sets/{set_id}").text)
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example/"):
        response = tina.post(f"/sets/{set_id}/items", data={"csrf_token": token, "lesson_id": lessons[COACH], "next": target}, follow_redirects=False)
        assert response.headers["location"].startswith(f"/sets/{set_id}")


def test_export_markdown_and_print_page(app, lessons, tina):
    set_id = create_by_form(tina, title="导出测试", audience="新销售", description="第一周")
    token = csrf_in(tina.get(f"/sets/{set_id}").text)
    review_lesson = next(title for title in lessons if title.startswith("续约要提前半年启动"))
    for title, note in ((COACH, "先读这条"), (review_lesson, "")):
        tina.post(f"/sets/{set_id}/items", data={"csrf_token": token, "lesson_id": lessons[title], "note": note})

    export = TestClient(app).get(f"/sets/{set_id}/export.md")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/markdown")
    assert export.headers["content-disposition"].startswith("attachment;")
    assert f'filename="lesson-set-{set_id}.md"' in export.headers["content-disposition"]
    text = export.text
    assert text.startswith("# 导出测试\n")
    assert "*新销售*" in text and "第一周" in text
    assert f"## 1. {COACH}" in text and "> 先读这条" in text
    assert "教练能告诉你决策链和预算的真实情况" in text
    assert f"## 2. {review_lesson}" in text
    # Sources are named by their document's title, not their file name.
    assert "<sub>关系经营 · " in text and "关系经营.md" not in text

    page = TestClient(app).get(f"/sets/{set_id}/print")
    assert page.status_code == 200
    html = page.text
    assert 'class="topbar"' not in html and "<form" not in html
    # Landmarks for assistive technology, and no inline script (the print button comes from a static file).
    assert "<main" in html and '<nav class="no-print print-tools"' in html
    assert "<script>" not in html and '<script src="' in html
    assert "<h1>导出测试</h1>" in html
    assert "1. 找到内部教练" in html and '<blockquote class="note">先读这条</blockquote>' in html
    assert "教练能告诉你决策链和预算的真实情况" in html  # lessons in full
    assert "<script>alert" not in html  # lesson text never runs (inline HTML is stored as its text since issue 10)
    assert f'href="/sets/{set_id}"' in html


def test_set_text_is_escaped(app, trainer_headers):
    client = TestClient(app)
    created = client.post(
        "/api/sets", headers=trainer_headers, json={"title": "<script>alert(1)</script>", "audience": "<b>x</b>", "description": "<img src=x onerror=alert(2)>"}
    ).json()
    for url in (f"/sets/{created['id']}", "/sets", f"/sets/{created['id']}/print"):
        html = client.get(url).text
        assert "<script>alert(1)" not in html and "<b>x</b>" not in html and "<img src=x" not in html, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url


def test_unknown_set_is_404(app):
    client = TestClient(app)
    assert client.get("/sets/999999").status_code == 404
    assert client.get("/api/sets/999999").json()["error"]["status"] == 404
    assert client.get("/sets/999999/export.md").status_code == 404


def offered(page: str) -> list[str]:
    """Lesson ids the set page's search offers to add, in order."""
    return re.findall(r'<input type="checkbox" name="lesson_id" value="([^"]+)">', page)


def test_the_set_page_offers_what_the_main_search_finds_less_the_sets_lessons(app, lessons, tina, trainer_headers, monkeypatch):
    monkeypatch.setattr("web.routes.sets.SET_SEARCH_PAGE", 1)  # a page per lesson: the small base still needs pages
    set_id = create_by_form(tina, title="搜索对照")
    tina.post(f"/api/sets/{set_id}/items", json={"lesson_id": lessons[RELATIONS]}, headers=trainer_headers)
    for words in ("客户关系", "投标价格", "续约"):
        main = [hit["lesson_id"] for hit in tina.get("/api/search", params={"q": words, "k": 10}).json()["results"]]
        shown: list[str] = []
        url: str | None = f"/sets/{set_id}?" + urlencode({"q": words})
        while url:
            page = tina.get(url).text
            shown += offered(page)
            found = re.search(r'<a rel="next" href="([^"]+)"', page)
            url = html.unescape(found.group(1)) if found else None
        assert lessons[RELATIONS] not in shown, words
        assert [one for one in main if one != lessons[RELATIONS]] == shown[: len(main) - (lessons[RELATIONS] in main)], words


def test_the_set_page_finds_lessons_and_adds_several_in_place(app, lessons, tina):
    set_id = create_by_form(tina, title="客户关系入门")
    page = tina.get(f"/sets/{set_id}", params={"q": "客户关系"}).text
    # Matching lessons, each with an add button of a plain form that posts to the set's items.
    form = page.split('<form method="post" action="/sets/{}/items" class="matches">'.format(set_id), 1)[1].split("</form>", 1)[0]
    for title in (RELATIONS, COACH):
        assert f'<input type="checkbox" name="lesson_id" value="{lessons[title]}">' in form
        assert f'<button type="submit" name="lesson_id" value="{lessons[title]}"' in form
    assert 'name="q" value="客户关系"' in form

    # Two ticked at once, as a browser without JavaScript sends them.
    token = csrf_in(page)
    response = tina.post(
        f"/sets/{set_id}/items",
        data={"csrf_token": token, "q": "客户关系", "lesson_id": [lessons[RELATIONS], lessons[COACH]]},
        follow_redirects=False,
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"/sets/{set_id}?q=") and location.endswith(f"#item-{lessons[COACH]}")
    page = tina.get(location).text
    assert order_on_page(page) == [lessons[RELATIONS], lessons[COACH]]
    assert f'<p class="notice" role="status">已加入 2 条经验：“{RELATIONS}”、“{COACH}”</p>' in page
    # The search is still shown, without the lessons now in the set.
    assert f'<button type="submit" name="lesson_id" value="{lessons[RELATIONS]}"' not in page
    assert f'<input type="checkbox" name="lesson_id" value="{lessons[COACH]}">' not in page

    # Every change says what it did.
    move = tina.post(f"/sets/{set_id}/items/{lessons[COACH]}/move", data={"csrf_token": token, "direction": "up"})
    assert f"已移动“{COACH}”，现在排第 1 位" in move.text
    note = tina.post(f"/sets/{set_id}/items/{lessons[COACH]}/note", data={"csrf_token": token, "note": "先读"})
    assert f"已保存“{COACH}”的讲解" in note.text
    removed = tina.post(f"/sets/{set_id}/items/{lessons[RELATIONS]}/remove", data={"csrf_token": token})
    assert f"已从课程集移除“{RELATIONS}”" in removed.text
    assert order_on_page(removed.text) == [lessons[COACH]]
    english = tina.get(f"/sets/{set_id}", params={"added": lessons[COACH], "lang": "en"}).text
    assert f"Added 1 lesson(s): “{COACH}”" in english
    tina.get("/sets", params={"lang": "zh"})

    # Nothing ticked: a message beside the form, nothing added.
    empty = tina.post(f"/sets/{set_id}/items", data={"csrf_token": token, "q": "客户关系"})
    assert empty.status_code == 422 and "请至少选择一条经验" in empty.text


def test_readers_get_no_search_to_add_on_the_set_page(app, lessons, tina):
    set_id = create_by_form(tina, title="只读")
    html = signed_in(app, "rae").get(f"/sets/{set_id}", params={"q": "客户关系"}).text
    assert 'class="matches"' not in html and 'name="q"' not in html
