"""Cardinality attacks: 1,000,000 attribute sets on one metric (record_metric), 1,000,000 operation names.

The operation names go through track_context.

Run from the repository root::

    python benchmarks/bench_cardinality.py                  # 1,000,000 attribute sets, then 1,000,000 operations
    python benchmarks/bench_cardinality.py --quick          # 100,000 of each
    python benchmarks/bench_cardinality.py --calls 2000000 --max-series 50000 --json out.json

One process, no background work (``interval=3600``, no system monitor, no rules), with an
``InMemoryMetricReader`` added to the runtime's MeterProvider to see what OTel would export:

1. ``--existing`` series of ``attack.requests`` (``{"user": "existing0"}``...) are recorded first, and the cost of
   ``record_metric`` on one of them is timed (minimum over batches);
2. the attack: ``record_metric("requests", 1.0, "attack", {"user": f"u{i}"})`` for ``i`` in ``range(--calls)``,
   in chunks; the calls that still create series (until the metric holds ``max_series_per_metric``) and the
   calls past that cap (folded into the metric's ``otel.metric.overflow=true`` series, counted) are timed apart,
   and the RSS (psutil, after ``gc.collect()``) is read after each chunk;
3. afterwards: ``store.stats()`` (series, ``overflow_folded``), the recorder's series cache, the warnings the
   store logged, whether the existing series still record and a new metric name still does, the cost on an
   existing series again, and one OTel collection: the SDK keeps at most 2,000 attribute sets per metric stream
   and folds the rest into one point with ``otel.metric.overflow=true``.

The operations run (``run_operations``) makes ``--operations`` distinct ``track_context(f"fetch {i}")`` blocks,
drains the tracker and collects after each chunk (so the OTel reader writes the ``zgen.operation.*`` series into
the store), reads the RSS, and then checks that ``record_metric`` of a new name is stored.

Per-call figures include the loop and building the attribute dict; the loop alone (same body, a no-op function)
is timed too and shown. The process exits 0 either way.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import time
import timeit
from typing import Any

import psutil
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import zgen_otel

# isort: split
# benchmarks/_common.py: the script's folder is on sys.path when it runs as python benchmarks/bench_cardinality.py
from _common import configure_isolated, finish, first_line, print_header, print_table, summary_row, versions

NAME, CATEGORY, FULL = "requests", "attack", "attack.requests"
OVERFLOW_ATTRIBUTE = "otel.metric.overflow"  # opentelemetry-sdk's overflow point (SDK >= 1.2x)
SDK_LIMIT = 2000  # opentelemetry-sdk's default cardinality limit per metric stream and reader
MIB = 2**20
# RSS may grow by the series the cap lets in (about 2 KiB each here, 4 KiB allowed) plus a fixed allowance for
# the OTel gauge's aggregations and the allocator; past the cap it must stay flat.
RSS_PER_SERIES = 4096
RSS_FIXED = 16 * MIB
RSS_AFTER_CAP = 4 * MIB


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _rss(proc: psutil.Process) -> int:
    gc.collect()
    return int(proc.memory_info().rss)


def _existing_us(existing: list[dict[str, str]]) -> float:
    """Best per-call time of record_metric on an existing series, in µs (minimum over 7 batches of 20,000)."""
    attrs = existing[0]
    timer = timeit.Timer(lambda: zgen_otel.record_metric(NAME, 1.0, CATEGORY, attrs))
    return min(timer.repeat(repeat=7, number=20_000)) / 20_000 * 1e6


def _attack(start: int, stop: int) -> float:
    record = zgen_otel.record_metric
    t0 = time.perf_counter()
    for i in range(start, stop):
        record(NAME, 1.0, CATEGORY, {"user": f"u{i}"})
    return time.perf_counter() - t0


def _loop_only(calls: int) -> float:
    def noop(name: str, value: float, category: str, attributes: dict[str, str]) -> None:
        return None

    t0 = time.perf_counter()
    for i in range(calls):
        noop(NAME, 1.0, CATEGORY, {"user": f"u{i}"})
    return (time.perf_counter() - t0) / calls


def _otel_points(reader: InMemoryMetricReader) -> dict[str, Any]:
    t0 = time.perf_counter()
    data = reader.get_metrics_data()
    seconds = time.perf_counter() - t0
    points: list[Any] = []
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == FULL:
                    points.extend(metric.data.data_points)
    overflow = [p for p in points if p.attributes and p.attributes.get(OVERFLOW_ATTRIBUTE) is True]
    return {
        "points": len(points),
        "overflow_points": len(overflow),
        "overflow_value": overflow[0].value if overflow else None,
        "collect_ms": seconds * 1e3,
    }


def run_operations(*, calls: int = 1_000_000, chunk: int = 100_000) -> dict[str, Any]:
    """``calls`` distinct operation names through ``track_context``; RSS, the caps and ``record_metric`` afterwards."""
    from zgen_otel.performance import track_context

    configure_isolated(interval=3600, system_monitor=False, default_rules=False)
    try:
        rt = zgen_otel.get_runtime()
        tracker, providers = rt.performance, rt.providers
        assert tracker is not None and providers is not None
        proc = psutil.Process()
        with track_context("warm-up"):
            pass
        providers.collect()
        rss_before = _rss(proc)
        rss: list[float] = []
        t0 = time.perf_counter()
        for start in range(0, calls, chunk):
            for i in range(start, min(calls, start + chunk)):
                with track_context(f"fetch {i}"):
                    pass
            tracker.drain()
            providers.collect()
            rss.append(_rss(proc) / MIB)
        seconds = time.perf_counter() - t0
        zgen_otel.record_metric("after_operations", 1.0, CATEGORY)
        stats = zgen_otel.get_performance_stats()
        return {
            "calls": calls,
            "us_per_call": seconds / calls * 1e6,
            "rss_before_mib": rss_before / MIB,
            "rss_after_mib": rss[-1],
            "rss_growth_mib": rss[-1] - rss_before / MIB,
            "rss_per_chunk_mib": rss,
            "operations": len(stats),
            "overflow_calls": tracker.overflow_calls,
            "other_calls": stats["_OTHER"].calls if "_OTHER" in stats else 0,
            "store": rt.store.stats(),
            "new_metric_stored": zgen_otel.get_latest_value(f"{CATEGORY}.after_operations") == 1.0,
        }
    finally:
        zgen_otel.shutdown()


def run_attack(
    *, calls: int = 1_000_000, max_series: int = 10_000, existing: int = 100, chunk: int = 100_000
) -> dict[str, Any]:
    """Run the attack and return its figures (see the module docstring)."""
    counter = _Count()
    store_log = logging.getLogger("zgen_otel.store")
    store_log.addHandler(counter)
    reader = InMemoryMetricReader()
    configure_isolated(
        interval=3600, system_monitor=False, default_rules=False, max_series=max_series, metric_readers=[reader]
    )
    try:
        return _run(reader, counter, calls, max_series, existing, chunk)
    finally:
        store_log.removeHandler(counter)
        zgen_otel.shutdown()


def _run(
    reader: InMemoryMetricReader, counter: _Count, calls: int, max_series: int, n_existing: int, chunk: int
) -> dict[str, Any]:
    rt = zgen_otel.get_runtime()
    store, recorder = rt.store, rt.metrics
    assert recorder is not None
    proc = psutil.Process()
    existing = [{"user": f"existing{j}"} for j in range(n_existing)]
    for attrs in existing:
        zgen_otel.record_metric(NAME, 1.0, CATEGORY, attrs)
    existing_before_us = _existing_us(existing)
    samples_before = {a["user"]: len(zgen_otel.get_metric_history(FULL, attributes=a)) for a in existing}
    rss_before = _rss(proc)

    per_metric = store.max_series_per_metric
    room = max(0, min(calls, min(per_metric, max_series) - store.stats()["series"]))  # calls that still create a series
    t_create = _attack(0, room)
    rss_at_cap = _rss(proc)
    chunks: list[dict[str, Any]] = [{"calls": room, "rss": rss_at_cap, "seconds": t_create}]
    t_overflow = 0.0
    done = room
    while done < calls:
        stop = min(calls, done + chunk)
        seconds = _attack(done, stop)
        t_overflow += seconds
        done = stop
        chunks.append({"calls": done, "rss": _rss(proc), "seconds": seconds})
    rss_after = chunks[-1]["rss"]
    stats = store.stats()

    # the series that existed before the attack still record; a new series of another metric does too
    for attrs in existing:
        zgen_otel.record_metric(NAME, 2.0, CATEGORY, attrs)
    still = sum(
        len(zgen_otel.get_metric_history(FULL, attributes=a)) == samples_before[a["user"]] + 1
        and zgen_otel.get_latest_value(FULL, attributes=a) == 2.0
        for a in existing
    )
    zgen_otel.record_metric("latecomer", 1.0, CATEGORY, {"k": "v"})
    latecomer_stored = bool(zgen_otel.get_metric_history(f"{CATEGORY}.latecomer"))
    existing_after_us = _existing_us(existing)
    otel = _otel_points(reader)
    otel_again = _otel_points(reader)
    overflow_calls = calls - room
    return {
        "settings": {"calls": calls, "max_series": max_series, "existing": n_existing, "cpus": os.cpu_count()},
        "rss_before_mib": rss_before / MIB,
        "rss_at_cap_mib": rss_at_cap / MIB,
        "rss_after_mib": rss_after / MIB,
        "rss_growth_mib": (rss_after - rss_before) / MIB,
        "rss_growth_after_cap_mib": (rss_after - rss_at_cap) / MIB,
        "rss_bound_mib": (RSS_FIXED + min(per_metric, max_series) * RSS_PER_SERIES) / MIB,
        "rss_after_cap_bound_mib": RSS_AFTER_CAP / MIB,
        "chunks": [{**c, "rss": c["rss"] / MIB} for c in chunks],
        "creating_calls": room,
        "overflow_calls": overflow_calls,
        "us_per_call_creating": t_create / room * 1e6 if room else None,
        "us_per_call_overflow": t_overflow / overflow_calls * 1e6 if overflow_calls else None,
        "us_per_call_overflow_last_chunk": chunks[-1]["seconds"] / (calls - chunks[-2]["calls"]) * 1e6
        if len(chunks) > 1
        else None,
        "us_loop_only": _loop_only(min(calls, 200_000)) * 1e6,
        "us_existing_before": existing_before_us,
        "us_existing_after": existing_after_us,
        "store": stats,
        "expected_overflow": overflow_calls,
        "recorder_cache": len(recorder.series),
        "store_warnings": len(counter.messages),
        "store_warning_example": counter.messages[0] if counter.messages else None,
        "existing_still_record": still,
        "latecomer_stored": latecomer_stored,
        "max_series_per_metric": per_metric,
        "otel": otel,
        "otel_second_collection": otel_again,
    }


def _summary(r: dict[str, Any]) -> list[dict[str, Any]]:
    s, store, otel = r["settings"], r["store"], r["otel"]
    cap = min(r["max_series_per_metric"], s["max_series"])
    expected_points = min(SDK_LIMIT, cap + 1) + (cap + 1 > SDK_LIMIT)
    rows = [
        summary_row(
            f"per-metric cap holds: series <= {cap:,} + the overflow series (+ the latecomer)",
            f"{store['series']:,}",
            store["series"] <= cap + 2,
        ),
        summary_row(
            "every call past the cap counted in overflow_folded",
            f"{store['overflow_folded']:,} / {r['expected_overflow']:,}",
            store["overflow_folded"] == r["expected_overflow"],
        ),
        summary_row(
            f"RSS growth <= {r['rss_bound_mib']:.0f} MiB (16 MiB + 4 KiB per allowed series)",
            f"{r['rss_growth_mib']:.1f} MiB",
            r["rss_growth_mib"] <= r["rss_bound_mib"],
        ),
        summary_row(
            f"RSS growth past the cap <= {r['rss_after_cap_bound_mib']:.0f} MiB",
            f"{r['rss_growth_after_cap_mib']:+.1f} MiB",
            r["rss_growth_after_cap_mib"] <= r["rss_after_cap_bound_mib"],
        ),
        summary_row(
            "existing series still record",
            f"{r['existing_still_record']} / {s['existing']}",
            r["existing_still_record"] == s["existing"],
        ),
        summary_row("a new metric name records after the attack", str(r["latecomer_stored"]), r["latecomer_stored"]),
        summary_row(
            f"OTel stream: <= {SDK_LIMIT:,} sets + one {OVERFLOW_ATTRIBUTE} point",
            f"{otel['points']:,} points, {otel['overflow_points']} overflow",
            otel["points"] == expected_points and otel["overflow_points"] >= 1,
        ),
    ]
    ops = r.get("operations_run")
    if ops:
        rows += [
            summary_row(
                f"{ops['calls']:,} operation names add <= 100 MiB",
                f"{ops['rss_growth_mib']:+.1f} MiB",
                ops["rss_growth_mib"] <= 100,
            ),
            summary_row(
                "operations capped (max_operations + _OTHER), the rest counted",
                f"{ops['operations']:,} ops, {ops['overflow_calls']:,} folded",
                ops["other_calls"] == ops["overflow_calls"] > 0,
            ),
            summary_row(
                "record_metric of a new name after the operations",
                str(ops["new_metric_stored"]),
                ops["new_metric_stored"],
            ),
        ]
    return rows


def print_results(r: dict[str, Any]) -> None:
    """The readable tables of one attack."""
    s, store, otel = r["settings"], r["store"], r["otel"]
    print_table(
        "Store and memory",
        ["figure", "value"],
        [
            ["series in the store (max_series)", f"{store['series']:,} ({s['max_series']:,})"],
            ["calls that created a series / calls past the cap", f"{r['creating_calls']:,} / {r['overflow_calls']:,}"],
            [
                "overflow_folded (into attack.requests' overflow series) / overflow_dropped",
                f"{store['overflow_folded']:,} / {store['overflow_dropped']:,}",
            ],
            ["store points / bytes", f"{store['points']:,} / {store['bytes'] / MIB:.2f} MiB"],
            ["recorder series cache entries", f"{r['recorder_cache']:,}"],
            ["warnings logged by the store", f"{r['store_warnings']}"],
            ["RSS before", f"{r['rss_before_mib']:.1f} MiB"],
            ["RSS when the cap was reached", f"{r['rss_at_cap_mib']:.1f} MiB"],
            ["RSS after the attack", f"{r['rss_after_mib']:.1f} MiB"],
            [
                "RSS growth (per allowed series)",
                f"{r['rss_growth_mib']:.1f} MiB ({r['rss_growth_mib'] * MIB / max(1, r['creating_calls']):,.0f} B)",
            ],
            ["RSS growth past the cap", f"{r['rss_growth_after_cap_mib']:+.2f} MiB"],
        ],
    )
    print("RSS after each chunk (calls: MiB): " + ", ".join(f"{c['calls']:,}: {c['rss']:.1f}" for c in r["chunks"]))
    print_table(
        "Cost per call (µs, loop and attribute dict included)",
        ["call", "µs"],
        [
            ["a call that creates a series", f"{r['us_per_call_creating'] or 0:.2f}"],
            ["a call past the cap (dropped, counted)", f"{r['us_per_call_overflow'] or 0:.2f}"],
            ["... in the last chunk", f"{r['us_per_call_overflow_last_chunk'] or 0:.2f}"],
            ["the loop alone (f-string, dict, no-op call)", f"{r['us_loop_only']:.2f}"],
            ["existing series, before the attack (min)", f"{r['us_existing_before']:.2f}"],
            ["existing series, after the attack (min)", f"{r['us_existing_after']:.2f}"],
        ],
    )
    print_table(
        "After the attack",
        ["check", "result"],
        [
            ["existing series record again", f"{r['existing_still_record']} / {s['existing']}"],
            [
                "a new series of another metric",
                "stored" if r["latecomer_stored"] else "dropped",
            ],
            [
                "OTel points for attack.requests",
                f"{otel['points']:,} ({otel['overflow_points']} with "
                f"{OVERFLOW_ATTRIBUTE}=true, value {otel['overflow_value']})",
            ],
            [
                "OTel collection time",
                f"{otel['collect_ms']:.1f} ms (again: {r['otel_second_collection']['collect_ms']:.1f} ms, "
                f"{r['otel_second_collection']['points']:,} points)",
            ],
        ],
    )
    if r["store_warning_example"]:
        print(f"store warning: {r['store_warning_example']}")
    ops = r.get("operations_run")
    if ops:
        print_table(
            f"{ops['calls']:,} distinct operation names (track_context)",
            ["figure", "value"],
            [
                ["RSS before / after", f"{ops['rss_before_mib']:.1f} / {ops['rss_after_mib']:.1f} MiB"],
                ["RSS growth", f"{ops['rss_growth_mib']:+.1f} MiB"],
                ["RSS after each chunk", ", ".join(f"{m:.1f}" for m in ops["rss_per_chunk_mib"])],
                ["operations in the statistics", f"{ops['operations']:,}"],
                ["calls counted under _OTHER (overflow_calls)", f"{ops['other_calls']:,} ({ops['overflow_calls']:,})"],
                [
                    "store series / series_instruments / overflow_folded",
                    f"{ops['store']['series']:,} / {ops['store']['series_instruments']:,} / "
                    f"{ops['store']['overflow_folded']:,}",
                ],
                ["µs per tracked block (drain and collections included)", f"{ops['us_per_call']:.2f}"],
                ["record_metric of a new name afterwards", "stored" if ops["new_metric_stored"] else "DROPPED"],
            ],
        )


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=first_line(__doc__))
    parser.add_argument("--calls", type=int, default=1_000_000, help="distinct attribute sets (default 1,000,000)")
    parser.add_argument("--max-series", type=int, default=10_000, help="ZGEN_OTEL_MAX_SERIES (default 10,000)")
    parser.add_argument("--existing", type=int, default=100, help="series recorded before the attack (default 100)")
    parser.add_argument(
        "--operations", type=int, default=1_000_000, help="distinct operation names (default 1,000,000)"
    )
    parser.add_argument("--quick", action="store_true", help="100,000 of each (overrides --calls, --operations)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    calls = 100_000 if args.quick else args.calls
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("zgen_otel.store").propagate = False  # counted and shown once below instead
    dists = ["opentelemetry-sdk", "psutil", "zgen-otel"]
    found = versions(*dists)
    print_header(
        "zgen_otel cardinality attack", "quick" if args.quick else "full", found, dists, [f"{os.cpu_count()} CPUs"]
    )
    print(
        f"{calls:,} distinct attribute sets on {FULL}, max_series {args.max_series:,}, "
        f"{args.existing} series recorded before"
    )
    started = time.perf_counter()
    results: dict[str, Any] = {"versions": found}
    results.update(run_attack(calls=calls, max_series=args.max_series, existing=args.existing))
    if args.operations:
        results["operations_run"] = run_operations(calls=100_000 if args.quick else args.operations)
    print_results(results)
    finish(results, started, _summary, args.json, with_rss=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
