"""Tracked operations of the selected processes, summed per operation (the performance dashboard, index, API).

This process's calls come from its performance tracker; other processes' from the ``zgen.operation.duration``
histograms they send (one series per operation, outcome and error type, with bucket counts kept by the
receiver). `operation_stats` sums both per operation: calls and errors add up, the mean is the total time
over the calls, and the percentiles of an operation measured by several processes are read from their buckets
added together (one process alone keeps its own: exact for this process's recent calls).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from zgen_otel import semconv as sc
from zgen_otel._tracker import CANCELLED, DURATION_BUCKETS, ERROR, OperationStats
from zgen_otel.receiver import HistogramSeries, summarize
from zgen_otel.selection import View

__all__ = ["NAME", "OUTCOME", "OperationRow", "operation_stats"]

NAME, OUTCOME = "zgen.operation.name", "zgen.operation.outcome"
_MINUTE = 60.0


@dataclass(frozen=True)
class OperationRow(OperationStats):
    """One operation's calls in the selected processes, summed (durations in seconds), and who made them."""

    services: list[str] = field(default_factory=list)
    instances: int = 0


@dataclass
class _Part:
    """One process's calls of one operation."""

    service: str
    calls: int
    errors: int
    cancelled: int
    total: float
    min: float | None
    max: float | None
    last: float | None
    per_minute: float
    percentiles: tuple[float | None, float | None, float | None]
    histograms: list[HistogramSeries]


def _local_parts(view: View, window_seconds: float | None) -> dict[str, _Part]:
    """This process's operations (none when it is not selected or tracks nothing)."""
    tracker = view.runtime.performance
    if tracker is None or view.local not in view.processes:
        return {}
    buckets = tracker.buckets(window_seconds)
    parts = {}
    for name, st in tracker.stats(window_seconds).items():
        total = st.mean * st.calls if st.mean is not None else 0.0
        histogram = HistogramSeries(name, (), DURATION_BUCKETS, 1)
        if st.calls:
            histogram.add(st.last_call or 0.0, st.calls, total, buckets.get(name, []), st.max)
        parts[name] = _Part(view.local.service, st.calls, st.errors, st.cancelled, total, st.min, st.max,
                            st.last_call, st.calls_per_minute, (st.p50, st.p95, st.p99), [histogram])  # fmt: skip
    return parts


def _received_parts(view: View, window_seconds: float | None) -> list[tuple[str, _Part]]:
    """(operation, part) of each selected process that sent ``zgen.operation.duration`` histograms."""
    now = view.runtime.clock()
    start = None if window_seconds is None else now - window_seconds
    groups: dict[tuple[str, str, str], list[HistogramSeries]] = defaultdict(list)
    for s in view.histograms(sc.OPERATION_DURATION.name):
        service, instance = view.origin(s.attributes)
        groups[(str(s.attributes.get(NAME, "?")), service, instance)].append(s)
    found = []
    for (name, service, _), series in sorted(groups.items()):
        summary = summarize(series, start)
        if not summary.count:
            continue
        errors = summarize([s for s in series if s.attributes.get(OUTCOME) == ERROR.value], start).count
        cancelled = summarize([s for s in series if s.attributes.get(OUTCOME) == CANCELLED.value], start).count
        if window_seconds is None:  # the calls of the last minute
            per_minute = float(summarize(series, now - _MINUTE).count)
        else:  # the window's mean, as for this process's calls
            per_minute = summary.count * _MINUTE / window_seconds
        last = max((s.last for s in series if s.last is not None and (start is None or s.last >= start)), default=None)
        found.append((name, _Part(service, summary.count, errors, cancelled, summary.sum, None, summary.max, last,
                                  per_minute, (summary.p50, summary.p95, summary.p99), series)))  # fmt: skip
    return found


def _merge(name: str, parts: list[_Part], start: float | None, window_seconds: float | None) -> OperationRow:
    calls = sum(p.calls for p in parts)
    errors = sum(p.errors for p in parts)
    if len(parts) == 1:
        p50, p95, p99 = parts[0].percentiles
    else:
        merged = summarize([h for p in parts for h in p.histograms], start)
        p50, p95, p99 = merged.p50, merged.p95, merged.p99
    lows = [p.min for p in parts if p.min is not None]
    highs = [p.max for p in parts if p.max is not None]
    lasts = [p.last for p in parts if p.last is not None]
    return OperationRow(
        name=name,
        calls=calls,
        errors=errors,
        error_rate=errors / calls if calls else 0.0,
        cancelled=sum(p.cancelled for p in parts),
        mean=sum(p.total for p in parts) / calls if calls else None,
        min=min(lows) if len(lows) == len(parts) else None,  # unknown when a process sent no minimum
        max=max(highs, default=None),
        p50=p50,
        p95=p95,
        p99=p99,
        calls_per_minute=sum(p.per_minute for p in parts),
        last_call=max(lasts, default=None),
        window_seconds=window_seconds,
        services=sorted({p.service for p in parts}),
        instances=len(parts),
    )


def operation_stats(view: View, window_seconds: float | None = None) -> dict[str, OperationRow]:
    """Per operation, by name: the calls of the view's processes summed.

    Args:
        view: the processes to read (`zgen_otel.selection.select`).
        window_seconds: the last this many seconds; None for everything kept. ``calls_per_minute`` is then
            the calls per minute since this process's first call, plus the received calls of the last minute.
    """
    parts: dict[str, list[_Part]] = defaultdict(list)
    for name, part in _local_parts(view, window_seconds).items():
        parts[name].append(part)
    for name, part in _received_parts(view, window_seconds):
        parts[name].append(part)
    start = None if window_seconds is None else view.runtime.clock() - window_seconds
    return {name: _merge(name, found, start, window_seconds) for name, found in sorted(parts.items())}
