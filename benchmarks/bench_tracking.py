"""Benchmark ``zgen_otel.performance.track`` against the raw OpenTelemetry SDK, prometheus_client and logfire.

Run from the repository root::

    python benchmarks/bench_tracking.py            # full run (about 45-60 s on 2 cores)
    python benchmarks/bench_tracking.py --quick    # smoke run (about 10 s)
    python benchmarks/bench_tracking.py --json out.json

Every candidate wraps the same trivial body, ``def work() -> int: return 1``. Phases (one process, one run):

1. Enabled: ``@track()`` and ``track_context`` next to the OTel SDK ``start_as_current_span`` (S), a
   hand-written span + histogram tracker (F), a bare ``start_span``/``end`` floor and prometheus_client
   ``Histogram.time()``. S, F and the floor use the very TracerProvider (and MeterProvider) of zgen's runtime,
   with the same ``BatchSpanProcessor`` feeding an exporter that drops spans. Afterwards the run proves every
   tracked call reached ``get_performance_stats()``.
2. Throughput: 1 thread x 80,000 and 8 threads x 10,000 tracked calls (wall time, background drain included),
   with the exact count check.
3. Disabled: after ``configure(enabled=False)`` the same decorated function, next to a minimal hand-written
   timer decorator and the undecorated call.
4. logfire (when it imports): ``@logfire.instrument`` next to a re-measured S and ``@track()``, last, because
   ``logfire.configure`` sets up providers of its own.

Timing: every candidate is a ``timeit.Timer`` statement with a batch size calibrated to ``batch_seconds``;
within a phase the candidates run one batch each, round-robin, rotating who goes first, over many rounds. The
figure is the minimum per-call time over the rounds; ``gc`` is disabled while a batch runs (the ``timeit``
default). The process exits 0 whether targets are met or missed: it is a report, not a test.
"""

from __future__ import annotations

import collections
import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, ParamSpec, TypeVar

import prometheus_client
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import zgen_otel
from zgen_otel.performance import get_performance_stats, track, track_context

# isort: split
# benchmarks/_common.py: the script's folder is on sys.path when it runs as python benchmarks/bench_tracking.py
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

P = ParamSpec("P")
R = TypeVar("R")

TARGET_TRACK_OVER_S = 0.9  # zgen @track / raw SDK start_as_current_span
TARGET_DISABLED_OVER_TIMER = 2.0  # zgen @track with enabled=False / minimal timer decorator
S_STMT = "with tracer.start_as_current_span('op'):\n    work()"
FLOOR_STMT = "span = tracer.start_span('op'); work(); span.end()"
QUEUE_SIZE = 1_000_000  # BatchSpanProcessor queue: large, so no span is dropped while the exporter catches up


@dataclass
class Profile:
    """How much work each phase does."""

    name: str
    batch_seconds: float  # target duration of one timed batch
    rounds: int  # round-robin rounds in the enabled phase
    rounds_disabled: int
    rounds_logfire: int
    threads: int
    calls_per_thread: int


FULL = Profile("full", 0.04, 50, 50, 30, 8, 10_000)
QUICK = Profile("quick", 0.015, 8, 8, 6, 8, 2_000)


class DropExporter(SpanExporter):
    """A span exporter that accepts every batch and throws it away."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Drop the batch."""
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""


def _processor() -> BatchSpanProcessor:
    return BatchSpanProcessor(DropExporter(), max_queue_size=QUEUE_SIZE)


def work() -> int:
    """The tracked body: as small as a function gets."""
    return 1


_TIMINGS: collections.deque[int] = collections.deque(maxlen=1000)


def minimal_timer(fn: Callable[P, R]) -> Callable[P, R]:
    """The least a timing decorator can do: two clock reads and one append."""
    clock, append = time.perf_counter_ns, _TIMINGS.append

    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        start = clock()
        result = fn(*args, **kwargs)
        append(clock() - start)
        return result

    return wrapper


def _tracked_calls(name: str) -> int:
    stats = get_performance_stats().get(name)
    return 0 if stats is None else stats.calls


