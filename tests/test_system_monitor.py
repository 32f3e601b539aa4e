"""The system monitor: real readings, local and OTel names, rates, robustness, host election, fork."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

import zgen_otel
from zgen_otel.store import MetricStore
from zgen_otel.system_monitor import INSTRUMENTS, SystemMonitor, get_monitor, get_system_metrics
from zgen_otel.testing import capture


def test_snapshot_now_has_real_values() -> None:
    zgen_otel.configure(interval=3600)
    snap = get_system_metrics()
    assert 0 <= snap["cpu"]["percent"] <= 100 and len(snap["cpu"]["per_core"]) == psutil.cpu_count()
    assert snap["memory"]["total"] == psutil.virtual_memory().total
    assert 0 < snap["memory"]["percent"] < 100
    assert "/" in snap["disks"] and snap["disks"]["/"]["total"] == psutil.disk_usage("/").total
    assert snap["process"]["rss_bytes"] > 1_000_000 and snap["process"]["threads"] >= 1
    assert "lo" in snap["network"] and len(snap["load_average"]) == 3
    assert "gpus" not in snap  # no NVIDIA driver here: silently absent
    assert snap["host_reporter"] is True


def test_seed_names_and_otel_names_land_in_the_store() -> None:
    zgen_otel.configure(interval=3600)
    get_system_metrics()
    names = set(zgen_otel.list_metrics())
    local = {"system.cpu_percent", "system.memory_percent", "system.swap_percent", "system.disk_percent"}
    local |= {"system.load_1m", "process.cpu_percent", "process.memory_rss_bytes", "process.threads"}
    otel = {"system.cpu.time", "system.cpu.utilization", "system.memory.usage", "system.memory.utilization"}
    otel |= {"system.swap.usage", "system.filesystem.usage", "system.filesystem.utilization", "system.network.io"}
    otel |= {"process.cpu.time", "process.memory.usage", "process.thread.count", "cpython.gc.collections"}
    assert local | otel <= names
    assert not any(n.startswith("hw.") for n in names)
    # The seed's own rule example watches system.cpu_percent (0-100): it averages like any metric.
    average = zgen_otel.get_metric_average("system.cpu_percent", 60)
    assert len(zgen_otel.get_metric_history("system.cpu_percent")) == 1  # one series: all cores together
    assert len(zgen_otel.get_metric_history("system.cpu_core_percent")) == psutil.cpu_count()
    assert average is not None and 0 <= average <= 100
    (root,) = zgen_otel.get_metric_history("system.disk_percent", attributes={"mountpoint": "/"})
    assert root.value == pytest.approx(psutil.disk_usage("/").percent, abs=1)
    units = {i.name: i.unit for i in zgen_otel.get_all_metrics()}
    assert (units["system.cpu_percent"], units["system.memory.usage"], units["system.cpu.time"]) == ("%", "By", "s")


def test_names_follow_the_contrib_instrumentation_where_it_has_the_metric() -> None:
    from opentelemetry.instrumentation.system_metrics import _DEFAULT_CONFIG

    shared = {n for n in INSTRUMENTS if n in _DEFAULT_CONFIG}
    assert {"system.cpu.time", "system.memory.usage", "system.disk.io", "system.network.io"} <= shared
    assert {"process.cpu.time", "process.memory.usage", "cpython.gc.collections"} <= shared
    added = set(INSTRUMENTS) - set(_DEFAULT_CONFIG)  # what the contrib package lacks
    assert {"system.filesystem.usage", "system.filesystem.utilization", "hw.gpu.utilization"} <= added


def test_first_cpu_reading_is_meaningful() -> None:
    monitor = SystemMonitor(MetricStore(), None, host_lock=None)
    stop = time.perf_counter() + 0.4
    while time.perf_counter() < stop:  # keep one core busy between the priming and the first sweep
        pass
    snap = monitor.collect()
    assert max(snap["cpu"]["per_core"]) > 50


def test_rates_are_computed_between_sweeps() -> None:
    monitor = SystemMonitor(MetricStore(), None, host_lock=None)
    monitor.collect()
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    payload = b"x" * (4 << 20)
    started = time.monotonic()

    def drain() -> None:
        received = 0
        while received < len(payload):
            received += len(peer.recv(1 << 20))

    reader = threading.Thread(target=drain)
    reader.start()
    client.sendall(payload)
    reader.join()
    for s in (client, peer, server):
        s.close()
    time.sleep(0.2)
    snap = monitor.collect()
    elapsed = time.monotonic() - started + 0.5
    assert snap["network"]["lo"]["recv_bytes_per_s"] > len(payload) / elapsed / 2
    assert monitor.store.history("system.net_recv_bytes_per_s", {"interface": "lo"})[-1].value > 0


def test_an_unsupported_source_is_disabled_once_and_the_rest_keep_working(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # No platform here lacks these calls, so the failure is injected where psutil would raise it.
    def unsupported() -> None:
        raise NotImplementedError("swap_memory not available in this container")

    def denied(*args: object, **kwargs: object) -> None:
        raise psutil.AccessDenied(pid=1)

    monkeypatch.setattr(psutil, "swap_memory", unsupported)
    monkeypatch.setattr(psutil, "net_io_counters", denied)
    monitor = SystemMonitor(MetricStore(), None, host_lock=None)
    for _ in range(3):
        snap = monitor.collect()
    assert "swap" not in snap and "network" not in snap
    assert "memory" in snap and "cpu" in snap and "process" in snap
    warnings = [r.getMessage() for r in caplog.records if "disabled" in r.getMessage()]
    assert len(warnings) == 2 and any("'swap'" in w for w in warnings) and any("'network'" in w for w in warnings)


def test_otel_instruments_ship_the_same_values() -> None:
    with capture(interval=3600) as cap:
        snap = get_system_metrics()
        metrics = {m.name: m for m in cap.metrics()}
        assert {"system.cpu.time", "system.memory.usage", "system.filesystem.usage", "process.memory.usage"} <= set(
            metrics
        )
        usage = {p.attributes["state"]: p.value for p in metrics["system.memory.usage"].data.data_points}
        assert usage["used"] == snap["memory"]["used"]
        cap.collect()  # the local reader skips these (already in the store): no duplicates
        assert len(zgen_otel.get_metric_history("system.memory.limit")) == 1


def test_collector_runs_in_the_background_and_stops() -> None:
    zgen_otel.configure(interval=0.2)
    monitor = get_monitor()
    assert monitor is not None and monitor.running
    deadline = time.monotonic() + 10
    while len(zgen_otel.get_metric_history("system.memory_percent")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(zgen_otel.get_metric_history("system.memory_percent")) >= 3
    zgen_otel.system_monitor.stop()
    assert not monitor.running
    zgen_otel.system_monitor.start()
    assert monitor.running
    zgen_otel.shutdown()
    assert not monitor.running


def test_monitor_can_be_turned_off_and_disabled_mode_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    zgen_otel.configure(system_monitor=False)
    monitor = get_monitor()
    assert monitor is not None and not monitor.running
    monkeypatch.setenv("MONITORING_ENABLED", "false")
    zgen_otel.configure()
    assert get_monitor() is None and get_system_metrics() == {}


_WORKER = textwrap.dedent(
    """
    import json, sys, time, zgen_otel
    from zgen_otel.system_monitor import get_system_metrics
    zgen_otel.configure(interval=3600, system_monitor=False, host_lock=sys.argv[1], service_name="workers")
    for line in sys.stdin:
        snap = get_system_metrics()
        print(json.dumps({"host": snap["host_reporter"], "memory": "memory" in snap, "process": "process" in snap}),
              flush=True)
    """
)


def test_one_process_per_host_reports_host_series(tmp_path: Path) -> None:
    lock = str(tmp_path / "host.lock")
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, lock], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]

    def sweep(procs: list[subprocess.Popen[str]]) -> list[dict[str, bool]]:
        import json

        answers = []
        for p in procs:
            assert p.stdin is not None and p.stdout is not None
            p.stdin.write("go\n")
            p.stdin.flush()
            answers.append(json.loads(p.stdout.readline()))
        return answers

    try:
        first = sweep(workers)
        assert [a["host"] for a in first].count(True) == 1
        assert all(a["process"] for a in first)  # process series come from every worker
        assert [a["memory"] for a in first] == [a["host"] for a in first]
        leader = workers[[a["host"] for a in first].index(True)]
        leader.kill()
        leader.wait()
        rest = [w for w in workers if w is not leader]
        assert [a["host"] for a in sweep(rest)].count(True) == 1  # another worker takes over
    finally:
        for w in workers:
            w.kill()
            w.wait()
            for stream in (w.stdin, w.stdout):
                if stream is not None:
                    stream.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_collector_restarts_in_a_forked_child(tmp_path: Path) -> None:
    zgen_otel.configure(interval=3600, host_lock=str(tmp_path / "host.lock"))
    monitor = get_monitor()
    assert monitor is not None
    assert monitor.collect()["host_reporter"]  # the parent holds the election
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            snap = monitor.collect()
            result = f"{int(monitor.running)}{int(snap['host_reporter'])}{int('process' in snap)}"
        except BaseException as exc:  # report anything to the parent
            result = repr(exc)
        os.write(write, result.encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    answer = os.read(read, 100).decode()
    os.close(read)
    assert status == 0
    assert answer == "101"  # collector running again, not the host reporter, process series still there
