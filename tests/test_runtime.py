"""The runtime: lazy creation, shutdown and exit flushing, persistence, host providers, disabled mode, public names."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import zgen_otel
from tests.support.net import free_port
from tests.support.waiting import wait_for
from zgen_otel.alerting import MetricRule, get_alert_manager, trigger_alert
from zgen_otel.dashboards import get_dashboard_manager, render_dashboard, render_dashboard_index
from zgen_otel.exceptions import ConfigError
from zgen_otel.llm import llm_call, record_llm_usage
from zgen_otel.logs import get_recent_logs
from zgen_otel.tasks import add_staleness_rule, last_success, task, task_run
from zgen_otel.testing import ManualClock
from zgen_otel.traces import get_recent_traces, get_trace


def test_public_names_import() -> None:
    for name in zgen_otel.__all__:
        assert getattr(zgen_otel, name) is not None
    from zgen_otel.metrics import __all__ as metrics_all

    assert {"record_metric", "get_metric_history", "get_metric_average", "register_callback"} <= set(metrics_all)


def test_shutdown_makes_every_api_a_noop_until_configure() -> None:
    zgen_otel.record_metric("before", 1)
    zgen_otel.shutdown()
    zgen_otel.record_metric("after", 1)  # no error, no background work restarted
    assert zgen_otel.get_metric_history("after") == []
    assert not zgen_otel.get_runtime().enabled
    zgen_otel.configure()
    zgen_otel.record_metric("again", 2)
    assert zgen_otel.get_latest_value("again") == 2


def test_history_survives_a_restart_with_a_store_path(tmp_path: Path) -> None:
    path = str(tmp_path / "metrics.db")
    zgen_otel.configure(store_path=path)
    for v in range(5):
        zgen_otel.record_metric("steps", v, "agent", attributes={"run": "a"}, unit="{step}")
    zgen_otel.shutdown()
    zgen_otel.configure(store_path=path)
    assert [p.value for p in zgen_otel.get_metric_history("agent.steps", attributes={"run": "a"})] == [0, 1, 2, 3, 4]
    (info,) = zgen_otel.get_all_metrics()
    assert (info.unit, info.category) == ("{step}", "agent")


def test_persisted_history_is_rolled_up_and_pruned_like_memory(tmp_path: Path) -> None:
    path = str(tmp_path / "metrics.db")
    clock = ManualClock()
    zgen_otel.configure(store_path=path, clock=clock, retention_days=30)
    for _ in range(3 * 3600):  # 3 hours of one-second points...
        zgen_otel.record_metric("load", 1.0)
        clock.advance(1)
    clock.advance(86_400 + 60)  # ...a day later they are past the raw window: minute rows in the file
    zgen_otel.get_runtime().persistence.flush()
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM points").fetchone()[0] == 0
    assert db.execute("SELECT step, sum(count) FROM rollups GROUP BY step").fetchall() == [(60.0, 3 * 3600)]
    db.close()
    zgen_otel.shutdown()

    zgen_otel.configure(store_path=path, clock=clock, retention_days=30)
    stats = zgen_otel.get_metric_stats("load", 2 * 86_400)
    assert stats is not None and stats.avg == 1.0 and stats.count == 3 * 3600
    clock.advance(31 * 86_400)  # past the retention: gone from the file too
    zgen_otel.get_runtime().persistence.flush()
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM rollups").fetchone()[0] == 0
    db.close()


def test_a_killed_process_loses_at_most_the_last_flush_interval(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    script = textwrap.dedent(
        f"""
        import time, zgen_otel
        zgen_otel.configure(store_path={str(path)!r}, store_flush_interval=0.2, max_raw_points=10**6)
        i = 0
        while True:
            zgen_otel.record_metric("beat", i)
            i += 1
            if i % 100 == 0:
                print(i, flush=True)
                time.sleep(0.01)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if int(line) >= 3000:
            break

    def stored() -> int:
        """Points of ``beat`` in the file: what the child's background flusher has written so far."""
        try:
            with contextlib.closing(sqlite3.connect(path)) as db:
                query = "SELECT count(*) FROM points JOIN series ON series.id = points.series_id WHERE series.name = ?"
                count: int = db.execute(query, ("beat",)).fetchone()[0]
                return count
        except sqlite3.OperationalError:  # the child is still creating the schema
            return 0

    wait_for(lambda: stored() >= 3000, timeout=10, what="the background flusher to write 3,000 samples")
    flushed = stored()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    zgen_otel.configure(store_path=str(path), max_raw_points=10**6)
    values = [p.value for p in zgen_otel.get_metric_history("beat")]
    assert len(values) >= flushed >= 3000  # what was flushed before the kill survived it
    assert values == [float(i) for i in range(len(values))]  # intact and gap-free


