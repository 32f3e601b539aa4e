"""The servers of ``zgen-otel serve`` in one process: the web page and API, OTLP/HTTP and OTLP/gRPC.

`open_servers` binds every port first, so that a taken one stops ``serve`` with a message naming the
port and the flag that changes it before anything is announced. `Servers.run` then serves: both
uvicorn servers (each with `serve_options`) on one asyncio loop in a thread, the
gRPC server on its own threads, until Ctrl-C or SIGTERM reaches the main thread (as ``KeyboardInterrupt``),
and stops them all. The connection cap of `max_connections` is shared: a quarter
each for the OTLP servers that are on, the rest for the web page, so that together they stay under the
open-files limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket
import threading
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

import grpc
import uvicorn

from zgen_otel.exceptions import ZgenOtelError
from zgen_otel.http.auth import Failures
from zgen_otel.http.otlp import make_otlp_app
from zgen_otel.http.otlp_grpc import make_otlp_grpc_server
from zgen_otel.http.server import max_connections, serve_options
from zgen_otel.receiver import Receiver

__all__ = ["PortTaken", "Servers", "listen", "open_servers", "url"]

_GRACE = 3.0  # seconds the gRPC server gives calls in progress at the stop
_BACKLOG = 2048  # uvicorn's default


def _new_loop() -> asyncio.AbstractEventLoop:
    """An event loop of uvloop when it is installed (as uvicorn's ``loop="auto"`` picks), else of asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class PortTaken(ZgenOtelError):
    """A port of ``zgen-otel serve`` cannot be bound; the message names it and the flag that changes it."""


def url(host: str, port: int) -> str:
    """``http://host:port``, with an IPv6 address in brackets."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def listen(host: str, port: int) -> list[socket.socket]:
    """Listening TCP sockets on every address ``host`` names (``localhost``: IPv4 and IPv6), port ``port``.

    Raises:
        OSError: ``host`` does not resolve, or an address cannot be bound (the port is taken).
    """
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    addresses = list(dict.fromkeys((family, address) for family, _, _, _, address in infos))
    sockets: list[socket.socket] = []
    try:
        for family, address in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and len(addresses) > 1:  # beside an IPv4 socket of the same port
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(_BACKLOG)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _taken(host: str, port: int, what: str, flag: str, exc: OSError, can_turn_off: bool) -> PortTaken:
    """The error for a port that cannot be bound: the address, the system's reason, and the flag to change.

    A port in use or not allowed (below 1024) is changed with ``flag``; an address that is not this machine's
    (or a name that does not resolve) with ``--host``.
    """
    reason = exc.strerror or str(exc)
    where = f"cannot listen on {url(host, port)[7:]} for {what} ({reason})"
    if isinstance(exc, socket.gaierror) or exc.errno not in (errno.EADDRINUSE, errno.EACCES):
        return PortTaken(f"{where}: --host must name an address of this machine, such as 127.0.0.1 (or 0.0.0.0 "
                         "for every interface)")  # fmt: skip
    off = f", or {flag} 0 to turn it off" if can_turn_off else ""
    return PortTaken(f"{where}: choose another port with {flag}{off}")


class Servers:
    """The bound servers of ``zgen-otel serve``; made by `open_servers`, run by `run`."""

    def __init__(self) -> None:
        self.http: list[tuple[uvicorn.Server, list[socket.socket]]] = []
        self.grpc: grpc.Server | None = None
        #: Where agents send: the OTLP/HTTP URL first, then the OTLP/gRPC one (the ones that are on).
        self.endpoints: list[str] = []
        self.page_port = 0
        self.otlp_port = 0
        self.otlp_grpc_port = 0

    def close(self) -> None:
        """Release every port (for a failed start)."""
        for _, sockets in self.http:
            for sock in sockets:
                sock.close()
        if self.grpc is not None:
            self.grpc.stop(None)

    def agent_line(self, token_required: bool) -> str:
        """What to tell the user: where the OTLP endpoints are, and what an agent sets to send to them."""
        if not self.endpoints:
            return "zgen-otel: OTLP receiver off (--otlp-port 0 --otlp-grpc-port 0)"
        on = [f"{url_} ({kind})" for url_, kind in zip(self.endpoints, self._kinds(), strict=True)]
        line = f"zgen-otel: OTLP receiver at {' and '.join(on)}; an agent sends here with: export "
        line += f"OTEL_EXPORTER_OTLP_ENDPOINT={self.endpoints[0]}"
        if not self.otlp_port:
            line += " OTEL_EXPORTER_OTLP_PROTOCOL=grpc"
        if token_required:
            line += " OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<ZGEN_OTEL_API_TOKEN>"
        return line

    def _kinds(self) -> list[str]:
        return (["HTTP"] if self.otlp_port else []) + (["gRPC"] if self.otlp_grpc_port else [])

    def stop(self) -> None:
        """Ask `run` (in another thread) to stop every server and return."""
        for server, _ in self.http:
            server.should_exit = True

    def run(self) -> None:
        """Serve until `stop` or ``KeyboardInterrupt`` in the main thread (Ctrl-C; SIGTERM mapped to it).

        Then stop every server: open HTTP connections finish their requests, gRPC calls get a few seconds.
        A second interrupt while stopping cuts the wait for open connections short.
        """
        if self.grpc is not None:
            self.grpc.start()
        thread = threading.Thread(target=self._serve_http, name="zgen-otel-serve", daemon=True)
        thread.start()
        try:
            while thread.is_alive():
                thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            with self._hurried():
                self.stop()
                stopped = self.grpc.stop(_GRACE) if self.grpc is not None else None
                thread.join()
                if stopped is not None:
                    stopped.wait(_GRACE + 1)

    @contextlib.contextmanager
    def _hurried(self) -> Iterator[None]:
        """While stopping: Ctrl-C or SIGTERM again stops waiting for open connections (instead of interrupting)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def hurry(signum: int, frame: FrameType | None) -> None:
            for server, _ in self.http:
                server.force_exit = True

        previous = {sig: signal.signal(sig, hurry) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _serve_http(self) -> None:
        """The uvicorn servers on one event loop (this thread's), until one of them ends."""
        loop = _new_loop()
        try:
            loop.run_until_complete(self._serve_all())
        finally:
            loop.close()

    async def _serve_all(self) -> None:
        tasks = [asyncio.ensure_future(server.serve(sockets=sockets)) for server, sockets in self.http]
        if not tasks:
            return
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for server, _ in self.http:
            server.should_exit = True
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, BaseException):
                raise result


def open_servers(
    page_app: Any,
    host: str,
    port: int,
    *,
    receiver: Receiver,
    otlp_port: int,
    otlp_grpc_port: int,
    token: str | None,
    allowed_hosts: Sequence[str],
    max_body: int,
    failures: Failures,
) -> Servers:
    """Bind the web page's port and the OTLP ports that are not 0; fill ``receiver.endpoints``.

    Args:
        page_app: the app of the web page and API (`make_app`).
        host: the address every server binds.
        port: the web page's port (``--port``).
        receiver: where the OTLP servers put what they receive.
        otlp_port: the OTLP/HTTP port (``--otlp-port``); 0: no OTLP/HTTP server.
        otlp_grpc_port: the OTLP/gRPC port (``--otlp-grpc-port``); 0: no OTLP/gRPC server.
        token: the token every OTLP request needs, or None for none.
        allowed_hosts: the names besides loopback the ``Host`` header may carry.
        max_body: the largest OTLP request in bytes.
        failures: the page app's wrong-token count, shared with the OTLP servers.

    Raises:
        PortTaken: a port cannot be bound (nothing stays bound then).
    """
    servers = Servers()
    total = max_connections()
    share = max(16, total // 4)
    page_cap = max(16, total - share * ((otlp_port > 0) + (otlp_grpc_port > 0)))
    planned: list[tuple[Any, int, str, str, dict[str, Any]]] = [
        (page_app, port, "the web page", "--port", {"lifespan": "auto", "limit_concurrency": page_cap})
    ]
    if otlp_port:
        otlp_app = make_otlp_app(receiver, token=token, allowed_hosts=allowed_hosts, max_body=max_body,
                                 failures=failures)  # fmt: skip
        planned.append(
            (otlp_app, otlp_port, "OTLP/HTTP", "--otlp-port", {"lifespan": "off", "limit_concurrency": share})
        )
    try:
        for app, wanted, what, flag, options in planned:
            try:
                sockets = listen(host, wanted)
            except OSError as exc:
                raise _taken(host, wanted, what, flag, exc, can_turn_off=flag != "--port") from None
            config = uvicorn.Config(app, log_level="warning", **{**serve_options(), **options})
            servers.http.append((uvicorn.Server(config), sockets))
        servers.page_port = servers.http[0][1][0].getsockname()[1]
        if otlp_port:
            servers.otlp_port = servers.http[1][1][0].getsockname()[1]
            servers.endpoints.append(url(host, servers.otlp_port))
        if otlp_grpc_port:
            address = url(host, otlp_grpc_port)[7:]
            try:
                for sock in listen(host, otlp_grpc_port):  # the operating system's reason, when it is taken
                    sock.close()
                servers.grpc, servers.otlp_grpc_port = make_otlp_grpc_server(
                    receiver, address, token=token, max_body=max_body, max_connections=share, failures=failures
                )
            except OSError as exc:
                raise _taken(host, otlp_grpc_port, "OTLP/gRPC", "--otlp-grpc-port", exc, can_turn_off=True) from None
            servers.endpoints.append(url(host, servers.otlp_grpc_port))
    except PortTaken:
        servers.close()
        raise
    receiver.endpoints[:] = servers.endpoints
    return servers
