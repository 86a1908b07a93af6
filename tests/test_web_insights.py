"""The insights page and /api/insights: counts, frequent queries, knowledge gaps and inline SVG charts."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from kb.settings import Settings

from web_support import kb_client, write_corpus

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("web_insights")
    with kb_client(Settings(data_dir=root / "data"), write_corpus(root / "corpus")) as client:
        # what people asked: one question twice, one in English, one that the filters leave without an answer
        client.get("/", params={"q": "怎样培养教练"})
        client.get("/api/search", params={"q": "怎样培养教练"})
        client.get("/api/search", params={"q": "discount without a trade", "k": 3})
        client.get("/", params={"q": "天气预报", "industry": "nowhere"})
        client.get("/api/search", params={"q": "how far is the moon from the earth"})  # the base has no answer
        yield client


def test_api_insights_numbers(client):
    catalog = client.app.state.workspace.catalog
    numbers = client.get("/api/insights").json()
    assert numbers["counts"]["documents"] == 3
    assert numbers["counts"]["lessons"] == catalog.counts()["lessons"] == 16
    assert numbers["by_kind"] == {"playbook": 12, "review": 4}
    assert numbers["by_outcome"] == {"loss": 2, "win": 2}
    assert numbers["by_industry"] == {"healthcare": 2, "retail": 2}
    assert numbers["by_tag"] == catalog.count_by("tag")
    assert sum(numbers["lessons_by_month"].values()) == 16
    assert numbers["lessons_by_month"]["2025-11"] == 2 and numbers["lessons_by_month"]["2026-01"] == 2  # the reviews' dates
    assert sum(numbers["queries_by_month"].values()) == 5
    frequent = {q["query"]: q for q in numbers["frequent_queries"]}
    assert frequent["怎样培养教练"]["count"] == 2
    assert frequent["discount without a trade"]["last_result_count"] == 3
    assert set(frequent["怎样培养教练"]) == {"query", "count", "last_result_count", "best_score"}
    gaps = {q["query"]: q for q in numbers["gaps"]}
    assert gaps["天气预报"]["last_result_count"] == 0 and gaps["天气预报"]["best_score"] is None
    assert "怎样培养教练" not in gaps
    # found five lessons, but search judged none a real match: a knowledge gap all the same
    assert gaps["how far is the moon from the earth"]["last_result_count"] > 0


def test_insights_page_shows_numbers_tables_and_svg_charts(client):
    response = client.get("/insights")
    assert response.status_code == 200
    html = response.text
    assert "<h1>洞察</h1>" in html
    assert "<strong>16</strong><span>条经验</span>" in html
    charts = re.findall(r"<svg .*?</svg>", html, re.S)
    assert len(charts) == 6
    for chart in charts:
        root = ET.fromstring(chart)
        assert root.get("role") == "img"
        assert root.find("{http://www.w3.org/2000/svg}title").text
    assert '<title>按类型</title>' in html and ">打法手册</text>" in html and ">复盘</text>" in html
    assert ">决策链与教练</text>" in html or ">解决方案</text>" in html  # tags by their Chinese names
    assert ">2025-11</text>" in html
    # the gaps and the frequent queries, each linking back to a search
    gaps = html[html.index("知识缺口") : html.index("最常搜索")]
    assert '<a href="/?q=%E5%A4%A9%E6%B0%94%E9%A2%84%E6%8A%A5">天气预报</a>' in gaps
    assert "怎样培养教练" not in gaps
    frequent = html[html.index("最常搜索") :]
    assert re.search(r">怎样培养教练</a></td>\s*<td class=\"num\">2</td>", frequent)


def test_insights_page_in_english(client):
    html = client.get("/insights", params={"lang": "en"}).text
    assert "Knowledge gaps" in html and "<title>Lessons by kind</title>" in html and ">Playbook</text>" in html
    client.get("/", params={"lang": "zh"})


def test_empty_knowledge_base_insights(tmp_path):
    with kb_client(Settings(data_dir=tmp_path / "empty")) as client:
        numbers = client.get("/api/insights").json()
        assert numbers["counts"]["lessons"] == 0 and numbers["gaps"] == [] and numbers["by_tag"] == {}
        html = client.get("/insights").text
        assert "暂无数据" in html and "还没有人搜索过" in html and "目前没有知识缺口" in html
