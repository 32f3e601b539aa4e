"""System monitoring: CPU, memory, swap, disks, network, this process and NVIDIA GPUs (the seed's ``system_monitor``).

A background collector takes one psutil sweep every ``MONITORING_INTERVAL`` seconds. Each sweep:

* writes every value into the local store at once (alert rules and dashboards see it immediately), under
  the OTel names (the names and attributes of opentelemetry-instrumentation-system-metrics where it has
  the metric, semantic-convention names for what it lacks) and under convenient local names
  (``system.cpu_percent``, ``system.memory_percent``, ``system.disk_percent``, rates per second...);
* keeps the OTel-named values for observable instruments, so the same values ship over OTLP at each
  export.

Each source (a psutil call, one NVML reading of one GPU) that the platform or container does not support is
switched off with one warning; the others keep working and nothing reaches the host program. Host-wide series
come from one process per host and service (a lock file elects it); process series come from every process.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import re
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import psutil
from opentelemetry.metrics import CallbackOptions, Meter, Observation

from zgen_otel import _current
from zgen_otel.store import MetricStore

__all__ = ["SystemMonitor", "get_monitor", "get_system_metrics", "start", "stop"]

_log = logging.getLogger(__name__)
SCOPE = "zgen_otel.system"
_SKIP_DISKS = re.compile(r"^(loop|ram|zram|fd)\d*")
_MIN_CPU_WINDOW = 0.1  # seconds between CPU samples for a meaningful utilisation
_CPU_STATES = ("idle", "user", "system", "irq")

Attrs = dict[str, Any]
#: Runs one reading (a name, a call and its arguments) unless that reading was switched off: its result, or None.
Guard = Callable[..., Any]

# name -> (kind, unit, description). Kinds: counter (monotonic), updown (can go down), gauge.
INSTRUMENTS: dict[str, tuple[str, str, str]] = {
    "system.cpu.time": ("counter", "s", "CPU time by core and state"),
    "system.cpu.utilization": ("gauge", "1", "CPU utilisation by core and state since the last sweep"),
    "system.cpu.load_average.1m": ("gauge", "1", "Load average over 1 minute"),
    "system.cpu.load_average.5m": ("gauge", "1", "Load average over 5 minutes"),
    "system.cpu.load_average.15m": ("gauge", "1", "Load average over 15 minutes"),
    "system.memory.usage": ("updown", "By", "Memory in use by state"),
    "system.memory.utilization": ("gauge", "1", "Memory utilisation by state"),
    "system.memory.limit": ("updown", "By", "Total memory"),
    "system.swap.usage": ("updown", "By", "Swap by state"),
    "system.swap.utilization": ("gauge", "1", "Swap utilisation by state"),
    "system.filesystem.usage": ("updown", "By", "Filesystem space by mount point and state"),
    "system.filesystem.utilization": ("gauge", "1", "Filesystem space used, by mount point"),
    "system.disk.io": ("counter", "By", "Disk bytes by device and direction"),
    "system.disk.operations": ("counter", "{operation}", "Disk operations by device and direction"),
    "system.disk.time": ("counter", "s", "Time spent on disk operations by device and direction"),
    "system.network.io": ("counter", "By", "Network bytes by interface and direction"),
    "system.network.packets": ("counter", "{packet}", "Network packets by interface and direction"),
    "system.network.errors": ("counter", "{error}", "Network errors by interface and direction"),
    "system.network.dropped_packets": ("counter", "{packet}", "Dropped packets by interface and direction"),
    "process.cpu.time": ("counter", "s", "CPU time of this process by type"),
    "process.cpu.utilization": ("gauge", "1", "CPU utilisation of this process (share of all cores)"),
    "process.memory.usage": ("updown", "By", "Resident memory of this process"),
    "process.memory.virtual": ("updown", "By", "Virtual memory of this process"),
    "process.thread.count": ("updown", "{thread}", "Threads of this process"),
    "process.open_file_descriptor.count": ("updown", "{count}", "Open file descriptors of this process"),
    "process.context_switches": ("counter", "{count}", "Context switches of this process by type"),
    "cpython.gc.collections": ("counter", "{collection}", "Garbage collections by generation"),
    "cpython.gc.collected_objects": ("counter", "{object}", "Objects collected by generation"),
    "cpython.gc.uncollectable_objects": ("counter", "{object}", "Uncollectable objects by generation"),
    "hw.gpu.utilization": ("gauge", "1", "GPU utilisation"),
    "hw.gpu.memory.usage": ("updown", "By", "GPU memory in use"),
    "hw.gpu.memory.limit": ("updown", "By", "GPU memory size"),
    "hw.gpu.memory.utilization": ("gauge", "1", "GPU memory utilisation"),
    "hw.temperature": ("gauge", "Cel", "Hardware temperature"),
    "hw.power": ("gauge", "W", "Hardware power draw"),
}

# Local-only convenience series: name -> unit.
LOCAL_SERIES: dict[str, str] = {
    "system.cpu_percent": "%",
    "system.cpu_core_percent": "%",
    "system.load_1m": "1",
    "system.load_5m": "1",
    "system.load_15m": "1",
    "system.memory_percent": "%",
    "system.memory_used_bytes": "By",
    "system.memory_available_bytes": "By",
    "system.memory_total_bytes": "By",
    "system.swap_percent": "%",
    "system.swap_used_bytes": "By",
    "system.disk_percent": "%",
    "system.disk_used_bytes": "By",
    "system.disk_free_bytes": "By",
    "system.disk_read_bytes_per_s": "By/s",
    "system.disk_write_bytes_per_s": "By/s",
    "system.disk_read_ops_per_s": "{operation}/s",
    "system.disk_write_ops_per_s": "{operation}/s",
    "system.net_recv_bytes_per_s": "By/s",
    "system.net_sent_bytes_per_s": "By/s",
    "system.net_recv_packets_per_s": "{packet}/s",
    "system.net_sent_packets_per_s": "{packet}/s",
    "system.net_errors_per_s": "{error}/s",
    "system.net_drops_per_s": "{packet}/s",
    "process.cpu_percent": "%",
    "process.memory_rss_bytes": "By",
    "process.memory_vms_bytes": "By",
    "process.threads": "{thread}",
    "process.open_fds": "{count}",
    "system.gpu_percent": "%",
    "system.gpu_memory_percent": "%",
    "system.gpu_memory_used_bytes": "By",
    "system.gpu_temperature_celsius": "Cel",
    "system.gpu_power_watts": "W",
}


class _Sweep:
    """What one sweep produced: OTel-named points, local series and the snapshot dict."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.otel: dict[str, list[tuple[float, Attrs]]] = {}
        self.local: list[tuple[str, float, Attrs]] = []
        self.snapshot: dict[str, Any] = {"timestamp": now}

    def point(self, name: str, value: float, attrs: Attrs | None = None) -> None:
        self.otel.setdefault(name, []).append((float(value), attrs or {}))

    def keep(self, name: str, value: float, attrs: Attrs | None = None) -> None:
        self.local.append((name, float(value), attrs or {}))

    def replay(self, into: _Sweep) -> None:
        """Copy this sweep's readings into another sweep."""
        for name, points in self.otel.items():
            into.otel.setdefault(name, []).extend(points)
        into.local.extend(self.local)
        into.snapshot.update({k: v for k, v in self.snapshot.items() if k != "timestamp"})


