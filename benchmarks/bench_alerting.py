"""Alert evaluation cost: record_metric on a watched vs an unwatched metric, and a tick over 10,000 rules.

Run: ``python benchmarks/bench_alerting.py [--quick]``. Side by side in one run: 10,000 metric rules on
10,000 metrics (``bench.m0`` ... ``bench.m9999``), then ``record_metric`` on a watched metric (its rule does
not fire: the common case) against the same call on an unwatched one, interleaved round-robin, minimum
over rounds. Targets: watched - unwatched <= 2 us; one evaluation tick over the 10,000 rules <= 20 ms.
"""

from __future__ import annotations

import statistics
import sys
import time
import timeit

import zgen_otel
from zgen_otel.alerting import get_alert_manager

# isort: split
# benchmarks/_common.py: the script's folder is on sys.path when it runs as python benchmarks/bench_alerting.py
from _common import parse_args, rotations


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, __doc__, "fewer rounds", json_output=False)
    rounds, number, n_rules = (7, 5_000, 10_000) if args.quick else (25, 20_000, 10_000)

    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False, max_series=2 * n_rules)
    manager = get_alert_manager()
    started = time.perf_counter()
    for i in range(n_rules):  # even rules hold (pending for an hour), odd ones do not
        threshold = 0.5 if i % 2 == 0 else 1e12
        manager.add_metric_rule(f"rule{i}", "bench", f"bench.m{i}", threshold=threshold, duration=3600)
    setup = time.perf_counter() - started
    for i in range(n_rules):  # every watched metric has a series and a rule state to look at
        zgen_otel.record_metric(f"m{i}", 1.0, "bench")
    zgen_otel.record_metric("unwatched", 1.0, "bench")

    candidates = {
        "record_metric on a watched metric": lambda: zgen_otel.record_metric("m43", 1.0, "bench"),
        "... whose rule is pending": lambda: zgen_otel.record_metric("m42", 1.0, "bench"),
        "record_metric on an unwatched metric": lambda: zgen_otel.record_metric("unwatched", 1.0, "bench"),
    }
    best = dict.fromkeys(candidates, float("inf"))
    for order in rotations(candidates, rounds):
        for name in order:
            best[name] = min(best[name], timeit.timeit(candidates[name], number=number) / number)
    ticks = []
    for _ in range(max(5, rounds // 2)):
        t0 = time.perf_counter()
        manager.evaluate()
        ticks.append(time.perf_counter() - t0)
    alerts = len(manager.get_active_alerts())

    extra = (best["record_metric on a watched metric"] - best["record_metric on an unwatched metric"]) * 1e6
    extra_pending = (best["... whose rule is pending"] - best["record_metric on an unwatched metric"]) * 1e6
    print(f"zgen_otel alerting benchmark ({'quick' if args.quick else 'full'} run), python {sys.version.split()[0]}")
    print(f"{n_rules:,} rules installed in {setup * 1e3:.0f} ms; active alerts after the run: {alerts}")
    for name, seconds in best.items():
        print(f"  {name:<40} {seconds * 1e6:8.3f} us/call (min over {rounds} rounds)")
    print(f"  {'extra cost of a watched metric':<40} {extra:8.3f} us   target <= 2 us   "
          f"{'PASS' if extra <= 2 else 'MISS'}")  # fmt: skip
    print(f"  {'extra cost, rule pending (informational)':<40} {extra_pending:8.3f} us")
    pending = sum(1 for r in manager.list_rules() if r.state == "pending")
    verdict = "PASS" if min(ticks) <= 0.02 else "MISS"
    print(f"  {f'evaluation tick over all rules ({pending:,} pending)':<40} {min(ticks) * 1e3:8.2f} ms (median "
          f"{statistics.median(ticks) * 1e3:.2f})  target <= 20 ms   {verdict}")  # fmt: skip
    zgen_otel.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
