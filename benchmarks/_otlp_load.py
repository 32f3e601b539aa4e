"""OTLP/HTTP servers in subprocesses and the load that the receiver benchmark puts on them.

:class:`ServerProcess` starts a server (``zgen-otel serve`` or Arize Phoenix) on 127.0.0.1, waits until its
``/v1/traces`` answers, and reads its CPU time and memory with ``psutil``. :func:`drive_traces` posts span
batches from client threads over keep-alive ``http.client`` connections for a fixed time; :func:`run_fleet`
plays agents that each send one metrics export every 5 seconds. Every request has a timeout.

Nothing here is part of the ``zgen_otel`` package.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType

import psutil
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

__all__ = ["LoadResult", "ServerProcess", "drive_traces", "free_port", "run_fleet"]

HOST = "127.0.0.1"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
REQUEST_TIMEOUT = 30.0  # seconds for one request, connect to last byte
BUSY_PAUSE = 0.1  # seconds a client waits before sending a refused (503) batch again


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _send(conn: http.client.HTTPConnection, path: str, body: bytes) -> tuple[int, bytes]:
    conn.request("POST", path, body, PROTOBUF)
    response = conn.getresponse()
    return response.status, response.read()


def post(conn: http.client.HTTPConnection, path: str, body: bytes) -> tuple[int, bytes]:
    """POST ``body`` as protobuf on a keep-alive connection; return (status, response body).

    When the server has closed the idle connection (its keep-alive timeout), the request is sent once more on
    a new one, as HTTP clients do.
    """
    try:
        return _send(conn, path, body)
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        conn.close()
        return _send(conn, path, body)


class ServerProcess:
    """A server in a subprocess, started by ``with``; stopped (SIGTERM, then SIGKILL) on leaving.

    Args:
        name: what the tables call it.
        command: the command line.
        env: its environment.
        otlp_port: the port of its OTLP/HTTP endpoint (``POST /v1/traces``), polled until it answers 200.
        cwd: its working directory.
        start_timeout: seconds to wait for the endpoint before giving up (RuntimeError, with its output).
    """

    def __init__(self, name: str, command: Sequence[str], env: dict[str, str], otlp_port: int, cwd: str,
                 start_timeout: float = 180.0) -> None:  # fmt: skip
        self.name = name
        self.command = list(command)
        self.env = env
        self.otlp_port = otlp_port
        self.cwd = cwd
        self.start_timeout = start_timeout
        self.log_path = f"{cwd}/server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.ps: psutil.Process | None = None

    def __enter__(self) -> ServerProcess:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.command, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT)
        self.ps = psutil.Process(self.proc.pid)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                conn = http.client.HTTPConnection(HOST, self.otlp_port, timeout=5)
                try:
                    if post(conn, "/v1/traces", b"")[0] == 200:
                        return self
                finally:
                    conn.close()
            except OSError:
                pass
            time.sleep(0.25)
        self.__exit__(None, None, None)
        with open(self.log_path, encoding="utf-8", errors="replace") as log:
            tail = log.read()[-2000:]
        raise RuntimeError(f"{self.name} did not answer on port {self.otlp_port}; its output ends with:\n{tail}")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def _tree(self) -> list[psutil.Process]:
        assert self.ps is not None
        try:
            return [self.ps, *self.ps.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the server and its child processes used so far."""
        total = 0.0
        for p in self._tree():
            try:
                times = p.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def rss_mb(self) -> float:
        """Resident memory of the server and its child processes, in MB."""
        total = 0
        for p in self._tree():
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total / 1e6


@dataclass
class LoadResult:
    """What a load run got back."""

    seconds: float = 0.0  # wall time from the first request to the last answer
    requests: int = 0  # answered requests, refused ones included
    ok: int = 0  # requests answered 200
    acked: int = 0  # items (spans or points) acknowledged with 200, less those a partial success rejected
    rejected: int = 0  # items a 200 answer's partial success rejected
    busy: int = 0  # answers 503 (or 429): the batch was sent again after a pause
    errors: list[str] = field(default_factory=list)  # other statuses and connection errors
    cpu_seconds: float = 0.0  # the server's CPU time over the run
    rss_mb: float = 0.0  # the server's resident memory at the end

    @property
    def per_second(self) -> float:
        """Acknowledged items per second."""
        return self.acked / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_item(self) -> float:
        """The server's CPU microseconds per acknowledged item."""
        return self.cpu_seconds / self.acked * 1e6 if self.acked else float("inf")


