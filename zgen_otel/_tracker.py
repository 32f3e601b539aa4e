"""Per-operation statistics of tracked calls and the worker that turns call timings into OTel metrics.

``performance`` queues one ``(operation, start_ns, end_ns, error_type, outcome)`` tuple per tracked call;
`PerformanceTracker` drains that queue on its own thread (and before every read), records the
duration histogram and the call counter, and keeps per-operation statistics.
"""

from __future__ import annotations

import collections
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from opentelemetry import trace
from opentelemetry.metrics import Meter

from zgen_otel import semconv
from zgen_otel._drainer import Drainer
from zgen_otel._stats import QUANTILES, bucket_quantile, nearest_rank
from zgen_otel._util import RateLimitedLogger

__all__ = [
    "CANCELLED",
    "DURATION_BUCKETS",
    "ERROR",
    "OVERFLOW_OPERATION",
    "SUCCESS",
    "GenAIOperation",
    "OperationStats",
    "Outcome",
    "PerformanceTracker",
]

_warn = RateLimitedLogger(logging.getLogger(__name__))

#: Advisory bucket boundaries (seconds) of ``zgen.operation.duration``: function timings, 0.5 ms to 60 s.
DURATION_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
_RECENT = 10_000  # timings kept per operation for windowed statistics
_QUEUE = 1_000_000  # pending timings before the oldest are dropped (counted)
#: The operation that calls of operations past ``max_operations`` are counted under (like the SDK's overflow series).
OVERFLOW_OPERATION = "_OTHER"
#: The attribute the OTel SDK puts on the overflow point of a metric stream; on the overflow operation's points too.
OVERFLOW_ATTRIBUTE = "otel.metric.overflow"


class Outcome(str, Enum):
    """How a tracked call ended: the value of its ``zgen.operation.outcome`` attribute."""

    SUCCESS = "success"
    ERROR = "error"
    CANCELLED = "cancelled"


SUCCESS, ERROR, CANCELLED = Outcome.SUCCESS, Outcome.ERROR, Outcome.CANCELLED


class GenAIOperation(str):
    """The name of an operation that is GenAI agent or tool work, carrying its GenAI duration metric.

    A ``str`` (the operation and span name) that also says which ``gen_ai.*.duration`` histogram its calls go
    to, with which attributes: what ``track_agent``/``track_tool`` decorate with, so no registry outlives a
    runtime.
    """

    __slots__ = ("attributes", "metric")
    metric: semconv.MetricSpec
    attributes: dict[str, str]

    def __new__(cls, name: str, metric: semconv.MetricSpec, attributes: dict[str, str]) -> GenAIOperation:
        """Build the name ``name`` whose calls also go to the histogram ``metric`` with ``attributes``."""
        self = super().__new__(cls, name)
        self.metric = metric
        self.attributes = attributes
        return self


def _error(error_type: str | None) -> dict[str, str]:
    return {} if error_type is None else {"error.type": error_type}


@dataclass(frozen=True)
class OperationStats:
    """Statistics of one tracked operation, over the whole run or a recent window (durations in seconds).

    Attributes:
        name: the operation name.
        calls: calls finished.
        errors: calls that raised (``BaseException`` s other than ``Exception`` only with ``count_base_exceptions``).
        error_rate: ``errors / calls`` (0 when there were no calls).
        cancelled: calls ended by a ``BaseException`` not counted as an error (``KeyboardInterrupt``, cancellation).
        mean: the mean duration, or None with no calls.
        min: the shortest duration, or None.
        max: the longest duration, or None.
        p50: the median duration, or None.
        p95: the 95th percentile duration, or None.
        p99: the 99th percentile duration, or None.
        calls_per_minute: the call rate over the run or the window.
        last_call: when the last call ended (Unix seconds), or None.
        window_seconds: the window the statistics cover; None: the whole run.
    """

    name: str
    calls: int
    errors: int
    error_rate: float
    cancelled: int
    mean: float | None
    min: float | None
    max: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    calls_per_minute: float
    last_call: float | None
    window_seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        """Convert the statistics for JSON.

        Returns:
            The fields as a dict.
        """
        return asdict(self)


