"""A newsletter series with a shared intro and footer: boilerplate stored once, recurring section titles qualified."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ingest.pipeline import Ingestor

INTRO = (
    "本周刊记录销售团队每周的实战心得，欢迎转给需要的同事，内容均来自一线复盘。"
    "每期一个主题，配一件好用的工具，读完五分钟，下周一例会上我们一起讨论本期的做法在各自客户那里是否适用。"
)
FOOTER = "以上内容仅代表作者个人观点，不构成任何承诺，引用时请注明出处并保留原文链接。"
TOPICS = [
    ("续约提前九十天启动", "去年丢掉的续约全部是在最后一个月才开始谈的，客户早已在评估替代方案。"),
    ("试点必须约定成功标准", "没有成功标准的试点最后变成免费咨询，客户拿到了方案却不需要签约。"),
    ("让交付负责人参加终审汇报", "客户在终审时最担心上线风险，交付负责人当场回答问题比销售的承诺更有说服力。"),
]


def issue(number: int, topic: str, text: str) -> str:
    return (
        f"# 销售周刊第{number}期：{topic}\n\n{INTRO}\n\n## 本期主题\n\n{text}{text}\n\n"
        f"## 工具\n\n第{number}期推荐的工具是一张客户关系地图模板，用来标出每个决策人的态度和影响力。\n\n{FOOTER}\n"
    )


def rows(ingestor: Ingestor, sql: str, params: tuple = ()) -> list[tuple]:
    db = sqlite3.connect(ingestor.settings.catalog_path)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def test_a_shared_intro_and_footer_are_stored_once_and_recurring_titles_name_their_issue(tmp_path: Path, hash_ingestor: Ingestor) -> None:
    folder = tmp_path / "newsletter"
    folder.mkdir()
    for number, (topic, text) in enumerate(TOPICS, start=1):
        (folder / f"issue-{number}.md").write_text(issue(number, topic, text), encoding="utf-8")

    report = hash_ingestor.ingest([folder])

    assert not report.failed
    assert rows(hash_ingestor, "SELECT count(*) FROM lessons WHERE body LIKE ?", (f"%{INTRO}%",)) == [(1,)]
    assert rows(hash_ingestor, "SELECT count(*) FROM lessons WHERE body LIKE ?", (f"%{FOOTER}%",)) == [(1,)]
    titles = sorted(title for (title,) in rows(hash_ingestor, "SELECT title FROM lessons WHERE title LIKE '%工具'"))
    assert titles == [f"销售周刊第{number}期：{topic}：工具" for number, (topic, _) in enumerate(TOPICS, start=1)]
    # each issue keeps its own text
    for topic, text in TOPICS:
        assert rows(hash_ingestor, "SELECT count(*) FROM lessons WHERE body LIKE ?", (f"%{text}%",)) == [(1,)]


def test_reingesting_the_issue_that_keeps_the_intro_keeps_it(tmp_path: Path, hash_ingestor: Ingestor) -> None:
    folder = tmp_path / "newsletter"
    folder.mkdir()
    paths = []
    for number, (topic, text) in enumerate(TOPICS, start=1):
        path = folder / f"issue-{number}.md"
        path.write_text(issue(number, topic, text), encoding="utf-8")
        paths.append(path)
    hash_ingestor.ingest([folder])
    keeper = rows(hash_ingestor, "SELECT d.path FROM lessons l JOIN documents d ON d.id = l.document_id WHERE l.body LIKE ?", (f"%{INTRO}%",))[0][0]

    Path(keeper).write_text(Path(keeper).read_text(encoding="utf-8") + "\n补充：下周起改为双周刊。\n", encoding="utf-8")
    hash_ingestor.ingest([folder])

    assert rows(hash_ingestor, "SELECT count(*) FROM lessons WHERE body LIKE ?", (f"%{INTRO}%",)) == [(1,)]


def test_documents_in_other_folders_are_not_each_others_boilerplate(tmp_path: Path, hash_ingestor: Ingestor) -> None:
    for name in ("team-a", "team-b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "issue-1.md").write_text(issue(1, *TOPICS[0]), encoding="utf-8")

    hash_ingestor.ingest([tmp_path / "team-a", tmp_path / "team-b"])

    assert rows(hash_ingestor, "SELECT count(*) FROM lessons WHERE body LIKE ?", (f"%{INTRO}%",)) == [(2,)]
