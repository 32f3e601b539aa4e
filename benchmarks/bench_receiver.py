"""Benchmark the OTLP receiver of ``zgen-otel serve``: ingest cost, trace throughput beside Arize Phoenix, fleet CPU.

Run from the repository root::

    python benchmarks/bench_receiver.py --phoenix /path/to/phoenix-venv/bin/python   # full run, 4-6 minutes
    python benchmarks/bench_receiver.py --quick                                       # smoke run, 1-2 minutes
    python benchmarks/bench_receiver.py --json out.json --profile

The payloads are made with the real OTel SDK (see ``_otlp_payloads.py``): 512-span batches of agent runs
(gen_ai.* attributes, nested agent / LLM / tool / HTTP spans, failing tools with stack traces) and
cumulative metric exports of about 200 series from simulated zgen_otel agents.

Sections:

1. Ingest cost, in this process: the bare protobuf decode (``ExportTraceServiceRequest.FromString``,
   ``ExportMetricsServiceRequest.FromString``) beside decode + ``Receiver.export_traces`` / ``export_metrics``,
   in interleaved rounds, per span and per data point. Target: ingest <= 10x the bare decode.
2. Trace ingest over OTLP/HTTP: ``zgen-otel serve`` and Arize Phoenix (``--phoenix PYTHON``, its own
   virtual environment) each get the same batches from 4 client threads for a fixed time; spans acknowledged
   per second and the server's CPU time per span. Phoenix acknowledges a batch before it stores it (into an
   in-memory queue, then 503 when that is full), so the run also times how fast it then writes the spans to
   its database: its sustained rate. Target: zgen >= 100x Phoenix.
3. A fleet: 10 agents (distinct ``service.instance.id``) each send a metrics export every 5 s to
   ``zgen-otel serve``; the server's CPU share and memory. Target: <= 5 % of one core.
4. With ``--profile``: where ``export_traces`` and ``export_metrics`` spend their time (cProfile).

The process exits 0 whether targets are met or missed: it is a report, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import ctypes
import gc
import json
import os
import pstats
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from zgen_otel.receiver import Receiver
from zgen_otel.receiver.values import attributes, origin
from zgen_otel.store import MetricStore, Series

# isort: split
# benchmarks/_common.py and friends: the script's folder is on sys.path when it runs as a script
from _common import finish, first_line, print_header, print_table, rotations, summary_row, versions
from _otlp_load import LoadResult, ServerProcess, drive_traces, free_port, run_fleet
from _otlp_payloads import BATCH_SPANS, AgentMetrics, mixed_batches, point_count, span_batches

REPO = Path(__file__).resolve().parent.parent
TARGET_INGEST_RATIO = 10.0  # ingest / bare decode, per span and per point
TARGET_PHOENIX_RATIO = 100.0  # zgen spans/s / Phoenix spans/s
TARGET_FLEET_CPU = 5.0  # % of one core
AGENT_BATCHES = 2  # span batches per simulated agent; 4 agents
FLEET_AGENTS = 10


@dataclass
class Profile:
    """How much work each section does."""

    name: str
    rounds: int  # interleaved rounds in section 1
    trace_requests: int  # 512-span requests per candidate and round
    metric_requests: int  # metric exports per candidate and round
    http_seconds: float  # load on each server in section 2
    drain_wait: float  # the longest wait for Phoenix to start writing after its load, section 2
    drain_seconds: float  # Phoenix watched writing what it accepted, section 2
    idle_seconds: float  # serve left alone before the fleet, section 3
    fleet_seconds: float  # the fleet's run, section 3


FULL = Profile("full", 15, 8, 20, 20.0, 120.0, 30.0, 20.0, 60.0)
QUICK = Profile("quick", 4, 4, 8, 5.0, 30.0, 10.0, 5.0, 20.0)


# -- 1. ingest cost ------------------------------------------------------------------------------------------
@dataclass
class Timed:
    """One candidate of section 1: ``batch(n)`` runs ``n`` requests and returns the seconds spent on them."""

    key: str
    label: str
    batch: Callable[[int], float]
    items: int  # spans or points per request
    per_item: list[float] = field(default_factory=list)  # seconds per item, one figure per round
    base: Timed | None = None  # the bare decode it is compared with, when not the table's first row

    @property
    def best_us(self) -> float:
        """The smallest per-item time over the rounds, in microseconds."""
        return min(self.per_item) * 1e6

    @property
    def median_us(self) -> float:
        """The median per-item time over the rounds, in microseconds."""
        ordered = sorted(self.per_item)
        return ordered[len(ordered) // 2] * 1e6


def _timed_loop(work: Callable[[bytes], object], payloads: Sequence[bytes]) -> float:
    """Seconds ``work`` takes over ``payloads`` (the garbage collector on, as in a server)."""
    started = time.perf_counter()
    for payload in payloads:
        work(payload)
    return time.perf_counter() - started


def _read_rows(payload: bytes) -> None:
    """Decode and read the fields a span row keeps of every span, storing nothing: the floor of any row."""
    for resource_spans in ExportTraceServiceRequest.FromString(payload).resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                _ = (span.trace_id, span.span_id, span.parent_span_id, span.name, span.start_time_unix_nano,
                     span.end_time_unix_nano, span.status.code)  # fmt: skip


class _Cycle:
    """The next ``n`` items of a list, round and round."""

    def __init__(self, items: Sequence[bytes]) -> None:
        self.items, self.i = items, 0

    def take(self, n: int) -> list[bytes]:
        out = [self.items[(self.i + k) % len(self.items)] for k in range(n)]
        self.i += n
        return out


def _receiver(max_spans: int = 5000) -> Receiver:
    return Receiver(MetricStore(), time.time, max_spans=max_spans)


def _ingest_traces(receiver: Receiver) -> Callable[[bytes], object]:
    """Decode a serialized trace export and give it to ``receiver``."""
    return lambda payload: receiver.export_traces(ExportTraceServiceRequest.FromString(payload))


def _ingest_metrics(receiver: Receiver) -> Callable[[bytes], object]:
    """Decode a serialized metrics export and give it to ``receiver``."""
    return lambda payload: receiver.export_metrics(ExportMetricsServiceRequest.FromString(payload))


def _full_receiver(batches: list[bytes]) -> Receiver:
    """A receiver whose rings of 5,000 spans are full of ``batches``: each new span pushes out the oldest."""
    receiver = _receiver()
    for payload in batches * (2 + 5000 // (BATCH_SPANS * len(batches))):
        receiver.export_traces(ExportTraceServiceRequest.FromString(payload))
    return receiver


def _trace_candidates(batches: list[bytes]) -> list[Timed]:
    decode = ExportTraceServiceRequest.FromString
    feed = _Cycle(batches)
    evicting = _full_receiver(batches)

    def filling(n: int) -> float:
        receiver = _receiver(max_spans=n * BATCH_SPANS)  # a fresh receiver whose ring takes the whole batch
        return _timed_loop(_ingest_traces(receiver), feed.take(n))

    return [
        Timed("decode", "bare decode: ExportTraceServiceRequest.FromString",
              lambda n: _timed_loop(decode, feed.take(n)), BATCH_SPANS),
        Timed("rows_floor", "decode + read each span's row fields (no storing)",
              lambda n: _timed_loop(_read_rows, feed.take(n)), BATCH_SPANS),
        Timed("ingest_filling", "decode + export_traces, ring filling", filling, BATCH_SPANS),
        Timed("ingest_evicting", "decode + export_traces, full ring (5,000) evicting",
              lambda n: _timed_loop(_ingest_traces(evicting), feed.take(n)), BATCH_SPANS),
    ]  # fmt: skip


def _mixed_candidates(batches: list[bytes]) -> list[Timed]:
    """Requests of two services (their spans are copied), and their bare decode, into full rings.

    Run in rounds of their own after the others: their receiver's 5,400 rows would make the garbage
    collector's full passes longer for the candidates that allocate (the ring filling).
    """
    mixed = mixed_batches(batches)
    decode_feed, feed, receiver = _Cycle(mixed), _Cycle(mixed), _full_receiver(mixed)
    decode = Timed("mixed_decode", "", lambda n: _timed_loop(ExportTraceServiceRequest.FromString,
                                                                decode_feed.take(n)), BATCH_SPANS)  # fmt: skip
    label = "(requests of two services, 511 + 1 spans: spans copied; full rings)"
    ingest = Timed("ingest_mixed", label, lambda n: _timed_loop(_ingest_traces(receiver), feed.take(n)), BATCH_SPANS,
                   base=decode)  # fmt: skip
    return [decode, ingest]


def _points(payload: bytes) -> Iterator[tuple[str, Any]]:
    """Decode a metrics export and yield each data point with its kind."""
    for resource_metrics in ExportMetricsServiceRequest.FromString(payload).resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                for point in getattr(metric, kind).data_points:
                    yield kind, point


def _read_point(kind: str, point: Any) -> tuple[int, float, Any]:
    """A point's time, value (a histogram's sum) and attribute list, as any ingest must read them."""
    value = point.sum if kind == "histogram" else point.as_double or point.as_int
    return point.time_unix_nano, value, point.attributes


def _read_points(payload: bytes) -> None:
    """Decode and read every point's time, value and attributes, storing nothing: the floor of any ingest."""
    for kind, point in _points(payload):
        _read_point(kind, point)