class _Tally:
    """Counts shared by client threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.result = LoadResult()

    def answer(self, status: int, body: bytes, items: int, rejected_in: Callable[[bytes], int]) -> bool:
        """Count one answer; return True when the batch is done with (False: refused, send it again).

        ``rejected_in`` reads how many items a 200 answer's partial success rejected.
        """
        with self.lock:
            self.result.requests += 1
            if status == 200:
                self.result.ok += 1
                try:
                    rejected = rejected_in(body) if body else 0
                except DecodeError:
                    self.result.errors.append(f"HTTP 200 with an answer that is not protobuf: {body[:200]!r}")
                    rejected = 0
                self.result.acked += items - rejected
                self.result.rejected += rejected
                return True
            if status in (429, 503):
                self.result.busy += 1
                return False
            self.result.errors.append(f"HTTP {status}: {body[:200]!r}")
            return True

    def error(self, exc: BaseException) -> None:
        with self.lock:
            self.result.errors.append(f"{type(exc).__name__}: {exc}")


def _rejected_spans(body: bytes) -> int:
    """Spans an ``ExportTraceServiceResponse`` 's partial success rejected."""
    return int(ExportTraceServiceResponse.FromString(body).partial_success.rejected_spans)


def _rejected_points(body: bytes) -> int:
    """Data points an ``ExportMetricsServiceResponse`` 's partial success rejected."""
    return int(ExportMetricsServiceResponse.FromString(body).partial_success.rejected_data_points)


def drive_traces(server: ServerProcess, batches: Sequence[bytes], spans_per_batch: int, seconds: float,
                 threads: int = 4) -> LoadResult:  # fmt: skip
    """Post ``batches`` (round-robin) to ``server``'s ``/v1/traces`` from ``threads`` clients for ``seconds``.

    A refused batch (503/429) is sent again after :data:`BUSY_PAUSE`. The server's CPU time is read before
    the first request and after the last answer.
    """
    tally = _Tally()
    deadline = time.perf_counter() + seconds

    def client(first: int) -> None:
        conn = http.client.HTTPConnection(HOST, server.otlp_port, timeout=REQUEST_TIMEOUT)
        i = first
        try:
            while time.perf_counter() < deadline:
                try:
                    status, body = post(conn, "/v1/traces", batches[i % len(batches)])
                except (OSError, http.client.HTTPException) as exc:
                    tally.error(exc)
                    conn.close()
                    time.sleep(BUSY_PAUSE)
                    continue
                if tally.answer(status, body, spans_per_batch, _rejected_spans):
                    i += threads
                else:
                    time.sleep(BUSY_PAUSE)
        finally:
            conn.close()

    cpu_before, started = server.cpu_seconds(), time.perf_counter()
    workers = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + REQUEST_TIMEOUT + 5)
    tally.result.seconds = time.perf_counter() - started
    tally.result.cpu_seconds = server.cpu_seconds() - cpu_before
    tally.result.rss_mb = server.rss_mb()
    return tally.result


def run_fleet(server: ServerProcess, agents: Sequence[Callable[[], tuple[bytes, int]]], seconds: float,
              interval: float = 5.0) -> LoadResult:  # fmt: skip
    """Play ``agents`` for ``seconds``: each sends ``agent()``'s (export, points) to ``/v1/metrics`` every ``interval``.

    The agents' first exports are spread evenly over the first interval, as independent processes' are.
    The server's CPU time is read at the start and after ``seconds``.
    """
    tally = _Tally()
    started = time.perf_counter()
    stop = threading.Event()

    def agent_loop(n: int, make: Callable[[], tuple[bytes, int]]) -> None:
        conn = http.client.HTTPConnection(HOST, server.otlp_port, timeout=REQUEST_TIMEOUT)
        due = started + interval * n / len(agents)
        try:
            while not stop.wait(max(0.0, due - time.perf_counter())):
                body, points = make()
                try:
                    status, answer = post(conn, "/v1/metrics", body)
                    tally.answer(status, answer, points, _rejected_points)
                except (OSError, http.client.HTTPException) as exc:
                    tally.error(exc)
                    conn.close()
                due += interval
        finally:
            conn.close()

    cpu_before = server.cpu_seconds()
    workers = [threading.Thread(target=agent_loop, args=(n, a), daemon=True) for n, a in enumerate(agents)]
    for worker in workers:
        worker.start()
    time.sleep(max(0.0, started + seconds - time.perf_counter()))
    tally.result.cpu_seconds = server.cpu_seconds() - cpu_before
    tally.result.seconds = time.perf_counter() - started
    tally.result.rss_mb = server.rss_mb()
    stop.set()
    for worker in workers:
        worker.join(REQUEST_TIMEOUT + 5)
    return tally.result
