"""OTLP export that a dead or hanging collector cannot turn against the agent.

The official OTLP exporters already retry with backoff inside one export call, bounded by their timeout.
What they do not do is remember that the collector is down: every batch would wait out the full timeout
again, and shutdown would too. `GuardedSpanExporter`, `GuardedMetricExporter` and
`GuardedLogExporter` wrap them with a circuit breaker (after a failed export, batches are dropped at
once, counted, until a retry time that doubles from 1 s to 60 s; the first export after it probes the
collector and closes the circuit on success, so export resumes without a restart) and keep the counters
that ``/api/monitoring`` shows.

`CountingBatchSpanProcessor` and `CountingBatchLogRecordProcessor` are the SDK's batch processors
plus a count of the items their bounded queue pushed out (the SDK drops the oldest item when the queue is full
and only logs it, once per item).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from zgen_otel._fork import abandon, fork_safe_lock
from zgen_otel._sdk import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
    ReadWriteLogRecord,
    batch_queue,
    exporter_preferences,
)
from zgen_otel._util import RateLimitedLogger

__all__ = [
    "Collector",
    "CountingBatchLogRecordProcessor",
    "CountingBatchSpanProcessor",
    "ExportHealth",
    "GuardedLogExporter",
    "GuardedMetricExporter",
    "GuardedSpanExporter",
    "fold_exporter_logs",
    "redact_exporter_logs",
]

_warn = RateLimitedLogger(logging.getLogger(__name__), interval=60.0)
MIN_BACKOFF = 1.0
MAX_BACKOFF = 60.0


class Collector:
    """Whether one collector (host and port) is known to be unreachable: shared by the signals sent to it.

    When one signal's export finds nothing listening there (connection refused, timed out), the others drop
    their batches at once too, until that signal's retry time, instead of each waiting out its own timeout.
    A refusal of one signal alone (an HTTP or gRPC status) stays that signal's.
    """

    def __init__(self) -> None:
        self.down_until = 0.0  # time.monotonic() before which every signal's batches are dropped


def _unreachable(reason: str | None) -> bool:
    """Whether an export failure's reason (see `_reason`) says nothing answered at the collector's address."""
    if reason is None:
        return False
    if reason.startswith(("HTTP ", "gRPC ")):
        return reason in ("gRPC UNAVAILABLE", "gRPC DEADLINE_EXCEEDED")
    return reason[:1].islower()  # a system error: connection refused, timed out, no route to host...


class ExportHealth:
    """Counters and the circuit state of one exporter (thread-safe).

    Args:
        signal: ``metrics``, ``traces`` or ``logs``.
        target: the protocol and URL it sends to, as shown.
        collector: shared with the other signals sent to the same collector (a fresh one when not given).
    """

    def __init__(self, signal: str, target: str, collector: Collector | None = None) -> None:
        self.signal = signal
        self.target = target
        self.collector = collector if collector is not None else Collector()
        self.exported = 0  # items the collector accepted
        self.failed = 0  # items in exports that failed
        self.dropped = 0  # items never sent: circuit open, or pushed out of a full queue
        self.consecutive_failures = 0
        self.last_result: str | None = None
        self.last_error: str | None = None
        self.last_success_at: float | None = None
        self.last_attempt_at: float | None = None
        self.retry_at = 0.0  # time.monotonic() before which batches are dropped
        self._lock = fork_safe_lock()

    def should_try(self, items: int) -> bool:
        """Whether to send now; when the circuit is open, count the items as dropped and say no."""
        with self._lock:
            if time.monotonic() >= max(self.retry_at, self.collector.down_until):
                return True
            self.dropped += items
            return False

    def record(self, items: int, ok: bool, error: str | None = None) -> None:
        """Account for one export attempt of ``items`` items and move the circuit."""
        now = time.time()
        with self._lock:
            self.last_attempt_at = now
            if ok:
                self.exported += items
                self.consecutive_failures = 0
                self.retry_at = self.collector.down_until = 0.0
                self.last_result, self.last_error, self.last_success_at = "success", None, now
                return
            self.failed += items
            self.consecutive_failures += 1
            backoff = min(MAX_BACKOFF, MIN_BACKOFF * 2 ** (self.consecutive_failures - 1))
            self.retry_at = time.monotonic() + backoff
            if _unreachable(error):
                self.collector.down_until = max(self.collector.down_until, self.retry_at)
            self.last_result, self.last_error = "failure", error or "export failed"
        _warn.warning(
            f"export-{self.signal}-{self.target}",
            "zgen_otel: exporting %s to %s failed (%s); dropping %s until a retry in %.0f s",
            self.signal, self.target, self.last_error, self.signal, backoff,
        )  # fmt: skip

    def add_dropped(self, items: int) -> None:
        """Count items lost before an export (a full queue)."""
        with self._lock:
            self.dropped += items

    def snapshot(self) -> dict[str, Any]:
        """The counters as a JSON-ready dict (``circuit`` is ``open`` while batches are being dropped)."""
        with self._lock:
            return {
                "target": self.target,
                "last_result": self.last_result,
                "last_error": self.last_error,
                "last_success_at": self.last_success_at,
                "last_attempt_at": self.last_attempt_at,
                "exported": self.exported,
                "failed": self.failed,
                "dropped": self.dropped,
                "consecutive_failures": self.consecutive_failures,
                "circuit": "open" if time.monotonic() < max(self.retry_at, self.collector.down_until) else "closed",
            }


# Loggers of the official exporters (and what they call) that may quote a URL or a header value.
_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.util.re",
    "urllib3.connectionpool",
)


class _RedactSecrets(logging.Filter):
    """Replace known secret strings in log records with ``<redacted>`` (the record is kept, not dropped)."""

    def __init__(self) -> None:
        super().__init__("zgen_otel.redact")
        self.secrets: tuple[str, ...] = ()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's to report
            return True
        clean = self._scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        return True

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return text


_redactor = _RedactSecrets()

_ERRNO = re.compile(r"\[Errno -?\d+\] ([A-Za-z][A-Za-z ]+)")
_GRPC_CODE = re.compile(r"StatusCode\.([A-Z_]+)")
_HTTP_CODE = re.compile(r"batch code: (\d{3})")


def _reason(message: str) -> str | None:
    """A few words on why an export failed, from an official exporter's log line, or None when it says none.

    The system's error (``connection refused``), the gRPC status (``gRPC UNAVAILABLE``) or the HTTP status.
    """
    lowered = message.lower()
    if "connection refused" in lowered:
        return "connection refused"
    for pattern, form in ((_ERRNO, "{}"), (_GRPC_CODE, "gRPC {}"), (_HTTP_CODE, "HTTP {}")):
        found = pattern.search(message)
        if found:
            return form.format(found.group(1).strip().lower() if pattern is _ERRNO else found.group(1))
    return "timed out" if "timed out" in lowered or "deadline exceeded" in lowered else None


class _FoldExporterLogs(logging.Filter):
    """Keep the official exporters' own lines about a failing export out of the logs while zgen_otel exports.

    They log every retry (``Transient error ... retrying in 1.00s``) and then the failure, per signal and
    batch, some with a traceback; zgen_otel accounts for the failure itself (`ExportHealth`, shown by
    ``/api/monitoring``, and one warning per signal a minute). While a guarded export runs on a thread,
    this filter drops those records of that thread and keeps the reason they give for that warning.
    """

    def __init__(self) -> None:
        super().__init__("zgen_otel.fold")
        self._local = threading.local()

    @contextlib.contextmanager
    def folding(self) -> Iterator[list[str]]:
        """While in the block, this thread's exporter warnings and errors are dropped; yields their reasons."""
        reasons: list[str] = []
        self._local.reasons = reasons
        try:
            yield reasons
        finally:
            self._local.reasons = None

    def filter(self, record: logging.LogRecord) -> bool:
        reasons: list[str] | None = getattr(self._local, "reasons", None)
        if reasons is None or record.levelno < logging.WARNING:
            return True
        try:
            reason = _reason(record.getMessage())
        except Exception:  # a malformed record: dropped all the same
            reason = None
        if reason is not None:
            reasons.append(reason)
        return False


