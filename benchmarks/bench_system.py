"""Benchmark the zgen_otel system monitor against opentelemetry-instrumentation-system-metrics.

Run from the repository root::

    python benchmarks/bench_system.py            # full run (about 35-40 s on 2 cores)
    python benchmarks/bench_system.py --quick    # smoke run (about 8-9 s)
    python benchmarks/bench_system.py --json out.json

Sections (all in one process, one run):

1. One collection cycle, side by side, interleaved round-robin (rotating who goes first), minimum and median
   over the rounds:

   * contrib, default config: ``SystemMetricsInstrumentor()`` on a ``MeterProvider`` with an
     ``InMemoryMetricReader``; one cycle is ``reader.get_metrics_data()`` (the callbacks run psutil);
   * contrib without ``system.network.connections`` (the default config minus that key): the baseline of
     the target;
   * zgen full cycle: ``SystemMonitor.collect()`` (psutil sweep + store writes) and then
     ``reader.get_metrics_data()`` on the monitor's own ``MeterProvider``;
   * zgen sweep only: the ``collect()`` part of that same cycle (informational);
   * zgen full cycle in a process of the same service that lost the host election: its sweep stores the
     host-wide series too, its instruments carry only its process series.

2. CPU share when collecting every second: computed from the cycle times, and measured for real (process CPU
   time while a ``SystemMonitor(interval=1.0)`` runs its background thread, minus an idle baseline).

The process exits 0 whether targets are met or missed: it is a report, not a test.
"""

from __future__ import annotations

import gc
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil
from opentelemetry.instrumentation.system_metrics import _DEFAULT_CONFIG, SystemMetricsInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData

from zgen_otel.store import MetricStore
from zgen_otel.system.host import HostLock
from zgen_otel.system_monitor import SystemMonitor

# isort: split
# benchmarks/_common.py: the script's folder is on sys.path when it runs as python benchmarks/bench_system.py
from _common import finish, first_line, parse_args, print_header, print_table, rotations, summary_row, versions

TARGET_CYCLE_RATIO = 1.0  # zgen full cycle / contrib without system.network.connections
TARGET_CPU_PERCENT = 0.5  # % of one core when collecting every second
CONNECTIONS = "system.network.connections"
# zgen's CPU reading repeats the previous one when it is younger than 0.1 s (see _MIN_CPU_WINDOW): every timed
# sweep waits at least this long after the previous one, so it does the full work of a 1-second collector.
SWEEP_GAP = 0.12


@dataclass
class Profile:
    """How much work each section does."""

    name: str
    rounds: int  # interleaved rounds of section 1
    cpu_seconds: int  # length of the monitored window (and of the idle baseline) in section 2


FULL = Profile("full", 120, 10)
QUICK = Profile("quick", 8, 3)


@dataclass
class Candidate:
    """One collection cycle timed in section 1."""

    key: str
    label: str
    cycle: Callable[[], MetricsData | None]
    times: list[float] = field(default_factory=list)  # seconds per cycle, one per round
    last: MetricsData | None = None

    def run(self) -> None:
        """Time one cycle with gc off (the timeit default) and keep what the reader returned."""
        gc.disable()
        try:
            start = time.perf_counter()
            data = self.cycle()
            self.times.append(time.perf_counter() - start)
        finally:
            gc.enable()
        self.last = data

    @property
    def min_ms(self) -> float:
        """Fastest cycle in milliseconds."""
        return min(self.times) * 1e3

    @property
    def median_ms(self) -> float:
        """Median cycle in milliseconds."""
        return statistics.median(self.times) * 1e3


def _points_by_metric(data: MetricsData | None) -> dict[str, int]:
    """Data points per metric name in one ``get_metrics_data()`` result."""
    out: dict[str, int] = {}
    if data is None:
        return out
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                out[metric.name] = out.get(metric.name, 0) + len(metric.data.data_points)
    return out


def _contrib(config: dict[str, list[str] | None] | None) -> tuple[SystemMetricsInstrumentor, InMemoryMetricReader]:
    """A separate instrumentor on its own MeterProvider.

    ``BaseInstrumentor`` is a singleton: a second ``SystemMetricsInstrumentor(config=...)`` returns the same
    object, re-runs ``__init__`` (replacing the config that the first provider's callbacks read at collection
    time) and refuses to instrument again. Resetting the class-level ``_instance`` makes an independent object.
    """
    SystemMetricsInstrumentor._instance = None
    instrumentor = SystemMetricsInstrumentor(config=config)
    reader = InMemoryMetricReader()
    instrumentor.instrument(meter_provider=MeterProvider(metric_readers=[reader]))
    return instrumentor, reader


