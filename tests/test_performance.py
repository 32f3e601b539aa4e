"""@track, @track_async and track_context: spans, outcome metrics, statistics, bad input and disabled mode."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import StatusCode

import zgen_otel
import zgen_otel.testing
from tests.support.otlp import OtlpReceiver, Protocol, attributes_dict
from zgen_otel.performance import (
    current_span,
    get_operation_stats,
    get_performance_stats,
    track,
    track_async,
    track_context,
)
from zgen_otel.testing import Capture, ManualClock, capture


@pytest.fixture
def cap() -> Iterator[Capture]:
    with capture(interval=3600) as c:
        yield c


def by_name(cap: Capture) -> dict[str, ReadableSpan]:
    return {s.name: s for s in cap.spans()}


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent else None


def test_sync_function_span_and_preserved_metadata(cap: Capture) -> None:
    @track()
    def plan(goal: str, steps: int = 3) -> str:
        """Make a plan."""
        return goal * steps

    assert plan("a") == "aaa"
    assert (plan.__name__, plan.__doc__) == ("plan", "Make a plan.")
    assert list(inspect.signature(plan).parameters) == ["goal", "steps"]
    assert inspect.signature(plan) == inspect.signature(plan.__wrapped__)  # type: ignore[attr-defined]
    (span,) = cap.spans()
    assert span.name == plan.__qualname__
    assert span.attributes is not None
    assert span.attributes["code.function.name"] == f"{__name__}.{plan.__qualname__}"
    assert span.attributes["code.namespace"] == __name__
    assert "code.function.arg.goal" not in span.attributes  # arguments stay off by default
    assert span.status.status_code is StatusCode.UNSET


def test_bare_called_named_and_attributes(cap: Capture) -> None:
    @track
    def bare() -> int:
        return 1

    @track("custom.name", attributes={"agent": "a1", "retries": 2})
    def named() -> int:
        return 2

    assert (bare(), named()) == (1, 2)
    spans = by_name(cap)
    assert set(spans) == {bare.__qualname__, "custom.name"}
    assert spans["custom.name"].attributes is not None
    assert spans["custom.name"].attributes["agent"] == "a1" and spans["custom.name"].attributes["retries"] == 2


def test_methods_classmethods_and_staticmethods(cap: Capture) -> None:
    class Agent:
        factor = 10

        @track()
        def act(self, x: int) -> int:
            return x * self.factor

        @track()
        @classmethod
        def build(cls) -> Agent:
            return cls()

        @classmethod
        @track()
        def build2(cls) -> Agent:
            return cls()

        @track
        @staticmethod
        def helper(x: int) -> int:
            return x + 1

    agent = Agent.build()
    assert isinstance(Agent.build2(), Agent)
    assert agent.act(2) == 20 and Agent.helper(1) == 2 and agent.helper(2) == 3
    names = [s.name for s in cap.spans()]
    assert names.count("test_methods_classmethods_and_staticmethods.<locals>.Agent.act") == 1
    assert sum(n.endswith("Agent.build") for n in names) == 1 and sum(n.endswith("Agent.build2") for n in names) == 1
    assert sum(n.endswith("Agent.helper") for n in names) == 2


def test_nesting_and_reaching_the_span(cap: Capture) -> None:
    @track("inner")
    def inner() -> None:
        current_span().set_attribute("found", True)

    @track("outer")
    def outer() -> None:
        with track_context("block"):
            inner()

    outer()
    spans = by_name(cap)
    assert parent_of(spans["block"]) == spans["outer"].context.span_id
    assert parent_of(spans["inner"]) == spans["block"].context.span_id
    assert spans["inner"].attributes is not None and spans["inner"].attributes["found"] is True
    assert trace.get_current_span() is trace.INVALID_SPAN  # nothing left attached


def test_async_propagation_across_await_and_tasks(cap: Capture) -> None:
    @track_async()
    async def tool(i: int) -> int:
        await asyncio.sleep(0.001)
        return i

    @track("agent.run")
    async def run() -> list[int]:
        return list(await asyncio.gather(*(asyncio.create_task(tool(i)) for i in range(3))))

    assert inspect.iscoroutinefunction(tool) and inspect.iscoroutinefunction(run)
    assert asyncio.run(run()) == [0, 1, 2]
    spans = cap.spans()
    root = next(s for s in spans if s.name == "agent.run")
    tools = [s for s in spans if s.name.endswith("tool")]
    assert len(tools) == 3 and all(parent_of(t) == root.context.span_id for t in tools)
    assert {t.context.trace_id for t in tools} == {root.context.trace_id}


def test_exceptions_are_recorded_and_reraised_unchanged(cap: Capture) -> None:
    error = ValueError("bad tool input")

    @track("tool")
    def tool() -> None:
        raise error

    with pytest.raises(ValueError) as raised:
        tool()
    assert raised.value is error
    (span,) = cap.spans()
    assert span.status.status_code is StatusCode.ERROR and "bad tool input" in (span.status.description or "")
    assert span.attributes is not None and span.attributes["error.type"] == "ValueError"
    assert [e.name for e in span.events] == ["exception"]
    stats = get_operation_stats("tool")
    assert stats is not None and (stats.calls, stats.errors, stats.error_rate) == (1, 1, 1.0)


def test_base_exceptions_are_cancellations_unless_asked(cap: Capture) -> None:
    @track("interrupted")
    def interrupted() -> None:
        raise KeyboardInterrupt

    @track("counted", count_base_exceptions=True)
    def counted() -> None:
        raise KeyboardInterrupt

    @track("cancelled")
    async def cancelled() -> None:
        await asyncio.sleep(10)

    async def cancel_it() -> None:
        task = asyncio.create_task(cancelled())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    for fn in (interrupted, counted):
        with pytest.raises(KeyboardInterrupt):
            fn()
    asyncio.run(cancel_it())
    spans = by_name(cap)
    assert spans["interrupted"].attributes is not None
    assert spans["interrupted"].attributes["error.type"] == "KeyboardInterrupt"
    assert spans["interrupted"].status.status_code is StatusCode.UNSET
    assert spans["counted"].status.status_code is StatusCode.ERROR
    assert spans["cancelled"].attributes is not None and spans["cancelled"].attributes["error.type"] == "CancelledError"
    stats = get_performance_stats()
    assert (stats["interrupted"].errors, stats["interrupted"].cancelled) == (0, 1)
    assert (stats["cancelled"].errors, stats["cancelled"].cancelled) == (0, 1)
    assert stats["counted"].errors == 1


def test_an_async_callable_object_is_tracked_until_its_coroutine_ends(cap: Capture) -> None:
    class Fetch:
        async def __call__(self, url: str) -> str:
            await asyncio.sleep(0.2)
            raise ConnectionError(url)

    async def late(x: int) -> int:
        await asyncio.sleep(0.2)
        return x

    fetch = track("fetch")(Fetch())
    lazy = track("lazy")(lambda x: late(x))  # a plain function that returns a coroutine
    assert inspect.iscoroutinefunction(fetch)
    with pytest.raises(ConnectionError):
        asyncio.run(fetch("http://x"))
    assert asyncio.run(lazy(7)) == 7
    stats = get_performance_stats()
    assert (stats["fetch"].calls, stats["fetch"].errors) == (1, 1), stats["fetch"]
    assert stats["fetch"].max is not None and stats["fetch"].max >= 0.2, stats["fetch"]
    assert (stats["lazy"].calls, stats["lazy"].errors) == (1, 0) and (stats["lazy"].max or 0) >= 0.2
    spans = by_name(cap)
    assert spans["fetch"].status.status_code is StatusCode.ERROR
    assert spans["fetch"].end_time - spans["fetch"].start_time >= 200_000_000  # type: ignore[operator]


def test_a_class_is_refused_instead_of_replaced_by_a_function() -> None:
    class Agent:
        pass

    for decorate in (track, track("agent"), track_async()):
        with pytest.raises(TypeError, match=r"cannot decorate a class \(.*Agent\).*isinstance"):
            decorate(Agent)
    assert isinstance(Agent(), Agent)


def test_distinct_operations_past_max_operations_count_under_one_overflow_operation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with capture(interval=3600, system_monitor=False, max_operations=50) as cap:
        for i in range(500):
            with track_context(f"fetch https://example.com/{i}"):
                pass
        stats = get_performance_stats()
        assert len(stats) == 51 and stats["_OTHER"].calls == 450, len(stats)
        status = zgen_otel.get_runtime().status()
        assert status["tracked_operations_overflow"] == 450
        assert sum("max_operations=50" in r.getMessage() for r in caplog.records) == 1  # rate-limited
        points = [p for m in cap.metrics() if m.name == "zgen.operation.calls" for p in m.data.data_points]
        names = {p.attributes["zgen.operation.name"] for p in points}
        assert len(names) == 51 and "_OTHER" in names
        (other,) = [p for p in points if p.attributes["zgen.operation.name"] == "_OTHER"]
        assert other.value == 450 and other.attributes["otel.metric.overflow"] is True
        zgen_otel.record_metric("after", 1.0)  # the agent's own metrics still record
        assert zgen_otel.get_latest_value("after") == 1.0


def test_record_args_puts_chosen_arguments_on_the_span(cap: Capture) -> None:
    @track(record_args=["query", "k"])
    def search(query: str, k: int = 5, api_key: str = "secret") -> None:
        pass

    search("weather", api_key="do-not-record")
    (span,) = cap.spans()
    assert span.attributes is not None
    assert span.attributes["code.function.arg.query"] == "weather"
    assert "code.function.arg.k" not in span.attributes  # not passed: defaults are not invented
    assert "do-not-record" not in str(dict(span.attributes))
    with pytest.raises(ValueError, match="record_args"):
        track(record_args=["nope"])(search)


def test_generators_span_the_whole_iteration_without_leaking_context(cap: Capture) -> None:
    @track("produce")
    def produce(n: int) -> Iterator[int]:
        for i in range(n):
            with track_context("item"):
                pass
            yield i

    seen = []
    for value in produce(3):
        seen.append(value)
        assert trace.get_current_span() is trace.INVALID_SPAN  # the caller's context between items
    assert seen == [0, 1, 2]
    gen = produce(10)
    next(gen)
    gen.close()  # early close: a normal end, not a failure
    spans = cap.spans()
    produced = [s for s in spans if s.name == "produce"]
    items = [s for s in spans if s.name == "item"]
    assert len(produced) == 2 and len(items) == 4
    assert all(parent_of(i) in {p.context.span_id for p in produced} for i in items)
    assert produced[0].end_time is not None and produced[0].end_time >= max(i.end_time or 0 for i in items[:3])
    assert get_performance_stats()["produce"].errors == 0


def test_generator_errors_and_thrown_exceptions(cap: Capture) -> None:
    @track("echo")
    def echo() -> Iterator[str]:
        received = yield "ready"
        while True:
            try:
                received = yield f"got {received}"
            except KeyError:
                received = "recovered"

    gen = echo()
    assert next(gen) == "ready"
    assert gen.send("a") == "got a"
    assert gen.throw(KeyError("k")) == "got recovered"
    with pytest.raises(RuntimeError):
        gen.throw(RuntimeError("fatal"))
    (span,) = cap.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None and span.attributes["error.type"] == "RuntimeError"


def test_async_generators_and_async_blocks(cap: Capture) -> None:
    @track("stream")
    async def stream() -> AsyncIterator[int]:
        for i in range(3):
            async with track_context("chunk"):
                await asyncio.sleep(0)
            yield i

    async def main() -> list[int]:
        async with track_context("consume") as span:
            span.set_attribute("consumer", "main")
            return [i async for i in stream()]

    assert asyncio.run(main()) == [0, 1, 2]
    spans = cap.spans()
    consume = next(s for s in spans if s.name == "consume")
    stream_span = next(s for s in spans if s.name == "stream")
    chunks = [s for s in spans if s.name == "chunk"]
    assert parent_of(stream_span) == consume.context.span_id
    assert len(chunks) == 3 and all(parent_of(c) == stream_span.context.span_id for c in chunks)
    assert consume.attributes is not None and consume.attributes["consumer"] == "main"


def test_track_context_records_errors(cap: Capture) -> None:
    with pytest.raises(OSError), track_context("io", attributes={"path": "/tmp/x"}):
        raise OSError("disk")
    (span,) = cap.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None and span.attributes["path"] == "/tmp/x"
    assert span.attributes["error.type"] == "OSError"


def test_duration_and_call_metrics_reach_otel_and_the_store(cap: Capture) -> None:
    @track("op")
    def op(fail: bool) -> None:
        if fail:
            raise RuntimeError("x")

    for fail in (False, False, True):
        with pytest.raises(RuntimeError) if fail else _nothing():
            op(fail)
    cap.collect()
    metrics = {m.name: m for m in cap.metrics()}
    duration = metrics["zgen.operation.duration"]
    assert duration.unit == "s"
    points = {p.attributes["zgen.operation.outcome"]: p for p in duration.data.data_points}
    _assert_function_timing_buckets(points["success"].explicit_bounds)
    assert (points["success"].count, points["error"].count) == (2, 1)
    assert points["error"].attributes["error.type"] == "RuntimeError"
    calls = {p.attributes["zgen.operation.outcome"]: p.value for p in metrics["zgen.operation.calls"].data.data_points}
    assert calls == {"success": 2, "error": 1}
    success = {"zgen.operation.name": "op", "zgen.operation.outcome": "success"}
    assert zgen_otel.get_latest_value("zgen.operation.calls", attributes=success) == 2
    assert zgen_otel.get_latest_value("zgen.operation.duration.count", attributes=success) == 2


def _assert_function_timing_buckets(bounds: Sequence[float]) -> None:
    """Bucket bounds for function timings: 0.5 ms to 60 s (not the SDK's default 0 to 10,000)."""
    assert (bounds[0], bounds[-1]) == (0.0005, 60.0)
    assert len(bounds) == 16 and list(bounds) == sorted(set(bounds))


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_S = 10**9  # nanoseconds per second


def _feed(cap: Capture, name: str, calls: Iterable[tuple[float, float, str]]) -> None:
    """Queue calls of known timing to the tracker, as ``@track`` does: (end time, duration, outcome) each."""
    tracker = cap.runtime.performance
    for end, duration, outcome in calls:
        end_ns = round(end * _S)
        tracker.queue.append(
            (name, end_ns - round(duration * _S), end_ns, "ValueError" if outcome == "error" else None, outcome)
        )


def test_statistics_are_exact_over_the_run_and_the_window() -> None:
    clock = ManualClock()
    t0 = clock.now
    with capture(interval=3600, clock=clock) as cap:
        # 100 old calls of 1.01..2.00 s ending at t0+1..t0+100 (every 10th fails), then 100 recent ones of
        # 0.01..1.00 s ending at t0+1000.1..t0+1010 (every 4th fails, the first is cancelled).
        old = [(t0 + k, 1 + k / 100, "error" if k % 10 == 0 else "success") for k in range(1, 101)]
        recent = [
            (t0 + 1000 + k / 10, k / 100, "error" if k % 4 == 0 else "cancelled" if k == 1 else "success")
            for k in range(1, 101)
        ]
        _feed(cap, "step", old + recent)
        clock.now = t0 + 1020
        whole = get_operation_stats("step")
        assert whole is not None and whole.window_seconds is None
        assert (whole.calls, whole.errors, whole.cancelled, whole.error_rate) == (200, 35, 1, pytest.approx(0.175))
        assert (whole.mean, whole.min, whole.max) == pytest.approx((201 / 200, 0.01, 2.0))
        assert (whole.p50, whole.p95, whole.p99) == pytest.approx((1.0, 1.9, 1.98), abs=0.01)
        assert whole.last_call == pytest.approx(t0 + 1010)
        assert whole.calls_per_minute == pytest.approx(200 * 60 / 1020.01)  # since the first call began
        assert whole.to_dict()["calls"] == 200

        windowed = get_performance_stats(window_seconds=60)["step"]  # from t0+960: the recent calls only
        assert (windowed.calls, windowed.errors, windowed.cancelled) == (100, 25, 1)
        assert windowed.error_rate == pytest.approx(0.25) and windowed.window_seconds == 60
        assert (windowed.mean, windowed.min, windowed.max) == pytest.approx((0.505, 0.01, 1.0))
        assert (windowed.p50, windowed.p95, windowed.p99) == pytest.approx((0.5, 0.95, 0.99), abs=0.01)
        assert windowed.calls_per_minute == pytest.approx(100.0) and windowed.last_call == pytest.approx(t0 + 1010)

        clock.advance(1000)  # nothing in the last minute now
        quiet = get_operation_stats("step", window_seconds=60)
        assert quiet is not None and (quiet.calls, quiet.errors, quiet.error_rate) == (0, 0, 0.0)
        assert quiet.calls_per_minute == 0.0
        assert (quiet.mean, quiet.p50, quiet.p99) == (None, None, None)
        assert get_operation_stats("never") is None
        with pytest.raises(ValueError, match="window_seconds"):
            get_performance_stats(window_seconds=0)


def test_percentiles_past_10000_calls_are_interpolated_from_the_buckets() -> None:
    clock = ManualClock()
    with capture(interval=3600, clock=clock) as cap:
        # 8,000 calls of 12 ms, then 4,000 of 200 ms: the last 10,000 calls alone would give a p50 of 12 ms.
        calls = [(clock.now - 30 + i / 1000, 0.012 if i < 8_000 else 0.2, "success") for i in range(12_000)]
        _feed(cap, "busy", calls)
        stats = get_operation_stats("busy")
        assert stats is not None and stats.calls == 12_000
        assert (stats.mean, stats.min, stats.max) == pytest.approx((896 / 12_000, 0.012, 0.2))  # still exact
        # PromQL's histogram_quantile: p50 is three quarters into the (10 ms, 25 ms] bucket that holds 12 ms;
        # p95 and p99 fall in (100 ms, 250 ms] and are capped at the largest duration seen.
        assert stats.p50 == pytest.approx(0.01 + 0.015 * 6_000 / 8_000)
        assert 0.01 < stats.p50 <= 0.025
        assert (stats.p95, stats.p99) == pytest.approx((0.2, 0.2))
        windowed = get_operation_stats("busy", window_seconds=3600)
        assert windowed is not None and windowed.calls == 10_000  # windows read the last 10,000 calls
        assert (windowed.p50, windowed.p95) == pytest.approx((0.012, 0.2))  # exact over those


def test_tracked_calls_feed_their_real_durations_into_the_statistics() -> None:
    with capture(interval=3600):

        @track("sleepy")
        def sleepy(seconds: float) -> None:
            time.sleep(seconds)

        started = time.time()
        for seconds in (0.01, 0.05, 0.15):
            sleepy(seconds)
        stats = get_operation_stats("sleepy", window_seconds=60)
        assert stats is not None and stats.calls == 3
        assert stats.min is not None and stats.p50 is not None and stats.max is not None and stats.mean is not None
        assert 0.01 <= stats.min < 0.05 <= stats.p50 < 0.15 <= stats.max  # each call timed on its own
        assert stats.mean >= 0.07 and stats.p99 == stats.max
        assert stats.last_call is not None and started + 0.21 <= stats.last_call <= time.time()


def test_eight_threads_lose_no_call() -> None:
    zgen_otel.configure(interval=3600)

    @track("hot")
    def hot() -> int:
        return 1

    def run() -> None:
        for _ in range(10_000):
            hot()

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert get_performance_stats()["hot"].calls == 80_000


def test_disabled_calls_straight_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITORING_ENABLED", "false")
    error = LookupError("x")

    @track()
    def ok(x: int) -> int:
        return x + 1

    @track()
    def bad() -> None:
        raise error

    @track()
    def gen() -> Iterator[int]:
        yield from (1, 2)

    @track()
    async def co() -> int:
        return 3

    with track_context("block") as span:
        assert span is trace.INVALID_SPAN
    assert ok(1) == 2 and list(gen()) == [1, 2] and asyncio.run(co()) == 3
    with pytest.raises(LookupError) as raised:
        bad()
    assert raised.value is error
    assert get_performance_stats() == {}


@pytest.mark.parametrize(
    ("make", "error", "fragment"),
    [
        (lambda: track(42), TypeError, "name must be a str"),
        (lambda: track(""), ValueError, "non-empty"),
        (lambda: track("x", attributes=["a"]), TypeError, "attributes must be a mapping"),
        (lambda: track("x", attributes={"k": [1]}), TypeError, "attribute 'k'"),
        (lambda: track("x", attributes={1: "v"}), TypeError, "attribute keys"),
        (lambda: track(record_args="query"), TypeError, "record_args"),
        (lambda: track()(42), TypeError, "callable"),
        (lambda: track_context(""), ValueError, "non-empty"),
        (lambda: track_context(None), TypeError, "name must be a str"),
    ],
)
def test_bad_input_fails_at_decoration_time(make: Any, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        make()


class _Broken(SpanProcessor):
    def __init__(self, where: str) -> None:
        self.where = where

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.where == "start":
            raise RuntimeError("processor bug")

    def on_end(self, span: ReadableSpan) -> None:
        if self.where == "end":
            raise RuntimeError("processor bug")


@pytest.mark.parametrize("where", ["start", "end"])
def test_broken_tracking_never_breaks_the_tracked_function(where: str, caplog: pytest.LogCaptureFixture) -> None:
    with capture(span_processors=[_Broken(where)]):

        @track("fragile")
        def fragile(x: int) -> int:
            return x * 2

        assert [fragile(i) for i in range(3)] == [0, 2, 4]
        assert sum("zgen_otel" in r.getMessage() for r in caplog.records) == 1  # logged once, rate-limited


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_spans_and_metrics_arrive_over_otlp(protocol: Protocol) -> None:
    with OtlpReceiver(protocol) as receiver:
        zgen_otel.configure(otlp_endpoint=receiver.endpoint, otlp_protocol=protocol, interval=3600)

        @track("agent.step")
        def step(fail: bool) -> None:
            with track_context("agent.tool"):
                if fail:
                    raise TimeoutError("tool timed out")

        @track("agent.fetch")
        async def fetch(i: int) -> int:
            await asyncio.sleep(0.001)
            return i

        @track("agent.plan")
        async def plan() -> list[int]:
            return list(await asyncio.gather(*(asyncio.create_task(fetch(i)) for i in range(3))))

        step(False)
        with pytest.raises(TimeoutError):
            step(True)
        assert asyncio.run(plan()) == [0, 1, 2]
        zgen_otel.get_runtime().force_flush()
        assert receiver.wait_for(lambda: len(receiver.span_names()) >= 8 and receiver.metrics_requests)
        spans: dict[str, list[Any]] = {}
        for _, span in receiver.spans():
            spans.setdefault(span.name, []).append(span)
        assert sorted(spans) == ["agent.fetch", "agent.plan", "agent.step", "agent.tool"]
        step_ids = {s.span_id for s in spans["agent.step"]}
        assert all(t.parent_span_id in step_ids for t in spans["agent.tool"])
        failed = next(s for s in spans["agent.step"] if s.status.code == 2)  # STATUS_CODE_ERROR
        assert attributes_dict(failed.attributes)["error.type"] == "TimeoutError"
        assert [e.name for e in failed.events] == ["exception"]
        (root,) = spans["agent.plan"]  # tasks created inside a tracked coroutine are its children
        assert len(spans["agent.fetch"]) == 3
        assert all((f.parent_span_id, f.trace_id) == (root.span_id, root.trace_id) for f in spans["agent.fetch"])
        assert root.parent_span_id == b"" and root.trace_id not in {s.trace_id for s in spans["agent.step"]}

        histograms = _histogram_points(receiver, "zgen.operation.duration", "s")
        assert histograms[("agent.step", "success")].count == 1
        assert histograms[("agent.step", "error")].count == 1
        assert histograms[("agent.tool", "error")].count == 1
        assert histograms[("agent.fetch", "success")].count == 3
        _assert_function_timing_buckets(histograms[("agent.step", "success")].explicit_bounds)
        calls = {
            (
                p.attributes["zgen.operation.name"],
                p.attributes["zgen.operation.outcome"],
                p.attributes.get("error.type"),
            ): (
                p.unit,
                p.value,
            )
            for p in receiver.metric_points()
            if p.name == "zgen.operation.calls"
        }  # cumulative: the newest point of each series wins
        assert calls == {
            ("agent.step", "success", None): ("{call}", 1),
            ("agent.step", "error", "TimeoutError"): ("{call}", 1),
            ("agent.tool", "success", None): ("{call}", 1),
            ("agent.tool", "error", "TimeoutError"): ("{call}", 1),
            ("agent.plan", "success", None): ("{call}", 1),
            ("agent.fetch", "success", None): ("{call}", 3),
        }
        zgen_otel.testing.reset()


def _histogram_points(receiver: OtlpReceiver, name: str, unit: str) -> dict[tuple[str, str], Any]:
    """Histogram points of ``name`` by (operation, outcome), checking the unit."""
    points = {}
    metrics = [
        m for r in receiver.metrics_requests for rm in r.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    ]
    for metric in metrics:
        if metric.name == name:
            assert metric.unit == unit
            for point in metric.histogram.data_points:
                attrs = attributes_dict(point.attributes)
                points[(attrs["zgen.operation.name"], attrs["zgen.operation.outcome"])] = point
    return points


def test_agent_and_tool_operations_follow_the_genai_conventions(cap: Capture) -> None:
    from zgen_otel.performance import track_agent, track_tool

    @track_tool("web_search")
    def search(q: str) -> list[str]:
        return [q]

    @track_agent("planner")
    def plan() -> list[str]:
        return search("weather")

    @track_tool("calculator")
    def broken() -> None:
        raise ZeroDivisionError

    assert plan() == ["weather"]
    with pytest.raises(ZeroDivisionError):
        broken()
    spans = by_name(cap)
    assert set(spans) == {"invoke_agent planner", "execute_tool web_search", "execute_tool calculator"}
    assert dict(spans["invoke_agent planner"].attributes or {})["gen_ai.agent.name"] == "planner"
    tool_attrs = dict(spans["execute_tool web_search"].attributes or {})
    assert (tool_attrs["gen_ai.operation.name"], tool_attrs["gen_ai.tool.name"]) == ("execute_tool", "web_search")
    assert parent_of(spans["execute_tool web_search"]) == spans["invoke_agent planner"].context.span_id
    cap.collect()
    metrics = {m.name: m for m in cap.metrics()}
    assert metrics["gen_ai.invoke_agent.duration"].unit == "s"
    tools = {p.attributes["gen_ai.tool.name"]: p for p in metrics["gen_ai.execute_tool.duration"].data.data_points}
    assert tools["web_search"].count == 1 and tools["calculator"].attributes["error.type"] == "ZeroDivisionError"


def test_tracked_operations_have_a_series_budget_of_their_own_beside_other_instruments() -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False, max_series=40)
    rt = zgen_otel.get_runtime()
    for i in range(60):  # 60 operations x (calls, duration.count/sum/min/max): far past 40 series
        with track_context(f"fetch {i}"):
            pass
    assert rt.providers is not None
    rt.providers.meter_provider.get_meter("some.library").create_counter("library.requests").add(3)
    rt.collect()
    stats = rt.store.stats()
    assert stats["series_tracking"] == 40 and stats["dropped_tracking"] > 0  # the flood hit its own cap...
    assert [s.latest() and s.latest().value for s in rt.store.series("library.requests")] == [3.0]  # ...only
