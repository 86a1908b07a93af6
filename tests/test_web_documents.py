"""The documents page and uploads: allow-list, size limit, generated names inside uploads_dir, roles and CSRF."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingest.uploads import safe_upload_name
from kb.settings import Settings

from web_support import bearer, csrf_of, kb_client, other_client, sign_in, write_corpus

pytestmark = pytest.mark.slow

GOOD = """---
title: 续约谈判打法
---
# 续约谈判打法

## 续约前九十天启动

续约谈判要在合同到期前九十天启动，先盘点客户使用率和满意度，再约采购开会。
"""

SECOND = """# 渠道伙伴管理

## 渠道冲突要提前约定

与渠道伙伴签约时写清楚报备规则和冲突裁决办法，避免直销和渠道抢同一个客户。
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("web_documents")


@pytest.fixture(scope="module")
def client(root):
    with kb_client(Settings(data_dir=root / "data", max_upload_mb=1), write_corpus(root / "corpus")) as client:
        yield client


@pytest.fixture(scope="module")
def uploads_dir(client) -> Path:
    return client.app.state.settings.uploads_dir.resolve()


@pytest.fixture(scope="module")
def trainer(client):
    """A signed-in trainer's browser and its CSRF token."""
    browser = other_client(client)
    return browser, sign_in(browser, "trainer1")


def stored(uploads_dir: Path) -> list[str]:
    return sorted(p.name for p in uploads_dir.iterdir()) if uploads_dir.exists() else []


def test_documents_page_lists_the_ingested_documents(client):
    response = client.get("/documents")
    assert response.status_code == 200
    html = response.text
    # Reviews are named with their date and author, so two reviews of one title can be told apart.
    for title, name, lessons in [("新人销售打法", "新人销售打法.md", 12), ("某医院集团门户项目丢单复盘 · 2025-11-02 · 李四", "hospital-review.md", 2)]:
        row = re.search(rf'<tr id="doc-\w+">\s*<td><a href="/\?source=\w+">{title}</a></td>(.*?)</tr>', html, re.S)
        assert row, title
        assert f'<td class="file">{name}</td>' in row.group(1)
        assert f'<td class="num">{lessons}</td>' in row.group(1)
        assert '<td class="format">md</td>' in row.group(1)
    assert "复盘" in html and "打法手册" in html
    assert 'type="file"' not in html  # anonymous readers see no upload form


def test_only_trainers_see_the_upload_form(client, trainer):
    rep = other_client(client)
    sign_in(rep, "rep1")
    assert 'type="file"' not in rep.get("/documents").text
    browser, token = trainer
    html = browser.get("/documents").text
    assert '<form method="post" action="/documents" enctype="multipart/form-data">' in html
    assert f'name="csrf_token" value="{token}"' in html
    assert 'name="files" multiple' in html


def test_uploaded_file_is_ingested_and_searchable_at_once(client, trainer, uploads_dir):
    browser, token = trainer
    response = browser.post(
        "/documents", data={"csrf_token": token}, files=[("files", ("续约.md", GOOD.encode(), "text/markdown"))]
    )
    assert response.status_code == 200
    assert re.search(r"<td>续约.md</td>\s*<td><span class=\"badge win\">已导入</span></td>\s*<td>1</td>", response.text)
    assert any(re.fullmatch(r"[0-9a-f]{12}-续约\.md", name) for name in stored(uploads_dir))
    results = client.get("/api/search", params={"q": "续约谈判什么时候启动", "k": 1}).json()["results"]
    assert results[0]["title"] == "续约前九十天启动"
    # the same bytes again add nothing
    again = browser.post("/documents", data={"csrf_token": token}, files=[("files", ("copy.md", GOOD.encode(), "text/markdown"))])
    assert "已存在（内容相同）" in again.text
    assert len([d for d in client.app.state.workspace.catalog.list_documents() if d.title == "续约谈判打法"]) == 1


