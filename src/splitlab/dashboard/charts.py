"""SVG charts drawn by Splitlab itself: no scripts, no CDN, readable at any width.

Each function returns a complete ``<svg>`` with a ``viewBox``, so the browser scales it to the
container; text is real text (selectable, accessible), and every chart has a title and labels.
SVG text cannot reflow, so a page gets each chart in two layouts: ``WIDE`` for desktops and
``COMPACT`` for phones (fewer ticks, shorter labels), and the stylesheet shows the one that fits.
Neither is ever drawn larger than its own size, so text stays at about 12 px.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from html import escape

PALETTE = ("#4c6ef5", "#f76707", "#2f9e44", "#ae3ec9", "#e03131", "#1098ad", "#f59f00")
WIDE = 800
COMPACT = 360


@dataclass(frozen=True, slots=True)
class Interval:
    label: str
    estimate: float
    lower: float
    upper: float
    significant: bool
    positive_is_good: bool = True


def _fmt_pct(value: float, digits: int = 1) -> str:
    if abs(value) < 5e-13:
        return "0%"
    return f"{value * 100:+.{digits}f}%"


def _tick_digits(ticks: list[float]) -> int:
    """Decimals needed so that no two percent tick labels read the same."""
    for digits in range(3):
        if all(abs(t * 100 - round(t * 100, digits)) < 1e-9 for t in ticks):
            return digits
    return 2


def _nice_step(span: float, count: int) -> float:
    raw = span / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    # The round step nearest to the ideal one, so a chart gets about ``count`` ticks.
    return min(
        (m * magnitude for m in (1, 2, 2.5, 5, 10)), key=lambda step: abs(math.log(step / raw))
    )


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = high - low
    if span <= 0:
        return [low]
    step = _nice_step(span, count)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12) + 0.0)  # + 0.0 turns -0.0 into 0.0
        value += step
    return ticks


def _short(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _open(kind: str, width: int, height: int, title: str) -> list[str]:
    # aria-label, not aria-labelledby: a page holds many charts, and ids would collide.
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}" '
        f'class="chart {kind}">',
        f"<title>{escape(title)}</title>",
    ]


def forest_plot(rows: list[Interval], *, title: str, width: int = WIDE) -> str:
    """Relative lift of each variant with its interval, around a zero line."""
    compact = width < 500
    finite = [r for r in rows if all(math.isfinite(v) for v in (r.estimate, r.lower, r.upper))]
    left = 92 if compact else 150
    right, top, row_h = (16 if compact else 28), 40, 34
    height = top + row_h * max(len(rows), 1) + 44
    if finite:
        low = min(0.0, *(r.lower for r in finite))
        high = max(0.0, *(r.upper for r in finite))
    else:
        low, high = -0.1, 0.1
    pad = (high - low) * 0.06 or 0.05
    low, high = low - pad, high + pad
    plot_w = width - left - right

    def x(value: float) -> float:
        return left + (value - low) / (high - low) * plot_w

    parts = _open("forest", width, height, title)
    parts.append(f'<text x="8" y="20" class="chart-title">{escape(title)}</text>')
    axis_y = top + row_h * max(len(rows), 1)
    ticks = [t for t in _nice_ticks(low, high, 4 if compact else 6) if low <= t <= high]
    digits = _tick_digits(ticks)
    for tick in ticks:
        tx = x(tick)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" y2="{axis_y}" class="grid"/>'
        )
        parts.append(
            f'<text x="{tx:.1f}" y="{axis_y + 16}" text-anchor="middle" class="tick">'
            f"{_fmt_pct(tick, digits)}</text>"
        )
    zero = x(0.0)
    parts.append(
        f'<line x1="{zero:.1f}" y1="{top - 6}" x2="{zero:.1f}" y2="{axis_y}" class="zero"/>'
    )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{axis_y + 36}" text-anchor="middle" '
        f'class="axis-label">{"Lift vs control" if compact else "Relative lift vs control"}'
        "</text>"
    )
    for index, row in enumerate(rows):
        cy = top + row_h * index + row_h / 2
        parts.append(
            f'<text x="{left - 10}" y="{cy + 4:.1f}" text-anchor="end" class="row-label">'
            f"{escape(_short(row.label, 11 if compact else 18))}</text>"
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


def _legend(items: list[tuple[str, str]], *, x0: int, y0: int, width: int) -> tuple[list[str], int]:
    """Swatch + label per series, wrapped into as many rows as the width needs."""
    parts, x, y = [], x0, y0
    for colour, text in items:
        # System-font digits and letters average about 0.6 em at 13 px.
        item_w = 16 + int(len(text) * 7.8) + 18
        if x > x0 and x + item_w > width:
            x, y = x0, y + 18
        parts.append(f'<rect x="{x}" y="{y - 6}" width="12" height="4" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16}" y="{y}" class="legend">{escape(text)}</text>')
        x += item_w
    return parts, y


def cumulative_exposures(
    series: dict[str, list[tuple[date, int]]], *, title: str, width: int = WIDE
) -> str:
    """Cumulative exposed users per variant and day, with a legend."""
    compact = width < 500
    # The right margin holds half of the last date label, centred on the last day.
    left, right, bottom = (64 if compact else 76), 28, 56
    days = sorted({d for points in series.values() for d, _ in points})
    if not days:
        height = 120
        parts = _open("exposures", width, height, title)
        parts.append(f'<text x="8" y="20" class="chart-title">{escape(title)}</text>')
        parts.append(
            f'<text x="{width / 2}" y="{height / 2 + 10}" text-anchor="middle" class="tick">'
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
    legend_items = [
        (PALETTE[i % len(PALETTE)], f"{_short(name, 16)} ({values[-1]:,})")
        for i, (name, values) in enumerate(totals.items())
    ]
    legend, legend_bottom = _legend(legend_items, x0=8, y0=42, width=width - right)
    top = legend_bottom + 20
    plot_h = 200 if compact else 220
    height = top + plot_h + bottom
    peak_value = max(max(v) for v in totals.values()) or 1
    # The axis ends on a tick at or above the highest line, so no line runs off the grid.
    step = _nice_step(peak_value, 5)
    peak = math.ceil(peak_value / step - 1e-9) * step
    plot_w = width - left - right

    def x(i: int) -> float:
        return left + (plot_w * i / (len(days) - 1) if len(days) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h - v / peak * plot_h

    parts = _open("exposures", width, height, title)
    parts.append(f'<text x="8" y="20" class="chart-title">{escape(title)}</text>')
    parts.extend(legend)
    for tick in _nice_ticks(0, peak, 5):
        parts.append(
            f'<line x1="{left}" y1="{y(tick):.1f}" x2="{width - right}" y2="{y(tick):.1f}" '
            'class="grid"/>'
        )
        parts.append(
            f'<text x="{left - 8}" y="{y(tick) + 4:.1f}" text-anchor="end" class="tick">'
            f"{int(tick):,}</text>"
        )
    # Evenly spaced date labels counted back from the last day, which is always labelled.
    wanted = max(1, math.ceil((len(days) - 1) / (3 if compact else 9)))
    # Prefer a spacing that also lands on the first day, if one is at most twice as wide.
    every = next((e for e in range(wanted, 2 * wanted + 1) if (len(days) - 1) % e == 0), wanted)
    for i in range(len(days) - 1, -1, -every):
        parts.append(
            f'<text x="{x(i):.1f}" y="{top + plot_h + 18}" text-anchor="middle" '
            f'class="tick">{days[i].strftime("%b %d")}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 10}" text-anchor="middle" '
        'class="axis-label">Day (UTC)</text>'
    )
    mid = top + plot_h / 2
    parts.append(
        f'<text x="12" y="{mid:.1f}" text-anchor="middle" class="axis-label" '
        f'transform="rotate(-90 12 {mid:.1f})">Exposed users</text>'
    )
    for index, values in enumerate(totals.values()):
        colour = PALETTE[index % len(PALETTE)]
        line = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(
            f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2.5" '
            'stroke-linejoin="round"/>'
        )
    parts.append("</svg>")
    return "".join(parts)
