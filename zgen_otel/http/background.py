"""Serve the monitoring API and web page from inside the agent's process: `start_server`.

Like ``prometheus_client.start_http_server``: uvicorn runs `zgen_otel.http.make_app` on a daemon thread of
the calling process, with `zgen_otel.http.serve_options` (read deadline, header limit, connection cap),
on the same address and token rules as ``zgen-otel serve``. One server per process. It stops at
``zgen_otel.shutdown()`` and at interpreter exit; a forked child has none. ``ZGEN_OTEL_SERVER_PORT`` starts it
when the runtime starts, with no code change.

FastAPI and uvicorn (the ``server`` extra) are imported when a server starts, not with this module: ``import
zgen_otel`` works without them, and `start_server` then says what to install.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from zgen_otel import _current
from zgen_otel._util import safe_repr
from zgen_otel.config import load_settings
from zgen_otel.exceptions import ConfigError, ServerError, ZgenOtelError
from zgen_otel.http import needs_server_extra
from zgen_otel.http.binding import bind_socket, hosts_to_allow, is_loopback, page_url

if TYPE_CHECKING:
    import socket

    from zgen_otel._runtime import Runtime

__all__ = ["STOP_SECONDS", "THREAD_NAME", "ServerHandle", "start_server"]

_log = logging.getLogger(__name__)

#: The name of the server's thread.
THREAD_NAME = "zgen-otel-server"
#: Seconds `ServerHandle.stop` (and so ``shutdown()`` and interpreter exit) waits for the server by default.
STOP_SECONDS = 5.0
_START_SECONDS = 10.0  # longest wait for uvicorn to serve, once the port is bound
_GRACE_SECONDS = 2  # what requests in flight get at a stop before they are cancelled

_lock = threading.RLock()
_running: ServerHandle | None = None


def _quiet(record: logging.LogRecord) -> bool:
    """Keep uvicorn's INFO lines (started, access log, shutting down) of the server thread out of the host's logs."""
    return record.levelno >= logging.WARNING or record.threadName != THREAD_NAME


class ServerHandle:
    """The server ``start_server`` runs: where it serves, and ``stop``. ``start_server`` builds it.

    Args:
        host: the address bound.
        sock: the bound listening socket.
        server: the uvicorn server serving on it.

    Attributes:
        url: the web page, ``http://HOST:PORT/monitoring`` (a loopback address stands for a wildcard bind).
        host: the address bound.
        port: the port bound (the one the system chose when 0 was asked).
    """

    def __init__(self, host: str, sock: socket.socket, server: Any) -> None:
        self.host = host
        self.port: int = sock.getsockname()[1]
        self.url = page_url(host, self.port)
        self._socket = sock
        self._server = server
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name=THREAD_NAME, daemon=True)

    def __repr__(self) -> str:
        return f"<zgen_otel ServerHandle {self.url} {'running' if self.running else 'stopped'}>"

    @property
    def running(self) -> bool:
        """Whether the server thread is serving (false after `stop`, and in a forked child)."""
        return self._thread.is_alive()

    def _serve(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # uvicorn's SystemExit included: reported by _start, never a stray traceback
            self._failure = exc

    def _start(self) -> None:
        """Start the thread and wait until uvicorn serves; ServerError (and the thread ended) when it does not."""
        self._thread.start()
        deadline = time.monotonic() + _START_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                why = repr(self._failure) if self._failure else f"not serving after {_START_SECONDS:g} s"
                raise ServerError(f"the monitoring page server on {self.host}:{self.port} did not start: {why}")
            time.sleep(0.01)

    def stop(self, timeout: float = STOP_SECONDS) -> bool:
        """Stop serving: close the port, give requests in flight 2 s to finish, and end the thread.

        Later calls do nothing. `start_server` can start a server again afterwards.

        Args:
            timeout: seconds to wait for the thread to end. A server still busy then is left to end on its own
                (its thread is a daemon: it never holds up the interpreter's exit).

        Returns:
            Whether the server has stopped (the port is free again).
        """
        global _running
        with _lock:
            if _running is self:
                _running = None
        self._server.should_exit = True
        if self._thread.ident is not None:
            self._thread.join(timeout)
        if self._thread.is_alive():
            _log.warning("zgen_otel: the monitoring page server at %s did not stop within %g s", self.url, timeout)
            return False
        self._socket.close()
        return True

    def _abandon(self) -> None:
        """In a forked child: close the inherited listening socket, which is the parent's to serve and release."""
        self._socket.close()


def _check_address(port: object, host: object) -> None:
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"start_server: port must be an int; got {type(port).__name__} {safe_repr(port)}")
    if not 0 <= port <= 65535:
        raise ConfigError(f"start_server: port={port!r} is not valid: expected 0 (a free port) to 65535")
    if not isinstance(host, str):
        raise TypeError(f"start_server: host must be a str; got {type(host).__name__} {safe_repr(host)}")
    if not host.strip():
        raise ConfigError("start_server: host='' is not valid: expected an address such as 127.0.0.1 or 0.0.0.0")


def _make_server(host: str, port: int, app_options: dict[str, Any]) -> Any:
    """A ``uvicorn.Server`` (not started) for the app; ImportError naming the extra when it is missing."""
    try:
        import uvicorn

        from zgen_otel.http.app import make_app
        from zgen_otel.http.server import serve_options
    except ImportError as exc:
        raise needs_server_extra("zgen_otel.start_server", exc) from exc
    app = make_app(**app_options)
    # No logging set-up of uvicorn's (the host's logging stays as it is), no lifespan, plain asyncio (no global
    # event loop policy), and a bounded graceful stop.
    config = uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="off", loop="asyncio",
                            timeout_graceful_shutdown=_GRACE_SECONDS, **serve_options())  # fmt: skip
    return uvicorn.Server(config)


