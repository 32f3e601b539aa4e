"""Metric points received over OTLP land in the right series, however a sender's exports change.

The receiver remembers where each sender's points went last time (by position, checked by their attributes);
these tests change what a sender sends between exports (order, attribute values, new points, restarts, a
second sender with the same payload, more series than allowed) and check every value against the series it
belongs to. The exports are protobuf bodies posted to the real OTLP/HTTP endpoint of a runtime's receiver.
"""

from __future__ import annotations

import http.client
import tracemalloc
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2

import zgen_otel
from tests.support.servers import Server
from zgen_otel.alerting import get_alert_manager
from zgen_otel.http import serve_options
from zgen_otel.http.otlp import make_otlp_app
from zgen_otel.receiver import Receiver
from zgen_otel.store import MetricStore
from zgen_otel.testing import ManualClock

T0 = 1_700_000_000  # seconds: the clock's start and the first export's time
START_NS = (T0 - 60) * 10**9  # when the senders' cumulative series started
Attrs = Sequence[tuple[str, str]]


class Agent:
    """A sender: posts metric exports with its own resource to the receiver's /v1/metrics."""

    def __init__(self, url: str, instance: str, service: str = "worker") -> None:
        self.url, self.instance, self.service = url, instance, service

    def send(self, *metrics: metrics_pb2.Metric) -> int:
        """Post one export of ``metrics``; return the data points the receiver rejected (partial success)."""
        request = ExportMetricsServiceRequest()
        resource_metrics = request.resource_metrics.add()
        for key, value in (("service.name", self.service), ("service.instance.id", self.instance)):
            resource_metrics.resource.attributes.add(key=key).value.string_value = value
        resource_metrics.scope_metrics.add().metrics.extend(metrics)
        host = self.url.removeprefix("http://")
        conn = http.client.HTTPConnection(host, timeout=10)
        try:
            conn.request("POST", "/v1/metrics", request.SerializeToString(),
                         {"Content-Type": "application/x-protobuf"})  # fmt: skip
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        assert response.status == 200, body
        return int(ExportMetricsServiceResponse.FromString(body).partial_success.rejected_data_points)


def _attributes(attrs: Attrs) -> list[KeyValue]:
    out = []
    for key, value in attrs:
        kv = KeyValue(key=key)
        kv.value.string_value = value
        out.append(kv)
    return out


def numbers(*points: tuple[Attrs, float], at: float, start_ns: int = START_NS) -> list[metrics_pb2.NumberDataPoint]:
    """Number points at time ``at`` (seconds), each (attributes, value); whole values are sent as ``as_int``."""
    out = []
    for attrs, value in points:
        point = metrics_pb2.NumberDataPoint(time_unix_nano=int(at * 1e9), start_time_unix_nano=start_ns)
        if float(value).is_integer():
            point.as_int = int(value)
        else:
            point.as_double = value
        point.attributes.extend(_attributes(attrs))
        out.append(point)
    return out


def gauge(name: str, points: list[metrics_pb2.NumberDataPoint]) -> metrics_pb2.Metric:
    metric = metrics_pb2.Metric(name=name, unit="1")
    metric.gauge.data_points.extend(points)
    return metric


def counter(name: str, points: list[metrics_pb2.NumberDataPoint]) -> metrics_pb2.Metric:
    """A monotonic cumulative sum, as an OTel counter exports it."""
    metric = metrics_pb2.Metric(name=name, unit="1")
    metric.sum.data_points.extend(points)
    metric.sum.is_monotonic = True
    metric.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    return metric


def histogram(name: str, at: float, *points: tuple[Attrs, list[int]]) -> metrics_pb2.Metric:
    """A cumulative histogram over the bounds (0.1, 1.0): each point (attributes, counts of its 3 buckets)."""
    metric = metrics_pb2.Metric(name=name, unit="s")
    metric.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    for attrs, counts in points:
        total = 0.05 * counts[0] + 0.5 * counts[1] + 5 * counts[2]
        point = metric.histogram.data_points.add(time_unix_nano=int(at * 1e9), start_time_unix_nano=START_NS,
                                                 count=sum(counts), sum=total)  # fmt: skip
        point.bucket_counts.extend(counts)
        point.explicit_bounds.extend([0.1, 1.0])
        point.attributes.extend(_attributes(attrs))
    return metric


A, A2, B, C = (("queue", "a"),), (("queue", "a2"),), (("queue", "b"),), (("queue", "c"),)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def url(clock: ManualClock) -> Iterator[str]:
    zgen_otel.configure(clock=clock, interval=3600, system_monitor=False, default_rules=False, capture_logs=False,
                        max_series=40, max_series_per_metric=6)  # fmt: skip
    server = Server(make_otlp_app(zgen_otel.get_runtime().start_receiver()), **serve_options())
    try:
        yield server.url
    finally:
        server.stop()


def store() -> MetricStore:
    return zgen_otel.get_runtime().store


