"""The seed's metrics API: record_metric, history, averages, callbacks, bad input and disabled mode."""

from __future__ import annotations

import logging
import math
import time
from decimal import Decimal
from fractions import Fraction

import pytest
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace

import zgen_otel
from tests.support.waiting import wait_for
from zgen_otel.metrics import (
    get_all_metrics,
    get_latest_value,
    get_metric_average,
    get_metric_history,
    get_metric_stats,
    list_metrics,
    record_metric,
    register_callback,
    unregister_callback,
)
from zgen_otel.testing import ManualClock, capture


def test_seed_snippet_works_with_no_setup() -> None:
    record_metric("cpu_usage", 45.2, "system")
    history = get_metric_history("system.cpu_usage")
    assert [p.value for p in history] == [45.2]
    assert abs(history[0].timestamp - time.time()) < 5
    assert get_metric_average("system.cpu_usage", window_seconds=300) == 45.2
    assert zgen_otel.is_configured()


def test_history_bounds_limit_and_average_window() -> None:
    clock = ManualClock()
    zgen_otel.configure(clock=clock)
    for v in (10, 20, 30, 40):
        record_metric("latency", v, "agent", unit="ms")
        clock.advance(60)
    t0 = clock.now - 240
    assert [p.value for p in get_metric_history("agent.latency", since=t0 + 60)] == [20, 30, 40]
    assert [p.value for p in get_metric_history("agent.latency", until=t0 + 60)] == [10, 20]
    assert [p.value for p in get_metric_history("agent.latency", limit=1)] == [40]
    assert get_metric_average("agent.latency", window_seconds=130) == 35.0
    assert get_metric_average("agent.latency", window_seconds=10) is None
    assert get_metric_average("never.recorded") is None
    stats = get_metric_stats("agent.latency", 1000)
    assert stats is not None and (stats.count, stats.min, stats.max, stats.latest) == (4, 10, 40, 40)
    assert get_latest_value("agent.latency") == 40
    assert list_metrics() == ["agent.latency"]
    (info,) = get_all_metrics()
    assert (info.name, info.unit, info.category, info.latest, info.points) == ("agent.latency", "ms", "agent", 40, 4)


def test_the_first_sample_of_a_name_sets_the_unit_of_all_its_series() -> None:
    zgen_otel.configure()
    record_metric("latency", 1.0, "agent", attributes={"tool": "a"}, unit="ms")
    record_metric("latency", 2.0, "agent", attributes={"tool": "b"})  # a new series, no unit given
    record_metric("latency", 3.0, "agent", attributes={"tool": "c"}, unit="s")  # a different one: the first wins
    assert {i.attributes["tool"]: i.unit for i in get_all_metrics()} == {"a": "ms", "b": "ms", "c": "ms"}


def test_values_are_stored_exactly() -> None:
    values = [0.1, 1e-300, -7, 2**53 + 1, Fraction(1, 3), True, 1.7976931348623157e308]
    for v in values:
        record_metric("exact", v)
    assert [p.value for p in get_metric_history("exact")] == [float(v) for v in values]


def test_explicit_timestamps_and_attributes() -> None:
    record_metric("queue", 5, attributes={"queue": "a"}, timestamp=1_700_000_000.5)
    record_metric("queue", 7, attributes={"queue": "b"}, timestamp=1_700_000_001.25)
    assert [(p.timestamp, p.value) for p in get_metric_history("queue", attributes={"queue": "b"})] == [
        (1_700_000_001.25, 7.0)
    ]
    assert len(get_metric_history("queue")) == 2


@pytest.mark.parametrize("bad", ["abc", None, [1], {"v": 1}, Decimal("1.5"), 1j, b"1"])
def test_non_numbers_raise_type_error_and_store_nothing(bad: object) -> None:
    with pytest.raises(TypeError, match="real number"):
        record_metric("m", bad)  # type: ignore[arg-type]
    assert get_metric_history("m") == []


@pytest.mark.parametrize(
    ("name", "category", "error"),
    [
        ("", None, ValueError),
        ("has space", None, ValueError),
        ("9lives", None, ValueError),
        ("x" * 256, None, ValueError),
        ("ok", "bad category", ValueError),
        (42, None, TypeError),
        ("ok", 3, TypeError),
    ],
)
def test_bad_names_raise_naming_the_rule(name: object, category: object, error: type[Exception]) -> None:
    with pytest.raises(error) as err:
        record_metric(name, 1.0, category)  # type: ignore[arg-type]
    if error is ValueError:
        assert "must start with a letter" in str(err.value) and repr(name if name != "ok" else category) in str(
            err.value
        )
    assert list_metrics() == []