def _store_floor(first: bytes) -> Callable[[bytes], None]:
    """Decode, read every point, and append its value to a store series found by its position alone.

    The floor of any ingest that stores one sample per point (no attribute check, no cumulative state):
    ``export_metrics`` stores 1.4 samples a point (rates, histogram count and sum).
    """
    store = MetricStore()
    series: list[Series] = []
    for n, _ in enumerate(_points(first)):
        found = store.get_or_create(f"m{n}", (("position", n),))
        assert found is not None
        series.append(found)

    def work(payload: bytes) -> None:
        for target, (kind, point) in zip(series, _points(payload), strict=True):
            ns, value, _ = _read_point(kind, point)
            target.append(ns / 1e9, value)

    return work


def _metric_candidates(exports: list[bytes], points: int) -> list[Timed]:
    decode = ExportMetricsServiceRequest.FromString
    read_floor, store_floor = _Cycle(exports[1:]), _Cycle(exports[1:])
    stored = _store_floor(exports[0])
    steady = _receiver()
    steady.export_metrics(decode(exports[0]))  # the agent's series exist: every later export continues them
    in_order = _Cycle(exports[1:])
    any_order = _Cycle(exports[1:])

    def first_contact(n: int) -> float:
        total = 0.0
        for payload in any_order.take(n):
            receiver = _receiver()  # a new agent: the export creates its ~270 store series
            total += _timed_loop(_ingest_metrics(receiver), [payload])
        return total

    return [
        Timed("decode", "bare decode: ExportMetricsServiceRequest.FromString",
              lambda n: _timed_loop(decode, any_order.take(n)), points),
        Timed("read_floor", "decode + read each point's time, value, attributes (no storing)",
              lambda n: _timed_loop(_read_points, read_floor.take(n)), points),
        Timed("store_floor", "decode + read + append one sample a point to a series by position",
              lambda n: _timed_loop(stored, store_floor.take(n)), points),
        Timed("ingest", "decode + export_metrics, the next cumulative export",
              lambda n: _timed_loop(_ingest_metrics(steady), in_order.take(n)), points),
        Timed("first_contact", "(the first export of a new agent: creates its series)", first_contact, points),
    ]  # fmt: skip


