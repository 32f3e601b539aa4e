"""Read a running zgen-otel server's HTTP API from the command line: one GET, with a total deadline and the token.

``zgen-otel status`` and ``zgen-otel dashboard --url`` use it. It needs only the standard library (no server
extra), and every failure is a `RemoteError` with a one-line message that says what to check.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from zgen_otel.config import redact_url
from zgen_otel.exceptions import ConfigError, ZgenOtelError

__all__ = ["DEADLINE", "MAX_BODY", "MAX_REDIRECTS", "RemoteError", "get", "get_json", "server_url"]

#: Seconds one request may take in all: connecting, sending, and reading the whole answer.
DEADLINE = 10.0
#: The largest answer read, in bytes (a dashboard page of a busy server is a few MB).
MAX_BODY = 64 * 1024 * 1024
#: Redirects followed at most.
MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


class RemoteError(ZgenOtelError):
    """A server could not be read; the message (one line) says why.

    Attributes:
        nobody: True when nothing answered at that address (refused, timed out, unknown host): the server is
            probably not running there.
    """

    def __init__(self, message: str, nobody: bool = False) -> None:
        super().__init__(message)
        self.nobody = nobody


def server_url(text: str) -> str:
    """The base URL of a server given as ``--url``: ``http://`` added when no scheme is given, no trailing ``/``.

    ``127.0.0.1:8001``, ``http://127.0.0.1:8001``, ``https://ops.example.com/agent`` (a server mounted under a
    path) are all accepted.

    Raises:
        ConfigError: not an http(s) address with a host, a port out of range, or credentials, a query or a
            fragment in it (the token goes in ``ZGEN_OTEL_API_TOKEN``).
    """
    url = text.strip() if "://" in text else f"http://{text.strip()}"
    shown = redact_url(url)
    expected = "expected http://HOST:PORT, such as http://127.0.0.1:8001 (http:// may be left out)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigError(f"--url {shown!r} is not a server address: {expected}") from None
    if parts.username is not None or parts.password is not None:
        raise ConfigError("--url must not hold credentials: set ZGEN_OTEL_API_TOKEN instead")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"--url {shown!r} is not a server address: {expected}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}{parts.path.rstrip('/')}"


def _why(exc: BaseException) -> str:
    """A few words on why a connection failed: ``connection refused``, ``unknown host``, ``timed out``..."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__


def _detail(body: bytes) -> str:
    """The ``detail`` of a JSON problem answer (what the API says went wrong), or ``""``."""
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        return ""
    return " ".join(detail.split())[:300] if isinstance(detail, str) else ""


def _refused(shown: str, status: int, reason: str, body: bytes, token: str | None) -> RemoteError:
    """The error for an answer other than 200, saying what to do where it is clear."""
    if status == 401:
        what = "refused the token in ZGEN_OTEL_API_TOKEN" if token else "needs the API token"
        return RemoteError(f"{shown} {what} (401): set ZGEN_OTEL_API_TOKEN to the server's token")
    if status == 421:
        return RemoteError(f"{shown} does not answer to that name (421): use the address it serves on, or add this "
                           "name with serve --allowed-host")  # fmt: skip
    detail = _detail(body)
    return RemoteError(f"{shown} answered {status} {reason}" + (f": {detail}" if detail else ""))


class _Watchdog:
    """Ends a request at its deadline: a read in progress on the connection's socket returns at once.

    The read then looks like the end of the answer: `fired` tells a cut answer from a whole one.
    """

    def __init__(self, conn: http.client.HTTPConnection, deadline: float) -> None:
        self.fired = False
        self._conn = conn
        self._timer = threading.Timer(deadline, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def _cut(self) -> None:
        self.fired = True
        if self._conn.sock is not None:
            with contextlib.suppress(OSError):
                self._conn.sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        """Stop the timer (the request is over)."""
        self._timer.cancel()


def _origin(url: str) -> str:
    """``scheme://host:port`` of ``url``: where the token may go."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _get_once(url: str, token: str | None, ends: float, deadline: float) -> tuple[int, str, str | None, bytes]:
    """One GET of ``url`` until the time ``ends`` (``time.monotonic()``): status, reason, Location and body.

    Raises:
        RemoteError: nothing answered, or no whole answer came in time (``deadline``, for the message).
    """
    parts = urlsplit(url)
    shown = redact_url(_origin(url))
    left = ends - time.monotonic()
    if left <= 0 or parts.scheme not in ("http", "https"):
        raise RemoteError(f"no answer from {shown} within {deadline:g} s" if left <= 0 else
                          f"{shown} sent the request elsewhere, to a place that is not http(s)")  # fmt: skip
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.hostname or "", parts.port, timeout=left)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    watchdog = _Watchdog(conn, left)
    try:
        conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), headers=headers)
        response = conn.getresponse()
        body = response.read(MAX_BODY + 1)
    except (OSError, http.client.HTTPException) as exc:
        nobody = conn.sock is None  # no connection was made: nothing listens there
        why = f"within {deadline:g} s" if watchdog.fired or isinstance(exc, TimeoutError) else f"({_why(exc)})"
        raise RemoteError(f"no answer from {shown} {why}", nobody=nobody) from None
    finally:
        watchdog.cancel()
        conn.close()
    if watchdog.fired:
        raise RemoteError(f"no whole answer from {shown} within {deadline:g} s")
    return response.status, response.reason, response.getheader("Location"), body


def get(
    base: str,
    path: str,
    query: Mapping[str, str] | None = None,
    *,
    token: str | None = None,
    deadline: float = DEADLINE,
) -> bytes:
    """GET ``base + path`` (``base`` from `server_url`) and return the body of its 200 answer.

    Redirects are followed (at most `MAX_REDIRECTS`); the token goes only to the server's own origin.

    Args:
        base: the server's base URL.
        path: the path under it, such as ``/api/monitoring``.
        query: query parameters.
        token: sent as ``Authorization: Bearer <token>`` when given.
        deadline: seconds the whole request may take (connecting, sending, redirects, the answer's headers and
            body).

    Raises:
        RemoteError: nothing answered (``nobody`` is True), the deadline passed, the answer was not 200 or
            was larger than `MAX_BODY`.
    """
    url = base + path + (f"?{urlencode(query)}" if query else "")
    home = _origin(base)
    ends = time.monotonic() + deadline
    for _ in range(MAX_REDIRECTS + 1):
        status, reason, location, body = _get_once(url, token if _origin(url) == home else None, ends, deadline)
        if status not in _REDIRECTS or not location:
            break
        url = urljoin(url, location)
    else:
        raise RemoteError(f"{redact_url(base)} redirected more than {MAX_REDIRECTS} times")
    if status != 200:
        raise _refused(redact_url(_origin(url) if _origin(url) != home else base), status, reason, body, token)
    if len(body) > MAX_BODY:
        raise RemoteError(f"{redact_url(base)} answered more than {MAX_BODY // 2**20} MiB for {path}")
    return body


def get_json(base: str, path: str, *, token: str | None = None, deadline: float = DEADLINE) -> Any:
    """`get`, decoded as JSON.

    Raises:
        RemoteError: as `get`, or the answer is not JSON (then it is probably not a zgen-otel server).
    """
    body = get(base, path, token=token, deadline=deadline)
    try:
        return json.loads(body)
    except ValueError:
        raise RemoteError(f"{redact_url(base)} answered {path} with something that is not JSON: is it a zgen-otel "
                          "server?") from None  # fmt: skip
