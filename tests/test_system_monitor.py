"""The system monitor: real readings, local and OTel names, rates, robustness, host election, fork."""

from __future__ import annotations

import http.server
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

import zgen_otel
from tests.support.nvml import fake_pynvml
from tests.support.waiting import wait_for
from zgen_otel import semconv
from zgen_otel.store import MetricStore
from zgen_otel.system import readers
from zgen_otel.system_monitor import INSTRUMENTS, SystemMonitor, get_monitor, get_system_metrics
from zgen_otel.testing import Capture, capture


def latest(store: MetricStore, name: str, **attributes: object) -> float:
    """The newest value of the one series of ``name`` with ``attributes``."""
    (series,) = store.series(name, attributes)
    point = series.latest()
    assert point is not None
    return point.value


def latest_by(store: MetricStore, name: str, key: str, **attributes: object) -> dict[Any, float]:
    """The newest value of each series of ``name`` with ``attributes``, by the value of attribute ``key``."""
    return {
        s.attributes[key]: latest(store, name, **{**attributes, key: s.attributes[key]})
        for s in store.series(name, attributes)
    }


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


# Where zgen_otel deliberately differs from opentelemetry-instrumentation-system-metrics (README, "System
# monitoring"): units in the semantic conventions' annotation form where the contrib writes a bare word or
# nothing, the semantic conventions' instrument kind for usage series, memory state ``buffers`` added, and
# ``cpu`` named as the collector's hostmetrics receiver names it.
_UNITS = {
    "system.disk.operations": ("operations", "{operation}"),
    "system.network.packets": ("packets", "{packet}"),
    "system.network.dropped_packets": ("packets", "{packet}"),
    "system.network.errors": ("errors", "{error}"),
    "system.swap.usage": ("pages", "By"),  # the contrib reports bytes under the unit "pages"
    "process.context_switches": ("", "{count}"),
    "process.open_file_descriptor.count": ("", "{count}"),
    "process.thread.count": ("", "{thread}"),
}
_KINDS = {"system.memory.usage": ("Gauge", "Sum"), "system.swap.usage": ("Gauge", "Sum")}  # up-down counters
_STATES = {
    "system.memory.usage": ({"used", "free", "cached"}, {"used", "free", "cached", "buffers"}),
    "system.memory.utilization": ({"used", "free", "cached"}, {"used", "free", "cached", "buffers"}),
}


