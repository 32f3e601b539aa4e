"""Benchmark the zgen_otel metrics hot path, store memory and window queries against OTel SDK and prometheus_client.

Run from the repository root::

    python benchmarks/bench_metrics.py            # full run (about 30-40 s on 2 cores)
    python benchmarks/bench_metrics.py --quick    # smoke run (about 5 s)
    python benchmarks/bench_metrics.py --json out.json

Sections (all in one process, one run):

1. Hot path: ``zgen_otel.record_metric`` vs. the OTel SDK synchronous ``Gauge.set`` vs. ``prometheus_client``
   ``Gauge.set``. Every candidate is timed with ``timeit`` in batches, interleaved round-robin across rounds;
   the figure is the minimum per-call time over the rounds. Afterwards the run proves the recorded values
   reached the local store (sample count) and OTel (an ``InMemoryMetricReader`` sees ``bench_gauge`` = 1.0).
2. Memory: traced bytes per stored raw point in a ``MetricStore`` (``tracemalloc``), next to a plain list of
   ``(timestamp, value)`` tuples.
3. Window queries: ``get_metric_average`` / ``get_metric_stats`` over one hour, with 2 h and 24 h of history.
4. Thirty days of 1-second points in one series: store size (full run only).
5. Disabled: ``record_metric`` after ``configure(enabled=False)`` beside an empty function with its arguments.

The process exits 0 whether targets are met or missed: it is a report, not a test.
"""

from __future__ import annotations

import gc
import sys
import time
import timeit
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import prometheus_client
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

import zgen_otel
from zgen_otel.store import MetricStore
from zgen_otel.testing import ManualClock

# isort: split
# benchmarks/_common.py: the script's folder is on sys.path when it runs as python benchmarks/bench_metrics.py
from _common import (
    Candidate,
    configure_isolated,
    finish,
    first_line,
    interleave,
    parse_args,
    print_header,
    print_table,
    summary_row,
    timing_figures,
    versions,
)

T0 = 1_700_000_000.0
TARGET_HOT_RATIO = 0.2  # zgen record_metric / OTel Gauge.set
TARGET_BYTES_PER_POINT = 17.0
TARGET_AVG_US = 100.0


@dataclass
class Profile:
    """How much work each section does."""

    name: str
    batch_seconds: float  # target duration of one timed batch in the hot-path section
    rounds: int  # round-robin rounds in the hot-path section
    mem_series: int
    mem_points_per_series: int
    naive_points: int
    query_rounds: int
    month: bool


FULL = Profile("full", 0.05, 25, 10, 100_000, 100_000, 15, True)
QUICK = Profile("quick", 0.02, 7, 10, 10_000, 100_000, 5, False)


def _otel_points(reader: InMemoryMetricReader, name: str) -> list[tuple[dict[str, Any], float]]:
    data = reader.get_metrics_data()
    if data is None:
        return []
    return [
        (dict(point.attributes or {}), float(point.value))
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == name
        for point in metric.data.data_points
        if isinstance(point, NumberDataPoint)
    ]