class _HostLock:
    """Elects one process per host (and service) to report host-wide series, through an flock'ed file."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = os.getpid()

    @property
    def held(self) -> bool:
        """Whether this process reports the host-wide series (trying to take the lock when it does not)."""
        if self.path is None:
            return True
        if self._pid != os.getpid():  # forked: the inherited lock belongs to the parent
            self._fd, self._pid = None, os.getpid()
        if self._fd is not None:
            return True
        try:
            import fcntl
        except ImportError:  # no flock (Windows): every process reports
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def release(self) -> None:
        """Give the election up (at stop)."""
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None


class SystemMonitor:
    """Collects system and process metrics every ``interval`` seconds into the store and OTel instruments.

    Args:
        store: where samples go.
        meter: the meter for the observable instruments (None: store only).
        interval: seconds between sweeps of the background collector.
        host_lock: lock-file path that elects the one process per host reporting host-wide series (None:
            this process always reports them).
        clock: the time source.
    """

    def __init__(
        self,
        store: MetricStore,
        meter: Meter | None,
        interval: float = 60.0,
        *,
        host_lock: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.interval = interval
        self.clock = clock
        self._host = _HostLock(host_lock)
        self._lock = threading.Lock()
        self._latest: dict[str, list[tuple[float, Attrs]]] = {}
        self._disabled: set[str] = set()
        self._previous: dict[str, tuple[float, Any]] = {}
        self._process = psutil.Process()
        self._cpu_count = psutil.cpu_count() or 1
        self._gpu = _Nvml.open(self._guarded)
        self._cpu_last: _Sweep | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._prime()
        if meter is not None:
            for name, (kind, unit, description) in INSTRUMENTS.items():
                create = {
                    "counter": meter.create_observable_counter,
                    "updown": meter.create_observable_up_down_counter,
                    "gauge": meter.create_observable_gauge,
                }[kind]
                create(name, callbacks=[self._observer(name)], unit=unit, description=description)
            for name, unit in LOCAL_SERIES.items():  # the seed's names ship too, so fleet rules can use them
                meter.create_observable_gauge(name, callbacks=[self._observer(name)], unit=unit)
        _MONITORS.add(self)

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the background collector (first sweep after at most one interval, or one second)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="zgen-otel-system-monitor", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the background collector and give up the host election."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._thread = None
        self._host.release()

    @property
    def running(self) -> bool:
        """Whether the background collector runs."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        wait = min(self.interval, 1.0)
        while not self._stop.wait(wait):
            try:
                self.collect()
            except Exception:  # never let the collector die
                _log.exception("zgen_otel: system metrics sweep failed")
            wait = self.interval

    def _after_fork(self) -> None:
        """In a forked child: no collector thread exists; start a fresh one if the parent's was running."""
        self._lock = threading.Lock()
        was_running = self._thread is not None
        self._thread = None
        self._process = psutil.Process()
        if was_running and not self._stop.is_set():
            self.start()

    # -- sweeping -----------------------------------------------------------------------------------
    def _prime(self) -> None:
        """Take the first counter samples, so the first sweep's utilisation and rates are meaningful."""
        now = time.monotonic()
        for name, read in (
            ("cpu", lambda: psutil.cpu_times(percpu=True)),
            ("process", self._process.cpu_times),
            ("disk_io", _disk_counters),
            ("network", lambda: psutil.net_io_counters(pernic=True)),
        ):
            with contextlib.suppress(Exception):  # unsupported here: the sweep reports it
                self._previous[name] = (now, read())

    def collect(self) -> dict[str, Any]:
        """Take one sweep now: store every value, refresh the OTel values, return the snapshot dict."""
        sweep = _Sweep(self.clock())
        host = self._host.held
        sources: list[tuple[str, Callable[[_Sweep], None]]] = [("process", self._read_process), ("gc", _read_gc)]
        if host:
            sources = [
                ("cpu", self._read_cpu),
                ("load", _read_load),
                ("memory", _read_memory),
                ("swap", _read_swap),
                ("filesystem", _read_filesystems),
                ("disk_io", self._read_disk_io),
                ("network", self._read_network),
                *sources,
            ]
            if self._gpu is not None:
                sources.append(("gpu", self._gpu.read))
        for name, read in sources:
            self._guarded(name, read, sweep)
        sweep.snapshot["host_reporter"] = host
        latest = dict(sweep.otel)
        for name, value, attrs in sweep.local:
            latest.setdefault(name, []).append((value, attrs))
        self._latest = latest
        self._write(sweep)
        return sweep.snapshot

    def _write(self, sweep: _Sweep) -> None:
        add, ts = self.store.add, sweep.now
        for name, points in sweep.otel.items():
            unit = INSTRUMENTS[name][1]
            category = name.split(".", 1)[0]
            for value, attrs in points:
                add(name, value, tuple(sorted(attrs.items())), ts, unit=unit, category=category)
        for name, value, attrs in sweep.local:
            add(name, value, tuple(sorted(attrs.items())), ts, unit=LOCAL_SERIES[name], category=name.split(".")[0])

    def _guarded(self, name: str, read: Callable[..., Any], *args: Any) -> Any:
        """``read(*args)``, or None once ``name`` is switched off: its first failure switches it off, warning once.

        ``name`` is a source (a group of series from one call) or a single metric; the rest keep working.
        """
        if name in self._disabled:
            return None
        try:
            return read(*args)
        except Exception as exc:  # unsupported here (NotImplementedError, AccessDenied, a missing /proc file...)
            self._disabled.add(name)
            _log.warning("zgen_otel: system metrics source %r disabled: %s: %s", name, type(exc).__name__, exc)
            return None

    def _observer(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(value, attrs) for value, attrs in self._latest.get(name, ())]

        return observe

    def _delta(self, key: str, current: Any) -> tuple[float, Any] | None:
        """Seconds since the previous sample of ``key`` and that sample (None on the first)."""
        now = time.monotonic()
        previous = self._previous.get(key)
        self._previous[key] = (now, current)
        if previous is None:
            return None
        return now - previous[0], previous[1]

    def _read_cpu(self, sweep: _Sweep) -> None:
        previous = self._previous.get("cpu")
        if previous is not None and time.monotonic() - previous[0] < _MIN_CPU_WINDOW:
            if self._cpu_last is not None:  # sampled a moment ago: repeat that reading
                self._cpu_last.replay(sweep)
                return
            time.sleep(_MIN_CPU_WINDOW - (time.monotonic() - previous[0]))  # the very first reading
        reading = _Sweep(sweep.now)
        per_cpu = psutil.cpu_times(percpu=True)
        delta = self._delta("cpu", per_cpu)
        busy_total = all_total = 0.0
        per_core: list[float] = []
        for i, times in enumerate(per_cpu):
            cpu = f"cpu{i}"
            fields = times._asdict()
            for state in _CPU_STATES:
                if state in fields:
                    reading.point("system.cpu.time", fields[state], {"cpu": cpu, "state": state})
            if delta is None or i >= len(delta[1]):
                continue
            old = delta[1][i]._asdict()
            steps = {k: max(0.0, fields[k] - old[k]) for k in fields}
            total = sum(steps.values()) or 1e-9
            for state in _CPU_STATES:
                if state in steps:
                    reading.point("system.cpu.utilization", steps[state] / total, {"cpu": cpu, "state": state})
            busy = total - steps.get("idle", 0.0) - steps.get("iowait", 0.0)
            busy_total += busy
            all_total += total
            per_core.append(100.0 * busy / total)
            reading.keep("system.cpu_core_percent", per_core[-1], {"cpu": str(i)})
        if per_core:
            overall = 100.0 * busy_total / (all_total or 1e-9)
            reading.keep("system.cpu_percent", overall)
            reading.snapshot["cpu"] = {"percent": overall, "per_core": per_core, "count": len(per_cpu)}
        self._cpu_last = reading
        reading.replay(sweep)

    def _read_disk_io(self, sweep: _Sweep) -> None:
        counters = _disk_counters()
        delta = self._delta("disk_io", counters)
        disks: dict[str, dict[str, float]] = {}
        for device, c in counters.items():
            for direction, nbytes, ops, ms in (
                ("read", c.read_bytes, c.read_count, c.read_time),
                ("write", c.write_bytes, c.write_count, c.write_time),
            ):
                attrs = {"device": device, "direction": direction}
                sweep.point("system.disk.io", nbytes, attrs)
                sweep.point("system.disk.operations", ops, attrs)
                sweep.point("system.disk.time", ms / 1000, attrs)
            if delta is not None and device in delta[1]:
                disks[device] = _rates(sweep, "system.disk_", ("device", device), _DISK_RATES, delta, c)
        sweep.snapshot["disk_io"] = disks

    def _read_network(self, sweep: _Sweep) -> None:
        counters = psutil.net_io_counters(pernic=True)
        delta = self._delta("network", counters)
        nics: dict[str, dict[str, float]] = {}
        for nic, c in counters.items():
            for direction, nbytes, packets, errors, drops in (
                ("transmit", c.bytes_sent, c.packets_sent, c.errout, c.dropout),
                ("receive", c.bytes_recv, c.packets_recv, c.errin, c.dropin),
            ):
                attrs = {"device": nic, "direction": direction}
                sweep.point("system.network.io", nbytes, attrs)
                sweep.point("system.network.packets", packets, attrs)
                sweep.point("system.network.errors", errors, attrs)
                sweep.point("system.network.dropped_packets", drops, attrs)
            if delta is not None and nic in delta[1]:
                nics[nic] = _rates(sweep, "system.net_", ("interface", nic), _NET_RATES, delta, c)
        sweep.snapshot["network"] = nics

    def _read_process(self, sweep: _Sweep) -> None:
        p = self._process
        with p.oneshot():
            times = p.cpu_times()
            memory = p.memory_info()
            threads = p.num_threads()
            switches = self._guarded("process.context_switches", p.num_ctx_switches)
            fds = self._guarded("process.open_file_descriptor.count", p.num_fds) if hasattr(p, "num_fds") else None
        sweep.point("process.cpu.time", times.user, {"type": "user"})
        sweep.point("process.cpu.time", times.system, {"type": "system"})
        delta = self._delta("process", times)
        info: dict[str, Any] = {"rss_bytes": memory.rss, "vms_bytes": memory.vms, "threads": threads}
        if delta is not None:
            seconds, old = delta[0] or 1e-9, delta[1]
            used = max(0.0, times.user + times.system - old.user - old.system)
            sweep.point("process.cpu.utilization", used / seconds / self._cpu_count)
            info["cpu_percent"] = 100.0 * used / seconds
            sweep.keep("process.cpu_percent", info["cpu_percent"])
        sweep.point("process.memory.usage", memory.rss)
        sweep.point("process.memory.virtual", memory.vms)
        sweep.point("process.thread.count", threads)
        if switches is not None:
            sweep.point("process.context_switches", switches.voluntary, {"type": "voluntary"})
            sweep.point("process.context_switches", switches.involuntary, {"type": "involuntary"})
        sweep.keep("process.memory_rss_bytes", memory.rss)
        sweep.keep("process.memory_vms_bytes", memory.vms)
        sweep.keep("process.threads", threads)
        if fds is not None:
            sweep.point("process.open_file_descriptor.count", fds)
            sweep.keep("process.open_fds", fds)
            info["open_fds"] = fds
        sweep.snapshot["process"] = info


