"""The search page and /api/search over a tiny corpus ingested with the real engine."""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from html import unescape

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.domain import SearchFilters, SearchResult
from kb.insights import Insights
from kb.settings import Settings
from search.query import MAX_QUERY_CHARS

from web_support import kb_client, write_corpus

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("web_search")
    with kb_client(Settings(data_dir=root / "data"), write_corpus(root / "corpus")) as client:
        yield client


@pytest.fixture(scope="module")
def workspace(client):
    return client.app.state.workspace


def titles(html: str) -> list[str]:
    """Result titles in page order."""
    return [unescape(t) for t in re.findall(r'<h3><a href="/lessons/[0-9a-f]+(?:\?back=[^"]*)?">([^<]+)</a></h3>', html)]


def logged(workspace, query: str) -> int:
    return next((stat.count for stat in Insights(workspace.catalog).frequent_queries(100) if stat.query == query), 0)


# --- the page -------------------------------------------------------------------------


def test_chinese_query_finds_the_lesson_with_highlighted_terms(client, workspace):
    response = client.get("/", params={"q": "怎样培养教练"})
    assert response.status_code == 200
    assert 'lang="zh-CN"' in response.text and "搜索经验" in response.text
    assert titles(response.text)[0] == "找到并培养教练"
    lesson = next(l for l in workspace.catalog.iter_lessons() if l.title == "找到并培养教练")
    # The link carries the way back to these results.
    assert f'href="/lessons/{lesson.id}?back=%2F%3Fq%3D%25E6%2580%258E' in response.text
    assert "<mark>教练</mark>" in response.text
    assert "出自 新人销售打法</span>" in response.text  # the source, by its document's title
    assert "新人销售打法.md" not in response.text
    for tag in lesson.tags:  # its tags, named in Chinese, link to the lessons with that tag
        assert f'<a class="badge tag" href="/?tag={tag}">' in response.text
    assert '<a class="badge tag" href="/?tag=decision-chain-coach">决策链与教练</a>' in response.text


def test_english_query_in_the_english_interface(client):
    response = client.get("/", params={"q": "discount without a trade", "lang": "en"})
    assert response.status_code == 200
    assert 'lang="en"' in response.text and "Search lessons" in response.text
    assert titles(response.text)[0].startswith("Never give a discount without a trade")
    assert "<mark>discount</mark>" in response.text
    assert '<span class="badge win">Win</span>' in response.text
    client.get("/", params={"lang": "zh"})  # back to Chinese for the other tests (the choice is a cookie)


def test_a_chosen_language_is_remembered_for_the_next_pages(client):
    chosen = client.get("/", params={"lang": "en"})
    cookie = chosen.headers["set-cookie"].lower()
    assert "kb_lang=en" in cookie and "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert chosen.headers["x-frame-options"] == "DENY"  # the other headers are still added
    assert 'lang="en"' in client.get("/").text
    assert "set-cookie" not in client.get("/").headers  # only a choice sets it
    client.get("/", params={"lang": "zh"})
    assert 'lang="zh' in client.get("/").text


def test_results_show_kind_outcome_and_tag_badges(client, workspace):
    response = client.get("/", params={"q": "折扣 交换条件", "kind": "review", "outcome": "loss"})
    assert response.status_code == 200
    hospital = {l.title for l in workspace.catalog.iter_lessons(SearchFilters(source="hospital-review.md"))}
    assert titles(response.text) and set(titles(response.text)) <= hospital
    assert '<span class="badge review">复盘</span>' in response.text
    assert '<span class="badge loss">丢单</span>' in response.text
    # the chosen filters stay selected
    assert '<option value="review" selected>' in response.text
    assert '<option value="loss" selected>' in response.text


def test_filters_limit_the_results(client, workspace):
    reviews = client.get("/api/search", params={"q": "折扣", "kind": "review"}).json()["results"]
    assert reviews and {r["kind"] for r in reviews} == {"review"}
    wins = client.get("/api/search", params={"q": "discount", "outcome": "win"}).json()["results"]
    assert wins and {r["outcome"] for r in wins} == {"win"}
    retail = client.get("/api/search", params={"q": "discount", "industry": "retail"}).json()["results"]
    assert retail and {r["source"] for r in retail} == {"retail-review.md"}
    document = next(d for d in workspace.catalog.list_documents() if d.path.endswith("hospital-review.md"))
    by_source = client.get("/api/search", params={"q": "折扣", "source": document.id}).json()["results"]
    assert by_source and {r["source"] for r in by_source} == {"hospital-review.md"}
    tag = next(iter(workspace.catalog.count_by("tag")))
    tagged = client.get("/api/search", params={"q": "客户", "tag": tag}).json()["results"]
    assert tagged and all(tag in r["tags"] for r in tagged)
    page = client.get("/", params={"q": "discount", "industry": "retail"})
    assert set(titles(page.text)) == {r["title"] for r in retail}
    assert '<option value="retail" selected>' in page.text