# -- 1. hot path ---------------------------------------------------------------------------------------------
def bench_hot_path(profile: Profile) -> dict[str, Any]:
    reader = InMemoryMetricReader()
    configure_isolated(interval=3600, metric_readers=[reader])
    record_metric = zgen_otel.record_metric
    attrs = {"k": "v"}
    record_metric("bench_gauge", 1.0, attributes=attrs)  # warm-up: registers the name and creates the series
    record_metric("bench_gauge", 1.0)
    warmup_calls = {"attrs": 1, "plain": 1}

    otel_gauge = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("bench").create_gauge("g")
    otel_gauge.set(1.0, attrs)
    prom_labeled = prometheus_client.Gauge("g", "d", ["k"], registry=prometheus_client.CollectorRegistry())
    prom_labeled.labels(k="v").set(1.0)
    prom_child = prom_labeled.labels(k="v")
    prom_plain = prometheus_client.Gauge("g", "d", registry=prometheus_client.CollectorRegistry())

    env: dict[str, Any] = {
        "record_metric": record_metric,
        "attrs": attrs,
        "otel_gauge": otel_gauge,
        "prom_labeled": prom_labeled,
        "prom_child": prom_child,
        "prom_plain": prom_plain,
    }
    candidates = [
        Candidate(
            "zgen_attrs",
            "zgen record_metric(attributes={'k': 'v'})",
            "record_metric('bench_gauge', 1.0, attributes=attrs)",
            env,
        ),
        Candidate("zgen_plain", "zgen record_metric() no attributes", "record_metric('bench_gauge', 1.0)", env),
        Candidate("otel_set", "OTel SDK Gauge.set(1.0, {'k': 'v'})", "otel_gauge.set(1.0, attrs)", env),
        Candidate("prom_labels", "prometheus Gauge.labels(k='v').set(1.0)", "prom_labeled.labels(k='v').set(1.0)", env),
        Candidate("prom_plain", "prometheus Gauge.set(1.0) unlabeled", "prom_plain.set(1.0)", env),
        Candidate("prom_child", "prometheus pre-bound child .set(1.0)", "prom_child.set(1.0)", env),
        Candidate("loop", "(empty timeit loop, for reference)", "pass", env),
    ]
    # round-robin, rotating who goes first; batches calibrated from 100 calls up, never under 1,000 calls
    interleave(candidates, profile.rounds, profile.batch_seconds, first_number=100, min_number=1000)

    by_key = {c.key: c for c in candidates}
    zgen_a, zgen_p = by_key["zgen_attrs"], by_key["zgen_plain"]
    otel, prom_l, prom_p = by_key["otel_set"], by_key["prom_labels"], by_key["prom_plain"]
    rows = []
    for cand in candidates:
        ratio_otel = f"{zgen_a.best / cand.best:.3f}" if cand.key != "loop" else ""
        rows.append([cand.label, f"{cand.us:.3f}", f"{cand.number:,}", ratio_otel])
    print_table(
        f"1. Hot path (min over {profile.rounds} interleaved rounds)",
        ["candidate", "us/call", "calls/batch", "zgen_attrs / this"],
        rows,
    )

    print(
        f"\nratios: zgen(attrs) / OTel Gauge.set = {zgen_a.best / otel.best:.3f}x (target <= {TARGET_HOT_RATIO}x); "
        f"zgen(attrs) / prom labels().set = {zgen_a.best / prom_l.best:.3f}x; "
        f"zgen(no attrs) / prom Gauge.set = {zgen_p.best / prom_p.best:.3f}x"
    )

    # Proof that the timed calls did their job: every sample is in the store, and OTel sees the gauge.
    expected_attrs = warmup_calls["attrs"] + zgen_a.calls
    expected_plain = warmup_calls["plain"] + zgen_p.calls
    history = zgen_otel.get_metric_history("bench_gauge")
    stored_total = sum(p.samples for p in history)
    stored_attrs = sum(p.samples for p in zgen_otel.get_metric_history("bench_gauge", attributes=attrs))
    otel_seen = _otel_points(reader, "bench_gauge")
    otel_ok = bool(otel_seen) and all(v == 1.0 for _, v in otel_seen) and any(a == attrs for a, _ in otel_seen)
    store_ok = stored_total == expected_attrs + expected_plain and stored_attrs == expected_attrs
    print(
        f"\nstore check: {stored_total:,} samples stored for bench_gauge "
        f"({stored_attrs:,} with k=v) vs. {expected_attrs + expected_plain:,} record_metric calls "
        f"({expected_attrs:,} with k=v), {len(history):,} stored points -> {'OK' if store_ok else 'MISMATCH'}"
    )
    print(f"OTel check:  InMemoryMetricReader sees bench_gauge points {otel_seen} -> {'OK' if otel_ok else 'MISSING'}")
    return {
        **timing_figures(candidates),
        "ratio_zgen_attrs_over_otel_gauge_set": zgen_a.best / otel.best,
        "ratio_zgen_plain_over_otel_gauge_set": zgen_p.best / otel.best,
        "ratio_zgen_attrs_over_prom_labels_set": zgen_a.best / prom_l.best,
        "ratio_zgen_plain_over_prom_set": zgen_p.best / prom_p.best,
        "record_metric_calls": expected_attrs + expected_plain,
        "stored_samples": stored_total,
        "store_check_ok": store_ok,
        "otel_points": [[a, v] for a, v in otel_seen],
        "otel_check_ok": otel_ok,
    }


