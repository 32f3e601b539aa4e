"""The psutil readings of the system monitor: each reader adds one source's values to a `Sweep`.

Host-wide sources: CPU, load average, memory, swap, filesystems, disk I/O and network. Process sources:
this process and CPython's garbage collector. Sources that read cumulative counters (CPU times, disk and
network counters, the process' CPU time) keep their previous sample in `PsutilReaders`, to derive
utilisation and per-second rates; so does the filesystem reader, which lists the mounts at most once a
minute (listing them costs more than reading them); the others are plain functions.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import time
from collections.abc import Callable
from typing import Any

import psutil

from zgen_otel import semconv as sc
from zgen_otel.semconv import MetricSpec
from zgen_otel.system.sweep import Guard, Sweep

__all__ = [
    "PsutilReaders",
    "Source",
    "read_gc",
    "read_load",
    "read_memory",
    "read_swap",
]

#: A named source of readings: its name (what a failure switches off) and the reader that fills a sweep.
Source = tuple[str, Callable[[Sweep], None]]

_SKIP_DISKS = re.compile(r"^(loop|ram|zram|fd)\d*")
_MIN_CPU_WINDOW = 0.1  # seconds between CPU samples for a meaningful utilisation
_MOUNTS_MAX_AGE = 60.0  # seconds a listing of the mounted filesystems is reused
_CPU_STATES = ("idle", "user", "system", "irq")
_LOAD = (  # (OTel name, local name) of the 1, 5 and 15 minute averages
    (sc.SYSTEM_CPU_LOAD_AVERAGE_1M, sc.SYSTEM_LOAD_1M),
    (sc.SYSTEM_CPU_LOAD_AVERAGE_5M, sc.SYSTEM_LOAD_5M),
    (sc.SYSTEM_CPU_LOAD_AVERAGE_15M, sc.SYSTEM_LOAD_15M),
)

#: A per-second rate of one device: its snapshot key, its local series and how to read it from the counters.
Rate = tuple[str, MetricSpec, Callable[[Any], float]]
_DISK_RATES: tuple[Rate, ...] = (
    ("read_bytes_per_s", sc.SYSTEM_DISK_READ, lambda c: c.read_bytes),
    ("write_bytes_per_s", sc.SYSTEM_DISK_WRITE, lambda c: c.write_bytes),
    ("read_ops_per_s", sc.SYSTEM_DISK_READ_OPS, lambda c: c.read_count),
    ("write_ops_per_s", sc.SYSTEM_DISK_WRITE_OPS, lambda c: c.write_count),
)
_NET_RATES: tuple[Rate, ...] = (
    ("recv_bytes_per_s", sc.SYSTEM_NET_RECV, lambda c: c.bytes_recv),
    ("sent_bytes_per_s", sc.SYSTEM_NET_SENT, lambda c: c.bytes_sent),
    ("recv_packets_per_s", sc.SYSTEM_NET_RECV_PACKETS, lambda c: c.packets_recv),
    ("sent_packets_per_s", sc.SYSTEM_NET_SENT_PACKETS, lambda c: c.packets_sent),
    ("errors_per_s", sc.SYSTEM_NET_ERRORS, lambda c: c.errin + c.errout),
    ("drops_per_s", sc.SYSTEM_NET_DROPS, lambda c: c.dropin + c.dropout),
)


class PsutilReaders:
    """The psutil sources of one monitor, with the previous samples of the cumulative counters.

    Args:
        guard: runs one reading unless it was switched off (the monitor's); used for the process readings
            that some platforms lack (context switches, open file descriptors).
    """

    def __init__(self, guard: Guard) -> None:
        self._guard = guard
        self._previous: dict[str, tuple[float, Any]] = {}
        self._cpu_last: Sweep | None = None
        self._mounts: tuple[float, list[Any]] | None = None  # (when listed, psutil's partitions)
        self._process = psutil.Process()
        self._cpu_count = psutil.cpu_count() or 1
        self._prime()

    def host_sources(self) -> list[Source]:
        """The host-wide sources, in sweep order."""
        return [
            ("cpu", self.read_cpu),
            ("load", read_load),
            ("memory", read_memory),
            ("swap", read_swap),
            ("filesystem", self.read_filesystems),
            ("disk_io", self.read_disk_io),
            ("network", self.read_network),
        ]

    def process_sources(self) -> list[Source]:
        """The sources of this process, in sweep order."""
        return [("process", self.read_process), ("gc", read_gc)]

    def after_fork_in_child(self) -> None:
        """In a forked child: read this process, not the parent."""
        self._process = psutil.Process()

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

    def _delta(self, key: str, current: Any) -> tuple[float, Any] | None:
        """Seconds since the previous sample of ``key`` and that sample (None on the first)."""
        now = time.monotonic()
        previous = self._previous.get(key)
        self._previous[key] = (now, current)
        if previous is None:
            return None
        return now - previous[0], previous[1]

    def read_cpu(self, sweep: Sweep) -> None:
        """CPU times and utilisation by core and state; overall and per-core percentages."""
        previous = self._previous.get("cpu")
        if previous is not None and time.monotonic() - previous[0] < _MIN_CPU_WINDOW:
            if self._cpu_last is not None:  # sampled a moment ago: repeat that reading
                self._cpu_last.replay(sweep)
                return
            time.sleep(_MIN_CPU_WINDOW - (time.monotonic() - previous[0]))  # the very first reading
        reading = Sweep(sweep.now)
        per_cpu = psutil.cpu_times(percpu=True)
        delta = self._delta("cpu", per_cpu)
        busy_total = all_total = 0.0
        per_core: list[float] = []
        for i, times in enumerate(per_cpu):
            cpu = f"cpu{i}"
            fields = times._asdict()
            for state in _CPU_STATES:
                if state in fields:
                    reading.point(sc.SYSTEM_CPU_TIME, fields[state], {"cpu": cpu, "state": state})
            if delta is None or i >= len(delta[1]):
                continue
            old = delta[1][i]._asdict()
            steps = {k: max(0.0, fields[k] - old[k]) for k in fields}
            total = sum(steps.values()) or 1e-9
            for state in _CPU_STATES:
                if state in steps:
                    reading.point(sc.SYSTEM_CPU_UTILIZATION, steps[state] / total, {"cpu": cpu, "state": state})
            busy = total - steps.get("idle", 0.0) - steps.get("iowait", 0.0)
            busy_total += busy
            all_total += total
            per_core.append(100.0 * busy / total)
            reading.keep(sc.SYSTEM_CPU_CORE_PERCENT, per_core[-1], {"cpu": str(i)})
        if per_core:
            overall = 100.0 * busy_total / (all_total or 1e-9)
            reading.keep(sc.SYSTEM_CPU_PERCENT, overall)
            reading.snapshot["cpu"] = {"percent": overall, "per_core": per_core, "count": len(per_cpu)}
        self._cpu_last = reading
        reading.replay(sweep)

    def read_disk_io(self, sweep: Sweep) -> None:
        """Disk bytes, operations and time by device and direction; per-second rates by device."""
        counters = _disk_counters()
        delta = self._delta("disk_io", counters)
        disks: dict[str, dict[str, float]] = {}
        for device, c in counters.items():
            for direction, nbytes, ops, ms in (
                ("read", c.read_bytes, c.read_count, c.read_time),
                ("write", c.write_bytes, c.write_count, c.write_time),
            ):
                attrs = {"device": device, "direction": direction}
                sweep.point(sc.SYSTEM_DISK_IO, nbytes, attrs)
                sweep.point(sc.SYSTEM_DISK_OPERATIONS, ops, attrs)
                sweep.point(sc.SYSTEM_DISK_TIME, ms / 1000, attrs)
            if delta is not None and device in delta[1]:
                disks[device] = _rates(sweep, {"device": device}, _DISK_RATES, delta[0], delta[1][device], c)
        sweep.snapshot["disk_io"] = disks

    def read_network(self, sweep: Sweep) -> None:
        """Network bytes, packets, errors and drops by interface and direction; per-second rates by interface."""
        counters = psutil.net_io_counters(pernic=True)
        delta = self._delta("network", counters)
        nics: dict[str, dict[str, float]] = {}
        for nic, c in counters.items():
            for direction, nbytes, packets, errors, drops in (
                ("transmit", c.bytes_sent, c.packets_sent, c.errout, c.dropout),
                ("receive", c.bytes_recv, c.packets_recv, c.errin, c.dropin),
            ):
                attrs = {"device": nic, "direction": direction}
                sweep.point(sc.SYSTEM_NETWORK_IO, nbytes, attrs)
                sweep.point(sc.SYSTEM_NETWORK_PACKETS, packets, attrs)
                sweep.point(sc.SYSTEM_NETWORK_ERRORS, errors, attrs)
                sweep.point(sc.SYSTEM_NETWORK_DROPPED_PACKETS, drops, attrs)
            if delta is not None and nic in delta[1]:
                nics[nic] = _rates(sweep, {"interface": nic}, _NET_RATES, delta[0], delta[1][nic], c)
        sweep.snapshot["network"] = nics

    def read_process(self, sweep: Sweep) -> None:
        """This process: CPU time and utilisation, memory, threads, context switches, open file descriptors."""
        p = self._process
        with p.oneshot():
            times = p.cpu_times()
            memory = p.memory_info()
            threads = p.num_threads()
            switches = self._guard(sc.PROCESS_CONTEXT_SWITCHES.name, p.num_ctx_switches)
            fds = self._guard(sc.PROCESS_OPEN_FILE_DESCRIPTOR_COUNT.name, p.num_fds) if hasattr(p, "num_fds") else None
        sweep.point(sc.PROCESS_CPU_TIME, times.user, {"type": "user"})
        sweep.point(sc.PROCESS_CPU_TIME, times.system, {"type": "system"})
        delta = self._delta("process", times)
        info: dict[str, Any] = {"rss_bytes": memory.rss, "vms_bytes": memory.vms, "threads": threads}
        if delta is not None:
            seconds, old = delta[0] or 1e-9, delta[1]
            used = max(0.0, times.user + times.system - old.user - old.system)
            sweep.point(sc.PROCESS_CPU_UTILIZATION, used / seconds / self._cpu_count)
            info["cpu_percent"] = 100.0 * used / seconds
            sweep.keep(sc.PROCESS_CPU_PERCENT, info["cpu_percent"])
        sweep.point(sc.PROCESS_MEMORY_USAGE, memory.rss)
        sweep.point(sc.PROCESS_MEMORY_VIRTUAL, memory.vms)
        sweep.point(sc.PROCESS_THREAD_COUNT, threads)
        if switches is not None:
            sweep.point(sc.PROCESS_CONTEXT_SWITCHES, switches.voluntary, {"type": "voluntary"})
            sweep.point(sc.PROCESS_CONTEXT_SWITCHES, switches.involuntary, {"type": "involuntary"})
        sweep.keep(sc.PROCESS_MEMORY_RSS_BYTES, memory.rss)
        sweep.keep(sc.PROCESS_MEMORY_VMS_BYTES, memory.vms)
        sweep.keep(sc.PROCESS_THREADS, threads)
        if fds is not None:
            sweep.point(sc.PROCESS_OPEN_FILE_DESCRIPTOR_COUNT, fds)
            sweep.keep(sc.PROCESS_OPEN_FDS, fds)
            info["open_fds"] = fds
        sweep.snapshot["process"] = info

    def read_filesystems(self, sweep: Sweep) -> None:
        """Space used and free on each mounted filesystem (an unreadable mount is skipped).

        The mounts are listed again when the last listing is a minute old: a filesystem mounted or unmounted
        meanwhile shows up or goes within a minute.
        """
        now = time.monotonic()
        if self._mounts is None or now - self._mounts[0] >= _MOUNTS_MAX_AGE:
            self._mounts = (now, psutil.disk_partitions(all=False))
        mounts: dict[str, dict[str, Any]] = {}
        for part in self._mounts[1]:
            try:
                usage = psutil.disk_usage(part.mountpoint)
            except OSError:  # unreadable mount (permissions, a vanished bind mount): skip just this one
                continue
            attrs = {"device": part.device, "mountpoint": part.mountpoint, "type": part.fstype}
            sweep.point(sc.SYSTEM_FILESYSTEM_USAGE, usage.used, {**attrs, "state": "used"})
            sweep.point(sc.SYSTEM_FILESYSTEM_USAGE, usage.free, {**attrs, "state": "free"})
            sweep.point(sc.SYSTEM_FILESYSTEM_UTILIZATION, usage.percent / 100, attrs)
            local = {"mountpoint": part.mountpoint}
            sweep.keep(sc.SYSTEM_DISK_PERCENT, usage.percent, local)
            sweep.keep(sc.SYSTEM_DISK_USED_BYTES, usage.used, local)
            sweep.keep(sc.SYSTEM_DISK_FREE_BYTES, usage.free, local)
            mounts[part.mountpoint] = {
                "percent": usage.percent,
                "used": usage.used,
                "free": usage.free,
                "total": usage.total,
            }
        sweep.snapshot["disks"] = mounts


def _rates(
    sweep: Sweep, label: dict[str, str], spec: tuple[Rate, ...], seconds: float, before: Any, now: Any
) -> dict[str, float]:
    """Per-second rates of one device's counters since the previous sweep, kept as local series.

    Args:
        sweep: where the rates go.
        label: the device's attribute (``{"device": "sda"}``, ``{"interface": "eth0"}``).
        spec: the rates to derive.
        seconds: the time between the two samples.
        before: the device's counters at the previous sample.
        now: the device's counters now.

    Returns:
        The rates by snapshot key.
    """
    seconds = seconds or 1e-9
    rates = {key: max(0.0, (read(now) - read(before)) / seconds) for key, _, read in spec}
    for key, metric, _ in spec:
        sweep.keep(metric, rates[key], label)
    return rates


def _disk_counters() -> dict[str, Any]:
    return {d: c for d, c in psutil.disk_io_counters(perdisk=True).items() if not _SKIP_DISKS.match(d)}


def read_load(sweep: Sweep) -> None:
    """Load averages over 1, 5 and 15 minutes."""
    loads = os.getloadavg()
    for (otel, local), value in zip(_LOAD, loads, strict=True):
        sweep.point(otel, value)
        sweep.keep(local, value)
    sweep.snapshot["load_average"] = list(loads)


def read_memory(sweep: Sweep) -> None:
    """Memory usage and utilisation by state, the total; percent, used, available and total bytes."""
    vm = psutil.virtual_memory()
    total = vm.total or 1
    states = {"used": vm.used, "free": vm.free}
    for state in ("cached", "buffers"):
        if hasattr(vm, state):
            states[state] = getattr(vm, state)
    for state, value in states.items():
        sweep.point(sc.SYSTEM_MEMORY_USAGE, value, {"state": state})
        sweep.point(sc.SYSTEM_MEMORY_UTILIZATION, value / total, {"state": state})
    sweep.point(sc.SYSTEM_MEMORY_LIMIT, vm.total)
    sweep.keep(sc.SYSTEM_MEMORY_PERCENT, vm.percent)
    sweep.keep(sc.SYSTEM_MEMORY_USED_BYTES, vm.used)
    sweep.keep(sc.SYSTEM_MEMORY_AVAILABLE_BYTES, vm.available)
    sweep.keep(sc.SYSTEM_MEMORY_TOTAL_BYTES, vm.total)
    sweep.snapshot["memory"] = {"percent": vm.percent, "used": vm.used, "available": vm.available, "total": vm.total}


def read_swap(sweep: Sweep) -> None:
    """Swap usage and utilisation by state; percent and used bytes."""
    sw = psutil.swap_memory()
    total = sw.total or 1
    for state, value in (("used", sw.used), ("free", sw.free)):
        sweep.point(sc.SYSTEM_SWAP_USAGE, value, {"state": state})
        sweep.point(sc.SYSTEM_SWAP_UTILIZATION, value / total, {"state": state})
    sweep.keep(sc.SYSTEM_SWAP_PERCENT, sw.percent)
    sweep.keep(sc.SYSTEM_SWAP_USED_BYTES, sw.used)
    sweep.snapshot["swap"] = {"percent": sw.percent, "used": sw.used, "total": sw.total}


def read_gc(sweep: Sweep) -> None:
    """CPython's garbage collections, collected and uncollectable objects by generation."""
    for generation, stats in enumerate(gc.get_stats()):
        attrs = {"cpython.gc.generation": generation, "generation": str(generation)}  # both, as the contrib does
        sweep.point(sc.CPYTHON_GC_COLLECTIONS, stats["collections"], attrs)
        sweep.point(sc.CPYTHON_GC_COLLECTED_OBJECTS, stats["collected"], attrs)
        sweep.point(sc.CPYTHON_GC_UNCOLLECTABLE_OBJECTS, stats["uncollectable"], attrs)