_DISK_RATES: dict[str, Callable[[Any], float]] = {
    "read_bytes_per_s": lambda c: c.read_bytes,
    "write_bytes_per_s": lambda c: c.write_bytes,
    "read_ops_per_s": lambda c: c.read_count,
    "write_ops_per_s": lambda c: c.write_count,
}
_NET_RATES: dict[str, Callable[[Any], float]] = {
    "recv_bytes_per_s": lambda c: c.bytes_recv,
    "sent_bytes_per_s": lambda c: c.bytes_sent,
    "recv_packets_per_s": lambda c: c.packets_recv,
    "sent_packets_per_s": lambda c: c.packets_sent,
    "errors_per_s": lambda c: c.errin + c.errout,
    "drops_per_s": lambda c: c.dropin + c.dropout,
}


def _rates(
    sweep: _Sweep, prefix: str, label: tuple[str, str], spec: dict[str, Callable[[Any], float]], delta: Any, now: Any
) -> dict[str, float]:
    """Per-second rates of one device's counters since the previous sweep, kept as local series.

    ``label`` is (attribute name, device); ``delta`` is ``(seconds, counters by device)`` of the previous sweep.
    """
    seconds, before = delta[0] or 1e-9, delta[1][label[1]]
    rates = {key: max(0.0, (read(now) - read(before)) / seconds) for key, read in spec.items()}
    for key, value in rates.items():
        sweep.keep(f"{prefix}{key}", value, {label[0]: label[1]})
    return rates


