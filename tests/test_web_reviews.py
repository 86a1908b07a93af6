"""The review form, review pages and the review API, end to end with the real engine.

A tiny corpus (two playbooks and one earlier review) is ingested once per module; reviews are
submitted through the app and must be on disk, in the catalog and searchable when the call returns.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from kb.accounts import Accounts
from web_support import app_with, bearer, csrf_in, signed_in

pytestmark = pytest.mark.slow


CORPUS = {
    "大客户经营手册.md": """# 大客户经营手册

## 预算要提前摸清

在方案阶段就要通过财务部门或内部教练确认客户批复的预算。报价超出批复预算，技术方案再好也很难翻盘。

## 画出决策链

项目的最终决策往往不在技术部门。要尽早画出客户的决策链，识别真正拍板的人和他最关心的风险。
""",
    "城商行信贷系统复盘.md": """---
kind: review
title: 某城商行信贷系统复盘
outcome: loss
customer: 某城商行
industry: 金融
---
# 某城商行信贷系统复盘

## 项目背景

客户替换信贷系统，我们技术第一但价格落败。

## 经验教训

- 价值必须量化才能抵抗价格战。要把方案带来的收益算成客户领导能拿去汇报的数字。
- 商务授权要在谈判前到位，避免在谈判桌上反复请示。
""",
    "discovery.md": """# Discovery playbook

## Ask about the budget in the first meeting

