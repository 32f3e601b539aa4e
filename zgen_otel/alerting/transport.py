"""The HTTP transport of the webhook-style channels: POST a JSON body, with the URL's secrets kept out of errors.

A URL may carry a token (a Slack webhook path) or user info (``https://user:pass@host``): errors and logs
name only its scheme, host and port (`redact`), and user info goes into a basic-auth header.

Every request has a total deadline: connecting, sending, and reading the headers and the body (redirects
included) end ``timeout`` seconds after the start, however slowly the peer trickles bytes. A socket timeout
alone bounds each read, not their sum; a timer shuts the request's sockets down when the deadline passes.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["post_json", "redact"]


def redact(url: str) -> str:
    """A URL safe to log: scheme, host and port only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}/…"


def _credentials(url: str) -> tuple[str, dict[str, str]]:
    """Move user info out of a URL into a basic-auth header (urllib would look it up as part of the host name)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, {}
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return bare, {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


class _Deadline:
    """The sockets of one request, shut down by a timer when its total deadline passes."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._connections: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def track(self, cls: type[http.client.HTTPConnection]) -> Callable[..., http.client.HTTPConnection]:
        """A factory of ``cls`` connections (what urllib's handlers build) whose sockets the deadline shuts."""

        def build(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            connection = cls(host, **kwargs)
            with self._lock:
                self._connections.append(connection)
            return connection

        return build

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = [c.sock for c in self._connections if c.sock is not None]
        for sock in sockets:  # wakes a read blocked on a peer that trickles bytes
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


class _HTTPHandler(urllib.request.HTTPHandler):
    """urllib's ``http:`` handler, with the connections under a deadline."""

    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._deadline.track(http.client.HTTPConnection), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    """urllib's ``https:`` handler (certificates verified against the system's CAs), under a deadline."""

    def __init__(self, deadline: _Deadline, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self._deadline = deadline
        self._tls = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._deadline.track(http.client.HTTPSConnection), req, context=self._tls)


_tls_context: ssl.SSLContext | None = None  # the system's CAs, loaded on the first request


def post_json(url: str, body: Any, headers: Mapping[str, str], timeout: float) -> None:
    """POST ``body`` as JSON to ``url``; the response is read and discarded, all within ``timeout`` seconds.

    Args:
        url: an http(s) URL, possibly with user info (sent as basic auth) and secret path or query.
        body: anything ``json.dumps`` writes.
        headers: extra request headers (not sent on to a redirect's target).
        timeout: the total deadline in seconds: connection, request, response headers and body, redirects.

    Raises:
        OSError: any failure (an HTTP error status, a refused connection, the deadline...), naming the URL by
            `redact` only.
    """
    global _tls_context
    data = json.dumps(body).encode()
    deadline = _Deadline(timeout)
    try:
        target, auth = _credentials(url)
        request = urllib.request.Request(target, data=data, method="POST", headers={"Content-Type": "application/json"})
        for key, value in {**auth, **headers}.items():
            request.add_unredirected_header(key, value)
        if _tls_context is None:
            _tls_context = ssl.create_default_context()
        opener = urllib.request.build_opener(_HTTPHandler(deadline), _HTTPSHandler(deadline, _tls_context))
        with deadline, opener.open(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise OSError(f"HTTP {exc.code} from {redact(url)}") from None
    except Exception as exc:
        if deadline.expired:
            raise OSError(f"TimeoutError posting to {redact(url)}: no complete answer within {timeout:g} s") from None
        reason = getattr(exc, "reason", exc)
        raise OSError(f"{type(reason).__name__} posting to {redact(url)}") from None
