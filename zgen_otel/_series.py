"""One time series: compact raw buffers, rolled-up minute and hour tiers, and window queries over them.

A series is one metric name plus one attribute set. Its recent points are kept raw in two ``array``
buffers (a ``uint32`` millisecond offset from the series' base time and a ``float64`` value: 12 bytes a
point). When the raw buffer passes its cap, or a point ages past the raw window, the oldest points are
rolled up into per-minute buckets (min, max, sum, count), and minute buckets older than the minute window
into per-hour buckets. The limits come from the `MetricStore` that owns the series.
"""

from __future__ import annotations

import math
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any, NamedTuple

from zgen_otel._stats import Bucket

if TYPE_CHECKING:
    from zgen_otel.store import MetricStore

__all__ = [
    "AttributeKey",
    "AttributeValue",
    "MetricPoint",
    "Series",
    "SeriesInfo",
    "Tier",
    "WindowStats",
    "attributes_key",
    "series_sort_key",
]

AttributeValue = str | bool | int | float
AttributeKey = tuple[tuple[str, AttributeValue], ...]

_MINUTE = 60.0
_HOUR = 3600.0
_MAX_OFFSET_MS = 2**32 - 1


class MetricPoint(NamedTuple):
    """One point of a series: a Unix timestamp in seconds and a value.

    Points read from rolled-up history carry the mean of their bucket and ``samples`` > 1.
    """

    timestamp: float
    value: float
    samples: int = 1


@dataclass(frozen=True)
class WindowStats:
    """Aggregates of one metric over a time window."""

    count: int
    sum: float
    min: float
    max: float
    latest: float
    latest_timestamp: float
    p50: float
    p95: float
    p99: float

    @property
    def avg(self) -> float:
        """The mean over the window."""
        return self.sum / self.count


@dataclass(frozen=True)
class SeriesInfo:
    """What is known of one series without reading its points."""

    name: str
    attributes: dict[str, AttributeValue]
    unit: str
    category: str | None
    latest: float | None
    latest_timestamp: float | None
    points: int


def attributes_key(attributes: Mapping[str, Any] | None) -> AttributeKey:
    """Turn an attribute mapping into the hashable, order-independent key the store uses."""
    if not attributes:
        return ()
    return tuple(sorted(attributes.items()))


class Tier:
    """Buckets of a fixed step: start time, min, max, sum and count per bucket, in time order."""

    __slots__ = ("count", "max", "min", "start", "step", "sum")

    def __init__(self, step: float) -> None:
        self.step = step
        self.start = array("d")
        self.min = array("d")
        self.max = array("d")
        self.sum = array("d")
        self.count = array("d")

    def add(self, ts: float, lo: float, hi: float, total: float, n: float) -> None:
        """Merge a bucket (or one point, with lo == hi == total and n == 1) into the tier."""
        bucket = ts - ts % self.step
        start = self.start
        if not start or start[-1] < bucket:
            i, new = len(start), True
        else:
            i = bisect_left(start, bucket)
            new = i == len(start) or start[i] != bucket
        if new:
            for column, value in zip(self._columns(), (bucket, lo, hi, total, n), strict=True):
                column.insert(i, value)
            return
        self.min[i] = min(self.min[i], lo)
        self.max[i] = max(self.max[i], hi)
        self.sum[i] += total
        self.count[i] += n

    def _columns(self) -> tuple[array[float], ...]:
        return (self.start, self.min, self.max, self.sum, self.count)

    def pop_before(
        self, cutoff: float, *, inclusive: bool = False
    ) -> Iterator[tuple[float, float, float, float, float]]:
        """Remove and yield the buckets that start before ``cutoff`` (or at it, with ``inclusive``)."""
        n = (bisect_right if inclusive else bisect_left)(self.start, cutoff)
        if not n:
            return iter(())
        rows = list(zip(*(column[:n] for column in self._columns()), strict=True))
        for column in self._columns():
            del column[:n]
        return iter(rows)

    def nbytes(self) -> int:
        return sum(c.buffer_info()[1] * c.itemsize for c in self._columns())


