"""The pictures of the trace pages: the duration-over-time scatter of the traces list and the waterfall's ruler.

`duration_scatter` draws each trace as a point (when it started, how long it took, on a log scale so a
150 µs trace and a 2 s one both show), failed ones in red, each opening its trace when clicked (``data-href``,
as the rows of the list do), as Jaeger's search page does. `ruler` gives the waterfall's time ticks at
round durations (``0``, ``25 ms``, ``50 ms``...). Both are drawn on the server, as SVG or positions, so the
page needs no chart library.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

from zgen_otel.dashboards.rendering import format_ms, format_time
from zgen_otel.dashboards.ticks import Tick, clock_text, log_bounds, log_ticks, nice_step, time_ticks

__all__ = ["duration_scatter", "ruler"]

_H = 200
_LEFT, _TOP, _BOTTOM = 64, 10, 26


def ruler(total_ms: float, count: int = 5) -> dict[str, Any]:
    """The waterfall's time ticks over a trace of ``total_ms`` milliseconds.

    Returns:
        ``ticks``: ``[{"at": percent of the trace, "label": "25 ms"}, ...]`` from 0, at a round step, and
        ``step``: the step as a percent of the trace (for gridlines at each tick).
    """
    total = total_ms if total_ms > 0 and math.isfinite(total_ms) else 1e-6
    step = nice_step(total / count)
    ticks = [{"at": i * step / total * 100, "label": format_ms(i * step) if i else "0"}
             for i in range(int(total / step + 1e-9) + 1)]  # fmt: skip
    return {"ticks": ticks, "step": step / total * 100}


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
    bounds = log_bounds(seconds) or (1e-7, 1e-6)  # never None: every duration is positive
    lo_d, hi_d = round(math.log10(bounds[0])), round(math.log10(bounds[1]))
    plot_h = _H - _TOP - _BOTTOM

    def x(ts: float) -> float:
        return (ts - lo_t) / (hi_t - lo_t) * 100

    def y(duration: float) -> float:
        return _TOP + plot_h - (math.log10(duration) - lo_d) / (hi_d - lo_d) * plot_h

    axis = [f'<svg class="axis" width="{_LEFT}" height="{_H}" aria-hidden="true" xmlns="http://www.w3.org/2000/svg">']
    plot = [f'<svg class="plot" height="{_H}" role="img" aria-label="trace durations over time" '
            'xmlns="http://www.w3.org/2000/svg">']  # fmt: skip
    for tick in log_ticks(*bounds, "s"):
        at = y(tick.value)
        axis.append(f'<text class="tick" x="{_LEFT - 8}" y="{at + 4:.1f}" text-anchor="end">'
                    f"{escape(tick.label)}</text>")  # fmt: skip
        plot.append(f'<line class="grid" x1="0" x2="100%" y1="{at:.1f}" y2="{at:.1f}"/>')
    # a label at the very edge would be cut in half; traces all within a tenth of a second get one in the middle
    middle = (lo_t + hi_t) / 2
    ticks = [t for t in time_ticks(lo_t, hi_t, 6) if 4 <= x(t.value) <= 96] or [Tick(middle, clock_text(middle, 0.1))]
    for tick in ticks:
        plot.append(f'<text class="tick" x="{x(tick.value):.2f}%" y="{_H - 8}" text-anchor="middle">'
                    f"{escape(tick.label)}</text>")  # fmt: skip
    for t, duration in reversed(list(zip(shown, seconds, strict=True))):  # the first trace drawn last, on top
        failed = t.get("status") == "error"
        radius = 3 + min(4.0, math.log2(max(int(t.get("span_count") or 1), 1)) / 2)
        title = f"{t['name']} · {format_ms(float(t['duration_ms']))} · {format_time(float(t['start']), '%H:%M:%S')}"
        href, trace_id = escape(link.replace("{id}", str(t["trace_id"]))), escape(t["trace_id"])
        plot.append(f'<circle class="point{" error" if failed else ""}" data-href="{href}" data-trace="{trace_id}" '
                    f'cx="{x(float(t["start"])):.2f}%" cy="{y(duration):.1f}" r="{radius:.1f}"><title>{escape(title)}'
                    f"{' (failed)' if failed else ''}</title></circle>")  # fmt: skip
    return Markup(f'<div class="scatter">{"".join(axis)}</svg>{"".join(plot)}</svg></div>')
