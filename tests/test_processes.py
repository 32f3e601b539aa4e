"""Several processes of one service exporting OTLP to one receiver, as to a ``zgen-otel serve`` on this host.

Each process has its own resource identity (a forked child too), each shows the host in its local views
while only one ships the host-wide series, and metrics reach a backend on this machine within seconds.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import zgen_otel
from tests.support.otlp import OtlpReceiver, attributes_dict
from zgen_otel._providers import _metric_export_interval
from zgen_otel.config import is_loopback_url, load_settings

_OTLP_ENV = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_METRIC_EXPORT_INTERVAL",
             "OTEL_SERVICE_NAME", "MONITORING_INTERVAL")  # fmt: skip


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver("http/protobuf") as receiver:
        try:
            yield receiver
        finally:
            zgen_otel.shutdown()  # the last export while the receiver still listens


def _agent(script: str, **env: str) -> subprocess.Popen[str]:
    """A Python agent process running ``script`` with ``env`` added to this environment (pipes on stdin, stdout)."""
    clean = {k: v for k, v in os.environ.items() if k not in _OTLP_ENV}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**clean, **env},
    )  # fmt: skip


def _stop(agents: list[subprocess.Popen[str]]) -> None:
    for agent in agents:
        if agent.stdin is not None:
            agent.stdin.close()  # the agents run until their stdin closes, then exit normally
    for agent in agents:
        try:
            agent.wait(15)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
        if agent.stdout is not None:
            agent.stdout.close()


# -- 1. resource identity ------------------------------------------------------------------------------------------


def _exported_by(receiver: OtlpReceiver) -> dict[str, list[dict[str, Any]]]:
    """The resources of the ``forks.step`` points, ``forks.work`` spans and ``forks.log`` records, by ``who``."""
    found: dict[str, list[dict[str, Any]]] = {}
    for point in receiver.metric_points():
        if point.name == "forks.step":
            found.setdefault(point.attributes["who"], []).append(point.resource)
    for resource, span in receiver.spans():
        if span.name == "forks.work":
            found.setdefault(attributes_dict(span.attributes)["who"], []).append(resource)
    for rl in (rl for request in receiver.logs_requests for rl in request.resource_logs):
        resource = attributes_dict(rl.resource.attributes)
        for record in (r for sl in rl.scope_logs for r in sl.log_records if r.body.string_value == "forks.log"):
            found.setdefault(attributes_dict(record.attributes)["who"], []).append(resource)
    return found


def _record(who: str) -> None:
    """Record a metric, a span and a log record as ``who``, and push them to the receiver now."""
    zgen_otel.record_metric("step", 1, "forks", attributes={"who": who})
    with zgen_otel.get_runtime().tracer.start_as_current_span("forks.work", attributes={"who": who}):
        logging.getLogger("forks").warning("forks.log", extra={"who": who})
    zgen_otel.get_runtime().force_flush()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # forking a process with threads
@pytest.mark.parametrize("user_id", [None, "worker-7"], ids=["generated", "user-set"])
def test_a_forked_child_exports_under_its_own_instance_id_and_pid(
    receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch, user_id: str | None
) -> None:
    if user_id is not None:
        monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", f"service.instance.id={user_id},deployment.environment=test")
    zgen_otel.configure(
        otlp_endpoint=receiver.endpoint, service_name="forking", interval=3600, export_interval=3600,
        system_monitor=False,
    )  # fmt: skip
    pid = os.fork()  # gunicorn --preload style: the runtime was built in the parent
    if pid == 0:
        code = 1
        try:
            _record("child")
            code = 0
        finally:
            os._exit(code)
    _record("parent")
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert receiver.wait_for(lambda: all(len(_exported_by(receiver).get(w, ())) == 3 for w in ("parent", "child")))

    exported = _exported_by(receiver)
    parent, child = exported["parent"][0], exported["child"][0]
    assert exported["parent"] == [parent] * 3 and exported["child"] == [child] * 3  # metrics, spans and logs alike
    assert (parent["process.pid"], child["process.pid"]) == (os.getpid(), pid)
    assert parent["service.name"] == child["service.name"] == "forking"
    assert parent["host.name"] == child["host.name"] == socket.gethostname()
    assert parent["service.instance.id"] == user_id or uuid.UUID(parent["service.instance.id"]).version == 4
    assert uuid.UUID(child["service.instance.id"]).version == 4  # the child's own, even where the user set the parent's
    assert child["service.instance.id"] != parent["service.instance.id"]
    if user_id is not None:  # the rest of what the user set is the child's too
        assert parent["deployment.environment"] == child["deployment.environment"] == "test"


def test_user_set_identity_attributes_win(receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=agent-a,host.name=box-1,process.pid=7")
    zgen_otel.configure(otlp_endpoint=receiver.endpoint, interval=3600, export_interval=3600, system_monitor=False)
    _record("me")
    assert receiver.wait_for(lambda: len(_exported_by(receiver).get("me", ())) == 3)
    for resource in _exported_by(receiver)["me"]:
        assert (resource["service.instance.id"], resource["host.name"], resource["process.pid"]) == (
            "agent-a", "box-1", "7"
        )  # fmt: skip


# -- 2. host series: in every local view, shipped by one process --------------------------------------------------

_WORKER = """
    import json, os, sys, time, zgen_otel
    from zgen_otel.dashboards import render_dashboard
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not all(
        zgen_otel.get_metric_history(name) for name in ("system.cpu_percent", "system.memory_percent")
    ):
        time.sleep(0.05)
    doc = json.loads(render_dashboard("system", format="json"))
    points = {p["id"]: sum(len(s["points"]) for s in p.get("series", ())) for p in doc["panels"]}
    print(json.dumps(points), flush=True)
    sys.stdin.read()
