"""Recent traces in the process: a bounded span buffer on the runtime's TracerProvider, and queries over it.

Every span that ends on the runtime's provider (``@track``, ``llm_call``, the ASGI middleware, any OTel
instrumentation using the global provider zgen_otel installed) is kept in a ring of the last
``ZGEN_OTEL_MAX_SPANS`` spans (default 5,000); the oldest go first and are counted. The caller's thread only
appends the finished span to the ring (the ring is part of the provider's processor chain, not one more
processor); grouping into traces and conversion to dicts happen when a view asks. Under ``zgen-otel serve``
the spans other processes send are read with them (a trace that crosses processes is one trace), and
``service=``/``instance=`` pick the traces a service or one process of it took part in::

    from zgen_otel.traces import get_recent_traces, get_trace

    for t in get_recent_traces(status="error", limit=10, service="billing-agent"):
        print(t["trace_id"], t["name"], t["duration_ms"], t["span_count"])
    trace = get_trace(t["trace_id"])          # spans in start order, with depth, attributes, events, logs
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zgen_otel import _current
from zgen_otel._buffers import SpanBuffer
from zgen_otel._records import SpanRow
from zgen_otel._validate import check_choice, check_limit, check_number, check_text, check_trace_id
from zgen_otel.exceptions import NotFoundError
from zgen_otel.logs import get_recent_logs
from zgen_otel.selection import Selection, span_rows

if TYPE_CHECKING:
    from zgen_otel._runtime import Runtime

__all__ = ["STATUSES", "SpanBuffer", "find_trace", "get_recent_traces", "get_trace", "span_buffer_stats"]

STATUSES = ("ok", "error")
ORDERS = ("recent", "slowest")
MAX_LIMIT = 1000


def _summary(trace_id: str, rows: list[SpanRow]) -> dict[str, Any]:
    ids = {r.span_id for r in rows}
    roots = [r for r in rows if not r.parent_id or r.parent_id not in ids]
    root = min(roots or rows, key=lambda r: r.start)
    start = min(r.start for r in rows) / 1e9
    end = max(r.end for r in rows) / 1e9
    errors = sum(1 for r in rows if r.error)
    return {
        "trace_id": trace_id,
        "name": root.name,
        "start": start,
        "end": end,
        "duration_ms": (end - start) * 1000,
        "span_count": len(rows),
        "error_count": errors,
        "status": "error" if errors else "ok",
        "complete": not root.parent_id,
        "operations": sorted({r.name for r in rows}),
        "service": root.service,
        "instance": root.instance,
        "services": sorted({r.service for r in rows}),
    }


def _buffer(runtime: Runtime | None) -> SpanBuffer | None:
    """The span buffer of ``runtime`` (the current runtime when None)."""
    return (runtime or _current.get_runtime()).span_buffer


def _traces(runtime: Runtime | None, selection: Selection) -> dict[int, list[SpanRow]]:
    """The spans of every trace with a span of a selected process (the whole trace), each trace's oldest first."""
    rows = span_rows(runtime)
    wanted = None if selection.everything else {r.trace_id for r in rows if selection.matches(r.service, r.instance)}
    grouped: dict[int, list[SpanRow]] = {}
    for row in rows:
        if wanted is None or row.trace_id in wanted:
            grouped.setdefault(row.trace_id, []).append(row)
    return grouped


