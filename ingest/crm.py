"""Win/loss reviews from a CRM export (.csv or .xlsx): each row becomes a review file, then is ingested.

Columns are found by common export headers in Chinese and English, or by a mapping the user gives
(``outcome=Stage,customer=Account``, or a YAML/JSON file of ``field: header``). Each row goes through the
same validation as the review form; a bad row is reported by its row number and field, and the others
are imported. A row's file is named by its key column (or by customer, title and date), so importing
the same export again updates the reviews instead of duplicating them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ingest.encoding import decode_bytes
from ingest.reviews import ReviewValidationError, review_markdown, validate_review
from kb.domain import REQUIRED_REVIEW_FIELDS
from kb.errors import BadFieldError, BadFileError, describe
from kb.yaml_text import load_yaml

if TYPE_CHECKING:
    from ingest.pipeline import FileResult, Ingestor

# Review fields a column can fill, with the headers CRM exports commonly use for them, most specific first.
DEFAULT_HEADERS: dict[str, tuple[str, ...]] = {
    "key": ("key", "id", "opportunity id", "deal id", "record id", "商机编号", "商机id", "机会编号", "项目编号", "编号"),
    "outcome": ("outcome", "result", "win/loss", "win loss", "结果", "输赢", "赢单/丢单", "status", "状态", "stage", "阶段"),
    "customer": ("customer", "account", "account name", "client", "company", "客户", "客户名称", "公司", "公司名称"),
    "title": ("title", "opportunity", "opportunity name", "deal name", "deal", "商机名称", "项目名称", "标题"),
    "industry": ("industry", "vertical", "行业"),
    "region": ("region", "territory", "区域", "地区", "大区"),
    "deal_size": ("amount", "deal size", "deal value", "value", "金额", "合同金额", "商机金额"),
    "currency": ("currency", "币种", "货币"),
    "competitors": ("competitors", "competitor", "竞争对手", "竞品"),
    "close_date": ("close date", "closed date", "date", "关闭日期", "签约日期", "结束日期", "日期"),
    "lessons": (
        "lessons", "lessons learned", "win/loss reason", "loss reason", "win reason", "reason", "reasons",
        "经验教训", "输赢原因", "丢单原因", "赢单原因", "原因",
    ),
    "summary": ("summary", "description", "notes", "背景", "项目背景", "描述", "备注"),
    "what_worked": ("what worked", "what went well", "做得好的", "亮点"),
    "what_went_wrong": ("what went wrong", "做得不好的", "不足"),
    "next_actions": ("next steps", "next actions", "下一步", "后续行动"),
}  # fmt: skip

# How exports spell outcomes.
_OUTCOMES = {
    "win": ("win", "won", "closed won", "closed-won", "赢", "赢单", "成交", "签约", "中标"),
    "loss": ("loss", "lost", "closed lost", "closed-lost", "输", "输单", "丢单", "失败", "未中标"),
    "no-decision": ("no decision", "no-decision", "nodecision", "未决", "搁置", "取消", "无决策"),
}
_OUTCOME_OF = {spelling: outcome for outcome, spellings in _OUTCOMES.items() for spelling in spellings}


@dataclass
class RowError:
    row: int  # as the spreadsheet numbers it: the header is row 1
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.message}"


@dataclass
class ImportReport:
    rows: int = 0
    files: list["FileResult"] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for result in self.files if result.status == status)

    def changed_documents(self) -> list[str]:
        """The reviews this import added or changed."""
        return [result.document_id for result in self.files if result.status in ("added", "updated") and result.document_id]


def parse_mapping(spec: str | None) -> dict[str, str]:
    """``field=Header,field=Header`` or the path of a YAML/JSON file of ``field: header``."""
    if not spec:
        return {}
    if Path(spec).is_file():
        try:
            loaded = load_yaml(Path(spec).read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise BadFileError(spec, f"mapping file: {describe(exc)}") from None
        if not isinstance(loaded, dict):
            raise BadFileError(spec, "mapping file: expected 'field: column header' lines")
        pairs = {str(k).strip(): str(v).strip() for k, v in loaded.items()}
    else:
        pairs = {}
        for item in spec.split(","):
            name, separator, header = item.partition("=")
            if not separator or not name.strip() or not header.strip():
                raise BadFieldError("--map", f"expected field=Column pairs separated by commas, got {item!r}")
            pairs[name.strip()] = header.strip()
    unknown = sorted(set(pairs) - set(DEFAULT_HEADERS))
    if unknown:
        raise BadFieldError("--map", f"unknown field {', '.join(unknown)}; fields are {', '.join(DEFAULT_HEADERS)}")
    return pairs


def read_table(path: Path) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the first sheet of an .xlsx, or of a .csv in any encoding."""
    suffix = path.suffix.lower()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadFileError(path, f"cannot read the file: {exc.strerror or exc}") from None
    if suffix == ".csv":
        text, _ = decode_bytes(data, path)
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        rows: list[list[Any]] = list(csv.reader(io.StringIO(text), dialect))
    elif suffix == ".xlsx":
        rows = _xlsx_rows(path, data)
    else:
        raise BadFileError(path, f"unsupported file type {suffix or '(no extension)'}; import-reviews reads .csv and .xlsx")
    rows = [row for row in rows if any(_cell(value) for value in row)]
    if not rows:
        raise BadFileError(path, "no rows")
    return [_cell(value) for value in rows[0]], rows[1:]


