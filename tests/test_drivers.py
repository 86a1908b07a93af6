"""Win/loss drivers across reviews (issue 23): counts of what reps confirmed, links to the reviews behind each number.

The real engine over the product's own corpus/, then reviews submitted through the API with known outcomes and
drivers in an industry corpus/ has none (education), so that the filtered counts are exactly the submitted ones.
"""

from __future__ import annotations

import csv
import json
import io
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.catalog import Catalog
from kb.cli import cli
from kb.drivers import Drivers, quarter_of, size_band
from kb.settings import Settings
from web_support import bearer, csrf_in, kb_client, sign_in

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
DRIVER_IDS = ["price", "relationship", "solution-fit", "competitor", "timing-budget", "delivery-references"]

# (outcome, close date, competitor, deal size, [(lesson, drivers)]) — all in education.
SUBMITTED = [
    ("win", "2026-01-15", "某教育软件商X", 800_000, [("校长亲自参加了方案汇报，信息化处长成了我们的教练。", ["relationship"]), ("分期付款打动了财务处。", ["price"])]),
    ("win", "2026-02-20", "某教育软件商X", 2_000_000, [("试点班级的成绩数据证明了平台价值。", ["solution-fit"]), ("教务处和信息中心都见到了。", ["relationship"])]),
    ("win", "2026-03-03", "某云厂商Y", 3_500_000, [("同省三所高校的案例让评审放心。", ["delivery-references"]), ("报价比对手低一成。", ["price", "competitor"])]),
    ("win", "2026-04-10", "某教育软件商X", 1_200_000, [("提前半年参与了规划。", ["timing-budget", "relationship"])]),
    ("win", "2026-05-08", "某云厂商Y", 12_000_000, [("分管副校长力排众议支持我们。", ["relationship"])]),
    ("loss", "2026-01-28", "某教育软件商X", 900_000, [("对手报价低了三成。", ["price", "competitor"]), ("只认识信息中心主任一个人。", ["relationship"])]),
    ("loss", "2026-02-11", "某云厂商Y", 5_000_000, [("预算被财政压缩，项目延到下个财年。", ["timing-budget"])]),
    ("loss", "2026-04-22", "某教育软件商X", 700_000, [("没见到分管校长。", ["relationship"]), ("演示没有用学校自己的数据。", ["solution-fit"])]),
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("drivers")


@pytest.fixture(scope="module")
def client(root: Path):
    users = (("rep1", "rep"), ("rep2", "rep"), ("reader1", "reader"), ("admin1", "admin"))
    with kb_client(Settings(data_dir=root / "data"), CORPUS, users) as client:
        yield client


@pytest.fixture(scope="module")
def rep(client):
    return bearer(client, "rep1")


def submit(client, headers, outcome: str, day: str, competitor: str, size: int, lessons, *, drivers=True, customer: str | None = None) -> str:
    payload = {
        "outcome": outcome,
        "customer": customer or f"某高校{day}",
        "industry": "教育",
        "competitors": competitor,
        "deal_size": size,
        "currency": "CNY",
        "close_date": day,
        "lessons": [text for text, _ in lessons],
    }
    if drivers:
        payload["drivers"] = [ids for _, ids in lessons]
    response = client.post("/api/reviews", json=payload, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["document_id"]


@pytest.fixture(scope="module")
def submitted(client, rep) -> dict[str, tuple]:
    return {submit(client, rep, *review): review for review in SUBMITTED}


def expected_counts(reviews) -> dict[str, Counter]:
    counts = {driver: Counter() for driver in DRIVER_IDS}
    for outcome, _, _, _, lessons in reviews:
        for driver in {d for _, ids in lessons for d in ids}:
            counts[driver][outcome] += 1
    return counts


def report(client, **params) -> dict:
    response = client.get("/api/insights/drivers", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_driver_counts_are_the_submitted_ones_and_every_number_leads_to_its_reviews(client, submitted):
    body = report(client, industry="education")
    assert (body["reviews"], body["won"], body["lost"]) == (8, 5, 3)
    expected = expected_counts(SUBMITTED)
    by_id = {driver["id"]: driver for driver in body["drivers"]}
    assert list(by_id) == DRIVER_IDS
    for driver, counts in expected.items():
        row = by_id[driver]
        assert (row["won"], row["lost"]) == (counts["win"], counts["loss"]), driver
        assert row["confirmed"] == row["won"] + row["lost"]
        assert row["too_few"] == (counts["win"] + counts["loss"] < 5)
        assert row["share_of_wins"] == round(counts["win"] / 5, 3)
        for bucket, outcome in (("win", "win"), ("loss", "loss")):
            ids = [review["id"] for review in row["reviews"][bucket]]
            assert sorted(ids) == sorted(rid for rid, r in submitted.items() if r[0] == outcome and driver in {d for _, x in r[4] for d in x})
            for review in row["reviews"][bucket]:
                page = client.get(review["url"])
                assert page.status_code == 200
                assert submitted[review["id"]][1] in page.text  # its close date
    relationship = by_id["relationship"]
    assert (relationship["won"], relationship["lost"], relationship["too_few"], relationship["win_rate"]) == (4, 2, False, 0.667)
    assert relationship["by_quarter"] == {"2026-Q1": {"win": 2, "loss": 1}, "2026-Q2": {"win": 2, "loss": 1}}
    quoted = {quote["text"] for quote in client.get("/api/insights/drivers/relationship", params={"industry": "教育", "outcome": "loss"}).json()["quotes"]}
    assert quoted == {"只认识信息中心主任一个人。", "没见到分管校长。"}


def test_filters_by_competitor_size_and_quarter(client, submitted):
    x = report(client, industry="education", competitor="软件商x")
    assert (x["reviews"], x["won"], x["lost"]) == (5, 3, 2)
    large = report(client, industry="education", size="large")
    assert large["reviews"] == 1 and {d["id"]: d["won"] for d in large["drivers"]}["relationship"] == 1
    q2 = report(client, industry="education", quarter="2026-Q2")
    assert (q2["won"], q2["lost"]) == (2, 1)
    assert size_band(999_999) == "small" and size_band(1_000_000) == "medium" and quarter_of("2026-12-31") == "2026-Q4"


def test_csv_export_has_the_same_numbers(client, submitted):
    response = client.get("/api/insights/drivers.csv", params={"industry": "education"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = {row["driver"]: row for row in csv.DictReader(io.StringIO(response.text.lstrip("\ufeff")))}
    for driver in report(client, industry="education")["drivers"]:
        assert (int(rows[driver["id"]]["won"]), int(rows[driver["id"]]["lost"])) == (driver["won"], driver["lost"])
    assert rows["price"]["name"] == "价格与商务条件" and rows["relationship"]["2026-Q1 won"] == "2"


def test_kb_suggests_drivers_the_rep_then_confirms_and_edits_keep(client, rep):
    lessons = [("对手的报价比我们低了百分之二十，客户最后选了最便宜的方案。", None), ("没有找到真正能拍板的决策者。", None)]
    document_id = submit(client, rep, "loss", "2026-06-01", "某云厂商Y", 600_000, lessons, drivers=False, customer="某职业学院")
    review = client.get(f"/api/reviews/{document_id}").json()
    suggested = [(lesson["drivers"], lesson["drivers_confirmed"]) for lesson in review["lessons"]]
    assert all(not confirmed for _, confirmed in suggested)
    assert "price" in suggested[0][0] and "relationship" in suggested[1][0]
    assert report(client, industry="education", quarter="2026-Q2")["unconfirmed_reviews"] == 1

    response = client.put(f"/api/reviews/{document_id}/drivers", json={"drivers": [["price", "competitor"], None]}, headers=rep)
    assert response.status_code == 200, response.text
    lessons_now = [(lesson["drivers"], lesson["drivers_confirmed"]) for lesson in response.json()["lessons"]]
    assert lessons_now[0] == (["price", "competitor"], True)
    assert lessons_now[1][1] is False  # null: kb's suggestion stays
    # An edit that keeps the first lesson's text keeps its confirmation; the changed lesson is suggested anew.
    fields = response.json()["review"]
    fields["lessons"] = [fields["lessons"][0], "预算审批拖了两个季度。"]
    fields.pop("drivers")
    assert client.put(f"/api/reviews/{document_id}", json=fields, headers=rep).status_code == 200
    after = [(lesson["drivers"], lesson["drivers_confirmed"]) for lesson in client.get(f"/api/reviews/{document_id}").json()["lessons"]]
    assert after[0] == (["price", "competitor"], True) and after[1][1] is False


def test_writes_refuse_anonymous_other_reps_and_bad_drivers(client, rep, submitted):
    document_id = next(iter(submitted))
    url = f"/api/reviews/{document_id}/drivers"
    assert client.put(url, json={"drivers": [["price"], ["price"]]}).status_code == 401
    assert client.put(url, json={"drivers": [["price"], ["price"]]}, headers=bearer(client, "rep2")).status_code == 403
    assert client.put(url, json={"drivers": [["price"], ["price"]]}, headers=bearer(client, "reader1")).status_code == 403
    unknown = client.put(url, json={"drivers": [["luck"], []]}, headers=rep)
    assert unknown.status_code == 422 and unknown.json()["error"]["field_codes"] == {"drivers": "unknown_driver"}
    assert "luck" in unknown.json()["error"]["fields"]["drivers"]
    shape = client.put(url, json={"drivers": [["price"]]}, headers=rep)
    assert shape.status_code == 422 and shape.json()["error"]["field_codes"] == {"drivers": "drivers_shape"}
    assert client.put(url, json={"drivers": "price"}, headers=rep).status_code == 422
    assert client.put(url, json={"drivers": [["price"], []], "extra": 1}, headers=rep).status_code == 422
    created = client.post("/api/reviews", json={"outcome": "win", "customer": "某大学", "lessons": ["一条"], "drivers": [["luck"]]}, headers=rep)
    assert created.status_code == 422 and created.json()["error"]["field_codes"] == {"drivers": "unknown_driver"}
    for params in ({"size": "huge"}, {"quarter": "2026-Q5"}, {"competitor": "x" * 201}):
        assert client.get("/api/insights/drivers", params=params).status_code == 422
    assert client.get("/api/insights/drivers/no-such-driver").status_code == 404
    # The stored drivers did not change.
    row = {d["id"]: d for d in report(client, industry="education")["drivers"]}
    assert "luck" not in row


def test_the_pages_link_numbers_to_reviews_and_the_rep_confirms_with_a_plain_form(client, submitted):
    page = client.get("/insights/drivers", params={"industry": "education", "lang": "en"})
    assert page.status_code == 200
    assert "Win/loss drivers" in page.text and "too few to tell" in page.text
    assert "/insights/drivers/relationship?industry=education&amp;outcome=win" in page.text
    detail = client.get("/insights/drivers/relationship", params={"industry": "education", "outcome": "win"})
    assert detail.status_code == 200
    for rid, review in submitted.items():
        if review[0] == "win" and any("relationship" in ids for _, ids in review[4]):
            assert f"/reviews/{rid}#lesson-" in detail.text
    assert "赢单与丢单驱动因素" in client.get("/insights/drivers", params={"lang": "zh"}).text
    assert "/insights/drivers" in client.get("/insights").text

    document_id = next(rid for rid, review in submitted.items() if review[1] == "2026-02-11")  # one lesson, timing-budget
    browser = type(client)(client.app)
    sign_in(browser, "rep1")
    review_page = browser.get(f"/reviews/{document_id}")
    assert 'name="drivers-0" value="timing-budget" checked' in review_page.text
    saved = browser.post(
        f"/reviews/{document_id}/drivers",
        data={"csrf_token": csrf_in(review_page.text), "drivers-0": ["timing-budget", "competitor"]},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    body = report(client, industry="education", quarter="2026-Q1")
    assert {d["id"]: d["lost"] for d in body["drivers"]}["competitor"] == 2
    assert "drivers:" in Path(client.app.state.workspace.catalog.get_document(document_id).path).read_text(encoding="utf-8")
    other = type(client)(client.app)
    token = sign_in(other, "rep2")
    refused = other.post(f"/reviews/{document_id}/drivers", data={"csrf_token": token, "drivers-0": "price"})
    assert refused.status_code == 403


def test_lessons_that_fit_no_driver_become_candidate_drivers(client, rep):
    lessons_a = [("合同条款要提前请法务审核，学校法务审核拖了一个月。", [])]
    lessons_b = [("法务审核要算进签约周期，否则签约日期一定会延误。", [])]
    submit(client, rep, "win", "2026-07-01", "某云厂商Y", 300_000, lessons_a, customer="某师范大学")
    submit(client, rep, "loss", "2026-07-02", "某云厂商Y", 300_000, lessons_b, customer="某理工大学")
    candidates = report(client, industry="education")["candidates"]
    legal = next(c for c in candidates if any("法务" in term for term in c["terms"]))
    assert {q["text"] for q in legal["quotes"]} == {lessons_a[0][0], lessons_b[0][0]}


def test_a_review_file_with_malformed_drivers_is_refused_by_name(client, tmp_path):
    path = tmp_path / "bad-review.md"
    path.write_text("---\nkind: review\noutcome: win\ncustomer: 某校\ndrivers: [[price], [relationship]]\n---\n# 复盘\n\n## 经验教训\n\n- 只有一条。\n", encoding="utf-8")
    result = client.app.state.workspace.ingestor.ingest_file(path)
    assert result.status == "failed" and "front matter drivers" in result.error


def test_a_data_dir_from_before_drivers_migrates_and_reindex_suggests_them(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    with kb_client(settings, CORPUS, ()) as client:
        catalog = client.app.state.workspace.catalog
        reviews = sum(1 for d in catalog.list_documents() if d.kind == "review")
    db = sqlite3.connect(settings.catalog_path)
    db.executescript("DROP TABLE lesson_drivers; DELETE FROM migrations WHERE name = 'i23_review_drivers';")
    db.close()
    catalog = Catalog(settings.catalog_path)
    assert Drivers(catalog, DRIVER_IDS).report().reviews == 0  # migrated in place: the table is there, still empty
    catalog.close()
    result = CliRunner().invoke(cli, ["--data-dir", str(settings.data_dir), "reindex"])
    assert result.exit_code == 0, result.output
    catalog = Catalog(settings.catalog_path)
    migrated = Drivers(catalog, DRIVER_IDS).report()
    assert migrated.reviews == reviews and migrated.unconfirmed_reviews == reviews
    assert sum(d.won + d.lost + d.other for d in migrated.drivers) > 0


def test_an_untouched_filter_form_means_no_filter(client, submitted):
    blank = client.get("/api/insights/drivers", params={"industry": "", "competitor": "", "size": "", "quarter": ""})
    assert blank.status_code == 200 and blank.json()["filters"] == {}
    assert blank.json()["reviews"] == report(client)["reviews"]


def test_kb_drivers_prints_the_same_counts(client, root, submitted):
    result = CliRunner().invoke(cli, ["--data-dir", str(root / "data"), "drivers", "--industry", "教育", "--jsonl"])
    assert result.exit_code == 0, result.output
    printed = {row["id"]: (row["won"], row["lost"]) for row in map(json.loads, result.stdout.splitlines())}
    assert printed == {d["id"]: (d["won"], d["lost"]) for d in report(client, industry="education")["drivers"]}
    table = CliRunner().invoke(cli, ["--data-dir", str(root / "data"), "drivers"])
    assert table.exit_code == 0 and "价格与商务条件" in table.output
