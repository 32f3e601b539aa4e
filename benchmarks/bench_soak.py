"""Soak run: a steady stream of record_metric samples for minutes, with alert rules and the system monitor on.

Run from the repository root::

    python benchmarks/bench_soak.py                      # full run: 600 s at 2,000 samples/s on 500 series
    python benchmarks/bench_soak.py --quick              # 60 s (the CI-sized run)
    python benchmarks/bench_soak.py --duration 120 --rate 5000 --series 1000 --json out.json

What runs, in one process (see benchmarks/README.md, "Soak"):

* ``configure(interval=1, system_monitor=True, default_rules=True, max_raw_points=64, retention_days=120 s,
  max_logs=500, host_lock="none")``: the system monitor sweeps every second, the in-process reader collects
  every second, the default rules watch the monitor's series, and the short raw cap and retention make rollup
  and retention pruning happen many times within the run (at 4 samples/s a series fills 64 raw points in 16 s);
* three metric rules on the soak series (one fires and resolves on every series about once a minute, one
  judges a 30 s average on every sample, one goes pending and back) and a counting notification channel;
  each alert fired and resolved is logged and kept by the runtime's log capture (a ring of ``max_logs``);
* the main thread calls ``zgen_otel.record_metric`` at ``--rate`` samples/s, round-robin over ``--series``
  series (``--names`` metric names x attribute sets ``{"agent": "a000"...}``), sleeping to the schedule in
  10 ms ticks;
* every ``--sample-every`` seconds: the process RSS (psutil), ``store.stats()``, the alert history, the log ring.

Reported: the achieved rate, RSS at the end of the warm-up and at the end, the least-squares slope of RSS after
the warm-up (MiB/min), the store's series, points and bytes against the bound its settings imply and whether they
plateau, and an exact account of every sample (see :func:`account`). The process exits 0 either way.
"""

from __future__ import annotations

import argparse
import functools
import gc
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import psutil

import zgen_otel
from zgen_otel.alerting import Notifier, get_alert_manager
from zgen_otel.alerting.notifiers import Notification
from zgen_otel.config import ENV_VARS

# isort: split
# benchmarks/_common.py: the script's folder is on sys.path when it runs as python benchmarks/bench_soak.py
from _common import configure_isolated, finish, first_line, print_header, print_table, summary_row, versions

CATEGORY = "soak"
NAMES = ("latency_ms", "tokens", "queue_depth", "errors", "cost")
TICK = 0.01  # seconds between batches of samples
PRUNE_EVERY = 60.0  # the runtime prunes the store at most once a minute (README: "checked every minute")
MIB = 2**20
STALL_S = 1.0  # a lag behind the schedule this long means the process got no CPU (not the library's doing)
TARGET_RATE_SHARE = 0.99  # achieved / asked
TARGET_SLOPE_MIB_MIN = 0.5  # RSS slope after the warm-up
TARGET_PLATEAU = 0.05  # store points/bytes: last tenth of the post-warm-up samples vs the first tenth


class CountingNotifier(Notifier):
    """A notification channel that only counts what it is sent (a real channel without the network)."""

    def __init__(self) -> None:
        super().__init__(name="soak-counter")
        self.received = 0

    def send(self, notifications: Sequence[Notification]) -> None:
        """Count the batch."""
        self.received += len(notifications)


def default_warmup(duration: float, retention: float) -> float:
    """Seconds of warm-up before the RSS slope is fitted.

    At least 20% of the run (60 s when the run allows it). When retention pruning happens within the run, the
    store only reaches its steady size once the first prune after ``retention`` has run: then at least
    ``retention + PRUNE_EVERY + 5`` s. Never more than half the run, so the fit keeps enough points.
    """
    warm = max(0.2 * duration, min(60.0, 0.5 * duration))
    if retention + PRUNE_EVERY < duration:
        warm = max(warm, retention + PRUNE_EVERY + 5.0)
    return min(warm, 0.5 * duration)


