"""Python ``logging`` records in the local view and over OTLP, with the active trace and span ids.

The runtime owns an OTel ``LoggerProvider``. Unless ``ZGEN_OTEL_CAPTURE_LOGS=false``, the handler of
``opentelemetry-instrumentation-logging`` (the OTel project's replacement for the SDK's deprecated one) sits
on the root logger at ``ZGEN_OTEL_LOG_LEVEL`` (default INFO), so every logger that propagates to the root is
captured: each record becomes an OTel log record carrying the current trace and span ids. A bounded ring
(``ZGEN_OTEL_MAX_LOGS``, default 5,000; oldest dropped first, counted) keeps them for the local view, and the
official OTLP log exporter ships them when an endpoint is configured. Alert state changes are logged by
``zgen_otel.alerting`` (fired, acknowledged, resolved), so they appear here too::

    from zgen_otel.logs import get_recent_logs

    for record in get_recent_logs(min_level="WARNING", contains="timeout", limit=20):
        print(record["time"], record["level"], record["logger"], record["message"], record["trace_id"])
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation.logging.handler import LoggingHandler

from zgen_otel import _current
from zgen_otel._buffers import LogBuffer
from zgen_otel._records import hex_id, record_level, record_logger, record_time, record_to_dict
from zgen_otel._util import safe_repr
from zgen_otel._validate import check_choice, check_limit, check_number, check_text
from zgen_otel.config import LOG_LEVELS

if TYPE_CHECKING:
    from zgen_otel._runtime import Runtime

__all__ = ["LEVELS", "LogBuffer", "get_recent_logs", "log_buffer_stats"]

#: Python's level number of each level name ``ZGEN_OTEL_LOG_LEVEL`` accepts.
LEVELS: dict[str, int] = {name: logging.getLevelName(name) for name in LOG_LEVELS}
MAX_LIMIT = 1000


def _in_logger(logger_name: str, name: str) -> bool:
    """Whether ``logger_name`` is the logger ``name`` or one of its children."""
    return logger_name == name or logger_name.startswith(name + ".")


def _buffer(runtime: Runtime | None) -> LogBuffer | None:
    """The log buffer of ``runtime`` (the current runtime when None)."""
    return (runtime or _current.get_runtime()).log_buffer


def _level_floor(min_level: object) -> int:
    """The lowest level number a ``min_level`` filter lets through."""
    if min_level is None:
        return 0
    if isinstance(min_level, str):
        return LEVELS[check_choice("min_level", min_level.upper(), LEVELS, shown=min_level)]
    if isinstance(min_level, int) and not isinstance(min_level, bool):
        return min_level
    raise TypeError(f"min_level must be a level name, a logging level number or None; got {safe_repr(min_level)}")


def get_recent_logs(
    min_level: str | int | None = None,
    logger: str | None = None,
    contains: str | None = None,
    trace_id: str | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int = 100,
    *,
    runtime: Runtime | None = None,
) -> list[dict[str, Any]]:
    """Captured log records, newest first.

    Args:
        min_level: ``"DEBUG"`` ... ``"CRITICAL"`` (or a ``logging`` level number): this level and above.
        logger: a logger name; its child loggers match too (``"agent"`` matches ``"agent.tools"``).
        contains: text the message contains (case-insensitive).
        trace_id: only records emitted inside this trace (32 hex digits).
        since: only records from this time on (Unix seconds).
        until: only records up to this time (Unix seconds).
        limit: at most this many (1 to 1,000).
        runtime: whose log buffer to read; the current runtime when None.

    Each record: ``time``, ``level``, ``severity_text``, ``logger``, ``message``, ``trace_id``, ``span_id``,
    ``attributes`` (``code.*``, ``exception.*`` and the record's ``extra`` fields) and ``truncated``.

    Raises:
        TypeError, ValueError: a filter of the wrong type or out of range, named in the message.
    """
    floor = _level_floor(min_level)
    name, text = check_text("logger", logger), check_text("contains", contains)
    trace = check_text("trace_id", trace_id)
    lo, hi = check_number("since", since, minimum=-math.inf), check_number("until", until, minimum=-math.inf)
    check_limit(limit, MAX_LIMIT)
    buffer = _buffer(runtime)
    if buffer is None:
        return []
    needle = text.lower() if text else None
    trace = trace.lower() if trace else None
    found: list[dict[str, Any]] = []
    for record in reversed(buffer.recent()):
        # Filter on the record itself; only one that passes is converted (and clipped) for the text filter.
        if not (
            (trace is None or hex_id(record.log_record.trace_id or 0, 32) == trace)
            and LEVELS.get(record_level(record), 0) >= floor
            and (name is None or _in_logger(record_logger(record), name))
            and (lo is None or record_time(record) >= lo)
            and (hi is None or record_time(record) <= hi)
        ):
            continue
        row = record_to_dict(record, buffer.max_value_length)
        if needle is None or needle in row["message"].lower():
            found.append(row)
            if len(found) >= limit:
                break
    return found


def log_buffer_stats(buffer: LogBuffer | None = None) -> dict[str, int]:
    """Records held, capacity and records dropped (evicted) so far (zeros when no log buffer runs)."""
    buffer = buffer or _buffer(None)
    return {"records": 0, "capacity": 0, "dropped": 0} if buffer is None else buffer.stats()


def capture_handler(provider: Any, level: str) -> logging.Handler:
    """The OTel logging handler feeding ``provider``, at ``level`` (not yet attached to any logger)."""
    return LoggingHandler(level=LEVELS[level], logger_provider=provider)
