"""The local store: compact buffers, rolled-up tiers, retention, window queries, caps and thread-safety."""

from __future__ import annotations

import threading
import tracemalloc

import pytest

from zgen_otel.store import MetricStore
from zgen_otel.testing import ManualClock

T0 = 1_700_000_000.0


def test_points_come_back_exactly_and_in_time_order() -> None:
    store = MetricStore()
    for ts, v in [(T0 + 2, 2.0), (T0, 0.5), (T0 + 1, 1.25), (T0 + 3, 3.0)]:
        store.add("m", v, timestamp=ts)
    assert [(p.timestamp, p.value) for p in store.history("m")] == [
        (T0, 0.5),
        (T0 + 1, 1.25),
        (T0 + 2, 2.0),
        (T0 + 3, 3.0),
    ]
    assert [p.value for p in store.history("m", since=T0 + 1, until=T0 + 2)] == [1.25, 2.0]
    assert [p.value for p in store.history("m", limit=2)] == [2.0, 3.0]


def test_raw_points_cost_at_most_17_bytes() -> None:
    store = MetricStore(max_raw_points=200_000, max_series=100)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for s in range(10):
        key = (("s", s),)
        for i in range(100_000):
            store.add("m", float(i), key, T0 + i * 0.5)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert store.stats()["points"] == 1_000_000
    assert used / 1_000_000 <= 17, f"{used / 1e6:.1f} bytes per point"


def test_thirty_days_of_one_second_data_fits_in_a_few_hundred_kb() -> None:
    clock = ManualClock(T0)
    store = MetricStore(clock=clock)
    n = 30 * 86_400
    for i in range(n):
        store.add("cpu", float(i % 100), timestamp=T0 + i)
    clock.now = T0 + n
    store.prune()
    stats = store.stats()
    assert stats["bytes"] < 300_000, stats
    history = store.history("cpu")
    assert sum(p.samples for p in history) == n  # every sample is accounted for in some tier
    assert history[1].samples == 3600 and history[-1].samples == 1  # hours, then minutes, then raw
    window = store.window("cpu", n + 3600, now=T0 + n)  # buckets count when they start inside the window
    assert window is not None and window.count == n and window.avg == pytest.approx(49.5, abs=0.01)
    assert window.min == 0 and window.max == 99


def test_retention_drops_old_points_and_empty_series() -> None:
    clock = ManualClock(T0)
    store = MetricStore(retention_seconds=100, clock=clock)
    store.add("old", 1.0, timestamp=T0)
    store.add("mixed", 1.0, timestamp=T0)
    store.add("mixed", 2.0, timestamp=T0 + 150)
    clock.now = T0 + 200
    assert store.prune() == 1
    assert store.names() == ["mixed"]
    assert [p.value for p in store.history("mixed")] == [2.0]


def test_window_statistics_read_only_the_window() -> None:
    store = MetricStore()
    for i in range(3600):
        store.add("lat", float(i), timestamp=T0 + i)
    w = store.window("lat", 99.5, now=T0 + 3599)
    assert w is not None
    assert (w.count, w.min, w.max, w.latest) == (100, 3500.0, 3599.0, 3599.0)
    assert w.avg == pytest.approx(3549.5)
    assert (w.p50, w.p95, w.p99) == (3549.0, 3594.0, 3598.0)
    assert store.window("lat", 10, now=T0 + 10_000) is None
    assert store.window("missing", 10) is None


def test_attribute_filters_select_series() -> None:
    store = MetricStore()
    store.add("cpu", 10.0, (("core", 0),), T0)
    store.add("cpu", 30.0, (("core", 1),), T0 + 1)
    assert [p.value for p in store.history("cpu", {"core": 1})] == [30.0]
    assert [p.value for p in store.history("cpu")] == [10.0, 30.0]
    w = store.window("cpu", 10, now=T0 + 2)
    assert w is not None and w.avg == 20.0 and w.latest == 30.0


def test_series_cap_counts_and_warns_instead_of_growing(caplog: pytest.LogCaptureFixture) -> None:
    store = MetricStore(max_series=100)
    for i in range(1000):
        store.add("req", 1.0, (("user", str(i)),), T0)
    stats = store.stats()
    assert stats["series"] == 100 and stats["overflow_dropped"] == 900
    assert sum("max_series=100" in r.getMessage() for r in caplog.records) == 1  # rate-limited
    assert store.add("req", 2.0, (("user", "0"),), T0 + 1)  # existing series keep working


