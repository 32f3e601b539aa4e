"""zgen_otel beside OpenTelemetry's own auto-instrumentation: nothing reaches the backend twice.

``opentelemetry-instrument`` (opentelemetry-distro) starts every installed instrumentor, among them
``opentelemetry-instrumentation-logging`` (an OTel logging handler on the root logger) and
``opentelemetry-instrumentation-system-metrics``, which zgen_otel depends on. The agent runs under it in a
subprocess, exporting OTLP to a receiver on 127.0.0.1: each log record must arrive once, each metric name from
one instrumentation scope, and zgen_otel's local views must still be filled.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.support.otlp import OtlpReceiver, Protocol
from zgen_otel.config import ENV_VARS

CONTRIB_SCOPE = "opentelemetry.instrumentation.system_metrics"
ZGEN_SCOPE = "zgen_otel.system"

AGENT = """\
import json, logging
import zgen_otel
from zgen_otel.logs import get_recent_logs
from zgen_otel.system_monitor import get_system_metrics

log = logging.getLogger("agent")
with zgen_otel.track_context("agent.step"):
    log.info("step started")
    log.warning("step slow")
    log.error("step failed")
get_system_metrics()  # a sweep now, instead of within a second
local = [[r["level"], r["message"], r["trace_id"]] for r in get_recent_logs(logger="agent")]
print(json.dumps({"logs": local, "metrics": zgen_otel.list_metrics()}))
"""


def agent_env(receiver: OtlpReceiver, **extra: str) -> dict[str, str]:
    """This environment without zgen_otel's or OTel's settings, exporting to ``receiver``."""
    ours = {spec.env for spec in ENV_VARS.values()}
    env = {k: v for k, v in os.environ.items() if k not in ours and not k.startswith("OTEL_")}
    return {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_SERVICE_NAME": "agent",
            "ZGEN_OTEL_HOST_LOCK": "none", **extra}  # fmt: skip  # no host lock: this process ships host series


def run_agent(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return found


def received_logs(receiver: OtlpReceiver, logger: str) -> collections.Counter[tuple[str, str]]:
    """How often each (body, trace id) of ``logger``'s records arrived."""
    return collections.Counter(
        (record.body.string_value, record.trace_id.hex())
        for request in receiver.logs_requests
        for resource_logs in request.resource_logs
        for scope_logs in resource_logs.scope_logs
        if scope_logs.scope.name == logger
        for record in scope_logs.log_records
    )


def metric_scopes(receiver: OtlpReceiver) -> dict[str, set[str]]:
    """The instrumentation scopes each received metric name came from."""
    scopes: dict[str, set[str]] = collections.defaultdict(set)
    for request in receiver.metrics_requests:
        for resource_metrics in request.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    scopes[metric.name].add(scope_metrics.scope.name)
    return scopes


def assert_one_source_each(scopes: dict[str, set[str]]) -> None:
    doubled = {name: sorted(found) for name, found in scopes.items() if len(found) > 1}
    assert doubled == {}
    assert scopes["system.cpu.time"] == {CONTRIB_SCOPE}  # the instrumentor's, which the distro started
    assert scopes["process.memory.usage"] == {CONTRIB_SCOPE}
    assert scopes["system.cpu_percent"] == {ZGEN_SCOPE}  # what only zgen_otel has still ships from it
    assert scopes["system.filesystem.usage"] == {ZGEN_SCOPE}


@pytest.mark.parametrize(
    ("protocol", "settings"),
    [
        pytest.param("grpc", {}, id="grpc"),
        pytest.param("http/protobuf", {}, id="http"),
        # The SDK's deprecated handler instead of the instrumentation's (which then installs none).
        pytest.param("grpc", {"OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true"}, id="grpc-sdk-handler"),
    ],
)
def test_under_opentelemetry_instrument_nothing_arrives_twice_and_the_local_views_fill(
    protocol: Protocol, settings: dict[str, str], tmp_path: Path
) -> None:
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    assert instrument.exists(), "opentelemetry-distro is in the test extra: pip install -e '.[test]'"
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    with OtlpReceiver(protocol) as receiver:
        env = agent_env(receiver, OTEL_EXPORTER_OTLP_PROTOCOL=protocol, **settings)
        local = run_agent([str(instrument), sys.executable, str(script)], env)
        logs, scopes = received_logs(receiver, "agent"), metric_scopes(receiver)
    trace_id = local["logs"][0][2]
    # Warnings and errors arrive once, sent by the distro's handler, in the trace zgen_otel tracked.
    assert logs == {("step slow", trace_id): 1, ("step failed", trace_id): 1}
    # INFO is below the root logger's level (WARNING): the distro never exports it, with or without zgen_otel.
    # zgen_otel still keeps it for its local view, without handing it to any handler.
    assert [(level, message) for level, message, _ in reversed(local["logs"])] == [
        ("INFO", "step started"), ("WARNING", "step slow"), ("ERROR", "step failed")
    ]  # fmt: skip
    assert_one_source_each(scopes)
    assert {"system.cpu.time", "process.memory.usage", "system.cpu_percent"} <= set(local["metrics"])


REVERSED = """\
import json, logging, sys
import zgen_otel
from opentelemetry._logs import set_logger_provider
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.instrumentation.logging import LoggingInstrumentor
from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from zgen_otel.logs import get_recent_logs
from zgen_otel.system_monitor import get_system_metrics

zgen_otel.configure(default_rules=False)  # first, exporting on its own
if sys.argv[1] == "sdk":  # then the program's own OTel logging set-up, exporting to the same backend
    provider = LoggerProvider()
    provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    set_logger_provider(provider)
LoggingInstrumentor().instrument()  # its handler on the root logger: without an SDK provider, it sends nowhere
SystemMetricsInstrumentor().instrument()  # its instruments on the global meter provider: zgen_otel's
log = logging.getLogger("agent")
log.warning("step slow")
get_system_metrics()
zgen_otel.get_runtime().force_flush()
if sys.argv[1] == "sdk":
    provider.shutdown()
print(json.dumps({"logs": [[r["level"], r["message"], r["trace_id"]] for r in get_recent_logs(logger="agent")]}))
"""


@pytest.mark.parametrize("logger_provider", ["sdk", "none"])
def test_instrumentors_started_after_zgen_otel_are_not_doubled_either(logger_provider: str, tmp_path: Path) -> None:
    script = tmp_path / "agent.py"
    script.write_text(textwrap.dedent(REVERSED))
    with OtlpReceiver("http/protobuf") as receiver:
        env = agent_env(receiver, OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf")
        local = run_agent([sys.executable, str(script), logger_provider], env)
        logs, scopes = received_logs(receiver, "agent"), metric_scopes(receiver)
    # Sent once: by the program's OTel handler where it has an SDK provider, else by zgen_otel.
    assert logs == {("step slow", ""): 1}
    assert local["logs"] == [["WARNING", "step slow", None]]
    assert_one_source_each(scopes)


def test_with_both_instrumentors_left_out_zgen_otel_sends_it_all_once(tmp_path: Path) -> None:
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    with OtlpReceiver("grpc") as receiver:
        env = agent_env(receiver, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="logging,system_metrics")
        local = run_agent([str(instrument), sys.executable, str(script)], env)
        logs, scopes = received_logs(receiver, "agent"), metric_scopes(receiver)
    trace_id = local["logs"][0][2]
    assert logs == {(message, trace_id): 1 for message in ("step started", "step slow", "step failed")}
    assert {name: found for name, found in scopes.items() if len(found) > 1} == {}
    assert scopes["system.cpu.time"] == scopes["system.cpu_percent"] == {ZGEN_SCOPE}