def _disk_counters() -> dict[str, Any]:
    return {d: c for d, c in psutil.disk_io_counters(perdisk=True).items() if not _SKIP_DISKS.match(d)}


def _read_load(sweep: _Sweep) -> None:
    loads = os.getloadavg()
    for window, value in zip(("1m", "5m", "15m"), loads, strict=True):
        sweep.point(f"system.cpu.load_average.{window}", value)
        sweep.keep(f"system.load_{window}", value)
    sweep.snapshot["load_average"] = list(loads)


def _read_memory(sweep: _Sweep) -> None:
    vm = psutil.virtual_memory()
    total = vm.total or 1
    states = {"used": vm.used, "free": vm.free}
    for state in ("cached", "buffers"):
        if hasattr(vm, state):
            states[state] = getattr(vm, state)
    for state, value in states.items():
        sweep.point("system.memory.usage", value, {"state": state})
        sweep.point("system.memory.utilization", value / total, {"state": state})
    sweep.point("system.memory.limit", vm.total)
    sweep.keep("system.memory_percent", vm.percent)
    sweep.keep("system.memory_used_bytes", vm.used)
    sweep.keep("system.memory_available_bytes", vm.available)
    sweep.keep("system.memory_total_bytes", vm.total)
    sweep.snapshot["memory"] = {"percent": vm.percent, "used": vm.used, "available": vm.available, "total": vm.total}


