"""Python ``logging`` records in the local view and over OTLP, with the active trace and span ids.

Unless ``ZGEN_OTEL_CAPTURE_LOGS=false``, the runtime captures every record at ``ZGEN_OTEL_LOG_LEVEL`` (default
INFO) and above that reaches the root logger, without adding a handler, so the program's own output does not
change (``zgen_otel._capture`` says how). A bounded ring (``ZGEN_OTEL_MAX_LOGS``, default 5,000; oldest dropped
first, counted) keeps them for the local view, and the official OTLP log exporter ships them when an endpoint
is configured (unless another OpenTelemetry logging handler on the root logger already does). Under
``zgen-otel serve`` the records other processes send are read with them (``service=`` and ``instance=`` pick
one service or one process).
Alert state changes are logged by ``zgen_otel.alerting`` (fired, acknowledged, resolved), so they appear here
too::

    from zgen_otel.logs import get_recent_logs

    for record in get_recent_logs(min_level="WARNING", contains="timeout", limit=20):
        print(record["time"], record["level"], record["logger"], record["message"], record["trace_id"])
"""

from __future__ import annotations

import logging
import math
import re
from typing import TYPE_CHECKING, Any

from zgen_otel import _current
from zgen_otel._buffers import LogBuffer
from zgen_otel._util import safe_repr
from zgen_otel._validate import check_choice, check_limit, check_number, check_text
from zgen_otel.config import LOG_LEVELS
from zgen_otel.selection import Selection, log_rows

if TYPE_CHECKING:
    from zgen_otel._runtime import Runtime

__all__ = ["LEVELS", "LogBuffer", "get_recent_logs", "log_buffer_stats"]

#: Python's level number of each level name ``ZGEN_OTEL_LOG_LEVEL`` accepts.
LEVELS: dict[str, int] = {name: logging.getLevelName(name) for name in LOG_LEVELS}
MAX_LIMIT = 1000
_TRACE_ID = re.compile("[0-9a-fA-F]{32}")


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
    service: str | None = None,
    instance: str | None = None,
    runtime: Runtime | None = None,
) -> list[dict[str, Any]]:
    """Log records, this process's and those received from others, newest first.

    Args:
        min_level: ``"DEBUG"`` ... ``"CRITICAL"`` (or a ``logging`` level number): this level and above.
        logger: a logger name; its child loggers match too (``"agent"`` matches ``"agent.tools"``).
        contains: text the message contains (case-insensitive).
        trace_id: only records emitted inside this trace (32 hex digits).
        since: only records from this time on (Unix seconds).
        until: only records up to this time (Unix seconds).
        limit: at most this many (1 to 1,000).
        service: only records of this service.
        instance: only records of this process (its ``service.instance.id``).
        runtime: whose records to read (its log buffer, and its receiver's); the current runtime when None.

    Returns:
        The records: ``time``, ``level``, ``severity_text``, ``logger``, ``message``, ``trace_id``, ``span_id``,
        ``attributes`` (``code.*``, ``exception.*`` and the record's ``extra`` fields), ``truncated``,
        ``service`` and ``instance``.

    Raises:
        TypeError, ValueError: a filter of the wrong type or out of range, named in the message.
    """
    floor = _level_floor(min_level)
    name, text = check_text("logger", logger), check_text("contains", contains)
    trace = check_text("trace_id", trace_id)
    lo, hi = check_number("since", since, minimum=-math.inf), check_number("until", until, minimum=-math.inf)
    check_limit(limit, MAX_LIMIT)
    selection = Selection(service, instance)
    rt = runtime or _current.get_runtime()
    rows = log_rows(rt, selection)
    if not rows:
        return []
    length = rt.log_buffer.max_value_length if rt.log_buffer is not None else rt.settings.max_value_length
    needle = text.lower() if text else None
    wanted = None if not trace else int(trace, 16) if _TRACE_ID.fullmatch(trace) else -1  # -1: matches none
    found: list[dict[str, Any]] = []
    rows.reverse()  # newest arrivals first; the sort keeps that order among records of the same time
    rows.sort(key=lambda r: r.time, reverse=True)
    for row in rows:
        # Filter on the row; only one that passes is converted (and clipped) for the text filter.
        if not (
            (wanted is None or row.trace_id == wanted)
            and LEVELS.get(row.level, 0) >= floor
            and (name is None or _in_logger(row.logger, name))
            and (lo is None or row.time >= lo)
            and (hi is None or row.time <= hi)
        ):
            continue
        record = row.convert(row, length)
        if needle is None or needle in record["message"].lower():
            found.append(record)
            if len(found) >= limit:
                break
    return found


def log_buffer_stats(buffer: LogBuffer | None = None) -> dict[str, int]:
    """Count the log records the local buffer holds and has dropped.

    Args:
        buffer: the buffer to read; None: the current runtime's.

    Returns:
        ``records`` held, ``capacity`` and ``dropped`` (evicted) so far; zeros when no log buffer runs.
    """
    buffer = buffer or _buffer(None)
    return {"records": 0, "capacity": 0, "dropped": 0} if buffer is None else buffer.stats()
