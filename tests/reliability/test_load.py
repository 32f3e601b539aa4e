"""Load: many threads and many asyncio tasks at once; every accepted sample and call is accounted for."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import zgen_otel
from zgen_otel import _runtime
from zgen_otel.metrics import get_metric_stats, register_callback
from zgen_otel.performance import get_performance_stats, track

THREADS = 16
CALLS = 50_000
TRACK_EVERY = 10


def otel_calls(reader: InMemoryMetricReader, operation: str) -> int:
    """The ``zgen.operation.calls`` counter summed over outcomes, as the OTel SDK reports it."""
    _runtime.get_runtime().collect()
    data = reader.get_metrics_data()
    total = 0
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == "zgen.operation.calls":
                    total += sum(
                        int(p.value) for p in metric.data.data_points
                        if p.attributes.get("zgen.operation.name") == operation
                    )  # fmt: skip
    return total


def test_sixteen_threads_record_fifty_thousand_samples_each_and_none_is_lost() -> None:
    reader = InMemoryMetricReader()
    zgen_otel.configure(
        metric_readers=[reader], interval=1, max_raw_points=1_000_000, system_monitor=False, default_rules=False
    )
    seen: Counter[str] = Counter()
    seen_lock = threading.Lock()

    def on_update(name: str, value: float, timestamp: float, attributes: dict[str, Any]) -> None:
        with seen_lock:
            seen[name] += 1

    register_callback("load.*", on_update)

    @track("load.tracked")
    def tracked() -> None:
        return None

    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for i in range(CALLS):
                if i % 2:
                    zgen_otel.record_metric("shared", 1.0, "load")
                else:
                    zgen_otel.record_metric("mine", float(n), "load", attributes={"thread": n})
                if i % TRACK_EVERY == 0:
                    tracked()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads), "a recording thread is stuck (deadlock)"
    assert errors == []

    shared = get_metric_stats("load.shared", window_seconds=3600)
    assert shared is not None and shared.count == THREADS * CALLS // 2 and shared.sum == THREADS * CALLS // 2
    for n in range(THREADS):
        mine = get_metric_stats("load.mine", window_seconds=3600, attributes={"thread": n})
        assert mine is not None and (mine.count, mine.sum) == (CALLS // 2, n * CALLS // 2)
    assert seen == {"load.shared": THREADS * CALLS // 2, "load.mine": THREADS * CALLS // 2}
    expected_calls = THREADS * CALLS // TRACK_EVERY
    assert get_performance_stats()["load.tracked"].calls == expected_calls
    assert otel_calls(reader, "load.tracked") == expected_calls  # the OTel counter agrees with the local view


def test_a_thousand_concurrent_asyncio_tasks_keep_their_own_traces() -> None:
    reader = InMemoryMetricReader()
    spans = InMemorySpanExporter()
    zgen_otel.configure(
        metric_readers=[reader], span_processors=[SimpleSpanProcessor(spans)], interval=1,
        system_monitor=False, default_rules=False,
    )  # fmt: skip

    @track("task.inner")
    async def inner(i: int) -> int:
        await asyncio.sleep(0)
        if i % 7 == 0:
            raise ValueError(i)
        return i

    @track("task.outer")
    async def outer(n: int) -> int:
        total = 0
        for i in range(10):
            await asyncio.sleep(0)
            with contextlib.suppress(ValueError):
                total += await inner(n * 10 + i)
        return total

    async def main() -> list[int]:
        return await asyncio.gather(*(outer(n) for n in range(1000)))

    results = asyncio.run(main())
    assert len(results) == 1000
    stats = get_performance_stats()
    assert stats["task.outer"].calls == 1000 and stats["task.inner"].calls == 10_000
    failing = sum(1 for v in range(10_000) if v % 7 == 0)
    assert stats["task.inner"].errors == failing
    assert otel_calls(reader, "task.inner") == 10_000
    # Every inner span is the child of the outer span of its own task, though all tasks interleave.
    finished = spans.get_finished_spans()
    outers = {s.context.span_id: s for s in finished if s.name == "task.outer"}
    inners = [s for s in finished if s.name == "task.inner"]
    assert len(outers) == 1000 and len(inners) == 10_000
    per_parent = Counter(s.parent.span_id for s in inners if s.parent is not None)
    assert set(per_parent) == set(outers) and set(per_parent.values()) == {10}
    assert all(s.context.trace_id == outers[s.parent.span_id].context.trace_id for s in inners if s.parent)
