"""The runtime's span and log rings: where the last spans and log records are kept for the local views.

`SpanBuffer` is the TracerProvider's span-processor chain and keeps every finished span on the way (the
SDK's own objects); `LogBuffer` keeps what log capture took of each record (``_capture``). Both use a
`Ring` (oldest dropped first, counted); conversion to dicts happens when a view reads
them (``_records``).
"""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan

from zgen_otel._records import CapturedLog
from zgen_otel._ring import Ring
from zgen_otel._sdk import SpanChain

__all__ = ["LogBuffer", "SpanBuffer"]


class SpanBuffer(SpanChain):
    """The TracerProvider's span-processor chain, keeping the last ``max_spans`` finished spans on the way.

    It is the provider's ``active_span_processor``: the processors added to the provider (the OTLP batch
    processor, yours) run as usual, and the ring costs one ``deque.append`` per span instead of three more
    processor calls. The oldest span leaves the full ring first, counted in `stats`.

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
        """Read the spans now in the ring.

        Returns:
            The finished spans, oldest first.
        """
        return self.ring.snapshot()

    def traces(self) -> dict[str, list[ReadableSpan]]:
        """Group the ring's spans by trace.

        Returns:
            Each trace's spans, oldest first, by trace id (32 hex digits).
        """
        grouped: dict[str, list[ReadableSpan]] = {}
        for span in self.recent():
            if span.context is not None:
                grouped.setdefault(format(span.context.trace_id, "032x"), []).append(span)
        return grouped

    def stats(self) -> dict[str, int]:
        """Count the spans held and dropped.

        Returns:
            ``spans`` held, ``capacity`` and ``dropped`` (evicted) so far.
        """
        return self.ring.stats("spans")


class LogBuffer:
    """The last ``max_logs`` captured log records (oldest dropped first, counted).

    Args:
        max_logs: how many records the ring holds.
        max_value_length: string values longer than this are cut when a view converts a record.
    """

    def __init__(self, max_logs: int, max_value_length: int = 4096) -> None:
        self.ring: Ring[CapturedLog] = Ring(max_logs)
        self.append = self.ring.append  # one bound call per record
        self.max_value_length = max_value_length

    def recent(self) -> list[CapturedLog]:
        """Read the records now in the ring.

        Returns:
            The records, oldest first.
        """
        return self.ring.snapshot()

    def stats(self) -> dict[str, int]:
        """Count the records held and dropped.

        Returns:
            ``records`` held, ``capacity`` and ``dropped`` (evicted) so far.
        """
        return self.ring.stats("records")
