"""What the local trace and log views cost the agent: the span buffer per span, the log handler per record.

Run from the repository root::

    python benchmarks/bench_signals.py            # full run (about 40 s on 2 cores)
    python benchmarks/bench_signals.py --quick    # smoke run (about 10 s)
    python benchmarks/bench_signals.py --json out.json

Two comparisons, each in one process, phases alternating for several rounds, figure = minimum per-call time
over the rounds (``timeit``, gc off while a batch runs):

1. Span buffer: the same ``@track`` call with the buffer on (``max_spans=5000``, the default) and off
   (``max_spans=0``). The difference is the buffer's cost per span on the caller's thread; target <= 1 us.
2. Log handler: ``logger.info("step %d done", 7)`` on a logger at INFO, with zgen_otel capturing logs (the
   OTel handler on the root logger, the local ring, no OTLP endpoint) next to plain ``logging`` with no
   handler at all. Reported, no target.

The process exits 0 whether targets are met or missed: it is a report, not a test.
"""

from __future__ import annotations

import logging
import time
import timeit
from collections.abc import Callable
from typing import Any

import zgen_otel
from zgen_otel.performance import track

# isort: split
from _common import configure_isolated, finish, parse_args, print_header, print_table, summary_row, versions

log = logging.getLogger("bench.agent")


@track("bench.step")
def step() -> int:
    return 1


def info() -> None:
    log.info("step %d done", 7)


def best_of(phases: dict[str, Callable[[], None]], fn: Callable[[], Any], rounds: int, number: int) -> dict[str, float]:
    """Per phase (set up by its callable), the minimum seconds per call of ``fn`` over ``rounds`` rounds."""
    best = dict.fromkeys(phases, float("inf"))
    for r in range(rounds):
        order = list(phases)[r % 2 :] + list(phases)[: r % 2]
        for name in order:
            phases[name]()
            for _ in range(3):
                best[name] = min(best[name], timeit.timeit(fn, number=number) / number)
    return best


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, __doc__, "fewer rounds")
    rounds, number = (4, 20_000) if args.quick else (10, 50_000)
    started = time.perf_counter()
    found = versions("opentelemetry-sdk", "opentelemetry-instrumentation-logging")
    print_header("zgen_otel traces and logs benchmark", "quick" if args.quick else "full", found,
                 ["opentelemetry-sdk", "opentelemetry-instrumentation-logging"])  # fmt: skip
    quiet = {"system_monitor": False, "default_rules": False, "host_lock": "none", "capture_logs": False}
    spans = best_of(
        {
            "buffer on": lambda: configure_isolated(**quiet, max_spans=5000),
            "buffer off": lambda: configure_isolated(**quiet, max_spans=0),
        },
        step,
        rounds,
        number,
    )
    log.setLevel(logging.INFO)
    logs = best_of(
        {
            "zgen_otel capture": lambda: configure_isolated(**{**quiet, "capture_logs": True}),
            "plain logging, no handler": lambda: configure_isolated(**quiet),
        },
        info,
        rounds,
        number,
    )
    held = len(zgen_otel.get_runtime().log_buffer.records) if zgen_otel.get_runtime().log_buffer else 0
    zgen_otel.shutdown()

    extra_span = (spans["buffer on"] - spans["buffer off"]) * 1e6
    print_table("@track call", ["span buffer", "us/call"], [[k, f"{v * 1e6:.3f}"] for k, v in spans.items()])
    print(f"span buffer cost per span: {extra_span:.3f} us")
    print_table("logger.info", ["set-up", "us/call"], [[k, f"{v * 1e6:.3f}"] for k, v in logs.items()])
    ratio = logs["zgen_otel capture"] / logs["plain logging, no handler"]
    print(f"log capture: {ratio:.1f}x plain logging ({held} records held at the end, bounded by ZGEN_OTEL_MAX_LOGS)")
    results: dict[str, Any] = {
        "versions": found,
        "track_us": {k: v * 1e6 for k, v in spans.items()},
        "span_buffer_us_per_span": extra_span,
        "logger_info_us": {k: v * 1e6 for k, v in logs.items()},
        "log_capture_ratio": ratio,
    }

    def summarize(r: dict[str, Any]) -> list[dict[str, Any]]:
        cost = r["span_buffer_us_per_span"]
        return [summary_row("span buffer <= 1 us per span on the caller's thread", f"{cost:.3f} us", cost <= 1.0)]

    finish(results, started, summarize, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
