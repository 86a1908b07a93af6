"""Small charts drawn as inline SVG on the server: no JavaScript, readable by screen readers.

Each function is pure: (label, value) pairs and a title in, escaped SVG markup out.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from markupsafe import Markup, escape

FONT_PX = 12
BAR_COLOR = "#b4232a"
COLUMN_COLOR = "#2a4d9b"
MAX_LABEL_PX = 200


def text_width(text: str, font_px: int = FONT_PX) -> float:
    """Rough rendered width: wide (CJK, full-width) characters take a full em, others about 0.6."""
    return sum(font_px if unicodedata.east_asian_width(ch) in "WF" else font_px * 0.6 for ch in text)


def fit(text: str, max_px: float, font_px: int = FONT_PX) -> str:
    """``text`` cut with an ellipsis so that it fits in ``max_px``."""
    if text_width(text, font_px) <= max_px:
        return text
    while text and text_width(text + "…", font_px) > max_px:
        text = text[:-1]
    return text + "…"


def _open(title: str, width: float, height: float, kind: str, items: Sequence[tuple[str, int]]) -> str:
    summary = "; ".join(f"{label}: {value}" for label, value in items)
    return (
        f'<svg class="chart {kind}" role="img" aria-label="{escape(title)}" viewBox="0 0 {width:g} {height:g}" '
        f'width="{width:g}" height="{height:g}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title><desc>{escape(summary)}</desc>"
    )


def bar_chart(items: Sequence[tuple[str, int]], title: str, *, width: int = 420, bar_height: int = 20, gap: int = 6) -> Markup:
    """Horizontal bars for categories, in the given order: label on the left, value after the bar."""
    items = [(str(label), int(value)) for label, value in items]
    label_px = min(MAX_LABEL_PX, max((text_width(label) for label, _ in items), default=0)) + 8
    value_px = max((text_width(str(value)) for _, value in items), default=0) + 8
    plot = max(width - label_px - value_px, 10)
    top = max((value for _, value in items), default=0) or 1
    height = max(len(items) * (bar_height + gap) + gap, bar_height)
    parts = [_open(title, width, height, "bars", items)]
    for row, (label, value) in enumerate(items):
        y = gap + row * (bar_height + gap)
        middle = y + bar_height / 2
        length = plot * value / top
        parts.append(
            f"<g><title>{escape(label)}: {value}</title>"
            f'<text x="{label_px - 8:g}" y="{middle:g}" text-anchor="end" dominant-baseline="central">{escape(fit(label, label_px - 8))}</text>'
            f'<rect class="bar" x="{label_px:g}" y="{y}" width="{max(length, 1 if value else 0):.1f}" height="{bar_height}" rx="3" fill="{BAR_COLOR}"/>'
            f'<text class="value" x="{label_px + length + 4:.1f}" y="{middle:g}" dominant-baseline="central">{value}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def column_chart(items: Sequence[tuple[str, int]], title: str, *, width: int = 420, height: int = 200) -> Markup:
    """Vertical columns for a series such as months, left to right; crowded labels are thinned out."""
    items = [(str(label), int(value)) for label, value in items]
    margin_top, margin_bottom, margin_side = FONT_PX + 8, FONT_PX + 10, 4
    plot_height = height - margin_top - margin_bottom
    slot = (width - 2 * margin_side) / max(len(items), 1)
    column = max(min(slot * 0.7, 48), 1)
    top = max((value for _, value in items), default=0) or 1
    widest = max((text_width(label) for label, _ in items), default=0) + 6
    every = max(1, -(-int(widest) // max(int(slot), 1)))  # label every n-th column so labels do not overlap
    baseline = margin_top + plot_height
    parts = [_open(title, width, height, "columns", items)]
    for index, (label, value) in enumerate(items):
        middle = margin_side + slot * index + slot / 2
        length = plot_height * value / top
        parts.append(
            f"<g><title>{escape(label)}: {value}</title>"
            f'<rect class="column" x="{middle - column / 2:.1f}" y="{baseline - length:.1f}" width="{column:.1f}" height="{length:.1f}" rx="2" fill="{COLUMN_COLOR}"/>'
            f'<text class="value" x="{middle:.1f}" y="{baseline - length - 4:.1f}" text-anchor="middle">{value}</text>'
        )
        if index % every == 0:
            parts.append(f'<text x="{middle:.1f}" y="{height - 4}" text-anchor="middle">{escape(fit(label, slot * every - 4))}</text>')
        parts.append("</g>")
    parts.append(f'<line x1="0" y1="{baseline}" x2="{width}" y2="{baseline}" stroke="#dfe3ea"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def paired_bar_chart(
    items: Sequence[tuple[str, int, int]], title: str, *, left: str, right: str, width: int = 520, bar_height: int = 18, gap: int = 8
) -> Markup:
    """Two bars per category from a shared axis: ``left`` values grow leftwards (won deals), ``right`` ones rightwards."""
    items = [(str(label), int(a), int(b)) for label, a, b in items]
    label_px = min(MAX_LABEL_PX, max((text_width(label) for label, _, _ in items), default=0)) + 8
    value_px = max((text_width(str(v)) for _, a, b in items for v in (a, b)), default=0) + 6
    half = max((width - label_px) / 2 - value_px, 10)
    axis = label_px + value_px + half
    top = max((max(a, b) for _, a, b in items), default=0) or 1
    header = FONT_PX + 8
    height = header + max(len(items) * (bar_height + gap) + gap, bar_height)
    summary = [(f"{label} {left}/{right}", f"{a}/{b}") for label, a, b in items]
    parts = [_open(title, width, height, "paired", summary)]
    parts.append(f'<text x="{axis - 6:g}" y="{FONT_PX}" text-anchor="end">{escape(left)}</text>')
    parts.append(f'<text x="{axis + 6:g}" y="{FONT_PX}">{escape(right)}</text>')
    for row, (label, a, b) in enumerate(items):
        y = header + gap + row * (bar_height + gap)
        middle = y + bar_height / 2
        left_px, right_px = half * a / top, half * b / top
        parts.append(
            f"<g><title>{escape(label)}: {escape(left)} {a}, {escape(right)} {b}</title>"
            f'<text x="{label_px - 8:g}" y="{middle:g}" text-anchor="end" dominant-baseline="central">{escape(fit(label, label_px - 8))}</text>'
            f'<rect class="bar won" x="{axis - left_px:.1f}" y="{y}" width="{left_px:.1f}" height="{bar_height}" rx="3" fill="{COLUMN_COLOR}"/>'
            f'<text class="value" x="{axis - left_px - 4:.1f}" y="{middle:g}" text-anchor="end" dominant-baseline="central">{a}</text>'
            f'<rect class="bar lost" x="{axis:.1f}" y="{y}" width="{right_px:.1f}" height="{bar_height}" rx="3" fill="{BAR_COLOR}"/>'
            f'<text class="value" x="{axis + right_px + 4:.1f}" y="{middle:g}" dominant-baseline="central">{b}</text></g>'
        )
    parts.append(f'<line x1="{axis:g}" y1="{header}" x2="{axis:g}" y2="{height}" stroke="#dfe3ea"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
