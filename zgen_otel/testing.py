"""Helpers for tests of code that uses zgen_otel: a fresh runtime, in-memory OTel capture, a manual clock.

Example (pytest)::

    from zgen_otel.testing import capture

    def test_my_agent():
        with capture() as cap:
            run_my_agent()
            cap.collect()
            assert cap.metric_names() >= {"agent.steps"}
            assert [s.name for s in cap.spans()] == ["plan", "act"]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader, Metric, MetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from zgen_otel import _runtime, llm
from zgen_otel._runtime import Runtime
from zgen_otel.dashboards import dashboard

__all__ = ["Capture", "ManualClock", "capture", "reset"]


def reset() -> None:
    """Shut down the current runtime and forget it; the next use builds a fresh one from the environment.

    What outlives a runtime (and ``configure()``) is forgotten too: the LLM price table
    (``zgen_otel.llm.reset``) and the custom dashboards (``zgen_otel.dashboards.dashboard.reset``).
    """
    _runtime.reset()
    llm.reset()
    dashboard.reset()


class ManualClock:
    """A clock that moves only when told to: pass it as ``configure(clock=...)``.

    Args:
        start: the time it shows first (Unix seconds).
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        """The current (manual) time in seconds since the epoch."""
        return self.now

    def advance(self, seconds: float) -> float:
        """Move the clock forward.

        Args:
            seconds: how far.

        Returns:
            The new time.
        """
        self.now += seconds
        return self.now


@dataclass
class Capture:
    """What ``capture`` gives a test: the runtime plus in-memory OTel metric and span capture.

    Attributes:
        runtime: the fresh runtime the block runs with.
        metric_reader: the in-memory OTel metric reader added to it.
        span_exporter: the in-memory OTel span exporter added to it.
    """

    runtime: Runtime
    metric_reader: InMemoryMetricReader
    span_exporter: InMemorySpanExporter

    def collect(self) -> None:
        """Collect every instrument into the local store now."""
        self.runtime.collect()

    def metrics(self) -> list[Metric]:
        """Collect every metric the OTel SDK holds right now, through the in-memory reader.

        Returns:
            The metrics, across resources and scopes.
        """
        data = self.metric_reader.get_metrics_data()
        if data is None:
            return []
        return [m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]

    def metric_names(self) -> set[str]:
        """List the names of the metrics the OTel SDK holds right now.

        Returns:
            The names of ``metrics()``.
        """
        return {m.name for m in self.metrics()}

    def spans(self) -> tuple[ReadableSpan, ...]:
        """Read the finished spans.

        Returns:
            The spans, oldest first.
        """
        return self.span_exporter.get_finished_spans()


@contextmanager
def capture(
    *, metric_readers: Sequence[MetricReader] = (), span_processors: Sequence[SpanProcessor] = (), **settings: Any
) -> Iterator[Capture]:
    """Run the block with a fresh runtime that also records into an in-memory OTel reader and exporter.

    The runtime is reset afterwards.

    Args:
        metric_readers: more OTel metric readers, beside the in-memory one.
        span_processors: more OTel span processors, beside the in-memory exporter's.
        **settings: ``configure`` keywords (``clock=ManualClock()`` included).

    Yields:
        What the test reads: the runtime, the metric reader and the span exporter.

    Raises:
        ConfigError: a setting has a value that is not allowed.
    """
    reader = InMemoryMetricReader()
    exporter = InMemorySpanExporter()
    _runtime.reset()
    _runtime.configure(
        metric_readers=[reader, *metric_readers],
        span_processors=[SimpleSpanProcessor(exporter), *span_processors],
        **settings,
    )
    try:
        yield Capture(_runtime.get_runtime(), reader, exporter)
    finally:
        _runtime.reset()