# -- 1. one collection cycle ---------------------------------------------------------------------------------
def bench_cycle(profile: Profile) -> dict[str, Any]:
    default_inst, default_reader = _contrib(None)
    without = {k: v for k, v in _DEFAULT_CONFIG.items() if k != CONNECTIONS}
    without_inst, without_reader = _contrib(without)
    assert default_inst is not without_inst and CONNECTIONS not in without_inst._config

    store = MetricStore()
    zgen_reader = InMemoryMetricReader()
    zgen_provider = MeterProvider(metric_readers=[zgen_reader])
    monitor = SystemMonitor(store, meter=zgen_provider.get_meter("zgen_otel.system"), interval=3600, host_lock=None)
    monitor.collect()  # within 0.1 s of construction: this one sleeps to get a meaningful CPU reading
    monitor.collect()
    elected = HostLock(os.path.join(tempfile.mkdtemp(), "host.lock"))
    assert elected.held  # another process of the service ships the host-wide series
    other_reader = InMemoryMetricReader()
    other_provider = MeterProvider(metric_readers=[other_reader])
    other = SystemMonitor(
        MetricStore(), meter=other_provider.get_meter("zgen_otel.system"), interval=3600, host_lock=elected.path
    )
    assert not other.collect()["host_reporter"]

    sweep_times: list[float] = []
    fresh_cpu = 0  # timed sweeps that took a new CPU reading instead of repeating the last one
    last_sweep_end = time.monotonic()

    def zgen_cycle() -> MetricsData | None:
        nonlocal fresh_cpu, last_sweep_end
        cpu_before = monitor._readers._previous.get("cpu")
        start = time.perf_counter()
        monitor.collect()
        swept = time.perf_counter()
        data = zgen_reader.get_metrics_data()
        sweep_times.append(swept - start)
        last_sweep_end = time.monotonic()
        fresh_cpu += monitor._readers._previous.get("cpu") is not cpu_before
        return data

    def other_cycle() -> MetricsData | None:
        nonlocal last_sweep_end
        other.collect()
        data = other_reader.get_metrics_data()
        last_sweep_end = time.monotonic()
        return data

    candidates = [
        Candidate("contrib_default", "contrib, default config", default_reader.get_metrics_data),
        Candidate("contrib_without_connections", f"contrib without {CONNECTIONS}", without_reader.get_metrics_data),
        Candidate("zgen_full", "zgen full cycle: collect() + get_metrics_data()", zgen_cycle),
        Candidate("zgen_not_elected", "zgen full cycle, host election lost (host series stored only)", other_cycle),
    ]

    # Samples one sweep writes to the store (outside the timing), then two untimed warm-up cycles each.
    time.sleep(SWEEP_GAP)
    points_before = store.stats()["points"]
    monitor.collect()
    samples_per_sweep = store.stats()["points"] - points_before
    for _ in range(2):
        time.sleep(SWEEP_GAP)
        for c in candidates:
            c.cycle()
    sweep_times.clear()
    fresh_cpu = 0
    last_sweep_end = time.monotonic()
    points_before = store.stats()["points"]

    for order in rotations(candidates, profile.rounds):
        time.sleep(max(0.0, SWEEP_GAP - (time.monotonic() - last_sweep_end)))
        for c in order:
            c.run()
    stored = store.stats()["points"] - points_before

    by_metric = {c.key: _points_by_metric(c.last) for c in candidates}
    base = candidates[1]
    rows: dict[str, dict[str, Any]] = {}
    for c in candidates:
        rows[c.key] = {
            "label": c.label,
            "min_ms": c.min_ms,
            "median_ms": c.median_ms,
            "otel_points": sum(by_metric[c.key].values()),
            "otel_metrics": len(by_metric[c.key]),
            "ratio_min": c.min_ms / base.min_ms,
            "ratio_median": c.median_ms / base.median_ms,
        }
    sweep_min, sweep_median = min(sweep_times) * 1e3, statistics.median(sweep_times) * 1e3
    rows["zgen_sweep"] = {
        "label": "zgen sweep only: collect() (informational)",
        "min_ms": sweep_min,
        "median_ms": sweep_median,
        "otel_points": None,
        "otel_metrics": None,
        "ratio_min": sweep_min / base.min_ms,
        "ratio_median": sweep_median / base.median_ms,
    }
    rows["zgen_full"]["store_samples"] = rows["zgen_sweep"]["store_samples"] = samples_per_sweep

    print_table(
        f"1. One collection cycle (ms; min and median over {profile.rounds} interleaved rounds)",
        ["candidate", "min ms", "median ms", "OTel points", "metrics", "store samples", "min / base", "median / base"],
        [
            [
                row["label"],
                f"{row['min_ms']:.3f}",
                f"{row['median_ms']:.3f}",
                "" if row["otel_points"] is None else str(row["otel_points"]),
                "" if row["otel_metrics"] is None else str(row["otel_metrics"]),
                str(row.get("store_samples", "")),
                f"{row['ratio_min']:.3f}",
                f"{row['ratio_median']:.3f}",
            ]
            for row in rows.values()
        ],
    )
    print(
        f"base = contrib without {CONNECTIONS}; OTel points = data points in one get_metrics_data() result; "
        "store samples = samples one sweep writes into the MetricStore"
    )
    contrib_names, zgen_names = set(by_metric["contrib_default"]), set(by_metric["zgen_full"])
    only_contrib, only_zgen = sorted(contrib_names - zgen_names), sorted(zgen_names - contrib_names)
    print(f"metrics only in contrib ({len(only_contrib)}): {', '.join(only_contrib)}")
    print(f"metrics only in zgen ({len(only_zgen)}): {', '.join(only_zgen)}")
    print(
        f"connections metric: {by_metric['contrib_default'].get(CONNECTIONS, 0)} points "
        f"(psutil.net_connections() sees {len(psutil.net_connections())} sockets now)"
    )
    timed = len(sweep_times)
    print(
        f"store check: {stored:,} samples stored over {timed} timed sweeps = {samples_per_sweep} x {timed} "
        f"-> {'OK' if stored == samples_per_sweep * timed else 'MISMATCH'}; "
        f"fresh CPU reading in {fresh_cpu} / {timed} timed sweeps"
    )

    for inst in (default_inst, without_inst):
        inst.uninstrument()  # only clears the instrumented flag: the contrib's _uninstrument does nothing
    elected.release()
    other_provider.shutdown()
    SystemMetricsInstrumentor._instance = None
    return {
        "rounds": profile.rounds,
        "rows": rows,
        "points_by_metric": by_metric,
        "only_in_contrib": only_contrib,
        "only_in_zgen": only_zgen,
        "store_samples_per_sweep": samples_per_sweep,
        "store_check_ok": stored == samples_per_sweep * timed,
        "timed_sweeps": timed,
        "fresh_cpu_sweeps": fresh_cpu,
        "zgen_full_over_base": rows["zgen_full"]["ratio_min"],
    }