def _compare(title: str, candidates: list[Candidate], rounds: int, batch_seconds: float, base: str) -> Candidate:
    """Time ``candidates`` interleaved over ``rounds`` rounds, print their table and return the base candidate.

    ``base`` is the key of the candidate the last column divides by; the table calls it by its key.
    """
    interleave(candidates, rounds, batch_seconds)
    ref = next(c for c in candidates if c.key == base)
    print_table(
        f"{title} (min over {rounds} interleaved rounds)",
        ["candidate", "us/call", "calls/batch", f"ratio to {base}"],
        [[c.label, f"{c.us:.3f}", f"{c.number:,}", f"{c.best / ref.best:.3f}"] for c in candidates],
    )
    return ref


# -- 1. enabled ----------------------------------------------------------------------------------------------
def bench_enabled(profile: Profile, tracked: Callable[[], int]) -> dict[str, Any]:
    configure_isolated(interval=3600, span_processors=[_processor()])
    providers = zgen_otel.get_runtime().providers
    tracer = providers.tracer_provider.get_tracer("bench")
    histogram = providers.meter_provider.get_meter("bench").create_histogram("bench.duration", unit="s")
    plain_provider = TracerProvider()
    plain_provider.add_span_processor(_processor())
    prom_hist = prometheus_client.Histogram("bench_seconds", "d", registry=prometheus_client.CollectorRegistry())

    env: dict[str, Any] = {
        "work": work,
        "tracked": tracked,
        "track_context": track_context,
        "tracer": tracer,
        "plain_tracer": plain_provider.get_tracer("bench"),
        "histogram": histogram,
        "attrs": {"op": "x"},
        "perf_counter": time.perf_counter,
        "prom_hist": prom_hist,
    }
    warm_track = warm_ctx = 3  # warm-up: first spans, first context tokens
    for _ in range(warm_track):
        tracked()
    for _ in range(warm_ctx):
        with track_context("op"):
            work()
    full_tracker = (
        "t0 = perf_counter()\n"
        "with tracer.start_as_current_span('op') as span:\n"
        "    work()\n"
        "    span.set_attribute('outcome', 'success')\n"
        "histogram.record(perf_counter() - t0, attrs)"
    )
    candidates = [
        Candidate("S", "S: SDK start_as_current_span (zgen's provider)", S_STMT, env),
        Candidate("S_plain", "S (plain TracerProvider, informational)", S_STMT.replace("tracer", "plain_tracer"), env),
        Candidate("F", "F: hand-written span + histogram + outcome", full_tracker, env),
        Candidate("floor", "floor: tracer.start_span('op') / span.end()", FLOOR_STMT, env),
        Candidate("track", "zgen @track() (caller's thread)", "tracked()", env),
        Candidate("track_context", "zgen with track_context('op')", "with track_context('op'):\n    work()", env),
        Candidate("prometheus", "prometheus Histogram.time() (no span)", "with prom_hist.time():\n    work()", env),
    ]
    s = _compare("1. Tracking enabled", candidates, profile.rounds, profile.batch_seconds, "S")
    by_key = {c.key: c for c in candidates}

    # Proof that every tracked call was counted: the stats drain the queue first, so they are exact.
    expected_track = warm_track + by_key["track"].calls
    expected_ctx = warm_ctx + by_key["track_context"].calls
    stats = get_performance_stats()
    seen_track = stats["work"].calls if "work" in stats else -1
    seen_ctx = stats["op"].calls if "op" in stats else -1
    dropped = zgen_otel.get_runtime().performance.dropped
    ok = seen_track == expected_track and seen_ctx == expected_ctx and dropped == 0
    print(
        f"\ncount check: get_performance_stats()['work'].calls = {seen_track:,} vs. {expected_track:,} @track calls; "
        f"['op'].calls = {seen_ctx:,} vs. {expected_ctx:,} track_context blocks; dropped = {dropped} "
        f"-> {'OK' if ok else 'MISMATCH'}"
    )
    if not ok:
        print(f"  stats keys: {sorted(stats)}")
    track_over_s = by_key["track"].best / s.best
    print(
        f"ratios: @track / S = {track_over_s:.3f}x (target <= {TARGET_TRACK_OVER_S}x); "
        f"@track / F = {by_key['track'].best / by_key['F'].best:.3f}x; "
        f"@track / floor = {by_key['track'].best / by_key['floor'].best:.3f}x"
    )
    plain_provider.shutdown()
    return {
        **timing_figures(candidates),
        "ratio_to_S": {c.key: c.best / s.best for c in candidates},
        "track_over_S": track_over_s,
        "tracked_calls_expected": expected_track,
        "tracked_calls_seen": seen_track,
        "context_blocks_expected": expected_ctx,
        "context_blocks_seen": seen_ctx,
        "dropped": dropped,
        "count_check_ok": ok,
    }


