"""Slow clients (slowloris) against the web server: they are cut off, and a normal client is still served.

The server runs as ``zgen-otel serve`` does, with :func:`zgen_otel.http.serve_options`: in a thread with a short
read deadline (the mechanics), and as the real command in a subprocess under ``ulimit -n 1024`` against
2,000 slow connections (the figure the README gives).
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import zgen_otel
from tests.support.net import free_port
from tests.support.servers import serving
from tests.support.waiting import wait_for
from zgen_otel.http import make_app, serve_options
from zgen_otel.http.server import READ_TIMEOUT, GuardedProtocol

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts a process's files in /proc"),
]

PARTIAL = b"GET /api/monitoring HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # headers that never end


class QuickDeadline(GuardedProtocol):
    """The served protocol with a 1 s read deadline, so that the test waits 1 s, not 10."""

    read_timeout = 1.0


def open_slow(port: int) -> socket.socket:
    """A connection that has sent part of a request's headers and sends no more."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(PARTIAL)
    return sock


def seconds_until_closed(sock: socket.socket, dribble: bytes = b"", every: float = 0.2, limit: float = 30.0) -> float:
    """Send ``dribble`` every ``every`` s until the server closes the connection; the seconds that took."""
    started = time.monotonic()
    sock.settimeout(every)
    while time.monotonic() - started < limit:
        try:
            if dribble:
                sock.sendall(dribble)
            if sock.recv(65536) == b"":
                break
        except TimeoutError:
            continue
        except OSError:  # reset by the server
            break
    return time.monotonic() - started


def test_a_slow_client_is_cut_off_at_the_read_deadline_and_a_normal_client_is_served() -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    options = {**serve_options(), "http": QuickDeadline, "limit_concurrency": 50}
    with serving(make_app(), **options) as srv, httpx.Client(base_url=srv.url, timeout=5) as normal:
        # Headers sent a line at a time, a body that never ends, and a client that sends nothing: all cut off.
        slow_headers = open_slow(srv.port)
        assert 0.8 < seconds_until_closed(slow_headers, b"X-Slow: 1\r\n") < 3
        slow_body = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        slow_body.sendall(b"POST /monitoring/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\nto")
        assert 0.8 < seconds_until_closed(slow_body, b"k") < 3
        silent = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        assert 0.8 < seconds_until_closed(silent) < 3
        # Headers past 64 KiB: 431 and closed.
        huge = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        with contextlib.suppress(OSError):
            huge.sendall(PARTIAL + b"X-Big: " + b"a" * 70_000)
        assert huge.recv(100).startswith(b"HTTP/1.1 431")
        # Four times as many slow connections as the limit: the ones that waited longest make room.
        slow = [open_slow(srv.port) for _ in range(200)]
        for _ in range(10):
            started = time.monotonic()
            assert normal.get("/api/monitoring").status_code == 200 and time.monotonic() - started < 1
        # A client that sends its request at once on a kept-alive connection is never taken for a slow one.
        assert all(normal.get("/api/monitoring").status_code == 200 for _ in range(20))
        for sock in [slow_headers, slow_body, silent, huge, *slow]:
            sock.close()


@contextlib.contextmanager
def zgen_otel_serve(*args: str, nofile: int = 1024) -> Iterator[tuple[int, int]]:
    """``zgen-otel serve`` on a free port of 127.0.0.1 under ``ulimit -n nofile``, while in use: (port, pid)."""
    port = free_port()

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    env = {**os.environ, "ZGEN_OTEL_SYSTEM_MONITOR": "false", "ZGEN_OTEL_DEFAULT_RULES": "false"}
    env.pop("ZGEN_OTEL_API_TOKEN", None)
    otlp = ["--otlp-port", str(free_port()), "--otlp-grpc-port", str(free_port())]
    proc = subprocess.Popen([sys.executable, "-m", "zgen_otel", "serve", "--port", str(port), *otlp, *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=limit_files)  # fmt: skip
    try:
        wait_for(lambda: _answers(port), timeout=30, what="zgen-otel serve to answer")
        yield port, proc.pid
    finally:
        proc.terminate()
        errors = proc.communicate(timeout=30)[1].decode()
        assert "Traceback" not in errors and "Too many open files" not in errors, errors[-2000:]


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/monitoring", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_two_thousand_slow_connections_under_ulimit_1024_do_not_shut_out_a_normal_client(
    record_property: Any,
) -> None:
    """The README's figure: ``zgen-otel serve`` under ``ulimit -n 1024``, 2,000 slow connections."""
    with zgen_otel_serve("--allowed-host", "agent.example") as (port, pid), contextlib.ExitStack() as held:
        slow: list[socket.socket] = []
        latencies: list[float] = []
        most_files = 0
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as normal:
            for _ in range(20):
                slow.extend(held.enter_context(open_slow(port)) for _ in range(100))
                started = time.monotonic()
                assert normal.get("/api/monitoring").status_code == 200, f"after {len(slow)} slow connections"
                latencies.append(time.monotonic() - started)
                most_files = max(most_files, open_files(pid))
            assert normal.get("/api/monitoring", headers={"Host": "agent.example"}).status_code == 200
            assert normal.get("/api/monitoring", headers={"Host": f"evil.example:{port}"}).status_code == 421
        record_property("slow_connections", len(slow))
        record_property("server_open_files_at_most", most_files)
        record_property("normal_client_max_seconds", round(max(latencies), 3))
        print(f"\n{len(slow)} slow connections: a normal request took at most {max(latencies) * 1000:.0f} ms; "
              f"the server held at most {most_files} open files")  # fmt: skip
        assert max(latencies) < 2 and most_files < 1024
        # The read deadline then cuts off every slow connection the server still held.
        wait_for(lambda: not any(_still_open(sock) for sock in slow), timeout=READ_TIMEOUT + 10,
                 what="the server to close every slow connection")  # fmt: skip


def open_files(pid: int) -> int:
    """How many file descriptors process ``pid`` has open (Linux)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def _still_open(sock: socket.socket) -> bool:
    """Whether the server still holds the connection (nothing to read, no end of stream, no reset)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