def test_a_path_in_the_file_name_goes_nowhere(client, root, uploads_dir):
    headers = bearer(client, "trainer1")
    for name in ("../../evil.md", "..\\..\\evil2.md", "/etc/evil3.md"):
        text = f"# 路径测试 {name}\n\n## 上传的文件只会存在上传目录里\n\n文件名里的路径 {name} 会被去掉，只留下最后一段。\n"
        response = client.post("/api/documents", headers=headers, files=[("files", (name, text.encode(), "text/markdown"))])
        assert response.status_code == 200
        assert response.json()["files"][0]["status"] == "added", response.json()
    names = stored(uploads_dir)
    for bare in ("evil.md", "evil2.md", "evil3.md"):
        assert any(re.fullmatch(rf"[0-9a-f]{{12}}-{re.escape(bare)}", name) for name in names), names
    escaped = [p for p in root.rglob("*evil*") if uploads_dir not in p.resolve().parents]
    assert escaped == []
    assert not Path("/etc/evil3.md").exists()
    for document in client.app.state.workspace.catalog.list_documents():
        if "evil" in document.path:
            assert Path(document.path).resolve().parent == uploads_dir


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../evil.md", "evil.md"),
        ("..\\..\\evil.md", "evil.md"),
        ("C:\\Users\\me\\报价 单(1).docx", "报价_单_1_.docx"),
        (".hidden.md", "hidden.md"),
        ("..", "upload"),
        ("", "upload"),
        ("a\x00b.md", "a_b.md"),
        ("x" * 300 + ".pdf", "x" * 116 + ".pdf"),
    ],
)
def test_safe_upload_name(name, expected):
    assert safe_upload_name(name) == expected


def test_disallowed_suffix_is_rejected_and_not_stored(client, trainer, uploads_dir):
    browser, token = trainer
    before = stored(uploads_dir)
    response = browser.post(
        "/documents", data={"csrf_token": token}, files=[("files", ("run.sh", b"#!/bin/sh\necho hi\n", "text/x-sh")), ("files", ("notes", b"hello", "text/plain"))]
    )
    assert response.status_code == 200
    assert response.text.count("不支持这种文件类型") == 2
    assert "<td>run.sh</td>" in response.text and "<td>notes</td>" in response.text
    assert stored(uploads_dir) == before
    api = client.post("/api/documents", headers=bearer(client, "trainer1"), files=[("files", ("evil.exe", b"MZ", "application/octet-stream"))])
    assert api.json()["files"] == [
        {"name": "evil.exe", "status": "failed", "lessons": 0, "error": api.json()["files"][0]["error"]}
    ]
    assert api.json()["files"][0]["error"].startswith("unsupported file type .exe")


def test_oversized_file_is_rejected_with_a_clear_message(client, trainer, uploads_dir):
    browser, token = trainer
    before = stored(uploads_dir)
    big = ("# 大文件\n\n" + "很长的一段经验。" * 80_000).encode()  # about 1.9 MB, the limit here is 1 MB
    response = browser.post("/documents", data={"csrf_token": token}, files=[("files", ("big.md", big, "text/markdown"))])
    assert response.status_code == 413  # every file of the request was over a size limit
    assert "文件太大：每个文件最大 1 MB" in response.text
    assert stored(uploads_dir) == before
    api = client.post("/api/documents", headers=bearer(client, "trainer1"), files=[("files", ("big.md", big, "text/markdown"))])
    assert api.status_code == 413 and api.json()["files"][0]["status"] == "failed"
    assert "larger than the upload limit of 1 MB" in api.json()["files"][0]["error"]


def test_corrupt_docx_is_reported_by_name_and_the_other_files_are_processed(client, uploads_dir):
    before = stored(uploads_dir)
    response = client.post(
        "/api/documents",
        headers=bearer(client, "trainer1"),
        files=[
            ("files", ("季度复盘.docx", b"PK\x03\x04 this is not really a docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")),
            ("files", ("渠道.md", SECOND.encode(), "text/markdown")),
            ("files", ("empty.md", b"   \n", "text/markdown")),
        ],
    )
    assert response.status_code == 200
    docx, good, empty = response.json()["files"]
    assert docx["name"] == "季度复盘.docx" and docx["status"] == "failed"
    assert "docx" in docx["error"] and str(uploads_dir) not in docx["error"]
    assert good == {"name": "渠道.md", "status": "added", "lessons": 1, "error": None}
    assert empty["status"] == "failed" and empty["error"] == "empty file"
    after = stored(uploads_dir)
    assert len(after) == len(before) + 1 and any(name.endswith("-渠道.md") for name in after)  # failed files leave nothing


