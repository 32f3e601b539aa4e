"""What the local trace and log views cost the agent: the span buffer per span, log capture per record.

Run from the repository root::

    python benchmarks/bench_signals.py            # full run (about 4 minutes on 2 cores)
    python benchmarks/bench_signals.py --quick    # smoke run (about 30 s)
    python benchmarks/bench_signals.py --json out.json

Three comparisons, each in one process, candidates alternating for many rounds, figure = minimum per-call
time over the rounds (``timeit``, gc off while a batch runs):

1. Span buffer, per span: start and end a span (two attributes) on an SDK ``TracerProvider`` whose
   processor chain is zgen_otel's ``SpanBuffer`` (5,000 spans, the default; full, so every span evicts the
   oldest) next to the same on a plain ``TracerProvider``. No runtime swap between batches, so the
   difference is the buffer's cost on the caller's thread with little noise; target <= 1 us.
2. Span buffer, end to end: the same ``@track`` call with the runtime's buffer on (``max_spans=5000``) and
   off (``max_spans=0``), alternating runtimes. Reported; on a shared VM its noise is about 1 us.
3. Log capture: ``logger.info("step %d done", 7)`` on a logger at INFO with zgen_otel capturing (no handler:
   ``Logger.callHandlers`` keeps the record in the local ring; no OTLP endpoint) next to the same call with
   capture off and a plain ``logging.StreamHandler`` on the root writing to a null stream (a stream whose
   ``write`` and ``flush`` do nothing), alternating runtimes. Target: capture <= 2x the handler. Also
   reported: both together (what a program with its own handler pays) and plain logging with no handler.

The process exits 0 whether targets are met or missed: it is a report, not a test.
"""

from __future__ import annotations

import logging
import time
import timeit
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

import zgen_otel
from zgen_otel.logs import log_buffer_stats
from zgen_otel.performance import track
from zgen_otel.traces import SpanBuffer

# isort: split
from _common import configure_isolated, finish, parse_args, print_header, print_table, summary_row, versions

log = logging.getLogger("bench.agent")
CAPTURE, STREAM = "zgen_otel capture", "plain StreamHandler to a null stream"


@track("bench.step")
def step() -> int:
    return 1


def info() -> None:
    log.info("step %d done", 7)


class NullStream:
    """A stream that takes every write and keeps nothing: the handler's own cost, without any I/O."""

    def write(self, text: str) -> int:
        """Take ``text`` and drop it."""
        return len(text)

    def flush(self) -> None:
        """Nothing is held."""


HANDLER = logging.StreamHandler(NullStream())


def log_phase(capture: bool, handler: bool) -> Callable[[], None]:
    """Set up one phase of the log comparison: capture on or off, the null-stream handler on the root or not."""

    def set_up() -> None:
        logging.getLogger().removeHandler(HANDLER)
        configure_isolated(**QUIET, capture_logs=capture)
        if handler:
            logging.getLogger().addHandler(HANDLER)

    return set_up


ATTRIBUTES = {"code.function.name": "step", "code.namespace": "bench"}
QUIET = {"system_monitor": False, "default_rules": False, "host_lock": "none"}


def span_candidates() -> dict[str, Callable[[], None]]:
    """Start and end one span on a provider with the span buffer, and on a plain one."""
    tracers = {
        "span buffer": TracerProvider(active_span_processor=SpanBuffer(5000)).get_tracer("bench"),
        "plain provider": TracerProvider().get_tracer("bench"),
    }

    def make(tracer: Any) -> Callable[[], None]:
        def one_span() -> None:
            tracer.start_span("bench.step", attributes=ATTRIBUTES).end()

        return one_span

    candidates = {name: make(tracer) for name, tracer in tracers.items()}
    for _ in range(6000):  # fill the ring: from now on every span evicts the oldest
        candidates["span buffer"]()
    return candidates


def best_interleaved(candidates: dict[str, Callable[[], None]], rounds: int, number: int) -> dict[str, float]:
    """The minimum seconds per call of each candidate over ``rounds`` rounds, rotating who goes first."""
    best = dict.fromkeys(candidates, float("inf"))
    names = list(candidates)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            best[name] = min(best[name], timeit.timeit(candidates[name], number=number) / number)
    return best


def best_of(phases: dict[str, Callable[[], None]], fn: Callable[[], Any], rounds: int, number: int) -> dict[str, float]:
    """Per phase (set up by its callable), the minimum seconds per call of ``fn`` over ``rounds`` rounds."""
    best = dict.fromkeys(phases, float("inf"))
    for r in range(rounds):
        order = list(phases)[r % len(phases) :] + list(phases)[: r % len(phases)]
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
    direct = best_interleaved(span_candidates(), rounds * 4, number // 10)
    spans = best_of(
        {
            "buffer on": lambda: configure_isolated(**QUIET, capture_logs=False, max_spans=5000),
            "buffer off": lambda: configure_isolated(**QUIET, capture_logs=False, max_spans=0),
        },
        step,
        rounds,
        number,
    )
    log.setLevel(logging.INFO)
    logs = best_of(
        {
            CAPTURE: log_phase(capture=True, handler=False),
            STREAM: log_phase(capture=False, handler=True),
            "StreamHandler + zgen_otel capture": log_phase(capture=True, handler=True),
            "plain logging, no handler": log_phase(capture=False, handler=False),
        },
        info,
        rounds,
        number,
    )
    logging.getLogger().removeHandler(HANDLER)
    configure_isolated(**QUIET)
    info()
    held = log_buffer_stats()["records"]
    zgen_otel.shutdown()

    per_span = (direct["span buffer"] - direct["plain provider"]) * 1e6
    print_table("start + end one span", ["provider", "us/span"], [[k, f"{v * 1e6:.3f}"] for k, v in direct.items()])
    print(f"span buffer cost per span: {per_span:.3f} us")
    extra_span = (spans["buffer on"] - spans["buffer off"]) * 1e6
    print_table("@track call", ["span buffer", "us/call"], [[k, f"{v * 1e6:.3f}"] for k, v in spans.items()])
    print(f"difference end to end: {extra_span:.3f} us (informative: within this VM's noise)")
    print_table("logger.info", ["set-up", "us/call"], [[k, f"{v * 1e6:.3f}"] for k, v in logs.items()])
    ratio = logs[CAPTURE] / logs[STREAM]
    print(f"log capture: {ratio:.2f}x a StreamHandler to a null stream (capture kept {held} record(s) in the check)")
    results: dict[str, Any] = {
        "versions": found,
        "span_us": {k: v * 1e6 for k, v in direct.items()},
        "span_buffer_us_per_span": per_span,
        "track_us": {k: v * 1e6 for k, v in spans.items()},
        "track_difference_us": extra_span,
        "logger_info_us": {k: v * 1e6 for k, v in logs.items()},
        "log_capture_ratio": ratio,
    }

    def summarize(r: dict[str, Any]) -> list[dict[str, Any]]:
        cost, ratio = r["span_buffer_us_per_span"], r["log_capture_ratio"]
        return [
            summary_row("span buffer <= 1 us per span on the caller's thread", f"{cost:.3f} us", cost <= 1.0),
            summary_row("logger.info captured <= 2x with a StreamHandler to a null stream", f"{ratio:.2f}x",
                        ratio <= 2.0),
        ]  # fmt: skip

    finish(results, started, summarize, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