def _read_swap(sweep: _Sweep) -> None:
    sw = psutil.swap_memory()
    total = sw.total or 1
    for state, value in (("used", sw.used), ("free", sw.free)):
        sweep.point("system.swap.usage", value, {"state": state})
        sweep.point("system.swap.utilization", value / total, {"state": state})
    sweep.keep("system.swap_percent", sw.percent)
    sweep.keep("system.swap_used_bytes", sw.used)
    sweep.snapshot["swap"] = {"percent": sw.percent, "used": sw.used, "total": sw.total}


def _read_filesystems(sweep: _Sweep) -> None:
    mounts: dict[str, dict[str, Any]] = {}
    for part in psutil.disk_partitions(all=False):
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except OSError:  # unreadable mount (permissions, a vanished bind mount): skip just this one
            continue
        attrs = {"device": part.device, "mountpoint": part.mountpoint, "type": part.fstype}
        sweep.point("system.filesystem.usage", usage.used, {**attrs, "state": "used"})
        sweep.point("system.filesystem.usage", usage.free, {**attrs, "state": "free"})
        sweep.point("system.filesystem.utilization", usage.percent / 100, attrs)
        local = {"mountpoint": part.mountpoint}
        sweep.keep("system.disk_percent", usage.percent, local)
        sweep.keep("system.disk_used_bytes", usage.used, local)
        sweep.keep("system.disk_free_bytes", usage.free, local)
        mounts[part.mountpoint] = {
            "percent": usage.percent,
            "used": usage.used,
            "free": usage.free,
            "total": usage.total,
        }
    sweep.snapshot["disks"] = mounts