def get_recent_traces(
    operation: str | None = None,
    status: str | None = None,
    min_duration: float | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int = 50,
    order: str = "recent",
    *,
    service: str | None = None,
    instance: str | None = None,
    runtime: Runtime | None = None,
) -> list[dict[str, Any]]:
    """Summaries of the recent traces, this process's and received ones, newest first (or slowest first).

    Args:
        operation: only traces with a span of this name (the root or any descendant).
        status: ``"error"`` (a span failed) or ``"ok"`` (none did).
        min_duration: only traces lasting at least this many seconds.
        since: only traces that started at this time or later (Unix seconds).
        until: only traces that started at this time or earlier (Unix seconds).
        limit: at most this many (1 to 1,000).
        order: ``"recent"`` or ``"slowest"``.
        service: only traces with a span of this service (the trace is summed whole, other services included).
        instance: only traces with a span of this process (its ``service.instance.id``).
        runtime: whose spans to read (its span buffer, and its receiver's); the current runtime when None.

    Returns:
        One summary per trace: ``trace_id``, ``name`` (the root span's), ``start``, ``end``, ``duration_ms``,
        ``span_count``, ``error_count``, ``status``, ``complete`` (False when the root was evicted or has not
        ended yet), ``operations``, ``service`` and ``instance`` (the root span's process) and ``services``
        (every service with a span in the trace).

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
    selection = Selection(service, instance)
    found = []
    for trace_id, rows in _traces(runtime, selection).items():
        if operation is not None and all(r.name != operation for r in rows):
            continue
        summary = _summary(format(trace_id, "032x"), rows)
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


def get_trace(
    trace_id: str, *, service: str | None = None, instance: str | None = None, runtime: Runtime | None = None
) -> dict[str, Any] | None:
    """Get one trace, from this process's spans and received ones.

    Args:
        trace_id: the trace id, 32 hex digits.
        service: only a trace with a span of this service (else None).
        instance: only a trace with a span of this process, its ``service.instance.id`` (else None).
        runtime: whose spans to read (its span buffer, and its receiver's); the current runtime when None.

    Returns:
        The trace's summary plus ``spans`` (start order; each with ``depth`` under its parent and the fields of
        a span: ids, name, kind, start/end, ``duration_ms``, status, attributes, events with exception stack
        traces, ``service`` and ``instance``) and ``logs`` (the log records of this trace, from every process,
        oldest first); None when the trace is unknown or was evicted.

    Raises:
        TypeError: ``trace_id``, ``service`` or ``instance`` is not a str.
        ValueError: ``trace_id`` is not 32 hex digits, or ``service`` or ``instance`` is empty.
    """
    trace_id = check_trace_id(trace_id)
    selection = Selection(service, instance)
    rt = runtime or _current.get_runtime()
    wanted = int(trace_id, 16)
    rows = sorted((r for r in span_rows(rt) if r.trace_id == wanted), key=lambda r: r.start)
    if not rows or not any(selection.matches(r.service, r.instance) for r in rows):
        return None
    limit = rt.span_buffer.max_value_length if rt.span_buffer is not None else rt.settings.max_value_length
    spans = [row.convert(row, limit) for row in rows]
    by_id = {s["span_id"]: s for s in spans}
    for span in spans:
        depth, parent = 0, by_id.get(span["parent_span_id"])
        while parent is not None and depth < 64:
            depth, parent = depth + 1, by_id.get(parent["parent_span_id"])
        span["depth"] = depth
    trace = _summary(trace_id, rows)
    trace["spans"] = spans
    trace["logs"] = list(reversed(get_recent_logs(trace_id=trace_id, limit=MAX_LIMIT, runtime=rt)))
    return trace


def find_trace(
    trace_id: str, *, service: str | None = None, instance: str | None = None, runtime: Runtime | None = None
) -> dict[str, Any]:
    """Get a trace that must be there: ``get_trace``, with an error instead of None.

    Args:
        trace_id: the trace id, 32 hex digits.
        service: only a trace with a span of this service.
        instance: only a trace with a span of this process (its ``service.instance.id``).
        runtime: whose spans to read; the current runtime when None.

    Returns:
        The trace, as ``get_trace`` gives it.

    Raises:
        ValueError: ``trace_id`` is not 32 hex digits.
        NotFoundError: the trace is unknown, was evicted from the span buffers, or has no span of the
            selected ``service``/``instance``.
    """
    trace = get_trace(trace_id, service=service, instance=instance, runtime=runtime)
    if trace is None:
        chosen = Selection(service, instance)
        where = "" if chosen.everything else f" of {_named(chosen)}"
        raise NotFoundError(f"no trace {trace_id!r}{where} in the span buffers (unknown, or evicted)")
    return trace


def _named(selection: Selection) -> str:
    """``service 'a'``, ``instance 'i'`` or both, for messages."""
    parts = [f"{what} {value!r}" for what, value in selection.to_dict().items() if value is not None]
    return ", ".join(parts)


def span_buffer_stats(buffer: SpanBuffer | None = None) -> dict[str, int]:
    """Count the spans the local buffer holds and has dropped.

    Args:
        buffer: the buffer to read; None: the current runtime's.

    Returns:
        ``spans`` held, ``capacity`` and ``dropped`` (evicted) so far; zeros when no span buffer runs.
    """
    buffer = buffer or _buffer(None)
    return {"spans": 0, "capacity": 0, "dropped": 0} if buffer is None else buffer.stats()
