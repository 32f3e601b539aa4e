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

import collections
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SynchronousMultiSpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

from zgen_otel import _current
from zgen_otel._records import clip_attributes, hex_id
from zgen_otel._util import check_limit, check_number, check_text, safe_repr

__all__ = ["STATUSES", "SpanBuffer", "get_recent_traces", "get_trace", "span_buffer_stats"]

STATUSES = ("ok", "error")
MAX_LIMIT = 1000


class SpanBuffer(SynchronousMultiSpanProcessor):
    """The TracerProvider's span-processor chain, keeping the last ``max_spans`` finished spans on the way.

    It is the provider's ``active_span_processor``: the processors added to the provider (the OTLP batch
    processor, yours) run as usual, and the ring costs one ``deque.append`` per span instead of three more
    processor calls. The oldest span leaves the full ring first, counted in :attr:`dropped`.
    """

    def __init__(self, max_spans: int, max_value_length: int = 4096) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # the SDK's __init__ has no annotations
        self.spans: collections.deque[ReadableSpan] = collections.deque(maxlen=max_spans)
        self.max_value_length = max_value_length
        self.dropped = 0

    def on_end(self, span: ReadableSpan) -> None:
        """Keep the finished span (the oldest one leaves when the ring is full), then run the processors."""
        spans = self.spans
        if len(spans) == spans.maxlen:
            self.dropped += 1
        spans.append(span)
        for processor in self._span_processors:
            processor.on_end(span)

    def snapshot(self) -> list[ReadableSpan]:
        """The spans now in the ring, oldest first."""
        while True:
            try:
                return list(self.spans)
            except RuntimeError:  # another thread appended while copying: copy again
                continue

    def traces(self) -> dict[str, list[ReadableSpan]]:
        """The ring's spans grouped by trace id (hex), each trace's spans oldest first."""
        grouped: dict[str, list[ReadableSpan]] = {}
        for span in self.snapshot():
            if span.context is not None:
                grouped.setdefault(format(span.context.trace_id, "032x"), []).append(span)
        return grouped


def _seconds(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e9


def _status(span: ReadableSpan) -> str:
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
        "status": _status(span),
        "status_description": span.status.description,
        "attributes": attributes,
        "events": events,
        "service": str(span.resource.attributes.get("service.name", "")) if span.resource else "",
        "scope": span.instrumentation_scope.name if span.instrumentation_scope else None,
        "truncated": cut,
    }


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


def _buffer() -> SpanBuffer | None:
    buffer: SpanBuffer | None = getattr(_current.get_runtime(), "span_buffer", None)
    return buffer


def get_recent_traces(
    operation: str | None = None,
    status: str | None = None,
    min_duration: float | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int = 50,
    order: str = "recent",
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

    Each summary: ``trace_id``, ``name`` (the root span's), ``start``, ``end``, ``duration_ms``,
    ``span_count``, ``error_count``, ``status``, ``complete`` (False when the root was evicted or has not
    ended yet) and ``operations``.

    Raises:
        TypeError, ValueError: a filter of the wrong type or out of range, named in the message.
    """
    check_text("operation", operation)
    if status is not None and status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)} or None; got {safe_repr(status)}")
    if order not in ("recent", "slowest"):
        raise ValueError(f"order must be 'recent' or 'slowest'; got {safe_repr(order)}")
    check_limit(limit, MAX_LIMIT)
    shortest = check_number("min_duration", min_duration)
    lo, hi = check_number("since", since), check_number("until", until)
    buffer = _buffer()
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


def get_trace(trace_id: str) -> dict[str, Any] | None:
    """One trace from the span buffer, or None when it is unknown or was evicted.

    The dict is the trace's summary plus ``spans`` (start order; each with ``depth`` under its parent and the
    fields of a span: ids, name, kind, start/end, ``duration_ms``, status, attributes, events with exception
    stack traces) and ``logs`` (the captured log records of this trace, oldest first).

    Raises:
        ValueError: ``trace_id`` is not 32 hex digits.
    """
    if not isinstance(trace_id, str) or len(trace_id) != 32 or any(c not in "0123456789abcdefABCDEF" for c in trace_id):
        raise ValueError(f"trace_id must be 32 hex digits; got {safe_repr(trace_id)}")
    trace_id = trace_id.lower()
    buffer = _buffer()
    if buffer is None:
        return None
    wanted = int(trace_id, 16)  # this trace's spans only, oldest first (what traces() would group)
    spans = [s for s in buffer.snapshot() if s.context is not None and s.context.trace_id == wanted]
    if not spans:
        return None
    rows = [span_to_dict(s, buffer.max_value_length) for s in sorted(spans, key=lambda s: s.start_time or 0)]
    by_id = {r["span_id"]: r for r in rows}
    for row in rows:
        depth, parent = 0, by_id.get(row["parent_span_id"])
        while parent is not None and depth < 64:
            depth, parent = depth + 1, by_id.get(parent["parent_span_id"])
        row["depth"] = depth
    from zgen_otel.logs import get_recent_logs

    trace = _summary(trace_id, spans)
    trace["spans"] = rows
    trace["logs"] = list(reversed(get_recent_logs(trace_id=trace_id, limit=MAX_LIMIT)))
    return trace


def span_buffer_stats(buffer: SpanBuffer | None = None) -> dict[str, int]:
    """Spans held, capacity and spans dropped (evicted) so far."""
    buffer = buffer or _buffer()
    if buffer is None:
        return {"spans": 0, "capacity": 0, "dropped": 0}
    return {"spans": len(buffer.spans), "capacity": buffer.spans.maxlen or 0, "dropped": buffer.dropped}
