"""The runtime's span and log rings: where the providers keep the last spans and log records for the local views.

:class:`SpanBuffer` is the TracerProvider's span-processor chain and keeps every finished span on the way;
:class:`LogBuffer` is a log-record processor. Both hold the SDK's own objects in a :class:`~zgen_otel._ring.Ring`
(oldest dropped first, counted); conversion to dicts happens when a view reads them (``_records``).
"""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan

from zgen_otel._ring import Ring
from zgen_otel._sdk import LogRecordProcessor, ReadWriteLogRecord, SpanChain

__all__ = ["LogBuffer", "SpanBuffer"]


class SpanBuffer(SpanChain):
    """The TracerProvider's span-processor chain, keeping the last ``max_spans`` finished spans on the way.

    It is the provider's ``active_span_processor``: the processors added to the provider (the OTLP batch
    processor, yours) run as usual, and the ring costs one ``deque.append`` per span instead of three more
    processor calls. The oldest span leaves the full ring first, counted in :meth:`stats`.

    Args:
        max_spans: how many spans the ring holds.
        max_value_length: string values longer than this are cut when a view converts a span.
    """

    def __init__(self, max_spans: int, max_value_length: int = 4096) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # the SDK's __init__ has no annotations
        self.ring: Ring[ReadableSpan] = Ring(max_spans)
        self.keep = self.ring.append  # type: ignore[method-assign,assignment]  # one bound call per span
        self.max_value_length = max_value_length

    def recent(self) -> list[ReadableSpan]:
        """The spans now in the ring, oldest first."""
        return self.ring.snapshot()

    def traces(self) -> dict[str, list[ReadableSpan]]:
        """The ring's spans grouped by trace id (hex), each trace's spans oldest first."""
        grouped: dict[str, list[ReadableSpan]] = {}
        for span in self.recent():
            if span.context is not None:
                grouped.setdefault(format(span.context.trace_id, "032x"), []).append(span)
        return grouped

    def stats(self) -> dict[str, int]:
        """Spans held, capacity and spans dropped (evicted) so far."""
        return self.ring.stats("spans")


class LogBuffer(LogRecordProcessor):
    """A log-record processor keeping the last ``max_logs`` records (oldest dropped first, counted).

    Args:
        max_logs: how many records the ring holds.
        max_value_length: string values longer than this are cut when a view converts a record.
    """

    def __init__(self, max_logs: int, max_value_length: int = 4096) -> None:
        self.ring: Ring[ReadWriteLogRecord] = Ring(max_logs)
        self.max_value_length = max_value_length

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        """Keep the record (the oldest one leaves when the ring is full)."""
        self.ring.append(log_record)

    def shutdown(self) -> None:
        """Nothing to release: the records stay readable until the runtime is gone."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Records are in the ring as soon as they are emitted: nothing to flush."""
        return True

    def recent(self) -> list[ReadWriteLogRecord]:
        """The records now in the ring, oldest first."""
        return self.ring.snapshot()

    def stats(self) -> dict[str, int]:
        """Records held, capacity and records dropped (evicted) so far."""
        return self.ring.stats("records")
