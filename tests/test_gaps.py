"""The gap queue (issue 23): weak searches grouped by meaning, worked by trainers, answered when search finds them.

The real engine over the product's own corpus/, as a team starts; questions a sales base has no answer for asked
in simplified script, traditional script and English; the answer added as a playbook a trainer uploads, written
in both languages as the team's English speakers ask too.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.catalog import MIGRATIONS, Catalog
from kb.cli import cli
from kb.gaps import GapQueue, question_key
from kb.settings import Settings
from web_support import bearer, csrf_in, kb_client, sign_in

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
RECEIPTS = ("出差报销需要哪些发票？", "出差報銷需要哪些發票？", "Which receipts do I need for a travel expense claim?")
PRINTER = "打印机卡纸了怎么办？"
ANSWER = """# 差旅与报销

## 出差报销需要的发票和票据

出差报销要交三类票据：机票行程单或火车票，酒店的增值税发票（抬头写公司全称和税号），以及出租车或网约车的电子发票。
每张发票都要在出差结束后三十天内连同出差申请单一起提交给财务，超过期限的发票不予报销。

Receipts for a travel expense claim: the flight itinerary or train ticket, the hotel's VAT invoice with the
company's full name and tax number, and the electronic taxi receipts, handed to finance within 30 days.
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gaps")


@pytest.fixture(scope="module")
def client(root: Path):
    users = (("trainer1", "trainer"), ("trainer2", "trainer"), ("rep1", "rep"), ("reader1", "reader"))
    with kb_client(Settings(data_dir=root / "data"), CORPUS, users) as client:
        yield client


@pytest.fixture(scope="module")
def trainer(client):
    return bearer(client, "trainer1")