def test_metrics_are_flushed_at_interpreter_exit(tmp_path: Path) -> None:
    path = tmp_path / "exit.db"
    script = f"import zgen_otel\nzgen_otel.configure(store_path={str(path)!r}, store_flush_interval=3600)\n"
    script += "for i in range(10):\n    zgen_otel.record_metric('at_exit', i)\n"
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    zgen_otel.configure(store_path=str(path))
    assert len(zgen_otel.get_metric_history("at_exit")) == 10


@pytest.mark.parametrize("value", ["true", "false"])
def test_import_and_first_use_need_no_setup(value: str) -> None:
    env = {**os.environ, "MONITORING_ENABLED": value}
    code = "import zgen_otel as z; z.record_metric('x', 1); print(z.get_metric_average('x'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == ("1.0" if value == "true" else "None")
    assert out.stderr == ""


LIBRARY_CALL = """
import json, sys
import zgen_otel
from opentelemetry import trace
if sys.argv[1] == "configure":
    zgen_otel.configure()
with trace.get_tracer("some.library").start_as_current_span("library.call"):  # only through the OTel API
    pass
zgen_otel.record_metric("steps", 1)
zgen_otel.configure()  # again, with nothing to change: harmless
from zgen_otel.traces import get_recent_traces
print(json.dumps({"traces": [t["name"] for t in get_recent_traces()],
                  "steps": zgen_otel.get_latest_value("steps")}))
"""