# -- 2. CPU share at one sweep per second --------------------------------------------------------------------
def _cpu_now() -> tuple[float, float, float]:
    """(monotonic clock, process CPU from time.process_time, process user+system from psutil)."""
    times = psutil.Process().cpu_times()
    return time.monotonic(), time.process_time(), times.user + times.system


def bench_cpu_share(profile: Profile, cycle: dict[str, Any]) -> dict[str, Any]:
    n = profile.cpu_seconds
    # Idle baseline: the main thread sleeps, nothing else runs.
    gc.collect()
    b0 = _cpu_now()
    time.sleep(n)
    b1 = _cpu_now()
    base_wall = b1[0] - b0[0]
    base_rate = (b1[1] - b0[1]) / base_wall
    base_rate_ps = (b1[2] - b0[2]) / base_wall

    store = MetricStore()
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    monitor = SystemMonitor(store, meter=provider.get_meter("zgen_otel.system"), interval=1.0, host_lock=None)
    monitor.collect()  # untimed first sweep: creates the series (and takes the priming sleep)
    sweep_cpu: list[float] = []
    done = threading.Event()
    collect = monitor.collect

    def counted_collect() -> dict[str, Any]:
        start = time.thread_time()
        try:
            return collect()
        finally:
            sweep_cpu.append(time.thread_time() - start)
            if len(sweep_cpu) >= n:
                done.set()

    monitor.collect = counted_collect  # type: ignore[method-assign]  # the collector thread calls self.collect()
    gc.collect()
    m0 = _cpu_now()
    monitor.start()  # first sweep after one second, then one per second
    done.wait(n + 10)
    m1 = _cpu_now()
    monitor.stop()
    provider.shutdown()
    wall = m1[0] - m0[0]
    sweeps = len(sweep_cpu)
    extra = (m1[1] - m0[1]) - base_rate * wall
    extra_ps = (m1[2] - m0[2]) - base_rate_ps * wall
    thread_cpu = sum(sweep_cpu)
    out: dict[str, Any] = {
        "seconds": n,
        "baseline_wall_s": base_wall,
        "baseline_cpu_ms": (b1[1] - b0[1]) * 1e3,
        "baseline_cpu_ms_psutil": (b1[2] - b0[2]) * 1e3,
        "monitored_wall_s": wall,
        "monitored_cpu_ms": (m1[1] - m0[1]) * 1e3,
        "monitored_cpu_ms_psutil": (m1[2] - m0[2]) * 1e3,
        "sweeps": sweeps,
        "measured_percent": 100.0 * extra / wall,
        "measured_percent_psutil": 100.0 * extra_ps / wall,
        "thread_cpu_ms_per_sweep": 1e3 * thread_cpu / max(sweeps, 1),
        "thread_percent": 100.0 * thread_cpu / wall,
        "computed_percent": {key: row["min_ms"] / 10.0 for key, row in cycle["rows"].items()},  # ms per 1000 ms
    }
    rows = cycle["rows"]
    table = [
        [f"computed: {rows[key]['label']} (min ms / 1000 ms)", f"{pct:.3f} %"]
        for key, pct in out["computed_percent"].items()
    ]
    table += [
        [f"idle baseline: process CPU over {base_wall:.1f} s (main thread asleep)", f"{out['baseline_cpu_ms']:.1f} ms"],
        [
            f"monitored: process CPU over {wall:.1f} s, {sweeps} sweeps at interval=1.0",
            f"{out['monitored_cpu_ms']:.1f} ms",
        ],
        ["measured: (monitored - baseline rate x window) / window", f"{out['measured_percent']:.3f} %"],
        ["  same from psutil.Process().cpu_times() (10 ms ticks)", f"{out['measured_percent_psutil']:.3f} %"],
        ["  collector thread: time.thread_time() in collect(), per sweep", f"{out['thread_cpu_ms_per_sweep']:.3f} ms"],
        ["  collector thread: share of the window", f"{out['thread_percent']:.3f} %"],
    ]
    print_table("2. CPU share when collecting every second (% of one core)", ["figure", "value"], table)
    print(
        "process CPU is time.process_time() (user + system of the whole process, ns resolution); the monitored "
        "window runs a SystemMonitor(interval=1.0) through .start() with no OTel export (the reader is never read)"
    )
    return out