def ask(client, q: str, headers=None) -> dict:
    response = client.get("/api/search", params={"q": q}, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


def gaps(client, headers, status: str = "open") -> list[dict]:
    response = client.get("/api/gaps", params={"status": status}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["gaps"]


def gap_of(client, headers, question: str, status: str = "all") -> dict:
    return next(gap for gap in gaps(client, headers, status) if any(q["question"] == question for q in gap["questions"]))


def test_one_question_in_two_scripts_and_english_is_one_gap_answered_once_a_lesson_answers_it(client, trainer):
    rep = bearer(client, "rep1")
    for question in RECEIPTS:
        assert ask(client, question, rep)["weak"], question
    ask(client, PRINTER)
    gap = gap_of(client, trainer, RECEIPTS[0], "open")
    assert gap["count"] == 3
    assert gap["status"] == "open"
    # traditional script folds to the simplified wording: two wordings, asked three times
    assert sorted(q["question"] for q in gap["questions"]) == sorted([RECEIPTS[0], RECEIPTS[2]])
    assert {q["asked_by"] for q in gap["questions"]} == {"rep1"}
    assert gap_of(client, trainer, PRINTER)["id"] != gap["id"]

    upload = client.post("/api/documents", headers=trainer, files={"files": ("差旅报销.md", ANSWER.encode(), "text/markdown")})
    assert upload.status_code == 200, upload.text
    answered = gap_of(client, trainer, RECEIPTS[0], "answered")
    assert answered["id"] == gap["id"]
    assert answered["answered_how"] == "search"
    lesson = client.get(f"/api/lessons/{answered['answer_lesson_id']}").json()
    assert "报销" in lesson["title"]
    for question in RECEIPTS:
        assert not ask(client, question)["weak"], question
    assert PRINTER in [gap["questions"][0]["question"] for gap in gaps(client, trainer, "open")]


def test_a_trainer_assigns_answers_dismisses_and_reopens_a_gap(client, trainer):
    ask(client, "清蒸鱼要蒸几分钟？")
    gap = gap_of(client, trainer, "清蒸鱼要蒸几分钟？", "open")
    assigned = client.post(f"/api/gaps/{gap['id']}/assign", headers=trainer, json={"assignee": "trainer2"})
    assert assigned.status_code == 200 and assigned.json()["assignee"] == "trainer2"
    lesson_id = ask(client, "丢单复盘")["results"][0]["lesson_id"]
    answered = client.post(f"/api/gaps/{gap['id']}/answer", headers=trainer, json={"lesson_id": f"/lessons/{lesson_id}"})
    assert answered.status_code == 200, answered.text
    assert (answered.json()["status"], answered.json()["answered_how"], answered.json()["answer_lesson_id"]) == ("answered", "lesson", lesson_id)
    assert answered.json()["closed_by"] == "trainer1"
    # asked again, still weak: a trainer's answer stands, the count grows
    ask(client, "清蒸鱼要蒸几分钟？")
    assert gap_of(client, trainer, "清蒸鱼要蒸几分钟？")["status"] == "answered"
    assert gap_of(client, trainer, "清蒸鱼要蒸几分钟？")["count"] == 2
    reopened = client.post(f"/api/gaps/{gap['id']}/reopen", headers=trainer)
    assert reopened.json()["status"] == "open" and reopened.json()["answer_lesson_id"] is None
    dismissed = client.post(f"/api/gaps/{gap['id']}/dismiss", headers=trainer)
    assert dismissed.json()["status"] == "dismissed"
    assert gap["id"] not in [g["id"] for g in gaps(client, trainer, "open")]


def test_anonymous_and_other_roles_are_refused(client):
    ask(client, "下周北京会下雨吗？")
    rep = bearer(client, "rep1")
    assert client.get("/api/gaps").status_code == 401
    assert client.get("/api/gaps", headers=rep).status_code == 403
    for action, body in (("assign", {"assignee": "rep1"}), ("answer", {"lesson_id": "x"}), ("dismiss", None), ("reopen", None)):
        assert client.post(f"/api/gaps/1/{action}", json=body).status_code == 401
        assert client.post(f"/api/gaps/1/{action}", headers=rep, json=body).status_code == 403
    assert client.post("/api/gaps/refresh").status_code == 401
    assert client.post("/api/gaps/refresh", headers=rep).status_code == 403


def test_bad_input_answers_a_clear_422_or_404(client, trainer):
    ask(client, "停车位怎么申请？")
    gap = gap_of(client, trainer, "停车位怎么申请？", "open")
    cases = [
        (f"/api/gaps/{gap['id']}/assign", {"assignee": "nobody-here"}, 422, "assignee"),
        (f"/api/gaps/{gap['id']}/assign", {"assignee": "x" * 65}, 422, "assignee"),
        (f"/api/gaps/{gap['id']}/assign", {"owner": "trainer2"}, 422, "owner"),
        (f"/api/gaps/{gap['id']}/answer", {"lesson_id": "no-such-lesson"}, 422, "lesson_id"),
        (f"/api/gaps/{gap['id']}/answer", {}, 422, "lesson_id"),
        ("/api/gaps/999999/dismiss", None, 404, None),
        ("/api/gaps/abc/dismiss", None, 422, "gap_id"),
    ]
    for url, body, status, field in cases:
        response = client.post(url, headers=trainer, json=body)
        assert response.status_code == status, (url, body, response.text)
        if field:
            assert field in response.text
    assert client.get("/api/gaps", params={"status": "closed"}, headers=trainer).status_code == 422
    assert client.get("/api/gaps", params={"limit": 0}, headers=trainer).status_code == 422


def test_the_gap_endpoints_are_in_the_api_docs(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/gaps", "/api/gaps/refresh", "/api/gaps/{gap_id}/assign", "/api/gaps/{gap_id}/answer", "/api/gaps/{gap_id}/dismiss", "/api/gaps/{gap_id}/reopen"):
        assert path in paths, path


def test_a_trainer_works_a_gap_with_plain_forms_in_both_languages(client, root):
    ask(client, "红烧肉怎么做才好吃？")
    web = client.__class__(client.app)
    sign_in(web, "trainer1")
    page = web.get("/gaps")
    assert page.status_code == 200 and "红烧肉怎么做才好吃？" in page.text and "知识缺口" in page.text
    assert "Knowledge gaps" in web.get("/gaps?lang=en").text
    gap_id = gap_of(client, bearer(client, "trainer1"), "红烧肉怎么做才好吃？")["id"]
    detail = web.get(f"/gaps/{gap_id}?lang=zh")
    assert detail.status_code == 200 and "就是这条" in detail.text
    token = csrf_in(detail.text)
    nearest = detail.text.split('name="lesson_id" value="', 1)[1].split('"', 1)[0]
    done = web.post(f"/gaps/{gap_id}/answer", data={"csrf_token": token, "lesson_id": nearest, "next": f"/gaps/{gap_id}"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/gaps/{gap_id}"
    assert "已解答" in web.get(f"/gaps/{gap_id}").text
    assert web.post(f"/gaps/{gap_id}/reopen", data={"next": "/gaps"}, follow_redirects=False).status_code == 403  # no CSRF token
    rep = client.__class__(client.app)
    sign_in(rep, "rep1")
    assert rep.get("/gaps").status_code == 403
    assert 'href="/gaps"' not in rep.get("/").text
    anonymous = client.__class__(client.app)
    assert anonymous.get("/gaps", follow_redirects=False).headers["location"].startswith("/login")


def test_kb_gaps_lists_the_queue_and_rechecks(client, root):
    result = CliRunner().invoke(cli, ["--data-dir", str(root / "data"), "gaps", "--jsonl", "--status", "all", "--recheck"])
    assert result.exit_code == 0, result.output
    listed = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert any(q["question"] == RECEIPTS[0] for gap in listed for q in gap["questions"])


def test_weak_searches_logged_before_the_queue_are_grouped_on_the_first_recheck(tmp_path: Path):
    path = tmp_path / "catalog.db"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL);")
    for name, script in MIGRATIONS:
        if name == "i23_gap_queue":
            break
        db.executescript(f"BEGIN;\n{script}\nINSERT INTO migrations VALUES ('{name}', '2026-01-01');\nCOMMIT;")
    db.executescript(
        """
        INSERT INTO query_log (query, result_count, top_score, weak, created_at) VALUES ('打印机卡纸了怎么办？', 3, 0.2, 1, '2026-02-01');
        INSERT INTO query_log (query, result_count, top_score, weak, created_at) VALUES ('打印機卡紙了怎麼辦？', 3, 0.2, 1, '2026-02-02');
        INSERT INTO query_log (query, result_count, top_score, weak, created_at) VALUES ('铁三角', 3, 0.9, 0, '2026-02-03');
        """
    )
    db.close()
    catalog = Catalog(path)
    queue = GapQueue(catalog)
    assert [q for _, q, _ in queue.ungrouped_weak_queries(10)] == ["打印机卡纸了怎么办？", "打印機卡紙了怎麼辦？"]
    assert question_key("打印機卡紙了怎麼辦？") == question_key("打印机卡纸了怎么办？")
    for log_id, question, asked_at in queue.ungrouped_weak_queries(10):
        queue.link_logged(log_id, queue.record(question, [1.0, 0.0], asked_at=asked_at))
    [gap] = queue.list()
    assert (gap.count, gap.first_asked, gap.last_asked) == (2, "2026-02-01", "2026-02-02")
    assert queue.ungrouped_weak_queries(10) == []
