"""Server-side SVG time-series charts: time axis, value axis with units (linear or log), data for hover values.

Charts are drawn here, in Python, so a dashboard's HTML needs no chart library and no network: the same
picture renders from a file, from the web page, or in a screenshot. Long series are downsampled to at most
`MAX_POINTS` points (bucket means) first. Every text that came from a user goes through
``markupsafe.escape``. The axes' ticks come from `ticks` (round values in one unit,
round local times); the lines take their colours from `PALETTE` (`series_style`), as the page's
legend does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

from zgen_otel._stats import mean
from zgen_otel.dashboards.rendering import format_value
from zgen_otel.dashboards.ticks import log_bounds, log_ticks, time_ticks, value_ticks

__all__ = [
    "MAX_POINTS",
    "PALETTE",
    "Series",
    "downsample",
    "format_value",
    "mean",
    "panel_chart",
    "panel_sparkline",
    "series_style",
    "sparkline",
    "timeseries_svg",
]

MAX_POINTS = 1000
#: Line colours: twelve hues told apart at a glance, each at least 3:1 against both the light and the dark
#: background (WCAG's contrast for graphics); past twelve lines the colours repeat with dashes.
PALETTE = ("#3b82f6", "#d97706", "#16a34a", "#ef4444", "#a855f7", "#0891b2", "#db2777", "#65a30d", "#a0782c",
           "#6366f1", "#78716c", "#c026d3")  # fmt: skip
_W, _H = 720, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 12, 12, 28


def series_style(index: int) -> tuple[str, str]:
    """The colour and the SVG ``stroke-dasharray`` (``""``: solid) of a chart's ``index``-th line (from 0)."""
    return PALETTE[index % len(PALETTE)], "" if index < len(PALETTE) else ("6 3", "2 3", "8 3 2 3")[
        (index // len(PALETTE) - 1) % 3]  # fmt: skip


@dataclass
class Series:
    """One line of a chart: a label and (timestamp, value) points in time order."""

    label: str
    points: list[tuple[float, float]]
    labels: dict[str, Any] = field(default_factory=dict)


def _fraction(v: float, lo: float, hi: float) -> float:
    """Where ``v`` lies between ``lo`` and ``hi`` (0..1), also when ``hi - lo`` passes the float range."""
    span = hi / 2 - lo / 2
    return (v / 2 - lo / 2) / span if span else 0.0


def downsample(points: Sequence[tuple[float, float]], limit: int = MAX_POINTS) -> list[tuple[float, float]]:
    """At most ``limit`` points: the mean time and value of equal-count buckets (the ends are kept)."""
    n = len(points)
    if n <= limit:
        return list(points)
    out = []
    step = n / limit
    for i in range(limit):
        chunk = points[int(i * step) : int((i + 1) * step)] or [points[min(n - 1, int(i * step))]]
        out.append((mean([p[0] for p in chunk]), mean([p[1] for p in chunk])))
    return out


def timeseries_svg(
    series: Sequence[Series],
    unit: str,
    start: float,
    end: float,
    *,
    title: str = "",
    height: int = _H,
    log: bool = False,
) -> Markup:
    """An SVG chart of ``series`` over ``[start, end]`` with axes, gridlines and hover data.

    Args:
        series: the lines; those without points are left out (the legend is drawn by the page).
        unit: the values' unit, for the value axis (``0 / 250 / 500``, captioned ``KiB/s``) and the hover values.
        start: the time axis's first time (Unix seconds); its ticks fall on round times of the local clock.
        end: its last time.
        title: the chart's accessible name.
        height: in SVG units (the width is 720).
        log: a logarithmic value axis (powers of ten; values at or below zero sit on its floor), for lines
            whose values lie decades apart such as a 160 µs and a 1 s operation.
    """
    drawn = [Series(s.label, downsample(s.points), s.labels) for s in series if s.points]
    values = [v for s in drawn for _, v in s.points]
    bounds = log_bounds(values) if log else None
    if bounds is not None:
        lo, hi = bounds
        ticks, caption = log_ticks(lo, hi, unit), ""
        lo_log, span_log = math.log10(lo), math.log10(hi) - math.log10(lo)
    else:
        log = False
        if unit in ("%",):
            lo, hi = 0.0, max(100.0, max(values, default=0))
        else:
            lo, hi = min(values, default=0.0), max(values, default=1.0)
            lo = min(lo, 0.0) if lo >= 0 else lo
        ticks, caption = value_ticks(lo, hi, unit)
        lo, hi = ticks[0].value, ticks[-1].value
    span = max(end - start, 1e-9)
    plot_w, plot_h = _W - _LEFT - _RIGHT, height - _TOP - _BOTTOM

    # halves, as in _fraction: hi - lo may pass the float range
    kx, bottom, lo2 = plot_w / span, _TOP + plot_h, lo / 2
    half = hi / 2 - lo2

    def y(v: float) -> float:
        if log:
            return bottom - (math.log10(max(v, lo)) - lo_log) / span_log * plot_h
        return bottom - ((v / 2 - lo2) / half * plot_h if half else 0.0)

    scale = ' data-scale="log"' if log else ""
    parts = [
        f'<svg class="chart" viewBox="0 0 {_W} {height}" role="img" aria-label="{escape(title)}" '
        f'data-unit="{escape(unit)}" data-start="{start}" data-end="{end}"{scale} xmlns="http://www.w3.org/2000/svg">'
    ]
    for tick in ticks:
        at = y(tick.value)
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{at:.1f}" y2="{at:.1f}"/>')
        parts.append(f'<text class="tick" x="{_LEFT - 6}" y="{at + 4:.1f}" text-anchor="end">'
                     f"{escape(tick.label)}</text>")  # fmt: skip
    if caption:  # the unit, once, under the value axis
        parts.append(f'<text class="tick unit" x="{_LEFT - 6}" y="{height - 8}" text-anchor="end">'
                     f"{escape(caption)}</text>")  # fmt: skip
    for tick in time_ticks(start, end):
        at = _LEFT + (tick.value - start) * kx
        anchor = "start" if at < _LEFT + 24 else "end" if at > _W - _RIGHT - 24 else "middle"
        parts.append(f'<line class="grid time" x1="{at:.1f}" x2="{at:.1f}" y1="{_TOP}" y2="{bottom}"/>')
        parts.append(f'<text class="tick" x="{at:.1f}" y="{height - 8}" text-anchor="{anchor}">'
                     f"{escape(tick.label)}</text>")  # fmt: skip
    hover: list[dict[str, Any]] = []
    for i, s in enumerate(drawn):
        colour, dashes = series_style(i)
        if log:
            coords = " ".join(f"{_LEFT + (ts - start) * kx:.1f},{y(v):.1f}" for ts, v in s.points)
        else:  # x() and y() inlined, a thousand points per series: the same arithmetic, no calls
            coords = " ".join(
                f"{_LEFT + (ts - start) * kx:.1f},{bottom - ((v / 2 - lo2) / half * plot_h if half else 0.0):.1f}"
                for ts, v in s.points
            )
        dash = f' stroke-dasharray="{dashes}"' if dashes else ""
        parts.append(f'<polyline class="line" fill="none" stroke="{colour}" stroke-width="1.6"{dash} '
                     f'points="{coords}"><title>{escape(s.label)}</title></polyline>')  # fmt: skip
        if len(s.points) <= 60:  # few points: mark each, so a single sample still shows
            parts += [f'<circle class="dot" cx="{_LEFT + (ts - start) * kx:.1f}" cy="{y(v):.1f}" r="2.5" '
                      f'fill="{colour}"/>' for ts, v in s.points]  # fmt: skip
        hover.append({"label": s.label, "color": colour, "points": [[round(ts, 3), v] for ts, v in s.points]})
    if not drawn:
        parts.append(f'<text class="empty" x="{_W / 2}" y="{height / 2}" text-anchor="middle">no data in this '
                     "time range</text>")  # fmt: skip
    parts.append("</svg>")
    # "<" as \u003c: no "</script>" or "<!--<script>" in user text can end or derail the script element
    data = json.dumps({"unit": unit, "series": hover}).replace("<", "\\u003c")
    parts.append(f'<script type="application/json" class="chart-data">{data}</script>')
    return Markup("".join(parts))


def sparkline(points: Sequence[tuple[float, float]], width: int = 120, height: int = 24) -> Markup:
    """A small line of recent values, with no axes (for tables)."""
    pts = downsample(points, 120)
    if len(pts) < 2:
        return Markup(f'<svg class="spark" width="{width}" height="{height}"></svg>')
    t0, t1 = pts[0][0], pts[-1][0]
    lo, hi = min(v for _, v in pts), max(v for _, v in pts)
    dx = (width - 2) / ((t1 - t0) or 1)
    coords = " ".join(
        f"{(ts - t0) * dx + 1:.1f},{height - 2 - _fraction(v, lo, hi) * (height - 4):.1f}" for ts, v in pts
    )
    return Markup(
        f'<svg class="spark" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f'<polyline fill="none" stroke="{PALETTE[0]}" stroke-width="1.2" points="{coords}"/></svg>'
    )


def panel_chart(panel: Mapping[str, Any], start: float, end: float) -> Markup:
    """The chart of a ``timeseries`` panel of a dashboard document (``chart(...)`` in ``dashboard.html``).

    The panel's ``scale`` ``"log"`` draws a logarithmic value axis; its ``height`` (SVG units) a taller chart.
    """
    series = [Series(str(s.get("label", "")), [(p[0], p[1]) for p in s.get("points", ())]) for s in panel["series"]]
    return timeseries_svg(series, str(panel.get("unit", "")), start, end, title=str(panel.get("title", "")),
                          height=int(panel.get("height", _H)), log=panel.get("scale") == "log")  # fmt: skip


def panel_sparkline(points: Sequence[Sequence[float]]) -> Markup:
    """The sparkline of a table cell's ``[[t, v], ...]`` points (``spark(...)`` in ``dashboard.html``)."""
    return sparkline([(p[0], p[1]) for p in points])
