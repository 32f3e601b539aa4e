"""A collector that is down, hangs or comes back: the agent's calls, local history and alerts carry on.

The cost side (tracked calls and ``record_metric`` against a dead or hanging collector next to a reachable
one, in one run) is measured by ``benchmarks/bench_faults.py``; these tests prove the behaviour.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest

import zgen_otel
from tests.support.net import free_port, hanging_port
from tests.support.otlp import OtlpReceiver, Protocol
from tests.support.servers import Server
from tests.support.waiting import wait_for
from zgen_otel import _runtime
from zgen_otel.alerting import get_alert_manager
from zgen_otel.http import make_app
from zgen_otel.performance import get_performance_stats, track


@track("agent.step")
def step(i: int) -> int:
    return i


@pytest.fixture
def hanging_collector() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with hanging_port(backlog=1) as port:
        yield f"http://127.0.0.1:{port}"


def configure_against(endpoint: str, protocol: Protocol = "http/protobuf") -> None:
    zgen_otel.configure(
        otlp_endpoint=endpoint, otlp_protocol=protocol, export_interval=0.5, interval=1,
        system_monitor=False, default_rules=False, host_lock="none",
    )  # fmt: skip


def status(server: Server) -> dict[str, object]:
    data: dict[str, object] = httpx.get(f"{server.url}/api/monitoring", timeout=10).json()
    return data


def trace_export(server: Server) -> dict[str, object]:
    """The status's ``export.traces`` part: last result, counts and the circuit."""
    traces: dict[str, object] = status(server)["export"]["traces"]  # type: ignore[index]
    return traces


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_a_dead_collector_costs_nothing_local_and_export_resumes_when_it_returns(protocol: Protocol) -> None:
    port = free_port()
    configure_against(f"http://127.0.0.1:{port}", protocol)
    get_alert_manager().add_metric_rule("deep", "queue deep", "agent.queue_depth", threshold=5, duration=0)
    server = Server(make_app())
    try:
        for i in range(3000):
            step(i)
        zgen_otel.record_metric("queue_depth", 9, "agent")
        # Local history, statistics and alerts are unaffected by the dead collector.
        assert zgen_otel.get_metric_history("agent.queue_depth")[-1].value == 9
        assert get_performance_stats()["agent.step"].calls == 3000
        wait_for(lambda: [a.name for a in get_alert_manager().get_active_alerts()] == ["deep"], 5, "the alert to fire")
        # The failure is visible in the status: last result, errors, the open circuit and the dropped batches.
        wait_for(lambda: trace_export(server)["last_result"] == "failure", 15, "a failed trace export in the status")
        traces = status(server)["export"]["traces"]  # type: ignore[index]
        assert traces["failed"] + traces["dropped"] >= 1 and traces["exported"] == 0
        # The collector comes back on the same port: export resumes without a restart.
        with OtlpReceiver(protocol, port=port) as receiver:
            for i in range(10):
                step(i)
            zgen_otel.record_metric("queue_depth", 3, "agent")
            assert receiver.wait_for(lambda: "agent.step" in receiver.span_names(), timeout=20)
            assert receiver.wait_for(
                lambda: any(p.name == "agent.queue_depth" for p in receiver.metric_points()), timeout=20
            )
            wait_for(lambda: trace_export(server)["last_result"] == "success", 10, "a successful trace export")
            assert status(server)["export"]["traces"]["circuit"] == "closed"  # type: ignore[index]
            zgen_otel.shutdown()  # the last export while the receiver still listens
    finally:
        server.stop()


def test_a_hanging_collector_never_blocks_calls_and_its_queue_drops_oldest_counted(hanging_collector: str) -> None:
    configure_against(hanging_collector)
    started = time.monotonic()
    for i in range(20_000):  # ten times the span queue, while the exporter waits on a collector that never answers
        step(i)
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"20,000 tracked calls took {elapsed:.1f} s against a hanging collector"
    providers = _runtime.get_runtime().providers
    wait_for(lambda: providers.export_status()["traces"]["dropped"] > 0, 10, "dropped spans in the export status")
    assert get_performance_stats()["agent.step"].calls == 20_000  # the local view lost nothing
    t0 = time.monotonic()
    zgen_otel.shutdown()
    assert time.monotonic() - t0 < 10, "shutdown with a hanging collector must finish within 10 s"


def test_a_hanging_collector_s_full_log_queue_drops_oldest_counted_without_the_sdk_s_warning(
    hanging_collector: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_BLRP_MAX_QUEUE_SIZE", "8")  # a tiny log queue, read by the SDK's batch processor
    monkeypatch.setenv("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "4")
    configure_against(hanging_collector)
    server = Server(make_app())
    try:
        app_log = logging.getLogger("agent.app")
        for i in range(200):  # far more than the queue holds, while the exporter waits on a hanging collector
            app_log.warning("step %d", i)
        # Counted on the caller's thread as they are pushed out, long before the hanging export times out.
        assert status(server)["export"]["logs"]["dropped"] >= 150  # type: ignore[index]
        floods = [r for r in caplog.records if "Queue full" in r.getMessage()]
        assert floods == [], f"{len(floods)} 'Queue full' warning(s) from the SDK"
        t0 = time.monotonic()
        zgen_otel.shutdown()
        assert time.monotonic() - t0 < 10, "shutdown with a hanging collector must finish within 10 s"
    finally:
        server.stop()


def test_memory_stays_bounded_while_the_collector_is_down() -> None:
    configure_against(f"http://127.0.0.1:{free_port()}")
    process = psutil.Process()
    for i in range(20_000):  # warm-up: the queues fill to their bounds
        step(i)
        zgen_otel.record_metric("load", i % 100, "agent", attributes={"k": str(i % 20)})
    base = process.memory_info().rss
    for i in range(200_000):
        step(i)
        zgen_otel.record_metric("load", i % 100, "agent", attributes={"k": str(i % 20)})
    grown = (process.memory_info().rss - base) / 2**20
    assert grown < 40, f"RSS grew {grown:.0f} MB over 200,000 calls with the collector down"
    assert _runtime.get_runtime().providers.export_status()["traces"]["dropped"] > 150_000