# -- 2. throughput -------------------------------------------------------------------------------------------
def _run_threads(body: Callable[[], object], threads: int, calls: int) -> tuple[float, int]:
    """Wall seconds for ``threads`` x ``calls`` calls of ``body`` plus the final drain, and the count added."""
    before = _tracked_calls("work")
    barrier = threading.Barrier(threads + 1)

    def loop() -> None:
        barrier.wait()
        for _ in range(calls):
            body()

    pool = [threading.Thread(target=loop) for _ in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    after = _tracked_calls("work")  # drains whatever the background worker has not processed yet
    return time.perf_counter() - start, after - before


def bench_throughput(profile: Profile, tracked: Callable[[], int]) -> dict[str, Any]:
    providers = zgen_otel.get_runtime().providers
    tracer = providers.tracer_provider.get_tracer("bench")
    histogram = providers.meter_provider.get_meter("bench").create_histogram("bench.duration", unit="s")
    attrs = {"op": "x"}

    def raw_span() -> None:
        with tracer.start_as_current_span("op"):
            work()

    def full_tracker() -> None:
        t0 = time.perf_counter()
        with tracer.start_as_current_span("op") as span:
            work()
            span.set_attribute("outcome", "success")
        histogram.record(time.perf_counter() - t0, attrs)

    total = profile.threads * profile.calls_per_thread
    runs: list[tuple[str, str, Callable[[], object], int, int]] = [
        ("S", "S: SDK start_as_current_span (reference)", raw_span, 1, total),
        ("F", "F: hand-written span + histogram (reference)", full_tracker, 1, total),
        ("track_1", "zgen @track()", tracked, 1, total),
        ("track_n", "zgen @track()", tracked, profile.threads, profile.calls_per_thread),
    ]
    out: dict[str, Any] = {}
    rows = []
    for key, label, body, threads, calls in runs:
        seconds, added = _run_threads(body, threads, calls)
        counted = key.startswith("track")
        ok = added == (total if counted else 0)
        out[key] = {"threads": threads, "calls": total, "seconds": seconds, "counted": added, "ok": ok}
        rows.append(
            [
                f"{label}, {threads} thread(s) x {calls:,}",
                f"{seconds:.2f}",
                f"{seconds / total * 1e6:.2f}",
                f"{total / seconds:,.0f}",
                f"+{added:,} ({'OK' if ok else 'MISMATCH'})" if counted else "",
            ]
        )
    print_table(
        "2. Throughput, end to end (wall time incl. background span export and @track's drain; gc on)",
        ["run", "wall s", "us/call", "calls/s", "stats count"],
        rows,
    )
    return out


# -- 3. disabled ---------------------------------------------------------------------------------------------
def bench_disabled(profile: Profile, tracked: Callable[[], int]) -> dict[str, Any]:
    configure_isolated(enabled=False)
    env: dict[str, Any] = {"tracked": tracked, "timed": minimal_timer(work), "work": work}
    candidates = [
        Candidate("disabled", "zgen @track() after configure(enabled=False)", "tracked()", env),
        Candidate("timer", "minimal timer decorator (2x perf_counter_ns + append)", "timed()", env),
        Candidate("bare", "undecorated work() (reference)", "work()", env),
    ]
    timer = _compare("3. Tracking disabled", candidates, profile.rounds_disabled, profile.batch_seconds, "timer")
    ratio = candidates[0].best / timer.best
    stats = get_performance_stats()
    print(
        f"\nratio: disabled @track / minimal timer = {ratio:.3f}x (target <= {TARGET_DISABLED_OVER_TIMER}x); "
        f"get_performance_stats() while disabled = {stats}"
    )
    return {
        **timing_figures(candidates),
        "disabled_over_timer": ratio,
    }


# -- 4. logfire ----------------------------------------------------------------------------------------------
class _Capture(logging.Handler):
    """Collects log records (here: what logfire.configure makes the OTel API log)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the message."""
        self.messages.append(f"{record.name}: {record.getMessage()}")


def _logfire_instrumented() -> tuple[Callable[[], int] | None, str, list[str]]:
    """``work`` decorated with ``@logfire.instrument("op")``, or None and why not."""
    try:
        import logfire
    except Exception as exc:
        return None, f"import failed: {exc!r}", []
    capture = _Capture()
    otel_logger = logging.getLogger("opentelemetry")
    otel_logger.addHandler(capture)
    try:
        logfire.configure(send_to_logfire=False, console=False)
        instrumented: Callable[[], int] = logfire.instrument("op")(work)
        instrumented()
    except Exception as exc:
        return None, f"configure/instrument failed: {exc!r}", capture.messages
    finally:
        otel_logger.removeHandler(capture)
    return instrumented, "", capture.messages


def bench_logfire(profile: Profile, tracked: Callable[[], int]) -> dict[str, Any]:
    configure_isolated(interval=3600, span_processors=[_processor()])
    instrumented, reason, logged = _logfire_instrumented()
    if instrumented is None:
        print(f"\nlogfire: not available ({reason})")
        return {"available": False, "reason": reason}
    tracer = zgen_otel.get_runtime().providers.tracer_provider.get_tracer("bench")
    env: dict[str, Any] = {"work": work, "tracer": tracer, "tracked": tracked, "instrumented": instrumented}
    before = _tracked_calls("work")
    candidates = [
        Candidate("S", "S: SDK start_as_current_span (zgen's provider)", S_STMT, env),
        Candidate("track", "zgen @track() (caller's thread)", "tracked()", env),
        Candidate("logfire", "logfire @logfire.instrument('op')", "instrumented()", env),
    ]
    title = f"4. logfire {metadata.version('logfire')}"
    s = _compare(title, candidates, profile.rounds_logfire, profile.batch_seconds, "S")
    counted = _tracked_calls("work") - before
    ok = counted == candidates[1].calls
    for message in logged:
        print(f"logfire.configure logged: {message}")
    print(
        f"zgen still counts after logfire.configure: +{counted:,} vs. {candidates[1].calls:,} @track calls "
        f"-> {'OK' if ok else 'MISMATCH'}"
    )
    return {
        "available": True,
        **timing_figures(candidates),
        "ratio_to_S": {c.key: c.best / s.best for c in candidates},
        "configure_logged": logged,
        "count_check_ok": ok,
    }


# -- driver --------------------------------------------------------------------------------------------------
def _summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    enabled, threads, disabled = results["enabled"], results["throughput"], results["disabled"]
    track_n = threads["track_n"]
    rows = [
        summary_row(
            f"@track / SDK start_as_current_span <= {TARGET_TRACK_OVER_S}x",
            f"{enabled['track_over_S']:.3f}x",
            enabled["track_over_S"] <= TARGET_TRACK_OVER_S,
        ),
        summary_row(
            "every tracked call in get_performance_stats()",
            f"{enabled['tracked_calls_seen']:,} / {enabled['tracked_calls_expected']:,}",
            enabled["count_check_ok"],
        ),
        summary_row(
            f"{track_n['threads']} threads: stats count exactly +{track_n['calls']:,}",
            f"+{track_n['counted']:,}",
            track_n["ok"] and threads["track_1"]["ok"],
        ),
        summary_row(
            f"disabled @track / minimal timer <= {TARGET_DISABLED_OVER_TIMER}x",
            f"{disabled['disabled_over_timer']:.3f}x",
            disabled["disabled_over_timer"] <= TARGET_DISABLED_OVER_TIMER,
        ),
    ]
    lf = results["logfire"]
    if lf.get("available"):
        ok = lf["count_check_ok"]
        rows.append(summary_row("zgen counts every call after logfire.configure", "OK" if ok else "MISMATCH", ok))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, first_line(__doc__), "smoke run (~10 s): fewer rounds, shorter batches")
    profile = QUICK if args.quick else FULL
    logging.getLogger("opentelemetry.sdk.trace.export").setLevel(logging.ERROR)  # no "Queue full" noise

    dists = ["opentelemetry-sdk", "prometheus_client", "logfire", "zgen-otel"]
    found = versions(*dists)
    print_header("zgen_otel tracking benchmark", profile.name, found, dists)
    started = time.perf_counter()
    tracked = track()(work)
    results: dict[str, Any] = {"profile": profile.name, "versions": found}
    results["enabled"] = bench_enabled(profile, tracked)
    results["throughput"] = bench_throughput(profile, tracked)
    results["disabled"] = bench_disabled(profile, tracked)
    results["logfire"] = bench_logfire(profile, tracked)
    zgen_otel.shutdown()
    finish(results, started, _summary, args.json, with_rss=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