_folder = _FoldExporterLogs()


def redact_exporter_logs(secrets: Sequence[str]) -> None:
    """Keep ``secrets`` (header values, URL credentials and query values) out of the exporters' own logs.

    The official exporters log failing URLs with their query string and, on a header they cannot parse, the
    raw ``OTEL_EXPORTER_OTLP_HEADERS`` value. A filter on their loggers replaces each secret (as given and
    URL-encoded) with ``<redacted>``.
    """
    from urllib.parse import quote, quote_plus

    found = {form for secret in secrets if len(secret) >= 3 for form in (secret, quote(secret), quote_plus(secret))}
    _redactor.secrets = tuple(sorted(found, key=len, reverse=True))
    _add_filter(_redactor)


def fold_exporter_logs() -> None:
    """Keep the official exporters' lines about failing exports out of the logs while a guarded exporter exports.

    The failure is counted and warned about once a minute per signal and target, with the reason they gave.
    """
    _add_filter(_folder)


def _add_filter(wanted: logging.Filter) -> None:
    """Put ``wanted`` first among the filters of every exporter logger.

    First: before the SDK's duplicate filter, which would drop a repeated failure line before its reason is seen.
    """
    for name in _EXPORTER_LOGGERS:
        logger = logging.getLogger(name)
        if wanted not in logger.filters:
            logger.filters.insert(0, wanted)


