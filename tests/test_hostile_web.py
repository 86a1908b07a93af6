"""The server tried as an attacker would, with KB_PUBLIC_READ=0: every hostile request answers 4xx, never 5xx.

One app with the real engine serves the whole module; each test uses its own accounts where it ends sessions.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sqlite3
import zipfile

import pytest
from fastapi.testclient import TestClient

from kb.accounts import Accounts
from kb.settings import Settings
from web.app import create_app
from web.security import PAGE_POLICY
from web_support import PASSWORD, bearer, csrf_of, kb_client, other_client, signed_in, write_corpus

pytestmark = pytest.mark.slow

USERS = (("admin1", "admin"), ("trainer1", "trainer"), ("rep1", "rep"), ("reader1", "reader"))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("hostile")
    settings = Settings(data_dir=root / "data", public_read=False, max_upload_mb=2)
    with kb_client(settings, write_corpus(root / "corpus"), USERS) as test_client:
        yield test_client


@pytest.fixture
def accounts(client) -> Accounts:
    return Accounts(client.app.state.workspace.catalog)


def new_user(accounts: Accounts, name: str, role: str = "rep") -> str:
    accounts.add_user(name, role, PASSWORD)
    return name


def document_count(client) -> int:
    return client.app.state.workspace.catalog.counts()["documents"]


def assert_no_5xx(response) -> None:
    assert response.status_code < 500, (response.request.method, response.request.url, response.text[:300])


# --- numbers, ids and text at the domain boundary ------------------------------------------------

REVIEW = {"outcome": "loss", "customer": "某城商行", "lessons": ["预算要在方案阶段就摸清楚"]}


@pytest.mark.parametrize("deal_size", ["nan", "inf", "-inf", "1e999", "NaN", "-5", "1e20", "abc", True, [1], {"a": 1}])
def test_deal_sizes_that_are_not_finite_amounts_answer_422_and_store_nothing(client, deal_size):
    before = document_count(client)
    response = client.post("/api/reviews", json={**REVIEW, "deal_size": deal_size}, headers=bearer(client, "rep1"))
    assert response.status_code == 422
    assert "deal_size" in response.json()["error"]["fields"]
    assert document_count(client) == before


def test_a_json_nan_deal_size_is_refused_like_the_text_one(client):
    body = json.dumps({**REVIEW, "deal_size": float("nan")})  # Python writes the bare NaN token JSON has no word for
    assert "NaN" in body
    before = document_count(client)
    response = client.post("/api/reviews", content=body, headers={**bearer(client, "rep1"), "content-type": "application/json"})
    assert response.status_code == 422 and "deal_size" in response.json()["error"]["fields"]
    assert document_count(client) == before


def test_the_form_refuses_nan_too_and_the_pages_that_failed_before_answer_200(client):
    rep = signed_in(client.app, "rep1")
    token = csrf_of(rep, "/reviews/new")
    form = {"outcome": "loss", "customer": "某城商行", "lessons": "预算要摸清楚", "deal_size": "nan", "csrf_token": token}
    response = rep.post("/reviews", data=form)
    assert response.status_code == 422 and 'id="deal_size-error"' in response.text
    good = rep.post("/api/reviews", json={**REVIEW, "deal_size": "5,800,000"}, headers=bearer(client, "rep1"))
    assert good.status_code == 201
    assert rep.get(f"/reviews/{good.json()['document_id']}").status_code == 200
    assert rep.get("/api/insights").status_code == 200
    assert rep.get("/insights").status_code == 200


@pytest.mark.parametrize(
    ("field", "value"),
    [("currency", "人民币元"), ("currency", "C1Y"), ("close_date", "2025-13-45"), ("customer", "客" * 201), ("customer", "a\ud800b")],
)
def test_other_review_fields_are_checked_by_name(client, field, value):
    body = json.dumps({**REVIEW, field: value})  # ASCII escapes: a lone surrogate travels as \ud800
    headers = {**bearer(client, "rep1"), "content-type": "application/json"}
    response = client.post("/api/reviews", content=body, headers=headers)
    assert response.status_code == 422 and field in response.json()["error"]["fields"]


@pytest.mark.parametrize("set_id", ["9223372036854775808", "99999999999999999999999", "-1", "0"])
def test_ids_past_sqlite_range_are_404(client, set_id):
    headers = bearer(client, "trainer1")
    assert client.get(f"/api/sets/{set_id}", headers=headers).status_code in (404, 422)
    assert client.get(f"/api/sets/{set_id}", headers=headers).status_code != 500
    reader = signed_in(client.app, "reader1")
    assert reader.get(f"/sets/{set_id}").status_code in (404, 422)


def test_the_64_bit_overflow_id_is_exactly_404(client):
    response = client.get("/api/sets/9223372036854775808", headers=bearer(client, "reader1"))
    assert response.status_code == 404 and response.json()["error"]["status"] == 404


LONG_QUERY = "预算" * 1000 + "budget " * 1142 + "x" * 6  # 10,000 characters (short enough for the test client's URL limit)

HOSTILE_QUERIES = [
    LONG_QUERY,
    "OR",
    "NEAR",
    "NEAR(a b, 2)",
    "*",
    '"',
    '"unbalanced',
    "((((",
    ")",
    "a AND OR NOT b",
    "'; DROP TABLE lessons; --",
    "1' OR '1'='1",
    "chunks_fts MATCH 'x'",
    "!!!？？？。。。",
    "😀😀😀",
    "^",
    "-",
    "col:term",
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_hostile_queries_answer_200_or_422(client, query):
    headers = bearer(client, "reader1")
    response = client.get("/api/search", params={"q": query}, headers=headers)
    assert response.status_code in (200, 422), response.text[:200]
    page = signed_in(client.app, "reader1").get("/", params={"q": query})
    assert page.status_code in (200, 422)


def test_a_10000_character_query_names_the_limit(client):
    assert len(LONG_QUERY) == 10_000
    response = client.get("/api/search", params={"q": LONG_QUERY}, headers=bearer(client, "reader1"))
    assert response.status_code == 422 and "query" in response.json()["error"]["fields"]


def test_sql_fragments_leave_the_catalog_intact(client):
    headers = bearer(client, "reader1")
    before = client.app.state.workspace.catalog.counts()
    client.get("/api/search", params={"q": "'; DROP TABLE lessons; --"}, headers=headers)
    assert client.app.state.workspace.catalog.counts()["lessons"] == before["lessons"]


# --- uploads and archives -------------------------------------------------------------------------


def test_a_300_character_chinese_file_name_is_stored_short_and_shown_whole(client, tmp_path):
    name = "销" * 300 + ".md"
    response = client.post(
        "/api/documents",
        headers=bearer(client, "trainer1"),
        files=[("files", (name, "# 长名字\n\n一段足够长的经验文字，说明上传的名字再长也不会出错。".encode(), "text/markdown"))],
    )
    assert response.status_code == 200
    result = response.json()["files"][0]
    assert result["status"] == "added" and result["name"] == name
    stored = [p for p in client.app.state.settings.uploads_dir.iterdir() if p.name.endswith(".md") and "销" in p.name]
    assert stored and all(len(p.name.encode("utf-8")) <= 255 and p.suffix == ".md" for p in stored)


def docx_bomb(inflated_mb: int = 200) -> bytes:
    """A .docx-shaped zip whose document part inflates to ``inflated_mb`` MB of zeros (a few hundred KB packed)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>')
        with archive.open("word/document.xml", "w") as part:
            block = b"\0" * (1024 * 1024)
            for _ in range(inflated_mb):
                part.write(block)
    return buffer.getvalue()