# -- 2. memory -----------------------------------------------------------------------------------------------
def _traced(build: Callable[[], object]) -> tuple[int, object]:
    """Bytes still allocated after ``build()`` (its result kept alive), as seen by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return after - before, kept


def bench_memory(profile: Profile) -> dict[str, Any]:
    n_series, per_series = profile.mem_series, profile.mem_points_per_series
    total = n_series * per_series

    def build_store() -> MetricStore:
        store = MetricStore(max_raw_points=2_000_000, max_series=100)
        add = store.add
        for s in range(n_series):
            key = (("s", str(s)),)
            for i in range(per_series):
                add("m", float(i), key, T0 + i * 0.5)
        return store

    def build_list() -> list[tuple[float, float]]:
        return [(T0 + i * 0.5, float(i)) for i in range(profile.naive_points)]

    start = time.perf_counter()
    store_bytes, kept = _traced(build_store)
    store_seconds = time.perf_counter() - start
    assert isinstance(kept, MetricStore)
    stats = kept.stats()
    del kept
    list_bytes, kept_list = _traced(build_list)
    del kept_list
    per_point = store_bytes / total
    per_list_point = list_bytes / profile.naive_points
    print_table(
        f"2. Memory per raw point ({n_series} series x {per_series:,} points = {total:,}, tracemalloc)",
        ["layout", "bytes/point", "total MB"],
        [
            ["MetricStore (uint32 ms offset + float64 value)", f"{per_point:.2f}", f"{store_bytes / 1e6:.1f}"],
            ["  of which array buffers (store.stats()['bytes'])", f"{stats['bytes'] / total:.2f}", ""],
            [
                f"list of (float, float) tuples ({profile.naive_points:,} measured, scaled)",
                f"{per_list_point:.2f}",
                f"{per_list_point * total / 1e6:.1f}",
            ],
        ],
    )
    print(f"(filling the store under tracemalloc took {store_seconds:.1f} s; points stored: {stats['points']:,})")
    return {
        "points": total,
        "store_bytes_per_point": per_point,
        "store_buffer_bytes_per_point": stats["bytes"] / total,
        "tuple_list_bytes_per_point": per_list_point,
        "ratio_tuple_list_over_store": per_list_point / per_point,
    }


# -- 3. window queries ---------------------------------------------------------------------------------------
def bench_queries(profile: Profile) -> dict[str, Any]:
    clock = ManualClock(T0)
    configure_isolated(interval=3600, clock=clock)
    name, day = "bench_window", "bench_window_day"
    for i in range(24 * 3600):  # 1-second points from the manual clock: 24 h for `day`, the last 2 h for `name`
        clock.advance(1.0)
        zgen_otel.record_metric(day, float(i % 100))
        if i >= 22 * 3600:
            zgen_otel.record_metric(name, float(i % 100))
    expected_in_window = 3601  # points stamped T0+3600 .. T0+7200, both ends inclusive
    stats = zgen_otel.get_metric_stats(name, 3600)
    average = zgen_otel.get_metric_average(name, window_seconds=3600)
    assert stats is not None and average is not None

    env = {"zgen_otel": zgen_otel, "name": name, "day": day}
    avg_timer = timeit.Timer("zgen_otel.get_metric_average(name, window_seconds=3600)", globals=env)
    day_timer = timeit.Timer("zgen_otel.get_metric_average(day, window_seconds=3600)", globals=env)
    stats_timer = timeit.Timer("zgen_otel.get_metric_stats(name, 3600)", globals=env)
    number = 50
    best_avg = best_day = best_stats = float("inf")
    for _ in range(profile.query_rounds):  # interleaved
        best_avg = min(best_avg, avg_timer.repeat(repeat=1, number=number)[0] / number)
        best_day = min(best_day, day_timer.repeat(repeat=1, number=number)[0] / number)
        best_stats = min(best_stats, stats_timer.repeat(repeat=1, number=number)[0] / number)
    print_table(
        "3. Window queries over the last hour (2 h and 24 h of 1-second points, default store settings)",
        ["query", "us/call", "result"],
        [
            ["get_metric_average(name, window_seconds=3600)", f"{best_avg * 1e6:.1f}", f"{average:.3f}"],
            [
                "the same over a series with 24 h of history",
                f"{best_day * 1e6:.1f}",
                f"{best_day / best_avg:.2f}x the 2 h series",
            ],
            [
                "get_metric_stats(name, 3600) (count/sum/min/max/p50/p95/p99)",
                f"{best_stats * 1e6:.1f}",
                f"n={stats.count} p50={stats.p50:g} p95={stats.p95:g} p99={stats.p99:g}",
            ],
        ],
    )
    print(
        f"(window holds {stats.count:,} samples; {expected_in_window:,} points fall in [now-3600, now], "
        "older ones are read from per-minute buckets)"
    )
    return {
        "average_us": best_avg * 1e6,
        "average_24h_history_us": best_day * 1e6,
        "history_ratio": best_day / best_avg,
        "stats_us": best_stats * 1e6,
        "window_count": stats.count,
        "points_in_window": expected_in_window,
        "average": average,
        "p50": stats.p50,
        "p95": stats.p95,
        "p99": stats.p99,
    }


# -- 4. thirty days ------------------------------------------------------------------------------------------
def bench_month() -> dict[str, Any]:
    store = MetricStore()
    add = store.add
    n = 30 * 86_400
    start = time.perf_counter()
    for i in range(n):
        add("m", float(i % 100), (), T0 + i)
    seconds = time.perf_counter() - start
    stats = store.stats()
    print_table(
        "4. Thirty days of 1-second points in one series (MetricStore defaults)",
        ["figure", "value"],
        [
            ["points added", f"{n:,}"],
            ["stored points (raw + minute + hour buckets)", f"{stats['points']:,}"],
            ["store.stats()['bytes']", f"{stats['bytes'] / 1024:.1f} KB"],
            ["fill time", f"{seconds:.1f} s ({seconds / n * 1e6:.2f} us/point)"],
        ],
    )
    return {"points_added": n, "stored_points": stats["points"], "kb": stats["bytes"] / 1024, "fill_seconds": seconds}


# -- 5. disabled ---------------------------------------------------------------------------------------------
def _noop(name: str, value: float, category: str | None = None, attributes: Any = None) -> None:
    """An empty function with record_metric's parameters: the floor of any call."""


