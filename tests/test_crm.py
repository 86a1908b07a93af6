"""Win/loss reviews imported from CSV and XLSX exports: per-row errors, re-import updates instead of duplicating.

The import logic does not depend on what text means, so these tests embed with the deterministic hash
embedder of conftest; the CLI test at the end runs the real engine on a small file.
"""

from __future__ import annotations

import csv
import sqlite3
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import Workbook

from ingest.crm import import_reviews, parse_mapping, read_table
from ingest.pipeline import Ingestor
from kb.cli import cli
from kb.errors import BadFieldError

HEADERS = ["Opportunity ID", "Account", "Stage", "Industry", "Amount", "Close Date", "Loss Reason"]
LESSONS = [
    "Reach the economic buyer before the proposal, not after it.",
    "A pilot without agreed success criteria turns into free consulting.",
    "Bring the delivery lead to the final presentation.",
    "Price the first year low only if the renewal price is in the contract.",
]


@pytest.fixture
def ingestor(hash_ingestor: Ingestor) -> Ingestor:
    return hash_ingestor


def crm_rows(count: int, bad: dict[int, dict[str, str]]) -> list[list[str]]:
    """``count`` deals; ``bad`` maps a data row index (0-based) to the cells that make it wrong."""
    rows = []
    for index in range(count):
        row = {
            "Opportunity ID": f"OPP-{index:04d}",
            "Account": f"Customer {index}",
            "Stage": ["Closed Won", "Closed Lost", "赢单", "丢单"][index % 4],
            "Industry": ["finance", "manufacturing", "retail"][index % 3],
            "Amount": f"{(index + 1) * 1000:,}",
            "Close Date": f"2025-{index % 12 + 1:02d}-15",
            "Loss Reason": f"{LESSONS[index % 4]} (deal {index})",
        }
        row.update(bad.get(index, {}))
        rows.append([row[header] for header in HEADERS])
    return rows


BAD_ROWS = {
    4: {"Stage": "Negotiation"},  # spreadsheet row 6
    17: {"Account": ""},  # row 19
    50: {"Amount": "a lot", "Close Date": "next spring"},  # row 52: two fields
    199: {"Loss Reason": ""},  # row 201
}


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        writer.writerows(rows)
    return path


def count(ingestor: Ingestor, sql: str) -> int:
    db = sqlite3.connect(ingestor.settings.catalog_path)
    try:
        return db.execute(sql).fetchone()[0]
    finally:
        db.close()


def test_a_200_row_csv_imports_with_per_row_errors_and_reimports_without_duplicates(tmp_path: Path, ingestor: Ingestor) -> None:
    export = write_csv(tmp_path / "deals.csv", crm_rows(200, BAD_ROWS), encoding="gb18030")

    report = import_reviews(export, ingestor, ingestor.settings.reviews_dir)

    assert report.rows == 200
    assert sorted((error.row, error.field) for error in report.errors) == [
        (6, "outcome"), (19, "customer"), (52, "close_date"), (52, "deal_size"), (201, "lessons"),
    ]  # fmt: skip
    assert report.count("added") == 196
    assert count(ingestor, "SELECT count(*) FROM documents WHERE kind = 'review'") == 196
    lessons_before = count(ingestor, "SELECT count(*) FROM lessons")

    again = import_reviews(export, ingestor, ingestor.settings.reviews_dir)

    assert again.count("unchanged") == 196 and again.count("added") == 0
    assert count(ingestor, "SELECT count(*) FROM documents") == 196
    assert count(ingestor, "SELECT count(*) FROM lessons") == lessons_before


def test_a_changed_row_updates_its_review(tmp_path: Path, ingestor: Ingestor) -> None:
    rows = crm_rows(3, {})
    import_reviews(write_csv(tmp_path / "deals.csv", rows), ingestor, ingestor.settings.reviews_dir)
    rows[1][HEADERS.index("Loss Reason")] = "Security review started too late."

    report = import_reviews(write_csv(tmp_path / "deals.csv", rows), ingestor, ingestor.settings.reviews_dir)

    assert [result.status for result in report.files] == ["unchanged", "updated", "unchanged"]
    assert count(ingestor, "SELECT count(*) FROM documents") == 3
    assert count(ingestor, "SELECT count(*) FROM lessons WHERE body LIKE '%Security review started too late.%'") == 1


def test_an_xlsx_with_chinese_headers_and_bad_rows(tmp_path: Path, ingestor: Ingestor) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["商机编号", "客户名称", "输赢", "行业", "合同金额", "签约日期", "经验教训"])
    sheet.append(["A-1", "华东某城商行", "赢单", "金融", 1200000, date(2025, 3, 1), "提前三个月拜访科技部，摸清预算归属。"])
    sheet.append(["A-2", "某制造集团", "丢单", "制造", 800000, date(2025, 4, 2), "报价过高，没有及早接触采购部门。"])
    sheet.append(["A-3", "某零售企业", "进行中", "零售", None, None, "还没有结论。"])
    sheet.append(["A-1", "重复的行", "赢单", "金融", 1, date(2025, 3, 1), "同一个编号。"])
    path = tmp_path / "商机.xlsx"
    workbook.save(path)

    report = import_reviews(path, ingestor, ingestor.settings.reviews_dir)

    assert [(error.row, error.field) for error in report.errors] == [(4, "outcome"), (5, "key")]
    assert report.count("added") == 2
    db = sqlite3.connect(ingestor.settings.catalog_path)
    fields = sorted(db.execute("SELECT outcome, industry FROM lessons GROUP BY document_id").fetchall())
    db.close()
    assert fields == [("loss", "制造"), ("win", "金融")]


def test_rows_that_give_the_same_reason_each_keep_it(tmp_path: Path, ingestor: Ingestor) -> None:
    rows = crm_rows(2, {})
    for row in rows:
        row[HEADERS.index("Loss Reason")] = LESSONS[0]

    report = import_reviews(write_csv(tmp_path / "deals.csv", rows), ingestor, ingestor.settings.reviews_dir)

    assert report.count("added") == 2
    assert count(ingestor, f"SELECT count(*) FROM lessons WHERE body LIKE '%{LESSONS[0]}%'") == 2


def test_an_explicit_mapping_wins_and_unknown_columns_are_named(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Deal,Result,Why\nAcme,won,Met the CFO early.\n", encoding="utf-8")

    assert read_table(path) == (["Deal", "Result", "Why"], [["Acme", "won", "Met the CFO early."]])
    assert parse_mapping("customer=Deal,lessons=Why") == {"customer": "Deal", "lessons": "Why"}
    with pytest.raises(BadFieldError, match="unknown field colour"):
        parse_mapping("colour=Deal")
    with pytest.raises(BadFieldError, match="map"):
        parse_mapping("customer")


@pytest.mark.slow
def test_cli_import_reviews_reports_rows_and_exits_1_on_bad_rows(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    export.write_text(
        "Deal,Result,Why\nAcme Bank,won,Met the CFO early and agreed a mutual close plan.\nGlobex,maybe,Unclear.\n", encoding="utf-8"
    )
    data_dir = tmp_path / "data"

    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "import-reviews", str(export), "--map", "customer=Deal,lessons=Why"])

    assert result.exit_code == 1, result.output
    assert "row 3: outcome" in result.stderr
    assert "2 rows: 1 added; 1 with errors" in result.stdout
    missing = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "import-reviews", str(export), "--map", "customer=Client"])
    assert missing.exit_code != 0 and "has no column 'Client'" in missing.stderr