def test_a_docx_bomb_is_refused_before_extraction_naming_the_limit(client):
    bomb = docx_bomb()
    assert len(bomb) < 1024 * 1024  # within the 2 MB upload limit: only the archive check can stop it
    before = document_count(client)
    response = client.post("/api/documents", headers=bearer(client, "trainer1"), files=[("files", ("bomb.docx", bomb, "application/octet-stream"))])
    assert response.status_code == 413
    error = response.json()["files"][0]["error"]
    assert "the limit is" in error and "bomb.docx" in error
    assert document_count(client) == before


# --- accounts: throttling, sessions, tokens, disabled users ---------------------------------------


def failed_login(client: TestClient, name: str, password: str = "wrong-password"):
    return client.post("/login", data={"name": name, "password": password, "csrf_token": csrf_of(client)}, follow_redirects=False)


def test_fifteen_wrong_passwords_meet_a_429_with_retry_after(client, accounts):
    name = new_user(accounts, "throttled1")
    browser = other_client(client)
    statuses = [failed_login(browser, name).status_code for _ in range(15)]
    assert statuses[:10] == [401] * 10
    assert set(statuses[10:]) == {429}
    limited = failed_login(browser, name, PASSWORD)  # even the right password waits
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0


def test_unknown_names_are_throttled_too(client):
    browser = other_client(client)
    assert [failed_login(browser, "nobody-here").status_code for _ in range(11)][-1] == 429