# -- driver --------------------------------------------------------------------------------------------------
def _summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    cycle, cpu = results["cycle"], results["cpu_share"]
    computed = cpu["computed_percent"]["zgen_full"]
    median_ratio = cycle["rows"]["zgen_full"]["ratio_median"]
    return [
        summary_row(
            f"zgen full cycle / contrib without {CONNECTIONS} <= {TARGET_CYCLE_RATIO}x (min)",
            f"{cycle['zgen_full_over_base']:.3f}x (median {median_ratio:.3f}x)",
            cycle["zgen_full_over_base"] <= TARGET_CYCLE_RATIO,
        ),
        summary_row(
            f"CPU share at 1 s, computed from the full cycle <= {TARGET_CPU_PERCENT} %",
            f"{computed:.3f} %",
            computed <= TARGET_CPU_PERCENT,
        ),
        summary_row(
            f"CPU share at 1 s, measured over {cpu['sweeps']} sweeps <= {TARGET_CPU_PERCENT} %",
            f"{cpu['measured_percent']:.3f} %",
            cpu["measured_percent"] <= TARGET_CPU_PERCENT,
        ),
        summary_row(
            "every timed zgen sweep stored all its samples and took a fresh CPU reading",
            f"{cycle['store_samples_per_sweep']} x {cycle['timed_sweeps']}, "
            f"fresh {cycle['fresh_cpu_sweeps']} / {cycle['timed_sweeps']}",
            cycle["store_check_ok"] and cycle["fresh_cpu_sweeps"] == cycle["timed_sweeps"],
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, first_line(__doc__), "smoke run (under 10 s): fewer rounds, 3 s windows")
    profile = QUICK if args.quick else FULL
    logging.basicConfig(level=logging.WARNING)

    dists = ["opentelemetry-sdk", "opentelemetry-instrumentation-system-metrics", "psutil", "zgen-otel"]
    found = versions(*dists)
    print_header("zgen_otel system monitor benchmark", profile.name, found, dists, [f"{psutil.cpu_count()} CPUs"])
    started = time.perf_counter()
    results: dict[str, Any] = {"profile": profile.name, "versions": found}
    results["cycle"] = bench_cycle(profile)
    results["cpu_share"] = bench_cpu_share(profile, results["cycle"])
    finish(results, started, _summary, args.json, with_rss=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
