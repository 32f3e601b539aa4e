"""Turning OTel spans and captured log records into JSON-ready dicts for the local views, values clipped to a size."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, StatusCode

__all__ = [
    "SEVERITY_TEXT",
    "CapturedLog",
    "LogRow",
    "SpanRow",
    "clip",
    "clip_attributes",
    "hex_id",
    "level_name",
    "log_row",
    "python_level",
    "record_to_dict",
    "span_row",
    "span_status",
    "span_to_dict",
]

MARKER = "… [truncated {n} chars]"
#: Cut at its start: a stack trace ends with the failing frame and the error, the part worth keeping.
HEAD_MARKER = "[truncated {n} chars] …"
_TAIL_KEPT = frozenset({"exception.stacktrace"})


def clip(value: Any, limit: int) -> tuple[Any, bool]:
    """``value`` made JSON-ready (sequences as lists, other objects as ``str``) with strings cut to ``limit``.

    Returns the value and whether anything was cut; a cut string ends with a marker saying how much went.
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return value, False
        return value[:limit] + MARKER.format(n=len(value) - limit), True
    if isinstance(value, (bool, int, float)) or value is None:
        return value, False
    if isinstance(value, (list, tuple)):
        items = [clip(v, limit) for v in value]
        return [v for v, _ in items], any(cut for _, cut in items)
    if isinstance(value, bytes):
        return clip(value.decode("utf-8", "replace"), limit)
    return clip(str(value), limit)


def clip_attributes(attributes: Mapping[str, Any] | None, limit: int) -> tuple[dict[str, Any], bool]:
    """Every attribute value clipped with `clip`; and whether any was cut.

    A stack trace (``exception.stacktrace``) too long for ``limit`` keeps its end (the error and the frames
    nearest to it) and says at its start how much went.
    """
    out: dict[str, Any] = {}
    cut_any = False
    for key, value in (attributes or {}).items():
        if key in _TAIL_KEPT and isinstance(value, str) and len(value) > limit:
            out[str(key)], cut = HEAD_MARKER.format(n=len(value) - limit) + value[-limit:], True
        else:
            out[str(key)], cut = clip(value, limit)
        cut_any = cut_any or cut
    return out, cut_any


def hex_id(value: int, width: int) -> str | None:
    """A trace (``width`` 32) or span (16) id as lower-case hex; None for the invalid id 0."""
    return format(value, f"0{width}x") if value else None


