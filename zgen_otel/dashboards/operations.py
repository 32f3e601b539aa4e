"""The ``performance`` dashboard: the operations table and four charts over time.

The table sums each operation over the selected processes (`operation_stats`).
The charts draw one line per operation (and process, when several are in view): the mean duration and the calls
per minute from the stored ``zgen.operation.duration`` series, and the p95 duration and the error
rate per time bin (about 60 bins a window) from this process's recent calls and the bucket counts received from
the others. Duration charts whose lines lie decades apart (a 160 µs and a 1 s operation) use a log scale, so that
no line is drawn flat on zero.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from zgen_otel import semconv as sc
from zgen_otel._stats import bucket_quantile, nearest_rank
from zgen_otel._tracker import ERROR
from zgen_otel.dashboards.charts import downsample
from zgen_otel.dashboards.dashboard import DEFAULT_WINDOW, Dashboard, data_start
from zgen_otel.dashboards.formats import format_span
from zgen_otel.dashboards.opstats import NAME, OUTCOME, OperationRow, operation_stats
from zgen_otel.dashboards.panels import per_minute, tagged, value_stats
from zgen_otel.dashboards.rendering import CLOCK, format_time, window
from zgen_otel.receiver import HistogramSeries
from zgen_otel.selection import View, select

if TYPE_CHECKING:
    from zgen_otel._runtime import Runtime

__all__ = ["OperationRow", "PerformanceDashboard", "operation_stats", "wants_log_scale"]

_COLUMNS = ["calls", "errors", "error rate", "mean", "p50", "p95", "p99", "max", "calls/min", "last call", "traces"]
_UNITS = ["", "", "1", "s", "s", "s", "s", "s", "", "", ""]
#: Time bins of the p95 and error-rate charts: the shortest of these giving at most `_BINS` bins.
#: Five seconds at least, so that a bin holds several calls (a rate over one or two calls is noise).
_BIN_STEPS = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21_600, 43_200, 86_400)
_BINS = 30
#: A duration chart whose largest and smallest positive values are this far apart is drawn on a log scale.
LOG_SPREAD = 100.0

Line = dict[float, list[float]]  # bin start -> values


class PerformanceDashboard(Dashboard):
    """Tracked operations: calls, errors, latency percentiles, throughput; failing operations stand out."""

    name = "performance"
    title = "Performance"
    description = "Every tracked operation: calls, errors, duration percentiles and throughput."

    def get_data(
        self,
        window_seconds: float = DEFAULT_WINDOW,
        *,
        service: str | None = None,
        instance: str | None = None,
        runtime: Runtime | None = None,
    ) -> dict[str, Any]:
        """A sortable table of operations (summed over the selected processes) plus duration and throughput charts."""
        view = select(runtime, service, instance)
        stats = operation_stats(view)
        several = len(view.processes) > 1
        extra = (["services"] if view.several_services else []) + (["instances"] if several else [])
        rows, highlight = [], []
        for i, (name, st) in enumerate(stats.items()):
            traces = f"traces?operation={quote(name)}"
            slowest = {"text": "slowest", "href": f"{traces}&order=slowest"}
            links = {"links": [{"text": "recent", "href": traces}, slowest]}
            who = ([", ".join(st.services)] if view.several_services else []) + ([st.instances] if several else [])
            rows.append([name, *who, st.calls, st.errors, st.error_rate, st.mean, st.p50, st.p95, st.p99, st.max,
                         st.calls_per_minute, format_time(st.last_call, CLOCK) if st.last_call else None,
                         links])  # fmt: skip
            if st.errors:
                highlight.append(i)
        table = {
            "id": "operations",
            "type": "table",
            "title": "Operations",
            "columns": ["operation", *extra, *_COLUMNS],
            "units": ["", *[""] * len(extra), *_UNITS],
            "rows": rows,
            "row_ids": list(stats),
            "highlight": highlight,
            "empty": "no tracked calls yet: decorate functions with @track()",
        }
        if several:
            table["note"] = ("summed over the selected processes; calls/min: this process's since its first call, "
                             "other processes' over the last minute")  # fmt: skip
        start, end = window(window_seconds, view.runtime)
        durations, throughput = _charts(view, start, end)
        p95, errors, step = _binned(view, start, end)
        return {
            "panels": [
                table,
                _duration_panel("duration", "Mean duration per collection interval", durations),
                _duration_panel("p95", f"p95 duration per {format_span(step)}", p95),
                {"id": "errors", "type": "timeseries", "title": f"Error rate per {format_span(step)}",
                 "unit": "1", "series": errors},
                {"id": "throughput", "type": "timeseries", "title": "Calls per minute",
                 "unit": "{call}/min", "series": throughput},
            ]
        }  # fmt: skip


def wants_log_scale(values: Iterable[float]) -> bool:
    """Whether lines with these values need a log scale: positive values at least `LOG_SPREAD` apart."""
    positive = [v for v in values if v > 0]
    return bool(positive) and max(positive) >= LOG_SPREAD * min(positive)


def _duration_panel(panel_id: str, title: str, series: list[dict[str, Any]]) -> dict[str, Any]:
    """A duration chart (seconds), on a log scale when its lines lie decades apart (the note says so)."""
    panel = {"id": panel_id, "type": "timeseries", "title": title, "unit": "s", "series": series}
    if wants_log_scale(v for s in series for _, v in s["points"]):
        panel.update(scale="log", note="log scale: each gridline is ten times the one below")
    return panel


def _charts(view: View, start: float, end: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Mean duration per collection interval and calls per minute, one line per operation and process."""
    sums: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    counts: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    duration = sc.OPERATION_DURATION.name
    for target, metric in ((sums, f"{duration}.sum"), (counts, f"{duration}.count")):
        for s in view.store.series(metric):
            line = tagged(str(s.attributes.get(NAME, "?")), view.who_of(s))
            for p in s.points(start, end):
                target[line][p.timestamp] += p.value
    durations, throughput = [], []
    for line in sorted(counts):
        times = sorted(counts[line])
        means = [(t, sums[line][t] / counts[line][t]) for t in times if counts[line][t]]
        calls = per_minute([(t, counts[line][t]) for t in times])
        durations.append(_entry(line, means))
        throughput.append(_entry(line, calls))
    return durations, throughput