@pytest.mark.parametrize("attributes", [{"k": [1]}, {1: "v"}, {"": "v"}, {"k": None}, {"k": math.nan}, "k=v"])
def test_bad_attributes_raise_type_error(attributes: object) -> None:
    with pytest.raises(TypeError, match="attribute"):
        record_metric("m", 1.0, attributes=attributes)  # type: ignore[arg-type]
    assert get_metric_history("m") == []


def test_nan_and_inf_are_dropped_counted_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    record_metric("m", 1.0)
    for bad in (math.nan, math.inf, -math.inf) * 10:
        record_metric("m", bad)
    assert [p.value for p in get_metric_history("m")] == [1.0]
    assert zgen_otel.get_runtime().metrics.dropped_nonfinite == 30
    warnings = [r for r in caplog.records if "non-finite" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


def test_callbacks_get_every_update_and_a_failing_one_breaks_nothing(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    zgen_otel.configure(clock=clock)
    got: list[tuple[str, float, float, dict[str, object]]] = []

    def failing(*_: object) -> None:
        raise ValueError("callback bug")

    def good(name: str, value: float, ts: float, attributes: object) -> None:
        got.append((name, value, ts, dict(attributes)))  # type: ignore[call-overload]

    register_callback("agent.*", failing)
    register_callback("agent.*", good)
    record_metric("steps", 1, "agent", attributes={"run": "r1"})
    clock.advance(1.5)
    record_metric("steps", 2, "agent")
    record_metric("steps", 5, "agent", timestamp=clock.now - 0.75)  # an explicit, earlier timestamp
    record_metric("other", 3)
    history = get_metric_history("agent.steps")
    assert [p.value for p in history] == [1.0, 5.0, 2.0]
    t0 = clock.now - 1.5
    assert got == [
        ("agent.steps", 1.0, t0, {"run": "r1"}),
        ("agent.steps", 2.0, t0 + 1.5, {}),
        ("agent.steps", 5.0, t0 + 0.75, {}),
    ]
    assert sorted(ts for _, _, ts, _ in got) == [p.timestamp for p in history]  # the stored samples' times
    assert any("callback bug" in (r.exc_text or "") for r in caplog.records)
    assert unregister_callback("agent.*", good)
    record_metric("steps", 3, "agent")
    assert len(got) == 3
    with pytest.raises(TypeError):
        register_callback("x", "not callable")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        register_callback("", good)


def test_disabled_monitoring_is_a_cheap_noop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITORING_ENABLED", "false")
    record_metric("cpu_usage", 45.2, "system")
    record_metric("cpu_usage", "not even a number", "system")  # type: ignore[arg-type]
    register_callback("x", lambda *a: None)
    assert get_metric_history("system.cpu_usage") == []
    assert get_metric_average("system.cpu_usage") is None
    assert get_latest_value("system.cpu_usage") is None
    assert list_metrics() == [] and get_all_metrics() == []
    rt = zgen_otel.get_runtime()
    assert not rt.enabled and rt.providers is None


def test_record_metric_reaches_otel_as_a_gauge_and_other_instruments_reach_the_store() -> None:
    with capture() as cap:
        record_metric("tokens", 10, "llm", attributes={"model": "m1"}, unit="{token}")
        record_metric("tokens", 12, "llm", attributes={"model": "m1"}, unit="{token}")
        meter = cap.runtime.providers.meter_provider.get_meter("some.library")
        meter.create_counter("lib.calls", unit="{call}").add(3, {"op": "x"})
        hist = meter.create_histogram("lib.duration", unit="s")
        for v in (0.5, 1.5):
            hist.record(v)
        otel = {m.name: m for m in cap.metrics()}
        (point,) = otel["llm.tokens"].data.data_points
        assert (point.value, dict(point.attributes), otel["llm.tokens"].unit) == (12, {"model": "m1"}, "{token}")

        cap.collect()
        assert [p.value for p in get_metric_history("llm.tokens")] == [10, 12]  # not duplicated by the reader
        assert [p.value for p in get_metric_history("lib.calls", attributes={"op": "x"})] == [3]
        assert get_latest_value("lib.duration.count") == 2 and get_latest_value("lib.duration.sum") == 2.0
        assert get_latest_value("lib.duration.max") == 1.5
        units = {i.name: i.unit for i in get_all_metrics()}
        assert units["lib.calls"] == "{call}" and units["lib.duration.sum"] == "s"


def test_reader_collects_other_instruments_every_interval() -> None:
    zgen_otel.configure(interval=0.2, system_monitor=False)
    meter = zgen_otel.get_runtime().providers.meter_provider.get_meter("some.library")
    counter = meter.create_counter("lib.calls", unit="{call}")
    counter.add(3, {"op": "x"})
    wait_for(lambda: get_latest_value("lib.calls") == 3, what="the first collection")  # nobody calls collect()
    counter.add(2, {"op": "x"})
    wait_for(lambda: get_latest_value("lib.calls") == 5, what="the next collection")
    assert len(get_metric_history("lib.calls", attributes={"op": "x"})) >= 2  # one sample per collection


def test_global_providers_follow_the_current_runtime() -> None:
    zgen_otel.configure()
    counter = otel_metrics.get_meter("third.party").create_counter("third.calls")
    tracer = otel_trace.get_tracer("third.party")
    counter.add(1)
    with capture() as cap:  # a new runtime: instruments and tracers from the globals follow it
        assert cap.runtime.providers.installed_globals
        counter.add(2)
        otel_metrics.get_meter("late.library").create_histogram("late.duration").record(1.0)
        with tracer.start_as_current_span("outer"), tracer.start_as_current_span("inner"):
            pass
        cap.collect()
        assert get_latest_value("third.calls") == 2
        assert get_latest_value("late.duration.count") == 1
        inner, outer = sorted(cap.spans(), key=lambda s: s.name)
        assert inner.parent is not None and inner.parent.span_id == outer.context.span_id


def test_global_providers_can_be_left_alone() -> None:
    zgen_otel.configure(set_global_providers=False)
    assert not zgen_otel.get_runtime().providers.installed_globals


@pytest.mark.parametrize("window", [0, -5, math.nan, math.inf, "300", True])
def test_bad_windows_raise_value_error(window: object) -> None:
    record_metric("m", 1.0)
    for fn in (get_metric_average, get_metric_stats):
        with pytest.raises(ValueError, match="window_seconds"):
            fn("m", window_seconds=window)  # type: ignore[operator]


def test_attribute_sets_are_cut_to_the_limits_like_span_attributes(caplog: pytest.LogCaptureFixture) -> None:
    with capture(interval=3600, system_monitor=False, max_attributes=8, max_value_length=100):
        wide = {f"k{i:02}": i for i in range(50)}
        zgen_otel.record_metric("wide", 1.0, attributes=wide)
        zgen_otel.record_metric("long", 2.0, attributes={"prompt": "x" * 1_000_000})
        (wide_info,) = [s for s in zgen_otel.get_all_metrics() if s.name == "wide"]
        assert wide_info.attributes == {f"k{i:02}": i for i in range(8)}  # the first 8, as given (SDK span limits)
        (long_info,) = [s for s in zgen_otel.get_all_metrics() if s.name == "long"]
        assert long_info.attributes == {"prompt": "x" * 100}
        assert zgen_otel.get_runtime().status()["metric_attributes_limited"] == 2
        assert sum("max_attributes=8" in r.getMessage() for r in caplog.records) == 1  # rate-limited


def test_a_flood_of_attribute_sets_on_one_metric_leaves_room_for_new_metrics() -> None:
    with capture(interval=3600, system_monitor=False, max_series=500, max_series_per_metric=100):
        for i in range(5000):
            zgen_otel.record_metric("requests", 1.0, attributes={"user": f"u{i}"})
        stats = zgen_otel.get_runtime().store.stats()
        assert stats["series_metrics"] == 101 and stats["overflow_folded"] == 4900
        folded = zgen_otel.get_metric_history("requests", attributes={"otel.metric.overflow": True})
        assert sum(p.samples for p in folded) == 4900
        zgen_otel.record_metric("tokens", 5.0, attributes={"model": "m"})
        assert zgen_otel.get_latest_value("tokens") == 5.0