class _Operation:
    """Running statistics of one operation; updated only by the tracker's drain, under its lock."""

    __slots__ = ("buckets", "calls", "cancelled", "errors", "first", "last", "max", "min", "name", "recent", "total")

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = self.errors = self.cancelled = 0
        self.total = 0.0
        self.min = math.inf
        self.max = 0.0
        self.first: float | None = None
        self.last: float | None = None
        self.buckets = [0] * (len(DURATION_BUCKETS) + 1)
        self.recent: collections.deque[tuple[float, float, Outcome]] = collections.deque(maxlen=_RECENT)

    def add(self, end: float, duration: float, outcome: Outcome) -> None:
        self.calls += 1
        if outcome == ERROR:
            self.errors += 1
        elif outcome == CANCELLED:
            self.cancelled += 1
        self.total += duration
        self.min = min(self.min, duration)
        self.max = max(self.max, duration)
        if self.first is None:
            self.first = end - duration
        self.last = end
        self.buckets[_bucket_index(duration)] += 1
        self.recent.append((end, duration, outcome))

    def snapshot(self, now: float, window: float | None) -> OperationStats:
        pct: list[float | None] = [None, None, None]
        if window is None:
            calls, errors, cancelled = self.calls, self.errors, self.cancelled
            mean = self.total / calls if calls else None
            lo, hi = (self.min, self.max) if calls else (None, None)
            if calls and calls == len(self.recent):  # every call is still in the recent buffer: exact
                ordered = sorted(r[1] for r in self.recent)
                pct = [nearest_rank(ordered, q) for q in QUANTILES]
            elif calls:  # interpolated from the histogram buckets, like PromQL's histogram_quantile
                pct = [bucket_quantile(self.buckets, DURATION_BUCKETS, q, self.max) for q in QUANTILES]
            # since the first call, counting a minute at least: 60 calls in the first 5 s are 60 a minute, as
            # the throughput chart (calls in the minute up to each point) says, not 720
            span = max(now - (self.first or now), 60.0)
        else:
            rows = [r for r in self.recent if r[0] >= now - window]
            calls = len(rows)
            errors = sum(1 for r in rows if r[2] == ERROR)
            cancelled = sum(1 for r in rows if r[2] == CANCELLED)
            durations = sorted(r[1] for r in rows)
            mean = sum(durations) / calls if calls else None
            lo, hi = (durations[0], durations[-1]) if calls else (None, None)
            if calls:
                pct = [nearest_rank(durations, q) for q in QUANTILES]
            span = window
        return OperationStats(
            name=self.name,
            calls=calls,
            errors=errors,
            error_rate=errors / calls if calls else 0.0,
            cancelled=cancelled,
            mean=mean,
            min=lo,
            max=hi,
            p50=pct[0],
            p95=pct[1],
            p99=pct[2],
            calls_per_minute=calls * 60.0 / span,
            last_call=self.last,
            window_seconds=window,
        )


def _bucket_index(duration: float) -> int:
    for i, bound in enumerate(DURATION_BUCKETS):
        if duration <= bound:
            return i
    return len(DURATION_BUCKETS)


