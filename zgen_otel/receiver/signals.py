"""Received spans and log records: one ring per service, each item a small row; the rest decoded when viewed.

On arrival a span costs one `SpanRow` (ids, name, times, failure, sender) that
points at the decoded OTLP message; its attributes and events become a dict only when a view opens the
trace. Each service has its own rings of ``max_spans`` spans and ``max_logs`` records (oldest dropped first,
counted), so one busy service cannot push another's data out.

A decoded message keeps the whole request it came from in memory. An agent's request holds one resource, whose
spans all go to one ring, so pointing into it costs nothing more. A request that mixes resources (an OTel
Collector forwarding a fleet) could let one quiet service's few spans hold requests full of other services'
spans for as long as its ring keeps them, so the spans and records of such a request are copied out of it
(about 1.7 µs a span, measured in `benchmarks/bench_receiver.py`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from zgen_otel._records import LogRow, SpanRow, clip, clip_attributes, hex_id, level_name
from zgen_otel._ring import Ring
from zgen_otel._series import AttributeValue
from zgen_otel.receiver.values import Origin, attributes, plain

__all__ = ["SignalRings"]

_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
_STATUS = ("unset", "ok", "error")


def _resource_fields(resource: dict[str, AttributeValue], row: Any) -> dict[str, Any]:
    return {"service": row.service, "instance": row.instance, "resource": dict(resource)}


def _span_dict(row: SpanRow, limit: int) -> dict[str, Any]:
    """A received span as the views' dict (the same keys as a local span's)."""
    span, (scope, resource) = row.source, row.context
    attrs, cut = clip_attributes(attributes(span.attributes), limit)
    events = []
    for event in span.events:
        event_attributes, event_cut = clip_attributes(attributes(event.attributes), limit)
        cut = cut or event_cut
        events.append({"name": event.name, "timestamp": event.time_unix_nano / 1e9, "attributes": event_attributes})
    start, end = row.start / 1e9, row.end / 1e9
    kind = span.kind if 0 <= span.kind < len(_KINDS) else 0
    code = span.status.code if 0 <= span.status.code < len(_STATUS) else 0
    return {
        "trace_id": hex_id(row.trace_id, 32),
        "span_id": hex_id(row.span_id, 16),
        "parent_span_id": hex_id(row.parent_id, 16),
        "name": row.name,
        "kind": _KINDS[kind],
        "start": start,
        "end": end,
        "duration_ms": (end - start) * 1000,
        "status": _STATUS[code],
        "status_description": span.status.message or None,
        "attributes": attrs,
        "events": events,
        "scope": scope or None,
        "truncated": cut,
        **_resource_fields(resource, row),
    }


def _log_dict(row: LogRow, limit: int) -> dict[str, Any]:
    """A received log record as the views' dict (the same keys as a local record's)."""
    record, resource = row.source, row.context
    body = plain(record.body)
    message, cut = clip(body if isinstance(body, str) else "" if body is None else str(body), limit)
    attrs, attributes_cut = clip_attributes(attributes(record.attributes), limit)
    return {
        "time": row.time,
        "level": row.level,
        "severity_text": record.severity_text or None,
        "logger": row.logger,
        "message": message,
        "trace_id": hex_id(row.trace_id, 32),
        "span_id": hex_id(int.from_bytes(record.span_id, "big"), 16) if len(record.span_id) == 8 else None,
        "attributes": attrs,
        "truncated": cut or attributes_cut,
        **_resource_fields(resource, row),
    }


def _copied(message: Any) -> Any:
    """A copy of a decoded message that does not keep the request it came from in memory."""
    copied = type(message)()
    copied.CopyFrom(message)
    return copied


class SignalRings:
    """The received spans and log records, a ring of each per service.

    Args:
        max_spans: spans kept per service.
        max_logs: log records kept per service.
    """

    def __init__(self, max_spans: int, max_logs: int) -> None:
        self.max_spans = max_spans
        self.max_logs = max_logs
        self._lock = threading.Lock()
        self._spans: dict[str, Ring[SpanRow]] = {}
        self._logs: dict[str, Ring[LogRow]] = {}

    @staticmethod
    def _ring(rings: dict[str, Ring[Any]], lock: threading.Lock, service: str, capacity: int) -> Ring[Any]:
        ring = rings.get(service)
        if ring is None:
            with lock:
                ring = rings.setdefault(service, Ring(capacity))
        return ring

    def add_spans(
        self, scope_spans: Iterable[Any], who: Origin, resource: dict[str, AttributeValue], *, copy: bool = False
    ) -> tuple[int, int]:
        """Keep the spans of one resource; return (kept, rejected: a trace or span id of the wrong length).

        With ``copy``, each kept span is copied out of its request (for requests of several resources).
        """
        if not self.max_spans:
            return 0, 0
        append = self._ring(self._spans, self._lock, who.service, self.max_spans).append
        service, instance, from_bytes = who.service, who.instance, int.from_bytes
        kept = rejected = 0
        for scope in scope_spans:
            context = (scope.scope.name, resource)
            for span in scope.spans:
                trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
                if len(trace_id) != 16 or len(span_id) != 8 or not any(trace_id):
                    rejected += 1
                    continue
                if copy:
                    span = _copied(span)
                append(SpanRow(from_bytes(trace_id, "big"), from_bytes(span_id, "big"),
                               from_bytes(parent, "big") if parent else 0, span.name, span.start_time_unix_nano,
                               span.end_time_unix_nano, span.status.code == 2, service, instance, span, context,
                               _span_dict, scope.scope.name))  # fmt: skip
                kept += 1
        return kept, rejected

    def add_logs(
        self, scope_logs: Iterable[Any], who: Origin, resource: dict[str, AttributeValue], *, copy: bool = False
    ) -> int:
        """Keep the log records of one resource; return how many (``copy``: as `add_spans`)."""
        if not self.max_logs:
            return 0
        append = self._ring(self._logs, self._lock, who.service, self.max_logs).append
        kept = 0
        for scope in scope_logs:
            logger = scope.scope.name
            for record in scope.log_records:
                if copy:
                    record = _copied(record)
                ns = record.time_unix_nano or record.observed_time_unix_nano
                trace_id = int.from_bytes(record.trace_id, "big") if len(record.trace_id) == 16 else 0
                append(LogRow(ns / 1e9, level_name(record.severity_number), logger, trace_id, who.service,
                              who.instance, record, resource, _log_dict))  # fmt: skip
                kept += 1
        return kept

    def span_rows(self, service: str | None = None) -> list[SpanRow]:
        """The received span rows (of one service, or all), each service's oldest first."""
        return [row for ring in self._chosen(self._spans, service) for row in ring.snapshot()]

    def log_rows(self, service: str | None = None) -> list[LogRow]:
        """The received log rows (of one service, or all), each service's oldest first."""
        return [row for ring in self._chosen(self._logs, service) for row in ring.snapshot()]

    def _chosen(self, rings: dict[str, Ring[Any]], service: str | None) -> list[Ring[Any]]:
        with self._lock:
            return list(rings.values()) if service is None else [r for s, r in rings.items() if s == service]

    def stats(self) -> dict[str, dict[str, int]]:
        """Per service: spans and records held, and dropped (pushed out of a full ring)."""
        with self._lock:
            services = set(self._spans) | set(self._logs)
            spans, logs = dict(self._spans), dict(self._logs)
        out = {}
        for s in sorted(services):
            span_ring, log_ring = spans.get(s), logs.get(s)
            out[s] = {
                "spans": len(span_ring.items) if span_ring else 0,
                "spans_dropped": span_ring.dropped if span_ring else 0,
                "logs": len(log_ring.items) if log_ring else 0,
                "logs_dropped": log_ring.dropped if log_ring else 0,
            }
        return out
