"""The SVG charts: readable axes, labels inside the drawing, no clashes between charts on a page."""

from __future__ import annotations

import itertools
import math
import re
from datetime import date, timedelta
from xml.etree import ElementTree

import pytest

from splitlab.dashboard import charts

NS = {"svg": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)


def texts(root: ElementTree.Element, cls: str) -> list[ElementTree.Element]:
    return [t for t in root.iterfind(".//svg:text", NS) if cls in (t.get("class") or "")]


def series(*finals: int, days: int = 15) -> dict[str, list[tuple[date, int]]]:
    start = date(2026, 11, 19)
    return {
        f"variant-{i}": [(start + timedelta(days=d), final // days) for d in range(days)]
        for i, final in enumerate(finals)
    }


@pytest.mark.parametrize("width", [charts.WIDE, charts.COMPACT])
def test_the_exposure_axis_ends_on_a_tick_above_the_highest_line(width: int) -> None:
    root = parse(charts.cumulative_exposures(series(2546, 2145), title="t", width=width))
    grid_ys = [float(line.get("y1", "nan")) for line in root.iterfind(".//svg:line", NS)]
    top_grid = min(grid_ys)
    for polyline in root.iterfind(".//svg:polyline", NS):
        ys = [float(p.split(",")[1]) for p in (polyline.get("points") or "").split()]
        assert min(ys) >= top_grid - 0.01  # no line runs above the top of the grid
    ticks = [int(t.text.replace(",", "")) for t in texts(root, "tick") if t.text[0].isdigit()]
    assert max(ticks) >= 2546


@pytest.mark.parametrize("width", [charts.WIDE, charts.COMPACT])
def test_date_labels_do_not_collide(width: int) -> None:
    root = parse(charts.cumulative_exposures(series(1000, 1000), title="t", width=width))
    dates = sorted(
        float(t.get("x", "nan")) for t in texts(root, "tick") if re.match(r"[A-Z][a-z]{2} ", t.text)
    )
    assert len(dates) >= 3
    gaps = [b - a for a, b in itertools.pairwise(dates)]
    assert min(gaps) >= 48  # "Nov 19" is about 45 px at 13 px


def test_the_legend_wraps_inside_the_chart() -> None:
    many = series(*(1000 + i for i in range(6)))
    root = parse(charts.cumulative_exposures(many, title="t", width=charts.COMPACT))
    legend = texts(root, "legend")
    assert len(legend) == 6
    assert len({t.get("y") for t in legend}) >= 3  # six entries need several rows at 360 px
    for t in legend:
        assert float(t.get("x", "nan")) + len(t.text) * 7.8 <= charts.COMPACT


def test_forest_ticks_read_cleanly() -> None:
    rows = [charts.Interval("plain", -0.05, -0.14, 0.04, significant=False)]
    root = parse(charts.forest_plot(rows, title="t"))
    labels = [t.text for t in texts(root, "tick")]
    assert "0%" in labels
    assert not any(label in ("-0%", "-0.0%", "+0.0%") for label in labels)
    assert len(labels) == len(set(labels))


def test_forest_plot_marks_significance_by_good_direction() -> None:
    rows = [
        charts.Interval("up", 0.2, 0.1, 0.3, significant=True),
        charts.Interval("refunds", 0.2, 0.1, 0.3, significant=True, positive_is_good=False),
        charts.Interval("noise", 0.02, -0.1, 0.14, significant=False),
        charts.Interval("empty", math.nan, math.nan, math.nan, significant=False),
    ]
    root = parse(charts.forest_plot(rows, title="t"))
    tones = [c.get("class") for c in root.iterfind(".//svg:circle", NS)]
    assert tones == ["point good", "point bad", "point neutral"]
    assert any(t.text == "no estimate yet" for t in texts(root, "tick"))


def test_charts_carry_no_ids_that_could_clash_on_a_page() -> None:
    rows = [charts.Interval("b", 0.1, 0.0, 0.2, significant=False)]
    drawn = [
        charts.forest_plot(rows, title="first"),
        charts.forest_plot(rows, title="second", width=charts.COMPACT),
        charts.cumulative_exposures(series(10, 12), title="third"),
    ]
    for svg in drawn:
        assert ' id="' not in svg
        assert parse(svg).get("aria-label")