def least_squares_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The slope of the least-squares line through the points (0.0 with fewer than two distinct x)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def points_bound(series: int, max_raw_points: int, retention: float, interval: float, elapsed: float) -> int:
    """The most points the store can hold: per series, the raw cap plus the minute buckets still kept.

    Minute buckets cover at most the retention plus one prune period (the runtime prunes after the first
    collection, every ``interval``, that comes a minute or more after the last prune) plus the bucket that
    straddles the cutoff, or the whole run when retention never cut anything; hour buckets only start after two
    days of minute buckets.
    """
    horizon = min(retention + PRUNE_EVERY + interval, elapsed) + 60.0
    return series * (max_raw_points + math.ceil(horizon / 60.0) + 1)


def _install_rules(names: Sequence[str], notifier: Notifier) -> list[str]:
    manager = get_alert_manager()
    manager.add_notifier(notifier)
    full = [f"{CATEGORY}.{n}" for n in names]
    # fires on every series of the metric about once a minute (the sawtooth passes 95), resolves at <= 50
    manager.add_metric_rule("soak_high", "soak value above 95", full[0], threshold=95, clear_threshold=50)
    # judges the 30 s average on every sample (a window read each time); the average stays near 50
    manager.add_metric_rule(
        "soak_avg_high", "soak 30 s average above 90", full[1 % len(full)], threshold=90, aggregate="avg", window=30
    )
    # holds a fifth of the time: pending, then back to inactive, never firing within the run
    manager.add_metric_rule(
        "soak_pending", "soak value above 80 for an hour", full[2 % len(full)], threshold=80, duration=3600
    )
    return [r.name for r in manager.list_rules()]


def _sample(proc: psutil.Process, started: float, notifier: CountingNotifier) -> dict[str, Any]:
    rt = zgen_otel.get_runtime()
    stats = rt.store.stats()
    manager = rt.alert_manager
    logs = getattr(rt, "log_buffer", None)  # the runtime's captured log records (ZGEN_OTEL_MAX_LOGS ring)
    return {
        "t": time.perf_counter() - started,
        "rss_mib": proc.memory_info().rss / MIB,
        "series": stats["series"],
        "points": stats["points"],
        "store_bytes": stats["bytes"],
        "alert_history": len(manager.get_alert_history()),
        "active_alerts": len(manager.get_active_alerts()),
        # AlertManager._notified: the last notification time per alert id (read here to watch its size)
        "notified_ids": len(manager._notified),
        "notifications": notifier.received,
        "log_records": logs.stats()["records"] if logs is not None else 0,
        "logs_dropped": logs.stats()["dropped"] if logs is not None else 0,
    }


def _plan(
    n_series: int, n_names: int, rate: float
) -> tuple[list[str], list[tuple[str, dict[str, str], int]], list[float]]:
    """The metric names, the round-robin series (name, attributes, phase) and one sawtooth cycle (0 to 100)."""
    names = [NAMES[i] if i < len(NAMES) else f"m{i}" for i in range(n_names)]
    plan = [(names[s % n_names], {"agent": f"a{s // n_names:03d}"}, 17 * s) for s in range(n_series)]
    period = max(8, round(60.0 * rate / n_series))  # samples per cycle: about one cycle a minute per series
    return names, plan, [100.0 * k / period for k in range(period)]