Qualify the budget early: ask who approves the spend and how much has been approved, before you design the solution.
""",
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    with app_with(tmp_path_factory.mktemp("web_reviews"), CORPUS, (("rita", "rep"), ("ray", "rep"), ("rosa", "reader"), ("tom", "trainer"), ("ada", "admin"))) as application:
        yield application


@pytest.fixture(scope="module")
def rita(app) -> TestClient:
    return signed_in(app, "rita")


@pytest.fixture(scope="module")
def ray(app) -> TestClient:
    return signed_in(app, "ray")


def corpus_lesson_id(app, title: str) -> str:
    for lesson in app.state.workspace.catalog.iter_lessons():
        if lesson.title == title:
            return lesson.id
    raise AssertionError(f"no corpus lesson titled {title!r}")


def submit(client: TestClient, **fields) -> str:
    """Submit the review form; return the new document id."""
    token = csrf_in(client.get("/reviews/new").text)
    response = client.post("/reviews", data={"csrf_token": token, **fields}, follow_redirects=False)
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/reviews/([0-9a-f]+)\?submitted=1", response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1)


BUDGET_LESSON = "报价前一定要摸清客户批复的预算，超出预算技术再好也难赢"
AUTH_LESSON = "关键项目的价格底线要在谈判前由领导审批好"


# --- the form -----------------------------------------------------------------------------


def test_anonymous_is_sent_to_login_and_readers_may_not_submit(app):
    anonymous = TestClient(app)
    response = anonymous.get("/reviews/new", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/reviews/new"

    assert signed_in(app, "rosa").get("/reviews/new").status_code == 403


def test_form_has_a_short_required_part_and_the_rest_folded(rita):
    html = rita.get("/reviews/new").text

    required, optional = html.split('<details class="optional"', 1)
    for outcome, label in (("win", "赢单"), ("loss", "丢单"), ("no-decision", "客户未决"), ("unknown", "未知")):
        assert f'type="radio" name="outcome" value="{outcome}"' in required
        assert label in required
    assert 'name="customer"' in required and "可以匿名" in required
    assert '<textarea name="lessons"' in required and "每行一条" in required
    assert optional.startswith(">")  # folded: not open while empty
    for name in ("title", "industry", "region", "deal_size", "currency", "competitors", "stage", "close_date",
                 "summary", "what_worked", "what_went_wrong", "next_actions"):
        assert f'name="{name}"' in optional, name
    assert 'type="date" name="close_date"' in optional
    assert '<select name="stage"' in optional


def test_form_speaks_english_on_request(app):
    html = signed_in(app, "rita").get("/reviews/new?lang=en").text  # a client of its own: the language is remembered
    assert ">Loss<" in html and "Lessons learned" in html and "More details (optional)" in html


def test_validation_errors_are_shown_beside_the_fields_and_the_input_is_kept(app, rita):
    token = csrf_in(rita.get("/reviews/new").text)
    response = rita.post(
        "/reviews",
        data={
            "csrf_token": token,
            "outcome": "",
            "customer": "某省农信社",
            "lessons": "   ",
            "industry": "金融",
            "deal_size": "很多",
            "close_date": "2025-13-40",
            "summary": "背景写了一半",
        },
    )

    assert response.status_code == 422
    html = response.text
    assert '<p class="field-error" id="outcome-error">请选择一个结果</p>' in html
    assert '<p class="field-error" id="lessons-error">至少写一条经验教训，每行一条</p>' in html
    assert '<p class="field-error" id="deal_size-error">' in html
    assert '<p class="field-error" id="close_date-error">日期格式为 YYYY-MM-DD</p>' in html
    assert 'id="customer-error"' not in html
    # every input kept, and the optional part open because it holds values and errors
    assert 'name="customer" value="某省农信社"' in html
    assert 'name="industry" value="金融"' in html
    assert 'name="deal_size" value="很多"' in html
    assert ">背景写了一半</textarea>" in html
    assert '<details class="optional" open>' in html
    # nothing was written
    assert not list(app.state.settings.reviews_dir.glob("*.md")) or all(
        "某省农信社" not in p.read_text(encoding="utf-8") for p in app.state.settings.reviews_dir.glob("*.md")
    )


def test_validation_errors_in_english(app):
    client = signed_in(app, "rita")
    token = csrf_in(client.get("/reviews/new").text)
    response = client.post("/reviews?lang=en", data={"csrf_token": token, "outcome": "win", "customer": "", "lessons": "x"})
    assert response.status_code == 422
    assert '<p class="field-error" id="customer-error">Required; an anonymised name' in response.text
    assert 'value="win" required checked' in response.text


def test_over_long_fields_are_refused_with_a_message(rita):
    token = csrf_in(rita.get("/reviews/new").text)
    response = rita.post(
        "/reviews",
        data={"csrf_token": token, "outcome": "win", "customer": "客" * 201, "lessons": "好" * 1001, "summary": "长" * 5001},
    )
    assert response.status_code == 422
    assert '<p class="field-error" id="customer-error">太长了：最多 200 个字</p>' in response.text
    assert '<p class="field-error" id="lessons-error">每条经验教训最多 1000 个字</p>' in response.text
    assert '<p class="field-error" id="summary-error">太长了：最多 5000 个字</p>' in response.text


def test_form_post_without_csrf_token_is_refused(app, rita):
    before = set(app.state.settings.reviews_dir.glob("*.md"))
    response = rita.post("/reviews", data={"outcome": "win", "customer": "某客户", "lessons": "一条经验"})
    assert response.status_code == 403
    assert set(app.state.settings.reviews_dir.glob("*.md")) == before


def test_anonymous_form_post_is_refused(app):
    response = TestClient(app).post("/reviews", data={"outcome": "win", "customer": "某客户", "lessons": "一条经验"})
    assert response.status_code == 401


# --- submitting ---------------------------------------------------------------------------


def test_submitted_review_is_on_disk_in_the_catalog_and_searchable_at_once(app, rita):
    document_id = submit(
        rita,
        outcome="loss",
        customer="某股份制银行",
        lessons=f"{BUDGET_LESSON}\n- {AUTH_LESSON}\n",
        industry="金融",
        competitors="某厂商A，某厂商B",
        deal_size="3,200,000",
        currency="CNY",
        stage="商务谈判",
        close_date="2025-10-09",
        summary="客户更换核心信贷系统。",
    )
    workspace = app.state.workspace

    # the Markdown file is the record: front matter plus sections, under reviews_dir
    document = workspace.catalog.get_document(document_id)
    path = Path(document.path)
    assert path.parent == app.state.settings.reviews_dir.resolve()
    text = path.read_text(encoding="utf-8")
    front = yaml.safe_load(text.split("---")[1])
    assert front["kind"] == "review" and front["outcome"] == "loss" and front["author"] == "rita"
    assert front["customer"] == "某股份制银行" and front["competitors"] == ["某厂商A", "某厂商B"]
    assert front["deal_size"] == 3200000 and str(front["date"]) == "2025-10-09"
    assert f"- {BUDGET_LESSON}" in text and "## 项目背景" in text

    # the author is recorded, and each line became a lesson
    rita_id = Accounts(workspace.catalog).get_user("rita").id
    assert workspace.catalog.review_author(document_id) == rita_id
    lessons = workspace.catalog.lessons_of_document(document_id)
    titles = [lesson.title for lesson in lessons]
    assert any(BUDGET_LESSON.startswith(t.rstrip("…")) for t in titles)
    assert AUTH_LESSON in titles

    # read after write: the new lesson is found right away
    auth_lesson = next(lesson for lesson in lessons if lesson.title == AUTH_LESSON)
    results = workspace.searcher.search("价格底线 谈判前 领导审批", k=5)
    assert auth_lesson.id in [r.lesson_id for r in results]


def test_review_page_lists_its_lessons_and_what_was_learned_before(app, rita):
    document_id = submit(rita, outcome="loss", customer="某农商行", lessons=BUDGET_LESSON)
    response = rita.get(f"/reviews/{document_id}?submitted=1")

    assert response.status_code == 200
    html = response.text
    assert "其中的经验现在就能搜索到" in html
    assert "某农商行丢单复盘" in html and '<span class="badge loss">丢单</span>' in html
    lesson = app.state.workspace.catalog.lessons_of_document(document_id)[0]
    assert f'href="/lessons/{lesson.id}"' in html
    assert "之前学到过" in html
    earlier = corpus_lesson_id(app, "预算要提前摸清")
    section = html.split(f'id="lesson-{lesson.id}"', 1)[1]
    assert f'href="/lessons/{earlier}"' in section
    assert f'href="/reviews/{document_id}/edit"' in html  # the author may edit


def test_the_same_review_twice_is_refused_with_a_link_to_the_first(app, rita, ray):
    fields = {"outcome": "loss", "customer": "某证券公司", "lessons": f"{AUTH_LESSON}\n招标文件要逐条响应"}
    first = submit(rita, **fields)

    # The same customer and lessons again, in another order and with other punctuation: refused, form kept.
    token = csrf_in(rita.get("/reviews/new").text)
    again = {**fields, "lessons": f"招标文件要逐条响应。\n{AUTH_LESSON}", "customer": " 某证券公司 "}
    response = rita.post("/reviews", data={"csrf_token": token, **again}, follow_redirects=False)
    assert response.status_code == 409
    assert "你已经提交过这份复盘" in response.text and f'<a href="/reviews/{first}">' in response.text
    assert 'value=" 某证券公司 "' in response.text or 'value="某证券公司"' in response.text
    # The API says the same, with where the first one is.
    api = TestClient(app).post("/api/reviews", headers=bearer(app, "rita"), json={**fields, "lessons": fields["lessons"].splitlines()})
    assert api.status_code == 409
    assert api.json()["error"]["status"] == 409 and api.json()["error"]["url"] == f"/reviews/{first}"
    assert api.headers["location"] == f"/reviews/{first}"
    customers = [d.metadata.get("customer") for d in app.state.workspace.catalog.list_documents()]
    assert customers.count("某证券公司") == 1

    # Another author's copy, or the same author with one more lesson, is a review of its own.
    assert submit(ray, **fields) != first
    assert submit(rita, **{**fields, "lessons": fields["lessons"] + "\n交付团队要早点进场"}) != first


def test_learned_before_shows_a_lesson_once_with_where_else_it_was_written(app, rita, ray):
    lesson = "签约前要让客户高层确认验收标准"
    first = submit(rita, outcome="loss", customer="某保险公司", lessons=lesson)
    second = submit(ray, outcome="win", customer="某基金公司", lessons=lesson)
    third = submit(rita, outcome="no-decision", customer="某信托公司", lessons="签约之前要请客户高层确认验收的标准")

    html = rita.get(f"/reviews/{third}").text
    before = html.split('class="learned-before"', 1)[1]
    catalog = app.state.workspace.catalog
    own = {lesson.id for lesson in catalog.lessons_of_document(third)}
    linked = re.findall(r'href="/lessons/([0-9a-f]+)"', before)
    assert linked and len(linked) == len(set(linked)) and not own & set(linked)
    copies = {l.id for d in (first, second) for l in catalog.lessons_of_document(d)}
    assert len(copies & set(linked)) == 1  # the two copies are one suggestion
    assert "另有 1 份文档写过同样的经验" in before
    # Each suggestion names its source by title, date and author, its outcome, and the words in common.
    assert re.search(r"某(保险|基金)公司(丢单|赢单)复盘 · \d{4}-\d{2}-\d{2} · r(ita|ay)", before)
    assert "共同点：" in before and "验收" in before.split("共同点：", 1)[1]


def test_review_page_is_public_but_shows_no_edit_link_to_others(app, rita, ray):
    document_id = submit(rita, outcome="win", customer="某城投公司", lessons="先找到真正拍板的人")
    anonymous = TestClient(app).get(f"/reviews/{document_id}")
    assert anonymous.status_code == 200 and "先找到真正拍板的人" in anonymous.text
    assert "/edit" not in anonymous.text
    assert f'href="/reviews/{document_id}/edit"' not in ray.get(f"/reviews/{document_id}").text


def test_user_text_comes_back_escaped(app, rita):
    document_id = submit(
        rita,
        outcome="unknown",
        customer="<script>alert('c')</script>某客户",
        lessons="<script>alert('l')</script>要先确认预算 <b>bold</b>",
        summary="<img src=x onerror=alert('s')> 背景",
        what_worked="<script>alert('w')</script>",
    )
    html = rita.get(f"/reviews/{document_id}").text
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(" in html
    assert "&lt;img src=x onerror=alert(" in html
    form = rita.get(f"/reviews/{document_id}/edit").text
    assert "<script>alert" not in form and "&lt;script&gt;alert(" in form


def test_unknown_review_is_404(rita):
    assert rita.get("/reviews/000000000000").status_code == 404
    assert rita.get("/api/reviews/000000000000").json()["error"]["status"] == 404


# --- editing ------------------------------------------------------------------------------


def test_rep_edits_their_own_review_and_unchanged_lessons_keep_their_ids(app, rita):
    document_id = submit(rita, outcome="loss", customer="某证券公司", lessons="要尽早接触财务部门\n演示前要彩排", industry="金融")
    catalog = app.state.workspace.catalog
    before = {lesson.title: lesson.id for lesson in catalog.lessons_of_document(document_id)}
    path = Path(catalog.get_document(document_id).path)

    form = rita.get(f"/reviews/{document_id}/edit")
    assert form.status_code == 200
    assert 'name="customer" value="某证券公司"' in form.text
    assert "要尽早接触财务部门\n演示前要彩排</textarea>" in form.text
    assert 'value="loss" required checked' in form.text
    assert '<details class="optional" open>' in form.text  # it holds the industry

    response = rita.post(
        f"/reviews/{document_id}/edit",
        data={
            "csrf_token": csrf_in(form.text),
            "outcome": "loss",
            "customer": "某证券公司",
            "industry": "金融",
            "lessons": "要尽早接触财务部门\n投标前要拿到客户的评分细则",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/reviews/{document_id}?saved=1"

    after = {lesson.title: lesson.id for lesson in catalog.lessons_of_document(document_id)}
    assert after["要尽早接触财务部门"] == before["要尽早接触财务部门"]
    assert "演示前要彩排" not in after and "投标前要拿到客户的评分细则" in after
    assert list(app.state.settings.reviews_dir.glob(path.name)) == [path]  # same file, rewritten
    assert "投标前要拿到客户的评分细则" in path.read_text(encoding="utf-8")
    assert "author: rita" in path.read_text(encoding="utf-8")
    results = app.state.workspace.searcher.search("评分细则", k=5)
    assert after["投标前要拿到客户的评分细则"] in [r.lesson_id for r in results]


def test_edit_errors_are_shown_in_the_form(rita):
    document_id = submit(rita, outcome="win", customer="某保险公司", lessons="续约要提前半年启动")
    token = csrf_in(rita.get(f"/reviews/{document_id}/edit").text)
    response = rita.post(f"/reviews/{document_id}/edit", data={"csrf_token": token, "outcome": "win", "customer": "", "lessons": "续约要提前半年启动"})
    assert response.status_code == 422
    assert 'id="customer-error"' in response.text
    assert f'action="/reviews/{document_id}/edit"' in response.text


def test_another_rep_cannot_edit_but_an_admin_can(app, rita, ray):
    document_id = submit(rita, outcome="no-decision", customer="某物流集团", lessons="预算没批下来之前不要投入太多售前资源")

    assert ray.get(f"/reviews/{document_id}/edit").status_code == 403
    token = csrf_in(ray.get("/reviews/new").text)
    response = ray.post(
        f"/reviews/{document_id}/edit", data={"csrf_token": token, "outcome": "win", "customer": "改掉", "lessons": "改掉"}
    )
    assert response.status_code == 403
    assert "改掉" not in Path(app.state.workspace.catalog.get_document(document_id).path).read_text(encoding="utf-8")

    trainer = signed_in(app, "tom")
    assert trainer.get(f"/reviews/{document_id}/edit").status_code == 403
    admin = signed_in(app, "ada")
    assert admin.get(f"/reviews/{document_id}/edit").status_code == 200


def test_reviews_from_the_corpus_are_shown_but_not_edited_in_the_web(app):
    document = next(d for d in app.state.workspace.catalog.list_documents() if d.kind == "review" and "城商行信贷" in d.path)
    admin = signed_in(app, "ada")
    page = admin.get(f"/reviews/{document.id}")
    assert page.status_code == 200 and "价值必须量化才能抵抗价格战" in page.text
    assert "/edit" not in page.text
    assert admin.get(f"/reviews/{document.id}/edit").status_code == 403


# --- API ----------------------------------------------------------------------------------


def test_api_submits_a_review_and_answers_with_lessons_and_similar_ones(app):
    headers = bearer(app, "rita")
    response = TestClient(app).post(
        "/api/reviews",
        headers=headers,
        json={"outcome": "loss", "customer": "某城商行二期", "lessons": [BUDGET_LESSON, "价值要量化成客户能汇报的数字"], "deal_size": 1000000},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"document_id", "title", "lessons"}
    assert body["title"] == "某城商行二期丢单复盘"
    assert len(body["lessons"]) == 2
    for lesson in body["lessons"]:
        assert set(lesson) == {"lesson_id", "title", "similar", "drivers", "drivers_confirmed"}
        keys = {"lesson_id", "title", "source_title", "outcome", "score", "shared_terms", "passage", "also_in"}
        assert lesson["similar"] and all(set(s) == keys for s in lesson["similar"])
    similar_titles = [s["title"] for s in body["lessons"][1]["similar"]]
    assert any("量化" in title for title in similar_titles)

    got = TestClient(app).get(f"/api/reviews/{body['document_id']}").json()
    assert got["document_id"] == body["document_id"] and got["author"] == "rita"
    assert got["review"]["customer"] == "某城商行二期" and got["review"]["lessons"][0] == BUDGET_LESSON
    assert got["review"]["deal_size"] == 1000000
    assert [lesson["lesson_id"] for lesson in got["lessons"]] == [lesson["lesson_id"] for lesson in body["lessons"]]


def test_api_accepts_lessons_as_one_string(app):
    response = TestClient(app).post(
        "/api/reviews", headers=bearer(app, "rita"), json={"outcome": "win", "customer": "某电厂", "lessons": "第一条经验\n第二条经验"}
    )
    assert response.status_code == 201
    assert [lesson["title"] for lesson in response.json()["lessons"]] == ["第一条经验", "第二条经验"]


def test_api_validation_errors_come_back_by_field(app):
    response = TestClient(app).post(
        "/api/reviews", headers=bearer(app, "rita"), json={"outcome": "maybe", "customer": "", "lessons": [], "close_date": "soon"}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["status"] == 422
    assert set(error["fields"]) == {"outcome", "customer", "lessons", "close_date"}
    # Programs read the stable codes, not the wording.
    assert error["code"] == "invalid_review"
    assert error["field_codes"] == {
        "outcome": "choose_outcome",
        "customer": "customer_required",
        "lessons": "lessons_required",
        "close_date": "date_format",
    }


def test_api_needs_a_rep(app):
    client = TestClient(app)
    payload = {"outcome": "win", "customer": "某客户", "lessons": "一条"}
    assert client.post("/api/reviews", json=payload).status_code == 401
    assert client.post("/api/reviews", json=payload, headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert client.post("/api/reviews", json=payload, headers=bearer(app, "rosa")).status_code == 403


def test_api_with_a_session_cookie_needs_the_csrf_header(app):
    client = signed_in(app, "ray")
    payload = {"outcome": "win", "customer": "某客户", "lessons": "带着 CSRF 头提交的经验"}
    assert client.post("/api/reviews", json=payload).status_code == 403
    token = csrf_in(client.get("/reviews/new").text)
    assert client.post("/api/reviews", json=payload, headers={"X-CSRF-Token": token}).status_code == 201


def test_api_put_by_the_author_keeps_ids_and_others_get_403(app):
    client = TestClient(app)
    created = client.post(
        "/api/reviews", headers=bearer(app, "ray"), json={"outcome": "loss", "customer": "某车企", "lessons": ["样机测试要提前安排", "要和采购部建立联系"]}
    ).json()
    ids = {lesson["title"]: lesson["lesson_id"] for lesson in created["lessons"]}
    url = f"/api/reviews/{created['document_id']}"
    update = {"outcome": "loss", "customer": "某车企", "lessons": ["要和采购部建立联系", "样机测试要提前安排"], "region": "华南"}

    assert client.put(url, headers=bearer(app, "rita"), json=update).status_code == 403
    assert client.put(url, json=update).status_code == 401

    response = client.put(url, headers=bearer(app, "ray"), json=update)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["review"]["region"] == "华南"
    assert {lesson["title"]: lesson["lesson_id"] for lesson in body["lessons"]} == ids  # reordered, same ids

    bad = client.put(url, headers=bearer(app, "ray"), json={**update, "customer": ""})
    assert bad.status_code == 422 and "customer" in bad.json()["error"]["fields"]
    assert client.put(url, headers=bearer(app, "ada"), json=update).status_code == 200