def test_filter_choices_come_from_the_catalog_and_the_taxonomy(client, workspace):
    html = client.get("/").text
    # Industries of the taxonomy are named in the reader's language; others keep their own name.
    assert '<option value="healthcare">医疗</option>' in html
    assert '<option value="retail">' in html
    assert '<option value="decision-chain-coach">决策链与教练</option>' in html
    for document in workspace.catalog.list_documents():
        assert f'<option value="{document.id}">' in html


def test_pagination_ten_per_page_with_next_and_previous_links(client):
    first = client.get("/", params={"q": "客户"})
    assert len(titles(first.text)) == 10
    assert 'rel="next" href="/?q=%E5%AE%A2%E6%88%B7&amp;page=2"' in first.text
    assert 'rel="prev"' not in first.text
    second = client.get("/", params={"q": "客户", "page": 2})
    assert second.status_code == 200
    assert 1 <= len(titles(second.text)) <= 10
    assert not set(titles(first.text)) & set(titles(second.text))
    assert 'rel="prev" href="/?q=%E5%AE%A2%E6%88%B7&amp;page=1"' in second.text
    # the pages together are the first twenty results of one search
    assert client.get("/api/search", params={"q": "客户", "k": 20}).json()["results"][10]["title"] == titles(second.text)[0]


def test_empty_result_says_so_and_suggests_related_tags(client):
    response = client.get("/", params={"q": "投标报价", "outcome": "win", "industry": "healthcare"})
    assert response.status_code == 200
    assert titles(response.text) == []
    assert "没有找到相关经验" in response.text
    assert "相关主题" in response.text
    assert 'href="/?tag=process-capability"' in response.text  # 投标 is a keyword of that tag


def test_empty_result_without_a_matching_tag_suggests_common_tags(client, workspace):
    response = client.get("/", params={"q": "天气预报", "industry": "nowhere"})
    assert "没有找到相关经验" in response.text
    most_common = next(iter(workspace.catalog.count_by("tag")))
    assert f'href="/?tag={most_common}"' in response.text


def test_a_tag_link_lists_the_lessons_with_that_tag(client, workspace):
    tag = next(iter(workspace.catalog.count_by("tag")))
    response = client.get("/", params={"tag": tag})
    assert response.status_code == 200
    expected = [l.title for l in workspace.catalog.iter_lessons(SearchFilters(tag=tag))]
    assert titles(response.text) == expected[:10]
    assert "符合筛选条件的经验" in response.text


def test_over_long_query_shows_a_message(client):
    response = client.get("/", params={"q": "销" * (MAX_QUERY_CHARS + 1)})
    assert response.status_code == 422
    assert f"最多 {MAX_QUERY_CHARS} 个字符" in response.text
    assert '<input type="search" name="q"' in response.text  # the form is still there
    english = client.get("/", params={"q": "x" * (MAX_QUERY_CHARS + 1), "lang": "en"})
    assert f"at most {MAX_QUERY_CHARS} characters" in english.text
    client.get("/", params={"lang": "zh"})


def test_bad_filter_or_page_is_a_422_page_not_a_500(client):
    assert client.get("/", params={"q": "教练", "kind": "memo"}).status_code == 422
    assert client.get("/", params={"q": "教练", "page": 0}).status_code == 422


def test_every_query_is_logged_once_with_its_result_count(client, workspace):
    before = logged(workspace, "铁三角例会怎么开")
    client.get("/", params={"q": "铁三角例会怎么开"})
    client.get("/", params={"q": "铁三角例会怎么开", "page": 2})  # paging is not a new question
    client.get("/api/search", params={"q": "铁三角例会怎么开", "k": 3})
    assert logged(workspace, "铁三角例会怎么开") == before + 2
    client.get("/", params={"q": "天气预报", "industry": "nowhere"})
    gap = next(stat for stat in Insights(workspace.catalog).gaps(100) if stat.query == "天气预报")
    assert gap.last_result_count == 0