def start_server(
    port: int = 8001,
    host: str = "127.0.0.1",
    *,
    token: str | None = None,
    require_token: bool | None = None,
    allowed_hosts: str | Sequence[str] | None = None,
    title: str = "zgen_otel",
    runtime: Runtime | None = None,
) -> ServerHandle:
    """Serve the monitoring API (``/api/monitoring``) and web page (``/monitoring``) from this process.

    uvicorn runs `zgen_otel.http.make_app` on a daemon thread, as ``zgen-otel serve`` would. The port is
    bound, and the server answering, before this returns: an error is raised here, never printed by a
    background thread. Nothing is printed; one INFO line with the URL goes to the ``zgen_otel`` logger. The
    server shows the current runtime (it follows ``configure()``) and stops at ``zgen_otel.shutdown()`` and at
    interpreter exit (within `STOP_SECONDS`). A forked child does not inherit it: call this in the child
    to serve the child on another port.

    Args:
        port: the port; 0 for one the system picks (read it from the handle).
        host: the address to bind. Any address but a loopback one needs a token.
        token: the API token, at least 16 characters; default ``ZGEN_OTEL_API_TOKEN``.
        require_token: every endpoint needs the token, not only the writes. Default: on for a non-loopback
            ``host``, as ``serve`` does.
        allowed_hosts: names besides loopback that the ``Host`` header may carry (see ``make_app``). Default:
            the ``ZGEN_OTEL_ALLOWED_HOSTS`` setting, plus ``host`` when it is not loopback (any name for
            ``0.0.0.0`` or ``::`` without names).
        title: the name in the OpenAPI document.
        runtime: serve this runtime's status, metrics and alerts instead of the current one's.

    Returns:
        The running server's handle (``url``, ``host``, ``port``, ``stop()``). Called again with the same host
        and port (or port 0) while it runs, the same handle, its options unchanged.

    Raises:
        ServerError: the port is taken or the address cannot be bound, or a server already runs at another
            address (stop it first).
        ConfigError: a non-loopback ``host`` without a token, ``require_token=True`` without one, a token
            shorter than 16 characters, a bad port or ``allowed_hosts`` name.
        TypeError: an argument of the wrong type.
        ImportError: FastAPI or uvicorn is missing (``pip install 'zgen-otel[server]'``).
    """
    global _running
    _check_address(port, host)
    key = token or os.environ.get("ZGEN_OTEL_API_TOKEN")
    if require_token is None:
        require_token = not is_loopback(host)
    if not is_loopback(host) and not key:
        raise ConfigError(f"start_server: refusing to serve on {host}, which is not a loopback address, without a "
                          "token: pass token=... or set ZGEN_OTEL_API_TOKEN (every endpoint then needs "
                          "'Authorization: Bearer <token>'), or serve on 127.0.0.1")  # fmt: skip
    if require_token is True and not key:
        raise ConfigError("start_server: require_token=True needs a token: pass token=... or set ZGEN_OTEL_API_TOKEN")
    names = () if allowed_hosts is None else load_settings({}, allowed_hosts=allowed_hosts).allowed_hosts
    _current.get_runtime()  # built now, outside the lock: a runtime start may serve ZGEN_OTEL_SERVER_PORT itself
    with _lock:
        if _running is not None and _running.running:
            if _running.host == host and port in (0, _running.port):
                return _running
            raise ServerError(f"start_server: the monitoring page is already served at {_running.url} "
                              f"(one server per process): stop it first (its handle's stop()) to serve it on "
                              f"{host}:{port}")  # fmt: skip
        options = {"token": token, "require_token": require_token, "allowed_hosts": hosts_to_allow(host, names),
                   "title": title, "runtime": runtime}  # fmt: skip
        server = _make_server(host, port, options)
        handle = ServerHandle(host, bind_socket(host, port), server)
        for name in ("uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).addFilter(_quiet)  # once: a filter already there is not added again
        handle._start()
        _running = handle
    _log.info("zgen_otel: monitoring page at %s (API under /api/monitoring)", handle.url)
    return handle


def _serve_per_settings(runtime: Runtime) -> None:
    """Start the server a runtime's settings ask for (``ZGEN_OTEL_SERVER_PORT``); log one warning when it cannot."""
    s = runtime.settings
    if s.server_port is None or not s.enabled:
        return
    try:
        start_server(s.server_port, s.server_host)
    except (ImportError, ZgenOtelError) as exc:
        _log.warning("zgen_otel: ZGEN_OTEL_SERVER_PORT=%s: the monitoring page is not served (the agent runs on "
                     "without it): %s", s.server_port, exc)  # fmt: skip


def _stop_running() -> None:
    """Stop the running server (at ``zgen_otel.shutdown()``)."""
    handle = _running
    if handle is not None:
        handle.stop()


def _after_fork_in_child() -> None:
    """The child has no server thread: forget the parent's server, and let the child start one of its own."""
    global _lock, _running
    _lock = threading.RLock()
    if _running is not None:
        _running._abandon()
        _running = None


_current.on_runtime_start(_serve_per_settings)
_current.on_shutdown(_stop_running)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