def test_upload_page_reports_a_corrupt_docx_by_its_name(trainer):
    browser, token = trainer
    response = browser.post(
        "/documents",
        data={"csrf_token": token},
        files=[("files", ("坏文件.docx", b"not a zip", "application/octet-stream")), ("files", ("ok.md", b"# OK\n\n## A lesson\n\nText of a lesson about pricing.\n", "text/markdown"))],
    )
    assert response.status_code == 200
    assert re.search(r"<td>坏文件.docx</td>\s*<td><span class=\"badge loss\">失败</span></td>", response.text)
    assert "corrupt or unreadable .docx file" in response.text
    assert re.search(r"<td>ok.md</td>\s*<td><span class=\"badge win\">已导入</span></td>", response.text)


def test_no_file_chosen_is_a_422(client, trainer):
    browser, token = trainer
    response = browser.post("/documents", data={"csrf_token": token}, files=[("files", ("", b"", "application/octet-stream"))])
    assert response.status_code == 422
    api = client.post("/api/documents", headers=bearer(client, "trainer1"), data={"x": "1"})
    assert api.status_code == 422 and "files" in api.json()["error"]["fields"]


def test_too_many_files_or_too_large_a_body_is_refused_before_any_ingest(client, uploads_dir):
    before = stored(uploads_dir)
    files = [("files", (f"f{i}.md", f"# F{i}\n\n## L\n\nText {i}.\n".encode(), "text/markdown")) for i in range(21)]
    response = client.post("/api/documents", headers=bearer(client, "trainer1"), files=files)
    assert response.status_code == 422 and "at most 20 files" in response.json()["error"]["fields"]["files"]
    huge = {"content-length": str(50 * 1024 * 1024), "content-type": "multipart/form-data; boundary=x"}
    response = client.post("/api/documents", headers={**bearer(client, "trainer1"), **huge}, content=b"--x--")
    assert response.status_code == 413 and response.json()["error"]["status"] == 413
    assert stored(uploads_dir) == before


# --- who may upload -------------------------------------------------------------------


def upload(client, **kwargs):
    return client.post("/api/documents", files=[("files", ("x.md", b"# X\n\n## Y\n\nZ text.\n", "text/markdown"))], **kwargs)


def test_anonymous_and_reps_cannot_upload(client):
    anonymous = other_client(client)
    assert upload(anonymous).status_code in (401, 403)
    token = csrf_of(anonymous)  # even with a valid CSRF token, signing in is needed
    response = anonymous.post("/documents", data={"csrf_token": token}, files=[("files", ("x.md", b"# X", "text/markdown"))])
    assert response.status_code == 401
    assert upload(other_client(client), headers=bearer(client, "rep1")).status_code == 403
    rep = other_client(client)
    rep_token = sign_in(rep, "rep1")
    assert rep.post("/documents", data={"csrf_token": rep_token}, files=[("files", ("x.md", b"# X", "text/markdown"))]).status_code == 403
    assert upload(other_client(client), headers={"Authorization": "Bearer kb_not_a_token"}).status_code == 401


def test_trainer_can_upload_with_a_bearer_token(client):
    response = upload(other_client(client), headers=bearer(client, "trainer1"))
    assert response.status_code == 200
    assert response.json()["files"][0]["status"] in ("added", "unchanged")


def test_cookie_upload_without_the_csrf_token_is_refused(client, uploads_dir):
    browser = other_client(client)
    sign_in(browser, "trainer1")
    before = stored(uploads_dir)
    response = browser.post("/documents", files=[("files", ("csrf.md", GOOD.replace("九十", "六十").encode(), "text/markdown"))])
    assert response.status_code == 403
    assert upload(browser, data={"csrf_token": "forged"}).status_code == 403
    assert stored(uploads_dir) == before
