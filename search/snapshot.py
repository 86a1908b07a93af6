"""The in-memory search index saved beside the catalog, so that a new process (a one-query `kb search`, a restarted
server) maps it from disk instead of building it from the catalog, which takes a minute at 100,000 chunks.

One folder per saved index under the data dir's ``search-index``, named by the chunk generation it was built at
and the engines' fingerprints (another model, view or text fold cannot use it); written under a temporary name
and renamed, so a reader never sees half a snapshot. The chunks written after it (a review submitted since) are
saved inside it as one more part, so the next process maps those too instead of importing bm25s to index them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

from search.chunk_index import ChunkIndex
from search.postings import Columns, Postings, mapped_array

log = logging.getLogger(__name__)

# Bumped when the saved layout changes; older snapshots are then ignored (and replaced by the next save).
FORMAT = 6  # 4: the dense vectors by column; 5: each chunk's script; 6: the postings' total length
_META = "meta.json"
_PART = "written-since"  # the part inside a saved index's folder
# A staging folder this old was left by a killed writer: saving 100,000 chunks takes seconds.
ABANDONED_AFTER_S = 3600


def save(root: Path, index: ChunkIndex, generation: int, fingerprints: dict[str, str]) -> Path:
    """Write the index as the snapshot of ``generation`` and remove older ones; returns its folder."""
    root.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(json.dumps([FORMAT, fingerprints], sort_keys=True).encode()).hexdigest()[:12]
    target = root / f"g{generation}-{digest}"
    _write_in_place_of(root, target, index, generation, fingerprints)
    for older in root.glob("g*"):
        if older != target and _generation(older) < generation:
            shutil.rmtree(older, ignore_errors=True)  # a process that maps it keeps its pages until it lets go
    for abandoned in root.glob(".writing-*"):
        if time.time() - abandoned.stat().st_mtime > ABANDONED_AFTER_S:  # its writer was killed
            shutil.rmtree(abandoned, ignore_errors=True)
    return target


def save_part(folder: Path, part: ChunkIndex, generation: int, fingerprints: dict[str, str]) -> None:
    """Keep ``part``, the chunks written after the index saved in ``folder``, as of ``generation``."""
    _write_in_place_of(folder.parent, folder / _PART, part, generation, fingerprints)


def load_part(folder: Path, generation: int) -> ChunkIndex | None:
    """The part saved in ``folder`` at ``generation`` (memory-mapped), or None when there is none of it."""
    try:
        meta = json.loads((folder / _PART / _META).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT or meta.get("generation") != generation:
            return None
        return _read(folder / _PART, meta)
    except (OSError, ValueError, KeyError):  # none yet, or replaced while it was read: the caller indexes the chunks
        return None


def _write_in_place_of(root: Path, target: Path, index: ChunkIndex, generation: int, fingerprints: dict[str, str]) -> None:
    """Write the index under a temporary name in ``root``, then rename it to ``target``, replacing what was there."""
    staging = root / f".writing-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        _write(staging, index, generation, fingerprints)
        if target.exists():  # one that could not be used (damaged, or an older part): a process mapping it keeps its pages
            _discard(root, target)
        try:
            os.rename(staging, target)
        except OSError:  # another process saved the same one meanwhile
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _discard(root: Path, folder: Path) -> None:
    doomed = root / f".writing-{uuid.uuid4().hex}"  # removed with the abandoned ones if this removal fails
    try:
        os.rename(folder, doomed)
    except OSError:
        return
    shutil.rmtree(doomed, ignore_errors=True)


def load(root: Path, fingerprints: dict[str, str]) -> tuple[ChunkIndex, int, Path] | None:
    """The newest usable snapshot, its generation and its folder (memory-mapped), or None when there is none."""
    folders = sorted(root.glob("g*"), key=_generation, reverse=True) if root.is_dir() else []
    for folder in folders:
        try:
            meta = json.loads((folder / _META).read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT or meta.get("fingerprints") != fingerprints:
                continue
            return _read(folder, meta), int(meta["generation"]), folder
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring the saved search index %s: %s", folder, exc)
    return None


def read(folder: Path) -> ChunkIndex:
    """The index saved in ``folder`` (by ``save``), memory-mapped."""
    return _read(folder, json.loads((folder / _META).read_text(encoding="utf-8")))


def _generation(folder: Path) -> int:
    try:
        return int(folder.name[1:].partition("-")[0])
    except ValueError:
        return -1


def _write(folder: Path, index: ChunkIndex, generation: int, fingerprints: dict[str, str]) -> None:
    _write_lines(folder / "chunk_ids.txt", index.chunk_ids)
    _write_lines(folder / "lesson_ids.txt", list(index.lesson_index))
    np.save(folder / "lesson_codes.npy", index.lesson_codes)
    np.save(folder / "rowids.npy", index.rowids)
    np.save(folder / "cjk.npy", index.cjk)
    postings = {name: p for name, p in (("bm25", index.bm25), ("bigrams", index.bigrams)) if p is not None}
    for name, p in postings.items():
        p.save(folder, name)
    matrices: dict[str, str] = {}
    for name, matrix in index.matrices.items():
        if isinstance(matrix, np.ndarray):
            np.save(folder / f"view.{name}.npy", matrix)
            matrices[name] = "dense"
        else:
            matrix.save(folder, f"view.{name}")
            matrices[name] = "columns"
    if index.dense is not None:
        np.save(folder / "dense.npy", index.dense)
    meta = {
        "format": FORMAT,
        "generation": generation,
        "fingerprints": fingerprints,
        "chunks": len(index.chunk_ids),
        "postings": sorted(postings),
        "matrices": matrices,
        "dense": index.dense is not None,
    }
    (folder / _META).write_text(json.dumps(meta, indent=1), encoding="utf-8")


def _read(folder: Path, meta: dict) -> ChunkIndex:
    chunk_ids = _read_lines(folder / "chunk_ids.txt")
    if len(chunk_ids) != meta["chunks"]:
        raise ValueError(f"{len(chunk_ids)} chunk ids for {meta['chunks']} chunks")
    postings = {name: Postings.load(folder, name, len(chunk_ids)) for name in meta["postings"]}
    matrices = {
        name: mapped_array(folder / f"view.{name}.npy") if kind == "dense" else Columns.load(folder, f"view.{name}", len(chunk_ids))
        for name, kind in meta["matrices"].items()
    }
    return ChunkIndex(
        chunk_ids=chunk_ids,
        lesson_codes=mapped_array(folder / "lesson_codes.npy"),
        lesson_index={lesson_id: i for i, lesson_id in enumerate(_read_lines(folder / "lesson_ids.txt"))},
        bm25=postings.get("bm25"),
        bigrams=postings.get("bigrams"),
        matrices=matrices,
        dense=mapped_array(folder / "dense.npy") if meta["dense"] else None,
        rowids=mapped_array(folder / "rowids.npy"),
        cjk=mapped_array(folder / "cjk.npy"),
    )


def _write_lines(path: Path, values: list[str]) -> None:
    path.write_text("".join(f"{value}\n" for value in values), encoding="utf-8")


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]
