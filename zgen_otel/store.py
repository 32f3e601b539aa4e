"""The local time-series store: compact per-series buffers, rolled-up tiers, retention and window queries.

A series is one metric name plus one attribute set. Its recent points are kept raw in two ``array``
buffers (a ``uint32`` millisecond offset from the series' base time and a ``float64`` value: 12 bytes a
point). When the raw buffer passes its cap, or a point ages past the raw window, the oldest points are
rolled up into per-minute buckets (min, max, sum, count), and minute buckets older than the minute window
into per-hour buckets; everything older than the retention is dropped. Thirty days of a one-second series
stay under 200 KB.

The store is thread-safe: each series has its own lock, and the series table is guarded by the store's.
It never imports the alerting, dashboard or HTTP layers: those subscribe to updates through
`MetricStore.subscribe`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from array import array
from collections.abc import Callable, Mapping

from zgen_otel._observers import Listener, Observers
from zgen_otel._series import (
    AttributeKey,
    AttributeValue,
    MetricPoint,
    Series,
    SeriesInfo,
    WindowStats,
    attributes_key,
    series_sort_key,
)
from zgen_otel._stats import Bucket, weighted_percentiles
from zgen_otel._util import RateLimitedLogger

__all__ = [
    "INSTRUMENTS",
    "METRICS",
    "OVERFLOW_KEY",
    "RESTORED",
    "SOURCES",
    "SYSTEM",
    "AttributeKey",
    "AttributeValue",
    "Listener",
    "MetricPoint",
    "MetricStore",
    "Series",
    "SeriesInfo",
    "WindowStats",
    "attributes_key",
    "merged_points",
    "series_info",
    "series_sort_key",
]

_log = logging.getLogger(__name__)

#: Where series come from; each source has its own budget of ``max_series``, so one cannot starve another.
METRICS, INSTRUMENTS, SYSTEM, RESTORED = "metrics", "instruments", "system", "restored"
#: The tracking instruments (``zgen.operation.*``): read by the OTel reader, but with a budget of their own, so
#: a flood of operation names cannot crowd out other libraries' instruments.
TRACKING = "tracking"
SOURCES = (METRICS, INSTRUMENTS, TRACKING, SYSTEM, RESTORED)
#: The attribute set of a metric's overflow series (the OTel SDK's overflow point has the same one).
OVERFLOW_KEY: AttributeKey = (("otel.metric.overflow", True),)


class MetricStore(Observers):
    """Bounded in-memory time series keyed by metric name and attributes.

    Args:
        retention_seconds: points older than this are dropped by `prune`.
        max_series: cap on distinct (name, attributes) series of each source: ``record_metric`` (``metrics``),
            the OTel reader (``instruments``: tracking, LLM, alerting and other libraries' instruments), the
            system monitor (``system``), a SQLite file read back at start (``restored``) and each service
            whose telemetry is received over OTLP (``received:<service.name>``) each have this budget of their
            own. Samples for new series past it are dropped and counted in ``overflow_dropped``
            (and ``dropped_<source>``) with a rate-limited warning.
        max_series_per_metric: cap on the attribute sets of one metric name, like the OTel SDK's cardinality
            limit per metric stream: samples of further sets go to the metric's overflow series (attributes
            ``{"otel.metric.overflow": True}``), counted in ``overflow_folded`` with a rate-limited warning.
        max_raw_points: raw points kept per series before the oldest are rolled up into minute buckets.
        raw_window: seconds of raw history kept per series (older points are rolled up).
        minute_window: seconds of minute buckets kept before they are rolled into hour buckets.
        clock: the time source for samples recorded without a timestamp.
    """

    def __init__(
        self,
        *,
        retention_seconds: float = 30 * 86_400.0,
        max_series: int = 10_000,
        max_series_per_metric: int = 2000,
        max_raw_points: int = 4096,
        raw_window: float = 86_400.0,
        minute_window: float = 2 * 86_400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.retention_seconds = retention_seconds
        self.max_series = max_series
        self.max_series_per_metric = max_series_per_metric
        self.max_raw_points = max_raw_points
        self.raw_window_ms = int(min(raw_window, 40 * 86_400.0) * 1000)
        self.minute_window = minute_window
        self.clock = clock
        self.overflow_dropped = 0
        self.overflow_folded = 0
        #: Series forgotten by `prune` so far: a writer that keeps series objects re-resolves them when it grows.
        self.forgotten = 0
        self._warn = RateLimitedLogger(_log)  # per store: each runtime warns once of its own caps
        self._by_source = dict.fromkeys(SOURCES, 0)  # series per source
        self._dropped = dict.fromkeys(SOURCES, 0)  # samples dropped per source by its budget
        self._lock = threading.Lock()
        self._series: dict[tuple[str, AttributeKey], Series] = {}
        self._by_name: dict[str, list[Series]] = {}

    # -- writing -----------------------------------------------------------------------------------
    def add(
        self,
        name: str,
        value: float,
        key: AttributeKey = (),
        timestamp: float | None = None,
        *,
        unit: str = "",
        category: str | None = None,
        source: str = METRICS,
    ) -> bool:
        """Store one validated sample from ``source``; return False when it was dropped by the series cap.

        A new attribute set past ``max_series_per_metric`` goes to the metric's overflow series.
        """
        series = self._series.get((name, key))
        if series is None:
            series = self._create(name, key, unit, category, source)
            if series is None:
                return False
        series.append(self.clock() if timestamp is None else timestamp, value)
        return True

    def _create(self, name: str, key: AttributeKey, unit: str, category: str | None, source: str) -> Series | None:
        with self._lock:
            series = self._series.get((name, key))
            if series is not None:
                return series
            if key != OVERFLOW_KEY:
                overflow = self._series.get((name, OVERFLOW_KEY))
                if len(self._by_name.get(name, ())) - (overflow is not None) >= self.max_series_per_metric:
                    self.overflow_folded += 1
                    self._warn.warning(
                        "metric-cap",
                        "zgen_otel store holds max_series_per_metric=%d series of %r; samples of further attribute "
                        "sets go to its series with otel.metric.overflow=true",
                        self.max_series_per_metric,
                        name,
                    )
                    return (
                        overflow
                        if overflow is not None
                        else self._new_series(name, OVERFLOW_KEY, unit, category, source)
                    )
            return self._new_series(name, key, unit, category, source)

    def _new_series(self, name: str, key: AttributeKey, unit: str, category: str | None, source: str) -> Series | None:
        """Add a series unless ``source`` used up its budget (then count, warn and return None); under the lock."""
        if self._by_source.get(source, 0) >= self.max_series:
            self.overflow_dropped += 1
            self._dropped[source] = self._dropped.get(source, 0) + 1
            self._warn.warning(
                f"series-cap:{source}",
                "zgen_otel store holds max_series=%d series from %s; dropping samples for new series (e.g. %r)",
                self.max_series,
                source,
                name,
            )
            return None
        series = Series(self, name, key, unit, category, source)
        series.watched = self._wanted(name)
        self._series[(name, key)] = series
        self._by_name.setdefault(name, []).append(series)
        self._by_source[source] = self._by_source.get(source, 0) + 1
        return series

    def lookup(self, name: str, key: AttributeKey) -> Series | None:
        """The series of exactly ``name`` and ``key`` (an overflow series only for `OVERFLOW_KEY`), or None.

        It creates nothing: a writer that has stored a sample with `add` finds here the series it went to,
        unless the sample was dropped or went to the metric's overflow series.
        """
        return self._series.get((name, key))

    def get_or_create(
        self, name: str, key: AttributeKey, unit: str = "", category: str | None = None, *, source: str = METRICS
    ) -> Series | None:
        """The series for ``name`` and ``key``, created when missing (None past ``source``'s series cap).

        Past ``max_series_per_metric`` it is the metric's overflow series, whose ``key`` is `OVERFLOW_KEY`.
        """
        return self._series.get((name, key)) or self._create(name, key, unit, category, source)

    def prune(self, now: float | None = None) -> int:
        """Drop points older than the retention and forget empty series; return how many series went."""
        cutoff = (self.clock() if now is None else now) - self.retention_seconds
        with self._lock:
            gone = [k for k, s in self._series.items() if s.prune(cutoff)]
            for k in gone:
                series = self._series.pop(k)
                series.alive = False
                self.forgotten += 1
                self._by_source[series.source] -= 1
                self._by_name[series.name].remove(series)
                if not self._by_name[series.name]:
                    del self._by_name[series.name]
        return len(gone)

    def before_fork(self) -> None:
        """Hold every lock of the store (store first, then each series, the order ``prune`` takes them)."""
        self._lock.acquire()
        for series in self._series.values():
            series._lock.acquire()

    def after_fork(self) -> None:
        """Release what `before_fork` took (in the parent and in the child alike)."""
        for series in self._series.values():
            series._lock.release()
        self._lock.release()

    # -- reading -----------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every metric name with at least one series, sorted."""
        with self._lock:
            return sorted(self._by_name)

    def series(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> list[Series]:
        """The series of ``name`` whose attributes include every item of ``attributes``."""
        with self._lock:
            found = list(self._by_name.get(name, ()))
        if attributes:
            wanted = attributes.items()
            found = [s for s in found if all(s.attributes.get(k, _MISSING) == v for k, v in wanted)]
        return found

    def all_series(self) -> list[Series]:
        """Every series in the store."""
        with self._lock:
            return list(self._series.values())

    def info(self, name: str | None = None) -> list[SeriesInfo]:
        """One `SeriesInfo` per series (of ``name`` only, when given), sorted by name."""
        return series_info(self.all_series() if name is None else self.series(name))

    def history(
        self,
        name: str,
        attributes: Mapping[str, AttributeValue] | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[MetricPoint]:
        """Points of the matching series in time order (merged when several match); the newest ``limit``."""
        return merged_points(self.series(name, attributes), since, until, limit)

    def _gather(
        self, name: str, window_seconds: float, attributes: Mapping[str, AttributeValue] | None, now: float | None
    ) -> tuple[array[float], list[Bucket], MetricPoint | None]:
        """Raw values, rolled-up buckets and the newest point of the matching series in the window."""
        hi = self.clock() if now is None else now
        lo = hi - window_seconds
        raw: array[float] = array("d")
        buckets: list[Bucket] = []
        latest: MetricPoint | None = None
        for s in self.series(name, attributes):
            values, rolled, last = s.window_values(lo, hi)
            raw.extend(values)
            buckets.extend(rolled)
            if last is not None and (latest is None or last.timestamp > latest.timestamp):
                latest = last
        return raw, buckets, latest

    def mean(
        self,
        name: str,
        window_seconds: float,
        attributes: Mapping[str, AttributeValue] | None = None,
        now: float | None = None,
    ) -> float | None:
        """The mean over the last ``window_seconds`` (None when the window holds no point)."""
        raw, buckets, _ = self._gather(name, window_seconds, attributes, now)
        count = len(raw) + sum(b[3] for b in buckets)
        if not count:
            return None
        total = sum(raw) + sum(b[2] for b in buckets)
        if math.isinf(total):  # finite values whose sum overflows: average the scaled values instead
            return sum(v / count for v in raw) + sum(b[2] / count for b in buckets)
        return total / count

    def window(
        self,
        name: str,
        window_seconds: float,
        attributes: Mapping[str, AttributeValue] | None = None,
        now: float | None = None,
    ) -> WindowStats | None:
        """Aggregates over the last ``window_seconds`` (None when the window holds no point).

        Only the window is read (a binary search finds its start). A rolled-up bucket counts when it starts
        inside the window; percentiles over rolled-up history use bucket means weighted by their counts.
        """
        raw, buckets, latest = self._gather(name, window_seconds, attributes, now)
        count = len(raw) + int(sum(b[3] for b in buckets))
        if not count or latest is None:
            return None
        total = sum(raw) + sum(b[2] for b in buckets)
        lo_v = min(min(raw, default=math.inf), min((b[0] for b in buckets), default=math.inf))
        hi_v = max(max(raw, default=-math.inf), max((b[1] for b in buckets), default=-math.inf))
        p50, p95, p99 = weighted_percentiles(raw, buckets, (0.50, 0.95, 0.99))
        return WindowStats(count, total, lo_v, hi_v, latest.value, latest.timestamp, p50, p95, p99)

    def stats(self) -> dict[str, int]:
        """Size of the store: series (in all and per source), points, buffer bytes, samples dropped and folded."""
        series = self.all_series()
        with self._lock:
            per_source = {f"series_{source}": n for source, n in self._by_source.items()}
            dropped = {f"dropped_{source}": n for source, n in self._dropped.items()}
        return {
            "series": len(series),
            "points": sum(len(s) for s in series),
            "bytes": sum(s.nbytes() for s in series),
            "overflow_dropped": self.overflow_dropped,
            "overflow_folded": self.overflow_folded,
            **per_source,
            **dropped,
        }


_MISSING = object()


def series_info(chosen: list[Series]) -> list[SeriesInfo]:
    """One `SeriesInfo` per series of ``chosen``, sorted by name (what `MetricStore.info` returns)."""
    out = []
    for s in sorted(chosen, key=series_sort_key):
        latest = s.latest()
        value, ts = (latest.value, latest.timestamp) if latest else (None, None)
        out.append(SeriesInfo(s.name, dict(s.attributes), s.unit, s.category, value, ts, len(s)))
    return out


def merged_points(
    matched: list[Series], since: float | None = None, until: float | None = None, limit: int | None = None
) -> list[MetricPoint]:
    """The points of ``matched`` between ``since`` and ``until`` in time order; the newest ``limit`` (all if None)."""
    if limit is not None and limit <= 0:
        return []
    if len(matched) == 1:
        points = matched[0].points(since, until, limit)
    else:
        points = sorted((p for s in matched for p in s.points(since, until, limit)), key=lambda p: p.timestamp)
    return points if limit is None else points[-limit:]