class PerformanceTracker(Drainer):
    """The tracking state of one runtime: tracer, instruments, the timing queue and the statistics."""

    def __init__(
        self, tracer: trace.Tracer, meter: Meter, clock: Callable[[], float] = time.time, max_operations: int = 2000
    ) -> None:
        self.tracer = tracer
        self.clock = clock
        # Call start/end times (ns) follow the runtime's clock, so a test clock moves durations and windows too.
        self.time_ns: Callable[[], int] = time.time_ns if clock is time.time else lambda: round(clock() * 1e9)
        duration, calls = semconv.OPERATION_DURATION, semconv.OPERATION_CALLS
        self._duration = meter.create_histogram(
            duration.name,
            unit=duration.unit,
            description=duration.description,
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self._calls = meter.create_counter(calls.name, unit=calls.unit, description=calls.description)
        self.queue: collections.deque[tuple[str, int, int, str | None, Outcome]] = collections.deque(maxlen=_QUEUE)
        self.dropped = 0
        self.max_operations = max_operations
        self.overflow_calls = 0  # calls of operations past max_operations, counted under OVERFLOW_OPERATION
        self._ops: dict[str, _Operation] = {}
        self._attr_cache: dict[tuple[str, Outcome, str | None], dict[str, Any]] = {}
        self._meter = meter
        self._genai: dict[str, Any] = {}
        super().__init__("zgen-otel-performance", _warn, "zgen_otel: processing tracked calls failed")

    def drain(self) -> None:
        """Turn queued timings into metrics and statistics.

        Returns once every timing queued before the call is in them, also those the background worker took from
        the queue and is still recording (hence the lock even when the queue looks empty).
        """
        queue = self.queue
        with self._lock:
            record = self._duration.record
            counts: dict[tuple[str, Outcome, str | None], int] = {}
            while queue:
                name, start_ns, end_ns, error_type, outcome = queue.popleft()
                duration = (end_ns - start_ns) / 1e9
                op = self._ops.get(name) or self._new_operation(name)
                key = (op.name, outcome, error_type)
                counts[key] = counts.get(key, 0) + 1
                record(duration, self._attributes(key))
                op.add(end_ns / 1e9, duration, outcome)
                if type(name) is GenAIOperation:
                    self._genai_histogram(name.metric).record(duration, {**name.attributes, **_error(error_type)})
            for key, n in counts.items():  # one counter update per attribute set, not per call
                self._calls.add(n, self._attributes(key))

    def _new_operation(self, name: str) -> _Operation:
        """The statistics of an operation seen for the first time, or past ``max_operations`` the overflow one."""
        ops = self._ops
        if len(ops) - (OVERFLOW_OPERATION in ops) < self.max_operations:
            ops[name] = _Operation(name)
            return ops[name]
        self.overflow_calls += 1
        _warn.warning(
            "operations-cap",
            "zgen_otel tracks max_operations=%d operations; calls of further ones (e.g. %r) are counted under %r",
            self.max_operations,
            name[:200],
            OVERFLOW_OPERATION,
        )
        if OVERFLOW_OPERATION not in ops:
            ops[OVERFLOW_OPERATION] = _Operation(OVERFLOW_OPERATION)
        return ops[OVERFLOW_OPERATION]

    def _genai_histogram(self, spec: semconv.MetricSpec) -> Any:
        histogram = self._genai.get(spec.name)
        if histogram is None:
            histogram = self._genai[spec.name] = self._meter.create_histogram(
                spec.name, unit=spec.unit, description=spec.description
            )
        return histogram

    def _attributes(self, key: tuple[str, Outcome, str | None]) -> dict[str, Any]:
        """The metric attributes of (operation, outcome, error type), built once and reused."""
        attrs = self._attr_cache.get(key)
        if attrs is None:
            name, outcome, error_type = key
            attrs = {"zgen.operation.name": str(name), "zgen.operation.outcome": Outcome(outcome).value}
            if name == OVERFLOW_OPERATION:
                attrs[OVERFLOW_ATTRIBUTE] = True
            if error_type is not None:
                attrs["error.type"] = error_type
            self._attr_cache[key] = attrs
        return attrs

    def stats(self, window_seconds: float | None = None) -> dict[str, OperationStats]:
        """Statistics per operation (whole run, or the last ``window_seconds``)."""
        self.drain()
        now = self.clock()
        with self._lock:
            return {name: op.snapshot(now, window_seconds) for name, op in sorted(self._ops.items())}

    def buckets(self, window_seconds: float | None = None) -> dict[str, list[int]]:
        """Calls per duration bucket (`DURATION_BUCKETS`, then longer) per operation: whole run or window."""
        self.drain()
        since = None if window_seconds is None else self.clock() - window_seconds
        with self._lock:
            if since is None:
                return {name: list(op.buckets) for name, op in self._ops.items()}
            out = {}
            for name, op in self._ops.items():
                counts = [0] * (len(DURATION_BUCKETS) + 1)
                for end, duration, _ in op.recent:
                    if end >= since:
                        counts[_bucket_index(duration)] += 1
                out[name] = counts
            return out

    def timings(self, since: float) -> dict[str, list[tuple[float, float, Outcome]]]:
        """Per operation, its recent calls that ended at ``since`` or later: (end time, seconds, outcome), oldest first.

        Only the calls the windowed statistics keep (the last 10,000 per operation); the dashboards draw them over time.
        """
        self.drain()
        with self._lock:
            return {name: [r for r in op.recent if r[0] >= since] for name, op in self._ops.items()}

    def clear_queue(self) -> None:
        """Forget the queued timings (a forked child's copy: the parent processes them)."""
        self.queue.clear()
