"""The lesson lifecycle (issue 23): owners, verify-by dates, staleness in search, the verify queue, archiving.

With the real engine on a small corpus, as the other web tests; the re-ingest rule with the hash embedder, and the
migration on a catalog written before it.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from kb.catalog import MIGRATIONS, Catalog, utc_today
from kb.cli import cli
from kb.domain import Lifecycle
from kb.lifecycle import LessonLifecycle
from kb.settings import Settings
from search.searcher import STALE_PENALTY, _lifecycle_scores
from web_support import bearer, csrf_in, kb_client, sign_in, write_corpus

# Two copies of one playbook section in two folders (two sources: neither copy is the other's boilerplate): the
# same text, the same title, so search scores them alike and only their lifecycle can tell them apart.
TWIN = """# 复盘会议的节奏

## 丢单复盘要在一周内开

丢单之后一周内召集铁三角开复盘会，趁记忆还新，把客户的原话和评标细节都记下来。
"""
PAST = "2000-01-01"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lifecycle")


@pytest.fixture(scope="module")
def client(root: Path):
    corpus = write_corpus(root / "corpus")
    for folder in ("twin-a", "twin-b"):
        (corpus / folder).mkdir()
        (corpus / folder / "复盘节奏.md").write_text(TWIN, encoding="utf-8")
    users = (("trainer1", "trainer"), ("rep1", "rep"), ("rep2", "rep"), ("reader1", "reader"))
    with kb_client(Settings(data_dir=root / "data"), corpus, users) as client:
        yield client


@pytest.fixture(scope="module")
def catalog(client):
    return client.app.state.workspace.catalog


@pytest.fixture(scope="module")
def trainer(client):
    return bearer(client, "trainer1")


def titled(catalog, title: str):
    return next(lesson for lesson in catalog.iter_lessons() if lesson.title.startswith(title))


def patch(client, lesson_id: str, headers, **body):
    return client.patch(f"/api/lessons/{lesson_id}", headers=headers, json=body)


def search_ids(client, q: str, **params) -> list[dict]:
    response = client.get("/api/search", params={"q": q, "k": 20, **params})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def cli_run(root: Path, *args: str, input: str | None = None):
    result = CliRunner().invoke(cli, ["--data-dir", str(root / "data"), *args], input=input)
    assert result.exit_code == 0, result.output
    return result.stdout


def jsonl(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


# --- defaults -----------------------------------------------------------------------------------


def test_a_cli_ingest_leaves_lessons_unowned_in_date_for_the_configured_days(client, catalog):
    lesson = titled(catalog, "先画决策链")
    body = client.get(f"/api/lessons/{lesson.id}").json()
    assert body["owner"] is None and body["state"] == "unverified" and body["stale"] is False
    assert body["verify_by"] == (utc_today() + timedelta(days=180)).isoformat()
    assert body["verified_at"] is None and body["archived"] is False


def test_a_review_is_owned_by_its_author_and_an_upload_by_its_uploader(client, catalog):
    response = client.post(
        "/api/reviews", headers=bearer(client, "rep1"), json={"outcome": "win", "customer": "某港口集团", "lessons": ["先约技术负责人做联合测试"]}
    )
    assert response.status_code == 201, response.text
    (lesson,) = catalog.lessons_of_document(response.json()["document_id"])
    assert lesson.lifecycle.owner == "rep1"
    files = {"files": ("上传手册.md", "# 上传手册\n\n## 报价前先确认预算\n\n报价之前先确认客户今年的预算是否已经批下来。\n".encode(), "text/markdown")}
    response = client.post("/api/documents", headers=bearer(client, "trainer1"), files=files)
    assert response.status_code == 200, response.text
    assert titled(catalog, "报价前先确认预算").lifecycle.owner == "trainer1"


# --- stale, due, verified -----------------------------------------------------------------------


def test_a_lesson_past_its_verify_by_is_stale_and_due_until_it_is_verified(client, catalog, trainer, root):
    lesson = titled(catalog, "先画决策链")
    response = patch(client, lesson.id, trainer, verify_by=PAST, owner="rep2")
    assert response.status_code == 200, response.text
    assert response.json()["stale"] is True and response.json()["owner"] == "rep2"

    (found,) = [r for r in search_ids(client, "先画决策链") if r["lesson_id"] == lesson.id]
    assert found["stale"] is True and found["verify_by"] == PAST and found["owner"] == "rep2"
    assert client.get(f"/api/lessons/{lesson.id}").json()["stale"] is True
    request = json.dumps({"id": "q1", "query": "先画决策链", "k": 20}, ensure_ascii=False)
    (answer,) = jsonl(cli_run(root, "search", "--jsonl", input=request + "\n"))
    assert [r["stale"] for r in answer["results"] if r["lesson_id"] == lesson.id] == [True]
    due = jsonl(cli_run(root, "lessons", "--due", "--jsonl"))
    assert lesson.id in [record["id"] for record in due]
    assert next(r for r in due if r["id"] == lesson.id)["state"] == "stale"
    queued = client.get("/api/lessons", params={"due": 1}, headers=trainer).json()["lessons"]
    assert lesson.id in [item["id"] for item in queued]
    own = client.get("/api/lessons", params={"due": 1}, headers=bearer(client, "rep2")).json()["lessons"]
    assert [item["id"] for item in own] == [lesson.id]  # a rep's queue is their own lessons

    response = client.post(f"/api/lessons/{lesson.id}/verify", headers=bearer(client, "rep2"))  # the owner verifies
    assert response.status_code == 200, response.text
    verified = response.json()
    assert verified["stale"] is False and verified["state"] == "verified" and verified["verified_by"] == "rep2"
    assert verified["verify_by"] == (utc_today() + timedelta(days=180)).isoformat()
    assert [r["stale"] for r in search_ids(client, "先画决策链") if r["lesson_id"] == lesson.id] == [False]
    assert lesson.id not in [record["id"] for record in jsonl(cli_run(root, "lessons", "--due", "--jsonl"))]
    assert lesson.id not in [item["id"] for item in client.get("/api/lessons", params={"due": 1}, headers=trainer).json()["lessons"]]


def test_the_queue_is_by_owner_oldest_first_and_looks_ahead(client, catalog, trainer):
    first, second, third = (titled(catalog, title) for title in ("需求要书面确认", "回款从合同开始", "铁三角例会"))
    soon = (utc_today() + timedelta(days=5)).isoformat()
    assert patch(client, first.id, trainer, verify_by="2001-05-01", owner="trainer1").status_code == 200
    assert patch(client, second.id, trainer, verify_by="2000-02-01", owner="trainer1").status_code == 200
    assert patch(client, third.id, trainer, verify_by=soon, owner="reader1").status_code == 200
    due = client.get("/api/lessons", params={"due": 1, "within": 0}, headers=trainer).json()["lessons"]
    ids = [item["id"] for item in due]
    assert third.id not in ids  # due in five days: not yet
    assert ids.index(second.id) < ids.index(first.id)  # one owner's oldest first
    owners = [item["owner"] for item in due]
    assert owners == sorted(owners, key=lambda o: (o is None, (o or "").casefold()))  # grouped by owner, nobody last
    ahead = client.get("/api/lessons", params={"due": 1, "within": 14}, headers=trainer).json()["lessons"]
    assert third.id in [item["id"] for item in ahead]
    assert [r["id"] for r in jsonl(CliRunner().invoke(cli, ["--data-dir", str(catalog.path.parent), "lessons", "--due", "--within", "0", "--owner", "trainer1", "--jsonl"]).stdout)] == [second.id, first.id]
    for lesson in (first, second, third):
        assert client.post(f"/api/lessons/{lesson.id}/verify", headers=trainer).status_code == 200


def test_a_stale_lesson_ranks_below_an_equally_good_fresh_one(client, catalog, trainer):
    twins = [lesson for lesson in catalog.iter_lessons() if lesson.title == "丢单复盘要在一周内开"]
    assert len(twins) == 2
    query = "丢单复盘要在一周内开"

    def order() -> list[str]:
        return [r["lesson_id"] for r in search_ids(client, query) if r["lesson_id"] in {t.id for t in twins}]

    leader, follower = order()
    assert patch(client, leader, trainer, verify_by=PAST).status_code == 200
    try:
        assert order() == [follower, leader]
        stale, fresh = (next(r for r in search_ids(client, query) if r["lesson_id"] == lid) for lid in (leader, follower))
        assert stale["score"] == pytest.approx(fresh["score"] * STALE_PENALTY, rel=1e-4)
    finally:
        client.post(f"/api/lessons/{leader}/verify", headers=trainer)
    assert _lifecycle_scores({"a": 1.0, "b": 1.0, "c": 2.0}, {"a": "stale", "c": "archived"}) == {"a": STALE_PENALTY, "b": 1.0}


# --- archive and restore ------------------------------------------------------------------------


def test_an_archived_lesson_leaves_search_and_comes_back_when_restored(client, catalog, trainer):
    lesson = titled(catalog, "价格异议先认同")
    query = "客户说太贵了怎么办"
    assert lesson.id in [r["lesson_id"] for r in search_ids(client, query)]
    response = client.post(f"/api/lessons/{lesson.id}/archive", headers=trainer)
    assert response.status_code == 200 and response.json()["archived"] is True and response.json()["state"] == "archived"
    assert lesson.id not in [r["lesson_id"] for r in search_ids(client, query)]
    assert f"/lessons/{lesson.id}?" not in client.get("/", params={"source": lesson.document_id}).text  # nor in browsing
    assert client.get(f"/api/lessons/{lesson.id}").json()["archived"] is True  # kept, readable by its link
    assert "已归档" in client.get(f"/lessons/{lesson.id}").text
    assert lesson.id not in [item["id"] for item in client.get("/api/lessons", params={"due": 1, "within": 3650}, headers=trainer).json()["lessons"]]
    response = patch(client, lesson.id, trainer, archived=False)  # PATCH restores as well
    assert response.status_code == 200 and response.json()["archived"] is False
    assert lesson.id in [r["lesson_id"] for r in search_ids(client, query)]


# --- who may ------------------------------------------------------------------------------------


def test_anonymous_writes_answer_401(client, catalog):
    lesson = titled(catalog, "高层拜访要有准备")
    for path in ("verify", "archive", "restore"):
        assert client.post(f"/api/lessons/{lesson.id}/{path}").status_code == 401
    assert client.patch(f"/api/lessons/{lesson.id}", json={"owner": None}).status_code == 401
    assert client.get("/api/lessons", params={"due": 1}).status_code == 401
    assert client.post(f"/lessons/{lesson.id}/verify", data={}).status_code == 401


def test_other_peoples_lessons_answer_403_by_role(client, catalog, trainer):
    lesson = titled(catalog, "高层拜访要有准备")
    assert patch(client, lesson.id, trainer, owner="rep1").status_code == 200
    rep1, rep2, reader = (bearer(client, name) for name in ("rep1", "rep2", "reader1"))
    for headers in (rep2, reader):
        for path in ("verify", "archive"):
            response = client.post(f"/api/lessons/{lesson.id}/{path}", headers=headers)
            assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert patch(client, lesson.id, rep1, verify_by="2030-01-01").status_code == 403  # the owner may not reassign
    assert client.get("/api/lessons", params={"owner": "rep1"}, headers=rep2).status_code == 403
    assert client.get("/api/lessons", params={"unowned": 1}, headers=rep2).status_code == 403
    assert client.post(f"/api/lessons/{lesson.id}/verify", headers=rep1).status_code == 200  # the owner verifies


def test_bad_input_answers_a_clear_422(client, catalog, trainer):
    lesson = titled(catalog, "方案呈现讲客户的问题")
    for body, field, code in [
        ({"verify_by": "2030-13-01"}, "verify_by", "date_format"),
        ({"verify_by": None}, "verify_by", "date_format"),
        ({"owner": "nobody-here"}, "owner", "unknown_account"),
        ({"owner": "x" * 100}, "owner", "too_long"),
        ('{"owner": "\\ud800"}', "owner", "invalid_unicode"),  # a lone surrogate, as JSON can escape it
        ({}, "request", "nothing_to_change"),
    ]:
        sent = {"content": body, "headers": {**trainer, "content-type": "application/json"}} if isinstance(body, str) else {"json": body, "headers": trainer}
        response = client.patch(f"/api/lessons/{lesson.id}", **sent)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["field_codes"] == {field: code}, body
    for body in ({"colour": "red"}, {"archived": "maybe"}, {"verify_by": 20300101}):
        assert client.patch(f"/api/lessons/{lesson.id}", headers=trainer, json=body).status_code == 422, body
    assert client.get("/api/lessons", params={"within": -1}, headers=trainer).status_code == 422
    assert client.post("/api/lessons/no-such-lesson/verify", headers=trainer).status_code == 404
    assert client.patch("/api/lessons/no-such-lesson", headers=trainer, json={"owner": None}).status_code == 404
    assert client.get(f"/api/lessons/{lesson.id}").json()["verified_at"] is None  # nothing changed


def test_the_new_endpoints_are_in_the_api_docs(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"get"} <= set(paths["/api/lessons"])
    assert {"get", "patch"} <= set(paths["/api/lessons/{lesson_id}"])
    for action in ("verify", "archive", "restore"):
        assert "post" in paths[f"/api/lessons/{{lesson_id}}/{action}"]


# --- pages --------------------------------------------------------------------------------------


def test_a_trainer_verifies_from_the_queue_with_plain_forms(client, catalog, trainer):
    lesson = titled(catalog, "竞争对手分析")
    assert patch(client, lesson.id, trainer, verify_by=PAST, owner="rep1").status_code == 200
    browser = TestClient(client.app)
    sign_in(browser, "trainer1")
    page = browser.get("/verify")
    assert page.status_code == 200
    html = page.text
    assert "<h2" in html and ">rep1</h2>" in html and lesson.title in html
    assert f'action="/lessons/{lesson.id}/verify"' in html and 'aria-label="核实：竞争对手分析"' in html
    assert "已过期" in html
    # a stale result is marked on the search page with its verify-by date and owner
    results = browser.get("/", params={"q": "竞争对手分析"}).text
    assert f"核实期限 {PAST} · 负责人 rep1" in results
    english = browser.get("/verify", params={"lang": "en"}).text
    assert "Lessons to verify" in english and "Verify: 竞争对手分析" in english
    browser.get("/", params={"lang": "zh"})
    lesson_page = browser.get(f"/lessons/{lesson.id}").text
    assert "这条经验已过核实期限（2000-01-01）" in lesson_page and f'action="/lessons/{lesson.id}/lifecycle"' in lesson_page
    response = browser.post(
        f"/lessons/{lesson.id}/verify", data={"csrf_token": csrf_in(html), "next": "/verify?within=14"}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/verify?within=14"
    assert lesson.title not in browser.get("/verify").text
    assert browser.post(f"/lessons/{lesson.id}/verify", data={"next": "/verify"}).status_code == 403  # no CSRF token
    # the trainer's reassign form on the lesson page
    response = browser.post(
        f"/lessons/{lesson.id}/lifecycle", data={"csrf_token": csrf_in(html), "owner": "", "verify_by": "2031-02-03"}, follow_redirects=False
    )
    assert response.status_code == 303
    body = client.get(f"/api/lessons/{lesson.id}").json()
    assert body["owner"] is None and body["verify_by"] == "2031-02-03"


def test_a_rep_sees_only_their_own_queue_and_anonymous_is_sent_to_sign_in(client, catalog, trainer):
    mine, theirs = titled(catalog, "找到并培养教练"), titled(catalog, "投标前先看评标办法")
    assert patch(client, mine.id, trainer, verify_by=PAST, owner="rep2").status_code == 200
    assert patch(client, theirs.id, trainer, verify_by=PAST, owner="rep1").status_code == 200
    browser = TestClient(client.app)
    response = browser.get("/verify", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    sign_in(browser, "rep2")
    html = browser.get("/verify").text
    assert mine.title in html and theirs.title not in html
    lesson_page = browser.get(f"/lessons/{theirs.id}").text
    assert f'action="/lessons/{theirs.id}/verify"' not in lesson_page  # not theirs to verify
    assert f'action="/lessons/{mine.id}/verify"' in browser.get(f"/lessons/{mine.id}").text
    for lesson in (mine, theirs):
        client.post(f"/api/lessons/{lesson.id}/verify", headers=trainer)


def test_insights_show_the_trust_figure(client, catalog, trainer):
    lesson = titled(catalog, "销售漏斗每周更新")
    assert patch(client, lesson.id, trainer, verify_by=PAST).status_code == 200
    client.get("/", params={"q": "销售漏斗每周更新"})  # a logged search whose top result is stale
    trust = client.get("/api/insights").json()["trust"]
    assert trust["stale"] >= 1 and trust["in_search"] == trust["lessons"] - trust["archived"]
    assert 0 <= trust["verified_share"] <= 1 and trust["verified_in_date"] >= 1
    assert trust["searches_stale_top"] >= 1 and trust["stale_top_share"] > 0
    html = client.get("/insights").text
    assert "可信度" in html and "的经验已核实且在期限内" in html
    client.post(f"/api/lessons/{lesson.id}/verify", headers=trainer)


# --- re-ingest, migration, export ---------------------------------------------------------------


def test_a_changed_review_resets_its_changed_lessons_and_keeps_the_rest(client, catalog):
    rep = bearer(client, "rep1")
    kept, changed = "评标前拿到评分细则再定报价", "决策人换了要马上重新拜访"
    response = client.post("/api/reviews", headers=rep, json={"outcome": "loss", "customer": "某航运公司", "lessons": [kept, changed]})
    document_id = response.json()["document_id"]
    for lesson in catalog.lessons_of_document(document_id):
        assert client.post(f"/api/lessons/{lesson.id}/verify", headers=rep).status_code == 200
    before = {lesson.title: lesson for lesson in catalog.lessons_of_document(document_id)}
    response = client.put(
        f"/api/reviews/{document_id}", headers=rep, json={"outcome": "loss", "customer": "某航运公司", "lessons": [kept, changed + "，并带上方案负责人"]}
    )
    assert response.status_code == 200, response.text
    after = {lesson.title: lesson for lesson in catalog.lessons_of_document(document_id)}
    assert after[kept].id == before[kept].id and after[kept].lifecycle == before[kept].lifecycle  # unchanged: state kept
    renewed = after[changed + "，并带上方案负责人"].lifecycle
    assert renewed.verified_at is None and renewed.state == "unverified" and renewed.owner == "rep1"


def test_a_playbook_section_edited_in_place_keeps_its_owner_but_is_unverified_again(hash_ingestor, tmp_path):
    path = tmp_path / "docs" / "手册.md"
    path.parent.mkdir()
    path.write_text("# 手册\n\n## 甲\n\n第一节的内容。\n\n## 乙\n\n第二节的内容。\n", encoding="utf-8")
    hash_ingestor.ingest([path])
    catalog = hash_ingestor.catalog
    lessons = {lesson.title: lesson for lesson in catalog.iter_lessons()}
    for lesson in lessons.values():
        catalog.verify_lesson(lesson.id, by=None, verify_by="2030-01-01")
    catalog.set_lifecycle(lessons["甲"].id, verify_by="2029-06-01", archived=True)
    path.write_text("# 手册\n\n## 甲\n\n第一节改过的内容。\n\n## 乙\n\n第二节的内容。\n", encoding="utf-8")
    hash_ingestor.ingest([path])
    after = {lesson.title: lesson for lesson in catalog.iter_lessons()}
    assert after["甲"].id == lessons["甲"].id
    edited = after["甲"].lifecycle
    assert edited.verified_at is None and edited.archived_at is not None  # unverified, still archived
    assert edited.verify_by == (utc_today() + timedelta(days=180)).isoformat()
    assert after["乙"].lifecycle.verified_at is not None and after["乙"].lifecycle.verify_by == "2030-01-01"


def test_review_lessons_may_have_their_own_verify_days(tmp_path):
    settings = Settings(data_dir=tmp_path / "d", verify_days=90, verify_days_review=30)
    assert settings.verify_days_for("playbook") == 90 and settings.verify_days_for("review") == 30
    assert Settings(data_dir=tmp_path / "d").verify_days_for("review") == 180


def test_a_data_dir_written_before_the_lifecycle_migrates_in_place(tmp_path: Path):
    path = tmp_path / "catalog.sqlite"
    earlier = MIGRATIONS[: [name for name, _ in MIGRATIONS].index("i23_lesson_lifecycle")]
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, script in earlier:  # the schema as the code before this change left it
        db.executescript(f"BEGIN;\n{script}\nINSERT INTO migrations VALUES ('{name}', '2026-01-01T00:00:00+00:00');\nCOMMIT;")
    db.executescript(
        """
        INSERT INTO users (id, name, role, password_hash, created_at) VALUES (7, 'rita', 'rep', 'x', '2026-01-01');
        INSERT INTO documents (id, path, title, format, kind, content_hash, ingested_at)
            VALUES ('d1', '/r.md', '复盘', 'md', 'review', 'h', '2026-03-10T08:00:00+00:00'),
                   ('d2', '/p.md', '手册', 'md', 'playbook', 'h2', '2026-01-05T08:00:00+00:00');
        INSERT INTO review_authors (document_id, user_id, created_at) VALUES ('d1', 7, '2026-03-10');
        INSERT INTO lessons (id, document_id, ordinal, title, body, heading_path, kind, source, fields, content_hash)
            VALUES ('l1', 'd1', 0, '教训', '正文', '["教训"]', 'review', 'r.md', '{}', 'c1'),
                   ('l2', 'd2', 0, '打法', '正文', '["打法"]', 'playbook', 'p.md', '{}', 'c2');
        INSERT INTO query_log (query, result_count, top_score, created_at) VALUES ('老问题', 1, 0.5, '2026-03-01');
        """
    )
    db.close()
    catalog = Catalog(path)
    try:
        review, playbook = catalog.get_lesson("l1").lifecycle, catalog.get_lesson("l2").lifecycle
        assert review == Lifecycle(owner="rita", verify_by=(date(2026, 3, 10) + timedelta(days=180)).isoformat(), stale=review.stale)
        assert playbook.owner is None and playbook.verify_by == "2026-07-04" and playbook.state in ("unverified", "stale")
        assert catalog.db.execute("SELECT top_stale FROM query_log").fetchone()[0] is None
        assert catalog.lesson_states(["l1", "l2"]) == {lid: "stale" for lid, lc in (("l1", review), ("l2", playbook)) if lc.stale}
    finally:
        catalog.close()
    Catalog(path).close()  # opening again changes nothing


def test_export_and_import_keep_the_lifecycle(client, catalog, trainer, root):
    lesson = titled(catalog, "原始 HTML 不会执行")
    assert patch(client, lesson.id, trainer, owner="trainer1", verify_by="2032-02-02", archived=True).status_code == 200
    cli_run(root, "export", str(root / "backup"))
    restored = root / "restored"
    result = CliRunner().invoke(cli, ["--data-dir", str(restored), "import", str(root / "backup")])
    assert result.exit_code == 0, result.output
    copy = Catalog(restored / "catalog.sqlite")
    try:
        assert copy.get_lesson(lesson.id).lifecycle == catalog.get_lesson(lesson.id).lifecycle
        assert copy.get_lesson(lesson.id).lifecycle.owner == "trainer1"
    finally:
        copy.close()
    client.post(f"/api/lessons/{lesson.id}/restore", headers=trainer)


def test_kb_verify_records_the_verifier(client, catalog, trainer, root):
    lesson = titled(catalog, "找到并培养教练")
    assert patch(client, lesson.id, trainer, verify_by=PAST).status_code == 200
    output = cli_run(root, "verify", lesson.id, "--by", "trainer1")
    assert f"verified {lesson.id}" in output
    verified = LessonLifecycle(catalog, client.app.state.settings).get(lesson.id).lifecycle
    assert verified.verified_by == "trainer1" and not verified.stale
    result = CliRunner().invoke(cli, ["--data-dir", str(root / "data"), "verify", "no-such-lesson"])
    assert result.exit_code == 1 and "no lesson no-such-lesson" in result.output