def _entry(label: str, points: list[tuple[float, float]]) -> dict[str, Any]:
    """A chart series: label, points (downsampled) and their stats."""
    return {"label": label, "points": [list(p) for p in downsample(points)],
            "stats": value_stats([v for _, v in points])}  # fmt: skip


class _Bins:
    """Per line (operation and process) and time bin: calls, failed calls and the p95 duration."""

    def __init__(self, step: float, end: float) -> None:
        self.step, self.end = step, end
        self.calls: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
        self.failed: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
        self.p95: dict[str, dict[float, float]] = defaultdict(dict)

    def at(self, ts: float) -> float:
        """The middle of the bin ``ts`` falls in; for the bin still running, now (a point is never in the future)."""
        return min(ts // self.step * self.step + self.step / 2, self.end)

    def add_local(self, line: str, rows: list[tuple[float, float, Any]]) -> None:
        """This process's calls of one operation: (end time, seconds, outcome); the p95 of each bin is exact."""
        durations: Line = defaultdict(list)
        for ended, seconds, outcome in rows:
            if ended <= self.end:
                at = self.at(ended)
                durations[at].append(seconds)
                self.failed[line][at] += outcome == ERROR
        for at, values in durations.items():
            self.calls[line][at] += len(values)
            self.p95[line][at] = nearest_rank(sorted(values), 0.95)

    def add_received(self, view: View, received: list[HistogramSeries], start: float) -> None:
        """The other processes' calls from the bucket counts they sent (the p95 interpolated in the buckets)."""
        merged: dict[tuple[str, float], tuple[tuple[float, ...], list[int], float]] = {}
        for s in received:
            line = tagged(str(s.attributes.get(NAME, "?")), view.who(*view.origin(s.attributes)))
            failing = s.attributes.get(OUTCOME) == ERROR.value
            for ts, count, _, buckets in s.deltas:
                if not (start <= ts <= self.end and count):
                    continue
                at = self.at(ts)
                self.calls[line][at] += count
                self.failed[line][at] += count if failing else 0
                bounds, into, top = merged.setdefault((line, at), (s.bounds, [0] * len(buckets), 0.0))
                if bounds == s.bounds:  # buckets of other bounds cannot be added up: counted, not in the p95
                    merged[(line, at)] = (bounds, [a + b for a, b in zip(into, buckets, strict=True)],
                                          max(top, s.max or 0.0))  # fmt: skip
        for (line, at), (bounds, counts, top) in merged.items():
            if sum(counts):
                self.p95[line][at] = bucket_quantile(counts, bounds, 0.95, top or bounds[-1])


def _binned(view: View, start: float, end: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]], float]:
    """p95 duration and error rate per time bin, one line per operation and process; and the bin's length.

    Each point sits at the middle of its bin (the running bin's at now). The bins split the time the data covers
    (from its first call, a minute at least, the window at most) into about `_BINS`, so that a few minutes of
    calls are not one or two points. This process's bins come from its recent calls (exact), the others' from
    the bucket counts they sent (interpolated, like PromQL's ``histogram_quantile``).
    """
    tracker = view.runtime.performance
    local = tracker.timings(start) if tracker is not None and view.local in view.processes else {}
    received = view.histograms(sc.OPERATION_DURATION.name)
    firsts = [rows[0][0] for rows in local.values() if rows]  # oldest first
    firsts += [s.first for s in received if s.first is not None]
    covered = end - data_start(firsts, start, end)
    bins = _Bins(next((s for s in _BIN_STEPS if covered / s <= _BINS), _BIN_STEPS[-1]), end)
    if local:
        who = view.who(view.local.service, view.local.instance)
        for name, rows in local.items():
            bins.add_local(tagged(name, who), rows)
    bins.add_received(view, received, start)
    p95 = [_entry(line, sorted(points.items())) for line, points in sorted(bins.p95.items())]
    rates = [_entry(line, [(at, bins.failed[line][at] / n) for at, n in sorted(calls.items())])
             for line, calls in sorted(bins.calls.items())]  # fmt: skip
    return p95, rates, bins.step
