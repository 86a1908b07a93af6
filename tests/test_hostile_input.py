"""Hostile files and streams: ingest and the CLI answer each with a result or a named error, and go on."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.settings import Settings
from kb.workspace import Workspace

pytestmark = pytest.mark.slow

GOOD = "# 好文件\n\n## 先画决策链\n\n接手大客户的第一周，先把决策链画出来：谁提需求、谁管预算、谁拍板。\n"
PARAGRAPH = "投标之前先拿到评标办法，弄清楚技术分和商务分的权重，再决定报价策略。"


def hostile_files(directory: Path) -> dict[str, bytes]:
    deep = "<div>" * 5000 + "<p>" + PARAGRAPH + "</p>" + "</div>" * 5000
    scripts = "".join(f"<script>alert({i})</script><p onclick='x()'>{PARAGRAPH}</p>" for i in range(200))
    files = {
        "empty.txt": b"",
        "empty.md": b"",
        "binary.txt": bytes(range(256)) * 40,
        "invalid-utf8.txt": b"\xff\xfe\xfa" + "正常的文字".encode() + b"\xc3\x28\xa0\xa1" * 50,
        "gbk.txt": ("# 标题\n\n" + PARAGRAPH * 3).encode("gbk"),
        "big5.txt": ("# 標題\n\n" + "投標之前先拿到評標辦法，弄清楚技術分和商務分的權重，再決定報價策略。" * 3).encode("big5"),
        "malformed.pdf": b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nendobj\n" + b"\x00garbage" * 100,
        "scripts.html": f"<html><head><script>evil()</script></head><body>{scripts}</body></html>".encode(),
        "deep.html": f"<html><body>{deep}</body></html>".encode(),
        "punctuation.txt": "。，、；：？！……——《》“”‘’（）【】".encode() * 20,
        "emoji.md": ("😀🎉🚀💼📈" * 100).encode(),
        "surrogates.txt": "前面的文字".encode() + b"\xed\xa0\x80\xed\xb0\x80" + PARAGRAPH.encode(),
        "wrong-types.md": "---\nkind: review\noutcome: [win, loss]\ncustomer: {a: 1}\ndeal_size: .nan\ndate: 12\n---\n# 复盘\n\n## 经验教训\n\n- 教训\n".encode(),
        "wrong-deal.md": "---\nkind: review\ndeal_size: lots\n---\n# 复盘\n\n## 经验教训\n\n- 教训一条\n".encode(),
        "inf-deal.md": "---\nkind: review\ndeal_size: .inf\n---\n# 复盘\n\n## 经验教训\n\n- 教训一条\n".encode(),
        "good.md": GOOD.encode(),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return files


def test_each_hostile_file_is_ingested_or_refused_by_name_and_the_good_one_is_stored(tmp_path):
    hostile_files(tmp_path / "in")
    workspace = Workspace(Settings(data_dir=tmp_path / "data"))
    try:
        report = workspace.ingestor.ingest([tmp_path / "in"])
        by_name = {Path(result.path).name: result for result in report.files}
        assert by_name["good.md"].status == "added"
        for name in ("empty.txt", "empty.md", "binary.txt", "malformed.pdf", "wrong-deal.md", "inf-deal.md", "wrong-types.md"):
            assert by_name[name].status == "failed" and by_name[name].error, name
        assert "deal_size" in by_name["wrong-deal.md"].error and "deal_size" in by_name["inf-deal.md"].error
        assert by_name["gbk.txt"].status == "added" and by_name["big5.txt"].status == "added"
        assert by_name["scripts.html"].status == "added"
        assert all(result.status in ("added", "failed") for result in report.files)
        # Whatever was stored reads back as JSON without NaN and as valid UTF-8.
        for lesson in workspace.catalog.iter_lessons():
            json.dumps(lesson.fields, allow_nan=False, default=str).encode("utf-8")
            lesson.body.encode("utf-8")
            assert "alert(" not in lesson.body and "evil()" not in lesson.body
    finally:
        workspace.close()


def test_a_50_mb_text_file_is_refused_by_size_without_being_read(tmp_path):
    big = tmp_path / "big.txt"
    with big.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MB on paper, nothing written
    workspace = Workspace(Settings(data_dir=tmp_path / "data"))
    try:
        result = workspace.ingestor.ingest_file(big)
        assert result.status == "failed" and "20 MB" in (result.error or "")
    finally:
        workspace.close()


def test_a_single_1_mb_line_gives_bounded_chunks(tmp_path):
    line = tmp_path / "line.txt"
    line.write_text((PARAGRAPH * 15_000)[: 1024 * 1024 // 3], encoding="utf-8")  # about 1 MB of UTF-8, no line break
    settings = Settings(data_dir=tmp_path / "data")
    workspace = Workspace(settings)
    try:
        data = line.read_bytes()
        prepared = workspace.ingestor.prepare(line.resolve(), hashlib.sha256(data).hexdigest())
        assert prepared.lessons and prepared.chunks
        assert max(len(chunk.text) for chunk in prepared.chunks) <= settings.chunk_max_chars
    finally:
        workspace.close()


# --- the CLI -------------------------------------------------------------------------------------


def test_the_jsonl_stream_answers_every_line_and_goes_on(seeded):
    lines = [
        b'{"id": 1, "query": "\xe9\xa2\x84\xe7\xae\x97", "k": 1e999}',
        b"this is not json",
        b'{"id": "bad-utf8", "query": "\xff\xfe"}',
        b'{"id": 4, "query": "a\\ud800b"}',
        b'{"id": 5, "query": "' + "预算".encode() * 5000 + b'"}',
        b'{"id": 6, "query": "OR NEAR * \\" ( ) \'; DROP TABLE lessons; --"}',
        b'{"id": 7, "query": "x", "k": "ten"}',
        b'{"id": 8, "query": "x", "filters": {"kind": ["review"]}}',
        b"[1, 2, 3]",
        b'{"id": 10, "query": "\xe8\xb0\x81\xe7\xae\xa1\xe9\xa2\x84\xe7\xae\x97", "k": 2}',
    ]
    result = CliRunner().invoke(cli, ["--data-dir", str(seeded.settings.data_dir), "search", "--jsonl"], input=b"\n".join(lines) + b"\n")
    assert result.exit_code == 0, result.output
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(answers) == len(lines)
    assert [a.get("id") for a in answers][:2] == [1, None]
    assert "k" in answers[0]["error"] and answers[1]["error"].startswith("line 2")
    for answer in answers[:-1]:
        assert "error" in answer or "results" in answer
    assert "query" in answers[3]["error"] and "query" in answers[4]["error"]
    assert "results" in answers[5] and "error" in answers[6]
    assert answers[-1]["id"] == 10 and len(answers[-1]["results"]) == 2


def test_k_has_the_api_bounds(seeded):
    for k in ("0", "101", "-3"):
        result = CliRunner().invoke(cli, ["--data-dir", str(seeded.settings.data_dir), "search", "-k", k, "预算"])
        assert result.exit_code == 2 and "-k" in result.output


def test_a_closed_pipe_ends_the_command_quietly(seeded):
    command = [sys.executable, "-c", "from kb.cli import main; main()", "--data-dir", str(seeded.settings.data_dir), "lessons", "--jsonl"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before the first line, like `| head -0`
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def test_lessons_jsonl_is_strict_json(seeded):
    result = CliRunner().invoke(cli, ["--data-dir", str(seeded.settings.data_dir), "lessons", "--jsonl"])
    assert result.exit_code == 0, result.output
    for line in result.stdout.splitlines():
        json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))


def test_token_and_user_commands(tmp_path):
    data_dir = str(tmp_path / "data")

    def run(*args: str, input: str | None = None):
        return CliRunner().invoke(cli, ["--data-dir", data_dir, *args], input=input)

    assert run("user", "add", "ann", "--role", "rep", input="long-password\n").exit_code == 0
    secret = run("token", "create", "ann", "--label", "laptop").stdout.strip()
    listed = json.loads(run("token", "list", "ann", "--json").stdout)
    assert [(t["user"], t["label"], t["last_used_at"]) for t in listed] == [("ann", "laptop", None)]
    assert secret not in run("token", "list").stdout
    assert run("token", "revoke", str(listed[0]["id"])).exit_code == 0
    assert json.loads(run("token", "list", "--json").stdout) == []
    assert run("token", "revoke", "9223372036854775808").exit_code == 1
    assert run("user", "disable", "ann").exit_code == 0 and run("user", "enable", "ann").exit_code == 0
    assert run("user", "passwd", "ann", input="another-password\n").exit_code == 0
    assert run("user", "passwd", "nobody", input="another-password\n").exit_code == 1
    assert run("user", "passwd", "ann", input="short\n").exit_code == 1