def _describe(exc: BaseException) -> str:
    """A short, secret-free description of an export error: its type only (messages may carry headers)."""
    return type(exc).__name__


class _Guarded:
    """The circuit breaker and counters shared by the span, metric and log exporter wrappers."""

    def _connect(self, make: Callable[[], Any], health: ExportHealth) -> None:
        self._make = make
        self.inner = make()
        self.health = health

    def after_fork_in_child(self) -> None:
        """Build a fresh OTLP exporter: the inherited one's connection belongs to the parent."""
        abandon(self.inner)
        self.inner = self._make()

    def _send(self, items: int, send: Callable[[], Any], success: Any, failure: Any) -> Any:
        """Run ``send()`` unless the circuit is open; account for the attempt either way."""
        if not self.health.should_try(items):
            return failure
        with _folder.folding() as reasons:
            try:
                result = send()
            except Exception as exc:  # an exporter bug must not reach the SDK's worker thread either
                self.health.record(items, False, _describe(exc))
                return failure
        self.health.record(items, result is success, reasons[0] if reasons else None)
        return result


class _GuardedBatch(_Guarded):
    """A span or log exporter wrapper: both export a sequence and answer with their class's result enum."""

    _SUCCESS: Any
    _FAILURE: Any

    def __init__(self, make: Callable[[], Any], health: ExportHealth) -> None:
        self._connect(make, health)

    def export(self, batch: Sequence[Any]) -> Any:
        """Send the batch unless the collector is known to be down (then drop and count it)."""
        return self._send(len(batch), lambda: self.inner.export(batch), self._SUCCESS, self._FAILURE)

    def shutdown(self) -> None:
        """Shut the wrapped exporter down."""
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Flush the wrapped exporter."""
        return bool(self.inner.force_flush(timeout_millis))


class GuardedSpanExporter(_GuardedBatch, SpanExporter):
    """An OTLP span exporter behind a circuit breaker, with counters in `health`."""

    _SUCCESS, _FAILURE = SpanExportResult.SUCCESS, SpanExportResult.FAILURE


class GuardedLogExporter(_GuardedBatch, LogRecordExporter):
    """An OTLP log exporter behind a circuit breaker, with counters in `health`."""

    _SUCCESS, _FAILURE = LogRecordExportResult.SUCCESS, LogRecordExportResult.FAILURE


class GuardedMetricExporter(_Guarded, MetricExporter):
    """An OTLP metric exporter behind a circuit breaker, with counters in `health`.

    It keeps the wrapped exporter's temporality and aggregation preferences (``OTEL_EXPORTER_OTLP_METRICS_*``).
    """

    def __init__(self, make: Callable[[], MetricExporter], health: ExportHealth) -> None:
        self._connect(make, health)
        temporality, aggregation = exporter_preferences(self.inner)
        MetricExporter.__init__(self, preferred_temporality=temporality, preferred_aggregation=aggregation)

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        """Send the points unless the collector is known to be down (then drop and count them)."""
        n = sum(
            len(metric.data.data_points)
            for rm in metrics_data.resource_metrics
            for sm in rm.scope_metrics
            for metric in sm.metrics
        )
        result: MetricExportResult = self._send(
            n,
            lambda: self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs),
            MetricExportResult.SUCCESS,
            MetricExportResult.FAILURE,
        )
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Flush the wrapped exporter."""
        return bool(self.inner.force_flush(timeout_millis))

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Shut the wrapped exporter down."""
        self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)


class _CountingQueue:
    """Counts what the SDK's bounded batch queue pushes out, for the span and the log batch processors alike.

    Both wrap the SDK's ``BatchProcessor``, which, when its queue is full, drops the oldest item uncounted and
    logs a warning for every one on the caller's thread (a log record built and filtered each time, microseconds;
    the SDK's duplicate filter passes one per 20 s to the root logger's handlers, zgen_otel's log capture
    included). The oldest is removed here first instead, counted in ``health.dropped``, so the SDK finds room
    and stays quiet.
    """

    health: ExportHealth

    def _watch_queue(self, health: ExportHealth) -> None:
        self.health = health
        self._queue, self._capacity = batch_queue(self)  # (None, 0) where the SDK's queue cannot be reached

    def _drop_oldest(self) -> None:
        """Called when the queue is full (``len(self._queue) >= self._capacity``, checked inline by the caller)."""
        with contextlib.suppress(IndexError):  # the exporter may have emptied it meanwhile
            self._queue.pop()  # the SDK appends on the left: the oldest is on the right
        self.health.add_dropped(1)


class CountingBatchSpanProcessor(_CountingQueue, BatchSpanProcessor):
    """The SDK's batch span processor; spans its full queue pushes out are counted in ``health.dropped``."""

    def __init__(self, exporter: GuardedSpanExporter, *, max_queue_size: int | None = None) -> None:
        super().__init__(exporter, max_queue_size=max_queue_size)
        self._watch_queue(exporter.health)

    def on_end(self, span: ReadableSpan) -> None:
        """Queue the span for export (the SDK queues sampled spans only); a full queue loses its oldest, counted.

        ``span.context`` costs more than the queue check, so it is read only when the queue is full.
        """
        queue = self._queue
        if queue is not None and len(queue) >= self._capacity and span.context and span.context.trace_flags.sampled:
            self._drop_oldest()
        super().on_end(span)


class CountingBatchLogRecordProcessor(_CountingQueue, BatchLogRecordProcessor):
    """The SDK's batch log record processor; records its full queue pushes out are counted in ``health.dropped``."""

    def __init__(self, exporter: GuardedLogExporter, *, max_queue_size: int | None = None) -> None:
        super().__init__(exporter, max_queue_size=max_queue_size)
        self._watch_queue(exporter.health)

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        """Queue the record for export; a full queue loses its oldest, counted."""
        queue = self._queue
        if queue is not None and len(queue) >= self._capacity:
            self._drop_oldest()
        super().on_emit(log_record)
