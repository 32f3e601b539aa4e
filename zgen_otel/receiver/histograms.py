"""Received histograms kept by bucket, so that views can read percentiles of what other processes measured.

The store keeps a received histogram's count and sum per export interval as plain series (as it does for local
ones); the bucket counts live here: per series (metric name and attribute set, the sender's service and
instance included), the running totals since it was first received and the last ``max_deltas`` per-interval
deltas for windowed percentiles. Percentiles are interpolated inside the buckets, like PromQL's
``histogram_quantile``.
"""

from __future__ import annotations

import collections
import operator
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from zgen_otel._series import AttributeKey, AttributeValue
from zgen_otel._stats import QUANTILES, bucket_quantile

__all__ = ["HistogramSeries", "HistogramSummary", "Histograms", "summarize"]


@dataclass(frozen=True)
class HistogramSummary:
    """Observations of one or more histogram series: count, sum, largest value (when known) and percentiles."""

    count: int
    sum: float
    max: float | None
    p50: float | None
    p95: float | None
    p99: float | None


class HistogramSeries:
    """One received histogram series: bucket bounds, running totals and recent per-interval deltas."""

    __slots__ = ("attributes", "bounds", "count", "counts", "deltas", "first", "last", "max", "name", "sum")

    def __init__(self, name: str, key: AttributeKey, bounds: tuple[float, ...], max_deltas: int) -> None:
        self.name = name
        self.attributes: dict[str, AttributeValue] = dict(key)
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.sum = 0.0
        self.max: float | None = None
        self.first: float | None = None  # when the first observation arrived
        self.last: float | None = None  # the end of the newest interval with observations
        self.deltas: collections.deque[tuple[float, int, float, tuple[int, ...]]] = collections.deque(maxlen=max_deltas)

    def add(self, ts: float, count: int, total: float, counts: Sequence[int], largest: float | None) -> None:
        """Add one interval's observations (``counts`` per bucket, one more than the bounds)."""
        self.count += count
        self.sum += total
        self.counts = list(map(operator.add, self.counts, counts))
        if largest is not None:
            self.max = largest if self.max is None else max(self.max, largest)
        if self.first is None:
            self.first = ts
        self.last = ts if self.last is None else max(self.last, ts)
        self.deltas.append((ts, count, total, tuple(counts)))

    def since(self, start: float) -> tuple[int, float, list[int]]:
        """Count, sum and bucket counts of the intervals that ended at ``start`` or later."""
        count, total, counts = 0, 0.0, [0] * len(self.counts)
        for ts, n, s, buckets in self.deltas:
            if ts >= start:
                count, total = count + n, total + s
                for i, b in enumerate(buckets):
                    counts[i] += b
        return count, total, counts


def summarize(series: Sequence[HistogramSeries], start: float | None = None) -> HistogramSummary:
    """Count, sum, max and p50/p95/p99 over ``series`` together (all intervals, or those since ``start``).

    Series with other bucket bounds than the one with the most observations are counted but left out of the
    percentiles (their buckets cannot be added up).
    """
    count, total, largest = 0, 0.0, None
    merged: dict[tuple[float, ...], list[int]] = {}
    for s in series:
        n, t, counts = (s.count, s.sum, s.counts) if start is None else s.since(start)
        count, total = count + n, total + t
        if n and s.max is not None:
            largest = s.max if largest is None else max(largest, s.max)
        into = merged.setdefault(s.bounds, [0] * len(counts))
        for i, c in enumerate(counts):
            into[i] += c
    if not count:
        return HistogramSummary(0, 0.0, None, None, None, None)
    bounds, counts = max(merged.items(), key=lambda item: sum(item[1]))
    top = largest if largest is not None else (bounds[-1] if bounds else total / count)
    p50, p95, p99 = (bucket_quantile(counts, bounds, q, top) if sum(counts) else None for q in QUANTILES)
    return HistogramSummary(count, total, largest, p50, p95, p99)


class Histograms:
    """The bucket counts of received histogram series, bounded in series and in deltas per series.

    Args:
        max_series: series kept; samples for new series past it are dropped and counted in `dropped`.
        max_deltas: per-interval deltas kept per series (the oldest go first) for windowed percentiles.
    """

    def __init__(self, max_series: int, max_deltas: int = 2048) -> None:
        self.max_series = max_series
        self.max_deltas = max_deltas
        self.dropped = 0
        self._lock = threading.Lock()
        self._series: dict[tuple[str, AttributeKey], HistogramSeries] = {}

    def add(
        self,
        name: str,
        key: AttributeKey,
        bounds: tuple[float, ...],
        ts: float,
        count: int,
        total: float,
        counts: Sequence[int],
        largest: float | None,
    ) -> None:
        """Add one interval of a series (created when new; a series whose bounds changed starts again)."""
        with self._lock:
            series = self._series.get((name, key))
            if series is None or series.bounds != bounds:
                if series is None and len(self._series) >= self.max_series:
                    self.dropped += 1
                    return
                series = self._series[(name, key)] = HistogramSeries(name, key, bounds, self.max_deltas)
            series.add(ts, count, total, counts, largest)

    def series(self, name: str, where: Mapping[str, AttributeValue] | None = None) -> list[HistogramSeries]:
        """The series of ``name`` whose attributes include every item of ``where``."""
        with self._lock:
            found = [s for (n, _), s in self._series.items() if n == name]
        if where:
            found = [s for s in found if all(s.attributes.get(k) == v for k, v in where.items())]
        return found

    def forget(self, before: float) -> int:
        """Drop the series with no observation since ``before`` (retention); return how many went."""
        with self._lock:
            gone = [k for k, s in self._series.items() if s.last is not None and s.last < before]
            for k in gone:
                del self._series[k]
        return len(gone)

    def __len__(self) -> int:
        return len(self._series)
