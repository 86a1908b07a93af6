"""The inline SVG charts of the insights page: pure functions, escaped labels, accessible markup."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from markupsafe import Markup

from web.charts import bar_chart, column_chart, fit, paired_bar_chart, text_width

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: Markup) -> ET.Element:
    """The chart must be well-formed XML (it is inlined in HTML and readable as SVG on its own)."""
    return ET.fromstring(str(markup))


def test_bar_chart_is_an_accessible_svg_image():
    chart = bar_chart([("复盘", 59), ("打法手册", 32)], "按类型")
    assert isinstance(chart, Markup)
    root = parse(chart)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img" and root.get("aria-label") == "按类型"
    assert root.find(f"{SVG}title").text == "按类型"
    assert root.find(f"{SVG}desc").text == "复盘: 59; 打法手册: 32"


def test_bar_lengths_are_proportional_to_the_values():
    root = parse(bar_chart([("a", 40), ("b", 20), ("c", 0)], "t"))
    widths = [float(rect.get("width")) for rect in root.iter(f"{SVG}rect")]
    assert len(widths) == 3
    assert abs(widths[1] - widths[0] / 2) < 0.2
    assert widths[2] == 0
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts == ["a", "40", "b", "20", "c", "0"]


def test_labels_are_escaped():
    chart = bar_chart([("<script>alert(1)</script>", 3), ('a "quoted" & <b>', 1)], "<b>title</b>")
    assert "<script>" not in str(chart) and "<b>" not in str(chart)
    assert "&lt;script&gt;" in str(chart) and "a &#34;quoted&#34; &amp; &lt;b&gt;" in str(chart)
    root = parse(chart)
    assert root.find(f"{SVG}title").text == "<b>title</b>"
    assert [g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g")] == ["<script>alert(1)</script>: 3", 'a "quoted" & <b>: 1']
    column = column_chart([("<i>2025-01</i>", 2)], "<t>")
    assert "<i>" not in str(column)
    assert parse(column).find(f"{SVG}title").text == "<t>"


def test_long_labels_are_cut_with_an_ellipsis_and_kept_whole_in_the_tooltip():
    label = "一个非常非常非常非常非常非常非常非常非常长的主题名称"
    root = parse(bar_chart([(label, 5)], "t"))
    shown = next(root.iter(f"{SVG}text")).text
    assert shown.endswith("…") and len(shown) < len(label)
    assert next(root.iter(f"{SVG}g")).find(f"{SVG}title").text == f"{label}: 5"
    assert fit("short", 100) == "short"
    assert text_width("中文") == 24 and text_width("ab") == 2 * 12 * 0.6


def test_column_chart_draws_one_column_per_month_in_order():
    months = [("2025-11", 3), ("2025-12", 6), ("2026-01", 0)]
    root = parse(column_chart(months, "每月新增经验"))
    assert root.get("role") == "img" and root.find(f"{SVG}title").text == "每月新增经验"
    rects = list(root.iter(f"{SVG}rect"))
    assert len(rects) == 3
    heights = [float(r.get("height")) for r in rects]
    assert heights[1] > heights[0] > heights[2] == 0
    xs = [float(r.get("x")) for r in rects]
    assert xs == sorted(xs)
    labels = [t.text for t in root.iter(f"{SVG}text") if re.fullmatch(r"\d{4}-\d{2}", t.text or "")]
    assert labels == ["2025-11", "2025-12", "2026-01"]


def test_crowded_month_labels_are_thinned_but_every_column_is_drawn():
    months = [(f"20{20 + i // 12}-{i % 12 + 1:02d}", i) for i in range(48)]
    root = parse(column_chart(months, "t"))
    assert len(list(root.iter(f"{SVG}rect"))) == 48
    labels = [t.text for t in root.iter(f"{SVG}text") if re.fullmatch(r"\d{4}-\d{2}", t.text or "")]
    assert 2 <= len(labels) < 48
    assert labels[0] == "2020-01"


def test_empty_charts_are_still_valid_svg():
    for chart in (bar_chart([], "空"), column_chart([], "空")):
        root = parse(chart)
        assert root.get("role") == "img"
        assert list(root.iter(f"{SVG}rect")) == []


def test_paired_bars_grow_from_one_axis_in_proportion_and_are_described():
    root = parse(paired_bar_chart([("价格 <&>", 4, 2), ("关系", 0, 8)], "驱动因素", left="赢单", right="丢单"))
    assert root.find(f"{SVG}desc").text == "价格 <&> 赢单/丢单: 4/2; 关系 赢单/丢单: 0/8"
    won = [rect for rect in root.iter(f"{SVG}rect") if "won" in rect.get("class")]
    lost = [rect for rect in root.iter(f"{SVG}rect") if "lost" in rect.get("class")]
    axis = float(lost[0].get("x"))
    assert all(abs(float(r.get("x")) + float(r.get("width")) - axis) < 0.2 for r in won)  # won bars end at the axis
    assert all(float(r.get("x")) == axis for r in lost)  # lost bars start there
    assert abs(float(won[0].get("width")) - float(lost[1].get("width")) / 2) < 0.2 and float(won[1].get("width")) == 0
    assert max(float(r.get("x")) + float(r.get("width")) for r in lost) <= float(root.get("width"))