# --- the API --------------------------------------------------------------------------


def test_api_search_answers_search_result_json_items(client, workspace):
    response = client.get("/api/search", params={"q": "培养教练", "k": 3})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "weak", "off_subject"}
    assert body["weak"] is False and body["off_subject"] is False
    assert len(body["results"]) == 3
    expected = [r.to_json() for r in workspace.searcher.search("培养教练", k=3)]
    assert body["results"] == expected
    assert set(body["results"][0]) == set(SearchResult("", "", "", (), "", 0.0).to_json())
    first = body["results"][0]
    assert first["title"] == "找到并培养教练"
    assert all(first["text"][s:e] for s, e in first["highlights"])


def test_api_search_gives_the_same_results_as_kb_search_jsonl(client):
    requests = [
        {"id": 1, "query": "怎样培养教练", "k": 5},
        {"id": 2, "query": "discount without a trade", "k": 3, "filters": {"kind": "review"}},
    ]
    data_dir = client.app.state.settings.data_dir
    run = CliRunner().invoke(
        cli, ["--data-dir", str(data_dir), "search", "--jsonl"], input="".join(json.dumps(r) + "\n" for r in requests)
    )
    assert run.exit_code == 0, run.output
    answers = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    for request, answer in zip(requests, answers):
        params = {"q": request["query"], "k": request["k"], **request.get("filters", {})}
        assert client.get("/api/search", params=params).json()["results"] == answer["results"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({}, "q"), ({"q": ""}, "query"), ({"q": "   "}, "query"), ({"q": "x" * (MAX_QUERY_CHARS + 1)}, "query"), ({"q": "教练", "k": 0}, "k"), ({"q": "教练", "k": 101}, "k"), ({"q": "教练", "outcome": "maybe"}, "outcome")],
)
def test_api_search_rejects_bad_requests_with_the_error_shape(client, params, field):
    response = client.get("/api/search", params=params)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["status"] == 422 and error["message"]
    assert field in error["fields"]


def test_api_search_k_is_limited_to_100(client):
    assert client.get("/api/search", params={"q": "客户", "k": 100}).status_code == 200


# --- reading without an account -------------------------------------------------------


def test_without_public_read_anonymous_readers_must_sign_in(tmp_path):
    with kb_client(Settings(data_dir=tmp_path / "private", public_read=False)) as client:
        page = client.get("/", params={"q": "教练"}, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        api = client.get("/api/search", params={"q": "教练"})
        assert api.status_code == 401 and api.json()["error"]["status"] == 401
        for path in ("/documents", "/insights", "/lessons/abc"):
            assert client.get(path, follow_redirects=False).status_code == 303
        for path in ("/api/insights", "/api/lessons/abc"):
            assert client.get(path).status_code == 401


def test_api_docs_follow_the_reading_rule(tmp_path):
    """Private reading keeps the API's description private too; public reading shows it to everyone."""
    with kb_client(Settings(data_dir=tmp_path / "private", public_read=False)) as private:
        for page in ("/docs", "/redoc"):
            response = private.get(page, follow_redirects=False)
            assert response.status_code == 303 and response.headers["location"].startswith("/login"), page
        assert private.get("/openapi.json").status_code == 401
    with kb_client(Settings(data_dir=tmp_path / "public", public_read=True)) as public:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert public.get(path, follow_redirects=False).status_code == 200, path
        assert "/api/search" in public.get("/openapi.json").json()["paths"]


def test_searches_at_once_wait_their_turn_for_a_slot(client, workspace, monkeypatch):
    limiter = client.app.state.search_slots
    monkeypatch.setattr(limiter, "total_tokens", 1)
    running, most, lock = 0, 0, threading.Lock()
    search = workspace.searcher.search

    def counted(*args, **kwargs):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.05)  # long enough for the other requests to arrive meanwhile
            return search(*args, **kwargs)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(workspace.searcher, "search", counted)
    questions = ["培养教练", "客户嫌报价太高", "回款", "决策链"]
    with ThreadPoolExecutor(len(questions)) as pool:
        answers = list(pool.map(lambda q: client.get("/api/search", params={"q": q}), questions))
    assert [answer.status_code for answer in answers] == [200] * len(questions)
    assert all(answer.json()["results"] for answer in answers)
    assert most == 1 and limiter.borrowed_tokens == 0