def receiver() -> Receiver:
    return zgen_otel.get_runtime().start_receiver()


def values(name: str, attrs: Attrs, instance: str = "w1") -> list[tuple[float, float]]:
    """(time, value) of every point of the one series of ``name`` with ``attrs`` from ``instance``."""
    [series] = store().series(name, {**dict(attrs), "service.instance.id": instance})
    return [(p.timestamp, p.value) for p in series.points()]


def test_reordered_changed_and_inserted_points_land_in_their_own_series(url: str) -> None:
    agent = Agent(url, "w1")
    agent.send(gauge("queue.depth", numbers((A, 1), (B, 2), at=T0)),
               counter("jobs.done", numbers((A, 10), (B, 100), at=T0)))  # fmt: skip
    # the same series in the other order
    agent.send(gauge("queue.depth", numbers((B, 3), (A, 4), at=T0 + 5)),
               counter("jobs.done", numbers((B, 110), (A, 12), at=T0 + 5)))  # fmt: skip
    # a new series first (everything moves one position down), then A's attribute value changes at its position
    agent.send(gauge("queue.depth", numbers((C, 5), (A, 6), (B, 7), at=T0 + 10)),
               counter("jobs.done", numbers((C, 1), (A, 15), (B, 120), at=T0 + 10)))  # fmt: skip
    agent.send(gauge("queue.depth", numbers((C, 8), (A2, 9), (B, 10), at=T0 + 15)),
               counter("jobs.done", numbers((C, 3), (A, 16), (B, 125), at=T0 + 15)))  # fmt: skip

    assert values("queue.depth", A) == [(T0, 1), (T0 + 5, 4), (T0 + 10, 6)]
    assert values("queue.depth", B) == [(T0, 2), (T0 + 5, 3), (T0 + 10, 7), (T0 + 15, 10)]
    assert values("queue.depth", C) == [(T0 + 10, 5), (T0 + 15, 8)]
    assert values("queue.depth", A2) == [(T0 + 15, 9)]
    assert values("jobs.done", A) == [(T0, 10), (T0 + 5, 12), (T0 + 10, 15), (T0 + 15, 16)]
    assert values("jobs.done", B) == [(T0, 100), (T0 + 5, 110), (T0 + 10, 120), (T0 + 15, 125)]
    assert values("jobs.done.rate", A) == [(T0 + 5, 0.4), (T0 + 10, 0.6), (T0 + 15, 0.2)]
    assert values("jobs.done.rate", B) == [(T0 + 5, 2.0), (T0 + 10, 2.0), (T0 + 15, 1.0)]
    assert values("jobs.done.rate", C) == [(T0 + 15, 0.4)]  # none on its first point


def test_a_restarted_counter_counts_from_zero_and_never_goes_negative(url: str) -> None:
    agent = Agent(url, "w1")
    agent.send(counter("jobs.done", numbers((A, 100), (B, 50), at=T0)))
    agent.send(counter("jobs.done", numbers((A, 110), (B, 60), at=T0 + 5)))
    restarted = (T0 + 7) * 10**9  # the process restarted: a new start time, and its count began again
    agent.send(counter("jobs.done", numbers((A, 4), at=T0 + 10, start_ns=restarted) + numbers((B, 55), at=T0 + 10)))
    agent.send(counter("jobs.done", numbers((A, 9), at=T0 + 15, start_ns=restarted) + numbers((B, 65), at=T0 + 15)))

    assert values("jobs.done", A) == [(T0, 100), (T0 + 5, 110), (T0 + 10, 4), (T0 + 15, 9)]
    assert values("jobs.done.rate", A) == [(T0 + 5, 2.0), (T0 + 15, 1.0)]  # no rate across the restart
    # the same start time but a smaller total is a restart too
    assert values("jobs.done.rate", B) == [(T0 + 5, 2.0), (T0 + 15, 2.0)]


def test_two_senders_with_the_same_payload_keep_separate_series(url: str) -> None:
    first, second = Agent(url, "w1"), Agent(url, "w2")
    for k in range(3):
        for agent in (first, second):  # identical exports, but for the resource
            agent.send(gauge("queue.depth", numbers((A, 5 + k), at=T0 + 5 * k)),
                       counter("jobs.done", numbers((A, 10 * (k + 1)), at=T0 + 5 * k)))  # fmt: skip
    second.send(gauge("queue.depth", numbers((A, 99), at=T0 + 15)))
    assert values("queue.depth", A, "w1") == [(T0, 5), (T0 + 5, 6), (T0 + 10, 7)]
    assert values("queue.depth", A, "w2") == [(T0, 5), (T0 + 5, 6), (T0 + 10, 7), (T0 + 15, 99)]
    for instance in ("w1", "w2"):
        assert values("jobs.done.rate", A, instance) == [(T0 + 5, 2.0), (T0 + 10, 2.0)]
    senders = [(s.service, s.instance, s.points) for s in receiver().senders()]  # points: samples stored
    assert senders == [("worker", "w1", 3 * 2 + 2), ("worker", "w2", 3 * 2 + 2 + 1)]


