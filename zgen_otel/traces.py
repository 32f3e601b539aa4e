"""Recent traces in the process: a bounded span buffer on the runtime's TracerProvider, and queries over it.

Every span that ends on the runtime's provider (``@track``, ``llm_call``, the ASGI middleware, any OTel
instrumentation using the global provider zgen_otel installed) is kept in a ring of the last
``ZGEN_OTEL_MAX_SPANS`` spans (default 5,000); the oldest go first and are counted. The caller's thread only
appends the finished span to the ring (the ring is part of the provider's processor chain, not one more
processor); grouping into traces and conversion to dicts happen when a view asks::

    from zgen_otel.traces import get_recent_traces, get_trace

    for t in get_recent_traces(status="error", limit=10):
        print(t["trace_id"], t["name"], t["duration_ms"], t["span_count"])
    trace = get_trace(t["trace_id"])          # spans in start order, with depth, attributes, events, logs
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from zgen_otel import _current
from zgen_otel._buffers import SpanBuffer
from zgen_otel._records import span_to_dict
from zgen_otel._validate import check_choice, check_limit, check_number, check_text, check_trace_id
from zgen_otel.exceptions import NotFoundError
from zgen_otel.logs import get_recent_logs

if TYPE_CHECKING:
    from zgen_otel._runtime import Runtime

__all__ = ["STATUSES", "SpanBuffer", "find_trace", "get_recent_traces", "get_trace", "span_buffer_stats"]

STATUSES = ("ok", "error")
ORDERS = ("recent", "slowest")
MAX_LIMIT = 1000


def _summary(trace_id: str, spans: list[ReadableSpan]) -> dict[str, Any]:
    ids = {s.context.span_id for s in spans if s.context}
    roots = [s for s in spans if s.parent is None or s.parent.span_id not in ids]
    root = min(roots or spans, key=lambda s: s.start_time or 0)
    start = min(s.start_time or 0 for s in spans) / 1e9
    end = max(s.end_time or 0 for s in spans) / 1e9
    errors = sum(1 for s in spans if s.status.status_code is StatusCode.ERROR)
    return {
        "trace_id": trace_id,
        "name": root.name,
        "start": start,
        "end": end,
        "duration_ms": (end - start) * 1000,
        "span_count": len(spans),
        "error_count": errors,
        "status": "error" if errors else "ok",
        "complete": root.parent is None,
        "operations": sorted({s.name for s in spans}),
    }


def _buffer(runtime: Runtime | None) -> SpanBuffer | None:
    """The span buffer of ``runtime`` (the current runtime when None)."""
    return (runtime or _current.get_runtime()).span_buffer


def get_recent_traces(
    operation: str | None = None,
    status: str | None = None,
    min_duration: float | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int = 50,
    order: str = "recent",
    *,
    runtime: Runtime | None = None,
) -> list[dict[str, Any]]:
    """Summaries of the traces in the span buffer, newest first (or slowest first with ``order="slowest"``).

    Args:
        operation: only traces with a span of this name (the root or any descendant).
        status: ``"error"`` (a span failed) or ``"ok"`` (none did).
        min_duration: only traces lasting at least this many seconds.
        since: only traces that started at this time or later (Unix seconds).
        until: only traces that started at this time or earlier (Unix seconds).
        limit: at most this many (1 to 1,000).
        order: ``"recent"`` or ``"slowest"``.
        runtime: whose span buffer to read; the current runtime when None.

    Each summary: ``trace_id``, ``name`` (the root span's), ``start``, ``end``, ``duration_ms``,
    ``span_count``, ``error_count``, ``status``, ``complete`` (False when the root was evicted or has not
    ended yet) and ``operations``.

    Raises:
        TypeError, ValueError: a filter of the wrong type or out of range, named in the message.
    """
    check_text("operation", operation)
    if status is not None:
        check_choice("status", status, STATUSES)
    check_choice("order", order, ORDERS)
    check_limit(limit, MAX_LIMIT)
    shortest = check_number("min_duration", min_duration)
    lo, hi = check_number("since", since), check_number("until", until)
    buffer = _buffer(runtime)
    if buffer is None:
        return []
    found = []
    for trace_id, spans in buffer.traces().items():
        if operation is not None and all(s.name != operation for s in spans):
            continue
        summary = _summary(trace_id, spans)
        if status is not None and summary["status"] != status:
            continue
        if shortest is not None and summary["duration_ms"] < shortest * 1000:
            continue
        if (lo is not None and summary["start"] < lo) or (hi is not None and summary["start"] > hi):
            continue
        found.append(summary)
    key = "duration_ms" if order == "slowest" else "start"
    found.sort(key=lambda t: t[key], reverse=True)
    return found[:limit]


def get_trace(trace_id: str, *, runtime: Runtime | None = None) -> dict[str, Any] | None:
    """One trace from the span buffer, or None when it is unknown or was evicted (:func:`find_trace` raises).

    The dict is the trace's summary plus ``spans`` (start order; each with ``depth`` under its parent and the
    fields of a span: ids, name, kind, start/end, ``duration_ms``, status, attributes, events with exception
    stack traces) and ``logs`` (the captured log records of this trace, oldest first).

    Raises:
        ValueError: ``trace_id`` is not 32 hex digits.
    """
    trace_id = check_trace_id(trace_id)
    buffer = _buffer(runtime)
    if buffer is None:
        return None
    wanted = int(trace_id, 16)  # this trace's spans only, oldest first (what traces() would group)
    spans = [s for s in buffer.recent() if s.context is not None and s.context.trace_id == wanted]
    if not spans:
        return None
    rows = [span_to_dict(s, buffer.max_value_length) for s in sorted(spans, key=lambda s: s.start_time or 0)]
    by_id = {r["span_id"]: r for r in rows}
    for row in rows:
        depth, parent = 0, by_id.get(row["parent_span_id"])
        while parent is not None and depth < 64:
            depth, parent = depth + 1, by_id.get(parent["parent_span_id"])
        row["depth"] = depth
    trace = _summary(trace_id, spans)
    trace["spans"] = rows
    trace["logs"] = list(reversed(get_recent_logs(trace_id=trace_id, limit=MAX_LIMIT, runtime=runtime)))
    return trace


def find_trace(trace_id: str, *, runtime: Runtime | None = None) -> dict[str, Any]:
    """:func:`get_trace` for a trace that must be there: the same dict, or an error when it is not.

    Raises:
        ValueError: ``trace_id`` is not 32 hex digits.
        NotFoundError: the trace is unknown or was evicted from the span buffer.
    """
    trace = get_trace(trace_id, runtime=runtime)
    if trace is None:
        raise NotFoundError(f"no trace {trace_id!r} in the span buffer (unknown, or evicted)")
    return trace


def span_buffer_stats(buffer: SpanBuffer | None = None) -> dict[str, int]:
    """Spans held, capacity and spans dropped (evicted) so far (zeros when no span buffer runs)."""
    buffer = buffer or _buffer(None)
    return {"spans": 0, "capacity": 0, "dropped": 0} if buffer is None else buffer.stats()