"""


def test_every_process_shows_the_host_locally_and_one_ships_it(receiver: OtlpReceiver, tmp_path: Path) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_SERVICE_NAME": "fleet", "MONITORING_INTERVAL": "1",
           "OTEL_METRIC_EXPORT_INTERVAL": "1000", "ZGEN_OTEL_HOST_LOCK": str(tmp_path / "host.lock")}  # fmt: skip
    workers = [_agent(_WORKER, **env) for _ in range(2)]
    try:
        for worker in workers:  # each local system dashboard has CPU, memory and disk data
            assert worker.stdout is not None
            points = json.loads(worker.stdout.readline())
            assert points["cpu"] > 0 and points["memory"] > 0 and points["disk"] > 0, points
        pids = {worker.pid for worker in workers}

        def senders(name: str) -> set[tuple[str, int]]:
            return {(p.resource["service.instance.id"], p.resource["process.pid"])
                    for p in receiver.metric_points() if p.name == name}  # fmt: skip

        def exports_from(pid: int) -> int:
            resources = [attributes_dict(rm.resource.attributes) for r in receiver.metrics_requests
                         for rm in r.resource_metrics]  # fmt: skip
            return sum(1 for resource in resources if resource.get("process.pid") == pid)

        # Several exports from each process: time enough for a second process to ship host series by mistake.
        assert receiver.wait_for(lambda: all(exports_from(pid) >= 4 for pid in pids), timeout=20)
        process_senders = senders("process.memory.usage")
        assert {pid for _, pid in process_senders} == pids and len({iid for iid, _ in process_senders}) == 2
        for host_series in ("system.memory.usage", "system.cpu.time", "system.cpu_percent", "system.filesystem.usage"):
            (sender,) = senders(host_series)  # exactly one process ships the host
            assert sender in process_senders, host_series
        assert {p.resource["service.name"] for p in receiver.metric_points()} == {"fleet"}
    finally:
        _stop(workers)


# -- 3. the metric export interval to a backend on this machine ---------------------------------------------------

_RECORDER = """
    import sys, zgen_otel
    zgen_otel.record_metric("answer", 42, "agent")
    print("recorded", flush=True)
    sys.stdin.read()
"""


def test_a_loopback_backend_gets_a_metric_within_six_seconds_by_default(receiver: OtlpReceiver) -> None:
    agent = _agent(_RECORDER, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, ZGEN_OTEL_SYSTEM_MONITOR="false")
    try:
        assert agent.stdout is not None and agent.stdout.readline() == "recorded\n"
        recorded = time.monotonic()
        arrived = receiver.wait_for(lambda: any(p.name == "agent.answer" for p in receiver.metric_points()), 10)
        took = time.monotonic() - recorded
        assert arrived and took <= 6.0, f"took {took:.1f} s"  # 5 s by default to a loopback endpoint, not 60 s
        point = next(p for p in receiver.metric_points() if p.name == "agent.answer")
        assert point.value == 42 and point.resource["process.pid"] == agent.pid
    finally:
        _stop([agent])


def test_an_explicit_export_interval_wins(receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "1000")  # shorter than the loopback default: seen in the timing
    zgen_otel.configure(otlp_endpoint=receiver.endpoint, interval=3600, system_monitor=False)
    assert zgen_otel.get_runtime().status()["metric_export_interval"] == 1.0
    zgen_otel.record_metric("answer", 42, "agent")
    started = time.monotonic()
    assert receiver.wait_for(lambda: len([p for p in receiver.metric_points() if p.name == "agent.answer"]) >= 2, 4)
    assert time.monotonic() - started < 4  # two exports within 4 s: every second, not every 5
    zgen_otel.configure(otlp_endpoint=receiver.endpoint, export_interval=600, interval=3600, system_monitor=False)
    assert zgen_otel.get_runtime().status()["metric_export_interval"] == 600.0  # the keyword wins over loopback too


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:4318", True), ("http://127.0.0.1:4318/v1/metrics", True), ("http://[::1]:4318", True),
        ("http://localhost:4318", True), ("localhost:4317", True), ("https://127.10.0.3", True),
        ("http://collector.example:4318", False), ("http://10.0.0.5:4318", False), ("http://[::2]:4318", False),
        ("collector:4317", False), ("http://localhost.example:4318", False), ("http://[::1:4318", False),
    ],
)  # fmt: skip
def test_loopback_endpoints_are_recognised(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_default_export_interval_is_5_s_to_this_machine_and_60_s_elsewhere() -> None:
    local = "http://127.0.0.1:4318"
    assert _metric_export_interval(load_settings(otlp_endpoint=local)) == 5.0
    assert _metric_export_interval(load_settings(otlp_metrics_endpoint=local + "/v1/metrics")) == 5.0
    assert _metric_export_interval(load_settings(otlp_endpoint="http://collector.example:4318")) == 60.0
    remote_metrics = load_settings(otlp_endpoint=local, otlp_metrics_endpoint="http://collector.example/v1/metrics")
    assert _metric_export_interval(remote_metrics) == 60.0  # the metrics endpoint decides
    assert _metric_export_interval(load_settings(otlp_endpoint=local, export_interval=60)) == 60.0
    assert _metric_export_interval(load_settings({"OTEL_METRIC_EXPORT_INTERVAL": "30000"}, otlp_endpoint=local)) == 30.0
