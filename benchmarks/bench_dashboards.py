"""Render time of the system dashboard (24 h of 10-second data) and of one page of the metrics dashboard.

Run: ``python benchmarks/bench_dashboards.py [--quick] [--baseline DIR]``.

System: fills the store with 24 h of 10-second points for every local series the system dashboard draws (as a
day of the system monitor at ``MONITORING_INTERVAL=10`` would), then times ``render_dashboard("system",
format="html"|"json", window_seconds=86400)``, minimum and median over rounds. Targets: HTML <= 100 ms, JSON
<= 50 ms.

Metrics: 10,000 series recorded with ``record_metric`` (500 metrics x 20 attribute sets in 10 categories, an
hour of one point a minute each), then one page of ``render_dashboard("metrics")`` as the web page asks for it:
the first page, a search, a category, page 100 and a metric's chart. Targets: <= 200 ms and <= 1 MB a page.
With ``--baseline DIR`` (a checkout of an older commit, e.g. ``git archive d89bbe6 | tar -x -C DIR``), the same
store is filled and the metrics dashboard rendered by that version's code in a subprocess (before the pages,
it drew every series), and both are printed side by side.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
import timeit
from pathlib import Path
from typing import Any

import zgen_otel
from zgen_otel.dashboards.dashboard import render_dashboard

SERIES = [
    ("system.cpu_percent", {}),
    ("system.cpu_core_percent", {"cpu": "0"}),
    ("system.cpu_core_percent", {"cpu": "1"}),
    ("system.memory_percent", {}),
    ("system.swap_percent", {}),
    ("system.disk_percent", {"mountpoint": "/"}),
    ("system.disk_read", {"device": "vda"}),
    ("system.disk_write", {"device": "vda"}),
    ("system.net_recv", {"interface": "eth0"}),
    ("system.net_sent", {"interface": "eth0"}),
    ("system.net_recv", {"interface": "lo"}),
    ("system.net_sent", {"interface": "lo"}),
    ("process.cpu_percent", {}),
    ("process.memory_rss_bytes", {}),
    ("system.load_1m", {}),
]


METRIC_SERIES, METRIC_POINTS = 10_000, 60
#: The metrics pages timed: (what, options of render_dashboard).
METRIC_PAGES: list[tuple[str, dict[str, Any]]] = [
    ("first page", {}),
    ("search 'm42 shard=7'", {"search": "m42 shard=7"}),
    ("category c3", {"category": "c3"}),
    ("page 100", {"page": 100}),
    ("a metric's chart", {"metric": "c1.m41"}),
]


def fill_system(store: Any, now: float, points: int) -> None:
    """24 h of 10-second points for every series of the system dashboard."""
    for name, attrs in SERIES:
        key = tuple(sorted(attrs.items()))
        for i in range(points):
            ts = now - 86_400 + i * 10
            store.add(name, 50 + 40 * math.sin(i / 300) + (i % 7), key, ts, unit="%", category=name.split(".")[0])


def fill_metrics(now: float) -> None:
    """:data:`METRIC_SERIES` series of :data:`METRIC_POINTS` points, recorded as an agent records them."""
    for k in range(METRIC_POINTS):
        ts = now - 3600 + k * 60
        for m in range(METRIC_SERIES // 20):
            name, category = f"m{m}", f"c{m % 10}"
            for j in range(20):
                zgen_otel.record_metric(name, float(k + j), category, {"shard": str(j)}, unit="{item}", timestamp=ts)


def time_metrics(rounds: int, pages: list[tuple[str, dict[str, Any]]]) -> dict[str, list[float]]:
    """Minimum and median ms and the size in bytes of each metrics page: ``{what: [min_ms, median_ms, bytes]}``."""
    out = {}
    for what, options in pages:
        timings, size = [], 0
        for _ in range(rounds):
            t0 = time.perf_counter()
            size = len(render_dashboard("metrics", format="html", **options).encode())
            timings.append(time.perf_counter() - t0)
        out[what] = [min(timings) * 1e3, statistics.median(timings) * 1e3, size]
    return out


def metrics_only(rounds: int, baseline: bool) -> dict[str, list[float]]:
    """Fill the store with the metrics series and time the pages (``baseline``: the whole dashboard, unpaged)."""
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False, max_series=METRIC_SERIES + 100)
    fill_metrics(time.time())
    return time_metrics(rounds, [("every series (unpaged)", {})] if baseline else METRIC_PAGES)


def run_baseline(folder: str, rounds: int) -> dict[str, list[float]]:
    """:func:`metrics_only` by the code in ``folder`` (an older checkout), in a subprocess."""
    env = {**os.environ, "PYTHONPATH": str(Path(folder).resolve())}
    args = [sys.executable, __file__, "--metrics-only", "--baseline-run", "--rounds", str(rounds)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=1800, check=True)
    return dict(json.loads(done.stdout.splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--baseline", metavar="DIR", help="an older checkout: its metrics dashboard side by side")
    parser.add_argument("--metrics-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--baseline-run", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rounds = args.rounds or (5 if args.quick else 15)
    if args.metrics_only:  # a subprocess of the side-by-side run: the figures as one JSON line
        print(json.dumps(metrics_only(rounds, args.baseline_run)))
        return 0
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False, max_raw_points=10_000)
    store = zgen_otel.get_runtime().store
    points = 8640  # 24 h at 10 s
    started = time.perf_counter()
    fill_system(store, time.time(), points)
    fill = time.perf_counter() - started
    timings: dict[str, list[float]] = {"html": [], "json": []}
    sizes = {}
    for _ in range(rounds):
        for fmt in ("html", "json"):
            t0 = time.perf_counter()
            out = render_dashboard("system", format=fmt, window_seconds=86_400)
            timings[fmt].append(time.perf_counter() - t0)
            sizes[fmt] = len(out)
    # This VM's speed drifts by up to 2x between runs: a fixed loop timed in the same run says how fast it was.
    reference = min(timeit.repeat("sum(range(100))", number=100_000, repeat=5)) / 100_000 * 1e6
    print(f"zgen_otel dashboard benchmark, python {sys.version.split()[0]}; "
          f"machine reference sum(range(100)) = {reference:.2f} us")  # fmt: skip
    print(f"{len(SERIES)} series x {points:,} points (24 h at 10 s) filled in {fill:.1f} s; "
          f"store: {store.stats()['points']:,} stored points (raw + rolled up)")  # fmt: skip
    for fmt, target in (("html", 100), ("json", 50)):
        best, median = min(timings[fmt]) * 1e3, statistics.median(timings[fmt]) * 1e3
        verdict = "PASS" if best <= target else "MISS"
        print(f"  render_dashboard('system', format={fmt!r}): {best:7.1f} ms (median {median:.1f}), "
              f"{sizes[fmt] / 1024:.0f} KiB   target <= {target} ms   {verdict}")  # fmt: skip
    zgen_otel.shutdown()
    before = run_baseline(args.baseline, max(2, rounds // 5)) if args.baseline else {}
    print_metrics(metrics_only(rounds, False), before)
    zgen_otel.shutdown()
    return 0


def print_metrics(figures: dict[str, list[float]], baseline: dict[str, list[float]]) -> None:
    """The metrics dashboard's figures against the targets, and the baseline's beside them."""
    print(f"metrics dashboard, {METRIC_SERIES:,} series x {METRIC_POINTS} points (record_metric), one page (HTML):")
    for what, (best, median, size) in {**{f"before: {k}": v for k, v in baseline.items()}, **figures}.items():
        verdict = "PASS" if best <= 200 and size <= 1_000_000 else "MISS"
        print(f"  {what:<34} {best:8.1f} ms (median {median:.1f}), {size / 1e6:6.3f} MB   "
              f"target <= 200 ms, <= 1 MB   {verdict}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