def test_concurrent_writers_lose_no_sample() -> None:
    store = MetricStore(max_raw_points=1_000_000)
    barrier = threading.Barrier(8)

    def write(t: int) -> None:
        barrier.wait()
        for i in range(10_000):
            store.add("shared", 1.0, timestamp=T0 + i * 0.001)
            store.add("own", 1.0, (("t", t),), T0 + i * 0.001)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.history("shared")) == 80_000
    assert len(store.history("own")) == 80_000
    assert store.history("shared") == sorted(store.history("shared"), key=lambda p: p.timestamp)


def test_listeners_match_names_and_globs_and_survive_errors() -> None:
    store = MetricStore()
    seen: list[tuple[str, float]] = []

    def boom(*_: object) -> None:
        raise RuntimeError("bad listener")

    store.subscribe("system.*", boom)
    store.subscribe("system.*", lambda n, v, ts, a: seen.append((n, v)))
    store.subscribe("app.x", lambda n, v, ts, a: seen.append((n, v)))
    store.add("system.cpu", 1.0)
    store.add("app.x", 2.0)
    store.add("app.y", 3.0)
    assert seen == [("system.cpu", 1.0), ("app.x", 2.0)]
    assert store.unsubscribe("system.*", boom) and not store.unsubscribe("system.*", boom)


def test_retention_drops_a_rolled_up_bucket_that_ends_exactly_at_the_cutoff() -> None:
    minute = 1_700_000_040.0  # a whole minute, at Unix-time magnitude (where adding 1e-9 is lost)
    store = MetricStore(retention_seconds=600, max_raw_points=16, raw_window=30)
    for i in range(40):  # older than the raw window: rolled up into the minute bucket starting at minute - 60
        store.add("m", 1.0, timestamp=minute - 40 + i)
    store.add("m", 2.0, timestamp=minute + 700)
    store.prune(now=minute + 600)  # the cutoff is exactly the end of that bucket
    assert [p.timestamp for p in store.history("m")] == [minute + 700]


def test_each_source_has_its_own_series_budget_and_each_metric_its_own_limit(caplog: pytest.LogCaptureFixture) -> None:
    from zgen_otel.store import INSTRUMENTS, METRICS, OVERFLOW_KEY

    store = MetricStore(max_series=100, max_series_per_metric=10)
    for i in range(1000):  # one noisy metric: ten attribute sets, the rest folded into its overflow series
        assert store.add("zgen.operation.calls", 1.0, (("op", f"fetch {i}"),), T0, source=INSTRUMENTS)
    assert len(store.series("zgen.operation.calls")) == 11
    assert [p.samples for p in store.history("zgen.operation.calls", {"otel.metric.overflow": True})] == [1] * 990
    assert store.stats()["overflow_folded"] == 990
    assert sum("max_series_per_metric=10" in r.getMessage() for r in caplog.records) == 1  # rate-limited
    for i in range(200):  # many noisy metrics: the reader's budget fills, and its drops are counted
        store.add(f"lib.metric{i}", 1.0, (), T0, source=INSTRUMENTS)
    stats = store.stats()
    assert stats["series_instruments"] == 100 and stats["dropped_instruments"] == 111
    # record_metric's series keep their own budget
    series = store.get_or_create("agent.tokens", (("model", "m"),), source=METRICS)
    assert series is not None and series.key == (("model", "m"),)
    assert store.stats()["series_metrics"] == 1 and store.stats()["overflow_dropped"] == 111
    folded = [store.get_or_create("agent.latency", (("user", str(i)),)) for i in range(12)]
    assert [s.key for s in folded if s is not None][10:] == [OVERFLOW_KEY, OVERFLOW_KEY]
    # a pruned series gives its place in the budget back
    assert store.stats()["series_metrics"] == 12  # agent.tokens, ten of agent.latency, its overflow series
    assert store.prune(T0 + store.retention_seconds + 10) == 112
    assert store.stats()["series_instruments"] == store.stats()["series_metrics"] == 0
    assert store.add("lib.metric199", 1.0, (), T0 + store.retention_seconds + 20, source=INSTRUMENTS)