def test_a_success_resets_the_failures(client, accounts):
    name = new_user(accounts, "throttled2")
    browser = other_client(client)
    for _ in range(9):
        assert failed_login(browser, name).status_code == 401
    assert failed_login(browser, name, PASSWORD).status_code == 303
    assert [failed_login(browser, name).status_code for _ in range(10)] == [401] * 10


def test_an_unknown_name_costs_one_password_hash_like_a_wrong_password(client, accounts, monkeypatch):
    """Timing equality, checked as work done: one scrypt either way (no second hash for unknown names)."""
    import kb.accounts as accounts_module

    accounts.authenticate("nobody", "x")  # the dummy hash is made once, on first use
    calls = []
    real = hashlib.scrypt
    monkeypatch.setattr(accounts_module.hashlib, "scrypt", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert accounts.authenticate("nobody-at-all", "wrong-password") is None
    unknown = len(calls)
    assert accounts.authenticate("rep1", "wrong-password") is None
    assert unknown == 1 and len(calls) - unknown == 1


def test_a_cookie_copied_before_logout_opens_nothing_after(client, accounts):
    name = new_user(accounts, "leaver1")
    browser = signed_in(client.app, name)
    assert browser.get("/reviews/new", follow_redirects=False).status_code == 200
    copied = dict(browser.cookies)
    browser.post("/logout", data={"csrf_token": csrf_of(browser, "/")}, follow_redirects=False)
    thief = TestClient(client.app, cookies=copied)
    response = thief.get("/reviews/new", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert thief.post("/api/reviews", json=REVIEW).status_code == 401


def test_password_change_and_disabling_end_sessions_at_once(client, accounts):
    name = new_user(accounts, "changer1")
    browser = signed_in(client.app, name)
    accounts.set_password(name, "another-long-password")
    assert browser.get("/reviews/new", follow_redirects=False).status_code == 303
    browser = signed_in(client.app, name, "another-long-password")
    accounts.set_disabled(name, True)
    assert browser.get("/reviews/new", follow_redirects=False).status_code == 303
    assert failed_login(other_client(client), name, "another-long-password").status_code == 401
    accounts.set_disabled(name, False)
    assert signed_in(client.app, name, "another-long-password").get("/reviews/new").status_code == 200


def test_an_idle_session_expires(client, accounts):
    name = new_user(accounts, "idler1")
    browser = signed_in(client.app, name)
    db = client.app.state.workspace.catalog.db
    user_id = accounts.get_user(name).id
    db.execute("UPDATE sessions SET last_seen_at = '2000-01-01T00:00:00+00:00' WHERE user_id = ?", (user_id,))
    assert browser.get("/reviews/new", follow_redirects=False).status_code == 303
    assert db.execute("SELECT count(*) FROM sessions WHERE user_id = ?", (user_id,)).fetchone()[0] == 0


def test_revoked_tokens_and_tokens_of_disabled_users_answer_401(client, accounts):
    name = new_user(accounts, "tokens1")
    token = accounts.create_token(name, "laptop")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/reviews", json=REVIEW, headers=headers).status_code == 201
    listed = accounts.list_tokens(name)
    assert [(t.user, t.label) for t in listed] == [(name, "laptop")] and listed[0].last_used_at
    assert token not in json.dumps([t.to_json() for t in listed])
    accounts.revoke_token(listed[0].id)
    assert client.post("/api/reviews", json=REVIEW, headers=headers).status_code == 401
    second = {"Authorization": f"Bearer {accounts.create_token(name)}"}
    accounts.set_disabled(name, True)
    assert client.post("/api/reviews", json=REVIEW, headers=second).status_code == 401
    accounts.set_disabled(name, False)
    assert client.get("/api/insights", headers=second).status_code == 200


def test_admins_disable_enable_set_passwords_and_revoke_tokens_in_the_browser(client, accounts):
    name = new_user(accounts, "managed1")
    token = accounts.create_token(name, "ci")
    target = signed_in(client.app, name)
    admin = signed_in(client.app, "admin1")
    page = admin.get("/admin/users")
    assert page.status_code == 200 and name in page.text and token not in page.text
    csrf = csrf_of(admin, "/admin/users")
    assert admin.post(f"/admin/users/{name}/disable", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert target.get("/reviews/new", follow_redirects=False).status_code == 303
    assert admin.post(f"/admin/users/{name}/enable", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    short = admin.post(f"/admin/users/{name}/password", data={"csrf_token": csrf, "password": "short"})
    assert short.status_code == 422
    assert admin.post(f"/admin/users/{name}/password", data={"csrf_token": csrf, "password": "a-new-password"}, follow_redirects=False).status_code == 303
    assert signed_in(client.app, name, "a-new-password").get("/reviews/new").status_code == 200
    token_id = accounts.list_tokens(name)[0].id
    assert admin.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/api/insights", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert admin.post("/admin/tokens/9223372036854775808/revoke", data={"csrf_token": csrf}).status_code == 404
    assert admin.post("/admin/users/admin1/disable", data={"csrf_token": csrf}).status_code == 422
    rep = signed_in(client.app, "rep1")
    assert rep.get("/admin/users").status_code == 403
    assert rep.post(f"/admin/users/{name}/disable", data={"csrf_token": csrf_of(rep, "/")}).status_code == 403


# --- headers and API docs -----------------------------------------------------------------------


def test_login_carries_the_security_headers(client):
    response = client.get("/login")
    policy = response.headers["content-security-policy"]
    script_src = re.search(r"script-src ([^;]*)", policy).group(1)
    assert "'unsafe-inline'" not in script_src and "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"]
    assert response.headers.get("content-security-policy") == PAGE_POLICY


def test_no_page_has_an_inline_script(client):
    trainer = bearer(client, "trainer1")
    set_id = client.post("/api/sets", json={"title": "打印"}, headers=trainer).json()["id"]
    reader = signed_in(client.app, "reader1")
    for path in ("/login", "/", "/?q=预算", f"/sets/{set_id}", f"/sets/{set_id}/print", "/insights", "/documents"):
        html = reader.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path


def test_the_session_cookie_is_secure_behind_https(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", https=True)
    with TestClient(create_app(settings), base_url="https://testserver") as secure:
        Accounts(secure.app.state.workspace.catalog).add_user("rep9", "rep", PASSWORD)
        response = secure.post("/login", data={"name": "rep9", "password": PASSWORD, "csrf_token": csrf_of(secure)}, follow_redirects=False)
        assert response.status_code == 303
        assert "secure" in response.headers["set-cookie"].lower()


def test_api_docs_are_private_and_offline(client):
    anonymous = other_client(client)
    assert anonymous.get("/docs", follow_redirects=False).status_code in (303, 401)
    assert anonymous.get("/redoc", follow_redirects=False).status_code in (303, 401)
    assert anonymous.get("/openapi.json").status_code == 401
    headers = bearer(client, "reader1")
    for path in ("/docs", "/redoc"):
        page = client.get(path, headers=headers)
        assert page.status_code == 200
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", page.text), path
        for asset in re.findall(r"(?:src|href)=\"(/static-docs/[^\"]+)\"", page.text):
            assert client.get(asset).status_code == 200
    assert client.get("/openapi.json", headers=headers).json()["paths"]


def test_cli_read_of_a_missing_data_dir_says_so_without_creating_it(tmp_path):
    from click.testing import CliRunner

    from kb.cli import cli

    missing = tmp_path / "nowhere"
    for args in (["lessons"], ["search", "预算"], ["stats"]):
        result = CliRunner().invoke(cli, ["--data-dir", str(missing), *args])
        assert result.exit_code == 1 and "kb ingest" in result.output
    assert not missing.exists()


def test_the_catalog_keeps_only_hashes_of_sessions(client, accounts):
    name = new_user(accounts, "hashes1")
    browser = signed_in(client.app, name)
    cookie = browser.cookies.get("kb_session")
    rows = sqlite3.connect(client.app.state.settings.catalog_path).execute("SELECT id_hash FROM sessions").fetchall()
    assert rows and all(len(r[0]) == 64 and r[0] not in cookie for r in rows)