def _seconds(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e9


def span_status(span: ReadableSpan) -> str:
    """A span's status as ``"ok"``, ``"error"`` or ``"unset"``."""
    code = span.status.status_code
    return "error" if code is StatusCode.ERROR else "ok" if code is StatusCode.OK else "unset"


def span_to_dict(span: ReadableSpan, limit: int) -> dict[str, Any]:
    """One span as a JSON-ready dict; string values longer than ``limit`` are cut with a marker."""
    attributes, cut = clip_attributes(span.attributes, limit)
    events = []
    for event in span.events:
        event_attributes, event_cut = clip_attributes(event.attributes, limit)
        cut = cut or event_cut
        events.append({"name": event.name, "timestamp": _seconds(event.timestamp), "attributes": event_attributes})
    start, end = _seconds(span.start_time), _seconds(span.end_time)
    context = span.context
    return {
        "trace_id": hex_id(context.trace_id, 32) if context else None,
        "span_id": hex_id(context.span_id, 16) if context else None,
        "parent_span_id": hex_id(span.parent.span_id, 16) if span.parent else None,
        "name": span.name,
        "kind": span.kind.name.lower() if isinstance(span.kind, SpanKind) else str(span.kind),
        "start": start,
        "end": end,
        "duration_ms": (end - start) * 1000 if start is not None and end is not None else None,
        "status": span_status(span),
        "status_description": span.status.description,
        "attributes": attributes,
        "events": events,
        "service": str(span.resource.attributes.get("service.name", "")) if span.resource else "",
        "scope": span.instrumentation_scope.name if span.instrumentation_scope else None,
        "truncated": cut,
    }


# OTel severity numbers (1-24) back to Python's level names.
_OTEL_TO_LEVEL = [(21, "CRITICAL"), (17, "ERROR"), (13, "WARNING"), (9, "INFO"), (1, "DEBUG")]
# Python's level numbers to their names, for the level filters (custom levels fall in the band below them).
_PYTHON_LEVELS = [(50, "CRITICAL"), (40, "ERROR"), (30, "WARNING"), (20, "INFO"), (1, "DEBUG")]


def level_name(severity_number: int) -> str:
    """The Python level name of an OTel severity number (1-24; ``"NOTSET"`` for 0)."""
    for floor, name in _OTEL_TO_LEVEL:
        if severity_number >= floor:
            return name
    return "NOTSET"


def python_level(levelno: int) -> str:
    """The standard Python level name of a ``logging`` level number (a custom level takes the one below it)."""
    for floor, name in _PYTHON_LEVELS:
        if levelno >= floor:
            return name
    return "NOTSET"


#: The OTel severity text of a Python level name where it differs (the OTel data model's short names).
SEVERITY_TEXT = {"WARNING": "WARN", "CRITICAL": "FATAL"}


class CapturedLog(NamedTuple):
    """What capture keeps of one ``logging`` record: its cheap fields, the message already formatted.

    The local view and the OTLP export both start from it; the OTel log record is built only for export,
    on a background thread.
    """

    time: float  # Unix seconds (the record's ``created``)
    levelno: int
    levelname: str
    logger: str
    message: str
    span: SpanContext | None  # the span current where the record was logged (None: none)
    attributes: dict[str, Any] | None  # the record's ``extra`` fields and ``exception.*`` (None: none)


def record_to_dict(record: CapturedLog, limit: int) -> dict[str, Any]:
    """One captured record as a JSON-ready dict; strings longer than ``limit`` are cut with a marker."""
    message, cut = clip(record.message, limit)
    attributes, attributes_cut = clip_attributes(record.attributes, limit)
    span = record.span
    return {
        "time": record.time,
        "level": python_level(record.levelno),
        "severity_text": SEVERITY_TEXT.get(record.levelname, record.levelname),
        "logger": record.logger,
        "message": message,
        "trace_id": hex_id(span.trace_id, 32) if span else None,
        "span_id": hex_id(span.span_id, 16) if span else None,
        "attributes": attributes,
        "truncated": cut or attributes_cut,
    }


class SpanRow(NamedTuple):
    """What the trace views read of a span, kept or received: ids, name, times, failure and sender.

    ``source`` is the span itself (a ``ReadableSpan`` here, an OTLP message when received), ``context`` what
    ``convert`` needs besides it, and ``convert(row, limit)`` makes the span's full JSON-ready dict when a
    view opens it, so that a received span costs only this row on arrival.
    """

    trace_id: int
    span_id: int
    parent_id: int  # 0: no parent
    name: str
    start: int  # Unix nanoseconds
    end: int
    error: bool
    service: str
    instance: str
    source: Any
    context: Any
    convert: Callable[[SpanRow, int], dict[str, Any]]
    scope: str = ""  # the instrumentation scope's name (``zgen_otel.llm`` for LLM calls)


class LogRow(NamedTuple):
    """What the log views filter on of a log record, kept or received; ``convert`` makes its full dict."""

    time: float  # Unix seconds
    level: str  # Python's level name
    logger: str
    trace_id: int  # 0: none
    service: str
    instance: str
    source: Any
    context: Any
    convert: Callable[[LogRow, int], dict[str, Any]]


def _local_span_dict(row: SpanRow, limit: int) -> dict[str, Any]:
    return {**span_to_dict(row.source, limit), "service": row.service, "instance": row.instance}


def span_row(span: ReadableSpan, service: str, instance: str) -> SpanRow:
    """The row of a span of this process (``service`` and ``instance``: this process's)."""
    context, parent = span.context, span.parent
    return SpanRow(
        context.trace_id if context else 0,
        context.span_id if context else 0,
        parent.span_id if parent else 0,
        span.name,
        span.start_time or 0,
        span.end_time or 0,
        span.status.status_code is StatusCode.ERROR,
        service,
        instance,
        span,
        None,
        _local_span_dict,
        span.instrumentation_scope.name if span.instrumentation_scope else "",
    )


def _local_log_dict(row: LogRow, limit: int) -> dict[str, Any]:
    return {**record_to_dict(row.source, limit), "service": row.service, "instance": row.instance}


def log_row(record: CapturedLog, service: str, instance: str) -> LogRow:
    """The row of a log record of this process."""
    trace_id = record.span.trace_id if record.span else 0
    return LogRow(record.time, python_level(record.levelno), record.logger, trace_id, service, instance, record, None,
                  _local_log_dict)  # fmt: skip
