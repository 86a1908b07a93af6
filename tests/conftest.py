"""Shared fixtures: settings on a tmp data dir, and the seeds ingested once per session with the real engine."""

from __future__ import annotations

import os
from pathlib import Path

import hashlib

import numpy as np
import pytest

from kb.settings import Settings
from kb.workspace import Workspace

REPO_ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = REPO_ROOT.parent / "shared" / "seeds"
CORPUS_DIR = REPO_ROOT / "corpus"
DISTRACTORS = Path(__file__).parent / "eval" / "distractors"  # documents on other subjects, Chinese and English
# The seeds are five real scraped articles kept beside the repository, not in it (see the README).
NEEDS_SEEDS = f"needs the five shared seed articles at {SEEDS_DIR} (beside the repository, not part of it; see README)"


@pytest.fixture(scope="session")
def _session_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache dir for the whole run (what kb rebuilds when missing is built once), not the developer's."""
    return tmp_path_factory.mktemp("kb-cache")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, _session_cache_dir: Path) -> None:
    """No test reads the developer's KB_* settings or writes to ./data or the user's cache dir."""
    for name in [name for name in os.environ if name.upper().startswith("KB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("KB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KB_CACHE_DIR", str(_session_cache_dir))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def workspace(settings: Settings):
    ws = Workspace(settings)
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    if not SEEDS_DIR.is_dir():
        pytest.skip(NEEDS_SEEDS)
    return SEEDS_DIR


def seed_path(name_prefix: str) -> Path:
    """The seed file whose name starts with ``name_prefix``; the test skips, saying why, when the seeds are absent."""
    matches = sorted(SEEDS_DIR.glob(f"{name_prefix}_*.txt"))
    if not matches:
        pytest.skip(f"{NEEDS_SEEDS}; seed {name_prefix}_*.txt is missing")
    return matches[0]


def seed_text(name_prefix: str) -> str:
    """The raw text of one seed file, for tests that check cleaning on real excerpts."""
    return seed_path(name_prefix).read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory, seeds_dir: Path):
    """A workspace with the five seeds ingested by the real default engine (about 10 s, once)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("seeded"))
    ws = Workspace(settings)
    report = ws.ingestor.ingest([seeds_dir])
    assert not report.failed, report.failed
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def mixed(tmp_path_factory: pytest.TempPathFactory):
    """A workspace with corpus/ and the unrelated documents of tests/eval/distractors/, by the real engine."""
    workspace = Workspace(Settings(data_dir=tmp_path_factory.mktemp("mixed")))
    report = workspace.ingestor.ingest([CORPUS_DIR, DISTRACTORS])
    assert not report.failed, report.failed
    yield workspace
    workspace.close()


class HashEmbedder:
    """Same text, same vector: enough for storing, replacing and deduplicating; says nothing about meaning."""

    engine, model, dim = "hash", "sha1", 8

    def embed_passages(self, texts):
        return np.array([self._vector(text) for text in texts], dtype=np.float32).reshape(len(texts), self.dim)

    def embed_query(self, text):
        return self._vector(text)

    def _vector(self, text: str) -> np.ndarray:
        raw = np.frombuffer(hashlib.sha1(text.encode("utf-8")).digest()[: self.dim], dtype=np.uint8).astype(np.float32) + 1
        return raw / np.linalg.norm(raw)


@pytest.fixture
def hash_ingestor(settings: Settings):
    """An Ingestor on a tmp data dir whose embedder is HashEmbedder, for logic that does not depend on meaning."""
    from ingest.pipeline import Ingestor
    from ingest.tagging import Tagger, load_taxonomy
    from kb.embedding import CachedEmbedder
    from kb.vector_sync import VectorSync

    workspace = Workspace(settings)
    embedder = CachedEmbedder(HashEmbedder(), workspace.catalog)
    vectors = VectorSync(workspace.catalog, workspace.index, embedder, workspace.lock)
    yield Ingestor(settings, workspace.catalog, vectors, Tagger(load_taxonomy(settings.taxonomy_path), embedder))
    workspace.close()
