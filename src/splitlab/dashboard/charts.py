"""SVG charts drawn by Splitlab itself: no scripts, no CDN, readable at any width.

Each function returns a complete ``<svg>`` with a ``viewBox``, so the browser scales it to the
container; text is real text (selectable, accessible), and every chart has a title and labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from html import escape

PALETTE = ("#4c6ef5", "#f76707", "#2f9e44", "#ae3ec9", "#e03131", "#1098ad", "#f59f00")


@dataclass(frozen=True, slots=True)
class Interval:
    label: str
    estimate: float
    lower: float
    upper: float
    significant: bool
    positive_is_good: bool = True


def _fmt_pct(value: float) -> str:
    return f"{value * 100:+.1f}%"


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = high - low
    if span <= 0:
        return [low]
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + 1e-12:
        ticks.append(round(value, 12))
        value += step
    return ticks


def forest_plot(rows: list[Interval], *, title: str) -> str:
    """Relative lift of each variant with its interval, around a zero line."""
    finite = [r for r in rows if all(math.isfinite(v) for v in (r.estimate, r.lower, r.upper))]
    width, left, right, top, row_h = 640, 150, 24, 40, 34
    height = top + row_h * max(len(rows), 1) + 44
    if finite:
        low = min(0.0, *(r.lower for r in finite))
        high = max(0.0, *(r.upper for r in finite))
    else:
        low, high = -0.1, 0.1
    pad = (high - low) * 0.08 or 0.05
    low, high = low - pad, high + pad
    plot_w = width - left - right

    def x(value: float) -> float:
        return left + (value - low) / (high - low) * plot_w

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="fp-title" class="chart forest">',
        f'<title id="fp-title">{escape(title)}</title>',
        f'<text x="{left}" y="20" class="chart-title">{escape(title)}</text>',
    ]
    axis_y = top + row_h * max(len(rows), 1)
    for tick in _nice_ticks(low, high):
        tx = x(tick)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" y2="{axis_y}" class="grid"/>'
        )
        parts.append(
            f'<text x="{tx:.1f}" y="{axis_y + 16}" text-anchor="middle" class="tick">'
            f"{_fmt_pct(tick)}</text>"
        )
    zero = x(0.0)
    parts.append(
        f'<line x1="{zero:.1f}" y1="{top - 10}" x2="{zero:.1f}" y2="{axis_y}" class="zero"/>'
    )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{axis_y + 36}" text-anchor="middle" class="axis-label">'
        "Relative lift vs control (interval)</text>"
    )
    for index, row in enumerate(rows):
        cy = top + row_h * index + row_h / 2
        parts.append(
            f'<text x="{left - 10}" y="{cy + 4:.1f}" text-anchor="end" class="row-label">'
            f"{escape(row.label)}</text>"
        )
        if row not in finite:
            parts.append(
                f'<text x="{zero + 6:.1f}" y="{cy + 4:.1f}" class="tick">no estimate yet</text>'
            )
            continue
        good = (row.estimate > 0) == row.positive_is_good
        tone = ("good" if good else "bad") if row.significant else "neutral"
        parts.append(
            f'<line x1="{x(row.lower):.1f}" y1="{cy:.1f}" x2="{x(row.upper):.1f}" y2="{cy:.1f}" '
            f'class="ci {tone}"/>'
        )
        parts.append(
            f'<circle cx="{x(row.estimate):.1f}" cy="{cy:.1f}" r="5" class="point {tone}">'
            f"<title>{escape(row.label)}: {_fmt_pct(row.estimate)} "
            f"[{_fmt_pct(row.lower)}, {_fmt_pct(row.upper)}]</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


def cumulative_exposures(series: dict[str, list[tuple[date, int]]], *, title: str) -> str:
    """Cumulative exposed users per variant and day, with a legend."""
    width, height, left, right, top, bottom = 640, 290, 72, 20, 52, 56
    days = sorted({d for points in series.values() for d, _ in points})
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="ce-title" class="chart exposures">',
        f'<title id="ce-title">{escape(title)}</title>',
        f'<text x="{left}" y="20" class="chart-title">{escape(title)}</text>',
    ]
    if not days:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="tick">'
            "No exposures yet</text></svg>"
        )
        return "".join(parts)
    totals: dict[str, list[int]] = {}
    for name, points in series.items():
        per_day = dict(points)
        running, values = 0, []
        for day in days:
            running += per_day.get(day, 0)
            values.append(running)
        totals[name] = values
    peak = max(max(v) for v in totals.values()) or 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(i: int) -> float:
        return left + (plot_w * i / (len(days) - 1) if len(days) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h - v / peak * plot_h

    for tick in _nice_ticks(0, peak, 4):
        parts.append(
            f'<line x1="{left}" y1="{y(tick):.1f}" x2="{width - right}" y2="{y(tick):.1f}" class="grid"/>'
        )
        parts.append(
            f'<text x="{left - 8}" y="{y(tick) + 4:.1f}" text-anchor="end" class="tick">{int(tick):,}</text>'
        )
    label_every = max(1, len(days) // 6)
    for i, day in enumerate(days):
        if i % label_every == 0 or i == len(days) - 1:
            parts.append(
                f'<text x="{x(i):.1f}" y="{top + plot_h + 18}" text-anchor="middle" class="tick">'
                f"{day.strftime('%b %d')}</text>"
            )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle" class="axis-label">'
        "Day (UTC)</text>"
    )
    parts.append(
        f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle" class="axis-label" '
        f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">Exposed users</text>'
    )
    for index, (name, values) in enumerate(totals.items()):
        colour = PALETTE[index % len(PALETTE)]
        line = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(
            f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2.5"/>'
        )
        lx = left + 8 + index * 130
        parts.append(f'<rect x="{lx}" y="28" width="12" height="4" fill="{colour}"/>')
        parts.append(
            f'<text x="{lx + 16}" y="34" class="legend">{escape(name)} ({values[-1]:,})</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
