"""The saved search index: BM25 postings score as bm25s does, and a new process maps the saved index instead of
building it, adds what was written since, and ignores a snapshot that is damaged, of other engines or of another
catalog."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import bm25s
import numpy as np
import pytest

from kb.embedding import SPARSE_TOP_K, sparse_terms, unpack_sparse
from kb.settings import Settings
from kb.workspace import Workspace
from search import snapshot
from search.chunk_index import ChunkIndex
from search.postings import Columns, Postings

def is_mapped(array: np.ndarray) -> bool:
    """Read from the saved file's pages, not copied into memory."""
    return isinstance(array.base, np.memmap)


DOCUMENTS = [["客户", "关系", "客户"], ["价格", "谈判"], ["客户", "价格", "教练"], [], ["renewal", "客户"]]


@pytest.mark.parametrize("query", [["客户"], ["客户", "价格", "客户"], ["未知"], ["谈判", "未知", "renewal"]])
def test_postings_score_every_document_as_bm25s_does(tmp_path, query):
    reference = bm25s.BM25()
    reference.index(DOCUMENTS, show_progress=False)
    postings = Postings.build(iter(DOCUMENTS))
    expected = reference.get_scores(query)
    assert np.allclose(postings.scores(query), expected)
    postings.save(tmp_path, "words")
    loaded = Postings.load(tmp_path, "words", len(DOCUMENTS))
    assert is_mapped(loaded.columns.data)
    assert np.allclose(loaded.scores(query), expected)


NEW_DOCUMENTS = [["客户", "教练", "教练"], ["回款", "客户", "价格", "价格", "验收"], ["renewal"]]


@pytest.mark.parametrize("query", [["客户"], ["教练", "价格"], ["回款", "renewal", "未知"]])
def test_documents_scored_beside_an_index_score_as_in_one_index_with_it(tmp_path, query):
    whole = bm25s.BM25()
    whole.index(DOCUMENTS + NEW_DOCUMENTS, show_progress=False)
    loaded = Postings.build(iter(DOCUMENTS))
    loaded.save(tmp_path, "words")  # the loaded index may be a saved one: its length is kept
    beside = Postings.build(iter(NEW_DOCUMENTS), Postings.load(tmp_path, "words", len(DOCUMENTS)))
    expected = whole.get_scores(query)[len(DOCUMENTS) :]
    assert np.allclose(beside.scores(query), expected)
    assert not np.allclose(Postings.build(iter(NEW_DOCUMENTS)).scores(query), expected)  # alone, they score otherwise


def test_the_sparse_view_scores_by_column_as_the_sparse_matrix_product(tmp_path):
    rng = np.random.default_rng(3)
    rows = np.zeros((40, 2 * SPARSE_TOP_K), dtype=np.float32)
    for row in rows:  # each chunk's strongest terms, padded as SparseE5View packs them
        kept = rng.integers(10, 60)
        row[:kept] = rng.choice(1000, kept, replace=False)
        row[SPARSE_TOP_K : SPARSE_TOP_K + kept] = rng.random(kept)
    matrix = unpack_sparse(rows, 1000)
    query = rows[7]
    expected = (matrix @ unpack_sparse(query, 1000).T).toarray().ravel()
    columns = Columns.of(matrix)
    assert np.allclose(columns.weighted_sum(*sparse_terms(query)), expected)
    columns.save(tmp_path, "view.sparse")
    assert np.allclose(Columns.load(tmp_path, "view.sparse", len(rows)).weighted_sum(*sparse_terms(query)), expected)


def test_postings_of_no_documents_are_none():
    assert Postings.build(iter([])) is None


def tiny_index() -> ChunkIndex:
    return ChunkIndex(
        chunk_ids=["c1", "c2"],
        lesson_codes=np.array([0, 0]),
        lesson_index={"lesson": 0},
        bm25=Postings.build(iter([["客户", "关系"], ["价格"]])),
        bigrams=None,
        matrices={"use": np.eye(2, 4, dtype=np.float32)},
        dense=None,
        rowids=np.array([1, 2]),
        cjk=np.array([True, True]),
    )