class Series:
    """One metric name and attribute set: raw recent points plus minute and hour tiers."""

    __slots__ = (
        "_base_ms",
        "_cap",
        "_hours",
        "_lock",
        "_minutes",
        "_offsets",
        "_store",
        "_values",
        "_window_ms",
        "alive",
        "attributes",
        "category",
        "key",
        "name",
        "source",
        "unit",
        "watched",
    )

    def __init__(
        self, store: MetricStore, name: str, key: AttributeKey, unit: str, category: str | None, source: str = "metrics"
    ) -> None:
        self._store = store
        self.source = source  # what created it (see MetricStore): whose series budget it counts in
        self.name = name
        self.key = key
        self.attributes: dict[str, AttributeValue] = dict(key)
        self.unit = unit
        self.category = category
        self._lock = threading.Lock()
        self.alive = True  # False once the store forgot this series (pruned empty)
        self.watched = False  # a sink, watcher or listener wants its samples: set by the store
        self._cap = store.max_raw_points
        self._window_ms = store.raw_window_ms
        self._base_ms = 0
        self._offsets = array("I")  # uint32 ms offsets from _base_ms
        self._values = array("d")
        self._minutes = Tier(_MINUTE)
        self._hours = Tier(_HOUR)

    # -- writing -----------------------------------------------------------------------------------
    def append(self, ts: float, value: float) -> None:
        """Add one point (out-of-order points are placed in time order) and tell the store's watchers."""
        ms = int(ts * 1000)
        lock = self._lock
        lock.acquire()
        try:
            offsets = self._offsets
            off = ms - self._base_ms
            if offsets and offsets[-1] <= off <= _MAX_OFFSET_MS:
                offsets.append(off)
                self._values.append(value)
                if len(offsets) > self._cap or off - offsets[0] > self._window_ms:
                    self._roll_up()
            else:
                self._insert(ms, value)
        finally:
            lock.release()
        if self.watched:
            self._store.dispatch(self, ts, value)

    def _insert(self, ms: int, value: float) -> None:
        offsets = self._offsets
        if not offsets:
            self._base_ms = ms
            offsets.append(0)
            self._values.append(value)
            return
        newest_ms = self._base_ms + offsets[-1]
        if ms < newest_ms - self._store.raw_window_ms:  # older than the raw window: straight into a tier
            self._add_to_tiers(ms / 1000, value, value, value, 1)
            return
        if ms < self._base_ms:
            self._rebase(ms)
            offsets = self._offsets
        elif ms - self._base_ms > _MAX_OFFSET_MS:  # 49.7 days past the base: what is older goes to the tiers
            self._rebase(ms - self._store.raw_window_ms)
            offsets = self._offsets
        off = ms - self._base_ms
        i = bisect_right(offsets, off)
        offsets.insert(i, off)
        self._values.insert(i, value)
        if len(offsets) > self._store.max_raw_points or offsets[-1] - offsets[0] > self._store.raw_window_ms:
            self._roll_up()

    def _rebase(self, new_base_ms: int) -> None:
        """Move the base time so every raw offset fits in uint32 again."""
        self._roll_up(keep_after_ms=new_base_ms)
        delta = self._base_ms - new_base_ms
        self._offsets = array("I", (o + delta for o in self._offsets))
        self._base_ms = new_base_ms

    def _roll_up(self, keep_after_ms: int | None = None) -> None:
        """Move the oldest raw points into the minute tier (a quarter of the cap, or all out of window)."""
        offsets, values, base = self._offsets, self._values, self._base_ms
        cut = max(0, len(offsets) - self._store.max_raw_points * 3 // 4)
        cut = max(cut, bisect_left(offsets, offsets[-1] - self._store.raw_window_ms))
        if keep_after_ms is not None:
            cut = max(cut, bisect_left(offsets, keep_after_ms - base))
        start = 0
        step_ms = int(_MINUTE * 1000)
        while start < cut:  # one tier update per minute bucket, aggregated over array slices in C
            first_ms = base + offsets[start]
            end = bisect_left(offsets, first_ms - first_ms % step_ms + step_ms - base, start, cut)
            chunk = values[start:end]
            self._add_to_tiers(first_ms / 1000, min(chunk), max(chunk), sum(chunk), end - start)
            start = end
        del offsets[:cut]
        del values[:cut]

    def _add_to_tiers(self, ts: float, lo: float, hi: float, total: float, n: float) -> None:
        minutes = self._minutes
        minutes.add(ts, lo, hi, total, n)
        if minutes.start[-1] - minutes.start[0] > self._store.minute_window:
            for row in minutes.pop_before(minutes.start[-1] - self._store.minute_window):
                self._hours.add(*row)

    def add_bucket(self, step: float, ts: float, lo: float, hi: float, total: float, n: float) -> None:
        """Merge a rolled-up bucket (from persistence) into the tier of that step."""
        with self._lock:
            (self._minutes if step == _MINUTE else self._hours).add(ts, lo, hi, total, n)

    def prune(self, cutoff: float) -> bool:
        """Drop everything older than ``cutoff``; return True when the series is left empty."""
        with self._lock:
            cutoff_off = int(cutoff * 1000) - self._base_ms
            n = bisect_left(self._offsets, max(cutoff_off, 0)) if cutoff_off > 0 else 0
            del self._offsets[:n]
            del self._values[:n]
            for tier in (self._minutes, self._hours):
                for _ in tier.pop_before(cutoff - tier.step, inclusive=True):  # buckets that end by the cutoff
                    pass
            return not (self._offsets or self._minutes.start or self._hours.start)

    # -- reading -----------------------------------------------------------------------------------
    def latest(self) -> MetricPoint | None:
        """The newest point, or None for an empty series."""
        with self._lock:
            if self._offsets:
                return MetricPoint((self._base_ms + self._offsets[-1]) / 1000, self._values[-1])
            for tier in (self._minutes, self._hours):
                if tier.start:
                    return MetricPoint(tier.start[-1], tier.sum[-1] / tier.count[-1], int(tier.count[-1]))
        return None

    def __len__(self) -> int:
        return len(self._offsets) + len(self._minutes.start) + len(self._hours.start)

    def points(
        self, since: float | None = None, until: float | None = None, limit: int | None = None
    ) -> list[MetricPoint]:
        """Points in ``[since, until]`` in time order: bucket means for rolled-up history, then raw points.

        With ``limit``, only the newest ``limit`` points are built (older tiers are not read when the raw
        buffer holds enough).
        """
        lo = float("-inf") if since is None else since
        hi = float("inf") if until is None else until
        out: list[MetricPoint] = []
        with self._lock:
            i, j = self._raw_range(lo, hi)
            if limit is not None:
                i = max(i, j - limit)
            if limit is None or j - i < limit:
                raw_start = (self._base_ms + self._offsets[0]) / 1000 if self._offsets else float("inf")
                minute_start = self._minutes.start[0] if self._minutes.start else raw_start
                for tier, end in ((self._hours, minute_start), (self._minutes, raw_start)):
                    a, b = (
                        bisect_left(tier.start, lo),
                        bisect_right(tier.start, min(hi, math.nextafter(end, -math.inf))),
                    )
                    out.extend(
                        MetricPoint(tier.start[k], tier.sum[k] / tier.count[k], int(tier.count[k])) for k in range(a, b)
                    )
            base = self._base_ms
            out.extend(
                MetricPoint((base + o) / 1000, v) for o, v in zip(self._offsets[i:j], self._values[i:j], strict=True)
            )
        return out if limit is None else out[-limit:]

    def _raw_range(self, lo: float, hi: float) -> tuple[int, int]:
        base = self._base_ms
        i = bisect_left(self._offsets, max(0, int(lo * 1000) - base)) if lo != float("-inf") else 0
        j = len(self._offsets) if hi == float("inf") else bisect_right(self._offsets, max(-1, int(hi * 1000) - base))
        return i, j

    def window_values(self, lo: float, hi: float) -> tuple[array[float], list[Bucket], MetricPoint | None]:
        """Raw values in ``[lo, hi]``, the (min, max, sum, count) of rolled-up buckets in it, and its newest point."""
        _, _, _, raw, buckets, latest = self._window(lo, hi)
        return raw, buckets, latest

    def _window(
        self, lo: float, hi: float
    ) -> tuple[int, array[int], int, array[float], list[Bucket], MetricPoint | None]:
        """One consistent read of ``[lo, hi]``: first raw index, raw offsets, base, raw values, buckets, newest."""
        with self._lock:
            i, j = self._raw_range(lo, hi)
            offsets, raw, base = self._offsets[i:j], self._values[i:j], self._base_ms
            latest = MetricPoint((base + offsets[-1]) / 1000, raw[-1]) if raw else None
            buckets: list[Bucket] = []
            if i == 0:  # the window reaches past the raw buffer
                raw_start = (base + self._offsets[0]) / 1000 if self._offsets else hi
                for tier in (self._hours, self._minutes):
                    a, b = (
                        bisect_left(tier.start, lo),
                        bisect_right(tier.start, min(hi, math.nextafter(raw_start, -math.inf))),
                    )
                    buckets.extend(zip(tier.min[a:b], tier.max[a:b], tier.sum[a:b], tier.count[a:b], strict=True))
                    if latest is None and b > a:
                        k = b - 1
                        latest = MetricPoint(tier.start[k], tier.sum[k] / tier.count[k], int(tier.count[k]))
            return i, offsets, base, raw, buckets, latest

    def summary(self, lo: float, hi: float, limit: int) -> tuple[list[tuple[float, float]], WindowStats | None]:
        """At most ``limit`` points of ``[lo, hi]`` for a chart (bucket means) plus the window's statistics.

        Built from array slices without one Python object per stored point, so a day of data stays cheap.
        """
        i, offsets, base, raw, buckets, latest = self._window(lo, hi)  # values and offsets from one read
        if not len(offsets):
            older = self.points(lo, hi)
        elif i == 0:  # the window reaches into rolled-up history
            older = self.points(lo, min(hi, (base + offsets[0] - 1) / 1000))  # up to 1 ms before the raw buffer
        else:
            older = []
        head = [(p.timestamp, p.value) for p in older]
        n = len(raw)
        room = max(limit - len(head), 1)
        if n <= room:
            tail = [((base + o) / 1000, v) for o, v in zip(offsets, raw, strict=True)]
        else:
            step = n / room
            edges = [int(k * step) for k in range(room)] + [n]
            tail = [  # a bucket's mean value, at its middle sample's time
                ((base + offsets[(a + b) // 2]) / 1000, sum(raw[a:b]) / (b - a)) for a, b in pairwise(edges) if b > a
            ]
        if len(head) > limit // 2:
            step = len(head) / (limit // 2)
            head = [head[int(k * step)] for k in range(limit // 2)]
        count = n + int(sum(b[3] for b in buckets))
        if not count or latest is None:
            return head + tail, None
        total = sum(raw) + sum(b[2] for b in buckets)
        low = min(min(raw, default=math.inf), min((b[0] for b in buckets), default=math.inf))
        high = max(max(raw, default=-math.inf), max((b[1] for b in buckets), default=-math.inf))
        nan = math.nan
        return head + tail, WindowStats(count, total, low, high, latest.value, latest.timestamp, nan, nan, nan)

    def nbytes(self) -> int:
        """Bytes held by this series' buffers."""
        return (
            self._offsets.buffer_info()[1] * 4
            + self._values.buffer_info()[1] * 8
            + self._minutes.nbytes()
            + self._hours.nbytes()
        )


def series_sort_key(s: Series) -> tuple[str, str]:
    """The order of series: by name, then by the text of their attributes (values of mixed types do not compare)."""
    return s.name, repr(s.key)
