"""Stacked bar charts as SVG text, drawn on the server for the settings page's Usage view.

Why not a chart library: the page is offline, its CSP allows only its own scripts, and two bar
charts need about a hundred lines. Server-drawn SVG keeps the page's script small, is tested as
plain text, and needs no inline style (colours are SVG attributes, which the CSP allows). Every
text from a request (a model name) is escaped here; the page parses the result as SVG, never HTML.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final
from xml.sax.saxutils import escape, quoteattr

WIDTH: Final = 860
HEIGHT: Final = 240
LEFT: Final = 56  # room for the y-axis labels
TOP: Final = 10
BOTTOM: Final = 24  # room for the day labels
# Colour-blind-friendly (Okabe-Ito), then greys; the last stands for "other".
PALETTE: Final = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#f0e442",
    "#000000",
    "#999999",
)


def stacked_bars(
    days: Sequence[str],
    series: Sequence[tuple[str, Sequence[int], str]],
    label: str,
) -> str:
    """One bar per day, one stacked piece per series (name, value per day, colour).

    Each piece carries a <title> ("2026-12-01 openai: 1,234") that browsers show on hover; the
    chart's `label` is its accessible name.
    """
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - TOP - BOTTOM
    totals = [sum(values[i] for _, values, _ in series) for i in range(len(days))]
    top = _nice(max(totals, default=0))
    slot = plot_w / max(len(days), 1)
    bar = max(1.0, slot * 0.7)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label={quoteattr(label)} class="chart">'
    ]
    for step in range(5):  # grid lines and y labels
        value = top * step / 4
        y = TOP + plot_h - plot_h * step / 4
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">'
            f"{_short(value)}</text>"
        )
    every = max(1, math.ceil(len(days) / 12))  # at most ~12 day labels
    for i, day in enumerate(days):
        x = LEFT + i * slot + (slot - bar) / 2
        y = TOP + plot_h
        for name, values, colour in series:
            value = values[i]
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            title = escape(f"{day} {name}: {value:,}")
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}" data-day="{day}" data-value="{value}">'
                f"<title>{title}</title></rect>"
            )
        if i % every == 0:
            out.append(
                f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" '
                f'class="axis">{escape(day[5:])}</text>'
            )
    out.append("</svg>")
    return "".join(out)


def colours(count: int, other: bool) -> list[str]:
    """A colour per series; "other" (the last, when present) is grey."""
    picked = [PALETTE[i % (len(PALETTE) - 1)] for i in range(count)]
    if other and picked:
        picked[-1] = PALETTE[-1]
    return picked


def _nice(value: float) -> float:
    """The y-axis top: 1, 2 or 5 times a power of ten, at least `value` (1 for an empty chart)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if value <= factor * power:
            return float(factor * power)
    return float(10 * power)  # pragma: no cover


def _short(value: float) -> str:
    """1500 -> 1.5k, 2000000 -> 2M."""
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:g}{unit}"
    return f"{value:g}"