class _Load:
    """The samples to record, and how many calls were made before each minute boundary (for :func:`account`)."""

    def __init__(self, plan: list[tuple[str, dict[str, str], int]], values: list[float]) -> None:
        self.plan, self.values = plan, values
        self.done = 0
        self.before_boundary: dict[int, int] = {}  # minute boundary (Unix s) -> calls made before it
        self._last_end_wall = 0.0

    def record_until(self, due: int) -> None:
        """Record samples ``done`` to ``due - 1`` in one batch that never straddles a minute boundary."""
        wall = time.time()
        boundary = int(wall // 60 * 60)
        if boundary + 60 - wall < 0.005:  # a boundary less than 5 ms away: start the batch after it
            time.sleep(boundary + 60 - wall + 0.0005)
            wall = time.time()
            boundary = int(wall // 60 * 60)
        if boundary > self._last_end_wall and boundary not in self.before_boundary:
            self.before_boundary[boundary] = self.done
        plan, values, record = self.plan, self.values, zgen_otel.record_metric
        n, period = len(plan), len(values)
        for c in range(self.done, due):
            name, attrs, phase = plan[c % n]
            record(name, values[(c // n + phase) % period], CATEGORY, attrs)
        self.done = due
        self._last_end_wall = time.time()


def account(
    store: Any, names: Sequence[str], done: int, before_boundary: dict[int, int], retention: float, wall_started: float
) -> dict[str, Any]:
    """Check that every accepted sample is in the store, or was dropped by retention exactly as configured.

    Without retention pruning within the run, the samples held by the soak series (raw points plus the sample
    counts of rolled-up buckets) must equal the calls made. With pruning, the runtime (already shut down, so
    nothing else prunes) is pruned once more by hand with a cutoff just after a minute boundary ``b`` that is
    newer than every cutoff the runtime applied: then exactly the samples stamped before ``b`` are gone (raw
    points older than the cutoff, and every minute bucket that starts before ``b``), so the store must hold
    ``done - before_boundary[b]``, where ``before_boundary[b]`` counts the calls made before the first batch that
    started at or after ``b`` (the recording loop never lets a batch straddle a boundary).
    """
    now = time.time()
    full = [f"{CATEGORY}.{n}" for n in names]
    if now - retention < wall_started:  # no cutoff so far reached the first sample
        expected, boundary = done, None
    else:
        usable = sorted(b for b in before_boundary if b >= now - retention + 1.0)
        if not usable:
            return {"checked": False, "why": "no minute boundary newer than the last prune cutoff"}
        boundary = usable[0]
        store.prune(now=boundary + 0.0005 + retention)
        expected = done - before_boundary[boundary]
    stored = sum(p.samples for name in full for p in store.history(name))
    return {"checked": True, "expected": expected, "stored": stored, "cut_at": boundary, "ok": stored == expected}


def run_soak(
    *,
    duration: float = 600.0,
    rate: float = 2000.0,
    n_series: int = 500,
    n_names: int = 5,
    interval: float = 1.0,
    max_raw_points: int = 64,
    retention: float = 120.0,
    max_series: int = 10_000,
    warmup: float | None = None,
    sample_every: float = 2.0,
    max_logs: int | None = 500,
    progress: Callable[[str], None] | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Run the soak and return its figures (see the module docstring); ``settings`` go to ``configure``."""
    warm = default_warmup(duration, retention) if warmup is None else warmup
    if max_logs is not None and "max_logs" in ENV_VARS:  # a smaller log ring than the default fills within the run
        settings = {"max_logs": max_logs, **settings}
    configure_isolated(
        interval=interval,
        system_monitor=True,
        default_rules=True,
        max_raw_points=max_raw_points,
        max_series=max_series,
        retention_days=retention / 86_400.0,
        **{"host_lock": "none", **settings},
    )
    notifier = CountingNotifier()
    names, plan, values = _plan(n_series, n_names, rate)
    rules = _install_rules(names, notifier)
    proc = psutil.Process()
    cpu0 = proc.cpu_times()

    samples: list[dict[str, Any]] = []
    load = _Load(plan, values)
    done = ticks_late = 0
    max_lag = 0.0
    stalls: list[tuple[float, float]] = []  # (seconds into the run, seconds stalled)
    wall_started = time.time()
    started = time.perf_counter()
    end = started + duration
    next_sample = started
    next_report = started + 60.0
    tick = 0
    while True:
        now = time.perf_counter()
        if now >= next_sample:
            samples.append(_sample(proc, started, notifier))
            next_sample += sample_every
        if progress and now >= next_report:
            last = samples[-1]
            progress(
                f"  {now - started:5.0f} s: {done:,} samples, RSS {last['rss_mib']:.1f} MiB, "
                f"store {last['series']} series / {last['points']:,} points"
            )
            next_report += 60.0
        if now >= end:
            break
        due = min(round((now - started) * rate), round(duration * rate))
        lag = (due - done) / rate
        max_lag = max(max_lag, lag)
        ticks_late += lag > 2 * TICK
        if lag > STALL_S:  # the process got no CPU for that long (a paused or starved VM)
            stalls.append((round(now - started - lag, 1), round(lag, 1)))
        if due > done:
            load.record_until(due)
            done = due
        tick += 1
        pause = started + tick * TICK - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        else:
            tick = int((time.perf_counter() - started) / TICK)
    elapsed = time.perf_counter() - started
    cpu1 = proc.cpu_times()
    gc.collect()
    samples.append(_sample(proc, started, notifier))

    rt = zgen_otel.get_runtime()
    store, manager = rt.store, rt.alert_manager
    final = store.stats()
    dropped_nonfinite = rt.metrics.dropped_nonfinite if rt.metrics else 0
    rule_info = {r.name: {"state": r.state, "errors": r.errors} for r in manager.list_rules()}
    dispatch = manager.notification_stats()
    zgen_otel.shutdown()  # stops the monitor, the evaluator and the reader: nothing prunes from here on
    accounting = account(store, names, done, load.before_boundary, retention, wall_started)

    after = [s for s in samples if s["t"] >= warm]
    head = after[: max(1, len(after) // 10)]
    tail = after[-max(1, len(after) // 10) :]

    def growth(key: str) -> float:
        first = sum(s[key] for s in head) / len(head)
        return (sum(s[key] for s in tail) / len(tail) - first) / first if first else 0.0

    series_max = max(s["series"] for s in samples)
    bound = points_bound(series_max, max_raw_points, retention, interval, elapsed)
    return {
        "settings": {
            "duration_s": duration,
            "rate": rate,
            "series": n_series,
            "names": names,
            "interval_s": interval,
            "max_raw_points": max_raw_points,
            "retention_s": retention,
            "max_series": max_series,
            "max_logs": settings.get("max_logs"),
            "warmup_s": warm,
            "sample_every_s": sample_every,
            "rules": rules,
            "cpus": os.cpu_count(),
        },
        "elapsed_s": elapsed,
        "samples_recorded": done,
        "achieved_rate": done / elapsed,
        "max_lag_s": max_lag,
        "ticks_late": ticks_late,
        "stalls": stalls,
        "cpu_percent_of_one_core": 100 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / elapsed,
        "rss_start_mib": samples[0]["rss_mib"],
        "rss_warmup_end_mib": after[0]["rss_mib"] if after else samples[-1]["rss_mib"],
        "rss_end_mib": samples[-1]["rss_mib"],
        "rss_max_after_warmup_mib": max((s["rss_mib"] for s in after), default=0.0),
        "rss_min_after_warmup_mib": min((s["rss_mib"] for s in after), default=0.0),
        "rss_slope_mib_per_min": least_squares_slope([s["t"] / 60 for s in after], [s["rss_mib"] for s in after]),
        "rss_fit_points": len(after),
        "store": {
            **final,
            "points_bound": bound,
            "points_growth_after_warmup": growth("points"),
            "bytes_growth_after_warmup": growth("store_bytes"),
            "points_max_after_warmup": max((s["points"] for s in after), default=0),
            "bytes_max_after_warmup": max((s["store_bytes"] for s in after), default=0),
            "series_max": series_max,
        },
        "dropped_nonfinite": dropped_nonfinite,
        "alerts": {
            "history_end": samples[-1]["alert_history"],
            "history_max": max(s["alert_history"] for s in samples),
            "notifications": notifier.received,
            "log_records_end": samples[-1]["log_records"],
            "logs_dropped_end": samples[-1]["logs_dropped"],
            "active_end": samples[-1]["active_alerts"],
            "notified_ids_end": samples[-1]["notified_ids"],
            "rules": rule_info,
            "dispatcher": dispatch,
        },
        "accounting": accounting,
        "samples": samples,
    }


def _summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    store, acc, alerts = results["store"], results["accounting"], results["alerts"]
    rate = results["settings"]["rate"]
    return [
        summary_row(
            f"achieved rate >= {TARGET_RATE_SHARE:.0%} of {rate:,.0f}/s",
            f"{results['achieved_rate']:,.1f}/s",
            results["achieved_rate"] >= TARGET_RATE_SHARE * rate,
        ),
        summary_row(
            f"RSS slope after warm-up <= {TARGET_SLOPE_MIB_MIN} MiB/min",
            f"{results['rss_slope_mib_per_min']:+.3f} MiB/min",
            results["rss_slope_mib_per_min"] <= TARGET_SLOPE_MIB_MIN,
        ),
        summary_row(
            f"series <= max_series ({results['settings']['max_series']:,})",
            f"{store['series_max']:,}",
            store["series_max"] <= results["settings"]["max_series"],
        ),
        summary_row(
            "store points <= bound from max_raw_points and retention",
            f"{store['points_max_after_warmup']:,} <= {store['points_bound']:,}",
            store["points_max_after_warmup"] <= store["points_bound"],
        ),
        summary_row(
            f"store points and bytes plateau after warm-up (growth <= {TARGET_PLATEAU:.0%})",
            f"{store['points_growth_after_warmup']:+.1%} / {store['bytes_growth_after_warmup']:+.1%}",
            max(store["points_growth_after_warmup"], store["bytes_growth_after_warmup"]) <= TARGET_PLATEAU,
        ),
        summary_row(
            "no sample dropped (series cap, non-finite)",
            f"{store['overflow_dropped']} / {results['dropped_nonfinite']}",
            store["overflow_dropped"] == 0 and results["dropped_nonfinite"] == 0,
        ),
        summary_row(
            "alert manager state bounded: AlertManager._notified <= alerts in history + active",
            f"{alerts['notified_ids_end']:,} vs {alerts['history_end']:,} + {alerts['active_end']:,}",
            alerts["notified_ids_end"] <= alerts["history_end"] + alerts["active_end"],
        ),
        summary_row(
            "every accepted sample accounted for",
            f"{acc['stored']:,} / {acc['expected']:,}" if acc["checked"] else acc["why"],
            bool(acc.get("ok")),
        ),
    ]


def print_results(results: dict[str, Any]) -> None:
    """The readable tables of one soak run."""
    s, store, alerts = results["settings"], results["store"], results["alerts"]
    acc = results["accounting"]
    mb = MIB
    print_table(
        "Load",
        ["figure", "value"],
        [
            ["samples recorded", f"{results['samples_recorded']:,}"],
            ["elapsed", f"{results['elapsed_s']:.1f} s"],
            ["achieved rate (asked)", f"{results['achieved_rate']:,.1f}/s ({s['rate']:,.0f}/s)"],
            ["max lag behind schedule", f"{results['max_lag_s'] * 1e3:.1f} ms"],
            ["10 ms ticks more than 20 ms late", f"{results['ticks_late']:,}"],
            [
                f"stalls over {STALL_S:g} s (at s: lasting s)",
                ", ".join(f"{at:g}: {sec:g}" for at, sec in results["stalls"]) or "none",
            ],
            ["process CPU (all threads)", f"{results['cpu_percent_of_one_core']:.1f} % of one core"],
        ],
    )
    print_table(
        "Memory (RSS, psutil)",
        ["figure", "value"],
        [
            ["RSS at start (after configure)", f"{results['rss_start_mib']:.1f} MiB"],
            [f"RSS at warm-up end ({s['warmup_s']:.0f} s)", f"{results['rss_warmup_end_mib']:.1f} MiB"],
            ["RSS at end", f"{results['rss_end_mib']:.1f} MiB"],
            [
                "RSS min / max after warm-up",
                f"{results['rss_min_after_warmup_mib']:.1f} / {results['rss_max_after_warmup_mib']:.1f} MiB",
            ],
            [
                f"RSS slope after warm-up ({results['rss_fit_points']} samples)",
                f"{results['rss_slope_mib_per_min']:+.3f} MiB/min",
            ],
        ],
    )
    print_table(
        "Store",
        ["figure", "value"],
        [
            ["series at end (max during run)", f"{store['series']:,} ({store['series_max']:,})"],
            ["points at end (max after warm-up)", f"{store['points']:,} ({store['points_max_after_warmup']:,})"],
            ["points bound (max_raw_points + kept minute buckets, per series)", f"{store['points_bound']:,}"],
            [
                "bytes at end (max after warm-up)",
                f"{store['bytes'] / mb:.3f} MiB ({store['bytes_max_after_warmup'] / mb:.3f} MiB)",
            ],
            [
                "growth after warm-up, points / bytes",
                f"{store['points_growth_after_warmup']:+.1%} / {store['bytes_growth_after_warmup']:+.1%}",
            ],
            ["overflow_dropped / dropped_nonfinite", f"{store['overflow_dropped']} / {results['dropped_nonfinite']}"],
        ],
    )
    print_table(
        "Alerting",
        ["figure", "value"],
        [
            ["alert history at end (max)", f"{alerts['history_end']:,} ({alerts['history_max']:,})"],
            ["notifications received by the channel", f"{alerts['notifications']:,}"],
            ["AlertManager._notified entries at end", f"{alerts['notified_ids_end']:,}"],
            [
                "captured log records at end (dropped by the ring)",
                f"{alerts['log_records_end']:,} ({alerts['logs_dropped_end']:,})",
            ],
            *[[f"rule {name}", f"{info['state']}, {info['errors']} errors"] for name, info in alerts["rules"].items()],
        ],
    )
    cut = acc.get("cut_at")
    where = "no retention cut" if cut is None else f"cut at {time.strftime('%H:%M:%S', time.localtime(cut))}"
    print(
        "\naccounting: "
        + (
            f"{acc['stored']:,} samples in the store, {acc['expected']:,} expected ({where}): "
            f"{'OK' if acc['ok'] else 'MISMATCH'}"
            if acc["checked"]
            else acc["why"]
        )
    )


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=first_line(__doc__))
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (default 600)")
    parser.add_argument("--rate", type=float, default=2000.0, help="samples per second (default 2000)")
    parser.add_argument("--series", type=int, default=500, help="distinct series (default 500)")
    parser.add_argument("--names", type=int, default=5, help="metric names the series spread over (default 5)")
    parser.add_argument("--interval", type=float, default=1.0, help="MONITORING_INTERVAL in seconds (default 1)")
    parser.add_argument("--max-raw-points", type=int, default=64, help="ZGEN_OTEL_MAX_RAW_POINTS (default 64)")
    parser.add_argument("--retention", type=float, default=120.0, help="retention in seconds (default 120)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds before the RSS fit (default: see README)")
    parser.add_argument("--sample-every", type=float, default=2.0, help="seconds between RSS samples (default 2)")
    parser.add_argument("--quick", action="store_true", help="a 60 s run (overrides --duration)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures (and every RSS sample) as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    duration = 60.0 if args.quick else args.duration
    # Alert state changes are logged (zgen_otel.alerts, WARNING and INFO) and the runtime's log capture keeps them
    # in its bounded ring, as by default; the console shows every other warning but not one line per alert.
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)
    console.addFilter(lambda record: not record.name.startswith("zgen_otel.alerts"))
    logging.getLogger().addHandler(console)
    logging.getLogger().setLevel(logging.INFO)
    dists = ["opentelemetry-sdk", "psutil", "zgen-otel"]
    found = versions(*dists)
    print_header(
        "zgen_otel soak", "quick" if args.quick else f"{duration:.0f} s", found, dists, [f"{os.cpu_count()} CPUs"]
    )
    print(
        f"{args.rate:,.0f} samples/s over {args.series} series, interval {args.interval:g} s, "
        f"max_raw_points {args.max_raw_points}, retention {args.retention:g} s"
    )
    started = time.perf_counter()
    results: dict[str, Any] = {"versions": found}
    results.update(
        run_soak(
            duration=duration,
            rate=args.rate,
            n_series=args.series,
            n_names=args.names,
            interval=args.interval,
            max_raw_points=args.max_raw_points,
            retention=args.retention,
            warmup=args.warmup,
            sample_every=args.sample_every,
            progress=functools.partial(print, flush=True),
        )
    )
    print_results(results)
    finish(results, started, _summary, args.json, with_rss=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