def _read_gc(sweep: _Sweep) -> None:
    for generation, stats in enumerate(gc.get_stats()):
        attrs = {"cpython.gc.generation": generation, "generation": str(generation)}  # both, as the contrib does
        sweep.point("cpython.gc.collections", stats["collections"], attrs)
        sweep.point("cpython.gc.collected_objects", stats["collected"], attrs)
        sweep.point("cpython.gc.uncollectable_objects", stats["uncollectable"], attrs)


class _Nvml:
    """NVIDIA GPUs through nvidia-ml-py (the ``gpu`` extra); absent without the package or a driver.

    Each NVML reading of each GPU is guarded on its own: one the GPU does not support (power on some
    boards) is switched off with one warning, and the other readings go on.
    """

    def __init__(self, nvml: Any, handles: list[Any], guard: Guard) -> None:
        self._nvml = nvml
        self._handles = handles
        self._guard = guard

    @classmethod
    def open(cls, guard: Guard) -> _Nvml | None:
        """Initialise NVML, or return None (silently) where there is no package, driver or GPU."""
        try:
            import pynvml  # type: ignore[import-not-found]

            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except Exception as exc:
            _log.debug("zgen_otel: no NVIDIA GPU metrics (%s)", exc)
            return None
        return cls(pynvml, handles, guard) if handles else None

    def read(self, sweep: _Sweep) -> None:
        """Utilisation, memory, temperature and power of every GPU (what each one supports)."""
        nvml = self._nvml
        gpus = []
        for index, handle in enumerate(self._handles):
            hw: Attrs = {"hw.id": f"gpu{index}"}
            name = self._reading(index, "hw.name", nvml.nvmlDeviceGetName, handle)
            if name is not None:
                hw["hw.name"] = name.decode() if isinstance(name, bytes) else str(name)
            local = {"gpu": str(index)}
            info: dict[str, Any] = {"index": index, "name": hw.get("hw.name")}
            util = self._reading(index, "hw.gpu.utilization", nvml.nvmlDeviceGetUtilizationRates, handle)
            if util is not None:
                sweep.point("hw.gpu.utilization", util.gpu / 100, hw)
                sweep.keep("system.gpu_percent", util.gpu, local)
                info["percent"] = util.gpu
            memory = self._reading(index, "hw.gpu.memory.usage", nvml.nvmlDeviceGetMemoryInfo, handle)
            if memory is not None:
                memory_percent = 100.0 * memory.used / (memory.total or 1)
                sweep.point("hw.gpu.memory.usage", memory.used, hw)
                sweep.point("hw.gpu.memory.limit", memory.total, hw)
                sweep.point("hw.gpu.memory.utilization", memory.used / (memory.total or 1), hw)
                sweep.keep("system.gpu_memory_percent", memory_percent, local)
                sweep.keep("system.gpu_memory_used_bytes", memory.used, local)
                info.update(memory_used=memory.used, memory_total=memory.total, memory_percent=memory_percent)
            sensor = {**hw, "hw.type": "gpu"}
            temperature = self._reading(
                index, "hw.temperature", nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU
            )
            if temperature is not None:
                sweep.point("hw.temperature", temperature, sensor)
                sweep.keep("system.gpu_temperature_celsius", temperature, local)
                info["temperature_celsius"] = temperature
            milliwatts = self._reading(index, "hw.power", nvml.nvmlDeviceGetPowerUsage, handle)
            if milliwatts is not None:
                power = milliwatts / 1000.0
                sweep.point("hw.power", power, sensor)
                sweep.keep("system.gpu_power_watts", power, local)
                info["power_watts"] = power
            gpus.append(info)
        sweep.snapshot["gpus"] = gpus

    def _reading(self, index: int, metric: str, call: Callable[..., Any], *args: Any) -> Any:
        """One NVML call for one GPU's metric, or None where that GPU does not support it."""
        return self._guard(f"{metric} (gpu{index})", call, *args)