def _shape(metrics: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Per metric: unit, point kind, attribute keys and the values of the enumerated attributes."""
    shapes = {}
    for m in metrics:
        points = m.data.data_points
        keys = {k for p in points for k in p.attributes}
        shapes[m.name] = {
            "unit": m.unit,
            "kind": type(m.data).__name__,
            "keys": keys,
            "values": {k: {p.attributes[k] for p in points} for k in keys & {"state", "direction", "type"}},
            "types": {k: {type(p.attributes[k]) for p in points} for k in keys},
        }
    return shapes


def test_names_and_attributes_follow_the_contrib_instrumentation_where_it_has_the_metric() -> None:
    from opentelemetry.instrumentation.system_metrics import _DEFAULT_CONFIG, SystemMetricsInstrumentor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    contrib = SystemMetricsInstrumentor(config={n: v for n, v in _DEFAULT_CONFIG.items() if "connections" not in n})
    contrib.instrument(meter_provider=MeterProvider(metric_readers=[reader]))
    try:
        data = reader.get_metrics_data()
    finally:
        contrib.uninstrument()
    assert data is not None
    theirs = _shape(m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics)
    with capture(interval=3600, system_monitor=False) as cap:
        get_system_metrics()
        get_system_metrics()  # the second sweep has the utilisations
        metrics = cap.metrics()
    ours = _shape(metrics)
    shared = set(ours) & set(theirs)
    # Everything the contrib ships, under the same name, except its deprecated process.runtime.* names, its
    # thread count of the process (ours: process.thread.count) and per-process disk I/O.
    not_shipped = {n for n in set(theirs) - shared if not n.startswith("process.runtime.")}
    assert not_shipped == {"system.thread_count", "process.disk.io"}
    assert {"system.cpu.time", "system.memory.usage", "system.disk.io", "system.network.dropped_packets"} <= shared
    for name in sorted(shared):
        mine, contribs = ours[name], theirs[name]
        assert (contribs["unit"], mine["unit"]) == _UNITS.get(name, (contribs["unit"],) * 2), name
        assert (contribs["kind"], mine["kind"]) == _KINDS.get(name, (contribs["kind"],) * 2), name
        assert mine["keys"] == contribs["keys"], name
        for key, values in contribs["values"].items():
            assert (values, mine["values"][key]) == _STATES.get(name, (values, values)), (name, key)
        for key, types_ in contribs["types"].items():
            expected = {str} if (key, name.startswith("system.cpu.")) == ("cpu", True) else types_
            assert mine["types"][key] == expected, (name, key)
    cpus = {p.attributes["cpu"] for p in next(m for m in metrics if m.name == "system.cpu.time").data.data_points}
    assert cpus == {f"cpu{i}" for i in range(psutil.cpu_count())}  # the contrib: 1, 2, ... (ints)
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
    assert monitor.store.history("system.net_recv", {"interface": "lo"})[-1].value > 0


@pytest.mark.parametrize(
    "error",
    [
        NotImplementedError("not available in this container"),
        psutil.AccessDenied(pid=1),
        PermissionError(13, "Permission denied", "/proc/net/dev"),
        FileNotFoundError(2, "No such file or directory", "/proc/self/status"),  # a /proc entry missing
    ],
    ids=lambda e: type(e).__name__,
)
def test_an_unsupported_source_is_disabled_once_and_the_rest_keep_working(
    error: Exception, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # No platform here lacks these calls, so the failure is injected where psutil would raise it.
    def unsupported(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(psutil, "swap_memory", unsupported)
    monkeypatch.setattr(psutil, "net_io_counters", unsupported)
    monkeypatch.setattr(psutil.Process, "num_ctx_switches", unsupported)
    monitor = SystemMonitor(MetricStore(), None, host_lock=None)
    for _ in range(3):
        snap = monitor.collect()  # never raises
    assert "swap" not in snap and "network" not in snap
    assert "memory" in snap and "cpu" in snap and snap["process"]["rss_bytes"] > 0
    names = set(monitor.store.names())
    assert {"system.swap.usage", "system.network.io", "process.context_switches"}.isdisjoint(names)
    assert {"system.memory.usage", "process.memory.usage", "process.open_file_descriptor.count"} <= names
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3 and all(type(error).__name__ in w for w in warnings)
    assert {w.split("'")[1] for w in warnings} == {"swap", "network", "process.context_switches"}


def test_mounts_are_listed_once_a_minute_not_at_every_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    listings = []
    real = psutil.disk_partitions

    def counted(*args: Any, **kwargs: Any) -> Any:
        listings.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(psutil, "disk_partitions", counted)
    monitor = SystemMonitor(MetricStore(), None, host_lock=None)
    for _ in range(3):
        assert "/" in monitor.collect()["disks"]  # every sweep reads the usage of every mount...
    assert len(listings) == 1  # ...from one listing
    monkeypatch.setattr(readers, "_MOUNTS_MAX_AGE", 0.0)  # a minute later
    assert "/" in monitor.collect()["disks"] and len(listings) == 2


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


def test_a_process_that_lost_the_election_stores_host_series_but_ships_only_its_own(tmp_path: Path) -> None:
    fcntl = pytest.importorskip("fcntl")  # no flock (Windows): every process ships the host series
    lock = tmp_path / "host.lock"
    with open(lock, "w") as holder:  # another process of the service holds the election
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with capture(interval=3600, host_lock=str(lock)) as cap:
            snap = get_system_metrics()
            assert snap["host_reporter"] is False and "memory" in snap and "cpu" in snap
            cap.collect()
            # the local store has the host series (once: the local reader does not store them again)
            assert len(zgen_otel.get_metric_history("system.memory_percent")) == 1
            assert len(zgen_otel.get_metric_history("system.memory.limit")) == 1
            assert zgen_otel.get_latest_value("system.cpu_percent") == snap["cpu"]["percent"]
            shipped = cap.metric_names()
            assert {"process.memory.usage", "process.memory_rss_bytes", "cpython.gc.collections"} <= shipped
            assert not {n for n in shipped if n.startswith(("system.", "hw."))}  # the elected process ships those
        fcntl.flock(holder, fcntl.LOCK_UN)  # the holder exits: this process's next sweep takes over
        with capture(interval=3600, host_lock=str(lock)) as cap:
            assert get_system_metrics()["host_reporter"] is True
            assert {"system.memory.usage", "system.cpu_percent", "process.memory.usage"} <= cap.metric_names()


def test_collector_runs_in_the_background_and_stops() -> None:
    zgen_otel.configure(interval=0.2)
    monitor = get_monitor()
    assert monitor is not None and monitor.running
    wait_for(lambda: len(zgen_otel.get_metric_history("system.memory_percent")) >= 3, 10, "three background sweeps")
    assert len(zgen_otel.get_metric_history("system.memory_percent")) >= 3
    zgen_otel.system_monitor.stop()
    assert not monitor.running
    zgen_otel.system_monitor.start()
    assert monitor.running
    zgen_otel.shutdown()
    assert not monitor.running


def test_a_watched_monitor_samples_at_the_live_interval_then_goes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """MONITORING_INTERVAL 60 s: one sweep; while a page watches, one every live interval; after it, none."""
    monkeypatch.setattr(zgen_otel.system_monitor, "LIVE_INTERVAL", 0.3)  # 5 s in use: shortened to keep this quick
    store = MetricStore()
    monitor = SystemMonitor(store, None, interval=60, host_lock=None)

    def sweeps() -> int:
        return sum(len(s) for s in store.series("system.memory_percent"))

    monitor.start()
    try:
        wait_for(lambda: sweeps() == 1, 5, "the first sweep")
        monitor.watch(1.5)
        assert monitor.watched
        wait_for(lambda: sweeps() >= 4, 5, "sweeps at the live interval while watched")
        wait_for(lambda: not monitor.watched, 5, "the watch to end")
        time.sleep(0.3)  # a sweep begun just before the end finishes
        after = sweeps()
        time.sleep(1.0)
        assert sweeps() == after  # back to MONITORING_INTERVAL: no sweep for a minute
        times = [p.timestamp for s in store.series("system.memory_percent") for p in s.points()]
        assert times == sorted(times) and len(set(times)) == len(times)  # ordinary points, in time order
    finally:
        monitor.stop()


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
        assert all(a["memory"] for a in first)  # and every worker reads the host (its local views show it)
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


def test_disk_io_counters_and_rates_follow_a_written_file(tmp_path: Path) -> None:
    if not psutil.disk_io_counters(perdisk=True):
        pytest.skip("psutil reports no disk I/O counters in this container")
    mount = max((p for p in psutil.disk_partitions(all=True) if str(tmp_path).startswith(p.mountpoint)), key=len)
    if mount.fstype in {"tmpfs", "ramfs"}:
        pytest.skip(f"{tmp_path} is on {mount.fstype}: writing it does no disk I/O")
    monitor = SystemMonitor(MetricStore(), None, host_lock=None)
    monitor.collect()
    before = latest_by(monitor.store, "system.disk.io", "device", direction="write")
    payload = os.urandom(4 << 20)
    fd = os.open(tmp_path / "data.bin", os.O_WRONLY | os.O_CREAT)
    try:
        for _ in range(2):
            os.write(fd, payload)
            os.fsync(fd)  # on the device now, counted by the kernel
    finally:
        os.close(fd)
    snap = monitor.collect()
    after = latest_by(monitor.store, "system.disk.io", "device", direction="write")
    written = {device: after[device] - before[device] for device in before}
    device = max(written, key=written.__getitem__)
    assert written[device] >= 2 * len(payload)
    rates = snap["disk_io"][device]
    assert rates["write_bytes_per_s"] > 0 and rates["write_ops_per_s"] > 0
    assert latest(monitor.store, "system.disk_write", device=device) == rates["write_bytes_per_s"]
    assert latest(monitor.store, "system.disk_write_ops", device=device) > 0
    ops = latest(monitor.store, "system.disk.operations", device=device, direction="write")
    seconds = latest(monitor.store, "system.disk.time", device=device, direction="write")
    now = psutil.disk_io_counters(perdisk=True)[device]
    assert 0 < ops <= now.write_count and 0 < seconds <= now.write_time / 1000  # ms counted as seconds


@pytest.fixture
def http_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 (its URL): requests to it are loopback traffic."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"y" * (256 << 10)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_network_packets_errors_drops_and_their_rates(http_server: str) -> None:
    monitor = SystemMonitor(MetricStore(), None, host_lock=None)
    monitor.collect()
    for _ in range(3):
        with urllib.request.urlopen(http_server, timeout=5) as response:
            assert len(response.read()) == 256 << 10
    before = psutil.net_io_counters(pernic=True)["lo"]
    snap = monitor.collect()
    after = psutil.net_io_counters(pernic=True)["lo"]
    rates = snap["network"]["lo"]
    assert rates["recv_packets_per_s"] > 0 and rates["sent_packets_per_s"] > 0 and rates["recv_bytes_per_s"] > 0
    store = monitor.store
    for name, rate in (
        ("system.net_recv_packets", "recv_packets_per_s"),
        ("system.net_errors", "errors_per_s"),
    ):
        assert latest(store, name, interface="lo") == rates[rate]
    assert latest(store, "system.net_drops", interface="lo") == rates["drops_per_s"] >= 0
    for name, field in (
        ("system.network.packets", "packets_recv"),
        ("system.network.errors", "errin"),
        ("system.network.dropped_packets", "dropin"),
        ("system.network.io", "bytes_recv"),
    ):  # each counter is psutil's own, read between the two readings taken here
        assert getattr(before, field) <= latest(store, name, device="lo", direction="receive") <= getattr(after, field)
    for name, field in (("system.network.packets", "packets_sent"), ("system.network.errors", "errout")):
        assert getattr(before, field) <= latest(store, name, device="lo", direction="transmit") <= getattr(after, field)
    if (before.errin, before.errout, before.dropin, before.dropout) == (
        after.errin,
        after.errout,
        after.dropin,
        after.dropout,
    ):
        # nothing lost on the loopback during the test: the error and drop rates are exactly zero
        assert rates["errors_per_s"] == rates["drops_per_s"] == 0


def test_process_memory_fds_context_switches_and_host_memory(tmp_path: Path) -> None:
    monitor = SystemMonitor(MetricStore(), None, host_lock=None)
    monitor.collect()
    store = monitor.store
    fds_before = latest(store, "process.open_file_descriptor.count")
    me = psutil.Process()
    switches_before = me.num_ctx_switches()
    files = [open(tmp_path / f"f{i}", "w") for i in range(20)]  # noqa: SIM115
    try:
        time.sleep(0.05)  # a voluntary context switch at least
        memory = psutil.virtual_memory()
        monitor.collect()
        switches_after = me.num_ctx_switches()
        assert 20 <= latest(store, "process.open_file_descriptor.count") - fds_before <= 25  # other threads too
        assert latest(store, "process.open_fds") == latest(store, "process.open_file_descriptor.count")
    finally:
        for f in files:
            f.close()
    vms = latest(store, "process.memory.virtual")
    assert vms == latest(store, "process.memory_vms_bytes") and abs(vms - me.memory_info().vms) < 256 << 20
    assert vms > latest(store, "process.memory.usage")  # virtual > resident
    for kind in ("voluntary", "involuntary"):
        value = latest(store, "process.context_switches", type=kind)
        assert getattr(switches_before, kind) <= value <= getattr(switches_after, kind)
    assert latest(store, "process.context_switches", type="voluntary") > switches_before.voluntary
    available = latest(store, "system.memory_available_bytes")
    assert abs(available - memory.available) < memory.total * 0.05
    assert available != latest(store, "system.memory.usage", state="free")  # available, not free
    assert latest(store, "system.memory_total_bytes") == memory.total


def test_cpu_utilization_is_a_ratio_and_cpu_percent_a_percentage() -> None:
    monitor = SystemMonitor(MetricStore(), None, host_lock=None)
    monitor.collect()
    stop = time.perf_counter() + 0.3
    while time.perf_counter() < stop:  # one core busy in user mode between the two sweeps
        pass
    monitor.collect()
    store = monitor.store
    ratios: dict[str, dict[str, float]] = {}
    for series in store.series("system.cpu.utilization"):
        point = series.latest()
        assert point is not None
        ratios.setdefault(series.attributes["cpu"], {})[series.attributes["state"]] = point.value
    assert len(ratios) == psutil.cpu_count()
    assert all(0 <= v <= 1 for states in ratios.values() for v in states.values())
    assert all(sum(states.values()) <= 1 + 1e-9 for states in ratios.values())  # shares of one core's time
    assert max(states["user"] for states in ratios.values()) > 0.5  # the busy core, as a ratio
    percent = latest(store, "system.cpu_percent")
    cores = latest_by(store, "system.cpu_core_percent", "cpu")
    assert 0 <= percent <= 100 and max(cores.values()) > 50  # percentages, 0-100
    for i, core in cores.items():
        assert core / 100 <= 1 - ratios[f"cpu{i}"]["idle"] + 1e-9  # busy is what is not idle


def _points(cap: Capture) -> dict[str, tuple[str, dict[str, dict[str, Any]]]]:
    """OTel points by metric name: (unit, {hw.id: {"value": ..., **attributes}})."""
    return {
        m.name: (m.unit, {p.attributes["hw.id"]: {"value": p.value, **p.attributes} for p in m.data.data_points})
        for m in cap.metrics()
        if m.name.startswith("hw.")
    }


def test_gpu_readings_ship_under_the_hw_names_with_their_units(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml())
    with capture(interval=3600, system_monitor=False) as cap:
        snap = get_system_metrics()
        hw = _points(cap)
        store = cap.runtime.store
        assert hw["hw.gpu.utilization"] == (
            "1",
            {
                "gpu0": {"value": 0.87, "hw.id": "gpu0", "hw.name": "NVIDIA H200"},
                "gpu1": {"value": 0.03, "hw.id": "gpu1", "hw.name": "NVIDIA L4"},
            },
        )
        assert hw["hw.gpu.memory.usage"][0] == "By" and hw["hw.gpu.memory.usage"][1]["gpu0"]["value"] == 96 << 30
        assert hw["hw.gpu.memory.limit"][0] == "By" and hw["hw.gpu.memory.limit"][1]["gpu1"]["value"] == 24 << 30
        assert hw["hw.gpu.memory.utilization"][1]["gpu0"]["value"] == pytest.approx(96 / 144)
        assert hw["hw.temperature"] == (
            "Cel",
            {
                "gpu0": {"value": 71, "hw.id": "gpu0", "hw.name": "NVIDIA H200", "hw.type": "gpu"},
                "gpu1": {"value": 38, "hw.id": "gpu1", "hw.name": "NVIDIA L4", "hw.type": "gpu"},
            },
        )
        assert hw["hw.power"][0] == "W" and hw["hw.power"][1]["gpu0"]["value"] == pytest.approx(250.5)
        local = {
            "system.gpu_percent": (87, "%"),
            "system.gpu_memory_percent": (100 * 96 / 144, "%"),
            "system.gpu_memory_used_bytes": (96 << 30, "By"),
            "system.gpu_temperature_celsius": (71, "Cel"),
            "system.gpu_power_watts": (250.5, "W"),
        }
        for name, (value, unit) in local.items():
            assert latest(store, name, gpu="0") == pytest.approx(value), name
            assert store.series(name, {"gpu": "0"})[0].unit == unit, name
        assert latest(store, "system.gpu_percent", gpu="1") == 3
        assert [g["name"] for g in snap["gpus"]] == ["NVIDIA H200", "NVIDIA L4"]
        assert snap["gpus"][1]["power_watts"] == pytest.approx(61.0)


def test_gpu_without_a_driver_is_silently_absent(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(driver=False))
    caplog.set_level(logging.DEBUG, logger="zgen_otel")
    with capture(interval=3600, system_monitor=False) as cap:
        snap = get_system_metrics()
        assert "gpus" not in snap and "cpu" in snap
        assert not _points(cap) and not [n for n in cap.runtime.store.names() if "gpu" in n]
    gpu_lines = [r for r in caplog.records if "GPU" in r.getMessage() or "NVML" in r.getMessage()]
    assert len(gpu_lines) <= 1 and all(r.levelno < logging.WARNING for r in gpu_lines)


def test_a_failing_gpu_reading_is_disabled_once_and_the_rest_continue(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(power_fails_after=2))  # the second sweep fails
    with capture(interval=3600, system_monitor=False) as cap:
        for _ in range(4):
            snap = get_system_metrics()
        hw = _points(cap)
        store = cap.runtime.store
        assert set(hw["hw.power"][1]) == {"gpu0"}  # gpu1's power went; gpu0's is still read
        assert set(hw["hw.gpu.utilization"][1]) == set(hw["hw.temperature"][1]) == {"gpu0", "gpu1"}
        assert len(store.history("system.gpu_power_watts", {"gpu": "1"})) == 1  # only the first sweep had it
        assert len(store.history("system.gpu_power_watts", {"gpu": "0"})) == 4
        assert len(store.history("system.gpu_temperature_celsius", {"gpu": "1"})) == 4
        assert "power_watts" not in snap["gpus"][1] and snap["gpus"][1]["temperature_celsius"] == 38
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "hw.power (gpu1)" in warnings[0] and "Not Supported" in warnings[0]


def test_semconv_lists_every_series_with_its_unit_kind_and_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml())
    specs = {m.name: m for m in (*semconv.SYSTEM_INSTRUMENTS, *semconv.SYSTEM_LOCAL_SERIES)}
    assert len(specs) == len(semconv.SYSTEM_INSTRUMENTS) + len(semconv.SYSTEM_LOCAL_SERIES)  # no name twice
    monitor = SystemMonitor(MetricStore(), None, host_lock=None)
    monitor.collect()
    monitor.collect()  # the second sweep has the utilisations and rates
    stored = monitor.store.all_series()
    assert {s.name for s in stored} <= set(specs)
    for s in stored:
        assert s.unit == specs[s.name].unit, s.name
        assert set(s.attributes) <= set(specs[s.name].attributes), s.name
    assert {s.name for s in stored if s.name.startswith("hw.")} == {m.name for m in semconv.SYSTEM_INSTRUMENTS
                                                                     if m.name.startswith("hw.")}  # fmt: skip
    with capture(interval=3600, system_monitor=False) as cap:
        get_system_metrics()
        get_system_metrics()
        kinds = {m.name: type(m.data).__name__ for m in cap.metrics() if m.name in specs}
    expected = {"counter": "Sum", "updown": "Sum", "gauge": "Gauge"}
    assert kinds and all(kind == expected[specs[name].kind] for name, kind in kinds.items())
