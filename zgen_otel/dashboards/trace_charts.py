"""The pictures of the trace pages: the duration-over-time scatter of the traces list and the waterfall's ruler.

`duration_scatter` draws each trace as a point (when it started, how long it took, on a log scale so a
150 µs trace and a 2 s one both show), failed ones in red, each opening its trace when clicked (``data-href``,
as the rows of the list do), as Jaeger's search page does. `ruler` gives the waterfall's time ticks at
round durations (``0``, ``25 ms``, ``50 ms``...). Both are drawn on the server, as SVG or positions, so the
page needs no chart library.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

from zgen_otel.dashboards.rendering import format_ms, format_time, format_value

__all__ = ["duration_scatter", "round_step", "ruler"]

_H = 200
_LEFT, _TOP, _BOTTOM = 64, 10, 26
#: Steps of the time axis, in seconds: round clock times (10:42:30.5, 10:42:30, 10:45, 11:00).
_TIME_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def round_step(span: float, count: int = 5) -> float:
    """A round step (1, 2 or 5 times a power of ten) that cuts ``span`` into at most about ``count`` parts."""
    if not span > 0 or not math.isfinite(span):
        return 1.0
    raw = span / count
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def ruler(total_ms: float, count: int = 5) -> dict[str, Any]:
    """The waterfall's time ticks over a trace of ``total_ms`` milliseconds.

    Returns:
        ``ticks``: ``[{"at": percent of the trace, "label": "25 ms"}, ...]`` from 0, at a round step, and
        ``step``: the step as a percent of the trace (for gridlines at each tick).
    """
    total = total_ms if total_ms > 0 else 1e-6
    step = round_step(total, count)
    ticks = [{"at": i * step / total * 100, "label": format_ms(i * step) if i else "0"}
             for i in range(int(total / step + 1e-9) + 1)]  # fmt: skip
    return {"ticks": ticks, "step": step / total * 100}


def _time_ticks(lo: float, hi: float) -> list[float]:
    """Round clock times between ``lo`` and ``hi`` (Unix seconds), at most about six."""
    step = next((s for s in _TIME_STEPS if (hi - lo) / s <= 6), _TIME_STEPS[-1])
    offset = _offset(lo)
    first = math.ceil((lo + offset) / step) * step - offset
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _clock(ts: float, span: float) -> str:
    """A tick's time of day: to the tenth of a second over three seconds or less, to the minute over hours."""
    if span <= 3:  # ticks less than a second apart
        tenths = round(ts * 10)
        return f"{format_time(tenths // 10, '%H:%M:%S')}.{tenths % 10}"
    return format_time(ts, "%H:%M:%S" if span < 300 else "%H:%M")


def _offset(ts: float) -> float:
    """The local time zone's offset from UTC at ``ts``, in seconds (round times are round in local time)."""
    return float(time.localtime(ts).tm_gmtoff)


def duration_scatter(traces: Sequence[Mapping[str, Any]], link: str = "traces/{id}") -> Markup:
    """A scatter of ``traces`` (summaries as `zgen_otel.traces.get_recent_traces` gives them), as HTML.

    Args:
        traces: each with ``trace_id``, ``name``, ``start``, ``duration_ms``, ``status`` and ``span_count``.
        link: each point's link (its ``data-href``), ``{id}`` replaced by the trace id.

    Returns:
        A ``<div class="scatter">`` holding two SVGs, the duration axis and the plot, or an empty Markup when
        there are no traces. x is the start time over the traces' own range (a few minutes of traces fill the
        width), y the duration on a log scale with a tick per decade. Positions across are percentages, so the
        plot fills any width with text at its own size.
    """
    shown = [t for t in traces if t.get("start") is not None and t.get("duration_ms") is not None]
    if not shown:
        return Markup("")
    starts = [float(t["start"]) for t in shown]
    lo_t, hi_t = min(starts), max(starts)
    pad = (hi_t - lo_t) * 0.04 if hi_t > lo_t else 1.0  # a lone trace: a second either side
    lo_t, hi_t = lo_t - pad, hi_t + pad
    seconds = [max(float(t["duration_ms"]) / 1000, 1e-7) for t in shown]
    lo_d, hi_d = math.floor(math.log10(min(seconds))), math.ceil(math.log10(max(seconds)))
    if hi_d == lo_d:
        hi_d += 1
    plot_h = _H - _TOP - _BOTTOM

    def x(ts: float) -> float:
        return (ts - lo_t) / (hi_t - lo_t) * 100

    def y(duration: float) -> float:
        return _TOP + plot_h - (math.log10(duration) - lo_d) / (hi_d - lo_d) * plot_h

    axis = [f'<svg class="axis" width="{_LEFT}" height="{_H}" aria-hidden="true" xmlns="http://www.w3.org/2000/svg">']
    plot = [f'<svg class="plot" height="{_H}" role="img" aria-label="trace durations over time" '
            'xmlns="http://www.w3.org/2000/svg">']  # fmt: skip
    every = max(1, math.ceil((hi_d - lo_d) / 5))
    for power in range(lo_d, hi_d + 1, every):
        at = y(10.0**power)
        axis.append(f'<text class="tick" x="{_LEFT - 8}" y="{at + 4:.1f}" text-anchor="end">'
                    f"{escape(format_value(10.0**power, 's'))}</text>")  # fmt: skip
        plot.append(f'<line class="grid" x1="0" x2="100%" y1="{at:.1f}" y2="{at:.1f}"/>')
    # a label at the very edge would be cut in half; traces all within a tenth of a second get one in the middle
    ticks = [ts for ts in _time_ticks(lo_t, hi_t) if 4 <= x(ts) <= 96] or [(lo_t + hi_t) / 2]
    for ts in ticks:
        plot.append(f'<text class="tick" x="{x(ts):.2f}%" y="{_H - 8}" text-anchor="middle">'
                    f"{escape(_clock(ts, hi_t - lo_t))}</text>")  # fmt: skip
    for t, duration in reversed(list(zip(shown, seconds, strict=True))):  # the first trace drawn last, on top
        failed = t.get("status") == "error"
        radius = 3 + min(4.0, math.log2(max(int(t.get("span_count") or 1), 1)) / 2)
        title = f"{t['name']} · {format_ms(float(t['duration_ms']))} · {format_time(float(t['start']), '%H:%M:%S')}"
        href, trace_id = escape(link.replace("{id}", str(t["trace_id"]))), escape(t["trace_id"])
        plot.append(f'<circle class="point{" error" if failed else ""}" data-href="{href}" data-trace="{trace_id}" '
                    f'cx="{x(float(t["start"])):.2f}%" cy="{y(duration):.1f}" r="{radius:.1f}"><title>{escape(title)}'
                    f"{' (failed)' if failed else ''}</title></circle>")  # fmt: skip
    return Markup(f'<div class="scatter">{"".join(axis)}</svg>{"".join(plot)}</svg></div>')
