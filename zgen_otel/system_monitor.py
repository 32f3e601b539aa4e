"""System monitoring: CPU, memory, swap, disks, network, this process and NVIDIA GPUs.

A background collector takes one psutil sweep every ``MONITORING_INTERVAL`` seconds, and every
`LIVE_INTERVAL` seconds (when that is shorter) while someone watches a web page (`SystemMonitor.watch`):
a page open in a browser then moves as Glances or Netdata do, and nothing changes when no one looks. Each sweep:

* writes every value into the local store at once (alert rules and dashboards see it immediately), under
  the OTel names (the names and attributes of opentelemetry-instrumentation-system-metrics where it has
  the metric, semantic-convention names for what it lacks) and under convenient local names
  (``system.cpu_percent``, ``system.memory_percent``, ``system.disk_percent``, rates per second...);
* keeps the OTel-named values for observable instruments, so the same values ship over OTLP at each
  export.

Each source (a psutil call, one NVML reading of one GPU) that the platform or container does not support is
switched off with one warning; the others keep working and nothing reaches the host program. Every process
stores the host-wide series (CPU, memory, swap, load, disks, disk I/O, network, GPUs) and its own process series
locally, so each process's dashboards and alert rules see the host. Over OTel (OTLP, Prometheus) the process
series ship from every process, the host-wide ones from one process per host and service only (a lock file
elects it), so a fleet's backend gets them once. Where ``opentelemetry-instrumentation-system-metrics`` runs
too (``opentelemetry-instrument`` starts it), the names it reports go over OTel from it only.
The names, units and attributes are listed in `zgen_otel.semconv`; the readers live in
`zgen_otel.system`.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from zgen_otel import _current
from zgen_otel._sdk import instrumented_system_metrics
from zgen_otel.semconv import SYSTEM_INSTRUMENTS, SYSTEM_LOCAL_SERIES
from zgen_otel.store import SYSTEM, MetricStore
from zgen_otel.system.host import HostLock, default_host_lock
from zgen_otel.system.nvml import Nvml
from zgen_otel.system.readers import PsutilReaders, Source
from zgen_otel.system.sweep import Attrs, Sweep

__all__ = [
    "LIVE_INTERVAL",
    "SystemMonitor",
    "default_host_lock",
    "get_monitor",
    "get_system_metrics",
    "start",
    "stop",
]

_log = logging.getLogger(__name__)
SCOPE = "zgen_otel.system"
#: Seconds between sweeps while a page is watched (when ``MONITORING_INTERVAL`` is longer).
LIVE_INTERVAL = 5.0

#: The OTel-named instruments: name -> (kind, unit, description). Kinds: counter (monotonic), updown, gauge.
INSTRUMENTS: dict[str, tuple[str, str, str]] = {m.name: (m.kind, m.unit, m.description) for m in SYSTEM_INSTRUMENTS}
#: The local convenience series (gauges): name -> (unit, description).
LOCAL_SERIES: dict[str, tuple[str, str]] = {m.name: (m.unit, m.description) for m in SYSTEM_LOCAL_SERIES}


class SystemMonitor:
    """Collects system and process metrics every ``interval`` seconds into the store and OTel instruments.

    While watched (`watch`), the collector sweeps every ``min(interval, LIVE_INTERVAL)`` seconds. The
    extra samples are ordinary samples at their own times: the store rolls them up into its minute and hour
    tiers as any other, so a minute watched and a minute not hold the same kind of history, only more points.

    Args:
        store: where samples go.
        meter: the meter for the observable instruments (None: store only).
        interval: seconds between sweeps of the background collector.
        host_lock: lock-file path that elects the one process per host whose OTel instruments carry the
            host-wide series (None: this process's always do). The store gets them in every process.
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
        self._host = HostLock(host_lock)
        self._lock = threading.Lock()
        self._latest: dict[str, list[tuple[float, Attrs]]] = {}
        self._elsewhere: frozenset[str] = frozenset()  # names another instrumentation reports over OTel
        self._disabled: set[str] = set()
        self._gpu = Nvml.open(self._guarded)
        self._readers = PsutilReaders(self._guarded)  # primes the counters: last, just before the first sweep
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by watch() and stop(): the collector looks at its schedule again
        self._watched_until = 0.0  # time.monotonic() until which a page is watched
        if meter is not None:
            for name, (kind, unit, description) in INSTRUMENTS.items():
                create = {
                    "counter": meter.create_observable_counter,
                    "updown": meter.create_observable_up_down_counter,
                    "gauge": meter.create_observable_gauge,
                }[kind]
                create(name, callbacks=[self._observer(name)], unit=unit, description=description)
            for name, (unit, text) in LOCAL_SERIES.items():  # they ship too, so fleet rules can use them
                meter.create_observable_gauge(name, callbacks=[self._observer(name)], unit=unit, description=text)

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
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._thread = None
        self._host.release()

    @property
    def running(self) -> bool:
        """Whether the background collector runs."""
        return self._thread is not None and self._thread.is_alive()

    def watch(self, seconds: float) -> None:
        """Sweep every ``min(interval, LIVE_INTERVAL)`` seconds for a while (a web page is open).

        The web page calls this at each refresh; a sweep older than the live interval is taken at once.
        ``MONITORING_INTERVAL`` keeps its meaning for everything else: without a watcher the collector goes
        back to it.

        Args:
            seconds: how long to sweep at the live interval, from now.
        """
        self._watched_until = max(self._watched_until, time.monotonic() + seconds)
        self._wake.set()

    @property
    def watched(self) -> bool:
        """Whether a page watched within the time its last `watch` asked for."""
        return time.monotonic() < self._watched_until

    def _cadence(self) -> float:
        """Seconds between sweeps now: the live interval while watched, ``interval`` otherwise."""
        return min(self.interval, LIVE_INTERVAL) if self.watched else self.interval

    def _run(self) -> None:
        last = time.monotonic() - self.interval + min(self.interval, 1.0)  # the first sweep within a second
        while not self._stop.is_set():
            wait = last + self._cadence() - time.monotonic()
            if wait > 0:
                self._wake.wait(wait)
                self._wake.clear()  # then the schedule is read again: a watcher may have shortened it
                continue
            last = time.monotonic()
            try:
                self.collect()
            except Exception:  # never let the collector die
                _log.exception("zgen_otel: system metrics sweep failed")

    def before_fork(self) -> None:
        """Hold the collector's start/stop lock across ``os.fork()`` (the runtime calls this)."""
        self._lock.acquire()

    def after_fork(self, child: bool) -> None:
        """Release the lock; in a child, read the child's process and start a collector if the parent ran one.

        The parent's collector thread does not exist in the child, and the host election belongs to the
        parent: the child takes part in it at its next sweep.

        Args:
            child: True in the new child process, False in the parent.
        """
        self._lock.release()
        if not child:
            return
        was_running = self._thread is not None
        self._thread = None
        self._readers.after_fork_in_child()
        if was_running and not self._stop.is_set():
            self._stop, self._wake = threading.Event(), threading.Event()
            self.start()

    # -- sweeping -----------------------------------------------------------------------------------
    def collect(self) -> dict[str, Any]:
        """Take one sweep now: store every value, refresh the OTel values.

        Host-wide and process series go to the store in every process; the OTel instruments carry the
        process series, and the host-wide ones only where this process holds the host election.

        Returns:
            The sweep, as ``get_system_metrics`` describes it.
        """
        now = self.clock()
        host, own = Sweep(now), Sweep(now)
        for name, read in self._host_sources():
            self._guarded(name, read, host)
        for name, read in self._readers.process_sources():
            self._guarded(name, read, own)
        exporter = self._host.held
        self._note_elsewhere(instrumented_system_metrics())
        self._latest = {**_observations(host), **_observations(own)} if exporter else _observations(own)
        self._write(host)
        self._write(own)
        return {**host.snapshot, **own.snapshot, "host_reporter": exporter}

    def _note_elsewhere(self, names: frozenset[str]) -> None:
        """Leave the metrics that ``opentelemetry-instrumentation-system-metrics`` reports to it, over OTel.

        ``opentelemetry-instrument`` starts that instrumentor (zgen_otel depends on it): with both reporting,
        a backend would receive each of these names from two sources. The store still gets every value.
        """
        names = names & INSTRUMENTS.keys()
        if names and names != self._elsewhere:
            _log.info(
                "zgen_otel: opentelemetry-instrumentation-system-metrics is running; its %d system and process "
                "metrics (%s, ...) go over OTel from it only, and zgen_otel keeps storing them locally",
                len(names),
                ", ".join(sorted(names)[:3]),
            )
        self._elsewhere = names

    def _host_sources(self) -> list[Source]:
        """The host-wide sources: psutil's, and the GPUs when NVML sees any."""
        sources = self._readers.host_sources()
        if self._gpu is not None:
            sources.append(("gpu", self._gpu.read))
        return sources

    def _write(self, sweep: Sweep) -> None:
        add, ts = functools.partial(self.store.add, source=SYSTEM), sweep.now  # the monitor's own series budget
        for name, points in sweep.otel.items():
            unit = INSTRUMENTS[name][1]
            category = name.split(".", 1)[0]
            for value, attrs in points:
                add(name, value, tuple(sorted(attrs.items())), ts, unit=unit, category=category)
        for name, value, attrs in sweep.local:
            add(name, value, tuple(sorted(attrs.items())), ts, unit=LOCAL_SERIES[name][0], category=name.split(".")[0])

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
            if name in self._elsewhere:
                return []
            return [Observation(value, attrs) for value, attrs in self._latest.get(name, ())]

        return observe


def _observations(sweep: Sweep) -> dict[str, list[tuple[float, Attrs]]]:
    """What the OTel instruments report for a sweep: its OTel-named points and local series, by name."""
    latest = {name: list(points) for name, points in sweep.otel.items()}
    for name, value, attrs in sweep.local:
        latest.setdefault(name, []).append((value, attrs))
    return latest


# -- module API ------------------------------------------------------------------------------------------
def get_monitor() -> SystemMonitor | None:
    """Get the runtime's system monitor.

    Returns:
        The monitor, or None when monitoring is disabled or the monitor is turned off.
    """
    monitor: SystemMonitor | None = _current.get_runtime().system_monitor
    return monitor


def get_system_metrics() -> dict[str, Any]:
    """Take a sweep now, without waiting for the interval; its values are stored like a scheduled sweep's.

    Returns:
        The sweep: ``timestamp``, ``cpu``, ``load_average``, ``memory``, ``swap``, ``disks`` (per mount
        point), ``disk_io`` and ``network`` (rates per device), ``process``, ``gpus`` (when present),
        ``host_reporter`` (whether this process won the host election: its OTel instruments ship the
        host-wide series); ``{}`` when monitoring is disabled.
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