def test_a_saved_index_loads_only_for_its_engines_and_replaces_older_and_abandoned_ones(tmp_path):
    fingerprints = {"use": "usem3:x:512:fold-1"}
    abandoned, writing = tmp_path / ".writing-killed", tmp_path / ".writing-in-progress"
    abandoned.mkdir(parents=True)
    writing.mkdir()
    os.utime(abandoned, (time.time() - 2 * snapshot.ABANDONED_AFTER_S,) * 2)
    first = snapshot.save(tmp_path, tiny_index(), 5, fingerprints)
    assert not abandoned.exists() and writing.exists()  # another process may still be writing that one
    second = snapshot.save(tmp_path, tiny_index(), 7, fingerprints)
    assert not first.exists() and second.exists()
    loaded, generation, folder = snapshot.load(tmp_path, fingerprints)
    assert folder == second and generation == 7 and loaded.chunk_ids == ["c1", "c2"] and loaded.bigrams is None and loaded.dense is None
    assert np.array_equal(loaded.view("use", np.array([1, 0, 0, 0], dtype=np.float32)), [1, 0])
    assert np.allclose(loaded.bm25_scores(loaded.bm25, ["价格"]), tiny_index().bm25_scores(tiny_index().bm25, ["价格"]))
    assert snapshot.load(tmp_path, {"use": "usem3:x:512:fold-2"}) is None
    # the chunks written after it are saved inside it, as of a generation; another generation's part is not read
    snapshot.save_part(second, tiny_index(), 9, fingerprints)
    assert snapshot.load_part(second, 9).chunk_ids == ["c1", "c2"] and snapshot.load_part(second, 10) is None
    snapshot.save_part(second, tiny_index(), 10, fingerprints)  # replaces the older part
    assert snapshot.load_part(second, 9) is None and snapshot.load_part(second, 10) is not None
    assert snapshot.load(tmp_path, fingerprints)[1] == 7  # the part inside is not taken for a saved index


