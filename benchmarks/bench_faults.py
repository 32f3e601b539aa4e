"""The agent's cost with a dead or hanging collector, next to a reachable one, in one run.

Run from the repository root::

    python benchmarks/bench_faults.py            # full run (about 2 minutes on 2 cores)
    python benchmarks/bench_faults.py --quick    # smoke run (about 40 s)
    python benchmarks/bench_faults.py --json out.json

Three collector states, each a fresh ``zgen_otel.configure`` exporting traces and metrics over OTLP/HTTP
(export interval 1 s) to:

- ``reachable``: a minimal OTLP/HTTP receiver in a subprocess that answers 200 to every export;
- ``closed``: a port nobody listens on (connection refused);
- ``hanging``: a socket that listens but never accepts (the kernel completes the handshake; no answer ever).

The states run in rotation for several rounds. In each phase, after a warm-up long enough for the first
export to fail (the exporter then holds the circuit open, see ``zgen_otel._export``), two candidates are
timed with ``timeit``: a ``@track`` call and a ``record_metric`` call. The figure per state is the minimum
per-call time over its phases; the target is a ratio against ``reachable`` of at most 1.1. The run also
reports the RSS growth across the dead phases and the export counters ``/api/monitoring`` shows. The process
exits 0 whether targets are met or missed: it is a report, not a test.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
import timeit
from collections.abc import Callable
from typing import Any

import psutil

import zgen_otel
from zgen_otel import _runtime
from zgen_otel.performance import track

# isort: split
from _common import finish, parse_args, print_header, print_table, rotations, summary_row, versions

RECEIVER = textwrap.dedent(
    """
    import sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)


@track("bench.step")
def step() -> int:
    return 1


def record() -> None:
    zgen_otel.record_metric("queue_depth", 3.0, "bench")


CANDIDATES: dict[str, Callable[[], Any]] = {"@track call": step, "record_metric": record}


def configure(endpoint: str) -> None:
    zgen_otel.configure(
        otlp_endpoint=endpoint, otlp_protocol="http/protobuf", export_interval=1, interval=1,
        system_monitor=False, default_rules=False, host_lock="none", store_path=None,
    )  # fmt: skip


def phase(endpoint: str, warmup: float, number: int, batches: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Configure against ``endpoint``, warm up, then the best per-call time of each candidate."""
    configure(endpoint)
    deadline = time.perf_counter() + warmup
    while time.perf_counter() < deadline:
        for fn in CANDIDATES.values():
            fn()
    best = dict.fromkeys(CANDIDATES, float("inf"))
    for order in rotations(CANDIDATES, batches):
        for name in order:
            best[name] = min(best[name], timeit.timeit(CANDIDATES[name], number=number) / number)
    status = _runtime.get_runtime().providers.export_status()
    return best, status


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, __doc__, "fewer rounds")
    rounds, warmup, number, batches = (2, 5.0, 20_000, 3) if args.quick else (4, 6.0, 50_000, 5)
    started = time.perf_counter()
    found = versions("opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http")
    print_header("zgen_otel collector-fault benchmark", "quick" if args.quick else "full", found,
                 ["opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http"])  # fmt: skip

    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    assert receiver.stdout is not None
    reachable = f"http://127.0.0.1:{receiver.stdout.readline().strip()}"
    closed_sock = socket.socket()
    closed_sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    hanging_sock = socket.socket()
    hanging_sock.bind(("127.0.0.1", 0))
    hanging_sock.listen(1)  # never accepted
    endpoints = {
        "reachable": reachable,
        "closed": f"http://127.0.0.1:{closed_sock.getsockname()[1]}",
        "hanging": f"http://127.0.0.1:{hanging_sock.getsockname()[1]}",
    }
    process = psutil.Process()
    best: dict[str, dict[str, float]] = {state: dict.fromkeys(CANDIDATES, float("inf")) for state in endpoints}
    statuses: dict[str, dict[str, Any]] = {}
    rss: dict[str, list[float]] = {state: [] for state in endpoints}
    try:
        for order in rotations(endpoints, rounds):
            for state in order:
                figures, statuses[state] = phase(endpoints[state], warmup, number, batches)
                rss[state].append(process.memory_info().rss / 2**20)
                for name, seconds in figures.items():
                    best[state][name] = min(best[state][name], seconds)
        t0 = time.perf_counter()
        zgen_otel.shutdown()
        last_shutdown = time.perf_counter() - t0
    finally:
        receiver.terminate()
        receiver.wait(10)
        closed_sock.close()
        hanging_sock.close()

    rows = []
    for state in endpoints:
        for name in CANDIDATES:
            ratio = best[state][name] / best["reachable"][name]
            rows.append([f"{name}, collector {state}", f"{best[state][name] * 1e6:.3f}", f"{ratio:.2f}x"])
    print_table("Per-call cost (min over phases)", ["candidate", "us/call", "vs reachable"], rows)
    export_rows = [
        [state, str(s["traces"]["last_result"]), str(s["traces"]["exported"]), str(s["traces"]["failed"]),
         str(s["traces"]["dropped"]), s["traces"]["circuit"]]
        for state, s in statuses.items()
    ]  # fmt: skip
    print_table("Span export at the end of the last phase (/api/monitoring 'export')",
                ["collector", "last result", "exported", "failed", "dropped", "circuit"], export_rows)  # fmt: skip
    print_table("RSS after each phase (MB)", ["collector", "per round"],
                [[state, " ".join(f"{v:.0f}" for v in values)] for state, values in rss.items()])  # fmt: skip
    print(f"\nshutdown of the last runtime: {last_shutdown:.2f} s")

    results: dict[str, Any] = {
        "versions": found,
        "us_per_call": {state: {k: v * 1e6 for k, v in figures.items()} for state, figures in best.items()},
        "rss_mb": rss,
        "export": statuses,
    }

    def summarize(r: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for state in ("closed", "hanging"):
            for name in CANDIDATES:
                ratio = r["us_per_call"][state][name] / r["us_per_call"]["reachable"][name]
                out.append(summary_row(f"{name}, collector {state} <= 1.1x reachable", f"{ratio:.2f}x", ratio <= 1.1))
        growth = max(max(v) for v in rss.values()) - min(min(v) for v in rss.values())
        out.append(summary_row("RSS bounded across phases (spread < 30 MB)", f"{growth:.0f} MB", growth < 30))
        return out

    finish(results, started, summarize, args.json, with_rss=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