def _xlsx_rows(path: Path, data: bytes) -> list[list[Any]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            return [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
        finally:
            workbook.close()
    except Exception as exc:  # openpyxl raises anything from zipfile, lxml and its own errors
        raise BadFileError(path, f"corrupt or unreadable .xlsx file ({describe(exc)})") from None


def resolve_columns(headers: list[str], mapping: dict[str, str], path: Path) -> dict[str, int]:
    """Column index of each field: the user's mapping first, then the default headers."""
    folded = [_fold(header) for header in headers]
    columns: dict[str, int] = {}
    for name, header in mapping.items():
        if _fold(header) not in folded:
            raise BadFieldError("--map", f"{path.name} has no column {header!r}; its columns are {', '.join(headers)}")
        columns[name] = folded.index(_fold(header))
    taken = set(columns.values())
    for name, candidates in DEFAULT_HEADERS.items():
        if name in columns:
            continue
        for candidate in candidates:
            if _fold(candidate) in folded and folded.index(_fold(candidate)) not in taken:
                columns[name] = folded.index(_fold(candidate))
                taken.add(columns[name])
                break
    missing = [name for name in REQUIRED_REVIEW_FIELDS if name not in columns]
    if missing:
        raise BadFieldError(
            "--map",
            f"{path.name}: no column for {', '.join(missing)}; its columns are {', '.join(headers)} "
            f"(map them with --map {missing[0]}=Column)",
        )
    return columns


def import_reviews(path: Path, ingestor: "Ingestor", reviews_dir: Path, *, mapping: dict[str, str] | None = None) -> ImportReport:
    """Write each good row as a review file under ``reviews_dir/imported`` and ingest it."""
    path = Path(path)
    headers, rows = read_table(path)
    columns = resolve_columns(headers, mapping or {}, path)
    target = reviews_dir / "imported"
    target.mkdir(parents=True, exist_ok=True)
    report = ImportReport(rows=len(rows))
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):
        values = {name: _cell(row[index]) if index < len(row) else "" for name, index in columns.items()}
        key = values.pop("key", "") or "\x1f".join((values.get("customer", ""), values.get("title", ""), values.get("close_date", "")))
        if key in seen:
            report.errors.append(RowError(number, "key", f"same key as row {seen[key]}; the row is skipped"))
            continue
        seen[key] = number
        values["outcome"] = _OUTCOME_OF.get(values.get("outcome", "").strip().lower(), values.get("outcome", ""))
        values["deal_size"] = re.sub(r"[\s,¥￥$€£]", "", values.get("deal_size", ""))  # currency signs and separators
        try:
            review = validate_review(values)
        except ReviewValidationError as exc:
            report.errors.extend(RowError(number, name, message) for name, message in exc.errors.items())
            continue
        file = target / f"{hashlib.sha1(key.encode('utf-8')).hexdigest()[:16]}.md"
        previous = file.read_bytes() if file.exists() else None
        file.write_text(review_markdown(review, author=f"import from {path.name}"), encoding="utf-8")
        result = ingestor.ingest_file(file)
        if result.status != "failed":
            report.files.append(result)
            continue
        report.errors.append(RowError(number, "row", result.error or "could not be ingested"))
        if previous is None:
            file.unlink()
        else:
            file.write_bytes(previous)  # the stored review stays as it was
    return report


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _fold(header: str) -> str:
    return re.sub(r"[\s_\-]+", " ", str(header).strip().lower())
