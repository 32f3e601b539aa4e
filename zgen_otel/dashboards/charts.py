"""Server-side SVG time-series charts: time axis, value axis with units, legend, data for hover values.

Charts are drawn here, in Python, so a dashboard's HTML needs no chart library and no network: the same
picture renders from a file, from the web page, or in a screenshot. Long series are downsampled to at most
:data:`MAX_POINTS` points (bucket means) first. Every text that came from a user goes through
``markupsafe.escape``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

from zgen_otel._stats import mean
from zgen_otel.dashboards.rendering import format_time, format_value

__all__ = [
    "MAX_POINTS",
    "Series",
    "downsample",
    "format_value",
    "mean",
    "panel_chart",
    "panel_sparkline",
    "sparkline",
    "timeseries_svg",
]

MAX_POINTS = 1000
PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
_W, _H = 720, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 12, 12, 28


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


def _nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    if not math.isfinite(abs(lo) + abs(hi) + 2 * (hi - lo)) or not raw >= 1e-300:
        # at the ends of the float range "nice" steps overflow (or underflow to 0): even ticks instead
        return [lo + (hi / count - lo / count) * i for i in range(count)] + [hi]
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=raw)
    start = math.floor(lo / step) * step
    digits = 12 if step >= 1e-9 else None  # rounding away float noise, but not the values of a tiny range
    ticks, value = [], start
    while value < hi + step:  # the last tick reaches past the highest value
        ticks.append(value if digits is None else round(value, digits))
        value += step
    return ticks


def _time_label(ts: float, span: float) -> str:
    fmt = "%H:%M:%S" if span <= 600 else "%H:%M" if span <= 2 * 86_400 else "%m-%d %H:%M"
    return format_time(ts, fmt)


def timeseries_svg(
    series: Sequence[Series], unit: str, start: float, end: float, *, title: str = "", height: int = _H
) -> Markup:
    """An SVG chart of ``series`` over ``[start, end]`` with axes, gridlines, a legend and hover data."""
    drawn = [Series(s.label, downsample(s.points), s.labels) for s in series if s.points]
    values = [v for s in drawn for _, v in s.points]
    if unit in ("%",):
        lo, hi = 0.0, max(100.0, max(values, default=0))
    else:
        lo, hi = min(values, default=0.0), max(values, default=1.0)
        lo = min(lo, 0.0) if lo >= 0 else lo
        if hi == lo:
            hi = lo + (abs(lo) or 1.0)
    ticks = _nice_ticks(lo, hi)
    lo, hi = ticks[0], ticks[-1]
    span = max(end - start, 1e-9)
    plot_w, plot_h = _W - _LEFT - _RIGHT, height - _TOP - _BOTTOM

    # halves, as in _fraction: hi - lo may pass the float range
    kx, bottom, lo2 = plot_w / span, _TOP + plot_h, lo / 2
    half = hi / 2 - lo2

    def x(ts: float) -> float:
        return _LEFT + (ts - start) * kx

    def y(v: float) -> float:
        return bottom - ((v / 2 - lo2) / half * plot_h if half else 0.0)

    parts = [
        f'<svg class="chart" viewBox="0 0 {_W} {height}" role="img" aria-label="{escape(title)}" '
        f'data-unit="{escape(unit)}" data-start="{start}" data-end="{end}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for t in ticks:
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y(t):.1f}" y2="{y(t):.1f}"/>')
        parts.append(f'<text class="tick" x="{_LEFT - 6}" y="{y(t) + 4:.1f}" text-anchor="end">'
                     f"{escape(format_value(t, unit))}</text>")  # fmt: skip
    for i in range(5):
        ts = start + span * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(f'<text class="tick" x="{x(ts):.1f}" y="{height - 8}" text-anchor="{anchor}">'
                     f"{escape(_time_label(ts, span))}</text>")  # fmt: skip
    hover: list[dict[str, Any]] = []
    for i, s in enumerate(drawn):
        colour = PALETTE[i % len(PALETTE)]
        coords = " ".join(  # x() and y() inlined, a thousand points per series: the same arithmetic, no calls
            f"{_LEFT + (ts - start) * kx:.1f},{bottom - ((v / 2 - lo2) / half * plot_h if half else 0.0):.1f}"
            for ts, v in s.points
        )
        parts.append(f'<polyline class="line" fill="none" stroke="{colour}" stroke-width="1.6" points="{coords}">'
                     f"<title>{escape(s.label)}</title></polyline>")  # fmt: skip
        if len(s.points) <= 60:  # few points: mark each, so a single sample still shows
            parts += [f'<circle class="dot" cx="{x(ts):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}"/>'
                      for ts, v in s.points]  # fmt: skip
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
        f'<polyline fill="none" stroke="#2563eb" stroke-width="1.2" points="{coords}"/></svg>'
    )


def panel_chart(panel: Mapping[str, Any], start: float, end: float) -> Markup:
    """The chart of a ``timeseries`` panel of a dashboard document (``chart(...)`` in ``dashboard.html``)."""
    series = [Series(str(s.get("label", "")), [(p[0], p[1]) for p in s.get("points", ())]) for s in panel["series"]]
    return timeseries_svg(series, str(panel.get("unit", "")), start, end, title=str(panel.get("title", "")))


def panel_sparkline(points: Sequence[Sequence[float]]) -> Markup:
    """The sparkline of a table cell's ``[[t, v], ...]`` points (``spark(...)`` in ``dashboard.html``)."""
    return sparkline([(p[0], p[1]) for p in points])
