"""How ``zgen-otel serve`` runs uvicorn, and how a host application can run it the same way: `serve_options`.

uvicorn alone waits as long as a client likes for a request's headers and body, reads headers of any size
(with httptools) and accepts connections until the process runs out of file descriptors: a few hundred
clients that send a byte now and then (slowloris) shut everyone else out. `GuardedProtocol` wraps
uvicorn's own HTTP protocol and adds:

- a read deadline: a client has `READ_TIMEOUT` seconds from connecting (or from the first byte of its
  next request on a kept-alive connection) to send the whole request, headers and body; then the connection
  is closed;
- a header size limit: more than `MAX_HEADER_BYTES` before the headers end gets 431 and a close;
- room for new clients: when a new connection reaches uvicorn's ``limit_concurrency``, the connection that
  has waited longest for its client to send a request (a slow one, or an idle keep-alive one) is closed, so
  a client that sends its request at once is served however many slow ones are open (as nginx drains its
  idle connections when it runs out of them).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, cast

from uvicorn.config import Config
from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.server import ServerState

try:
    import resource
except ImportError:  # Windows: no open-files limit to read
    resource = None  # type: ignore[assignment]

__all__ = ["KEEP_ALIVE_SECONDS", "MAX_HEADER_BYTES", "READ_TIMEOUT", "GuardedProtocol", "max_connections",
           "serve_options"]  # fmt: skip

#: Seconds a client has to send a whole request (headers and body), from connecting or from its first byte.
READ_TIMEOUT = 10.0
#: Seconds an idle kept-alive connection stays open.
KEEP_ALIVE_SECONDS = 5
#: Bytes of request line and headers accepted.
MAX_HEADER_BYTES = 64 * 1024
_MAX_CONNECTIONS = 1000
_SPARE_FILES = 100  # descriptors left for the store, exporters and logs under a low open-files limit
_TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"

# The protocols of each uvicorn server, to find the one to close when a new connection needs room.
_PEERS: weakref.WeakKeyDictionary[ServerState, set[GuardedProtocol]] = weakref.WeakKeyDictionary()


def max_connections() -> int:
    """The default connection cap: 1,000, or the open-files limit less 100 when that is lower (at least 16)."""
    if resource is None:
        return _MAX_CONNECTIONS
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return _MAX_CONNECTIONS if soft == resource.RLIM_INFINITY else max(16, min(_MAX_CONNECTIONS, soft - _SPARE_FILES))


def serve_options() -> dict[str, Any]:
    """Give the uvicorn settings of ``zgen-otel serve``: ``uvicorn.run(make_app(), host=..., **serve_options())``.

    Returns:
        The keywords: ``http`` is ``GuardedProtocol``, ``limit_concurrency`` ``max_connections()`` (past it,
        requests get 503 unless a waiting connection can be closed), ``timeout_keep_alive``
        ``KEEP_ALIVE_SECONDS``, ``h11_max_incomplete_event_size`` ``MAX_HEADER_BYTES`` and ``ws`` ``"none"``
        (the app has no WebSocket routes).
    """
    return {
        "http": GuardedProtocol,
        "limit_concurrency": max_connections(),
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "ws": "none",
    }


class GuardedProtocol(asyncio.Protocol):
    """uvicorn's HTTP protocol (httptools, else h11) with a read deadline, a header limit and room for new clients.

    Subclass it to change `read_timeout` or `max_header_bytes`.
    """

    read_timeout: float = READ_TIMEOUT
    max_header_bytes: int = MAX_HEADER_BYTES

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._inner: Any = AutoHTTPProtocol(config=config, server_state=server_state, app_state=app_state,  # type: ignore[call-arg]
                                            _loop=_loop)  # fmt: skip
        self._loop = _loop or asyncio.get_event_loop()
        self._limit = config.limit_concurrency
        self._connections = server_state.connections
        self._peers = _PEERS.setdefault(server_state, set())
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._since = 0.0  # when the wait for the current request began
        self._header_bytes = 0

    def _cycle(self) -> Any:
        return getattr(self._inner, "cycle", None)

    def _reading_headers(self) -> bool:
        cycle = self._cycle()
        return cycle is None or bool(cycle.response_complete)

    def waiting(self) -> bool:
        """Whether the connection waits for its client: headers or body not all sent, or idle between requests."""
        cycle = self._cycle()
        return self._reading_headers() or bool(cycle.more_body)

    def _start_wait(self) -> None:
        self._since = self._loop.time()
        self._header_bytes = 0
        self._timer = self._loop.call_later(self.read_timeout, self._expire)

    def _stop_wait(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self._transport is not None and self.waiting():
            self._transport.close()

    def _open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def _make_room(self) -> None:
        """Close the connection that has waited longest for its client, when there is one besides this."""
        waiting = [peer for peer in self._peers if peer is not self and peer._open() and peer.waiting()]
        if waiting:
            oldest = min(waiting, key=lambda peer: peer._since)
            if oldest._transport is not None:  # always, as it is open: for the type checker
                oldest._transport.close()
            # Gone from uvicorn's count now, not at its connection_lost on a later turn of the loop: this
            # client's request may be read first, and must find the room made for it.
            self._connections.discard(oldest._inner)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the read deadline; make room when the server is at its connection limit."""
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio subclasses
        self._inner.connection_made(transport)
        self._peers.add(self)
        self._start_wait()
        if self._limit is not None and len(self._connections) >= self._limit:
            self._make_room()

    def data_received(self, data: bytes) -> None:
        """Pass the bytes on; start the deadline at a new request's first byte, end it when the request is in."""
        if self._timer is None and self.waiting():
            self._start_wait()
        self._inner.data_received(data)
        if self._reading_headers():
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes and self._transport is not None:
                self._transport.write(_TOO_LARGE)
                self._transport.close()
        elif not self.waiting():
            self._stop_wait()

    def connection_lost(self, exc: Exception | None) -> None:
        """End the deadline and pass the loss on."""
        self._stop_wait()
        self._peers.discard(self)
        self._inner.connection_lost(exc)

    def eof_received(self) -> bool | None:
        """Pass on."""
        result: bool | None = self._inner.eof_received()
        return result

    def pause_writing(self) -> None:
        """Pass on."""
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        """Pass on."""
        self._inner.resume_writing()