def _run_rounds(candidates: list[Timed], rounds: int, requests: int) -> None:
    """Run one batch of ``requests`` of every candidate per round, round-robin, rotating who goes first."""
    for cand in candidates:  # warm-up
        cand.batch(1)
    for order in rotations(candidates, rounds):
        for cand in order:
            cand.per_item.append(cand.batch(requests) / (requests * cand.items))


def _print_candidates(title: str, unit: str, candidates: list[Timed]) -> dict[str, Any]:
    """Print a table of ``candidates``, each compared with its ``base`` (the first row when it has none)."""
    ratios = {c.key: c.best_us / (c.base or candidates[0]).best_us for c in candidates}
    print_table(
        title,
        ["candidate", f"us/{unit} (min)", f"us/{unit} (median)", "ratio to decode (min)"],
        [[c.label, f"{c.best_us:.3f}", f"{c.median_us:.3f}", f"{ratios[c.key]:.2f}x"] for c in candidates],
    )
    return {c.key: {"us_min": c.best_us, "us_median": c.median_us, "ratio": ratios[c.key]} for c in candidates}


def _trim_heap() -> None:
    """Give the C heap's free memory back to the system (glibc only; elsewhere nothing happens)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _pointing(receiver: Receiver, request: Any) -> None:
    """Keep a request's spans as the receiver did before it copied those of requests of several resources.

    Each resource's spans go to its service's ring as rows that point into the decoded request (for comparison:
    ``export_traces`` copies the spans of such requests).
    """
    for resource_spans in request.resource_spans:
        who = origin(attributes(resource_spans.resource.attributes))
        receiver.rings.add_spans(resource_spans.scope_spans, who, {}, copy=False)


def _held_mb(payloads: list[bytes], requests: int, max_spans: int,
             ingest: Callable[[Receiver, Any], object] = Receiver.export_traces) -> dict[str, float]:  # fmt: skip
    """Resident memory this process gains by giving ``requests`` of ``payloads`` to a receiver, and its spans.

    The receiver's rings keep ``max_spans`` spans a service; ``ingest(receiver, request)`` stores a request.
    Memory freed before (by other candidates) is given back to the system first where the C library can
    (glibc's ``malloc_trim``), so that it is not counted as reused.
    """
    gc.collect()
    _trim_heap()
    me = psutil.Process()
    before = me.memory_info().rss
    receiver = _receiver(max_spans=max_spans)
    for payload in _Cycle(payloads).take(requests):
        ingest(receiver, ExportTraceServiceRequest.FromString(payload))
    gc.collect()
    held = me.memory_info().rss - before
    spans = len(receiver.rings.span_rows())
    del receiver
    return {"requests": requests, "spans": spans, "mb": held / 1e6, "bytes_per_span": held / spans}


def bench_ingest(profile: Profile, batches: list[bytes], exports: list[bytes]) -> dict[str, Any]:
    traces = _trace_candidates(batches)
    points = point_count(exports[0])
    metrics = _metric_candidates(exports, points)
    _run_rounds(traces, profile.rounds, profile.trace_requests)
    _run_rounds(metrics, profile.rounds, profile.metric_requests)
    mixed = _mixed_candidates(batches)
    _run_rounds(mixed, profile.rounds, profile.trace_requests)
    per = f"{profile.rounds} interleaved rounds"
    out: dict[str, Any] = {
        "spans": _print_candidates(
            f"1a. Spans: {BATCH_SPANS}-span batches, {profile.trace_requests} requests per candidate and round, {per}",
            "span", [*traces, mixed[1]]),
        "points": _print_candidates(
            f"1b. Metric points: exports of {points} points, {profile.metric_requests} per candidate and round, {per}",
            "point", metrics),
    }  # fmt: skip
    out["span_ratio"] = out["spans"]["ingest_evicting"]["ratio"]
    out["span_ratio_filling"] = out["spans"]["ingest_filling"]["ratio"]
    out["point_ratio"] = out["points"]["ingest"]["ratio"]
    out["points_per_export"] = points
    out["spans"]["mixed_decode"] = {"us_min": mixed[0].best_us, "us_median": mixed[0].median_us, "ratio": 1.0}
    spans = 10 * 5000 if profile.name == "full" else 10_000
    held = out["held"] = _held_mb(batches, spans // BATCH_SPANS, spans)
    print(f"\nmemory: {held['spans']:,} spans kept in a ring hold {held['mb']:.1f} MB of this process's RSS "
          f"({held['bytes_per_span']:.0f} B per span, the decoded requests they point into included)")  # fmt: skip
    mixed = out["held_mixed"] = _held_mb(mixed_batches(batches), 400, 5000)
    pointing = out["held_mixed_pointing"] = _held_mb(mixed_batches(batches), 400, 5000, _pointing)
    print(f"memory: {mixed['requests']} requests of two services (511 + 1 spans) into rings of 5,000 spans: "
          f"{mixed['spans']:,} spans kept, {mixed['mb']:.1f} MB of RSS (such requests' spans are copied; "
          f"rows pointing into the requests instead: {pointing['mb']:.1f} MB)")  # fmt: skip
    return out


# -- 2. trace ingest over OTLP/HTTP ---------------------------------------------------------------------------
def _clean_env() -> dict[str, str]:
    """This process's environment without OTel or zgen_otel settings (servers start with their defaults)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ZGEN_OTEL_", "PHOENIX_"))}


def _zgen_server(workdir: str) -> ServerProcess:
    otlp = free_port()
    command = [sys.executable, "-m", "zgen_otel", "serve", "--port", str(free_port()), "--otlp-port", str(otlp),
               "--otlp-grpc-port", "0"]  # fmt: skip
    env = {**_clean_env(), "PYTHONPATH": str(REPO)}
    return ServerProcess("zgen-otel serve", command, env, otlp, workdir, start_timeout=60)


def _zgen_status(server: ServerProcess) -> dict[str, Any]:
    """What ``GET /api/monitoring`` of a running ``zgen-otel serve`` says (store, received telemetry...)."""
    port = server.command[server.command.index("--port") + 1]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/monitoring", timeout=10) as answer:
        found: dict[str, Any] = json.load(answer)
    return found


def _phoenix_version(python: str) -> str | None:
    """The arize-phoenix version installed for ``python``, or None when it cannot import phoenix."""
    code = "from importlib.metadata import version; import phoenix.server.main; print(version('arize-phoenix'))"
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _phoenix_server(python: str, workdir: str) -> ServerProcess:
    port = free_port()
    env = {**_clean_env(), "PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(port),
           "PHOENIX_GRPC_PORT": str(free_port()), "PHOENIX_WORKING_DIR": workdir,
           "PHOENIX_TELEMETRY_ENABLED": "false", "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
           "PHOENIX_DISABLE_AGENT_ASSISTANT": "true", "PHOENIX_ENABLE_MCP_SERVER": "false"}  # fmt: skip
    return ServerProcess("Phoenix", [python, "-m", "phoenix.server.main", "serve"], env, port, workdir)


def _phoenix_stored(workdir: str, default: int = 0) -> int:
    """Spans Phoenix has written to its SQLite database so far (``default`` when it cannot be read now)."""
    try:
        with sqlite3.connect(f"file:{workdir}/phoenix.db?mode=ro", uri=True, timeout=10) as db:
            return int(db.execute("SELECT count(*) FROM spans").fetchone()[0])
    except sqlite3.Error:
        return default


def _drive_phoenix(python: str, batches: list[bytes], profile: Profile) -> tuple[LoadResult, dict[str, Any]]:
    """Load a fresh Phoenix for ``http_seconds``, then time how fast it writes what it accepted to its database.

    After the load, Phoenix is given up to ``drain_wait`` seconds to start writing; from its first written
    span on, its spans in the database and its CPU time are read over ``drain_seconds``.
    """
    with tempfile.TemporaryDirectory(prefix="bench-phoenix-") as workdir, _phoenix_server(python, workdir) as px:
        found = drive_traces(px, batches, BATCH_SPANS, profile.http_seconds)
        stored = first = _phoenix_stored(workdir)
        waited = time.perf_counter()
        while first == stored and time.perf_counter() - waited < profile.drain_wait:
            time.sleep(1.0)
            first = _phoenix_stored(workdir, first)
        waited = time.perf_counter() - waited
        cpu, started = px.cpu_seconds(), time.perf_counter()
        time.sleep(profile.drain_seconds if first > stored else 0.0)
        last = _phoenix_stored(workdir, first)
        cpu, elapsed = px.cpu_seconds() - cpu, time.perf_counter() - started
    written = last - first
    drain = {"waited_seconds": waited, "seconds": elapsed, "written": written,
             "spans_per_second": written / elapsed if elapsed else 0.0, "cpu_seconds": cpu,
             "cpu_ms_per_span": cpu / written * 1e3 if written else float("inf")}  # fmt: skip
    return found, {**_load_dict(found), "stored": stored, "drain": drain}


def _load_row(name: str, result: LoadResult) -> list[str]:
    return [name, f"{result.per_second:,.0f}", f"{result.acked:,}", f"{result.busy:,}", f"{len(result.errors)}",
            f"{result.cpu_us_per_item:,.1f}", f"{result.rss_mb:,.0f}"]  # fmt: skip


def _load_dict(result: LoadResult) -> dict[str, Any]:
    return {"spans_per_second": result.per_second, "acked": result.acked, "rejected": result.rejected,
            "busy_503": result.busy, "requests": result.requests, "errors": result.errors[:5],
            "error_count": len(result.errors), "seconds": result.seconds, "cpu_seconds": result.cpu_seconds,
            "cpu_us_per_span": result.cpu_us_per_item, "rss_mb": result.rss_mb}  # fmt: skip


def _drive_zgen(batches: list[bytes], seconds: float) -> tuple[LoadResult, int] | None:
    """Load ``zgen-otel serve`` with ``batches``; return the result and the spans its receiver counted.

    None (and why, printed) when the server cannot be started.
    """
    with tempfile.TemporaryDirectory(prefix="bench-zgen-") as workdir:
        try:
            with _zgen_server(workdir) as zgen:
                result = drive_traces(zgen, batches, BATCH_SPANS, seconds)
                received = _zgen_status(zgen).get("received") or {}
        except RuntimeError as exc:
            print(f"\nzgen-otel serve could not be driven: {exc}")
            return None
    return result, sum(sender["spans"] for sender in received.get("senders", []))


def bench_http(profile: Profile, batches: list[bytes], phoenix: str | None, decode_us: float) -> dict[str, Any]:
    seconds = profile.http_seconds
    version = _phoenix_version(phoenix) if phoenix else None
    out: dict[str, Any] = {"seconds": seconds, "threads": 4, "phoenix_version": version, "phoenix": None}
    rows = []
    if phoenix and version:
        found, out["phoenix"] = _drive_phoenix(phoenix, batches, profile)
        rows.append(_load_row(f"Phoenix {version}", found))
    else:
        print(f"\nPhoenix not available ({phoenix or 'no --phoenix given'}): zgen is compared with the bare decode")
    driven = _drive_zgen(batches, seconds)
    result = driven[0] if driven else None
    out["zgen"] = {**_load_dict(driven[0]), "received": driven[1]} if driven else None
    if driven:
        rows.append(_load_row("zgen-otel serve", driven[0]))
    decode_rate = 1e6 / decode_us
    rows.append(["(bare decode in one thread, section 1)", f"{decode_rate:,.0f}", "", "", "", f"{decode_us:.2f}", ""])
    print_table(
        f"2. Trace ingest over OTLP/HTTP: {BATCH_SPANS}-span batches from 4 keep-alive clients, {seconds:.0f} s each",
        ["server", "spans/s acked", "spans acked", "503 answers", "errors", "CPU us/span", "RSS MB"],
        rows,
    )
    px = out["phoenix"]
    if px:
        drain = px["drain"]
        print(f"Phoenix had written {px['stored']:,} of the {px['acked']:,} spans it acknowledged to its database "
              f"when its load ended; it began writing {drain['waited_seconds']:.0f} s later, then wrote "
              f"{drain['written']:,} spans in {drain['seconds']:.0f} s: {drain['spans_per_second']:,.1f} spans/s, "
              f"{drain['cpu_ms_per_span']:,.1f} ms of CPU per span written")  # fmt: skip
        if drain["spans_per_second"]:
            out["ratio_to_written"] = result.per_second / drain["spans_per_second"] if result else None
    if result and px:
        out["ratio"] = result.per_second / px["spans_per_second"] if px["spans_per_second"] else float("inf")
        print(f"zgen / Phoenix: {out['ratio']:,.1f}x the spans per second, "
              f"{px['cpu_us_per_span'] / result.cpu_us_per_item:,.1f}x less CPU per span")  # fmt: skip
    if driven:
        print(f"zgen's receiver counted {driven[1]:,} spans received, for {driven[0].acked:,} acknowledged")
    if result:
        out["ratio_to_decode"] = result.per_second / decode_rate
        print(f"zgen over HTTP / bare decode in one thread: {out['ratio_to_decode']:.3f}x the spans per second")
    for name in ("phoenix", "zgen"):
        if out[name] and out[name]["errors"]:
            print(f"{name} errors (first {len(out[name]['errors'])}): {out[name]['errors']}")
    return out


# -- 3. a fleet of agents -------------------------------------------------------------------------------------
def bench_fleet(profile: Profile) -> dict[str, Any] | None:
    agents = [AgentMetrics(n) for n in range(FLEET_AGENTS)]

    def exporter(agent: AgentMetrics) -> Callable[[], tuple[bytes, int]]:
        def export() -> tuple[bytes, int]:
            body = agent.export(time.time_ns()).SerializeToString()
            return body, point_count(body)

        return export

    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as workdir:
        try:
            with _zgen_server(workdir) as zgen:
                time.sleep(2.0)  # past start-up
                cpu, started = zgen.cpu_seconds(), time.perf_counter()
                time.sleep(profile.idle_seconds)
                idle = (zgen.cpu_seconds() - cpu) / (time.perf_counter() - started) * 100
                idle_rss = zgen.rss_mb()
                result = run_fleet(zgen, [exporter(a) for a in agents], profile.fleet_seconds)
                status = _zgen_status(zgen)
        except RuntimeError as exc:
            print(f"\nzgen-otel serve could not be driven: {exc}")
            return None
    for agent in agents:
        agent.close()
    share = result.cpu_seconds / result.seconds * 100
    store, senders = status.get("store", {}), (status.get("received") or {}).get("senders", [])
    print_table(
        f"3. {FLEET_AGENTS} agents x {agents[0].series} points every 5 s to zgen-otel serve "
        f"over OTLP/HTTP, {profile.fleet_seconds:.0f} s",
        ["figure", "value"],
        [
            ["serve CPU with the fleet (% of one core)", f"{share:.2f} %"],
            [f"serve CPU alone before, {profile.idle_seconds:.0f} s (% of one core)", f"{idle:.2f} %"],
            ["exports answered 200 / answered", f"{result.ok:,} / {result.requests:,}"],
            ["points acknowledged (rejected)", f"{result.acked:,} ({result.rejected:,})"],
            ["errors", f"{len(result.errors)}"],
            ["serve RSS alone / after the fleet", f"{idle_rss:.0f} / {result.rss_mb:.0f} MB"],
            ["senders in serve's table", f"{len(senders)}"],
            ["store series / points after the fleet", f"{store.get('series', '?'):,} / {store.get('points', '?'):,}"],
        ],
    )
    return {"cpu_percent": share, "idle_cpu_percent": idle, "rss_mb": result.rss_mb, "idle_rss_mb": idle_rss,
            "exports": result.requests, "busy_503": result.busy, "points_acked": result.acked,
            "points_rejected": result.rejected, "errors": result.errors[:5], "error_count": len(result.errors),
            "seconds": result.seconds, "store": store, "senders": len(senders)}  # fmt: skip


# -- 4. profile ----------------------------------------------------------------------------------------------
def bench_profile(batches: list[bytes], exports: list[bytes], top: int = 14) -> None:
    """Print the functions where ``export_traces`` and ``export_metrics`` spend their time, by own time."""
    decode_t, decode_m = ExportTraceServiceRequest.FromString, ExportMetricsServiceRequest.FromString
    receiver = _receiver()
    receiver.export_metrics(decode_m(exports[0]))
    traces = [decode_t(p) for p in batches * 4]
    metrics = [decode_m(p) for p in exports[1:]]
    for title, requests, export in (("export_traces", traces, receiver.export_traces),
                                    ("export_metrics", metrics, receiver.export_metrics)):  # fmt: skip
        profiler = cProfile.Profile()
        profiler.enable()
        for request in requests:
            export(request)
        profiler.disable()
        print(f"\n== 4. cProfile of {title} over {len(requests)} decoded requests (own time, top {top}) ==")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


# -- driver --------------------------------------------------------------------------------------------------
def _summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    ingest, http, fleet = results["ingest"], results["http"], results["fleet"]
    rows: list[dict[str, Any]] = []
    if ingest is not None:
        spans, points = ingest["spans"], ingest["points"]
        rows.append(summary_row(
            "span ingest <= 10x bare decode (full ring; filling)",
            f"{spans['ingest_evicting']['us_min']:.2f} / {spans['decode']['us_min']:.2f} us "
            f"= {ingest['span_ratio']:.1f}x; {ingest['span_ratio_filling']:.1f}x",
            max(ingest["span_ratio"], ingest["span_ratio_filling"]) <= TARGET_INGEST_RATIO,
        ))  # fmt: skip
        rows.append(summary_row(
            "metric point ingest <= 10x bare decode",
            f"{points['ingest']['us_min']:.2f} / {points['decode']['us_min']:.3f} us = {ingest['point_ratio']:.1f}x",
            ingest["point_ratio"] <= TARGET_INGEST_RATIO,
        ))  # fmt: skip
    zgen, px = (http["zgen"], http["phoenix"]) if http else (None, None)
    if http is None:
        rows.append(summary_row("OTLP/HTTP trace ingest >= 100x Phoenix's", "not run", None))
    elif zgen and px:
        rows.append(summary_row(
            f"OTLP/HTTP spans acknowledged >= 100x Phoenix's, first {http['seconds']:.0f} s of each",
            f"{zgen['spans_per_second']:,.0f} / {px['spans_per_second']:,.0f} spans/s = {http['ratio']:,.0f}x",
            http["ratio"] >= TARGET_PHOENIX_RATIO,
        ))  # fmt: skip
        written = px["drain"]["spans_per_second"]
        rows.append(summary_row(
            ">= 100x Phoenix's sustained rate (spans it writes per second)",
            f"{zgen['spans_per_second']:,.0f} / {written:,.1f} spans/s = {http['ratio_to_written']:,.0f}x"
            if written else "Phoenix wrote nothing in the time given",
            written > 0 and http["ratio_to_written"] >= TARGET_PHOENIX_RATIO,
        ))  # fmt: skip
    else:
        measured = "serve has no OTLP endpoint" if not zgen else (
            f"Phoenix not available; zgen {zgen['spans_per_second']:,.0f} spans/s "
            f"= {http['ratio_to_decode']:.2f}x the bare decode")  # fmt: skip
        rows.append(summary_row("OTLP/HTTP trace ingest >= 100x Phoenix's", measured, None))
    if fleet is not None:
        rows.append(summary_row(
            f"{FLEET_AGENTS} agents x ~200 series every 5 s: serve <= 5 % of a core",
            f"{fleet['cpu_percent']:.2f} % (alone {fleet['idle_cpu_percent']:.2f} %), RSS {fleet['rss_mb']:.0f} MB",
            fleet["cpu_percent"] <= TARGET_FLEET_CPU and not fleet["error_count"],
        ))  # fmt: skip
    else:
        rows.append(summary_row(f"{FLEET_AGENTS} agents every 5 s: serve <= 5 % of a core", "not run", None))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=first_line(__doc__))
    parser.add_argument("--quick", action="store_true", help="smoke run (~1 min): fewer rounds, shorter loads")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    parser.add_argument("--phoenix", metavar="PYTHON", help="the python of a virtual environment with arize-phoenix")
    parser.add_argument("--profile", action="store_true", help="also print where the receiver spends its time")
    parser.add_argument("--sections", default="1,2,3", metavar="LIST",
                        help="the sections to run: 1,2,3 (default); 1 for the ingest cost alone")  # fmt: skip
    args = parser.parse_args(argv)
    sections = set(args.sections.split(","))
    if not sections <= {"1", "2", "3"}:
        parser.error(f"--sections {args.sections!r}: a comma-separated list of 1, 2 and 3")
    profile = QUICK if args.quick else FULL

    found = versions("opentelemetry-sdk", "opentelemetry-proto", "protobuf", "zgen-otel")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print_header("zgen_otel OTLP receiver benchmark", profile.name, found,
                 ["opentelemetry-sdk", "protobuf"], [f"{os.cpu_count()} CPUs", f"load average {load}"])  # fmt: skip
    started = time.perf_counter()
    results: dict[str, Any] = {"profile": profile.name, "versions": found, "load_average_start": os.getloadavg()}
    batches = span_batches(4, AGENT_BATCHES)
    agent = AgentMetrics(0)
    exports = list(agent.exports(1 + (profile.rounds + 1) * profile.metric_requests + 1, time.time_ns()))
    agent.close()
    results["ingest"] = bench_ingest(profile, batches, exports) if "1" in sections else None
    if "2" in sections:
        decode_us = (results["ingest"]["spans"]["decode"]["us_min"] if results["ingest"] else
                     min(_timed_loop(ExportTraceServiceRequest.FromString, batches) for _ in range(5))
                     / (len(batches) * BATCH_SPANS) * 1e6)  # fmt: skip
        results["http"] = bench_http(profile, batches, args.phoenix, decode_us)
    else:
        results["http"] = None
    results["fleet"] = bench_fleet(profile) if "3" in sections else None
    if args.profile:
        bench_profile(batches, exports)
    results["load_average_end"] = os.getloadavg()
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finish(results, started, _summary, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
