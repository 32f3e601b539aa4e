"""Render time of the system dashboard with 24 hours of 10-second data for every system series.

Run: ``python benchmarks/bench_dashboards.py [--quick]``. Fills the store with 24 h of 10-second points for
every local series the system dashboard draws (as a day of the system monitor at ``MONITORING_INTERVAL=10``
would), then times ``render_dashboard("system", format="html"|"json", window_seconds=86400)``, minimum and
median over rounds. Targets: HTML <= 100 ms, JSON <= 50 ms.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import timeit

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    rounds = 5 if parser.parse_args(argv).quick else 15
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False, max_raw_points=10_000)
    store = zgen_otel.get_runtime().store
    now = time.time()
    points = 8640  # 24 h at 10 s
    started = time.perf_counter()
    for name, attrs in SERIES:
        key = tuple(sorted(attrs.items()))
        for i in range(points):
            ts = now - 86_400 + i * 10
            store.add(name, 50 + 40 * math.sin(i / 300) + (i % 7), key, ts, unit="%", category=name.split(".")[0])
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