_MONITORS: weakref.WeakSet[SystemMonitor] = weakref.WeakSet()


def _restart_after_fork() -> None:
    for monitor in list(_MONITORS):
        monitor._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_after_fork)


def default_host_lock(service_name: str) -> str:
    """The lock file that elects the host reporter among the processes of one service."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", service_name)
    return os.path.join(tempfile.gettempdir(), f"zgen-otel-{safe}-host.lock")


# -- module API ------------------------------------------------------------------------------------------
def get_monitor() -> SystemMonitor | None:
    """The runtime's system monitor (None when monitoring is disabled or the monitor is turned off)."""
    monitor: SystemMonitor | None = _current.get_runtime().system_monitor
    return monitor


def get_system_metrics() -> dict[str, Any]:
    """Take a sweep now (without waiting for the interval) and return it as a dict; ``{}`` when disabled.

    Keys: ``timestamp``, ``cpu``, ``load_average``, ``memory``, ``swap``, ``disks`` (per mount point),
    ``disk_io`` and ``network`` (rates per device), ``process``, ``gpus`` (when present), ``host_reporter``.
    The values are stored like those of a scheduled sweep.
    """
    monitor = get_monitor()
    return {} if monitor is None else monitor.collect()


def start() -> None:
    """Start the runtime's background collector (it starts with the runtime by default)."""
    monitor = get_monitor()
    if monitor is not None:
        monitor.start()


def stop() -> None:
    """Stop the runtime's background collector."""
    monitor = get_monitor()
    if monitor is not None:
        monitor.stop()
