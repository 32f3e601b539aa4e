"""The checks in front of every route (plain ASGI middleware): the ``Host`` header, the body size, the headers.

`HostCheck` answers a request whose ``Host`` is not a name of this server with 421 before any route
or redirect runs: a page of another site that a DNS rebinding points at this server reads nothing.
`Guard` limits the body and adds the security and ``Cache-Control: no-store`` headers.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zgen_otel.http.errors import problem

__all__ = ["CSP", "LOOPBACK_HOSTS", "MAX_BODY", "Guard", "HostCheck", "host_name"]

#: The names a loopback client uses for this machine: always allowed in ``Host``.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

#: The largest request body accepted, in bytes; larger ones get 413.
MAX_BODY = 64 * 1024
#: The Content-Security-Policy of every HTML response that does not set its own.
CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


class Guard:
    """Body-size limit and security headers on every response (plain ASGI: no per-request task overhead).

    A body over `MAX_BODY` (declared, or chunked and read up to the limit) is answered 413. Every
    response gets ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` and
    ``Cache-Control: no-store`` (pages, data and tokens stay out of browser and proxy caches); HTML
    responses get `CSP` unless they set a policy of their own.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the body size, then pass the request on with the headers added to the response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        too_large = length is not None and (not length.isdigit() or int(length) > MAX_BODY)
        if length is None and b"transfer-encoding" in headers:  # chunked: read it here, up to the limit
            receive, too_large = await _buffered(receive)
        if too_large:
            response = problem(413, "Payload Too Large", f"request bodies are limited to {MAX_BODY} bytes")
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("Cache-Control", "no-store")
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _buffered(receive: Receive) -> tuple[Receive, bool]:
    """Read a body of unknown length, up to `MAX_BODY` + 1 bytes.

    Returns a receive that replays it, and whether it is too large.
    """
    chunks: list[bytes] = []
    size, more = 0, True
    while more and size <= MAX_BODY:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        more = message.get("more_body", False)
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay, size > MAX_BODY


def host_name(value: str) -> str | None:
    """The host name of a ``Host`` header (lower case, IPv6 without brackets, no port); None when malformed."""
    text = value.strip().lower()
    if text.startswith("["):
        end = text.find("]")
        name, rest = (text[1:end], text[end + 1 :]) if end > 0 else ("", "")
    else:
        name, sep, port = text.partition(":")
        rest = sep + port
    if not name or (rest and not (rest[0] == ":" and rest[1:].isdigit())):
        return None
    return name


class HostCheck:
    """Answer 421 to a request whose ``Host`` header names neither loopback nor an allowed host.

    ``allowed`` gives the allowed names at each request (``*``: any; ``.example.com``: it and its subdomains);
    `LOOPBACK_HOSTS` are always allowed, with any port. A request without ``Host`` (HTTP/1.0) passes.
    """

    def __init__(self, app: ASGIApp, allowed: Callable[[], Collection[str]]) -> None:
        self.app = app
        self.allowed = allowed

    def allows(self, name: str) -> bool:
        """Whether ``name`` (from `host_name`) may be this server's name."""
        if name in LOOPBACK_HOSTS:
            return True
        allowed = self.allowed()
        if "*" in allowed or name in allowed:
            return True
        return any(d.startswith(".") and (name == d[1:] or name.endswith(d)) for d in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 421 without running any route."""
        if scope["type"] == "http":
            raw = dict(scope["headers"]).get(b"host")
            if raw is not None:
                name = host_name(raw.decode("latin-1"))
                if name is None or not self.allows(name):
                    detail = (
                        f"Host {raw[:100].decode('latin-1')!r} is not a name of this server; allow it with "
                        "ZGEN_OTEL_ALLOWED_HOSTS, `zgen-otel serve --allowed-host` or make_app(allowed_hosts=...)"
                    )
                    await problem(421, "Misdirected Request", detail)(scope, receive, send)
                    return
        await self.app(scope, receive, send)