def test_histogram_intervals_follow_their_series_when_points_move(url: str) -> None:
    agent = Agent(url, "w1")
    agent.send(histogram("job.duration", T0, (A, [1, 0, 0]), (B, [0, 2, 0])))
    agent.send(histogram("job.duration", T0 + 5, (B, [0, 5, 1]), (A, [2, 0, 0])))
    agent.send(histogram("job.duration", T0 + 10, (C, [0, 0, 4]), (A, [2, 1, 0]), (B, [0, 5, 1])))
    assert values("job.duration.count", A) == [(T0, 1), (T0 + 5, 1), (T0 + 10, 1)]
    assert values("job.duration.count", B) == [(T0, 2), (T0 + 5, 4)]  # nothing new in the third interval
    assert values("job.duration.count", C) == [(T0 + 10, 4)]
    [b] = receiver().histograms.series("job.duration", {"queue": "b"})
    assert (b.counts, b.count) == ([0, 5, 1], 6)


def test_an_alert_rule_follows_each_received_series(url: str, clock: ManualClock) -> None:
    manager = get_alert_manager()
    manager.add_metric_rule("deep_queue", "the queue is deep", "queue.depth", threshold=10)
    agent = Agent(url, "w1")

    def firing() -> list[str]:
        return sorted(str(a.labels["queue"]) for a in manager.get_active_alerts())

    agent.send(gauge("queue.depth", numbers((A, 20), (B, 1), at=T0)))
    assert firing() == ["a"]
    clock.advance(5)
    agent.send(gauge("queue.depth", numbers((B, 2), (A, 30), at=T0 + 5)))
    assert firing() == ["a"]
    clock.advance(5)
    agent.send(gauge("queue.depth", numbers((C, 50), (A, 3), (B, 15), at=T0 + 10)))
    assert firing() == ["b", "c"]
    clock.advance(5)
    agent.send(gauge("queue.depth", numbers((C, 50), (A, 3), (B, 4), at=T0 + 15)))
    assert firing() == ["c"]


def test_series_past_the_limits_are_dropped_or_folded_on_every_export(url: str) -> None:
    agent = Agent(url, "w1")
    many = [(("queue", f"q{n}"),) for n in range(10)]  # 10 sets of one metric: 6 allowed, then the overflow series
    for k in range(3):
        assert agent.send(gauge("queue.depth", numbers(*((attrs, k) for attrs in many), at=T0 + 5 * k))) == 0
    [overflow] = store().series("queue.depth", {"otel.metric.overflow": True})
    assert [p.value for p in overflow.points()] == [0] * 4 + [1] * 4 + [2] * 4  # the 4 sets past the 6, each time
    assert store().overflow_folded == 12
    # 40 series a service: the 7 here and 33 more; the rest is dropped, counted, on every export
    lots = [(("job", f"j{n}"),) for n in range(40)]
    rejected = [agent.send(*(gauge(f"job.{n}", numbers((attrs, 1), at=T0 + 5 * k)) for n, attrs in enumerate(lots)))
                for k in range(3)]  # fmt: skip
    assert rejected == [7, 7, 7]
    assert store().stats()["dropped_received:worker"] == 21


def test_a_series_the_store_forgot_comes_back_when_its_sender_does(url: str, clock: ManualClock) -> None:
    agent = Agent(url, "w1")
    agent.send(gauge("queue.depth", numbers((A, 1), at=T0)))
    agent.send(gauge("queue.depth", numbers((A, 2), at=T0 + 5)))
    later = clock.advance(31 * 86_400)  # past the 30-day retention: the series is forgotten
    assert store().prune() >= 1 and not store().series("queue.depth")
    agent.send(gauge("queue.depth", numbers((A, 3), at=later)))
    assert values("queue.depth", A) == [(later, 3)]


def test_a_sender_that_changes_its_attributes_every_time_stays_bounded(url: str) -> None:
    """Each export with new attribute values: series stop at the limit, memory does not grow with exports."""
    agent = Agent(url, "w1")

    def export(k: int) -> Any:
        return counter("requests", numbers(*(((("request.id", f"r{k}-{n}"),), n + 1) for n in range(20)), at=T0 + k))

    for k in range(100):  # past the series limit of a metric, and the remembered cumulative state
        agent.send(export(k))
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for k in range(100, 400):
            agent.send(export(k))
        grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename")
                    if "zgen_otel" in str(s.traceback))  # fmt: skip
    finally:
        tracemalloc.stop()
    assert len(store().series("requests")) == 6 + 1  # max_series_per_metric, then the overflow series
    # what it remembers of 6,000 attribute sets would be over 1 MB; the bounded state comes and goes (< 150 KB)
    assert grown < 400_000, f"the receiver grew by {grown} bytes over 300 exports"