@pytest.mark.parametrize("setup", ["configure", "none"])
def test_configure_sets_up_at_once_and_calling_it_again_is_harmless(setup: str) -> None:
    out = subprocess.run([sys.executable, "-c", LIBRARY_CALL, setup], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    # With configure(), the library's span made before any other zgen_otel call is captured; without it, the
    # runtime is built only by the first zgen_otel call, after the span. Either way the second configure()
    # keeps what the runtime holds.
    assert seen == {"traces": ["library.call"] if setup == "configure" else [], "steps": 1}


def test_configure_again_keeps_the_runtime_only_when_nothing_changes() -> None:
    zgen_otel.configure(interval=3600, system_monitor=False)
    first = zgen_otel.get_runtime()
    zgen_otel.record_metric("kept", 1)
    assert zgen_otel.configure(interval=3600, system_monitor=False).interval == 3600
    assert zgen_otel.get_runtime() is first and zgen_otel.get_latest_value("kept") == 1
    zgen_otel.configure(interval=1800, system_monitor=False)  # a change: a new runtime
    assert zgen_otel.get_runtime() is not first and zgen_otel.get_latest_value("kept") is None
    zgen_otel.shutdown()
    zgen_otel.configure(interval=1800, system_monitor=False)  # after shutdown: set up again
    assert zgen_otel.get_runtime().enabled


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_exit_with_a_dead_collector_takes_seconds_not_minutes(protocol: str) -> None:
    port = free_port()  # nothing listens there
    script = textwrap.dedent(
        f"""
        import zgen_otel
        from zgen_otel.performance import track
        zgen_otel.configure(otlp_endpoint="http://127.0.0.1:{port}", otlp_protocol={protocol!r}, interval=3600,
                            system_monitor=False)
        track("step")(lambda: None)()
        zgen_otel.record_metric("x", 1)
        """
    )
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert time.monotonic() - started < 10  # exit flushes, gives up on the dead collector, and returns


HOST_WITH_ITS_OWN_PROVIDERS = """
import json
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

# The host's set-up, as opentelemetry-instrument makes it: SDK providers installed as the globals first.
host_reader, host_spans = InMemoryMetricReader(), InMemorySpanExporter()
host_meters = MeterProvider(metric_readers=[host_reader])
host_tracers = TracerProvider()
host_tracers.add_span_processor(SimpleSpanProcessor(host_spans))
metrics.set_meter_provider(host_meters)
trace.set_tracer_provider(host_tracers)

import zgen_otel
from zgen_otel.performance import track

zgen_reader, zgen_spans = InMemoryMetricReader(), InMemorySpanExporter()  # stand-ins for zgen's OTLP exporters
zgen_otel.configure(interval=3600, system_monitor=False, metric_readers=[zgen_reader],
                    span_processors=[SimpleSpanProcessor(zgen_spans)])
runtime = zgen_otel.get_runtime()
zgen_otel.record_metric("steps", 3, "agent")
metrics.get_meter("other.library").create_counter("library.calls").add(1)

@track("agent.step")
def step() -> None:
    pass

with trace.get_tracer("host.app").start_as_current_span("host.request") as request:
    step()
runtime.collect()

def names(reader):
    data = reader.get_metrics_data()
    return sorted({m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics})

host = request.get_span_context()
print(json.dumps({
    "globals_kept": metrics.get_meter_provider() is host_meters and trace.get_tracer_provider() is host_tracers,
    "installed_globals": runtime.providers.installed_globals,
    "history": [p.value for p in zgen_otel.get_metric_history("agent.steps")],
    "zgen_metrics": names(zgen_reader),
    "host_metrics": names(host_reader),
    "stored": zgen_otel.list_metrics(),
    "zgen_spans": [[s.name, s.context.trace_id == host.trace_id, s.parent and s.parent.span_id == host.span_id]
                   for s in zgen_spans.get_finished_spans()],
    "host_spans": [s.name for s in host_spans.get_finished_spans()],
}))
"""


def test_a_host_with_its_own_providers_keeps_them() -> None:
    script = HOST_WITH_ITS_OWN_PROVIDERS
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["globals_kept"] and not got["installed_globals"]  # the host's globals are left in place
    assert got["history"] == [3.0]  # zgen_otel's metrics reach its store...
    assert "agent.steps" in got["zgen_metrics"]  # ...and its own exporters
    assert "agent.steps" not in got["host_metrics"]
    assert got["zgen_spans"] == [["agent.step", True, True]]  # its span nests under the host's current span
    assert got["host_spans"] == ["host.request"]
    assert "library.calls" in got["host_metrics"] and "library.calls" not in got["stored"]  # as documented


def test_disabled_monitoring_makes_every_api_a_cheap_noop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITORING_ENABLED", "false")
    threads = set(threading.enumerate())
    manager = get_alert_manager()
    rule = manager.add_metric_rule("cpu_high", "CPU high", "system.cpu_percent", 90, ">", duration=0)
    assert isinstance(rule, MetricRule)
    zgen_otel.record_metric("cpu_percent", 99, "system")
    manager.evaluate()

    with llm_call(model="m1", provider="openai") as call:
        call.set_usage(input_tokens=10, output_tokens=5)
    assert call.cost is None and not call.span.is_recording()

    @llm_call(model="m1")
    def complete() -> dict[str, object]:
        return {"usage": {"input_tokens": 3, "output_tokens": 4}}

    assert complete() == {"usage": {"input_tokens": 3, "output_tokens": 4}}
    assert record_llm_usage("m1", input_tokens=10, output_tokens=5, duration=0.5) is None

    @task("nightly")
    def nightly(x: int) -> int:
        return 2 * x

    @task()
    async def hourly() -> str:
        return "done"

    assert nightly(21) == 42 and asyncio.run(hourly()) == "done"
    with pytest.raises(KeyError), task_run("nightly"):  # the job's own error passes through unchanged
        raise KeyError("job failed")
    assert last_success("nightly") is None
    add_staleness_rule("nightly", max_age=1)
    logging.getLogger("agent").warning("not captured")

    assert manager.get_active_alerts() == [] and manager.get_alert_history() == []
    assert get_recent_traces() == [] and get_trace("0" * 32) is None and get_recent_logs() == []
    assert zgen_otel.get_performance_stats() == {} and zgen_otel.get_operation_stats("task:nightly") is None
    assert zgen_otel.list_metrics() == []
    with_data = []
    for dashboard in get_dashboard_manager().list_dashboards():  # every page renders, with no data in it
        assert render_dashboard(dashboard.name).startswith("<!DOCTYPE html>")
        doc = json.loads(render_dashboard(dashboard.name, format="json"))
        assert doc["name"] == dashboard.name and not doc.get("traces") and not doc.get("logs")
        with_data += [(doc["name"], p["id"]) for p in doc["panels"] if p.get("rows") or p.get("series")]
    assert with_data == [("alerts", "rules")]  # only the two rules added above
    assert "performance.html" in render_dashboard_index()
    assert set(threading.enumerate()) <= threads  # no background work was started


def test_disabled_monitoring_records_no_alert(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MONITORING_ENABLED", "false")
    alert = trigger_alert("high_memory_usage", "Memory above 90%", "warning", "system", {"memory_percent": 92.5})
    assert alert.name == "high_memory_usage"
    assert get_alert_manager().get_active_alerts() == [] and get_alert_manager().get_alert_history() == []
    assert "alert fired" not in caplog.text


@pytest.mark.parametrize("bad", [-1, float("nan"), "soon", True])
def test_shutdown_grace_is_a_validated_setting(bad: object, monkeypatch: pytest.MonkeyPatch) -> None:
    assert zgen_otel.configure(shutdown_grace=0).shutdown_grace == 0
    monkeypatch.setenv("ZGEN_OTEL_SHUTDOWN_GRACE", "1.5")
    assert zgen_otel.configure().shutdown_grace == 1.5
    with pytest.raises(ConfigError, match="shutdown_grace="):
        zgen_otel.configure(shutdown_grace=bad)