def bench_disabled(profile: Profile) -> dict[str, Any]:
    configure_isolated(enabled=False)
    env: dict[str, Any] = {"record_metric": zgen_otel.record_metric, "noop": _noop, "attrs": {"k": "v"}}
    candidates = [
        Candidate(
            "disabled",
            "record_metric(...) with MONITORING_ENABLED=false",
            "record_metric('bench_gauge', 1.0, attributes=attrs)",
            env,
        ),
        Candidate("noop", "empty function, same arguments", "noop('bench_gauge', 1.0, attributes=attrs)", env),
    ]
    interleave(candidates, profile.rounds, profile.batch_seconds, first_number=100, min_number=1000)
    disabled, noop = candidates
    stored = zgen_otel.get_metric_history("bench_gauge")
    print_table(
        f"5. Disabled (min over {profile.rounds} interleaved rounds)",
        ["candidate", "us/call", "ratio to the empty function"],
        [[c.label, f"{c.us:.3f}", f"{c.best / noop.best:.2f}"] for c in candidates],
    )
    print(f"(history while disabled: {stored!r})")
    return {**timing_figures(candidates), "ratio": disabled.best / noop.best, "history_empty": stored == []}


# -- driver --------------------------------------------------------------------------------------------------
def _summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    hot, mem, query = results["hot_path"], results["memory"], results["queries"]
    return [
        summary_row(
            "record_metric / OTel Gauge.set <= 0.2x",
            f"{hot['ratio_zgen_attrs_over_otel_gauge_set']:.3f}x",
            hot["ratio_zgen_attrs_over_otel_gauge_set"] <= TARGET_HOT_RATIO,
        ),
        summary_row(
            "every record_metric sample in the store",
            f"{hot['stored_samples']:,} / {hot['record_metric_calls']:,}",
            hot["store_check_ok"],
        ),
        summary_row("OTel reader sees bench_gauge = 1.0", f"{len(hot['otel_points'])} point(s)", hot["otel_check_ok"]),
        summary_row(
            "store bytes per raw point <= 17 B",
            f"{mem['store_bytes_per_point']:.2f} B",
            mem["store_bytes_per_point"] <= TARGET_BYTES_PER_POINT,
        ),
        summary_row(
            "get_metric_average over 1 h < 100 us",
            f"{query['average_us']:.1f} us",
            query["average_us"] < TARGET_AVG_US,
        ),
        summary_row(
            "same window over 24 h vs 2 h of history <= 1.5x (no full scan)",
            f"{query['history_ratio']:.2f}x",
            query["history_ratio"] <= 1.5,
        ),
        summary_row(
            "disabled record_metric <= 3x an empty function call",
            f"{results['disabled']['ratio']:.2f}x",
            results["disabled"]["ratio"] <= 3.0 and results["disabled"]["history_empty"],
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, first_line(__doc__), "smoke run (~5 s): fewer rounds, smaller memory test")
    profile = QUICK if args.quick else FULL

    found = versions("opentelemetry-sdk", "prometheus_client", "zgen-otel")
    print_header("zgen_otel metrics benchmark", profile.name, found, ["opentelemetry-sdk", "prometheus_client"])
    started = time.perf_counter()
    results: dict[str, Any] = {"profile": profile.name, "versions": found}
    results["hot_path"] = bench_hot_path(profile)
    results["memory"] = bench_memory(profile)
    results["queries"] = bench_queries(profile)
    results["disabled"] = bench_disabled(profile)
    if profile.month:
        results["month"] = bench_month()
    else:
        print("\n== 4. Thirty days of 1-second points: skipped in --quick ==")
    zgen_otel.shutdown()
    finish(results, started, _summary, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
