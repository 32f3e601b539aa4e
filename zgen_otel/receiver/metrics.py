"""Received OTLP metrics into the local store, so that dashboards and alert rules read them like local ones.

Mapping (every series also carries the sender's ``service.name`` and ``service.instance.id``):

* gauges: the value, under the metric's name;
* sums (cumulative or delta): the running total under the metric's name (delta points are added up, as a
  counter's series is locally) and, for monotonic sums, the per-second rate under ``<name>.rate``;
* histograms (cumulative or delta): per export interval, ``<name>.count`` and ``<name>.sum`` (and ``.min``
  and ``.max`` for delta points, which carry them per interval), like the local reader stores its own; the
  bucket counts go to :class:`~zgen_otel.receiver.histograms.Histograms` for percentiles;
* exponential histograms and summaries: ``<name>.count`` and ``<name>.sum`` per interval.

A cumulative point becomes an interval by subtracting the series' previous point (a new start time or a
smaller count is a restart: the point counts from zero). Non-finite values are rejected and counted.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from typing import Any

from zgen_otel._series import AttributeKey, AttributeValue
from zgen_otel.receiver.histograms import Histograms
from zgen_otel.receiver.values import Origin, attributes
from zgen_otel.store import MetricStore

__all__ = ["MetricIngest", "point_count"]

_DELTA = 1  # AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA in the OTLP proto


class _Previous:
    """The last point of a cumulative series (or the running total of a delta one)."""

    __slots__ = ("count", "counts", "start", "sum", "ts", "value")

    def __init__(self) -> None:
        self.start = -1
        self.ts = 0.0
        self.value = 0.0
        self.count = 0
        self.sum = 0.0
        self.counts: list[int] = []


class MetricIngest:
    """Turns the metrics of ``ExportMetricsServiceRequest`` s into store samples and histogram buckets.

    Args:
        store: where the samples go.
        histograms: where bucket counts go.
        clock: the time for points without one.
        max_state: cumulative series whose previous point is remembered; past it the oldest half is forgotten
            (their next point counts as a restart of the series' interval, never twice).
    """

    def __init__(
        self, store: MetricStore, histograms: Histograms, clock: Callable[[], float], max_state: int = 100_000
    ) -> None:
        self._store = store
        self._histograms = histograms
        self._clock = clock
        self._max_state = max_state
        self._lock = threading.Lock()  # one request at a time turns cumulative points into intervals
        self._previous: dict[tuple[str, AttributeKey], _Previous] = {}
        self.recorded: set[str] = set()  # names received from record_metric's scope (custom metrics)

    def ingest(self, scope_metrics: Iterable[Any], who: Origin, source: str, recorded_scope: str) -> tuple[int, int]:
        """Store every point of one resource's ``scope_metrics``; return (points stored, points rejected)."""
        identity: dict[str, AttributeValue] = {"service.name": who.service, "service.instance.id": who.instance}
        stored = rejected = 0
        with self._lock:
            for scope in scope_metrics:
                recorded = scope.scope.name == recorded_scope
                for metric in scope.metrics:
                    if not metric.name:
                        rejected += point_count(metric)
                        continue
                    if recorded:
                        self.recorded.add(metric.name)
                    ok, bad = self._metric(metric, identity, source)
                    stored, rejected = stored + ok, rejected + bad
            if len(self._previous) > self._max_state:
                oldest = sorted(self._previous.items(), key=lambda item: item[1].ts)[: len(self._previous) // 2]
                for key, _ in oldest:
                    del self._previous[key]
        return stored, rejected

    def _metric(self, metric: Any, identity: dict[str, AttributeValue], source: str) -> tuple[int, int]:
        name, unit, kind = metric.name, metric.unit, metric.WhichOneof("data")
        category = name.split(".", 1)[0] if "." in name else None
        now = self._clock()
        stored = rejected = 0

        def add(series: str, value: float, key: AttributeKey, ts: float, series_unit: str) -> None:
            nonlocal stored, rejected
            if not math.isfinite(value):
                rejected += 1
            elif self._store.add(series, value, key, ts, unit=series_unit, category=category, source=source):
                stored += 1
            else:
                rejected += 1

        if kind is None:
            return 0, 0
        data = getattr(metric, kind)
        for point in data.data_points:
            key = tuple(sorted({**attributes(point.attributes), **identity}.items()))
            ts = point.time_unix_nano / 1e9 if point.time_unix_nano else now
            if kind == "gauge":
                add(name, _number(point), key, ts, unit)
            elif kind == "sum":
                self._sum(add, name, unit, key, ts, point, data)
            elif kind == "histogram":
                self._histogram(add, name, unit, key, ts, point, data.aggregation_temporality)
            elif kind == "exponential_histogram":
                self._counted(add, name, unit, key, ts, point, data.aggregation_temporality)
            elif kind == "summary":
                self._counted(add, name, unit, key, ts, point, 2)
        return stored, rejected

    def _state(self, name: str, key: AttributeKey, start: int) -> tuple[_Previous, bool]:
        """The previous point of a series and whether this point continues it (same start time)."""
        previous = self._previous.get((name, key))
        if previous is None:
            previous = self._previous[(name, key)] = _Previous()
        continues = previous.start == start
        previous.start = start
        return previous, continues

    def _sum(self, add: Callable[..., None], name: str, unit: str, key: AttributeKey, ts: float, point: Any,
             data: Any) -> None:  # fmt: skip
        value = _number(point)
        previous, continues = self._state(name, key, point.start_time_unix_nano)
        if data.aggregation_temporality == _DELTA:
            total = previous.value + value  # a delta sum's series is its running total
            span = ts - point.start_time_unix_nano / 1e9 if point.start_time_unix_nano else 0.0
            rate = value / span if span > 0 else None
        else:
            total = value
            restarted = not continues or value < previous.value
            span = ts - previous.ts
            rate = None if restarted or previous.ts == 0.0 or span <= 0 else (value - previous.value) / span
        previous.value, previous.ts = total, ts
        add(name, total, key, ts, unit)
        if data.is_monotonic and rate is not None:
            add(f"{name}.rate", rate, key, ts, f"{unit}/s" if unit else "1/s")

    def _interval(self, name: str, key: AttributeKey, point: Any, temporality: int) -> tuple[int, float, list[int]]:
        """This point's own observations: itself when delta, else its difference from the series' previous point."""
        count, total = int(point.count), float(point.sum)
        counts = list(getattr(point, "bucket_counts", ()))
        if temporality == _DELTA:
            return count, total, counts
        previous, continues = self._state(name, key, point.start_time_unix_nano)
        if continues and count >= previous.count and len(counts) == len(previous.counts):
            buckets = [a - b for a, b in zip(counts, previous.counts, strict=True)]
            delta = (count - previous.count, total - previous.sum, buckets)
        else:  # the first point of the series, or a restart: everything since its start
            delta = (count, total, counts)
        previous.count, previous.sum, previous.counts, previous.ts = count, total, counts, point.time_unix_nano / 1e9
        return delta

    def _histogram(self, add: Callable[..., None], name: str, unit: str, key: AttributeKey, ts: float, point: Any,
                   temporality: int) -> None:  # fmt: skip
        count, total, counts = self._interval(name, key, point, temporality)
        if not count:
            return
        add(f"{name}.count", float(count), key, ts, "1")
        add(f"{name}.sum", total, key, ts, unit)
        # a cumulative point's max is the largest since its start: right for the totals, unknown per interval
        largest = point.max if point.HasField("max") else None
        if largest is not None and temporality == _DELTA:
            add(f"{name}.max", largest, key, ts, unit)
        if point.HasField("min") and temporality == _DELTA:
            add(f"{name}.min", point.min, key, ts, unit)
        bounds = tuple(point.explicit_bounds)
        if counts and len(counts) == len(bounds) + 1 and all(c >= 0 for c in counts):
            self._histograms.add(name, key, bounds, ts, count, total, counts, largest)

    def _counted(self, add: Callable[..., None], name: str, unit: str, key: AttributeKey, ts: float, point: Any,
                 temporality: int) -> None:  # fmt: skip
        count, total, _ = self._interval(name, key, point, temporality)
        if count:
            add(f"{name}.count", float(count), key, ts, "1")
            add(f"{name}.sum", total, key, ts, unit)


def _number(point: Any) -> float:
    """A ``NumberDataPoint`` 's value (``as_double`` or ``as_int``)."""
    return float(point.as_double) if point.WhichOneof("value") == "as_double" else float(point.as_int)


def point_count(metric: Any) -> int:
    """How many data points a metric message holds."""
    kind = metric.WhichOneof("data")
    return len(getattr(metric, kind).data_points) if kind else 0