def write_corpus(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


PAYMENT = "# 回款\n\n## 合同\n\n付款节点要和可控的里程碑挂钩，验收标准写清楚。\n"
COACH = "# 教练\n\n## 培养\n\n先给价值，再要信息，保护教练的身份。\n"
PILOT = "# 试点\n\n## 范围\n\n试点范围要小，成功标准事先和客户写进纪要。\n"


def _generation_of(folder: Path) -> int:
    return int(folder.name[1:].partition("-")[0])


def parts_when_found(settings: Settings, query: str, title: str) -> int:
    """In a new process's workspace: the query's best lesson is ``title``; returns how many parts its index has."""
    ws = Workspace(settings)
    try:
        assert ws.searcher.search(query, k=5)[0].title == title
        return len(ws.searcher.signals.loaded.parts)
    finally:
        ws.close()


def ranked(ws: Workspace, query: str) -> list[tuple[str, float]]:
    return [(r.lesson_id, round(r.score, 6)) for r in ws.searcher.search(query, k=5)]


@pytest.mark.slow
def test_the_chunks_written_since_the_saved_index_are_saved_beside_it_for_the_next_process(settings, tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path / "corpus", {"a.md": PAYMENT, "b.md": COACH})
    for files in ({}, {"c.md": PILOT}):  # then a file written after the index was saved (a review submitted, say)
        ws = Workspace(settings)
        try:
            ws.ingestor.ingest([write_corpus(corpus, files)])
        finally:
            ws.close()
        if not files:
            assert parts_when_found(settings, "验收标准", "合同") == 1  # built whole, and saved
    monkeypatch.setattr("search.signals.REBUILD_SHARE", 10.0)  # this tiny base would otherwise be built whole again
    assert parts_when_found(settings, "试点范围要小", "范围") == 2  # indexed the written chunk, and saved it

    def no_indexing(*args, **kwargs):
        raise AssertionError("the saved part should have been mapped, not built")

    with monkeypatch.context() as patch:
        patch.setattr(Postings, "build", no_indexing)
        ws = Workspace(settings)
        try:
            assert ws.searcher.search("试点范围要小", k=5)[0].title == "范围"
            assert is_mapped(ws.searcher.signals.loaded.parts[1].dense)
        finally:
            ws.close()
    ws = Workspace(settings)
    try:  # written again: the saved part holds other chunks than those written since, so it is indexed anew
        ws.ingestor.ingest([write_corpus(corpus, {"c.md": PILOT.replace("试点范围要小", "试点周期要短")})])
        ws.searcher.signals.save_current()  # what `kb ingest` does last: saves that part
    finally:
        ws.close()
    with monkeypatch.context() as patch:
        patch.setattr(Postings, "build", no_indexing)
        assert parts_when_found(settings, "试点周期要短", "范围") == 2


@pytest.mark.slow
def test_a_new_process_maps_the_saved_index_and_adds_what_was_written_since(settings, tmp_path, caplog, monkeypatch):
    corpus = write_corpus(tmp_path / "corpus", {"a.md": PAYMENT, "b.md": COACH})
    with_build = Workspace(settings)
    try:
        with_build.ingestor.ingest([corpus])
        before = {q: ranked(with_build, q) for q in ("验收标准", "保护教练的身份", "milestone payment")}
        assert is_mapped(with_build.searcher.signals.loaded.parts[0].dense)  # the saved copy replaced the built one
    finally:
        with_build.close()
    assert len(list(settings.search_index_dir.glob("g*"))) == 1

    mapped = Workspace(settings)
    try:
        assert {q: ranked(mapped, q) for q in before} == before
        part = mapped.searcher.signals.loaded.parts[0]
        fingerprints = mapped.searcher.signals.fingerprints
        assert is_mapped(part.dense) and is_mapped(part.matrices["use"]) and is_mapped(part.matrices["sparse"].data)
        # a new file, and the file ingested last changed: its chunk, the saved index's last, is replaced
        write_corpus(corpus, {"c.md": PILOT, "b.md": COACH.replace("。", "，别让他在会上替你表态。")})
        mapped.ingestor.ingest([corpus])
    finally:
        mapped.close()

    # three changed chunks are more than this tiny base: far over the share that makes a whole index be built
    with monkeypatch.context() as patch:
        patch.setattr("search.signals.REBUILD_SHARE", 10.0)
        assert parts_when_found(settings, "试点范围要小", "范围") == 2  # the saved index, and the chunks written since
        assert parts_when_found(settings, "别让他在会上替你表态", "培养") == 2
    assert parts_when_found(settings, "试点范围要小", "范围") == 1
    # saved again at generation 5 (2 chunks written, 1 removed, 2 written), the older one removed
    assert [_generation_of(folder) for folder in settings.search_index_dir.glob("g*")] == [5]

    # a damaged snapshot is ignored and replaced: the search still answers from the catalog
    for folder in settings.search_index_dir.glob("g*"):
        (folder / "chunk_ids.txt").write_text("only-one\n", encoding="utf-8")
    assert parts_when_found(settings, "试点范围要小", "范围") == 1
    assert snapshot.load(settings.search_index_dir, fingerprints) is not None
    assert "ignoring the saved search index" in caplog.text

    # other views: that snapshot does not fit, one of their own is built beside it
    other_views = Settings(data_dir=settings.data_dir, views="use")
    ws = Workspace(other_views)
    try:
        assert ws.searcher.search("保护教练的身份", k=5)[0].title == "培养"
        assert set(ws.searcher.signals.loaded.parts[0].matrices) == {"use"}
    finally:
        ws.close()
    assert len(list(settings.search_index_dir.glob("g*"))) == 2


@pytest.mark.slow
def test_a_snapshot_of_another_catalog_is_not_used(tmp_path):
    first = Settings(data_dir=tmp_path / "first")
    second = Settings(data_dir=tmp_path / "second")
    for settings, text in ((first, PAYMENT), (second, COACH)):
        ws = Workspace(settings)
        try:
            ws.ingestor.ingest([write_corpus(tmp_path / f"corpus-{settings.data_dir.name}", {"a.md": text})])
            ws.searcher.search("合同", k=5)
        finally:
            ws.close()
    shutil.rmtree(second.search_index_dir)
    shutil.copytree(first.search_index_dir, second.search_index_dir)
    ws = Workspace(second)
    try:
        found = ws.searcher.search("保护教练的身份", k=5)
        assert [r.title for r in found] == ["培养"]
        assert set(ws.searcher.signals.loaded.parts[0].chunk_ids) == ws.catalog.chunk_ids()
    finally:
        ws.close()


def test_a_search_never_shows_the_chunks_removed_since_its_index_was_loaded(settings, tmp_path, monkeypatch):
    monkeypatch.setattr("search.signals.REBUILD_SHARE", 10.0)  # the loaded part keeps the removed chunks
    corpus = write_corpus(tmp_path / "corpus", {"a.md": PAYMENT, "b.md": COACH})
    ws = Workspace(settings)
    try:
        ws.ingestor.ingest([corpus])
        assert ws.searcher.search("保护教练的身份", k=5)[0].title == "培养"
        assert not ws.searcher.signals.loaded.holds_removed  # so a search asks the catalog nothing about them
        (corpus / "b.md").unlink()
        ws.ingestor.ingest([corpus], prune=True)
        assert [r.title for r in ws.searcher.search("保护教练的身份", k=5)] == ["合同"]
        loaded = ws.searcher.signals.loaded
        assert loaded.holds_removed and len(loaded.parts) == 1 and len(loaded.chunk_ids) == 2
    finally:
        ws.close()
