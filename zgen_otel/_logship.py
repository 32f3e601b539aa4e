"""The OTLP export of captured log records, built off the logging thread.

Log capture (``_capture``) queues what it keeps of each record; `LogShipper` drains that queue on its own
thread every half second (and before a flush), turns each entry into an OTel log record (the same fields the
OTel logging handler of ``opentelemetry-instrumentation-logging`` sets) and emits it on the runtime's
``LoggerProvider``, whose batch processor sends it with the official OTLP exporter.

When another OpenTelemetry logging handler sits on the root logger (``opentelemetry-instrument`` installs one),
that handler already exports every record the program's logging passes on: the shipper then drops its queue
instead of sending each record a second time, and says so once.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import LogRecord
from opentelemetry.instrumentation.log_utils import std_to_otel

from zgen_otel._capture import other_otel_handler
from zgen_otel._drainer import Drainer
from zgen_otel._export import ExportHealth
from zgen_otel._records import SEVERITY_TEXT, CapturedLog
from zgen_otel._ring import Ring
from zgen_otel._sdk import LoggerProvider
from zgen_otel._util import RateLimitedLogger

__all__ = ["LogShipper"]

_log = logging.getLogger(__name__)
_warn = RateLimitedLogger(_log)
QUEUE = 20_000  # captured records waiting for the shipper before the oldest are dropped (counted)
_EVENT_NAMES = ("otel.event.name", "event.name")  # promoted to the record's event name, as the OTel handler does
_MAX_LOGGERS = 1000  # OTel loggers kept by logger name


class LogShipper(Drainer):
    """Turns captured records into OTel log records on ``provider``, on a background thread.

    Args:
        provider: the runtime's ``LoggerProvider`` (its processors export).
        health: the export counters of the log exporter (records pushed out of the queue count as dropped).
    """

    def __init__(self, provider: LoggerProvider, health: ExportHealth) -> None:
        self.provider = provider
        self.health = health
        self.outbox: Ring[CapturedLog] = Ring(QUEUE)  # capture appends; a record pushed out is counted
        self._dropped_seen = 0
        self.delegated = False  # whether another OTel handler on the root exports the records
        self._loggers: dict[str, Any] = {}
        super().__init__("zgen-otel-logs", _warn, "zgen_otel: exporting captured log records failed")

    def drain(self) -> None:
        """Emit every queued record on the provider now (or drop them all, when another OTel handler exports)."""
        queue = self.outbox.items
        with self._lock:
            dropped = self.outbox.dropped
            if dropped != self._dropped_seen:
                self.health.add_dropped(dropped - self._dropped_seen)
                self._dropped_seen = dropped
            if not queue:
                return
            if self._delegate():
                queue.clear()
                return
            emit = self._emit
            while queue:
                emit(queue.popleft())

    def _delegate(self) -> bool:
        """Whether another OpenTelemetry logging handler on the root logger exports the records (said once)."""
        other = other_otel_handler()
        if other is not None and not self.delegated:
            _log.info(
                "zgen_otel: the OpenTelemetry logging handler %s on the root logger exports log records "
                "(opentelemetry-instrument installs it); zgen_otel keeps them for its local view and does not "
                "send them a second time",
                type(other).__module__,
            )
        self.delegated = other is not None
        return self.delegated

    def _emit(self, entry: CapturedLog) -> None:
        """Emit one captured record as an OTel log record."""
        logger = self._loggers.get(entry.logger)
        if logger is None:
            if len(self._loggers) >= _MAX_LOGGERS:
                self._loggers.clear()
            logger = self._loggers[entry.logger] = self.provider.get_logger(entry.logger)
        attributes = entry.attributes
        event_name = None
        if attributes is not None and any(key in attributes for key in _EVENT_NAMES):
            attributes = dict(attributes)
            names = [attributes.pop(key, None) for key in _EVENT_NAMES]
            event_name = next((str(name) for name in names if name is not None), None)
        span = entry.span
        context = trace.set_span_in_context(trace.NonRecordingSpan(span)) if span is not None else None
        ns = int(entry.time * 1e9)
        logger.emit(
            LogRecord(
                timestamp=ns,
                observed_timestamp=ns,
                context=context,
                severity_text=SEVERITY_TEXT.get(entry.levelname, entry.levelname),
                severity_number=std_to_otel(entry.levelno),
                body=entry.message,
                attributes=attributes,
                event_name=event_name,
            )
        )

    def clear_queue(self) -> None:
        """Forget the queued records (a forked child's copy: the parent exports them)."""
        self.outbox.items.clear()
