"""End to end: zgen_otel ships metrics and spans through the official OTLP exporters (gRPC and HTTP) to a receiver."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest

import zgen_otel
import zgen_otel.testing
from tests.support.net import free_port
from tests.support.otlp import MetricPoint, OtlpReceiver, Protocol
from zgen_otel._providers import EXPORT_TIMEOUT
from zgen_otel.performance import track

PROTOCOLS: list[Protocol] = ["grpc", "http/protobuf"]
_OTLP_ENV = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
    "OTEL_METRICS_EXPORTER",
    "OTEL_TRACES_EXPORTER",
)


@pytest.fixture(autouse=True)
def _reset_after(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _OTLP_ENV:
        monkeypatch.delenv(name, raising=False)
    yield
    zgen_otel.testing.reset()


def _serve(protocol: Protocol) -> Iterator[OtlpReceiver]:
    with OtlpReceiver(protocol) as receiver:
        try:
            yield receiver
        finally:
            # Shut the exporters down (their last export included) while the receiver still listens.
            zgen_otel.testing.reset()


@pytest.fixture(params=PROTOCOLS)
def receiver(request: pytest.FixtureRequest) -> Iterator[OtlpReceiver]:
    yield from _serve(request.param)


@pytest.fixture
def http_receiver() -> Iterator[OtlpReceiver]:
    yield from _serve("http/protobuf")


def _latest(receiver: OtlpReceiver, name: str) -> MetricPoint | None:
    points = [p for p in receiver.metric_points() if p.name == name]
    return points[-1] if points else None


def _has_metrics(receiver: OtlpReceiver, *names: str) -> bool:
    arrived = {p.name for p in receiver.metric_points()}
    return all(name in arrived for name in names)


def test_metrics_and_spans_reach_the_receiver(
    receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    protocol: Protocol = request.node.callspec.params["receiver"]
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    zgen_otel.testing.reset()
    zgen_otel.configure(
        otlp_endpoint=receiver.endpoint,
        otlp_protocol=protocol,
        service_name="otlp-test",
        interval=3600,
        export_interval=3600,
    )
    runtime = zgen_otel.get_runtime()
    assert set(runtime.providers.export_targets) == {"metrics", "traces", "logs"}

    zgen_otel.record_metric("cpu_usage", 45.2, "system", unit="%")
    zgen_otel.record_metric("queue_depth", 3, attributes={"queue": "main"})
    with runtime.tracer.start_as_current_span("agent.step"):
        pass
    counter = runtime.providers.meter_provider.get_meter("third.party").create_counter("third.calls", unit="{call}")
    counter.add(2, {"k": "v"})

    runtime.providers.force_flush()
    assert receiver.wait_for(
        lambda: _has_metrics(receiver, "system.cpu_usage", "queue_depth", "third.calls") and receiver.span_names(),
        timeout=5,
    ), f"got metrics {sorted({p.name for p in receiver.metric_points()})} and spans {receiver.span_names()}"

    cpu = _latest(receiver, "system.cpu_usage")
    assert cpu is not None
    assert cpu.value == pytest.approx(45.2) and cpu.unit == "%" and cpu.attributes == {}
    queue = _latest(receiver, "queue_depth")
    assert queue is not None
    assert queue.value == 3 and queue.attributes == {"queue": "main"}
    calls = _latest(receiver, "third.calls")
    assert calls is not None
    assert calls.value == 2 and calls.unit == "{call}" and calls.attributes == {"k": "v"}
    for point in (cpu, queue, calls):
        assert point.resource["service.name"] == "otlp-test"
        assert point.resource["deployment.environment"] == "test"

    spans = receiver.spans()
    assert [span.name for _, span in spans] == ["agent.step"]
    resource: dict[str, Any] = spans[0][0]
    assert resource["service.name"] == "otlp-test" and resource["deployment.environment"] == "test"


def test_telemetry_is_flushed_at_interpreter_exit(receiver: OtlpReceiver, request: pytest.FixtureRequest) -> None:
    protocol: Protocol = request.node.callspec.params["receiver"]
    script = textwrap.dedent(
        f"""
        import zgen_otel
        from zgen_otel.performance import track
        zgen_otel.configure(otlp_endpoint={receiver.endpoint!r}, otlp_protocol={protocol!r}, interval=3600,
                            export_interval=3600, system_monitor=False, service_name="exit-test")
        zgen_otel.record_metric("exit_metric", 7, "agent", unit="{{step}}")
        track("exit.step")(lambda: None)()
        """
    )  # no shutdown(), and no export is due for an hour: only the flush at exit sends anything
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert receiver.wait_for(lambda: _has_metrics(receiver, "agent.exit_metric") and receiver.span_names(), timeout=5)
    point = _latest(receiver, "agent.exit_metric")
    assert point is not None
    assert (point.value, point.unit, point.resource["service.name"]) == (7, "{step}", "exit-test")
    assert receiver.span_names() == ["exit.step"]


def test_no_endpoint_sends_nothing_and_does_not_fail() -> None:
    zgen_otel.testing.reset()
    zgen_otel.configure(interval=3600, export_interval=3600)
    zgen_otel.record_metric("cpu_usage", 12.5, "system", unit="%")
    runtime = zgen_otel.get_runtime()
    runtime.providers.force_flush()
    assert runtime.providers.export_targets == {}
    assert zgen_otel.get_latest_value("system.cpu_usage") == 12.5  # the local store still works


def test_metrics_endpoint_from_its_own_variable(http_receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", http_receiver.endpoint + "/v1/metrics")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf")
    zgen_otel.testing.reset()
    zgen_otel.configure(interval=3600, export_interval=3600)
    runtime = zgen_otel.get_runtime()
    assert runtime.providers.export_targets == {"metrics": f"http/protobuf {http_receiver.endpoint}/v1/metrics"}

    zgen_otel.record_metric("queue_depth", 7, attributes={"queue": "main"})
    runtime.providers.force_flush()
    assert http_receiver.wait_for(lambda: _has_metrics(http_receiver, "queue_depth"), timeout=5)
    point = _latest(http_receiver, "queue_depth")
    assert point is not None and point.value == 7 and point.attributes == {"queue": "main"}
    assert {signal for signal, _ in http_receiver.request_headers} == {"metrics"}


def test_gzip_compressed_http_export_is_decoded(http_receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    zgen_otel.testing.reset()
    zgen_otel.configure(otlp_endpoint=http_receiver.endpoint, interval=3600, export_interval=3600)
    zgen_otel.record_metric("cpu_usage", 45.2, "system", unit="%")
    zgen_otel.get_runtime().providers.force_flush()
    assert http_receiver.wait_for(lambda: _has_metrics(http_receiver, "system.cpu_usage"), timeout=5)
    assert any(headers.get("content-encoding") == "gzip" for _, headers in http_receiver.request_headers)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_collector_that_is_not_there_costs_one_timeout_and_one_warning_per_signal(
    protocol: Protocol, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    zgen_otel.record_metric("probe", 1.0, "agent")

    @track("agent.step")
    def step() -> None:
        pass

    step()
    logging.getLogger("agent").warning("a record for the logs exporter")
    runtime = zgen_otel.get_runtime()
    started = time.monotonic()
    runtime.force_flush()
    flushed = time.monotonic() - started
    export = runtime.status()["export"]
    started = time.monotonic()
    zgen_otel.shutdown()
    stopped = time.monotonic() - started
    assert flushed < EXPORT_TIMEOUT + 2  # the signals flush at once: one export timeout, not one per signal
    assert stopped < 2  # the collector is known to be down: the last export does not wait for it again
    for signal, health in export.items():  # each tried and was refused, or dropped its batch once another was
        tried = (health["last_result"], health["last_error"]) == ("failure", "connection refused")
        assert tried or (health["last_result"] is None and health["dropped"] > 0), (signal, health)
    # The exporters' own retry and failure lines are folded into zgen_otel's one warning per signal, with the reason.
    assert not [r.getMessage() for r in caplog.records
                if r.name.startswith("opentelemetry.exporter") and r.levelno >= logging.WARNING]  # fmt: skip
    warnings = [r.getMessage() for r in caplog.records if r.name == "zgen_otel._export"]
    assert 1 <= len(warnings) <= 3 and all("failed (connection refused)" in w for w in warnings), warnings
